"""Bad input gets a clear 4xx, never a 500, and moves no money: oversized bodies and uploads,
deeply nested or huge JSON, over-precise/negative/absurd amounts, unknown tokens, malformed
wallet addresses, replayed deposit references. After every test the ledger audit is clean."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from pools.models import Deposit, Factory
from pools.services.claims import claim_create
from tests.factories import FarmerFactory, demonstration, withdrawal_wallet
from tests.farmers.helpers import settle
from tests.money_helpers import assert_audit_clean, funded_factory
from tests.security.world import money_state

pytestmark = pytest.mark.django_db

SOLANA_ADDRESS = "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV"
EVM_ADDRESS = "0x52908400098527886E0F7030069857D2E4169EE7"
DEEP = "[" * 10_000 + "]" * 10_000


@pytest.fixture(autouse=True)
def _audit_clean_after_each_test(db):
    yield
    assert_audit_clean()


@pytest.fixture
def factory(creator):
    return funded_factory(creator, reward="0.2", deposit="10")


@pytest.fixture
def claim(factory, farmer):
    return claim_create(factory=factory, farmer=farmer)


def json_endpoints(factory, claim, submission_id: int) -> list[tuple[str, str]]:
    """(role, url) of every endpoint taking a JSON body, with the role allowed to call it."""
    return [
        ("anonymous", "/api/v1/auth/register/"),
        ("anonymous", "/api/v1/auth/token/"),
        ("creator", "/api/v1/factories/"),
        ("creator", f"/api/v1/factories/{factory.pk}/deposits/"),
        ("creator", f"/api/v1/factories/{factory.pk}/rate/"),
        ("creator", f"/api/v1/factories/{factory.pk}/exports/"),
        ("farmer", f"/api/v1/claims/{claim.pk}/submission/"),
        ("staff", f"/api/v1/submissions/{submission_id}/review/"),
    ]


@pytest.fixture
def callers(creator, farmer, staff, as_user):
    from rest_framework.test import APIClient

    return {"anonymous": APIClient(), "creator": as_user(creator), "farmer": as_user(farmer), "staff": as_user(staff)}


@pytest.fixture
def submission_id(factory):
    return settle(factory, FarmerFactory(), "0.9").pk


@pytest.mark.parametrize(
    "body, expected",
    [
        (DEEP, "nested deeper than"),
        ('{"demonstration": ' + DEEP + "}", "nested deeper than"),
        ('{"a":' * 10_000 + "1" + "}" * 10_000, "nested deeper than"),
        ('{"k": ' + "[" * 64 + "]" * 64 + "}", "nested deeper than"),  # 65 levels: one past the limit
        ('{"reward": NaN}', "parse error"),
        ('{"target_count": ' + "9" * 5000 + "}", "parse error"),
        (b'{"title": "\xff\xfe"}', "parse error"),
        ("{{{", "parse error"),
    ],
    ids=["10k lists", "10k lists in a field", "10k objects", "65 levels", "NaN", "5000 digits", "bad utf-8", "junk"],
)
def test_malformed_or_deeply_nested_json_is_a_400_everywhere(body, expected, factory, claim, submission_id, callers):
    before = money_state()
    for role, url in json_endpoints(factory, claim, submission_id):
        response = callers[role].generic("POST", url, body, "application/json")

        assert response.status_code == 400, (url, response.status_code)
        assert expected in response.json()["detail"].lower(), (url, response.json())
    assert money_state() == before


def test_json_nested_to_the_limit_is_still_parsed(callers):
    """The limit refuses abuse, not ordinary documents: 64 levels parse, and the request then
    fails or passes validation on its merits."""
    body = '{"username": ' + "[" * 63 + "]" * 63 + "}"

    response = callers["anonymous"].generic("POST", "/api/v1/auth/register/", body, "application/json")

    assert response.status_code == 400
    assert "username" in response.json()  # validated as a field, not refused by the parser


@pytest.mark.parametrize("size", [70_000, 1_000_000])
def test_a_body_over_the_upload_limit_is_a_json_400(size, factory, claim, submission_id, callers, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    body = json.dumps({"title": "x" * size, "instructions": "i", "token": "USDC", "reward": "0.1", "reason": "r"})
    before = money_state()

    for role, url in json_endpoints(factory, claim, submission_id):
        response = callers[role].generic("POST", url, body, "application/json")

        assert response.status_code == 400, (url, response.status_code)
        assert response["Content-Type"] == "application/json"
        assert "limit" in response.content.decode() or "too large" in response.content.decode()
    assert money_state() == before


def test_a_huge_json_demonstration_under_the_body_limit_is_refused_by_its_own_limit(claim, callers, settings):
    settings.FORGE_DEMONSTRATION_MAX_BYTES = 200_000
    demo = demonstration()
    demo["steps"] = demo["steps"] * 2_000  # ~24,000 steps, about 1.5 MB

    response = callers["farmer"].post(f"/api/v1/claims/{claim.pk}/submission/", {"demonstration": demo}, format="json")

    assert response.status_code == 400
    assert "limit" in json.dumps(response.json())
    assert claim.__class__.objects.get(pk=claim.pk).status != "submitted"


def test_an_upload_over_the_attachment_limit_is_refused_before_it_is_read(creator, farmer, callers, settings, tmp_path):
    from pools.services.submissions import submission_create
    from tests.pools.dataset_support import PNG, declared

    settings.MEDIA_ROOT = tmp_path
    factory = funded_factory(creator)
    big = PNG * 10
    submission = submission_create(
        claim_id=claim_create(factory=factory, farmer=farmer).pk,
        farmer=farmer,
        demonstration={**demonstration(), "attachments": [declared("big.png", big)]},
    )
    attachment = submission.attachments.get()
    settings.FORGE_ATTACHMENT_MAX_BYTES = 1024  # lowered after the declaration was accepted

    response = callers["farmer"].generic(
        "PUT", f"/api/v1/submissions/{submission.pk}/attachments/{attachment.pk}/", big, "image/png"
    )

    assert response.status_code == 400
    assert "limit" in json.dumps(response.json())
    attachment.refresh_from_db()
    assert attachment.uploaded_at is None


BAD_AMOUNTS = [
    ("0.1234567", "decimal places"),  # USDC has 6
    ("-1", "negative"),
    ("0", "greater than zero"),
    ("1e30", "below"),
    ("9" * 60, "below"),
    ("NaN", "finite"),
    ("Infinity", "finite"),
    ("1,5", "not a number"),
    ("0x10", "not a number"),
    ("", "required|blank|not a number"),
    (0.2, "decimal string"),  # a JSON number: floats never carry money
    (None, "null|required"),
    (["1"], "decimal string|not a valid"),
]


@pytest.mark.parametrize("amount, message", BAD_AMOUNTS, ids=[repr(value) for value, _ in BAD_AMOUNTS])
def test_bad_amounts_are_refused_wherever_money_comes_in(amount, message, factory, callers):
    import re

    before = money_state()
    for url, body in [
        ("/api/v1/factories/", {"title": "t", "instructions": "i", "token": "USDC", "reward": amount}),
        (f"/api/v1/factories/{factory.pk}/rate/", {"reward": amount}),
        (f"/api/v1/factories/{factory.pk}/deposits/", {"amount": amount, "tx_ref": "sig-bad-amount"}),
    ]:
        response = callers["creator"].post(url, body, format="json")

        assert response.status_code == 400, (url, response.status_code, response.content)
        assert re.search(message, json.dumps(response.json()), re.IGNORECASE), (url, response.json())
    assert money_state() == before


@pytest.mark.parametrize("token", ["DOGE", "", "USDC\x00", "'; DROP TABLE ledger_token; --", "x" * 100, 6])
def test_unknown_tokens_are_refused(token, callers):
    before = money_state()

    response = callers["creator"].post(
        "/api/v1/factories/", {"title": "t", "instructions": "i", "token": token, "reward": "0.1"}, format="json"
    )

    assert response.status_code == 400
    assert "token" in response.json()
    assert money_state() == before


def test_a_disabled_token_is_refused_like_an_unknown_one(callers):
    from ledger.models import Token

    Token.objects.filter(symbol="SOL").update(enabled=False)

    response = callers["creator"].post(
        "/api/v1/factories/", {"title": "t", "instructions": "i", "token": "SOL", "reward": "0.1"}, format="json"
    )

    assert response.status_code == 400
    assert "disabled" in response.json()["token"][0]


@pytest.fixture
def paid_farmer(factory):
    farmer = FarmerFactory()
    settle(factory, farmer, "0.9")  # 0.162 USDC
    return farmer


BAD_ADDRESSES = [
    ("USDC", ""),
    ("USDC", "0x123"),
    ("USDC", EVM_ADDRESS),  # an EVM address for a Solana token
    ("USDC", "0OIl" + SOLANA_ADDRESS[4:]),  # not base58
    ("USDC", SOLANA_ADDRESS + "abcdefgh"),  # too long
    ("USDC", "<script>alert(1)</script>"),
    ("USDC", "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLt\u0430"),  # a Cyrillic letter
    ("ETH", SOLANA_ADDRESS),  # a Solana address for an EVM token
    ("ETH", EVM_ADDRESS[:-1]),
    ("ETH", EVM_ADDRESS + "00"),
]


@pytest.mark.parametrize("token, address", BAD_ADDRESSES)
def test_malformed_wallet_addresses_are_refused_and_move_nothing(token, address, paid_farmer):
    client = Client()
    client.force_login(paid_farmer)
    before = money_state()

    response = client.post("/farm/earnings/withdrawals/", {"token": token, "amount": "0.1", "address": address})

    assert response.status_code == 400
    assert "address" in response.content.decode().lower()
    assert money_state() == before


def test_a_valid_address_goes_through(paid_farmer):
    client = Client()
    client.force_login(paid_farmer)

    address = withdrawal_wallet(paid_farmer)  # withdrawals go only to a wallet linked by signature
    response = client.post("/farm/earnings/withdrawals/", {"token": "USDC", "amount": "0.1", "address": address})

    assert response.status_code == 302
    assert paid_farmer.withdrawals.count() == 1


def test_replayed_deposit_references_are_409_and_credit_once(creator, callers):
    first, second = funded_factory(creator, deposit=None), funded_factory(creator, deposit=None)
    client = callers["creator"]
    body = {"amount": "5", "tx_ref": "5Ks9replayedSignature"}

    answers = [
        client.post(f"/api/v1/factories/{first.pk}/deposits/", body, format="json").status_code,
        client.post(f"/api/v1/factories/{first.pk}/deposits/", body, format="json").status_code,
        client.post(f"/api/v1/factories/{second.pk}/deposits/", body, format="json").status_code,
        client.post(
            f"/api/v1/factories/{second.pk}/deposits/", {**body, "tx_ref": " 5Ks9replayedSignature "}, format="json"
        ).status_code,
    ]

    assert answers == [201, 409, 409, 409]
    assert Deposit.objects.filter(tx_ref="5Ks9replayedSignature").count() == 1
    assert Factory.objects.get(pk=second.pk).status == Factory.Status.DRAFT


@pytest.mark.parametrize("tx_ref", ["", "   ", "has space", "x" * 129, "tab\there", "nul\x00"])
def test_malformed_deposit_references_are_refused(tx_ref, factory, callers):
    before = money_state()

    response = callers["creator"].post(
        f"/api/v1/factories/{factory.pk}/deposits/", {"amount": "1", "tx_ref": tx_ref}, format="json"
    )

    assert response.status_code == 400
    assert "tx_ref" in response.json()
    assert money_state() == before


def test_the_claim_page_refuses_deeply_nested_json(claim, farmer):
    client = Client()
    client.force_login(farmer)

    response = client.post(f"/farm/claims/{claim.pk}/", {"demonstration": DEEP})

    assert response.status_code == 400
