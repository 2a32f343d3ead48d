"""core.money: exact parsing, formatting and the one rounding rule (floor)."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from django.core.exceptions import ValidationError
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from core.money import (
    AMOUNT_FORMAT_HINT,
    MAX_WHOLE_UNITS,
    Money,
    format_amount,
    mul_floor,
    parse_amount,
    parse_rate,
    to_decimal,
)

DECIMALS = st.integers(min_value=0, max_value=18)


def amount_error(value, *, decimals=6, **kwargs) -> str:
    with pytest.raises(ValidationError) as raised:
        parse_amount(value, decimals=decimals, **kwargs)
    messages = raised.value.message_dict[kwargs.get("field", "amount")]
    assert len(messages) == 1
    return messages[0]


def rate_error(value, **kwargs) -> str:
    with pytest.raises(ValidationError) as raised:
        parse_rate(value, **kwargs)
    return raised.value.message_dict[kwargs.get("field", "rate")][0]


# --- parse_amount: what is accepted -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "decimals", "units"),
    [
        ("0.2", 6, 200_000),
        ("1.500000", 6, 1_500_000),
        ("0.000001", 6, 1),
        ("3", 0, 3),
        ("0.000000000000000001", 18, 1),
        ("999999999999.999999999999999999", 18, 10**30 - 1),
    ],
)
def test_parse_amount_turns_decimal_strings_into_exact_base_units(text, decimals, units):
    assert parse_amount(text, decimals=decimals) == units


def test_parse_amount_accepts_integers_and_decimals_exactly():
    assert parse_amount(5, decimals=9) == 5 * 10**9
    assert parse_amount(Decimal("0.123456789"), decimals=9) == 123_456_789


def test_parse_amount_allows_zero_only_when_asked():
    assert parse_amount("0", decimals=6, allow_zero=True) == 0
    assert parse_amount("0.000000", decimals=6, allow_zero=True) == 0
    assert amount_error("0", decimals=6) == "An amount must be greater than zero."


def test_a_thirty_digit_eth_amount_is_not_rounded_to_decimal_context_precision():
    # 30 significant digits: more than Decimal's default context precision (28).
    text = "123456789012.123456789012345678"
    assert parse_amount(text, decimals=18) == 123456789012123456789012345678
    assert format_amount(parse_amount(text, decimals=18), decimals=18) == text


# --- parse_amount: what is refused, with a message ---------------------------------------


@pytest.mark.parametrize(
    ("text", "decimals"),
    [("0.1234567", 6), ("1.0000000", 6), ("0.5", 0), ("0.0000001", 6), ("0.0000000000000000001", 18), ("0.10", 1)],
)
def test_parse_amount_refuses_more_fractional_digits_than_the_token_has(text, decimals):
    assert amount_error(text, decimals=decimals) == f"At most {decimals} decimal places are allowed for this token."


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "An amount cannot be negative."),
        ("-0.000001", "An amount cannot be negative."),
        (-3, "An amount cannot be negative."),
        (Decimal("-2"), "An amount cannot be negative."),
        ("0", "An amount must be greater than zero."),
        ("-0", f'"-0" is not a plain amount. {AMOUNT_FORMAT_HINT}'),  # the grammar has no sign
        (0, "An amount must be greater than zero."),
        ("", "An amount is required."),
        ("   ", "An amount is required."),
        ("abc", f'"abc" is not a number. {AMOUNT_FORMAT_HINT}'),
        ("1,5", f'"1,5" is not a number. {AMOUNT_FORMAT_HINT}'),
        ("0x10", f'"0x10" is not a number. {AMOUNT_FORMAT_HINT}'),
        ("1_000", f'"1_000" is not a number. {AMOUNT_FORMAT_HINT}'),
        ("١٢", f'"١٢" is not a number. {AMOUNT_FORMAT_HINT}'),  # Arabic-Indic digits: Decimal() would accept them
        ("NaN", "An amount must be a finite number."),
        ("sNaN", "An amount must be a finite number."),
        ("Infinity", "An amount must be a finite number."),
        ("-Infinity", "An amount must be a finite number."),
        (Decimal("NaN"), "An amount must be a finite number."),
        (0.2, 'Send amounts as a decimal string, e.g. "0.2".'),
        (float("nan"), 'Send amounts as a decimal string, e.g. "0.2".'),
        (True, 'Send amounts as a decimal string, e.g. "0.2".'),
        (None, 'Send amounts as a decimal string, e.g. "0.2".'),
        (["1"], 'Send amounts as a decimal string, e.g. "0.2".'),
        ("1000000000000", f"An amount must be below {MAX_WHOLE_UNITS:,}."),
        ("1e12", f"An amount must be below {MAX_WHOLE_UNITS:,}."),
        (10**40, f"An amount must be below {MAX_WHOLE_UNITS:,}."),
        ("1E+999999999", f"An amount must be below {MAX_WHOLE_UNITS:,}."),
        # Decimal() reads these; the amount grammar (issue 20 row 9) does not.
        ("  7 ", f'"  7 " is not a plain amount. {AMOUNT_FORMAT_HINT}'),
        ("1e3", f'"1e3" is not a plain amount. {AMOUNT_FORMAT_HINT}'),
        ("1e-7", f'"1e-7" is not a plain amount. {AMOUNT_FORMAT_HINT}'),
    ],
)
def test_parse_amount_refuses_bad_input_with_a_clear_message(value, message):
    assert amount_error(value, decimals=6) == message


def test_parse_amount_reports_errors_under_the_callers_field_name():
    assert amount_error("-1", decimals=6, field="reward") == "An amount cannot be negative."


# --- properties ------------------------------------------------------------------------------


@st.composite
def units_and_decimals(draw):
    decimals = draw(DECIMALS)
    top = MAX_WHOLE_UNITS * 10**decimals - 1
    units = draw(st.one_of(st.integers(1, 10**6), st.integers(1, top), st.just(top)))
    return units, decimals


@given(units_and_decimals())
@example((10**30 - 1, 18))
@example((123456789012123456789012345678, 18))
@hypothesis_settings(max_examples=500)
def test_format_then_parse_round_trips_every_amount_of_every_token(pair):
    units, decimals = pair
    text = format_amount(units, decimals=decimals)
    trimmed = format_amount(units, decimals=decimals, trim=True)
    assert parse_amount(text, decimals=decimals) == units
    assert parse_amount(trimmed, decimals=decimals) == units
    assert to_decimal(units, decimals=decimals) == Decimal(text)
    if decimals:
        assert len(text.split(".")[1]) == decimals
    assert Fraction(text) == Fraction(units, 10**decimals)


@given(units_and_decimals(), st.integers(1, 9))
def test_one_digit_more_than_the_token_allows_is_always_refused(pair, extra_digit):
    units, decimals = pair
    text = format_amount(units, decimals=decimals)
    text = f"{text}{extra_digit}" if decimals else f"{text}.{extra_digit}"
    with pytest.raises(ValidationError, match="decimal places"):
        parse_amount(text, decimals=decimals)


@given(DECIMALS, st.integers(min_value=-(10**30), max_value=10**30))
def test_format_amount_is_the_exact_value_of_the_units(decimals, units):
    text = format_amount(units, decimals=decimals)
    assert Fraction(text) == Fraction(units, 10**decimals)
    assert Decimal(text) == to_decimal(units, decimals=decimals)


def test_format_amount_pads_and_trims():
    assert format_amount(162_000, decimals=6) == "0.162000"
    assert format_amount(162_000, decimals=6, trim=True) == "0.162"
    assert format_amount(5_000_000, decimals=6, trim=True) == "5"
    assert format_amount(-1, decimals=6) == "-0.000001"
    assert format_amount(42, decimals=0) == "42"
    assert str(Money(162_000, "USDC", 6)) == "0.162 USDC"
    assert Money(162_000, "USDC", 6).exact() == "0.162000"


RATES = st.decimals(min_value=0, max_value=5, places=8, allow_nan=False, allow_infinity=False)


@given(st.integers(min_value=-(10**40), max_value=10**40), RATES)
@example(10**30 - 1, Decimal("0.9999"))
@hypothesis_settings(max_examples=500)
def test_mul_floor_is_the_floor_of_the_exact_product(units, rate):
    assert mul_floor(units, rate) == math.floor(Fraction(units) * Fraction(rate))


@given(st.integers(min_value=0, max_value=10**30), RATES.filter(lambda r: r <= 1))
def test_mul_floor_never_pays_more_than_the_exact_share(units, rate):
    share = mul_floor(units, rate)
    assert 0 <= share <= units
    assert Fraction(share) <= Fraction(units) * Fraction(rate) < share + 1


@pytest.mark.parametrize("rate", [0.5, Decimal("NaN"), Decimal("Infinity"), "0.5", 1])
def test_mul_floor_refuses_rates_that_are_not_finite_decimals(rate):
    with pytest.raises(TypeError):
        mul_floor(10, rate)


# --- parse_rate ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "rate"),
    [("0.9", Decimal("0.9")), ("0", Decimal(0)), ("1", Decimal(1)), (" 0.5 ", Decimal("0.5")), (1, Decimal(1))],
)
def test_parse_rate_accepts_numbers_between_zero_and_one(value, rate):
    assert parse_rate(value) == rate


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1.0001", "Must be a number between 0 and 1."),
        ("-0.1", "Must be a number between 0 and 1."),
        ("NaN", "Must be a number between 0 and 1."),
        ("Infinity", "Must be a number between 0 and 1."),
        ("0.12345", "At most 4 decimal places are allowed."),
        ("abc", '"abc" is not a number.'),
        ("", '"" is not a number.'),
        ("0_5", '"0_5" is not a number.'),
        (0.5, 'Send this as a decimal string, e.g. "0.75".'),
        (True, 'Send this as a decimal string, e.g. "0.75".'),
    ],
)
def test_parse_rate_refuses_bad_rates_with_a_clear_message(value, message):
    assert rate_error(value) == message


@given(st.decimals(min_value=0, max_value=1, places=4))
def test_every_four_place_rate_in_range_parses_to_itself(rate):
    assert parse_rate(str(rate)) == rate
