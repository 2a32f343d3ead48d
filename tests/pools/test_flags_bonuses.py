"""A creator flags a paid demonstration (staff uphold: the farmer's share, both commissions and
the fee are reversed and the reward returns to the pool; dismiss: nothing moves), or pays a
bonus from the pool (fee as a payout's, the treasury keeps it whole). Exact, idempotent,
audited, the ledger audit clean; every refusal changes nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.services import withdrawal_request
from audit.models import StaffAction
from core.exceptions import Conflict, Forbidden, NotFound
from core.money import parse_amount
from ledger.models import Account, Transaction
from notifications.models import Kind, Notification
from pools.models import Bonus, Flag, Submission
from pools.services.claims import claim_create
from pools.services.controls import bonus_give, bonus_split, flag_decide, flag_open
from pools.services.settlement import submission_settle
from pools.services.submissions import submission_create, submission_review
from referrals.services import ambassador_create, ambassador_set_tier, referral_attach
from tests.factories import CreatorFactory, FarmerFactory, StaffFactory, demonstration, withdrawal_wallet
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db


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


def available(factory) -> int:
    return Account.objects.get(pk=factory.available_account_id).balance


def paid(factory, farmer, score="0.9") -> Submission:
    claim = claim_create(factory=factory, farmer=farmer)
    submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())
    submission_review(submission_id=submission.pk, reviewer=StaffFactory(), quality_score=score)
    return submission_settle(submission_id=submission.pk)


@pytest.fixture
def referred_world():
    """A farmer and a creator each referred by a tier-5 ambassador: every share is non-zero."""
    staff = StaffFactory()
    creator, farmer = CreatorFactory(), FarmerFactory()
    ambassadors = []
    for referred in (farmer, creator):
        user = FarmerFactory()
        ambassador, _ = ambassador_create(user=user)
        referral_attach(user=referred, ambassador=ambassador)
        ambassador_set_tier(ambassador=ambassador, tier=5, actor=staff)
        ambassadors.append(user)
    return creator, farmer, ambassadors, staff


# ---- Flags ------------------------------------------------------------------------------------


def test_upheld_flag_reverses_every_share_and_returns_the_reward_to_the_pool(
    referred_world, django_capture_on_commit_callbacks
):
    creator, farmer, (farmer_amb, factory_amb), staff = referred_world
    factory = funded_factory(creator, reward="0.20", deposit="1")
    submission = paid(factory, farmer, "1.0")
    assert (balance(farmer), balance(farmer_amb), balance(factory_amb)) == (usdc("0.18"), usdc("0.01"), usdc("0.01"))
    pool_before, treasury_before = available(factory), treasury()

    with django_capture_on_commit_callbacks(execute=True):
        flag = flag_open(submission_id=submission.pk, creator=creator, reason="The sheet is empty.")
    assert (balance(farmer), available(factory)) == (usdc("0.18"), pool_before)  # nothing moves yet
    with django_capture_on_commit_callbacks(execute=True):
        flag = flag_decide(flag_id=flag.pk, reviewer=staff, upheld=True, reason="Confirmed: empty sheet.")

    assert flag.status == Flag.Status.UPHELD and flag.score_override.new_score == 0
    assert (balance(farmer), balance(farmer_amb), balance(factory_amb)) == (0, 0, 0)
    assert available(factory) == pool_before + usdc("0.20")
    assert treasury() == treasury_before  # the protocol's 0.00 share, reversed to 0.00
    submission.refresh_from_db()
    assert submission.status == Submission.Status.REJECTED and submission.gross_payout == 0
    action = StaffAction.objects.get(action=StaffAction.Action.FLAG_DECIDE)
    assert (action.actor, action.before["flag_status"], action.after["flag_status"]) == (staff, "open", "upheld")
    kinds = sorted(Notification.objects.filter(payload__flag_id=flag.pk).values_list("user_id", "kind"))
    assert kinds == sorted(
        [(farmer.pk, Kind.FLAG_RAISED), (farmer.pk, Kind.FLAG_DECIDED), (creator.pk, Kind.FLAG_DECIDED)]
    )
    assert_audit_clean()


def test_dismissed_flag_moves_nothing_and_is_audited(creator, farmer, staff):
    factory = funded_factory(creator)
    submission = paid(factory, farmer)
    flag = flag_open(submission_id=submission.pk, creator=creator, reason="Too slow.")
    transactions = Transaction.objects.count()

    flag = flag_decide(flag_id=flag.pk, reviewer=staff, upheld=False, reason="The task was done.")

    assert flag.status == Flag.Status.DISMISSED
    assert Transaction.objects.count() == transactions
    assert StaffAction.objects.filter(action=StaffAction.Action.FLAG_DECIDE, object_id=str(flag.pk)).count() == 1
    # Repeating the decision returns it; the other decision is a 409.
    assert flag_decide(flag_id=flag.pk, reviewer=staff, upheld=False, reason="again").pk == flag.pk
    with pytest.raises(Conflict, match="already decided"):
        flag_decide(flag_id=flag.pk, reviewer=staff, upheld=True, reason="changed my mind")
    assert Transaction.objects.count() == transactions
    assert_audit_clean()


def test_flag_window_ends_after_the_configured_days(creator, farmer, settings):
    settings.FORGE_FLAG_WINDOW_DAYS = 3
    factory = funded_factory(creator)
    submission = paid(factory, farmer)
    Submission.objects.filter(pk=submission.pk).update(settled_at=timezone.now() - timedelta(days=3, minutes=1))

    with pytest.raises(Conflict, match="within 3 day"):
        flag_open(submission_id=submission.pk, creator=creator, reason="Missed it.")
    assert not Flag.objects.exists()


def test_flag_refusals_change_nothing(creator, farmer, staff):
    factory = funded_factory(creator)
    refused = paid(factory, farmer, score="0.2")
    with pytest.raises(Conflict, match="paid demonstration"):
        flag_open(submission_id=refused.pk, creator=creator, reason="x")
    good = paid(factory, farmer)
    with pytest.raises(NotFound):
        flag_open(submission_id=good.pk, creator=CreatorFactory(), reason="not mine")
    with pytest.raises(ValidationError):
        flag_open(submission_id=good.pk, creator=creator, reason="  ")
    flag = flag_open(submission_id=good.pk, creator=creator, reason="Wrong file.")
    assert flag_open(submission_id=good.pk, creator=creator, reason="Wrong file.").pk == flag.pk  # idempotent
    with pytest.raises(Conflict, match="already been flagged"):
        flag_open(submission_id=good.pk, creator=creator, reason="Another reason.")
    with pytest.raises(Forbidden):
        flag_decide(flag_id=flag.pk, reviewer=creator, upheld=True, reason="my own call")
    assert Flag.objects.count() == 1 and Flag.objects.get().status == Flag.Status.OPEN


def test_upheld_flag_after_the_farmer_withdrew_is_a_409_and_stays_open(creator, farmer, staff):
    factory = funded_factory(creator)
    submission = paid(factory, farmer)
    flag = flag_open(submission_id=submission.pk, creator=creator, reason="Empty.")
    # The farmer asks to withdraw everything: the balance moves to pending withdrawal.
    withdrawal_request(user=farmer, token=factory.token, amount="0.162", address=withdrawal_wallet(farmer))
    assert balance(farmer) == 0
    transactions = Transaction.objects.count()

    with pytest.raises(Conflict, match="already withdrawn"):
        flag_decide(flag_id=flag.pk, reviewer=staff, upheld=True, reason="Empty indeed.")

    flag.refresh_from_db()
    assert flag.status == Flag.Status.OPEN and Transaction.objects.count() == transactions


# ---- Bonuses ----------------------------------------------------------------------------------


def test_bonus_pays_the_farmer_minus_the_fee_from_the_pool_exactly_once(
    referred_world, django_capture_on_commit_callbacks
):
    creator, farmer, (farmer_amb, factory_amb), _ = referred_world
    factory = funded_factory(creator, reward="0.20", deposit="1")
    submission = paid(factory, farmer, "1.0")
    before = (balance(farmer), available(factory), treasury(), balance(farmer_amb), balance(factory_amb))

    with django_capture_on_commit_callbacks(execute=True):
        bonus = bonus_give(submission_id=submission.pk, creator=creator, amount="0.333333", note="Great work")

    # fee = floor(0.333333 x 0.10) = 0.033333; the farmer keeps the rest (the dust included).
    assert (bonus.amount, bonus.platform_fee, bonus.farmer_amount) == (333_333, 33_333, 300_000)
    after = (balance(farmer), available(factory), treasury(), balance(farmer_amb), balance(factory_amb))
    assert after == (before[0] + 300_000, before[1] - 333_333, before[2] + 33_333, before[3], before[4])
    assert Notification.objects.get(kind=Kind.BONUS_PAID).user_id == farmer.pk
    # Idempotent: the same bonus again is the same row; another amount is a 409; nothing moves.
    assert bonus_give(submission_id=submission.pk, creator=creator, amount="0.333333").pk == bonus.pk
    with pytest.raises(Conflict, match="already has a bonus"):
        bonus_give(submission_id=submission.pk, creator=creator, amount="0.5")
    assert Bonus.objects.count() == 1
    assert (balance(farmer), available(factory)) == after[:2]
    assert_audit_clean()


@pytest.mark.parametrize("amount", ["0", "-1", "abc", "0.0000001", "1e3", ""])
def test_bad_bonus_amounts_are_field_errors(creator, farmer, amount):
    submission = paid(funded_factory(creator), farmer)
    with pytest.raises(ValidationError) as error:
        bonus_give(submission_id=submission.pk, creator=creator, amount=amount)
    assert "amount" in error.value.message_dict
    assert not Bonus.objects.exists()


def test_bonus_refusals_change_nothing(creator, farmer):
    factory = funded_factory(creator, reward="0.2", deposit="0.4")
    submission = paid(factory, farmer)
    transactions = Transaction.objects.count()
    with pytest.raises(Conflict, match="cannot cover"):
        bonus_give(submission_id=submission.pk, creator=creator, amount="5")
    with pytest.raises(NotFound):
        bonus_give(submission_id=submission.pk, creator=CreatorFactory(), amount="0.01")
    refused = paid(factory, farmer, score="0.1")
    with pytest.raises(Conflict, match="paid demonstration"):
        bonus_give(submission_id=refused.pk, creator=creator, amount="0.01")
    flag_open(submission_id=submission.pk, creator=creator, reason="Hmm.")
    with pytest.raises(Conflict, match="flagged"):
        bonus_give(submission_id=submission.pk, creator=creator, amount="0.01")
    assert not Bonus.objects.exists()
    assert Transaction.objects.count() == transactions + 2  # only the second demonstration's claim and settlement
    assert_audit_clean()


@pytest.mark.parametrize(
    ("amount", "rate", "farmer", "fee"),
    [(1, "0.10", 1, 0), (10, "0.10", 9, 1), (19, "0.10", 18, 1), (1000, "0", 1000, 0), (7, "1", 0, 7)],
)
def test_bonus_split_floors_the_fee_and_sums_exactly(amount, rate, farmer, fee):
    assert bonus_split(amount, platform_fee_rate=Decimal(rate)) == (farmer, fee)


# ---- API, pages, admin (wiring and errors) ------------------------------------------------------


def test_flag_and_bonus_api_answer_201_and_400_for_bad_input(creator, farmer, staff, as_user):
    first, second = (paid(funded_factory(creator), farmer) for _ in range(2))
    client = as_user(creator)

    assert client.post(f"/api/v1/submissions/{first.pk}/flag/", {"reason": ""}, format="json").status_code == 400
    flagged = client.post(f"/api/v1/submissions/{first.pk}/flag/", {"reason": "Empty sheet."}, format="json")
    assert flagged.status_code == 201 and flagged.json()["status"] == "open"
    bad = client.post(f"/api/v1/submissions/{second.pk}/bonus/", {"amount": "0.1234567"}, format="json")
    assert bad.status_code == 400 and "amount" in bad.json()
    bonus = client.post(f"/api/v1/submissions/{second.pk}/bonus/", {"amount": "0.05"}, format="json")
    assert bonus.status_code == 201 and bonus.json()["farmer_amount"] == "0.045000"
    assert not Bonus.objects.filter(submission=first).exists()

    decide = as_user(staff)
    flag_id = flagged.json()["id"]
    assert decide.post(f"/api/v1/flags/{flag_id}/decision/", {"upheld": True}, format="json").status_code == 400
    decided = decide.post(f"/api/v1/flags/{flag_id}/decision/", {"upheld": True, "reason": "Empty."}, format="json")
    assert decided.status_code == 200 and decided.json()["status"] == "upheld"
    assert (
        decide.post("/api/v1/flags/999999/decision/", {"upheld": True, "reason": "x"}, format="json").status_code == 404
    )
    assert_audit_clean()


def test_demonstration_page_flags_and_rewards(creator, farmer):
    from django.test import Client

    factory = funded_factory(creator)
    first, second = paid(factory, farmer), paid(factory, farmer)
    page = Client()
    page.force_login(creator)
    url = f"/creator/factories/{factory.pk}/dataset/"

    shown = page.get(f"{url}{first.pk}/").content.decode()
    assert 'id="flag-form"' in shown and 'id="bonus-form"' in shown
    response = page.post(f"{url}{first.pk}/flag/", {"reason": "Wrong sheet."}, follow=True)
    assert "Flagged: staff will review it" in response.content.decode()
    assert 'id="flag-status"' in response.content.decode()
    response = page.post(f"{url}{second.pk}/bonus/", {"amount": "lots"}, follow=True)
    assert response.status_code == 200 and not Bonus.objects.exists()
    response = page.post(f"{url}{second.pk}/bonus/", {"amount": "0.1", "note": "Neat"}, follow=True)
    assert "Bonus of" in response.content.decode() and 'id="bonus-status"' in response.content.decode()
    # A submission of another factory through this factory's URL: 404.
    other = paid(funded_factory(creator), farmer)
    assert page.post(f"{url}{other.pk}/flag/", {"reason": "x"}).status_code == 404
    assert Flag.objects.count() == 1


def test_admin_upholds_flags_in_bulk_with_a_reason(creator, farmer, staff):
    from django.test import Client

    factory = funded_factory(creator)
    flags = [
        flag_open(submission_id=paid(factory, farmer).pk, creator=creator, reason=f"Missed {n}.") for n in range(2)
    ]
    admin = Client()
    admin.force_login(staff)
    ids = [str(flag.pk) for flag in flags]
    asked = admin.post("/admin/pools/flag/", {"action": "uphold_selected", "_selected_action": ids})
    assert asked.status_code == 200 and "Uphold and reverse" in asked.content.decode()
    assert Flag.objects.filter(status="open").count() == 2
    admin.post(
        "/admin/pools/flag/",
        {"action": "uphold_selected", "_selected_action": ids, "apply": "1", "reason": "Both empty."},
    )

    assert Flag.objects.filter(status="upheld").count() == 2
    assert StaffAction.objects.filter(action=StaffAction.Action.FLAG_DECIDE, reason="Both empty.").count() == 2
    assert balance(farmer) == 0
    assert_audit_clean()


def test_farmer_sees_the_flag_and_the_bonus_on_the_submission_page(creator, farmer):
    from django.test import Client

    factory = funded_factory(creator)
    first, second = paid(factory, farmer), paid(factory, farmer)
    flag_open(submission_id=first.pk, creator=creator, reason="Wrong sheet.")
    bonus_give(submission_id=second.pk, creator=creator, amount="0.1", note="Neat")
    page = Client()
    page.force_login(farmer)

    assert "Wrong sheet." in page.get(f"/farm/submissions/{first.pk}/").content.decode()
    shown = page.get(f"/farm/submissions/{second.pk}/").content.decode()
    assert 'id="bonus-received"' in shown and "0.09" in shown and "Neat" in shown


def test_a_bonus_counts_as_paid_out_so_the_pool_adds_up(creator, farmer):
    from pools.selectors import factory_for_creator, pool_summary, pool_summary_annotated

    factory = funded_factory(creator, reward="0.2", deposit="1")
    bonus_give(submission_id=paid(factory, farmer, "1.0").pk, creator=creator, amount="0.3")
    factory.refresh_from_db()
    for summary in (pool_summary(factory), pool_summary_annotated(factory_for_creator(creator, factory.pk))):
        assert summary.paid_out == usdc("0.5")
        assert summary.available + summary.reserved + summary.paid_out + summary.refunded == summary.deposited
