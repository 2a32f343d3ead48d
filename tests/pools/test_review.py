"""Review: scores from staff or the grading service (the only source with FORGE_GRADER=manual),
holds for low confidence, and overrides after settlement as adjusting transactions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.services import withdrawal_request
from core.exceptions import Conflict
from core.money import parse_amount
from ledger.models import Account, Entry, Token, Transaction
from pools.grading import TaskContext, grade
from pools.models import Factory, ScoreOverride, Submission
from pools.services.claims import claim_create
from pools.services.factories import factory_close
from pools.services.settlement import submission_settle
from pools.services.submissions import submission_create, submission_score
from pools.tasks import submissions_process_pending_task, submissions_sweep_task
from tests.factories import demonstration, withdrawal_wallet
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db

SOLANA_ADDRESS = "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV"


def usdc(text: str) -> int:
    return parse_amount(text, decimals=6, allow_zero=True)


def balance(user) -> int:
    account = Account.objects.filter(
        kind=Account.Kind.USER_BALANCE, holder=f"user:{user.pk}", token__symbol="USDC"
    ).first()
    return account.balance if account else 0


def treasury() -> int:
    account = Account.objects.filter(kind=Account.Kind.TREASURY, token__symbol="USDC").first()
    return account.balance if account else 0


def available(factory: Factory) -> int:
    return Factory.objects.values_list("available_account__balance", flat=True).get(pk=factory.pk)


@pytest.fixture
def factory(creator):
    return funded_factory(creator, reward="0.20", deposit="1")


@pytest.fixture
def submitted(factory, farmer, django_capture_on_commit_callbacks):
    """A submission whose after-commit scoring task has run (eagerly)."""
    claim = claim_create(factory=factory, farmer=farmer)
    with django_capture_on_commit_callbacks(execute=True):
        submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())
    submission.refresh_from_db()
    return submission


def review(client, submission, score, django_capture_on_commit_callbacks, **extra):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(
            f"/api/v1/submissions/{submission.pk}/review/", {"quality_score": score, **extra}, format="json"
        )


@pytest.fixture
def manual(settings):
    settings.FORGE_GRADER = "manual"


@pytest.mark.parametrize("reviewer", ["staff", "grader"])
def test_with_the_manual_grader_a_submission_waits_for_review_then_settles(
    manual, request, reviewer, submitted, farmer, as_user, django_capture_on_commit_callbacks
):
    assert submitted.status == Submission.Status.SUBMITTED
    assert submitted.quality_score is None
    submissions_process_pending_task.apply()  # a redelivered wake-up changes nothing either
    assert Submission.objects.get(pk=submitted.pk).status == Submission.Status.SUBMITTED
    assert balance(farmer) == 0

    response = review(as_user(request.getfixturevalue(reviewer)), submitted, "0.9", django_capture_on_commit_callbacks)

    assert response.status_code == 200, response.json()
    assert response.json()["quality_score"] == "0.9000"
    submitted.refresh_from_db()
    assert submitted.status == Submission.Status.SETTLED
    assert submitted.graded_by == "manual"
    assert balance(farmer) == usdc("0.162")
    assert_audit_clean()


@pytest.mark.parametrize("who", ["farmer", "creator"])
def test_farmers_and_creators_cannot_review(
    manual, request, who, submitted, as_user, django_capture_on_commit_callbacks
):
    response = review(as_user(request.getfixturevalue(who)), submitted, "1", django_capture_on_commit_callbacks)

    assert response.status_code == 403
    assert Submission.objects.get(pk=submitted.pk).quality_score is None
    assert not ScoreOverride.objects.exists()


def test_reviewing_needs_credentials(manual, submitted, api):
    response = api.post(f"/api/v1/submissions/{submitted.pk}/review/", {"quality_score": "1"}, format="json")

    assert response.status_code == 401
    assert Submission.objects.get(pk=submitted.pk).quality_score is None


@pytest.mark.parametrize("score", ["1.5", "abc", "0.12345", "-0.1", "", "NaN"])
def test_a_bad_score_is_refused_and_nothing_changes(
    manual, score, submitted, staff, as_user, django_capture_on_commit_callbacks
):
    transactions = Transaction.objects.count()

    response = review(as_user(staff), submitted, score, django_capture_on_commit_callbacks)

    assert response.status_code == 400
    assert "quality_score" in response.json()
    submitted.refresh_from_db()
    assert (submitted.status, submitted.quality_score) == (Submission.Status.SUBMITTED, None)
    assert not ScoreOverride.objects.exists()
    assert Transaction.objects.count() == transactions


def test_reviewing_a_missing_submission_is_404(staff, as_user):
    response = as_user(staff).post("/api/v1/submissions/999999/review/", {"quality_score": "1"}, format="json")
    assert response.status_code == 404


def test_an_override_after_settlement_posts_an_adjusting_transaction_and_keeps_history(
    manual, submitted, farmer, factory, staff, as_user, django_capture_on_commit_callbacks
):
    review(as_user(staff), submitted, "0.9", django_capture_on_commit_callbacks)
    submitted.refresh_from_db()
    original = submitted.settlement_transaction
    original_entries = sorted(Entry.objects.filter(transaction=original).values_list("id", "account_id", "amount"))
    before = {"farmer": balance(farmer), "treasury": treasury(), "available": available(factory)}

    response = review(as_user(staff), submitted, "0.5", django_capture_on_commit_callbacks, reason="Missed a step")

    assert response.status_code == 200, response.json()
    override = ScoreOverride.objects.get(submission=submitted, new_score=Decimal("0.5"))
    assert override.old_score == Decimal("0.9")
    adjustment = override.adjustment_transaction
    assert adjustment.idempotency_key == f"adjust:{submitted.pk}:{override.pk}"
    assert adjustment.kind == "settlement_adjustment"
    # From q = 0.9 (farmer 0.162, fee 0.018, back 0.02) to q = 0.5 (0.09, 0.01, 0.10).
    legs = dict(Entry.objects.filter(transaction=adjustment).values_list("account__holder", "amount"))
    assert legs == {
        f"user:{farmer.pk}": -usdc("0.072"),
        "protocol": -usdc("0.008"),
        f"pool:{factory.pk}": usdc("0.08"),
    }
    assert balance(farmer) - before["farmer"] == -usdc("0.072")
    assert treasury() - before["treasury"] == -usdc("0.008")
    assert available(factory) - before["available"] == usdc("0.08")
    # The original settlement is untouched.
    submitted.refresh_from_db()
    assert submitted.settlement_transaction == original
    assert sorted(Entry.objects.filter(transaction=original).values_list("id", "account_id", "amount")) == (
        original_entries
    )
    assert (submitted.status, submitted.quality_score, submitted.farmer_reward) == ("settled", Decimal("0.5"), 90_000)
    assert_audit_clean()


def test_lowering_a_score_below_the_threshold_after_settlement_rejects_it(
    manual, submitted, farmer, factory, staff, as_user, django_capture_on_commit_callbacks
):
    review(as_user(staff), submitted, "0.9", django_capture_on_commit_callbacks)
    factory.refresh_from_db()
    assert factory.accepted_count == 1

    response = review(as_user(staff), submitted, "0.2", django_capture_on_commit_callbacks)

    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    submitted.refresh_from_db()
    assert (submitted.gross_payout, submitted.farmer_reward, submitted.refunded_to_pool) == (0, 0, usdc("0.20"))
    assert balance(farmer) == 0
    assert available(factory) == usdc("1")
    factory.refresh_from_db()
    assert factory.accepted_count == 0
    assert_audit_clean()


def test_raising_a_rejected_score_after_settlement_pays_the_farmer(
    manual, submitted, farmer, factory, staff, as_user, django_capture_on_commit_callbacks
):
    review(as_user(staff), submitted, "0.3", django_capture_on_commit_callbacks)
    assert Submission.objects.get(pk=submitted.pk).status == "rejected"

    review(as_user(staff), submitted, "0.9", django_capture_on_commit_callbacks)

    submitted.refresh_from_db()
    assert submitted.status == "settled"
    assert balance(farmer) == usdc("0.162")
    factory.refresh_from_db()
    assert factory.accepted_count == 1
    assert_audit_clean()


def test_the_same_score_again_after_settlement_moves_nothing(
    manual, submitted, staff, as_user, django_capture_on_commit_callbacks
):
    review(as_user(staff), submitted, "0.9", django_capture_on_commit_callbacks)
    transactions = Transaction.objects.count()

    response = review(as_user(staff), submitted, "0.90", django_capture_on_commit_callbacks)

    assert response.status_code == 200
    assert Transaction.objects.count() == transactions
    assert ScoreOverride.objects.filter(submission=submitted).count() == 2  # still on record


def test_an_override_the_farmer_can_no_longer_cover_is_refused_whole(
    manual, submitted, farmer, staff, as_user, django_capture_on_commit_callbacks
):
    review(as_user(staff), submitted, "0.9", django_capture_on_commit_callbacks)
    withdrawal_request(
        user=farmer, token=Token.objects.get(symbol="USDC"), amount="0.162", address=withdrawal_wallet(farmer)
    )
    transactions = Transaction.objects.count()

    response = review(as_user(staff), submitted, "0.5", django_capture_on_commit_callbacks)

    assert response.status_code == 409
    submitted.refresh_from_db()
    assert submitted.quality_score == Decimal("0.9")
    assert Transaction.objects.count() == transactions
    assert not ScoreOverride.objects.filter(new_score=Decimal("0.5")).exists()
    assert_audit_clean()


def test_raising_a_score_after_the_factory_closed_is_paid_from_what_went_back_to_the_creator(
    manual, submitted, farmer, factory, creator, staff, as_user, django_capture_on_commit_callbacks
):
    review(as_user(staff), submitted, "0.6", django_capture_on_commit_callbacks)
    factory_close(factory=factory, actor=creator)
    assert balance(creator) == usdc("1") - usdc("0.12")  # everything but G went back
    assert available(factory) == 0

    response = review(as_user(staff), submitted, "0.9", django_capture_on_commit_callbacks)

    assert response.status_code == 200, response.json()
    assert balance(farmer) == usdc("0.162")
    assert balance(creator) == usdc("1") - usdc("0.18")
    assert available(factory) == 0
    assert_audit_clean()


def test_lowering_a_score_after_the_factory_closed_returns_the_difference_to_the_creator(
    manual, submitted, farmer, factory, creator, staff, as_user, django_capture_on_commit_callbacks
):
    review(as_user(staff), submitted, "0.9", django_capture_on_commit_callbacks)
    factory_close(factory=factory, actor=creator)

    review(as_user(staff), submitted, "0.6", django_capture_on_commit_callbacks)

    assert balance(farmer) == usdc("0.108")
    assert balance(creator) == usdc("1") - usdc("0.12")
    assert available(factory) == 0
    assert_audit_clean()


def _rules_confidence() -> Decimal:
    """What the rules grader says about the test demonstrations (they differ only in labels)."""
    factory = Factory(title="Make a budget sheet", instructions="Create a spreadsheet named Budget and fill the sheet.")
    task = TaskContext(title=factory.title, instructions=factory.instructions, expected_minutes=10)
    return grade(demonstration(), task=task).confidence


def test_a_low_confidence_score_is_held_for_review_and_not_paid(
    settings, factory, farmer, staff, as_user, django_capture_on_commit_callbacks
):
    # A review line just above the grader's confidence holds the grade, whatever it is (rubric
    # v2 backs this demonstration fully: confidence 1, so the line is 1.0001).
    confidence = _rules_confidence()
    settings.FORGE_REVIEW_BELOW_CONFIDENCE = float(confidence + Decimal("0.0001"))
    settings.FORGE_SWEEP_AFTER_SECONDS = 0
    claim = claim_create(factory=factory, farmer=farmer)
    with django_capture_on_commit_callbacks(execute=True):
        submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())

    submission.refresh_from_db()
    assert submission.quality_score is not None
    assert submission.score_confidence == confidence
    assert submission.needs_review is True
    assert "confidence" in submission.review_reasons[0].lower()
    assert submission.status == Submission.Status.SCORING
    # Neither a redelivered task, scoring it again, the sweeper nor a direct settle pays it.
    submissions_process_pending_task.apply()
    assert submission_score(submission_id=submission.pk).needs_review
    assert submissions_sweep_task.apply().get() == 0
    with pytest.raises(Conflict, match="review"):
        submission_settle(submission_id=submission.pk)
    assert balance(farmer) == 0
    assert Submission.objects.get(pk=submission.pk).settlement_transaction_id is None

    response = review(as_user(staff), submission, "0.7", django_capture_on_commit_callbacks)

    assert response.status_code == 200
    submission.refresh_from_db()
    assert (submission.status, submission.needs_review) == ("settled", False)
    assert balance(farmer) == usdc("0.126")  # 0.20 x 0.7 = 0.14, less the 10% fee
    assert_audit_clean()


def test_a_confidence_at_the_review_setting_is_paid_automatically(
    settings, factory, farmer, django_capture_on_commit_callbacks
):
    settings.FORGE_REVIEW_BELOW_CONFIDENCE = float(_rules_confidence())
    claim = claim_create(factory=factory, farmer=farmer)
    with django_capture_on_commit_callbacks(execute=True):
        submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())

    submission.refresh_from_db()
    assert submission.needs_review is False
    assert submission.is_final
    assert submission.settlement_transaction_id is not None
