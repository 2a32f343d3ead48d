"""Template helpers: money with its token, percentages of rates, times for the browser's time
zone, durations, and the shared pool bar / fill progress / status badge snippets."""

from datetime import UTC
from decimal import Decimal

from django import template
from django.utils import timezone
from django.utils.html import format_html

from core.money import format_amount

register = template.Library()


def _grouped(text: str) -> str:
    """Thousands separators in the whole part of an exact decimal string, for display only:
    "-9955.42" -> "-9,955.42", "1000000" -> "1,000,000". Digits are never changed."""
    sign = "-" if text.startswith("-") else ""
    whole, dot, fraction = text.lstrip("-").partition(".")
    return f"{sign}{int(whole):,}{dot}{fraction}"


@register.filter
def money(units, token):
    """`{{ factory.reward|money:factory.token }}` -> "0.2 USDC", "9,955.42 USDC" (exact, trailing
    zeros trimmed, thousands grouped: display only, the API keeps plain decimal strings)."""
    if units is None or token is None:
        return "–"
    return f"{_grouped(format_amount(int(units), decimals=token.decimals, trim=True))} {token.symbol}"


@register.filter
def amount(units, token):
    """The number alone, exact, grouped for reading: `{{ units|amount:token }}` -> "1,000,000.2".
    Not for form values (a grouped number does not parse back)."""
    if units is None or token is None:
        return ""
    return _grouped(format_amount(int(units), decimals=token.decimals, trim=True))


@register.filter
def count(value):
    """A whole number for reading: `{{ 1000000|count }}` -> "1,000,000"."""
    if value is None or value == "":
        return "–"
    return f"{int(value):,}"


@register.filter
def score(value):
    """A quality score (a Decimal in [0, 1]) as a percentage, like the threshold beside it:
    `{{ 0.9022|score }}` -> "90.2%", 1 -> "100%", 0.5 -> "50%" (one decimal, trimmed)."""
    if value is None or value == "":
        return "–"
    try:
        number = (Decimal(str(value)) * 100).quantize(Decimal("0.1"))
    except (ArithmeticError, ValueError):  # an outside grader's odd breakdown: shown as given
        return str(value)
    text = f"{number:f}"
    return f"{text[:-2] if text.endswith('.0') else text}%"


@register.filter
def percent(rate):
    """`{{ 0.1|percent }}` -> "10%" (rates are Decimals; trailing zeros trimmed)."""
    if rate is None:
        return "–"
    try:
        value = (Decimal(str(rate)) * 100).normalize()
    except (ArithmeticError, ValueError):
        return str(rate)
    return f"{value:f}%"


@register.filter
def timetag(value, style="datetime"):
    """`{{ submission.submitted_at|timetag }}` -> `<time datetime="...Z">2026-11-01 12:00 UTC</time>`.

    The server writes UTC; static/js/localtime.js rewrites the text in the browser's own time
    zone (the `datetime` attribute keeps the exact instant). `style` "date" shows the day only.
    """
    if value is None:
        return "–"
    if not hasattr(value, "hour"):  # a date
        return format_html('<time datetime="{}">{}</time>', value.isoformat(), value.isoformat())
    utc = value.astimezone(UTC) if timezone.is_aware(value) else value
    iso = utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    text = utc.strftime("%Y-%m-%d") if style == "date" else utc.strftime("%Y-%m-%d %H:%M UTC")
    return format_html('<time datetime="{}" data-localize="{}">{}</time>', iso, style, text)


@register.filter
def hours(value):
    """A duration in hours for people: "under an hour", "5 hours", "3.5 days"; a dash if unknown."""
    if value is None:
        return "–"
    value = float(value)
    if value < 1:
        return "under an hour"
    if value < 48:
        rounded = round(value)
        return f"{rounded} hour{'s' if rounded != 1 else ''}"
    days = value / 24
    return f"{days:.0f} days" if days >= 10 else f"{days:.1f} days"


@register.filter
def rate_per_hour(value):
    """Claims or submissions per hour: "0.42" (two decimals, display only)."""
    if value is None:
        return "–"
    return f"{float(value):.2f}"


@register.inclusion_tag("partials/pool_bar.html")
def pool_bar(summary, token, label="Pool", compact=False):
    """A pool's available / reserved / spent / refunded bar with its legend and a sentence
    for screen readers. `summary` is a pools.selectors.PoolSummary. `compact` (table rows)
    replaces the legend with one line: what is available of what was deposited."""
    parts = [
        ("available", "Available", summary.available),
        ("reserved", "Reserved", summary.reserved),
        ("spent", "Spent", summary.paid_out),
        ("refunded", "Refunded", summary.refunded),
    ]
    segments = [
        {
            "css": css,
            "label": name,
            "units": units,
            # Display only: a width for the bar, never money.
            "width": f"{summary.fraction(units) * 100:.2f}",
        }
        for css, name, units in parts
    ]
    return {"segments": segments, "token": token, "label": label, "summary": summary, "compact": compact}


@register.inclusion_tag("partials/fill_progress.html")
def fill_progress(factory):
    """Accepted demonstrations against the target (or a count, for an open target)."""
    target = factory.target_count
    accepted = factory.accepted_count
    percent_done = min(100, round(accepted * 100 / target)) if target else None
    return {"factory": factory, "target": target, "accepted": accepted, "percent_done": percent_done}


@register.simple_tag
def status_badge(factory_or_status, label=None):
    """`{% status_badge factory %}`: the status as text in a coloured pill (the text carries
    the meaning; colour only helps)."""
    status = getattr(factory_or_status, "status", factory_or_status)
    if label is None:
        display = getattr(factory_or_status, "get_status_display", None)
        label = display() if display else str(status).title()
    return format_html('<span class="badge status-{}">{}</span>', status, label)
