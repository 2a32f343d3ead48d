"""One amount grammar (core.money.AMOUNT_GRAMMAR), enforced by the one parser, on every money
input of the API and the pages: `1e3`, `+1`, ` 1 `, `1.` and `.5` are refused, with the grammar
in the message, and nothing is written. (Before, Decimal() read them all as plain numbers.)"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from core.money import AMOUNT_GRAMMAR, AMOUNT_RE, MAX_WHOLE_UNITS, parse_amount
from pools.services.claims import claim_create
from tests.factories import FarmerFactory
from tests.farmers.helpers import settle
from tests.money_helpers import assert_audit_clean, funded_factory
from tests.security.world import money_state

OFF_GRAMMAR = ["1e3", "+1", " 1 ", "1.", ".5", "1E3", "\t1", "1 ", "0x1", "1_0", "١", "0.2\n"]


@pytest.mark.parametrize("text", OFF_GRAMMAR, ids=repr)
def test_the_parser_refuses_spellings_outside_the_grammar_and_names_it(text):
    with pytest.raises(ValidationError) as raised:
        parse_amount(text, decimals=6)

    (message,) = raised.value.message_dict["amount"]
    assert AMOUNT_GRAMMAR in message


# ---- properties ------------------------------------------------------------------------------

DECIMALS = st.integers(min_value=0, max_value=18)
# Text near the grammar: the characters Decimal() reads, and a few it does not.
NEAR = st.text(alphabet="0123456789.eE+- \t_,", max_size=14)


def _expected_units(text: str, decimals: int) -> int | None:
    """What the grammar says `text` is, in base units, or None when it must be refused."""
    if not AMOUNT_RE.fullmatch(text):
        return None
    fraction = text.partition(".")[2]
    if len(fraction) > decimals:
        return None
    value = Fraction(text)
    if not 0 < value < MAX_WHOLE_UNITS:
        return None
    return int(value * 10**decimals)


@given(st.one_of(st.from_regex(AMOUNT_RE, fullmatch=True), NEAR), DECIMALS)
@example("1e3", 2)
@example("+1", 6)
@example(" 1 ", 6)
@example("1.", 6)
@example(".5", 6)
@example("007.50", 2)
@hypothesis_settings(max_examples=800, deadline=None)
def test_an_amount_is_accepted_exactly_when_the_grammar_and_the_token_allow_it(text, decimals):
    expected = _expected_units(text, decimals)
    try:
        units = parse_amount(text, decimals=decimals)
    except ValidationError as error:
        assert expected is None, (text, decimals, error)
        if not AMOUNT_RE.fullmatch(text) and text.strip() and not text.strip().startswith("-"):
            # Off the grammar (and not merely empty or negative): the message says what is.
            message = error.message_dict["amount"][0]
            assert AMOUNT_GRAMMAR in message or "finite" in message or "below" in message, message
    else:
        assert units == expected, (text, decimals)


@given(st.from_regex(r"\A[0-9]{1,12}(\.[0-9]{1,6})?\Z"), st.sampled_from(["+", " ", "\t", "\n"]), st.booleans())
def test_a_sign_or_whitespace_around_a_valid_amount_is_always_refused(text, extra, before):
    spelled = extra + text if before else text + extra
    with pytest.raises(ValidationError):
        parse_amount(spelled, decimals=6)


@given(st.from_regex(r"\A[1-9][0-9]{0,10}\Z"), st.integers(min_value=-6, max_value=6))
def test_exponent_notation_is_refused_whatever_it_denotes(mantissa, exponent):
    with pytest.raises(ValidationError):
        parse_amount(f"{mantissa}e{exponent}", decimals=6)


# ---- every money input -----------------------------------------------------------------------

SPELLINGS = ["1e3", "+1", " 1 ", "1.", ".5"]


@pytest.fixture
def factory(creator):
    return funded_factory(creator, reward="0.2", deposit="10")


def _assert_grammar_error(payload):
    text = json.dumps(payload)
    assert AMOUNT_GRAMMAR.replace("\\", "\\\\") in text, payload


@pytest.mark.django_db
@pytest.mark.parametrize("amount", SPELLINGS, ids=repr)
def test_the_api_refuses_them_on_every_money_input(amount, factory, creator, as_user):
    client = as_user(creator)
    before = money_state()

    for url, body, field in [
        ("/api/v1/factories/", {"title": "t", "instructions": "i", "token": "USDC", "reward": amount}, "reward"),
        (f"/api/v1/factories/{factory.pk}/rate/", {"reward": amount}, "reward"),
        (f"/api/v1/factories/{factory.pk}/deposits/", {"amount": amount, "tx_ref": "sig-grammar"}, "amount"),
    ]:
        response = client.post(url, body, format="json")

        assert response.status_code == 400, (url, amount, response.content)
        _assert_grammar_error(response.json()[field])
    assert money_state() == before
    assert_audit_clean()


@pytest.mark.django_db
@pytest.mark.parametrize("amount", SPELLINGS, ids=repr)
def test_the_pages_refuse_them_on_every_money_input(amount, factory, creator):
    from referrals.services import ambassador_create

    client = Client()
    client.force_login(creator)
    farmer = FarmerFactory()
    settle(factory, farmer, "0.9")  # something to withdraw
    farmer_client = Client()
    farmer_client.force_login(farmer)
    ambassador_create(user=farmer)
    before = money_state()

    for who, url, body, field in [
        (client, f"/creator/factories/{factory.pk}/fund/", {"amount": amount, "tx_ref": "sig-grammar"}, "amount"),
        (client, f"/creator/factories/{factory.pk}/rate/", {"reward": amount}, "reward"),
        (
            client,
            "/creator/factories/new/",
            {
                "title": "t",
                "instructions": "i",
                "token": "USDC",
                "reward": amount,
                "expected_minutes": "10",
                "claim_timeout_minutes": "60",
                "min_reputation": "0",
            },
            "reward",
        ),
        (
            farmer_client,
            "/farm/earnings/withdrawals/",
            {"token": "USDC", "amount": amount, "address": "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV"},
            "amount",
        ),
        (farmer_client, "/ambassador/stake/", {"stake-amount": amount}, "amount"),
    ]:
        response = who.post(url, body)

        assert response.status_code in (200, 400), (url, amount, response.status_code)
        form = response.context["stake_form" if "stake" in url else "form"]
        errors = form.errors
        assert field in errors, (url, amount, errors)
        assert AMOUNT_GRAMMAR in " ".join(errors[field]), (url, amount, errors)
    assert money_state() == before


@pytest.mark.django_db
def test_the_browse_filter_reports_an_off_grammar_minimum_reward(factory):
    client = Client()
    client.force_login(FarmerFactory())

    response = client.get("/farm/", {"token": "USDC", "min_reward": "1e3"})

    assert response.status_code == 200
    assert AMOUNT_GRAMMAR in " ".join(response.context["form"].errors["min_reward"])


@pytest.mark.django_db
def test_plain_amounts_still_go_through(factory, creator, as_user):
    response = as_user(creator).post(
        f"/api/v1/factories/{factory.pk}/deposits/", {"amount": "007.50", "tx_ref": "sig-plain"}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["amount"] == "7.500000"
    assert Decimal(response.json()["amount"]) == Decimal("7.5")
    claim_create(factory=factory, farmer=FarmerFactory())
    assert_audit_clean()
