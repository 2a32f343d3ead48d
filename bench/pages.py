"""Pages at scale: with 10,000 factories, 1,000 farmers and 200,000 settled submissions, the
farmer browse page, creator dashboard, factory detail, farmer earnings and ambassador
dashboard each run a constant number of SQL queries (at most 15) and answer with a p95 server
time of at most 50 ms (Django's test client in this process, DEBUG off, after warm-up).

`build` makes the data set in bulk (bulk_create + ledger.services.transactions_post: every
deposit, claim reservation and settlement is a real keyed ledger transaction, and settlements
add to the ambassadors' commission rollup through the function settle_rows uses, so the ledger
audit stays clean). tests/bench/test_query_counts.py uses the same builder at small sizes.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

FULL = {"factories": 10_000, "farmers": 1_000, "submissions": 200_000}
REQUESTS = 60  # per page, after warm-up
WARMUP = 5
TARGETS = {"max_queries": 15, "p95_ms": 50.0}
REWARDS = {"USDC": "0.2", "CLONES": "25", "SOL": "0.002", "ETH": "0.0001"}
CHUNK = 5_000


@dataclass(frozen=True)
class Subjects:
    """Who and what the pages are measured for: the heaviest creator, factory, farmer and
    ambassador of the data set."""

    creator_id: int
    factory_id: int
    farmer_id: int
    ambassador_user_id: int
    counts: dict


def _chunks(items: list, size: int = CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _demonstration(variant: int) -> dict:
    return {
        "started_at": "2026-11-01T09:00:00+00:00",
        "ended_at": "2026-11-01T09:08:00+00:00",
        "steps": [{"t": 0.0, "action": "navigate", "target": f"https://sheets.example.com/{variant}"}],
        "final_state": f"Saved sheet {variant}.",
    }


def build(*, factories: int, farmers: int, submissions: int, seed: int = 7, tag: str = "") -> Subjects:
    """Create the data set (Django set up, reference data present). The first creator owns
    1% of the factories; the first factory gets 5% of the submissions and the first farmer
    1%; one ambassador (tier 3) referred every fifth farmer and every other creator. `tag`
    keeps the names of two data sets in one database apart."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import User
    from core.db import bulk_update_values
    from core.money import parse_amount
    from farmers.models import FarmerProfile
    from ledger.models import Account, Token
    from ledger.services import Leg, Posting, accounts_get_many, transactions_post
    from pools.economics import settlement_shares
    from pools.models import Claim, Deposit, Factory, RateChange, Submission
    from pools.selectors import economics_config
    from pools.services.settlement import settled_commissions
    from referrals.models import Ambassador, Referral
    from referrals.selectors import tier_rates
    from referrals.services import commission_rollup_add

    rng = random.Random(seed)
    now = timezone.now()
    config = economics_config()
    rates = tier_rates()
    tokens = {t.symbol: t for t in Token.objects.filter(symbol__in=list(REWARDS))}
    symbols = sorted(REWARDS)
    password = make_password("bench-password")
    creators_count = max(2, factories // 100)

    with transaction.atomic():
        creators = User.objects.bulk_create(
            [User(username=f"bench{tag}-creator-{i}", role="creator", password=password) for i in range(creators_count)]
        )
        farmer_users = User.objects.bulk_create(
            [User(username=f"bench{tag}-farmer-{i}", role="farmer", password=password) for i in range(farmers)]
        )
        FarmerProfile.objects.bulk_create(
            [FarmerProfile(user=u, reputation=Decimal(rng.randint(40, 99)), settled_count=0) for u in farmer_users]
        )
        ambassador_user = User.objects.create(username=f"bench{tag}-ambassador", role="farmer", password=password)
        FarmerProfile.objects.create(user=ambassador_user)
        ambassador = Ambassador.objects.create(user=ambassador_user, code=f"BENCHAMB{tag.upper()}", tier_override=3)
        referred = farmer_users[::5] + creators[::2]
        Referral.objects.bulk_create([Referral(user=u, ambassador=ambassador) for u in referred])
        commission = {u.pk: (ambassador_user.pk, rates[ambassador.tier]) for u in referred}

        # Factories and their pool accounts (holder "pool:<id>", as factory_create names them).
        plan = []
        for i in range(factories):
            symbol = symbols[i % len(symbols)]
            token = tokens[symbol]
            creator = creators[0] if i % 100 == 0 else creators[1 + i % (creators_count - 1)]
            plan.append((i, creator, token, parse_amount(REWARDS[symbol], decimals=token.decimals)))
        accounts = Account.objects.bulk_create(
            [
                Account(kind=kind, holder=f"pool:new:bench:{i}:{kind}", token=token)
                for i, _, token, _ in plan
                for kind in (Account.Kind.POOL_AVAILABLE, Account.Kind.POOL_RESERVED)
            ],
            batch_size=CHUNK,
        )
        factory_rows = Factory.objects.bulk_create(
            [
                Factory(
                    creator=creator,
                    title=f"Budget sheet {i}",
                    description="Record making a monthly budget spreadsheet.",
                    instructions="Create a spreadsheet named Budget with month, income and expenses headers.",
                    category=("spreadsheets", "documents", "email", "browsing")[i % 4],
                    tags="bench,sheet",
                    token=token,
                    reward=reward,
                    expected_minutes=10,
                    status=Factory.Status.ACTIVE,
                    available_account=accounts[2 * i],
                    reserved_account=accounts[2 * i + 1],
                    created_at=now - timedelta(days=60, minutes=-i),
                )
                for i, creator, token, reward in plan
            ],
            batch_size=CHUNK,
        )
        for factory in factory_rows:
            factory.available_account.holder = factory.reserved_account.holder = f"pool:{factory.pk}"
        bulk_update_values(Account, accounts, ["holder"])
        RateChange.objects.bulk_create(
            [
                RateChange(
                    factory=f, old_reward=None, new_reward=f.reward, changed_by=f.creator, created_at=f.created_at
                )
                for f in factory_rows
            ],
            batch_size=CHUNK,
        )

        token_ids = {f.pk: f.token_id for f in factory_rows}

        # Who submitted where: 5% to the first factory, 1% by the first farmer.
        work = []
        for number in range(submissions):
            f_index = 0 if number == 0 or rng.random() < 0.05 else rng.randrange(factories)
            farmer = farmer_users[0] if rng.random() < 0.01 else farmer_users[rng.randrange(farmers)]
            work.append((factory_rows[f_index], farmer))
        per_factory = [0] * factories
        index_of = {f.pk: i for i, f in enumerate(factory_rows)}
        for factory, _ in work:
            per_factory[index_of[factory.pk]] += 1

        # Deposits: each pool holds what its submissions will be paid plus 1-20 rewards more.
        deposits = Deposit.objects.bulk_create(
            [
                Deposit(
                    factory=f,
                    token=f.token,
                    amount=f.reward * (per_factory[i] + rng.randint(1, 20)),
                    tx_ref=f"bench{tag}-deposit-{i}",
                    status=Deposit.Status.CONFIRMED,
                    created_by=f.creator,
                    created_at=f.created_at,
                    confirmed_at=f.created_at,
                )
                for i, f in enumerate(factory_rows)
            ],
            batch_size=CHUNK,
        )
        world = accounts_get_many([(Account.Kind.WORLD_DEPOSITS, "world", t.pk) for t in tokens.values()])
        for chunk in _chunks(deposits):
            posted = transactions_post(
                [
                    Posting(
                        key=f"deposit:{d.pk}",
                        kind="deposit",
                        legs=[
                            Leg(world[(Account.Kind.WORLD_DEPOSITS, "world", d.token_id)], -d.amount),
                            Leg(d.factory.available_account, d.amount),
                        ],
                        memo=f"Deposit {d.pk}",
                    )
                    for d in chunk
                ]
            )
            for d in chunk:
                d.ledger_transaction = posted[f"deposit:{d.pk}"]
            bulk_update_values(Deposit, chunk, ["ledger_transaction"])

        user_accounts = accounts_get_many(
            [
                (Account.Kind.USER_BALANCE, f"user:{u.pk}", t.pk)
                for u in [*farmer_users, ambassador_user]
                for t in tokens.values()
            ]
            + [(Account.Kind.TREASURY, "protocol", t.pk) for t in tokens.values()]
        )

    # Claims and settled submissions, chunk by chunk (each chunk one transaction).
    accepted = [0] * factories
    stamps_made = 0
    for chunk in _chunks(work):
        with transaction.atomic():
            stamps = []
            for factory, _ in chunk:
                # The busiest factory is busy today too (at any size: the same page either way).
                recent = factory is factory_rows[0] and (not stamps_made or rng.random() < 0.2)
                stamps_made += 1
                submitted = now - timedelta(seconds=rng.randint(120, 12 * 3600 if recent else 30 * 86_400))
                stamps.append(submitted)
            claims = Claim.objects.bulk_create(
                [
                    Claim(
                        factory=factory,
                        farmer=farmer,
                        reward=factory.reward,
                        status=Claim.Status.SUBMITTED,
                        created_at=submitted - timedelta(minutes=9),
                        expires_at=submitted + timedelta(minutes=51),
                        closed_at=submitted,
                    )
                    for (factory, farmer), submitted in zip(chunk, stamps, strict=True)
                ]
            )
            transactions_post(
                [
                    Posting(
                        key=f"claim:{c.pk}",
                        kind="claim",
                        legs=[Leg(f.available_account, -c.reward), Leg(f.reserved_account, c.reward)],
                        memo=f"Claim {c.pk}",
                    )
                    for c, (f, _) in zip(claims, chunk, strict=True)
                ]
            )
            rows, final = [], []
            for claim, (factory, farmer), submitted in zip(claims, chunk, stamps, strict=True):
                score = Decimal(rng.randint(3000, 10000)) / 10000
                farmer_amb, farmer_rate = commission.get(farmer.pk, (None, Decimal(0)))
                factory_amb, factory_rate = commission.get(factory.creator_id, (None, Decimal(0)))
                shares = settlement_shares(
                    reward=claim.reward,
                    quality_score=score,
                    quality_threshold=config.quality_threshold,
                    platform_fee_rate=config.platform_fee_rate,
                    farmer_ambassador_rate=farmer_rate,
                    factory_ambassador_rate=factory_rate,
                )
                ok = score >= config.quality_threshold
                if ok:
                    accepted[index_of[factory.pk]] += 1
                rows.append(
                    Submission(
                        claim=claim,
                        factory=factory,
                        farmer=farmer,
                        demonstration=_demonstration(claim.pk),
                        # final once its settlement transaction exists (a CHECK insists)
                        status=Submission.Status.SCORING,
                        submitted_at=submitted,
                        quality_score=score,
                        score_confidence=Decimal("0.9"),
                        score_breakdown={"steps": "0.9"},
                        score_reasons=[],
                        graded_by="rules",
                        scored_at=submitted + timedelta(seconds=30),
                        gross_payout=shares.gross,
                        platform_fee=shares.fee,
                        farmer_reward=shares.farmer,
                        farmer_ambassador_commission=shares.farmer_ambassador,
                        factory_ambassador_commission=shares.factory_ambassador,
                        protocol_fee=shares.protocol,
                        refunded_to_pool=shares.back_to_pool,
                        settlement_terms={
                            "platform_fee_rate": str(config.platform_fee_rate),
                            "quality_threshold": str(config.quality_threshold),
                            "farmer_ambassador_rate": str(farmer_rate),
                            "factory_ambassador_rate": str(factory_rate),
                        },
                        farmer_ambassador_id=farmer_amb,
                        factory_ambassador_id=factory_amb,
                        settled_at=None,
                    )
                )
                final.append((Submission.Status.SETTLED if ok else Submission.Status.REJECTED, submitted))
            rows = Submission.objects.bulk_create(rows)
            postings = []
            for row in rows:
                factory, token_id = row.factory, row.factory.token_id

                def balance(user_id, token_id=token_id):
                    return user_accounts[(Account.Kind.USER_BALANCE, f"user:{user_id}", token_id)]

                legs = [
                    Leg(factory.reserved_account, -row.claim.reward),
                    Leg(factory.available_account, row.refunded_to_pool),
                    Leg(user_accounts[(Account.Kind.TREASURY, "protocol", token_id)], row.protocol_fee),
                ]
                if row.farmer_reward:
                    legs.append(Leg(balance(row.farmer_id), row.farmer_reward))
                if row.farmer_ambassador_commission:
                    legs.append(Leg(balance(row.farmer_ambassador_id), row.farmer_ambassador_commission))
                if row.factory_ambassador_commission:
                    legs.append(Leg(balance(row.factory_ambassador_id), row.factory_ambassador_commission))
                postings.append(Posting(key=f"settle:{row.pk}", kind="settlement", legs=legs, memo=f"Settle {row.pk}"))
            posted = transactions_post(postings)
            for row, (status, submitted) in zip(rows, final, strict=True):
                row.settlement_transaction = posted[f"settle:{row.pk}"]
                row.status = status
                row.settled_at = submitted + timedelta(minutes=1)
            bulk_update_values(Submission, rows, ["settlement_transaction", "status", "settled_at"])
            # The ambassador dashboard's commission rollup, as settle_rows keeps it.
            commission_rollup_add(settled_commissions(rows), token_ids=token_ids)

    with transaction.atomic():
        for factory, count in zip(factory_rows, accepted, strict=True):
            factory.accepted_count = count
        bulk_update_values(Factory, factory_rows, ["accepted_count"])
    return Subjects(
        creator_id=creators[0].pk,
        factory_id=factory_rows[0].pk,
        farmer_id=farmer_users[0].pk,
        ambassador_user_id=ambassador_user.pk,
        counts={"factories": factories, "farmers": farmers, "submissions": submissions, "creators": creators_count},
    )


def page_urls(subjects: Subjects) -> dict[str, tuple[int, str]]:
    """{page: (user id, path)} for the five pages."""
    from django.urls import reverse

    return {
        "farmer_browse": (subjects.farmer_id, reverse("farmers:browse")),
        "creator_dashboard": (subjects.creator_id, reverse("pools:dashboard")),
        "factory_detail": (subjects.creator_id, reverse("pools:factory-detail", args=[subjects.factory_id])),
        "farmer_earnings": (subjects.farmer_id, reverse("farmers:earnings")),
        "ambassador_dashboard": (subjects.ambassador_user_id, reverse("referrals:dashboard")),
    }


def client_for(user_id: int):
    from django.test import Client

    from accounts.models import User

    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(User.objects.get(pk=user_id))
    return client


def query_count(client, path: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} answered {response.status_code}")
    return len(captured.captured_queries)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(subjects: Subjects, *, requests: int = REQUESTS, warmup: int = WARMUP) -> dict:
    results = {}
    for page, (user_id, path) in page_urls(subjects).items():
        client = client_for(user_id)
        for _ in range(warmup):
            assert client.get(path).status_code == 200
        queries = query_count(client, path)
        times = []
        for _ in range(requests):
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"GET {path} answered {response.status_code}")
        results[page] = {
            "path": path,
            "queries": queries,
            "requests": requests,
            "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(_percentile(times, 0.95), 1),
            "max_ms": round(max(times), 1),
            "bytes": len(response.content),
        }
    return results


def run(*, quick: bool = False) -> dict:
    from bench.common import django_setup, fresh_database, machine

    scale = 20 if quick else 1
    size = {name: count // scale for name, count in FULL.items()}
    url = fresh_database("forge_bench_pages")
    django_setup(url)
    from ledger.audit import ledger_audit

    started = time.monotonic()
    subjects = build(**size)
    setup_seconds = time.monotonic() - started
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    audit = ledger_audit()
    pages = measure(subjects)
    met = audit.ok and all(
        p["queries"] <= TARGETS["max_queries"] and p["p95_ms"] <= TARGETS["p95_ms"] for p in pages.values()
    )
    return {
        "benchmark": "pages_at_scale",
        "machine": machine(),
        "quick": quick,
        "data": {**subjects.counts, "setup_seconds": round(setup_seconds, 1)},
        "pages": pages,
        "audit_ok": audit.ok,
        "audit_mismatches": audit.mismatches[:5],
        "targets": TARGETS,
        "met": met,
    }
