"""Solana deposits against a real Solana runtime in process (solders' LiteSVM with the SPL
Token-2022 program): SOL and SPL transfers carrying a Solana Pay reference, mints for USDC and
CLONES with their decimals. Credited once, only at `finalized`, pending before; a watcher
stopped anywhere resumes from its cursors without double credit; a wrong mint, a wrong
recipient, dust, a transfer without reference, wrong decimals are never credited."""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qs, urlparse

import pytest
from django.core.exceptions import ValidationError

from chain.models import ChainTransfer, DepositIntent, SolanaCursor
from chain.selectors import intent_progress
from chain.services.solana import solana_deposit_intent_create, solana_pay_url, solana_watch
from ledger.models import Token
from pools.models import Deposit
from tests.chain.solana_svm import SOL, SvmCluster, TokenBuild
from tests.factories import CreatorFactory
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = [pytest.mark.django_db, pytest.mark.chain]


@pytest.fixture
def cluster(settings):
    return deposit_cluster(settings)


def deposit_cluster(settings, token_build: TokenBuild = TokenBuild.TOKEN_2022) -> SvmCluster:
    """LiteSVM with a treasury and USDC (6) and CLONES (9) mints under `token_build`."""
    cluster = SvmCluster(token_build)
    cluster.treasury = cluster.wallet(sol=1)
    cluster.treasury_address = str(cluster.treasury.pubkey())
    cluster.usdc = cluster.create_mint(6)
    cluster.clones = cluster.create_mint(9)
    settings.FORGE_SOLANA_TREASURY_ADDRESS = str(cluster.treasury.pubkey())
    settings.FORGE_SOLANA_MINTS = {"USDC": cluster.usdc, "CLONES": cluster.clones}
    settings.FORGE_DEPOSITS_AUTOCONFIRM = False  # the chain confirms, not the demo shortcut
    Token.objects.filter(symbol="CLONES").update(decimals=9, enabled=True)
    cluster.finalize()  # the setup transactions are history
    return cluster


def watch(cluster, **kwargs):
    return solana_watch(source=cluster, **kwargs)


def request(symbol: str, amount: str):
    creator = CreatorFactory()
    factory = funded_factory(creator, token=symbol, reward="0.01", deposit=None)
    return solana_deposit_intent_create(factory=factory, actor=creator, amount=amount)


def deposits_of(intent):
    return Deposit.objects.filter(factory=intent.factory)


def test_sol_deposit_pending_until_finalized_then_credited_once(cluster):
    intent = request("SOL", "1.5")
    payer = cluster.wallet()
    signature, failed = cluster.pay_sol(payer, cluster.treasury_address, 1_500_000_000, reference=intent.reference)
    assert not failed

    report = watch(cluster)
    transfer = ChainTransfer.objects.get(chain="solana", tx_hash=signature)
    assert transfer.status == ChainTransfer.Status.PENDING and transfer.intent_id == intent.pk
    assert transfer.amount == 1_500_000_000 and transfer.from_address == str(payer.pubkey())
    assert report.credited == 0 and not deposits_of(intent).exists()
    intent.refresh_from_db()
    assert intent_progress(intent) == {"state": "pending", "confirmations": None, "tx_hash": signature}

    cluster.finalize()
    assert watch(cluster).credited == 1
    transfer.refresh_from_db()
    deposit = deposits_of(intent).get()
    assert transfer.status == ChainTransfer.Status.CREDITED and transfer.deposit_id == deposit.pk
    assert deposit.status == Deposit.Status.CONFIRMED and deposit.amount == 1_500_000_000
    assert deposit.tx_ref == f"{signature}:0"
    intent.refresh_from_db()
    assert intent.status == DepositIntent.Status.CREDITED
    intent.factory.refresh_from_db()

    # Run again, and again from scratch (cursors lost): still one deposit.
    assert watch(cluster).credited == 0
    SolanaCursor.objects.all().delete()
    assert watch(cluster).credited == 0
    assert deposits_of(intent).count() == 1
    assert_audit_clean()


@pytest.mark.parametrize(
    ("symbol", "decimals", "amount", "units"), [("USDC", 6, "25.5", 25_500_000), ("CLONES", 9, "3", 3 * 10**9)]
)
def test_spl_deposit_with_reference_credited_in_base_units(cluster, symbol, decimals, amount, units):
    mint = cluster.usdc if symbol == "USDC" else cluster.clones
    intent = request(symbol, amount)
    payer = cluster.wallet()
    cluster.mint_to(mint, str(payer.pubkey()), 10**12)
    signature, failed = cluster.pay_token(
        payer, mint, cluster.treasury_address, units, decimals, reference=intent.reference
    )
    assert not failed and cluster.token_balance(cluster.treasury_address, mint) == units
    cluster.finalize()

    assert watch(cluster).credited == 1
    transfer = ChainTransfer.objects.get(tx_hash=signature)
    assert transfer.contract_address == mint and transfer.token.symbol == symbol
    assert transfer.to_address == cluster.treasury_address and transfer.from_address == str(payer.pubkey())
    assert deposits_of(intent).get().amount == units
    assert_audit_clean()


def test_restart_mid_run_resumes_from_cursor_without_double_credit(cluster):
    first, second = request("SOL", "1"), request("SOL", "2")
    payer = cluster.wallet()
    sig1, _ = cluster.pay_sol(payer, cluster.treasury_address, SOL, reference=first.reference)
    cluster.finalize()
    sig2, _ = cluster.pay_sol(payer, cluster.treasury_address, 2 * SOL, reference=second.reference)

    class Dies(Exception):
        pass

    class Crashing:
        """The worker dies on the third transaction it reads."""

        def __init__(self, inner, after):
            self.inner, self.left = inner, after

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def transaction(self, signature):
            self.left -= 1
            if self.left < 0:
                raise Dies
            return self.inner.transaction(signature)

    with pytest.raises(Dies):
        solana_watch(source=Crashing(cluster, after=2))
    assert ChainTransfer.objects.filter(status="credited").count() == 1  # sig1, committed before the crash

    treasury_cursor = SolanaCursor.objects.get(address=cluster.treasury_address)
    assert treasury_cursor.last_signature == sig1  # sig2 is not finalized: not passed

    report = watch(cluster)  # a restarted worker
    assert report.credited == 0 and ChainTransfer.objects.get(tx_hash=sig2).status == "pending"
    cluster.finalize()
    assert watch(cluster).credited == 1
    treasury_cursor.refresh_from_db()
    assert treasury_cursor.last_signature == sig2
    assert Deposit.objects.filter(tx_ref__in=[f"{sig1}:0", f"{sig2}:0"]).count() == 2
    assert ChainTransfer.objects.filter(chain="solana").count() == 2

    # The next run starts after the cursor: it reads no old transaction again.
    before = cluster.calls["transaction"]
    watch(cluster)
    assert cluster.calls["transaction"] == before
    assert_audit_clean()


def test_wrong_mint_wrong_recipient_dust_and_unmatched_never_credited(cluster):
    usdc_intent = request("USDC", "10")
    sol_intent = request("SOL", "1")
    payer, stranger = cluster.wallet(), cluster.wallet()
    other_mint = cluster.create_mint(6)  # a token we do not accept
    for mint in (cluster.usdc, other_mint):
        cluster.mint_to(mint, str(payer.pubkey()), 10**12)

    wrong_mint, _ = cluster.pay_token(
        payer, other_mint, cluster.treasury_address, 10_000_000, 6, reference=usdc_intent.reference
    )
    wrong_token, _ = cluster.pay_sol(payer, cluster.treasury_address, 10_000_000, reference=usdc_intent.reference)
    wrong_recipient, _ = cluster.pay_sol(payer, str(stranger.pubkey()), SOL, reference=sol_intent.reference)
    dust, _ = cluster.pay_token(payer, cluster.usdc, cluster.treasury_address, 1, 6, reference=usdc_intent.reference)
    short, _ = cluster.pay_token(
        payer, cluster.usdc, cluster.treasury_address, 9_999_999, 6, reference=usdc_intent.reference
    )
    no_reference, _ = cluster.pay_token(payer, cluster.usdc, cluster.treasury_address, 10_000_000, 6)
    cluster.pay_sol(payer, str(stranger.pubkey()), SOL)  # none of our business
    cluster.finalize()

    report = watch(cluster)
    assert report.credited == 0
    reasons = dict(ChainTransfer.objects.filter(chain="solana").values_list("tx_hash", "reason"))
    assert set(reasons) == {wrong_mint, wrong_token, wrong_recipient, dust, short, no_reference}
    assert "wrong token" in reasons[wrong_mint] and "wrong token" in reasons[wrong_token]
    assert "not to the treasury" in reasons[wrong_recipient]
    assert "exactly 10" in reasons[dust] and "paid 9.999999" in reasons[short]
    assert "no reference" in reasons[no_reference]
    assert not ChainTransfer.objects.exclude(status="unmatched").exists()
    assert not Deposit.objects.filter(factory__in=[usdc_intent.factory, sol_intent.factory]).exists()

    # The request is still open: the exact payment is credited.
    exact, _ = cluster.pay_token(
        payer, cluster.usdc, cluster.treasury_address, 10_000_000, 6, reference=usdc_intent.reference
    )
    cluster.finalize()
    assert watch(cluster).credited == 1
    assert ChainTransfer.objects.get(tx_hash=exact).status == "credited"
    # A second payment of a credited request is kept for staff.
    again, _ = cluster.pay_token(
        payer, cluster.usdc, cluster.treasury_address, 10_000_000, 6, reference=usdc_intent.reference
    )
    cluster.finalize()
    assert watch(cluster).credited == 0
    assert "is credited" in ChainTransfer.objects.get(tx_hash=again).reason
    assert_audit_clean()


@pytest.mark.parametrize("build", [TokenBuild.TOKEN_2022, TokenBuild.SPL_TOKEN_3_5])
@pytest.mark.parametrize("checked", [True, False], ids=["transferChecked", "transfer"])
def test_mint_decimals_differ_from_the_ledger_token_not_credited(settings, build, checked):
    """USDC (6 decimals in the ledger) configured with a 9-decimal mint: 25,500,000 base units
    would be 25.5 USDC, 1000 times what was paid (0.0255 of the mint). Never credited, whether the
    wallet sends transferChecked (which states the decimals) or a plain Transfer (which does not:
    the transaction's token balances say them)."""
    cluster = deposit_cluster(settings, build)
    odd_mint = cluster.create_mint(9)
    settings.FORGE_SOLANA_MINTS = {"USDC": odd_mint}
    intent = request("USDC", "25.5")
    payer = cluster.wallet()
    cluster.mint_to(odd_mint, str(payer.pubkey()), 10**12)
    signature, failed = cluster.pay_token(
        payer, odd_mint, cluster.treasury_address, 25_500_000, 9, reference=intent.reference, checked=checked
    )
    assert not failed and cluster.token_balance(cluster.treasury_address, odd_mint) == 25_500_000
    cluster.finalize()
    report = watch(cluster)
    transfer = ChainTransfer.objects.get(tx_hash=signature)
    assert (report.credited, report.unmatched, transfer.status) == (0, 1, ChainTransfer.Status.UNMATCHED)
    assert transfer.intent_id == intent.pk and transfer.amount == 25_500_000
    assert "the mint has 9 decimals, USDC has 6 here" in transfer.reason
    assert not deposits_of(intent).exists()
    intent.refresh_from_db()
    assert intent.status == DepositIntent.Status.OPEN
    assert_audit_clean()


def test_a_plain_transfer_whose_token_balances_omit_the_decimals_is_not_credited(cluster):
    """A plain Transfer names no mint and no decimals: without the token balances' decimals
    there is nothing to check its amount's unit against, so it is never credited."""
    intent = request("USDC", "25.5")
    payer = cluster.wallet()
    cluster.mint_to(cluster.usdc, str(payer.pubkey()), 10**9)
    signature, _ = cluster.pay_token(
        payer, cluster.usdc, cluster.treasury_address, 25_500_000, 6, reference=intent.reference, checked=False
    )
    cluster.finalize()
    parsed = cluster.transaction(signature)
    silent = dataclasses.replace(parsed, token_decimals={})
    cluster.transaction = lambda sig: silent if sig == signature else SvmCluster.transaction(cluster, sig)
    assert watch(cluster).credited == 0
    transfer = ChainTransfer.objects.get(tx_hash=signature)
    assert transfer.status == ChainTransfer.Status.UNMATCHED
    assert "do not show the mint's decimals" in transfer.reason


def test_failed_transaction_stores_nothing(cluster):
    intent = request("SOL", "5")
    poor = cluster.wallet(sol=1)
    signature, failed = cluster.pay_sol(poor, cluster.treasury_address, 5 * SOL, reference=intent.reference)
    assert failed
    cluster.finalize()
    watch(cluster)
    assert not ChainTransfer.objects.filter(tx_hash=signature).exists()


def test_transfer_of_a_dead_fork_is_orphaned_never_credited(cluster, settings):
    settings.FORGE_SOLANA_DROP_AFTER_SECONDS = 0
    intent = request("SOL", "1")
    signature, _ = cluster.pay_sol(cluster.wallet(), cluster.treasury_address, SOL, reference=intent.reference)
    watch(cluster)
    assert ChainTransfer.objects.get(tx_hash=signature).status == "pending"
    cluster.forget(signature)
    cluster.finalize()
    assert watch(cluster).orphaned == 1
    assert ChainTransfer.objects.get(tx_hash=signature).status == "orphaned"
    assert not deposits_of(intent).exists()


def test_solana_pay_url_and_unique_reference(cluster):
    a, b = request("USDC", "12.5"), request("USDC", "12.5")
    assert a.reference != b.reference
    url = urlparse(solana_pay_url(a))
    assert url.scheme == "solana" and url.path == cluster.treasury_address
    query = parse_qs(url.query)
    assert query["amount"] == ["12.5"] and query["spl-token"] == [cluster.usdc] and query["reference"] == [a.reference]
    sol = urlparse(solana_pay_url(request("SOL", "0.25")))
    assert "spl-token" not in parse_qs(sol.query) and parse_qs(sol.query)["amount"] == ["0.25"]


def test_request_refused_for_unconfigured_token_or_bad_amount(cluster, settings):
    settings.FORGE_SOLANA_MINTS = {}
    with pytest.raises(ValidationError):
        request("USDC", "1")
    with pytest.raises(ValidationError):
        request("SOL", "0.0000000001")  # finer than SOL's 9 decimals
    assert not DepositIntent.objects.exists()


def test_api_and_fund_page_give_a_solana_pay_request_and_show_progress(cluster, client):
    from rest_framework.test import APIClient

    from accounts.services import api_token_for

    creator = CreatorFactory()
    factory = funded_factory(creator, token="USDC", reward="0.01", deposit=None)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_token_for(creator)}")
    url = f"/api/v1/factories/{factory.pk}/chain-deposits/"

    for bad in ({"amount": "-1"}, {"amount": "1.0000001"}, {"amount": "abc"}, {}):
        response = api.post(url, bad, format="json")
        assert response.status_code == 400, (bad, response.content)
    assert not DepositIntent.objects.exists()

    response = api.post(url, {"amount": "7.25"}, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    intent = DepositIntent.objects.get()
    assert data["wallet"] is None and data["pay_to"] is None
    assert data["solana_pay"]["reference"] == intent.reference and data["solana_pay"]["mint"] == cluster.usdc
    assert data["solana_pay"]["url"] == solana_pay_url(intent)

    payer = cluster.wallet()
    cluster.mint_to(cluster.usdc, str(payer.pubkey()), 10**9)
    signature, _ = cluster.pay_token(
        payer, cluster.usdc, cluster.treasury_address, 7_250_000, 6, reference=intent.reference
    )
    watch(cluster)
    [listed] = api.get(url).json()
    assert listed["progress"] == {"state": "pending", "confirmations": None, "tx_hash": signature}

    client.force_login(creator)
    page = client.get(f"/creator/factories/{factory.pk}/fund/").content.decode()
    assert intent.reference in page and "Pending: seen, waiting for finalization" in page
    assert "solana:" in page and cluster.treasury_address in page

    cluster.finalize()
    watch(cluster)
    assert api.get(url).json()[0]["status"] == "credited"

    response = client.post(f"/creator/factories/{factory.pk}/chain-deposits/", {"amount": "1"})
    assert response.status_code == 302 and DepositIntent.objects.count() == 2


def test_unmatched_listed_for_staff_in_the_admin(cluster, admin_client):
    intent = request("SOL", "1")
    signature, _ = cluster.pay_sol(cluster.wallet(), cluster.treasury_address, 1000, reference=intent.reference)  # dust
    cluster.finalize()
    watch(cluster)
    page = admin_client.get("/admin/chain/chaintransfer/?status__exact=unmatched").content.decode()
    assert signature in page and "the request is for exactly 1" in page
    assert admin_client.get("/admin/chain/solanacursor/").status_code == 200
    assert admin_client.get(f"/admin/chain/chaintransfer/{ChainTransfer.objects.get().pk}/delete/").status_code == 403


def test_the_beat_task_is_off_without_an_rpc_url(settings):
    from chain.tasks import solana_watch_task

    settings.FORGE_SOLANA_RPC_URL = ""
    settings.FORGE_SOLANA_TREASURY_ADDRESS = "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV"
    assert solana_watch_task() is None
    assert not SolanaCursor.objects.exists()


def test_overlapping_runs_credit_once(cluster):
    """A beat run that starts while another is mid-way (a slow RPC): both read the same
    signatures; the (chain, signature, index) key and the row lock in the settlement credit once."""
    intents = [request("SOL", "1"), request("USDC", "2")]
    payer = cluster.wallet()
    cluster.mint_to(cluster.usdc, str(payer.pubkey()), 10**9)
    cluster.pay_sol(payer, cluster.treasury_address, SOL, reference=intents[0].reference)
    cluster.pay_token(payer, cluster.usdc, cluster.treasury_address, 2_000_000, 6, reference=intents[1].reference)
    cluster.finalize()

    class Overlapping:
        def __init__(self, inner):
            self.inner, self.started = inner, False

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def transaction(self, signature):
            if not self.started:
                self.started = True
                watch(self.inner)  # the second run, complete, inside the first one's read
            return self.inner.transaction(signature)

    solana_watch(source=Overlapping(cluster))
    watch(cluster)
    for intent in intents:
        assert deposits_of(intent).count() == 1
    assert ChainTransfer.objects.filter(status="credited").count() == 2
    assert_audit_clean()


def test_a_transfer_fee_mint_is_never_credited_more_than_arrived(cluster, settings):
    """Token-2022's TransferFee extension withholds the fee from what the treasury receives: the
    instruction says 10 USDC, 9.9 arrive. Crediting the instruction's amount (the old watcher)
    would give the factory money the treasury never got."""
    fee_mint = cluster.create_mint(6, transfer_fee_bps=100, maximum_fee=10**12)  # 1 %
    settings.FORGE_SOLANA_MINTS = {"USDC": fee_mint}
    intent = request("USDC", "10")
    payer = cluster.wallet()
    cluster.mint_to(fee_mint, str(payer.pubkey()), 10**12)
    signature, failed = cluster.pay_token(
        payer, fee_mint, cluster.treasury_address, 10_000_000, 6, reference=intent.reference
    )
    assert not failed
    assert cluster.token_balance(cluster.treasury_address, fee_mint) == 9_900_000  # the runtime withheld 1 %
    cluster.finalize()

    report = watch(cluster)

    transfer = ChainTransfer.objects.get(tx_hash=signature)
    assert report.credited == 0 and transfer.status == "unmatched"
    assert "9900000 base units arrived for 10000000 sent" in transfer.reason
    assert not deposits_of(intent).exists()
    intent.refresh_from_db()
    assert intent.status == DepositIntent.Status.OPEN
    assert_audit_clean()


def test_a_transfer_fee_mint_at_zero_fee_is_credited_what_arrived(cluster, settings):
    """The same extension with a fee of 0 today: what arrived equals what was sent, so it is
    credited (a fee raised later is caught by the same comparison, transaction by transaction)."""
    fee_mint = cluster.create_mint(6, transfer_fee_bps=0)
    settings.FORGE_SOLANA_MINTS = {"USDC": fee_mint}
    intent = request("USDC", "4")
    payer = cluster.wallet()
    cluster.mint_to(fee_mint, str(payer.pubkey()), 10**12)
    cluster.pay_token(payer, fee_mint, cluster.treasury_address, 4_000_000, 6, reference=intent.reference)
    cluster.finalize()

    assert watch(cluster).credited == 1
    assert deposits_of(intent).get().amount == 4_000_000 == cluster.token_balance(cluster.treasury_address, fee_mint)
    assert_audit_clean()
