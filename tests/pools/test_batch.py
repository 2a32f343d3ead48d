"""The batched engine (pools/services/batch.py): taking rows without ever handing one to two
workers, scoring as a compare-and-swap, backing off when the grader fails, settling orphans,
the same money as the single-submission path, and the coalesced wake-up that drives it."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.money import format_amount
from ledger.audit import ledger_audit
from ledger.models import Account, Token, Transaction
from pools.grading import GraderUnavailable
from pools.models import Factory, Submission
from pools.services import batch, scoring
from pools.services import submissions as submissions_module
from pools.services.batch import drain_seconds, process_batch, settle_batch, take_batch
from pools.services.claims import claim_create
from pools.services.factories import factory_close
from pools.services.scoring import MAX_SCORING_ATTEMPTS, submissions_score
from pools.services.settlement import submission_settle
from pools.services.submissions import (
    WAKE_UP_KEY,
    submission_create,
    submission_review,
)
from pools.tasks import submissions_process_pending_task
from referrals.services import ambassador_create, ambassador_set_tier, referral_attach
from tests.factories import CreatorFactory, FarmerFactory, StaffFactory, demonstration
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db

Status = Submission.Status


def submit(factory: Factory, farmer=None, demo: dict | None = None) -> Submission:
    """Claim and submit; in a `db` test nothing runs after commit, so the row waits."""
    farmer = farmer or FarmerFactory()
    claim = claim_create(factory=factory, farmer=farmer)
    return submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demo or demonstration())


def reviewed(submission: Submission, score: str) -> Submission:
    return submission_review(submission_id=submission.pk, reviewer=StaffFactory(), quality_score=score)


def later(monkeypatch, seconds: float) -> None:
    """The batch module reads the clock `seconds` from now (waits and leases have passed)."""
    real_now = timezone.now
    monkeypatch.setattr(batch, "timezone", SimpleNamespace(now=lambda: real_now() + timedelta(seconds=seconds)))


def settle_keys(submissions) -> Counter:
    keys = [f"settle:{s.pk}" for s in submissions]
    return Counter(Transaction.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True))


def statuses(submissions) -> list[str]:
    return [Submission.objects.get(pk=s.pk).status for s in submissions]


@pytest.fixture
def factory(creator):
    return funded_factory(creator, reward="0.2", deposit="10", expected_minutes=10)


# ---- take_batch ------------------------------------------------------------------------------


def test_take_marks_waiting_rows_scoring_and_leaves_everything_else(factory, monkeypatch):
    waiting = [submit(factory) for _ in range(3)]
    held = submit(factory)
    Submission.objects.filter(pk=held.pk).update(needs_review=True)
    backing_off = submit(factory)
    Submission.objects.filter(pk=backing_off.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=5))
    just_scored = reviewed(submit(factory), "0.8")  # scored now: its own settle task is on its way
    final = reviewed(submit(factory), "0.8")
    submission_settle(submission_id=final.pk)

    taken = take_batch(limit=100)

    assert sorted(taken) == sorted(s.pk for s in waiting)
    assert statuses(waiting) == [Status.SCORING] * 3
    assert Submission.objects.get(pk=held.pk).status == Status.SUBMITTED
    assert Submission.objects.get(pk=backing_off.pk).status == Status.SUBMITTED
    assert just_scored.pk not in taken and final.pk not in taken
    assert take_batch(limit=100) == []  # taken rows are no longer waiting


def test_take_respects_the_limit_and_the_order_of_arrival(factory):
    rows = [submit(factory) for _ in range(5)]

    assert take_batch(limit=2) == [rows[0].pk, rows[1].pk]
    assert take_batch(limit=2) == [rows[2].pk, rows[3].pk]
    assert take_batch(limit=2) == [rows[4].pk]


def test_a_row_backing_off_is_taken_again_once_its_wait_is_over(factory, monkeypatch):
    row = submit(factory)
    Submission.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now() + timedelta(seconds=40))
    assert take_batch(limit=10) == []

    later(monkeypatch, 41)

    assert take_batch(limit=10) == [row.pk]


def _waiting_rows_under_manual_grading(settings, count: int) -> list[Submission]:
    """Submissions that wait: with the manual grader the after-commit processor takes none."""
    settings.FORGE_GRADER = "manual"
    factory = funded_factory(CreatorFactory(), reward="0.2", deposit="100")
    rows = [submit(factory) for _ in range(count)]
    assert all(s.status == Status.SUBMITTED for s in Submission.objects.filter(pk__in=[r.pk for r in rows]))
    settings.FORGE_GRADER = "rules"
    return rows


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_takers_never_get_the_same_row(settings):
    rows = _waiting_rows_under_manual_grading(settings, 60)
    takers = 6
    barrier = threading.Barrier(takers)
    got: list[list[int]] = [[] for _ in range(takers)]
    errors = []

    def worker(index: int) -> None:
        try:
            barrier.wait()
            while ids := take_batch(limit=3):
                got[index].extend(ids)
        except Exception as error:  # reported below, never swallowed
            errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(takers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    assert not any(thread.is_alive() for thread in threads)
    everything = [pk for ids in got for pk in ids]
    assert [pk for pk, n in Counter(everything).items() if n > 1] == []
    assert sorted(everything) == sorted(r.pk for r in rows)
    assert sum(1 for ids in got if ids) >= 2, "one taker got everything: the race was not exercised"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_row_locked_by_another_worker_is_skipped_not_waited_for(settings):
    rows = _waiting_rows_under_manual_grading(settings, 4)
    locked, release = threading.Event(), threading.Event()

    def other_worker() -> None:
        try:
            with transaction.atomic():
                list(Submission.objects.select_for_update().filter(pk=rows[0].pk))
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=other_worker)
    holder.start()
    assert locked.wait(timeout=10)
    result: list[int] = []

    def taker() -> None:
        try:
            result.extend(take_batch(limit=10))
        finally:
            connection.close()

    thread = threading.Thread(target=taker)
    thread.start()
    thread.join(timeout=5)
    waited = thread.is_alive()
    release.set()
    holder.join(timeout=10)
    thread.join(timeout=10)

    assert not waited, "take_batch waited for a locked row instead of skipping it"
    assert result == [r.pk for r in rows[1:]]


def test_an_orphan_taken_by_one_worker_is_not_handed_to_another_while_it_is_being_settled(factory, monkeypatch):
    orphan = reviewed(submit(factory), "0.8")
    later(monkeypatch, 60)

    first = take_batch(limit=10)
    second = take_batch(limit=10)  # another worker, after the first one's take committed

    assert first == [orphan.pk]
    assert second == []


# ---- scoring (submissions_score) -------------------------------------------------------------------


def test_score_grades_every_row_and_returns_those_ready_to_settle(factory):
    rows = [submit(factory) for _ in range(3)]
    taken = take_batch(limit=10)

    ready = submissions_score(taken)

    assert sorted(ready) == sorted(taken)
    for row in Submission.objects.filter(pk__in=taken):
        assert row.quality_score is not None
        assert row.graded_by == "rules"
        assert row.scored_at is not None
        assert row.status == Status.SCORING
        assert row.needs_review is False
    assert len(rows) == 3


def test_a_row_reviewed_while_the_grader_works_keeps_the_reviewers_score(factory, monkeypatch):
    rows = [submit(factory) for _ in range(3)]
    taken = take_batch(limit=10)
    real_grade = scoring.grade
    calls = []

    def grade_while_a_reviewer_scores(demo, *, task):
        calls.append(1)
        if len(calls) == 1:  # a staff review lands while the grader is busy
            reviewed(rows[1], "0.3100")
        return real_grade(demo, task=task)

    monkeypatch.setattr(scoring, "grade", grade_while_a_reviewer_scores)

    ready = submissions_score(taken)

    assert len(calls) == 3  # the batch read its rows before the review
    assert rows[1].pk not in ready
    kept = Submission.objects.get(pk=rows[1].pk)
    assert kept.quality_score == Decimal("0.3100")
    assert kept.graded_by == "manual"
    assert sorted(ready) == sorted([rows[0].pk, rows[2].pk])


def test_scoring_a_batch_again_changes_nothing(factory):
    submit(factory)
    taken = take_batch(limit=10)
    submissions_score(taken)
    before = list(Submission.objects.values_list("pk", "quality_score", "scored_at"))

    assert submissions_score(taken) == []
    assert list(Submission.objects.values_list("pk", "quality_score", "scored_at")) == before


def test_a_replayed_sequence_is_scored_but_held_for_review(factory):
    demo = demonstration()
    first = submit(factory, demo=demo)
    copy = submit(factory, demo={**demo, "final_state": demo["final_state"] + " again"})

    ready = submissions_score(take_batch(limit=10))

    # Issue 16 (a behaviour change): only the later one is a copy; it names the earlier one.
    assert ready == [first.pk]
    held = Submission.objects.get(pk=copy.pk)
    assert held.needs_review and held.quality_score is not None
    assert any(
        f"same sequence of actions was already submitted (submission {first.pk}" in r for r in held.review_reasons
    )


def _attachment(name: str, sha: str) -> dict:
    return {"name": name, "content_type": "video/webm", "size": 1000, "sha256": sha}


def test_one_submission_carrying_the_same_file_twice_is_not_a_duplicate_of_itself(factory):
    sha = "ab" * 32
    demo = {**demonstration(), "attachments": [_attachment("a.webm", sha), _attachment("b.webm", sha)]}
    row = submit(factory, demo=demo)

    ready = submissions_score(take_batch(limit=10))

    scored = Submission.objects.get(pk=row.pk)
    assert scored.review_reasons == []
    assert ready == [row.pk]


def test_a_file_seen_in_another_submission_is_held_for_review(factory):
    sha = "cd" * 32
    first = submit(factory, demo={**demonstration(), "attachments": [_attachment("a.webm", sha)]})
    second = submit(factory, demo={**demonstration(), "attachments": [_attachment("b.webm", sha)]})

    assert submissions_score(take_batch(limit=10)) == []
    for row in Submission.objects.filter(pk__in=[first.pk, second.pk]):
        assert any("attachment identical" in reason for reason in row.review_reasons)


def test_speed_is_judged_by_the_grader_not_a_fixed_share_of_the_expected_time(creator):
    """Issue 16, point 6 (a behaviour change): 2 minutes against 60 expected used to be held;
    humanly possible speed now passes, impossible speed is refused by the grader's gate."""
    slow_factory = funded_factory(creator, reward="0.2", deposit="1", expected_minutes=60)
    quick = submit(slow_factory, demo=demonstration(minutes=2))
    robot = submit(slow_factory, demo=demonstration(minutes=0.01))

    # Neither is held: both go on to settle, where the gated score pays nothing.
    assert set(submissions_score(take_batch(limit=10))) == {quick.pk, robot.pk}
    rows = Submission.objects.in_bulk([quick.pk, robot.pk])
    assert rows[quick.pk].review_reasons == [] and not rows[quick.pk].needs_review
    assert "impossible_speed" in rows[robot.pk].score_breakdown["gate"]["flags"]
    assert rows[robot.pk].quality_score < rows[quick.pk].quality_score


def test_low_grader_confidence_holds_the_row(factory, settings):
    settings.FORGE_REVIEW_BELOW_CONFIDENCE = 1.01  # every grade is below it
    row = submit(factory)

    assert submissions_score(take_batch(limit=10)) == []
    assert any("confidence" in r for r in Submission.objects.get(pk=row.pk).review_reasons)


# ---- grader failures -------------------------------------------------------------------------


def _grader_down(monkeypatch):
    def down(demo, *, task):
        raise GraderUnavailable("grading service unavailable: connection refused")

    monkeypatch.setattr(scoring, "grade", down)


def test_a_grader_failure_sends_the_row_back_to_wait_with_a_backoff(factory, monkeypatch):
    row = submit(factory)
    _grader_down(monkeypatch)
    started = timezone.now()

    assert process_batch(limit=10) == 1

    failed = Submission.objects.get(pk=row.pk)
    assert failed.status == Status.SUBMITTED
    assert failed.quality_score is None
    assert failed.scoring_attempts == 1
    assert "connection refused" in failed.scoring_error
    assert failed.next_attempt_at >= started + timedelta(seconds=10)
    assert failed.needs_review is False
    assert take_batch(limit=10) == []  # not before its wait is over
    assert settle_keys([row]) == Counter()


def test_the_backoff_grows_with_each_failure(factory, monkeypatch):
    row = submit(factory)
    _grader_down(monkeypatch)
    waits = []
    for attempt in range(1, 5):
        before = timezone.now()
        later(monkeypatch, 4000 * attempt)  # every earlier wait is over
        _grader_down(monkeypatch)
        assert process_batch(limit=10) == 1
        waits.append(Submission.objects.get(pk=row.pk).next_attempt_at - before)
    assert waits == sorted(waits)
    assert waits[-1] > waits[0]


def test_after_max_attempts_the_row_is_held_for_review_instead_of_retried(factory, monkeypatch):
    row = submit(factory)
    for attempt in range(1, MAX_SCORING_ATTEMPTS + 1):
        later(monkeypatch, 3700 * attempt)
        _grader_down(monkeypatch)
        assert process_batch(limit=10) == 1, attempt
    held = Submission.objects.get(pk=row.pk)

    assert held.scoring_attempts == MAX_SCORING_ATTEMPTS
    assert held.needs_review is True
    assert f"failed {MAX_SCORING_ATTEMPTS} times" in held.review_reasons[0]
    later(monkeypatch, 3700 * (MAX_SCORING_ATTEMPTS + 5))
    assert take_batch(limit=10) == []  # never retried again by the processor

    # A reviewer's score releases it, and it settles.
    reviewed(held, "0.9")
    submission_settle(submission_id=row.pk)
    assert Submission.objects.get(pk=row.pk).status == Status.SETTLED
    assert_audit_clean()


def test_a_dead_http_grader_backs_off_through_the_real_client(factory, settings):
    settings.FORGE_GRADER = "http"
    settings.FORGE_GRADER_HTTP_URL = "http://127.0.0.1:9/grade"  # nothing listens on the discard port
    settings.FORGE_GRADER_HTTP_RETRIES = 0
    settings.FORGE_GRADER_HTTP_TIMEOUT = 1.0
    rows = [submit(factory) for _ in range(settings.FORGE_HTTP_BATCH_SIZE + 2)]

    taken = process_batch()

    assert taken == settings.FORGE_HTTP_BATCH_SIZE  # small batches for an outside grader
    failed = Submission.objects.filter(pk__in=[r.pk for r in rows], scoring_attempts=1)
    assert failed.count() == taken
    assert all(s.status == Status.SUBMITTED and s.next_attempt_at and s.scoring_error for s in failed)
    assert Transaction.objects.filter(idempotency_key__startswith="settle:").count() == 0


def test_a_row_that_scores_after_failing_keeps_no_stale_error(factory, monkeypatch):
    row = submit(factory)
    _grader_down(monkeypatch)
    process_batch(limit=10)
    monkeypatch.undo()
    later(monkeypatch, 3600)

    process_batch(limit=10)

    done = Submission.objects.get(pk=row.pk)
    assert done.status in (Status.SETTLED, Status.REJECTED)
    assert done.scoring_error == ""


# ---- manual grading and orphans --------------------------------------------------------------


def test_with_the_manual_grader_only_orphaned_scored_rows_are_taken(factory, settings, monkeypatch):
    settings.FORGE_GRADER = "manual"
    waiting = submit(factory)
    scored = reviewed(submit(factory), "0.7")
    assert take_batch(limit=10) == []  # unscored rows wait for a review; the scored one for its settle task

    later(monkeypatch, settings.FORGE_RESETTLE_AFTER_SECONDS + 1)

    assert take_batch(limit=10) == [scored.pk]
    assert Submission.objects.get(pk=waiting.pk).status == Status.SUBMITTED


def test_a_scored_row_left_unsettled_is_settled_by_the_next_batch(factory, settings, monkeypatch):
    orphan = reviewed(submit(factory), "0.9")  # its settle task was lost
    waiting = submit(factory)
    assert process_batch(limit=10) == 1  # too recent to be an orphan: only the waiting row
    assert Submission.objects.get(pk=orphan.pk).status == Status.SCORING

    later(monkeypatch, settings.FORGE_RESETTLE_AFTER_SECONDS + 1)
    assert process_batch(limit=10) == 1

    assert Submission.objects.get(pk=orphan.pk).status == Status.SETTLED
    assert Submission.objects.get(pk=waiting.pk).status in (Status.SETTLED, Status.REJECTED)
    assert settle_keys([orphan, waiting]) == Counter({f"settle:{orphan.pk}": 1, f"settle:{waiting.pk}": 1})
    assert_audit_clean()


def test_with_the_manual_grader_a_lost_settle_is_recovered_by_the_batch(factory, settings, monkeypatch):
    settings.FORGE_GRADER = "manual"
    orphan = reviewed(submit(factory), "0.6")
    later(monkeypatch, settings.FORGE_RESETTLE_AFTER_SECONDS + 1)

    assert process_batch(limit=10) == 1

    assert Submission.objects.get(pk=orphan.pk).status == Status.SETTLED


# ---- settle_batch ----------------------------------------------------------------------------


def test_settling_a_batch_twice_posts_one_settlement_per_submission(factory):
    rows = [reviewed(submit(factory), score) for score in ("0.9", "0.5", "0.2")]
    ids = [r.pk for r in rows]

    assert settle_batch(ids) == 3
    balances = dict(Account.objects.values_list("pk", "balance"))
    assert settle_batch(ids) == 0
    submission_settle(submission_id=rows[0].pk)  # the single path agrees it is done

    assert settle_keys(rows) == Counter({f"settle:{pk}": 1 for pk in ids})
    assert dict(Account.objects.values_list("pk", "balance")) == balances
    assert statuses(rows) == [Status.SETTLED, Status.SETTLED, Status.REJECTED]
    factory.refresh_from_db()
    assert factory.in_flight_count == 0
    assert factory.accepted_count == 2
    assert_audit_clean()


def test_settle_skips_held_unscored_and_final_rows(factory):
    held = reviewed(submit(factory), "0.9")
    Submission.objects.filter(pk=held.pk).update(needs_review=True)
    unscored = submit(factory)
    done = reviewed(submit(factory), "0.9")
    submission_settle(submission_id=done.pk)

    assert settle_batch([held.pk, unscored.pk, done.pk]) == 0
    assert settle_keys([held, unscored]) == Counter()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_settling_the_same_batch_at_once_pay_each_submission_once(settings, monkeypatch):
    settings.FORGE_GRADER = "manual"
    factory = funded_factory(CreatorFactory(), reward="0.2", deposit="10")
    with monkeypatch.context() as lost:  # the settle tasks the reviews send are lost
        lost.setattr(submissions_module, "_enqueue_settle", lambda submission_id: None)
        rows = [reviewed(submit(factory), "0.8") for _ in range(8)]
    assert statuses(rows) == [Status.SCORING] * 8
    barrier = threading.Barrier(2)
    counts, errors = [], []

    def worker() -> None:
        try:
            barrier.wait()
            counts.append(settle_batch([r.pk for r in rows]))
        except Exception as error:
            errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    assert sorted(counts) == [0, 8]
    assert settle_keys(rows) == Counter({f"settle:{r.pk}": 1 for r in rows})
    assert_audit_clean()


# ---- the same money as the single path -------------------------------------------------------


def _world(*, symbol: str, reward: int, scores: list[str], tiers: tuple, closed: bool, extra: int, staff) -> dict:
    token = Token.objects.get(symbol=symbol)
    creator = CreatorFactory()
    amount = lambda units: format_amount(units, decimals=token.decimals, trim=True)  # noqa: E731
    factory = funded_factory(
        creator, token=symbol, reward=amount(reward), deposit=amount(reward * len(scores) + extra), expected_minutes=10
    )
    farmers = [FarmerFactory() for _ in scores]
    people = {"creator": creator, **{f"farmer{i}": f for i, f in enumerate(farmers)}}
    farmer_tier, creator_tier = tiers
    if farmer_tier is not None:
        ambassador, _ = ambassador_create(user=FarmerFactory())
        ambassador_set_tier(ambassador=ambassador, tier=farmer_tier, actor=staff)
        for farmer in farmers:
            referral_attach(user=farmer, ambassador=ambassador)
        people["farmer_ambassador"] = ambassador.user
    if creator_tier is not None:
        ambassador, _ = ambassador_create(user=FarmerFactory())
        ambassador_set_tier(ambassador=ambassador, tier=creator_tier, actor=staff)
        referral_attach(user=creator, ambassador=ambassador)
        people["creator_ambassador"] = ambassador.user
    rows = []
    for farmer, score in zip(farmers, scores, strict=True):
        row = submit(factory, farmer)
        rows.append(submission_review(submission_id=row.pk, reviewer=staff, quality_score=score))
    if closed:
        factory_close(factory=factory, actor=creator)
    return {"factory": factory, "people": people, "rows": rows, "token": token}


def _treasury(token) -> int:
    found = Account.objects.filter(kind=Account.Kind.TREASURY, token=token).first()
    return found.balance if found else 0


def _outcome(world: dict, treasury_delta: int) -> dict:
    token = world["token"]
    balances = {}
    for role, user in world["people"].items():
        found = Account.objects.filter(kind=Account.Kind.USER_BALANCE, holder=f"user:{user.pk}", token=token).first()
        balances[role] = found.balance if found else 0
    factory = Factory.objects.select_related("available_account", "reserved_account").get(pk=world["factory"].pk)
    fields = [
        "status",
        "gross_payout",
        "platform_fee",
        "farmer_reward",
        "farmer_ambassador_commission",
        "factory_ambassador_commission",
        "protocol_fee",
        "refunded_to_pool",
        "settlement_terms",
    ]
    rows = [list(Submission.objects.filter(pk=r.pk).values_list(*fields).get()) for r in world["rows"]]
    for row, original in zip(rows, world["rows"], strict=True):
        got = Submission.objects.get(pk=original.pk)
        row.append(_role(world, got.farmer_ambassador_id))
        row.append(_role(world, got.factory_ambassador_id))
    return {
        "balances": balances,
        "treasury": treasury_delta,
        "pool": (factory.available_account.balance, factory.reserved_account.balance),
        "counters": (factory.in_flight_count, factory.accepted_count, factory.returned_to_creator),
        "rows": rows,
    }


def _role(world: dict, user_id) -> str | None:
    if user_id is None:
        return None
    return next(role for role, user in world["people"].items() if user.pk == user_id)


def _single_and_batch(*, symbol, reward, scores, tiers, closed, extra) -> tuple[dict, dict]:
    staff = StaffFactory()
    setup = {"symbol": symbol, "reward": reward, "scores": scores, "tiers": tiers, "closed": closed, "extra": extra}
    single, batched = _world(**setup, staff=staff), _world(**setup, staff=staff)

    before = _treasury(single["token"])
    for row in single["rows"]:
        submission_settle(submission_id=row.pk)
    single_treasury = _treasury(single["token"]) - before

    before = _treasury(batched["token"])
    assert settle_batch([row.pk for row in batched["rows"]]) == len(scores)
    batch_treasury = _treasury(batched["token"]) - before
    return _outcome(single, single_treasury), _outcome(batched, batch_treasury)


def test_a_batch_pays_exactly_what_the_single_path_pays_with_ambassadors_and_a_closed_factory():
    single, batched = _single_and_batch(
        symbol="USDC", reward=200_000, scores=["0.9", "0.5", "0.49", "1"], tiers=(3, 5), closed=True, extra=77
    )

    assert batched == single
    assert single["balances"]["farmer_ambassador"] > 0 and single["balances"]["creator_ambassador"] > 0
    assert single["balances"]["creator"] > 0  # the closed pool's remainder went back
    assert single["pool"] == (0, 0)
    assert_audit_clean()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    symbol=st.sampled_from(["USDC", "CLONES", "SOL", "ETH"]),
    reward=st.integers(min_value=1, max_value=10**12),
    scores=st.lists(st.decimals(min_value=0, max_value=1, places=4).map(str), min_size=1, max_size=4),
    tiers=st.tuples(st.sampled_from([None, 0, 1, 3, 5]), st.sampled_from([None, 0, 2, 4, 5])),
    closed=st.booleans(),
    extra=st.integers(min_value=0, max_value=10**6),
)
def test_any_batch_pays_exactly_what_the_single_path_pays(symbol, reward, scores, tiers, closed, extra):
    single, batched = _single_and_batch(
        symbol=symbol, reward=reward, scores=scores, tiers=tiers, closed=closed, extra=extra
    )

    assert batched == single
    assert ledger_audit().ok


# ---- the wake-up and the baton ---------------------------------------------------------------


def test_three_submissions_in_one_transaction_are_all_settled_and_the_wake_up_mark_cleared(
    factory, django_capture_on_commit_callbacks
):
    farmers = [FarmerFactory() for _ in range(3)]
    claims = [claim_create(factory=factory, farmer=f) for f in farmers]

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        rows = [
            submission_create(claim_id=c.pk, farmer=f, demonstration=demonstration())
            for c, f in zip(claims, farmers, strict=True)
        ]

    assert all(status in (Status.SETTLED, Status.REJECTED) for status in statuses(rows))
    assert settle_keys(rows) == Counter({f"settle:{r.pk}": 1 for r in rows})
    assert cache.get(WAKE_UP_KEY) is None
    assert_audit_clean()


def test_submissions_in_one_window_send_one_wake_up(factory, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr(submissions_process_pending_task, "delay", lambda *a, **k: sent.append(a))
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            first = [submit(factory) for _ in range(3)]
        second = submit(factory)  # a later transaction in the same second

    assert len(sent) == 1
    assert cache.get(WAKE_UP_KEY) is not None
    monkeypatch.undo()

    # The one wake-up drains everything and clears the mark.
    assert submissions_process_pending_task.apply().get() == 4
    assert cache.get(WAKE_UP_KEY) is None
    assert all(status in (Status.SETTLED, Status.REJECTED) for status in statuses([*first, second]))


def test_a_full_batch_passes_the_baton_to_another_run(factory, settings, django_capture_on_commit_callbacks):
    settings.FORGE_BATCH_SIZE = 2
    settings.FORGE_BATCH_DRAIN_SECONDS = 0  # every run ends after its first batch
    rows = [submit(factory) for _ in range(5)]

    # One run: 2 taken, a full batch, so it sends another; 2, another; 1, drained.
    with django_capture_on_commit_callbacks(execute=True):
        submissions_process_pending_task.apply()

    assert all(status in (Status.SETTLED, Status.REJECTED) for status in statuses(rows))
    assert cache.get(WAKE_UP_KEY) is None


def test_one_run_takes_full_batches_back_to_back_within_its_drain_time(
    factory, settings, django_capture_on_commit_callbacks, monkeypatch
):
    """A message per batch of 500 cost a broker round trip and a hand-over between workers
    each time (benchmark 1): a run now goes on while its batches are full."""
    settings.FORGE_BATCH_SIZE = 2
    settings.FORGE_BATCH_DRAIN_SECONDS = 60
    rows = [submit(factory) for _ in range(5)]
    sent = []
    monkeypatch.setattr(submissions_process_pending_task, "delay", lambda *a, **k: sent.append(a))

    with django_capture_on_commit_callbacks(execute=True):
        assert submissions_process_pending_task.apply().get() == 5  # 2, 2, then 1: drained

    assert sent == []  # no baton: the one run drained the queue
    assert all(status in (Status.SETTLED, Status.REJECTED) for status in statuses(rows))
    assert cache.get(WAKE_UP_KEY) is None


def test_an_outside_grader_takes_one_batch_per_run(settings):
    """Its batches are bounded by its calls, not their size: one per run keeps a run inside
    the task's time limit."""
    settings.FORGE_BATCH_DRAIN_SECONDS = 60
    settings.FORGE_GRADER = "http"
    assert drain_seconds() == 0
    settings.FORGE_GRADER = "rules"
    assert drain_seconds() == 60


def test_a_broker_failure_on_wake_up_clears_the_mark_so_the_next_submission_tries_again(
    factory, django_capture_on_commit_callbacks, monkeypatch
):
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(submissions_process_pending_task, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        row = submit(factory)

    assert Submission.objects.get(pk=row.pk).status == Status.SUBMITTED  # accepted, waiting
    assert cache.get(WAKE_UP_KEY) is None


@pytest.fixture
def long_wake_up_window(monkeypatch):
    """A mark that outlives a slow test run (the production window is a second)."""
    from pools import tasks as tasks_module

    monkeypatch.setattr(submissions_module, "WAKE_UP_COALESCE_SECONDS", 60)
    monkeypatch.setattr(tasks_module, "WAKE_UP_COALESCE_SECONDS", 60)
    return tasks_module


@pytest.fixture
def no_gathering(settings):
    """A run passes the baton after a batch that was not full, instead of waiting for rows."""
    settings.FORGE_BATCH_GATHER_SECONDS = 0


def test_a_steady_stream_is_drained_by_one_chain_of_runs(
    factory, django_capture_on_commit_callbacks, monkeypatch, long_wake_up_window, no_gathering
):
    """Submissions keep arriving while each run works: the run passes the baton and keeps the
    mark, so their wake-ups are coalesced into it. One message per run, not a new chain per run
    (which left every run with a handful of rows and the batch's fixed cost each time)."""
    sent = []
    monkeypatch.setattr(submissions_process_pending_task, "delay", lambda *a, **k: sent.append(a))
    real_process_batch = long_wake_up_window.process_batch

    def arrive():
        with django_capture_on_commit_callbacks(execute=True):  # committed: its wake-up runs
            submit(factory)

    def one_more_arrives_during_the_batch(**kwargs):
        taken = real_process_batch(**kwargs)
        arrive()
        return taken

    monkeypatch.setattr(long_wake_up_window, "process_batch", one_more_arrives_during_the_batch)
    runs = 3
    arrive()  # wakes the first run
    for _ in range(runs):
        assert submissions_process_pending_task.apply().get() >= 1
        arrive()  # and one more just after it

    assert len(sent) == 1 + runs  # the first wake-up, then each run's baton
    assert cache.get(WAKE_UP_KEY) is not None  # the chain holds it
    monkeypatch.undo()

    # The last baton drains the stream, clears the mark, and pays everything.
    assert submissions_process_pending_task.apply().get() == 2
    assert cache.get(WAKE_UP_KEY) is None
    assert set(statuses(Submission.objects.all())) <= {Status.SETTLED, Status.REJECTED}
    assert_audit_clean()


def test_a_baton_the_broker_refuses_clears_the_mark_so_the_next_submission_wakes_a_run(
    factory, django_capture_on_commit_callbacks, monkeypatch, long_wake_up_window, no_gathering
):
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker down")

    first, second = submit(factory), submit(factory)
    real_process_batch = long_wake_up_window.process_batch
    monkeypatch.setattr(long_wake_up_window, "process_batch", lambda **kwargs: real_process_batch(limit=1))
    monkeypatch.setattr(submissions_process_pending_task, "delay", broker_down)

    assert submissions_process_pending_task.apply().get() == 1  # one taken, one left: a baton

    assert statuses([first, second]) == [Status.SETTLED, Status.SUBMITTED] or statuses([first, second]) == [
        Status.REJECTED,
        Status.SUBMITTED,
    ]
    assert cache.get(WAKE_UP_KEY) is None


def test_under_a_stream_a_run_waits_for_rows_to_gather_holding_the_mark(
    factory, django_capture_on_commit_callbacks, monkeypatch, long_wake_up_window, settings
):
    """Batches of a few rows each paid a batch's fixed cost (benchmark 6: at 25/s, 110 batches
    of 10 rows in 30 s). A batch that was not full, with more arrived meanwhile, is followed by
    the next FORGE_BATCH_GATHER_SECONDS later in the same run, the mark held meanwhile so the
    rows arriving send no message; the run ends when a batch finds nothing more waiting."""
    settings.FORGE_BATCH_GATHER_SECONDS = 0.05
    settings.FORGE_BATCH_DRAIN_SECONDS = 60
    sent, slept, batches = [], [], []
    monkeypatch.setattr(submissions_process_pending_task, "delay", lambda *a, **k: sent.append(a))
    monkeypatch.setattr(long_wake_up_window.time, "sleep", lambda seconds: slept.append(seconds))
    real_process_batch = long_wake_up_window.process_batch

    def arrive():
        with django_capture_on_commit_callbacks(execute=True):
            submit(factory)

    def two_arrive_during_each_of_the_first_two_batches(**kwargs):
        taken = real_process_batch(**kwargs)
        batches.append(taken)
        if len(batches) <= 2:
            arrive()
            arrive()
        return taken

    monkeypatch.setattr(long_wake_up_window, "process_batch", two_arrive_during_each_of_the_first_two_batches)
    arrive()  # wakes the run
    assert len(sent) == 1

    assert submissions_process_pending_task.apply().get() == 5

    assert batches == [1, 2, 2]  # one run: the rows that arrived, gathered into its batches
    assert slept == [0.05, 0.05]
    assert len(sent) == 1  # the held mark kept the four arrivals from sending anything
    assert cache.get(WAKE_UP_KEY) is None  # drained: cleared
    assert set(statuses(Submission.objects.all())) <= {Status.SETTLED, Status.REJECTED}


# ---- the cost of a batch ---------------------------------------------------------------------


def _batch_statements(factory, size: int, capture, monkeypatch) -> list[str]:
    """Every statement of taking, grading and settling `size` waiting submissions (each by a
    farmer settled before, as under a steady stream), the after-commit notices included; the
    tasks it sends (reputation, emails) are other workers' work, so they are not run here."""
    import core.queue

    monkeypatch.setattr(core.queue, "queue_now", lambda *args, **kwargs: True)
    farmers = [FarmerFactory() for _ in range(size)]
    for farmer in farmers:  # settled first: the farmers' accounts and profiles exist
        submit(factory, farmer)
    process_batch(limit=size)
    for farmer in farmers:
        submit(factory, farmer)
    with CaptureQueriesContext(connection) as queries, capture(execute=True):
        assert process_batch(limit=size) == size
    return [query["sql"] for query in queries]


@pytest.mark.parametrize("size", [1, 12])
def test_a_batch_costs_the_same_fixed_number_of_statements_whatever_its_size(
    factory, size, django_capture_on_commit_callbacks, monkeypatch
):
    """Set-based from take to notices: 1 and 12 submissions cost the same 32 statements (with
    no attachments, ambassadors or webhooks; 35 before: the commission tiers and the
    attachments were read for nothing, the pools' accounts and the claims (already joined to
    the rows) by queries of their own, and an empty transaction was opened to find no webhook
    endpoint). Two of the 32 set and restore the planner settings of the near-duplicate
    lookup (tests/pools/test_near_duplicate_plan.py); one reads which farmers have an email
    address, so that no email nobody can receive is queued for the sender."""
    statements = _batch_statements(factory, size, django_capture_on_commit_callbacks, monkeypatch)

    assert len(statements) <= 32, "\n".join(sql[:100] for sql in statements)
    assert not any("referrals_commissiontier" in sql for sql in statements)  # nobody was referred
    assert not any("pools_attachment" in sql for sql in statements)  # no demonstration declares one
