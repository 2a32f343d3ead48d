"""Appeals: a farmer appeals a refused or held score within the window, once; staff or the
model judge decide; a changed score settles through the adjusting transactions (ledger audit
clean); the decision and its reason reach the farmer."""

from __future__ import annotations

import base64
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from audit.models import StaffAction
from core.exceptions import ApplicationError, Conflict, Forbidden, NotFound
from core.money import parse_amount
from ledger.models import Account, Transaction
from notifications.models import Kind, Notification
from pools.models import ScoreOverride, Submission
from pools.services.claims import claim_create
from pools.services.settlement import submission_settle
from pools.services.submissions import submission_create, submission_review
from reviews.models import Appeal
from reviews.selectors import appeal_rates, staff_todo_counts
from reviews.services import appeal_create, appeal_decide, appeal_judge, appeals_dismiss, held_review
from tests.factories import CreatorFactory, FarmerFactory, StaffFactory, demonstration
from tests.fake_http import serving
from tests.money_helpers import assert_audit_clean, funded_factory
from tests.pools.test_grading_judge import Handler as JudgeHandler
from tests.pools.test_grading_judge import jpeg

pytestmark = pytest.mark.django_db


def usdc(text: str) -> int:
    return parse_amount(text, decimals=6, allow_zero=True)


def balance(user) -> int:
    account = Account.objects.filter(kind=Account.Kind.USER_BALANCE, holder=f"user:{user.pk}", token__symbol="USDC")
    return account.values_list("balance", flat=True).first() or 0


@pytest.fixture
def factory():
    return funded_factory(CreatorFactory(), reward="0.20", deposit="1")


def refused(factory, farmer, score="0.2") -> Submission:
    claim = claim_create(factory=factory, farmer=farmer)
    submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())
    submission_review(submission_id=submission.pk, reviewer=StaffFactory(), quality_score=score)
    submission = submission_settle(submission_id=submission.pk)
    assert submission.status == Submission.Status.REJECTED
    return submission


def held(factory, farmer, score="0.6") -> Submission:
    claim = claim_create(factory=factory, farmer=farmer)
    submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())
    Submission.objects.filter(pk=submission.pk).update(
        status=Submission.Status.SCORING,
        quality_score=Decimal(score),
        needs_review=True,
        review_reasons=["The same sequence of actions was already submitted."],
        scored_at=timezone.now(),
    )
    return Submission.objects.get(pk=submission.pk)


def test_a_staff_upheld_appeal_pays_the_difference_through_an_adjusting_transaction(
    factory, django_capture_on_commit_callbacks
):
    farmer, staff = FarmerFactory(email="f@example.com"), StaffFactory()
    submission = refused(factory, farmer)
    assert balance(farmer) == 0

    with django_capture_on_commit_callbacks(execute=True):
        appeal = appeal_create(farmer=farmer, submission_id=submission.pk, note="All the steps are there.")
    assert (appeal.status, appeal.route, appeal.score_before) == ("pending", "staff", Decimal("0.2000"))

    with django_capture_on_commit_callbacks(execute=True):
        appeal = appeal_decide(appeal_id=appeal.pk, reviewer=staff, quality_score="0.9", reason="Steps 4-9 do it.")

    assert appeal.status == Appeal.Status.UPHELD
    submission.refresh_from_db()
    assert (submission.status, submission.quality_score) == ("settled", Decimal("0.9000"))
    assert balance(farmer) == usdc("0.162")  # 0.20 x 0.9 less the 10% fee
    override = ScoreOverride.objects.get(pk=appeal.score_override_id)
    assert override.adjustment_transaction.kind == "settlement_adjustment"
    assert StaffAction.objects.filter(action="appeal.decide", object_id=str(appeal.pk), actor=staff).exists()
    decided = Notification.objects.get(user=farmer, kind=Kind.APPEAL_DECIDED)
    assert "Steps 4-9 do it." in decided.body and "upheld" in decided.subject.lower()
    assert_audit_clean()


def test_a_dismissed_appeal_keeps_the_score_and_moves_no_money(factory, django_capture_on_commit_callbacks):
    farmer, staff = FarmerFactory(), StaffFactory()
    submission = refused(factory, farmer)
    appeal = appeal_create(farmer=farmer, submission_id=submission.pk, note="Please look again.")
    transactions = Transaction.objects.count()

    with django_capture_on_commit_callbacks(execute=True):
        appeal = appeal_decide(appeal_id=appeal.pk, reviewer=staff, reason="The form was never sent.")

    assert (appeal.status, appeal.score_after) == ("dismissed", Decimal("0.2000"))
    assert Transaction.objects.count() == transactions
    assert Submission.objects.get(pk=submission.pk).status == "rejected"
    assert Notification.objects.get(user=farmer, kind=Kind.APPEAL_DECIDED).body == "Reason: The form was never sent."
    with pytest.raises(Conflict, match="already decided"):
        appeal_decide(appeal_id=appeal.pk, reviewer=staff, quality_score="0.9", reason="again")
    assert_audit_clean()


def test_one_appeal_per_submission(factory):
    farmer = FarmerFactory()
    submission = refused(factory, farmer)
    appeal_create(farmer=farmer, submission_id=submission.pk, note="first")
    with pytest.raises(Conflict, match="one appeal per submission"):
        appeal_create(farmer=farmer, submission_id=submission.pk, note="second")
    assert Appeal.objects.count() == 1


# Threads need committed rows: a transactional test, as the suite's other races (a `db` mark
# with the `transactional_db` fixture left the content types to the next transactional test).
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_appeals_of_one_submission_make_one(factory):
    farmer = FarmerFactory()
    submission = refused(factory, farmer)
    results, barrier = [], threading.Barrier(2)

    def appeal(note):
        from django.db import connection

        barrier.wait()
        try:
            appeal_create(farmer=farmer, submission_id=submission.pk, note=note)
            results.append("ok")
        except Conflict:
            results.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=appeal, args=(f"note {i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["conflict", "ok"]
    assert Appeal.objects.filter(submission=submission).count() == 1


def test_the_window_closes_after_the_configured_days(factory, settings):
    settings.FORGE_APPEAL_WINDOW_DAYS = 7
    farmer = FarmerFactory()
    submission = refused(factory, farmer)
    Submission.objects.filter(pk=submission.pk).update(settled_at=timezone.now() - timedelta(days=7, minutes=1))
    with pytest.raises(Conflict, match="7 days"):
        appeal_create(farmer=farmer, submission_id=submission.pk, note="late")
    settings.FORGE_APPEAL_WINDOW_DAYS = 8
    assert appeal_create(farmer=farmer, submission_id=submission.pk, note="in time").pk


def test_only_refused_or_held_submissions_of_ones_own_can_be_appealed(factory):
    farmer = FarmerFactory()
    claim = claim_create(factory=factory, farmer=farmer)
    submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())
    submission_review(submission_id=submission.pk, reviewer=StaffFactory(), quality_score="0.9")
    paid = submission_settle(submission_id=submission.pk)
    with pytest.raises(Conflict, match="refused or held"):
        appeal_create(farmer=farmer, submission_id=paid.pk, note="more please")
    other = refused(factory, FarmerFactory())
    with pytest.raises(NotFound):
        appeal_create(farmer=farmer, submission_id=other.pk, note="not mine")
    for note in ("", "   ", "x" * 2001, None, 5):
        with pytest.raises(ApplicationError):
            appeal_create(farmer=other.farmer, submission_id=other.pk, note=note)
    assert Appeal.objects.count() == 0


def test_an_appeal_of_a_held_submission_needs_a_score_and_releases_it(factory, django_capture_on_commit_callbacks):
    farmer, staff = FarmerFactory(), StaffFactory()
    submission = held(factory, farmer)
    appeal = appeal_create(farmer=farmer, submission_id=submission.pk, note="I am not a duplicate.")
    assert appeal.was_held
    with pytest.raises(ApplicationError, match="needs a score"):
        appeal_decide(appeal_id=appeal.pk, reviewer=staff, reason="keep")
    assert appeals_dismiss(appeal_ids=[appeal.pk], reviewer=staff, reason="keep") == 0

    with django_capture_on_commit_callbacks(execute=True):
        appeal = appeal_decide(appeal_id=appeal.pk, reviewer=staff, quality_score="0.6", reason="Not a duplicate.")

    assert appeal.status == Appeal.Status.DISMISSED  # the grader's score stands, the hold is lifted
    submission.refresh_from_db()
    assert (submission.status, submission.needs_review) == ("settled", False)
    assert balance(farmer) == usdc("0.108")  # 0.20 x 0.6 less 10%
    assert_audit_clean()


def test_only_staff_decide(factory):
    farmer = FarmerFactory()
    appeal = appeal_create(farmer=farmer, submission_id=refused(factory, farmer).pk, note="n")
    for user in (farmer, CreatorFactory()):
        with pytest.raises(Forbidden):
            appeal_decide(appeal_id=appeal.pk, reviewer=user, quality_score="0.9", reason="r")
    with pytest.raises(ValidationError):
        appeal_decide(appeal_id=appeal.pk, reviewer=StaffFactory(), quality_score="1.5", reason="r")
    with pytest.raises(ApplicationError):
        appeal_decide(appeal_id=appeal.pk, reviewer=StaffFactory(), quality_score="0.9", reason="")
    assert Appeal.objects.get(pk=appeal.pk).status == "pending"


def test_rates_per_factory_and_farmer_and_the_todo_counts(factory):
    farmer, other, staff = FarmerFactory(), FarmerFactory(), StaffFactory()
    first = appeal_create(farmer=farmer, submission_id=refused(factory, farmer).pk, note="n")
    appeal_create(farmer=farmer, submission_id=refused(factory, farmer).pk, note="n")
    refused(factory, other)
    appeal_decide(appeal_id=first.pk, reviewer=staff, quality_score="0.8", reason="ok")
    held(factory, other)

    (by_factory,) = appeal_rates(by="factory")
    assert (by_factory.final, by_factory.appeals, by_factory.decided, by_factory.upheld) == (3, 2, 1, 1)
    assert by_factory.appeal_rate == Decimal("0.6667")
    assert by_factory.overturn_rate == Decimal("1.0000")
    by_farmer = {rate.label: rate for rate in appeal_rates(by="farmer")}
    assert set(by_farmer) == {farmer.username}
    assert by_farmer[farmer.username].appeal_rate == Decimal("1.0000")
    counts = staff_todo_counts()
    assert (counts["held"], counts["appeals"]) == (1, 1)


# --- the model judge as the second opinion ------------------------------------------------


@pytest.fixture(scope="module")
def judge_server():
    """The model judge's fake of tests/pools/test_grading_judge.py (a real local HTTP server)."""
    with serving(JudgeHandler) as server:
        yield server


def test_a_judge_that_agrees_with_the_rules_upholds_the_appeal(
    factory, settings, judge_server, django_capture_on_commit_callbacks
):
    settings.FORGE_GRADER_JUDGE_URL = judge_server.url("/done")
    settings.FORGE_GRADER_JUDGE_RETRIES = 0
    farmer = FarmerFactory()
    submission = refused(factory, farmer)

    with django_capture_on_commit_callbacks(execute=True):  # the judge task runs (eagerly) after commit
        appeal = appeal_create(farmer=farmer, submission_id=submission.pk, note="It is done.")

    appeal.refresh_from_db()
    assert (appeal.route, appeal.status, appeal.score_after) == ("judge", "upheld", Decimal("0.9500"))
    assert appeal.decided_by.username == "appeal-judge" and appeal.decided_by.role == "grader"
    assert appeal.decision_reason.startswith("Model judge:")
    assert Submission.objects.get(pk=submission.pk).status == "settled"
    assert balance(farmer) == usdc("0.171")  # 0.20 x 0.95 less 10%
    assert appeal_judge(appeal_id=appeal.pk) == "skipped"  # a redelivered task changes nothing
    assert_audit_clean()


@pytest.mark.parametrize("path", ["/not-done", "/denied"])
def test_a_judge_that_disagrees_or_fails_sends_the_appeal_to_staff(factory, settings, judge_server, path):
    settings.FORGE_GRADER_JUDGE_URL = judge_server.url(path)
    settings.FORGE_GRADER_JUDGE_RETRIES = 0
    farmer = FarmerFactory()
    appeal = appeal_create(farmer=farmer, submission_id=refused(factory, farmer).pk, note="n")

    assert appeal_judge(appeal_id=appeal.pk) == "staff"

    appeal.refresh_from_db()
    assert (appeal.route, appeal.status) == ("staff", "pending")
    assert appeal.judge_note
    assert staff_todo_counts()["appeals"] == 1


def test_a_judge_score_that_cannot_be_applied_goes_to_staff_not_back_to_the_judge(factory, settings, judge_server):
    settings.FORGE_GRADER_JUDGE_URL = judge_server.url("/done")
    settings.FORGE_GRADER_JUDGE_RETRIES = 0
    settings.FORGE_APPEAL_JUDGE_ACCOUNT = FarmerFactory().username  # not an account that may review
    farmer = FarmerFactory()
    submission = refused(factory, farmer)
    appeal = appeal_create(farmer=farmer, submission_id=submission.pk, note="n")
    overrides = ScoreOverride.objects.filter(submission=submission).count()

    assert appeal_judge(appeal_id=appeal.pk) == "staff"

    appeal.refresh_from_db()
    assert (appeal.route, appeal.status) == ("staff", "pending")
    assert "could not be applied" in appeal.judge_note
    submission.refresh_from_db()
    assert submission.status == Submission.Status.REJECTED
    assert ScoreOverride.objects.filter(submission=submission).count() == overrides
    assert appeal_judge(appeal_id=appeal.pk) == "skipped"  # the sweeper no longer sends it to the judge
    assert_audit_clean()


def test_a_demonstration_refused_by_an_upheld_flag_cannot_be_appealed(settings, judge_server):
    from pools.services.controls import flag_decide, flag_open

    settings.FORGE_GRADER_JUDGE_URL = judge_server.url("/done")
    creator, farmer = CreatorFactory(), FarmerFactory()
    factory = funded_factory(creator, reward="0.20", deposit="1")
    claim = claim_create(factory=factory, farmer=farmer)
    submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())
    submission_review(submission_id=submission.pk, reviewer=StaffFactory(), quality_score="0.9")
    submission = submission_settle(submission_id=submission.pk)
    flag = flag_open(submission_id=submission.pk, creator=creator, reason="The sheet is empty.")
    flag_decide(flag_id=flag.pk, reviewer=StaffFactory(), upheld=True, reason="Confirmed.")
    before = balance(farmer)

    with pytest.raises(Conflict, match="flag"):
        appeal_create(farmer=farmer, submission_id=submission.pk, note="It was fine.")
    assert not Appeal.objects.exists() and balance(farmer) == before == 0


def test_the_judge_of_an_appeal_is_shown_the_recordings_keyframes(factory, settings, judge_server, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FORGE_GRADER_JUDGE_URL = judge_server.url("/done")
    settings.FORGE_GRADER_JUDGE_RETRIES = 0
    farmer = FarmerFactory()
    submission = refused(factory, farmer)
    final = jpeg(180)
    name = default_storage.save("evidence/9/9/4.jpg", ContentFile(final))
    refs = [{"index": 4, "t": "30.000", "purpose": "final", "name": name}]
    Submission.objects.filter(pk=submission.pk).update(evidence={"checks": [], "judge_keyframes": refs})
    appeal = appeal_create(farmer=farmer, submission_id=submission.pk, note="It is on screen.")

    appeal_judge(appeal_id=appeal.pk)

    content = judge_server.last_body["messages"][-1]["content"]
    urls = [part["image_url"]["url"] for part in content if part["type"] == "image_url"]
    assert urls == ["data:image/jpeg;base64," + base64.b64encode(final).decode()]


# --- the review queue ---------------------------------------------------------------------


def test_the_review_queue_approves_refuses_and_scores_in_bulk_each_audited(factory, django_capture_on_commit_callbacks):
    staff = StaffFactory()
    farmers = [FarmerFactory() for _ in range(4)]
    rows = [held(factory, farmer) for farmer in farmers]
    appeal = appeal_create(farmer=farmers[3], submission_id=rows[3].pk, note="look")

    with django_capture_on_commit_callbacks(execute=True):
        assert held_review(submission_ids=[rows[0].pk], reviewer=staff, decision="approve") == 1
        assert held_review(submission_ids=[rows[1].pk], reviewer=staff, decision="refuse", reason="empty") == 1
        assert (
            held_review(
                submission_ids=[rows[2].pk, rows[3].pk, rows[0].pk],
                reviewer=staff,
                decision="score",
                quality_score="0.8",
            )
            == 2  # rows[0] is no longer held: skipped
        )

    statuses = {row.pk: Submission.objects.get(pk=row.pk) for row in rows}
    assert [statuses[row.pk].status for row in rows] == ["settled", "rejected", "settled", "settled"]
    assert [statuses[row.pk].quality_score for row in rows] == [Decimal("0.6"), 0, Decimal("0.8"), Decimal("0.8")]
    assert StaffAction.objects.filter(action="submission.score_override", actor=staff).count() == 4
    appeal.refresh_from_db()
    assert appeal.status == "upheld"  # the review answered the pending appeal
    assert Notification.objects.filter(user=farmers[3], kind=Kind.APPEAL_DECIDED).exists()
    assert staff_todo_counts()["held"] == 0
    assert_audit_clean()


def test_the_review_queue_refuses_bad_input_and_non_staff(factory):
    submission = held(factory, FarmerFactory())
    with pytest.raises(Forbidden):
        held_review(submission_ids=[submission.pk], reviewer=CreatorFactory(), decision="approve")
    for decision, score in (("score", "2"), ("score", "abc"), ("score", None), ("pay", None)):
        with pytest.raises((ApplicationError, ValidationError)):
            held_review(submission_ids=[submission.pk], reviewer=StaffFactory(), decision=decision, quality_score=score)
    assert Submission.objects.get(pk=submission.pk).needs_review is True
