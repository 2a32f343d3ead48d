"""Funding a pool: deposits, their confirmation, and at-most-once crediting of a tx_ref."""

import threading

import pytest
from django.db import connection

from core.exceptions import Conflict
from ledger.models import Account, Transaction
from pools.models import Deposit, Factory
from pools.selectors import pool_summary
from pools.services.claims import claim_create
from pools.services.deposits import deposit_confirm, deposit_create, deposit_reject
from pools.services.factories import factory_close
from tests.factories import CreatorFactory, FarmerFactory
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db


def _deposit(client, factory, amount="1.5", tx_ref="sig-abc"):
    return client.post(f"/api/v1/factories/{factory.pk}/deposits/", {"amount": amount, "tx_ref": tx_ref}, format="json")


def _pool(factory) -> dict:
    factory = Factory.objects.select_related("available_account", "reserved_account").get(pk=factory.pk)
    summary = pool_summary(factory)
    return {"deposited": summary.deposited, "available": summary.available, "reserved": summary.reserved}


def test_the_owner_funds_a_draft_which_becomes_active_with_the_money_available(as_user, creator):
    factory = funded_factory(creator, deposit=None)

    response = _deposit(as_user(creator), factory, amount="1.5")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["amount"] == "1.500000"
    assert body["status"] == "confirmed"  # FORGE_DEPOSITS_AUTOCONFIRM is on in test settings
    assert Deposit.objects.get(pk=body["id"]).ledger_transaction is not None
    pool = as_user(creator).get(f"/api/v1/factories/{factory.pk}/").json()
    assert pool["status"] == "active"
    assert pool["pool"]["deposited"] == "1.500000"
    assert pool["pool"]["available"] == "1.500000"
    assert pool["pool"]["reserved"] == "0.000000"
    assert_audit_clean()


def test_deposits_add_up_in_the_pool(as_user, creator):
    factory = funded_factory(creator, deposit="1")

    assert _deposit(as_user(creator), factory, amount="0.25", tx_ref="sig-second").status_code == 201

    assert _pool(factory) == {"deposited": 1_250_000, "available": 1_250_000, "reserved": 0}
    assert_audit_clean()


def test_someone_else_cannot_fund_a_factory(as_user, creator):
    factory = funded_factory(creator, deposit=None)

    assert _deposit(as_user(CreatorFactory()), factory).status_code == 403
    assert _deposit(as_user(FarmerFactory()), factory).status_code == 403
    assert Deposit.objects.count() == 0
    assert Transaction.objects.count() == 0


def test_funding_needs_credentials(api, creator):
    factory = funded_factory(creator, deposit=None)

    assert _deposit(api, factory).status_code == 401
    assert Deposit.objects.count() == 0


def test_funding_a_missing_factory_is_404(as_user, creator):
    response = as_user(creator).post(
        "/api/v1/factories/999999/deposits/", {"amount": "1", "tx_ref": "x"}, format="json"
    )

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "1.0000001", "tx_ref": "sig-1"}, "amount"),
        ({"amount": "-1", "tx_ref": "sig-1"}, "amount"),
        ({"amount": "0", "tx_ref": "sig-1"}, "amount"),
        ({"amount": 1.5, "tx_ref": "sig-1"}, "amount"),
        ({"amount": "1", "tx_ref": ""}, "tx_ref"),
        ({"amount": "1", "tx_ref": "has space"}, "tx_ref"),
        ({"amount": "1"}, "tx_ref"),
    ],
)
def test_invalid_deposits_answer_400_and_write_nothing(as_user, creator, body, field):
    factory = funded_factory(creator, deposit=None)

    response = as_user(creator).post(f"/api/v1/factories/{factory.pk}/deposits/", body, format="json")

    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert Deposit.objects.count() == 0
    assert Transaction.objects.count() == 0


def test_a_repeated_tx_ref_for_the_same_token_is_409_and_changes_nothing(as_user, creator):
    factory = funded_factory(creator, deposit=None)
    client = as_user(creator)
    assert _deposit(client, factory, amount="1", tx_ref="sig-dup").status_code == 201
    before = (_pool(factory), Transaction.objects.count(), Deposit.objects.count())

    response = _deposit(client, factory, amount="5", tx_ref="sig-dup")

    assert response.status_code == 409
    assert "detail" in response.json()
    assert (_pool(factory), Transaction.objects.count(), Deposit.objects.count()) == before


def test_a_tx_ref_credited_to_one_factory_cannot_fund_another_of_the_same_token(as_user, creator):
    first = funded_factory(creator, deposit=None)
    second = funded_factory(creator, deposit=None)
    client = as_user(creator)
    assert _deposit(client, first, tx_ref="sig-shared").status_code == 201

    assert _deposit(client, second, tx_ref="sig-shared").status_code == 409
    assert _pool(second)["available"] == 0


def test_the_same_tx_ref_in_another_token_is_a_different_deposit(as_user, creator):
    usdc = funded_factory(creator, token="USDC", deposit=None)
    sol = funded_factory(creator, token="SOL", reward="0.01", deposit=None)
    client = as_user(creator)

    assert _deposit(client, usdc, amount="1", tx_ref="sig-both").status_code == 201
    response = _deposit(client, sol, amount="2", tx_ref="sig-both")

    assert response.status_code == 201, response.json()
    assert response.json()["amount"] == "2.000000000"
    assert _pool(usdc)["available"] == 1_000_000
    assert _pool(sol)["available"] == 2_000_000_000
    assert_audit_clean()


def test_a_closed_factory_refuses_deposits(as_user, creator):
    factory = funded_factory(creator, deposit=None)
    assert as_user(creator).post(f"/api/v1/factories/{factory.pk}/close/").status_code == 200

    assert _deposit(as_user(creator), factory).status_code == 409
    assert Deposit.objects.count() == 0


class TestWithoutAutoconfirm:
    @pytest.fixture(autouse=True)
    def _manual_confirmation(self, settings):
        settings.FORGE_DEPOSITS_AUTOCONFIRM = False

    def test_a_deposit_stays_pending_and_cannot_be_claimed(self, as_user, creator, farmer):
        factory = funded_factory(creator, deposit=None)

        response = _deposit(as_user(creator), factory, amount="1")

        assert response.status_code == 201
        assert response.json()["status"] == "pending"
        assert _pool(factory) == {"deposited": 0, "available": 0, "reserved": 0}
        factory.refresh_from_db()
        assert factory.status == Factory.Status.DRAFT
        assert as_user(farmer).post(f"/api/v1/factories/{factory.pk}/claims/").status_code == 409
        assert not Transaction.objects.exists()

    def test_staff_confirm_a_pending_deposit_once(self, as_user, creator, staff, farmer):
        factory = funded_factory(creator, deposit=None)
        deposit_id = _deposit(as_user(creator), factory, amount="1").json()["id"]

        first = as_user(staff).post(f"/api/v1/deposits/{deposit_id}/confirm/")
        second = as_user(staff).post(f"/api/v1/deposits/{deposit_id}/confirm/")

        assert first.status_code == 200, first.json()
        assert first.json()["status"] == "confirmed"
        assert first.json()["amount"] == "1.000000"
        assert second.status_code == 200
        assert second.json()["status"] == "confirmed"
        assert _pool(factory) == {"deposited": 1_000_000, "available": 1_000_000, "reserved": 0}
        assert Transaction.objects.filter(kind="deposit").count() == 1
        deposit = Deposit.objects.get(pk=deposit_id)
        assert deposit.confirmed_by == staff
        assert deposit.confirmed_at is not None
        factory.refresh_from_db()
        assert factory.status == Factory.Status.ACTIVE
        assert as_user(farmer).post(f"/api/v1/factories/{factory.pk}/claims/").status_code == 201
        assert_audit_clean()

    def test_only_staff_can_confirm(self, as_user, creator, farmer, grader):
        factory = funded_factory(creator, deposit=None)
        deposit_id = _deposit(as_user(creator), factory, amount="1").json()["id"]

        for caller in (creator, farmer, grader):
            assert as_user(caller).post(f"/api/v1/deposits/{deposit_id}/confirm/").status_code == 403
        assert Deposit.objects.get(pk=deposit_id).status == Deposit.Status.PENDING
        assert not Transaction.objects.exists()

    def test_confirming_needs_credentials_and_an_existing_deposit(self, api, as_user, staff):
        assert api.post("/api/v1/deposits/1/confirm/").status_code == 401
        assert as_user(staff).post("/api/v1/deposits/999999/confirm/").status_code == 404

    def test_a_rejected_deposit_cannot_be_confirmed(self, as_user, creator, staff):
        factory = funded_factory(creator, deposit=None)
        deposit = deposit_create(factory=factory, actor=creator, amount="1", tx_ref="sig-bad")
        deposit_reject(deposit=deposit, actor=staff)

        response = as_user(staff).post(f"/api/v1/deposits/{deposit.pk}/confirm/")

        assert response.status_code == 409
        assert _pool(factory)["available"] == 0
        assert Deposit.objects.get(pk=deposit.pk).status == Deposit.Status.REJECTED

    def test_a_pending_deposit_confirmed_after_close_goes_back_to_the_creator(self, creator, staff):
        factory = funded_factory(creator, deposit=None)
        deposit = deposit_create(factory=factory, actor=creator, amount="1", tx_ref="sig-late")
        factory_close(factory=factory, actor=creator)
        deposit_confirm(deposit=deposit, actor=staff)

        assert _pool(factory)["available"] == 0
        balance = Account.objects.get(kind=Account.Kind.USER_BALANCE, holder=f"user:{creator.pk}")
        assert balance.balance == 1_000_000
        assert_audit_clean()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_deposits_of_one_tx_ref_are_credited_exactly_once():
    creator = CreatorFactory()
    factory = funded_factory(creator, deposit=None)
    threads_count = 8
    barrier = threading.Barrier(threads_count)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt():
        try:
            barrier.wait()
            deposit_create(factory=factory, actor=creator, amount="3", tx_ref="sig-race")
            outcome = "credited"
        except Conflict:
            outcome = "conflict"
        except Exception as error:  # reported below, not swallowed
            outcome = repr(error)
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attempt) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["conflict"] * (threads_count - 1) + ["credited"], outcomes
    assert Deposit.objects.filter(tx_ref="sig-race").count() == 1
    assert Transaction.objects.filter(kind="deposit").count() == 1
    assert _pool(factory) == {"deposited": 3_000_000, "available": 3_000_000, "reserved": 0}
    assert_audit_clean()


def test_claim_create_is_refused_by_an_unconfirmed_pool(settings, creator, farmer):
    settings.FORGE_DEPOSITS_AUTOCONFIRM = False
    factory = funded_factory(creator, deposit=None)
    deposit_create(factory=factory, actor=creator, amount="1", tx_ref="sig-wait")
    Factory.objects.filter(pk=factory.pk).update(status=Factory.Status.ACTIVE)  # even if it were active

    with pytest.raises(Conflict):
        claim_create(factory=factory, farmer=farmer)


def test_a_deposit_in_a_disabled_token_is_refused_and_nothing_is_written(creator):
    from django.core.exceptions import ValidationError

    from ledger.models import Token
    from pools.models import Deposit
    from pools.services.deposits import deposit_create
    from tests.money_helpers import funded_factory

    factory = funded_factory(creator, token="SOL", reward="0.01", deposit=None)
    Token.objects.filter(symbol="SOL").update(enabled=False)
    factory.token.refresh_from_db()

    with pytest.raises(ValidationError) as refused:
        deposit_create(factory=factory, actor=creator, amount="1", tx_ref="sig-disabled")

    assert "token" in refused.value.message_dict
    assert not Deposit.objects.filter(tx_ref="sig-disabled").exists()
