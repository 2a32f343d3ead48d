"""Server-rendered SVG charts: valid SVG, accessible labels, and the right numbers."""

import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from core import charts

SVG = "{http://www.w3.org/2000/svg}"


def _parse(chart) -> ET.Element:
    return ET.fromstring(str(chart.svg))


def _bar_values(root) -> list[int]:
    return [int(rect.get("data-value")) for rect in root.iter(f"{SVG}rect") if rect.get("class") == "bar"]


def test_histogram_counts_put_edges_in_the_upper_bin_and_a_perfect_score_in_the_last():
    scores = [Decimal("0"), Decimal("0.0999"), Decimal("0.1"), Decimal("0.5"), Decimal("0.95"), Decimal("1")]

    assert charts.histogram_counts(scores) == [2, 1, 0, 0, 0, 1, 0, 0, 0, 2]


def test_histogram_counts_clamp_values_outside_the_range():
    assert charts.histogram_counts([-1, 2], bins=2) == [1, 1]


def test_histogram_is_valid_svg_with_one_bar_per_bin_carrying_its_count():
    scores = [0.05, 0.55, 0.55, 0.72, 0.95, 1.0, 1.0]

    chart = charts.histogram(scores, chart_id="quality", title="Quality score distribution")

    root = _parse(chart)
    assert root.tag == f"{SVG}svg"
    assert _bar_values(root) == [1, 0, 0, 0, 0, 2, 0, 1, 0, 3]
    assert [label for label, _ in chart.rows][:2] == ["0.0–0.1", "0.1–0.2"]
    assert [value for _, value in chart.rows] == ["1", "0", "0", "0", "0", "2", "0", "1", "0", "3"]


def test_a_chart_is_labelled_by_its_own_title_and_description():
    chart = charts.histogram(counts=[0] * 9 + [4], chart_id="q", title="Scores", description="Final scores.")

    root = _parse(chart)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "q-title q-desc"
    assert root.find(f"{SVG}title").get("id") == "q-title"
    assert root.find(f"{SVG}title").text == "Scores"
    description = root.find(f"{SVG}desc").text
    assert description.startswith("Final scores.")
    assert "Total 4" in description and "highest 4 (0.9–1.0)" in description


def test_histogram_refuses_counts_for_a_different_number_of_bins():
    with pytest.raises(ValueError, match="expected 10 counts"):
        charts.histogram(counts=[1, 2, 3], chart_id="q", title="Scores")


def test_line_chart_draws_one_point_per_value_with_exact_money_labels():
    points = [("2026-11-01", 0), ("2026-11-02", 1_500_000), ("2026-11-03", 123_456_789)]

    chart = charts.line_chart(
        points,
        chart_id="spend",
        title="Spend per day",
        value_format=lambda units: f"{Decimal(units).scaleb(-6).normalize():f}",
        unit="USDC",
    )

    root = _parse(chart)
    circles = list(root.iter(f"{SVG}circle"))
    assert [int(circle.get("data-value")) for circle in circles] == [0, 1_500_000, 123_456_789]
    assert circles[2].find(f"{SVG}title").text == "2026-11-03: 123.456789 USDC"
    assert root.find(f".//{SVG}polyline") is not None
    assert chart.rows[1] == ("2026-11-02", "1.5")
    # Higher values sit higher on the page (smaller y).
    ys = [float(circle.get("cy")) for circle in circles]
    assert ys[0] > ys[1] > ys[2]


def test_labels_are_escaped_so_the_svg_stays_well_formed():
    chart = charts.bar_chart([("<script>&", 3), ('"quoted"', 1)], chart_id="x", title="A & B <c>")

    root = _parse(chart)
    assert root.find(f"{SVG}title").text == "A & B <c>"
    assert [rect.get("data-label") for rect in root.iter(f"{SVG}rect")] == ["<script>&", '"quoted"']


def test_empty_charts_still_render_valid_svg():
    for chart in (
        charts.bar_chart([], chart_id="a", title="Nothing"),
        charts.line_chart([], chart_id="b", title="Nothing"),
        charts.histogram([], chart_id="c", title="Nothing"),
    ):
        root = _parse(chart)
        assert root.find(f"{SVG}desc").text is not None


def test_gridlines_of_integer_data_fall_on_whole_numbers_and_cover_the_maximum():
    chart = charts.bar_chart([("a", 7), ("b", 3)], chart_id="t", title="Claims")

    root = _parse(chart)
    ticks = [text.text for text in root.iter(f"{SVG}text") if text.get("class") == "y-tick"][:5]
    assert ticks == ["0", "2", "4", "6", "8"]


def test_gridlines_handle_huge_integer_amounts_exactly():
    huge = 3 * 10**24  # 3 million ETH in wei
    chart = charts.bar_chart([("a", huge)], chart_id="t", title="Spend")

    root = _parse(chart)
    ticks = [int(text.text) for text in root.iter(f"{SVG}text") if text.get("class") == "y-tick"]
    assert ticks[0] == 0 and ticks[-1] >= huge
    assert all(tick % 10**23 == 0 for tick in ticks)


@pytest.mark.parametrize("scores", [[], [0.55], [0.91, 0.95], [0.0]])
def test_the_score_histogram_axis_is_fixed_from_0_to_1_whatever_the_scores(scores):
    """The x-axis labels the bins' edges, 0.0 at the left end and 1.0 at the right end, the same
    for any data (it used to label bar middles, stopping at 0.9 with no 1.0)."""
    root = _parse(charts.histogram(scores, chart_id="q", title="Scores"))
    ticks = [(float(text.get("x")), text.text) for text in root.iter(f"{SVG}text") if text.get("class") == "x-tick"]
    bars = [rect for rect in root.iter(f"{SVG}rect") if rect.get("class") == "bar"]

    assert [label for _, label in ticks] == ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]  # at most 8 labels
    assert ticks[0][0] == charts.MARGIN_LEFT  # 0.0 at the axis's left end
    assert ticks[-1][0] == pytest.approx(charts.WIDTH - charts.MARGIN_RIGHT)  # 1.0 at its right end
    assert float(bars[0].get("x")) >= ticks[0][0] and float(bars[-1].get("x")) < ticks[-1][0]
