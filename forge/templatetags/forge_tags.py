"""Template helpers: money with its token, percentages of rates."""

from decimal import Decimal

from django import template

from forge.money import format_amount

register = template.Library()


@register.filter
def money(units, token):
    """`{{ factory.reward|money:factory.token }}` -> "0.2 USDC" (exact, trailing zeros trimmed)."""
    if units is None or token is None:
        return "–"
    return f"{format_amount(int(units), decimals=token.decimals, trim=True)} {token.symbol}"


@register.filter
def amount(units, token):
    """The number alone, exact: `{{ units|amount:token }}` -> "0.2"."""
    if units is None or token is None:
        return ""
    return format_amount(int(units), decimals=token.decimals, trim=True)


@register.filter
def percent(rate):
    """`{{ 0.1|percent }}` -> "10%" (rates are Decimals; trailing zeros trimmed)."""
    if rate is None:
        return "–"
    value = (Decimal(str(rate)) * 100).normalize()
    return f"{value:f}%"
