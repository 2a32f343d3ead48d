"""Server-rendered SVG charts: bar, histogram and line/area over time.

No JavaScript and no chart library: a chart is a small inline `<svg>` that inherits the
page's CSS (colours come from classes, see static/css/forge.css), plus the same numbers as a
data table for screen readers, keyboards and anyone who prefers numbers. Render one with
`{% include "partials/chart.html" with chart=... %}`.

Accessibility: the `<svg>` has `role="img"` and is labelled by its own `<title>` and `<desc>`
(the description ends with an automatic summary: total and highest value); each bar or point
carries a `<title>` (a tooltip on hover) and `data-label` / `data-value` attributes.

Values are plain numbers (ints for money base units and counts); `value_format` turns one
into display text, e.g. `lambda units: format_amount(units, decimals=6, trim=True)`. Floats
are used only for pixel positions, never for the values shown.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 640
HEIGHT = 260
MARGIN_LEFT = 64
MARGIN_RIGHT = 16
MARGIN_TOP = 16
MARGIN_BOTTOM = 44
MAX_X_LABELS = 8

Number = int | float | Decimal


@dataclass(frozen=True)
class Chart:
    """A rendered chart: the SVG markup and the data table that says the same thing."""

    chart_id: str
    title: str
    description: str
    svg: SafeString
    columns: tuple[str, str]
    rows: list[tuple[str, str]] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.rows


def histogram_counts(values: Iterable[Number], *, bins: int = 10, low: Number = 0, high: Number = 1) -> list[int]:
    """Count `values` into `bins` equal bins over [low, high]. Each bin is [start, end) except
    the last, which also holds `high` (a perfect score of 1 lands in 0.9-1.0). Values outside
    the range are clamped into the first or last bin."""
    if bins < 1:
        raise ValueError("bins must be at least 1")
    low, high = Decimal(str(low)), Decimal(str(high))
    width = (high - low) / bins
    counts = [0] * bins
    for value in values:
        index = int((Decimal(str(value)) - low) // width)
        counts[min(max(index, 0), bins - 1)] += 1
    return counts


def histogram_labels(*, bins: int = 10, low: Number = 0, high: Number = 1) -> list[str]:
    """Bin labels such as "0.0-0.1" (with an en dash) for `histogram_counts` with the same arguments."""
    low, high = Decimal(str(low)), Decimal(str(high))
    width = (high - low) / bins
    return [f"{low + width * i:.1f}–{low + width * (i + 1):.1f}" for i in range(bins)]


def _ticks(max_value: Number, *, integer: bool) -> list[Number]:
    """Gridline values from 0 to at least `max_value`, in steps of 1, 2 or 5 times a power of
    ten (at most about five steps). Integer data gets integer steps, computed exactly."""
    if max_value <= 0:
        return [0, 1]
    raw = float(max_value) / 4
    exponent = math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        if integer and exponent >= 0:
            step: Number = multiple * 10**exponent
        else:
            step = multiple * 10.0**exponent
        if step >= raw:
            break
    if integer:
        step = max(1, int(step))
        count = -(-int(max_value) // step)  # ceiling division, exact for huge ints
    else:
        count = math.ceil(float(max_value) / step - 1e-9)
    if integer:
        return [step * index for index in range(max(count, 1) + 1)]
    return [round(step * index, 12) for index in range(max(count, 1) + 1)]


def _fmt(number: float) -> str:
    return f"{number:.2f}".rstrip("0").rstrip(".")


def _summary(points: Sequence[tuple[str, Number]], value_format: Callable[[Number], str], unit: str) -> str:
    if not points:
        return "No data yet."
    total = sum(value for _, value in points)
    label, highest = max(points, key=lambda point: point[1])
    suffix = f" {unit}" if unit else ""
    return f"Total {value_format(total)}{suffix}; highest {value_format(highest)}{suffix} ({label})."


def _frame(
    chart_id: str,
    title: str,
    description: str,
    ticks: list[Number],
    value_format: Callable[[Number], str],
    x_labels: list[tuple[float, str]],
    body: list[str],
    x_axis_label: str,
) -> SafeString:
    plot_bottom = HEIGHT - MARGIN_BOTTOM
    plot_height = plot_bottom - MARGIN_TOP
    top = float(ticks[-1]) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
        '<g class="grid" aria-hidden="true">',
    ]
    for tick in ticks:
        y = plot_bottom - plot_height * float(tick) / top
        parts.append(
            f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{_fmt(y)}" y2="{_fmt(y)}" />'
            f'<text class="y-tick" x="{MARGIN_LEFT - 6}" y="{_fmt(y + 4)}" text-anchor="end">'
            f"{escape(value_format(tick))}</text>"
        )
    parts.append("</g>")
    parts.append('<g class="x-labels" aria-hidden="true">')
    for x, label in x_labels:
        parts.append(
            f'<text class="x-tick" x="{_fmt(x)}" y="{plot_bottom + 16}" text-anchor="middle">{escape(label)}</text>'
        )
    if x_axis_label:
        parts.append(
            f'<text class="axis-label" x="{MARGIN_LEFT + (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / 2:.0f}" '
            f'y="{HEIGHT - 6}" text-anchor="middle">{escape(x_axis_label)}</text>'
        )
    parts.append("</g>")
    parts.extend(body)
    parts.append(
        f'<line class="axis" x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{plot_bottom}" '
        f'y2="{plot_bottom}" aria-hidden="true" />'
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text piece above is escaped


def _label_every(count: int) -> int:
    return max(1, math.ceil(count / MAX_X_LABELS))


def bar_chart(
    points: Sequence[tuple[str, Number]],
    *,
    chart_id: str,
    title: str,
    description: str = "",
    value_format: Callable[[Number], str] = str,
    columns: tuple[str, str] = ("Label", "Value"),
    x_axis_label: str = "",
    unit: str = "",
    contiguous: bool = False,
    short_labels: Sequence[str] | None = None,
    edge_labels: Sequence[str] | None = None,
) -> Chart:
    """One bar per (label, value). `contiguous` draws touching bars (a histogram);
    `short_labels` replaces the x-axis text (the table and tooltips keep the full labels);
    `edge_labels` (one more than the bars) labels the bars' edges instead of their middles, so
    a histogram's axis reads as its range, both ends included (0 to 1 for scores)."""
    values = [value for _, value in points]
    integer = all(isinstance(value, int) for value in values)
    ticks = _ticks(max(values, default=0), integer=integer)
    top = float(ticks[-1]) or 1.0
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_bottom = HEIGHT - MARGIN_BOTTOM
    plot_height = plot_bottom - MARGIN_TOP
    slot = plot_width / max(len(points), 1)
    bar_width = slot - 1 if contiguous else slot * 0.7
    every = _label_every(len(points))
    body = ['<g class="bars">']
    x_labels = []
    for index, (label, value) in enumerate(points):
        height = plot_height * float(value) / top
        x = MARGIN_LEFT + slot * index + (slot - bar_width) / 2
        text = f"{label}: {value_format(value)}{' ' + unit if unit else ''}"
        body.append(
            f'<rect class="bar" x="{_fmt(x)}" y="{_fmt(plot_bottom - height)}" width="{_fmt(bar_width)}" '
            f'height="{_fmt(height)}" data-label="{escape(label)}" data-value="{escape(str(value))}">'
            f"<title>{escape(text)}</title></rect>"
        )
        if index % every == 0 and edge_labels is None:
            shown = short_labels[index] if short_labels else label
            x_labels.append((MARGIN_LEFT + slot * index + slot / 2, shown))
    if edge_labels is not None:
        if len(edge_labels) != len(points) + 1:
            raise ValueError(f"expected {len(points) + 1} edge labels, got {len(edge_labels)}")
        x_labels = [(MARGIN_LEFT + slot * index, text) for index, text in enumerate(edge_labels) if index % every == 0]
        if (len(edge_labels) - 1) % every:  # the far end is always labelled
            x_labels.append((MARGIN_LEFT + slot * len(points), edge_labels[-1]))
    body.append("</g>")
    full_description = " ".join(filter(None, [description, _summary(points, value_format, unit)]))
    svg = _frame(chart_id, title, full_description, ticks, value_format, x_labels, body, x_axis_label)
    rows = [(label, value_format(value)) for label, value in points]
    return Chart(chart_id, title, full_description, svg, columns, rows)


def histogram(
    values: Iterable[Number] | None = None,
    *,
    counts: Sequence[int] | None = None,
    bins: int = 10,
    low: Number = 0,
    high: Number = 1,
    chart_id: str,
    title: str,
    description: str = "",
    columns: tuple[str, str] = ("Range", "Count"),
    x_axis_label: str = "",
    unit: str = "",
) -> Chart:
    """A histogram of raw `values`, or of `counts` already binned (e.g. by the database)
    with the same bins as `histogram_counts`."""
    if counts is None:
        counts = histogram_counts(values or [], bins=bins, low=low, high=high)
    if len(counts) != bins:
        raise ValueError(f"expected {bins} counts, got {len(counts)}")
    labels = histogram_labels(bins=bins, low=low, high=high)
    # The axis is the whole range, fixed whatever the data: its edges, both ends labelled.
    start, end = Decimal(str(low)), Decimal(str(high))
    edges = [f"{start + (end - start) * index / bins:.1f}" for index in range(bins + 1)]
    return bar_chart(
        list(zip(labels, counts, strict=True)),
        chart_id=chart_id,
        title=title,
        description=description,
        columns=columns,
        x_axis_label=x_axis_label,
        unit=unit,
        contiguous=True,
        edge_labels=edges,
    )


def line_chart(
    points: Sequence[tuple[str, Number]],
    *,
    chart_id: str,
    title: str,
    description: str = "",
    value_format: Callable[[Number], str] = str,
    columns: tuple[str, str] = ("Date", "Value"),
    x_axis_label: str = "",
    unit: str = "",
    area: bool = True,
    short_labels: Sequence[str] | None = None,
) -> Chart:
    """A line (with the area under it, by default) through (label, value) points spaced
    evenly: pass one point per day or hour, zeros included, so the spacing means time."""
    values = [value for _, value in points]
    integer = all(isinstance(value, int) for value in values)
    ticks = _ticks(max(values, default=0), integer=integer)
    top = float(ticks[-1]) or 1.0
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_bottom = HEIGHT - MARGIN_BOTTOM
    plot_height = plot_bottom - MARGIN_TOP
    count = len(points)
    step = plot_width / (count - 1) if count > 1 else 0
    coords = []
    for index, (_, value) in enumerate(points):
        x = MARGIN_LEFT + (step * index if count > 1 else plot_width / 2)
        coords.append((x, plot_bottom - plot_height * float(value) / top))
    body = []
    if coords:
        line = " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in coords)
        if area and count > 1:
            body.append(
                f'<polygon class="area" points="{_fmt(coords[0][0])},{plot_bottom} {line} '
                f'{_fmt(coords[-1][0])},{plot_bottom}" aria-hidden="true" />'
            )
        if count > 1:
            body.append(f'<polyline class="line" points="{line}" fill="none" aria-hidden="true" />')
        body.append('<g class="points">')
        for (label, value), (x, y) in zip(points, coords, strict=True):
            text = f"{label}: {value_format(value)}{' ' + unit if unit else ''}"
            body.append(
                f'<circle class="point" cx="{_fmt(x)}" cy="{_fmt(y)}" r="3" data-label="{escape(label)}" '
                f'data-value="{escape(str(value))}"><title>{escape(text)}</title></circle>'
            )
        body.append("</g>")
    every = _label_every(count)
    x_labels = [
        (x, (short_labels[index] if short_labels else points[index][0]))
        for index, (x, _) in enumerate(coords)
        if index % every == 0
    ]
    full_description = " ".join(filter(None, [description, _summary(points, value_format, unit)]))
    svg = _frame(chart_id, title, full_description, ticks, value_format, x_labels, body, x_axis_label)
    rows = [(label, value_format(value)) for label, value in points]
    return Chart(chart_id, title, full_description, svg, columns, rows)
