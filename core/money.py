"""Exact amounts. The one place that parses, quantizes, multiplies and formats money.

Amounts are stored and computed as **integer base units** of their token (1 USDC = 10**6
units, 1 ETH = 10**18 units), so a sum or a difference is always exact and nothing smaller
than a token's smallest unit can exist. Rates (fees, commissions, quality scores) are
`Decimal`s; multiplying an amount by a rate rounds with one named rule:

    ROUNDING = floor  (towards zero for the non-negative amounts we pay out)

`mul_floor` applies it in exact integer arithmetic, whatever the size of the numbers, so the
platform never pays out a fraction it does not have; whoever receives "the rest" (the farmer
keeps G - F, the pool gets R - G, the treasury gets F - commissions) absorbs the dust, and the
parts always sum exactly to the whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

# Largest supply we accept: 10**12 whole units of an 18-decimal token fits NUMERIC(39, 0).
MAX_WHOLE_UNITS = 10**12
MAX_DIGITS = 39

# The one way to write an amount: ASCII digits, optionally a point and more digits (at most the
# token's decimals of them). No sign, exponent, separators, spaces, or a bare leading or
# trailing point: "1e3", "+1", " 1 ", "1." and ".5" are refused, not guessed at.
AMOUNT_GRAMMAR = r"^[0-9]+(\.[0-9]+)?$"
AMOUNT_RE = re.compile(r"\A[0-9]+(\.[0-9]+)?\Z")
AMOUNT_FORMAT_HINT = (
    f'Write amounts as digits with an optional decimal point and digits, e.g. "0.2" ({AMOUNT_GRAMMAR}).'
)

# What `Decimal()` would also accept but an amount must not be: "1_000", non-ASCII digits.
_NOT_PLAIN = re.compile(r"[^0-9eE.+-]")


def _decimal_from_text(text: str, *, original, field: str) -> Decimal:
    """`Decimal(text)`, refusing the spellings Decimal tolerates but people do not mean as a
    number here (digit separators, non-ASCII digits); NaN/Infinity pass to the finite check."""
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = None
    if number is None or (number.is_finite() and _NOT_PLAIN.search(text)):
        raise ValidationError({field: [f'"{original}" is not a number.']})
    return number


def _scaled(number: Decimal, places: int) -> int:
    """number x 10**places as an int, exactly. (`Decimal.scaleb` would round to the context's
    28 significant digits: an 18-decimal amount of 10**12 whole units has 30.)"""
    numerator, denominator = number.as_integer_ratio()
    units, remainder = divmod(numerator * 10**places, denominator)
    if remainder:
        raise ValueError(f"{number} has more than {places} decimal places")
    return units


def parse_amount(value, *, decimals: int, field: str = "amount", allow_zero: bool = False) -> int:
    """Turn user input ("0.2", "1.500000", Decimal) into base units, refusing anything inexact.

    Text must follow AMOUNT_GRAMMAR, whitespace included (the forms and serializers pass it
    untrimmed). Floats are refused: they cannot carry an exact decimal amount. More fractional
    digits than the token allows is an error, never a silent rounding (so "0.10" is refused
    for a one-decimal token: the rule is about the digits sent, as the API contract states it).
    Ints and Decimals come from our own code, not from a person, and skip the grammar.
    """
    if isinstance(value, bool | float):
        raise ValidationError({field: ['Send amounts as a decimal string, e.g. "0.2".']})
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValidationError({field: ["An amount is required."]})
        try:
            number = _decimal_from_text(text, original=value, field=field)
        except ValidationError:
            raise ValidationError({field: [f'"{value[:40]}" is not a number. {AMOUNT_FORMAT_HINT}']}) from None
    elif isinstance(value, Decimal):
        number = value
    else:
        raise ValidationError({field: ['Send amounts as a decimal string, e.g. "0.2".']})

    # The clearest reason first: sign and size say more than the spelling does.
    if not number.is_finite():
        raise ValidationError({field: ["An amount must be a finite number."]})
    if number < 0:
        raise ValidationError({field: ["An amount cannot be negative."]})
    if number >= MAX_WHOLE_UNITS:
        raise ValidationError({field: [f"An amount must be below {MAX_WHOLE_UNITS:,}."]})
    if isinstance(value, str) and not AMOUNT_RE.fullmatch(value):
        # Decimal() read it (it reads "1e3", "+1", " 1 ", "1.", ".5"); the grammar does not.
        raise ValidationError({field: [f'"{value[:40]}" is not a plain amount. {AMOUNT_FORMAT_HINT}']})
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > decimals:
        raise ValidationError({field: [f"At most {decimals} decimal places are allowed for this token."]})
    if number == 0 and not allow_zero:
        raise ValidationError({field: ["An amount must be greater than zero."]})
    # The exponent check above makes this exact (no fractional base units are dropped).
    return _scaled(number, decimals)


def to_decimal(units: int, *, decimals: int) -> Decimal:
    """Base units as an exact Decimal in whole-token units (for display and rates)."""
    # Built from its digits, not with `scaleb`, which rounds to 28 significant digits.
    return Decimal(f"{int(units)}E-{int(decimals)}")


def format_amount(units: int, *, decimals: int, trim: bool = False) -> str:
    """The exact decimal string of an amount: "0.200000" (API), or "0.2" with `trim`."""
    units = int(units)
    sign = "-" if units < 0 else ""
    whole, fraction = divmod(abs(units), 10**decimals)
    if decimals == 0:
        return f"{sign}{whole}"
    fraction_text = str(fraction).rjust(decimals, "0")
    if trim:
        fraction_text = fraction_text.rstrip("0")
        if not fraction_text:
            return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction_text}"


def mul_floor(units: int, rate: Decimal) -> int:
    """floor(units x rate), exactly (integer arithmetic; no Decimal context precision limits)."""
    if not isinstance(rate, Decimal) or not rate.is_finite():
        raise TypeError("rate must be a finite Decimal")
    numerator, denominator = rate.as_integer_ratio()
    return (int(units) * numerator) // denominator


def parse_rate(value, *, field: str = "rate", max_places: int = 4) -> Decimal:
    """A rate or score in [0, 1] with at most `max_places` decimals ("0.9", "0.5")."""
    if isinstance(value, bool | float):
        raise ValidationError({field: ['Send this as a decimal string, e.g. "0.75".']})
    number = _decimal_from_text(str(value).strip(), original=value, field=field)
    if not number.is_finite() or number < 0 or number > 1:
        raise ValidationError({field: ["Must be a number between 0 and 1."]})
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > max_places:
        raise ValidationError({field: [f"At most {max_places} decimal places are allowed."]})
    return number


@dataclass(frozen=True, slots=True)
class Money:
    """An amount with its token, for display: `str(Money(162000, "USDC", 6))` -> "0.162 USDC"."""

    units: int
    symbol: str
    decimals: int

    @property
    def decimal(self) -> Decimal:
        return to_decimal(self.units, decimals=self.decimals)

    def exact(self) -> str:
        return format_amount(self.units, decimals=self.decimals)

    def __str__(self) -> str:
        return f"{format_amount(self.units, decimals=self.decimals, trim=True)} {self.symbol}"
