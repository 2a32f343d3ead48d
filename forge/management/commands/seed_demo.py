"""`python manage.py seed_demo`: demo data for `make run`, safe to run again (idempotent).

Creates a staff login, two creators, three farmers, an ambassador who referred a farmer and
a creator, funded factories in each token, and a few settled submissions, all through the
same services the product uses, so the ledger audit is clean afterwards.

The ambassador (carol) has something to show: she farms the CLONES factory and stakes 10 CLONES of what
she earned, staff set her tier to 2 (audited; a real stake for tier 2 is 2 million CLONES),
and the settlements of the farmer (dave) and the creator (alice) she referred pay her both
commissions, the farmer side and the creator side.
"""

from __future__ import annotations

import os
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User
from core.money import format_amount, parse_amount
from ledger.audit import ledger_audit
from ledger.models import Account, Token
from ledger.services import account_get
from pools.models import Claim
from pools.services.claims import claim_create
from pools.services.deposits import deposit_confirm, deposit_create
from pools.services.factories import factory_create
from pools.services.settlement import submission_settle
from pools.services.submissions import submission_create, submission_score
from referrals.services import ambassador_create, ambassador_set_tier, stake
from web.signup import user_signup

DEMO_PASSWORD = "forge-demo-2026"
STAFF_USERNAME = "admin"
AMBASSADOR_TIER = 2  # set by staff: the demo has no 2 million CLONES to stake
AMBASSADOR_STAKE = "10"  # CLONES, out of what carol earned on the CLONES factory

FACTORIES = [
    # creator, title, token, reward, deposit, category, min_reputation, instructions
    (
        "alice",
        "Budget spreadsheet in Google Sheets",
        "USDC",
        "0.2",
        "50",
        "spreadsheets",
        0,
        "Create a new spreadsheet named Budget 2026 and add the headers Month, Income, Expenses in the first row.",
    ),
    (
        "alice",
        "Book a meeting room in the calendar",
        "CLONES",
        "25",
        "10000",
        "productivity",
        0,
        "Open the calendar, create an event tomorrow 10:00-11:00 titled Planning and book the room Everest.",
    ),
    (
        "bob",
        "Deploy a static site",
        "SOL",
        "0.05",
        "5",
        "devops",
        60,
        "Create a new repository, add an index.html saying Hello, and publish it with the hosting dashboard.",
    ),
    (
        "bob",
        "Fill an expense report",
        "ETH",
        "0.0001",
        "0.01",
        "finance",
        0,
        "Open the expense tool, add a 42.50 taxi expense dated today with the receipt attached, and submit it.",
    ),
]


def _demonstration(index: int, instructions: str, started) -> dict:
    words = [w.strip(".,:") for w in instructions.split() if len(w) > 3][:8]
    minutes = 3 + index % 5
    steps = []
    for step in range(14):
        action = ["navigate", "click", "type", "click", "key", "click", "scroll"][step % 7]
        entry = {
            "t": step * (minutes * 60 - 10) // 14,
            "action": action,
            "target": f"{words[step % len(words)]} button",
        }
        if action == "type":
            entry["text"] = f"{words[(step + 1) % len(words)]} {index}"
        if action == "navigate":
            entry["target"] = f"https://app.example.com/{words[0].lower()}/{index}"
        steps.append(entry)
    return {
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(minutes=minutes)).isoformat(),
        "steps": steps,
        "final_state": f"Done: {' '.join(words[:5])} ({index}).",
        "notes": "Recorded with the demo seeder.",
    }


class Command(BaseCommand):
    help = "Load demo data (idempotent) and print the demo logins."

    def handle(self, *args, **options):
        if User.objects.filter(username=STAFF_USERNAME).exists():
            self.stdout.write("Demo data already loaded.")
            self._print_logins()
            return
        with transaction.atomic():
            self._seed()
        report = ledger_audit()
        self.stdout.write(self.style.SUCCESS(f"Demo data loaded; ledger audit ok={report.ok}"))
        self._print_logins()

    def _seed(self):
        staff = User.objects.create_superuser(
            STAFF_USERNAME, "admin@forge.invalid", DEMO_PASSWORD, role=User.Role.CREATOR
        )
        carol = user_signup(username="carol", password=DEMO_PASSWORD, role="farmer")
        ambassador, _ = ambassador_create(user=carol)
        ambassador_set_tier(ambassador=ambassador, tier=AMBASSADOR_TIER, actor=staff)
        creators = {
            "alice": user_signup(
                username="alice", password=DEMO_PASSWORD, role="creator", referral_code=ambassador.code
            ),
            "bob": user_signup(username="bob", password=DEMO_PASSWORD, role="creator"),
        }
        farmers = [
            user_signup(username="dave", password=DEMO_PASSWORD, role="farmer", referral_code=ambassador.code),
            user_signup(username="erin", password=DEMO_PASSWORD, role="farmer"),
        ]
        for number, (creator, title, token, reward, deposit, category, min_rep, instructions) in enumerate(FACTORIES):
            factory = factory_create(
                creator=creators[creator],
                title=title,
                instructions=instructions,
                token=token,
                reward=reward,
                category=category,
                min_reputation=min_rep,
                target_count=100,
            )
            pending = deposit_create(factory=factory, actor=creators[creator], amount=deposit, tx_ref=f"demo-{number}")
            deposit_confirm(deposit=pending, actor=None)
            if min_rep:
                continue
            workers = [*farmers, carol] if token == "CLONES" else farmers
            for index, farmer in enumerate(workers):
                claim = claim_create(factory=factory, farmer=farmer)
                # The demo farmer took the task ten minutes ago and recorded it since: the agent
                # checks the recording against the claim window (FORGE_GRADE_CLAIM_WINDOW).
                claimed_at = claim.created_at - timedelta(minutes=10)
                Claim.objects.filter(pk=claim.pk).update(created_at=claimed_at)
                demo = _demonstration(number * 10 + index, instructions, claimed_at + timedelta(minutes=1))
                submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demo)
                if settings.FORGE_GRADER != "manual":
                    submission_score(submission_id=submission.pk)
                    submission.refresh_from_db()
                    if not submission.needs_review:
                        submission_settle(submission_id=submission.pk)
        if settings.FORGE_GRADER != "manual":
            clones = Token.objects.get(symbol="CLONES")
            earned = account_get(kind=Account.Kind.USER_BALANCE, holder=f"user:{carol.pk}", token=clones).balance
            # 10 CLONES, or what she earned if the grader paid her less (stake moves her own money).
            units = min(parse_amount(AMBASSADOR_STAKE, decimals=clones.decimals), earned)
            if units:
                stake(
                    ambassador=ambassador,
                    amount=format_amount(units, decimals=clones.decimals),
                    request_key="demo-stake",
                )

    def _print_logins(self):
        password = os.environ.get("DEMO_PASSWORD_HINT", DEMO_PASSWORD)
        self.stdout.write(
            f"\nDemo logins (password for all: {password})\n"
            f"  staff:      {STAFF_USERNAME}  -> http://127.0.0.1:8000/admin/\n"
            "  creators:   alice, bob\n"
            "  farmers:    dave, erin; carol is a farmer and an ambassador (a stake, tier 2, commissions)\n"
        )
