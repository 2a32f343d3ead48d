"""The reputation formula (farmers/reputation.py): docs/reputation.md's worked examples, the
prior, decay, spread, speed, one creator's share, and the hints."""

from __future__ import annotations

import itertools
import math
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from hypothesis import given
from hypothesis import strategies as st

from farmers.reputation import (
    MAX_HISTORY,
    NEWCOMER_REPUTATION,
    PRIOR_WEIGHT,
    WorkRecord,
    creator_weight_limit,
    reputation_hints,
    reputation_parts,
    speed_of,
)
from farmers.reputation import reputation_compute as _reputation_compute

DOCS = Path(__file__).resolve().parents[2] / "docs" / "reputation.md"
NEWEST = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SHARE = settings.FORGE_REPUTATION_MAX_CREATOR_SHARE  # the default, 0.25
_creators = itertools.count(1)


def work(
    q: str,
    *,
    days_before_newest: float = 0,
    minutes: float = 10,
    expected: int = 10,
    threshold="0.5",
    creator: int | None = None,
):
    """One settled submission; for a creator of its own unless `creator` is given."""
    return WorkRecord(
        quality_score=Decimal(q),
        threshold=Decimal(threshold),
        settled_at=NEWEST - timedelta(days=days_before_newest),
        minutes_taken=minutes,
        expected_minutes=expected,
        creator_id=next(_creators) if creator is None else creator,
    )


def reputation_compute(records, **options):
    """The formula with the default share for one creator (FORGE_REPUTATION_MAX_CREATOR_SHARE)."""
    return _reputation_compute(records, max_creator_share=options.pop("max_creator_share", SHARE), **options)


# (doc table label, records, quality, pass rate, spread, consistency, speed, reputation)
EXAMPLES = [
    ("newcomer, no settled work", [], "0.5000", "0.5000", "0.0000", "0.5000", "0.5000", "50.00"),
    ("one submission, q = 0.95, on time", [work("0.95")], "0.6125", "0.6250", "0.0000", "0.6250", "0.6250", "61.88"),
    (
        "one submission, q = 0.20 (rejected), 30 min",
        [work("0.20", minutes=30)],
        "0.4250",
        "0.3750",
        "0.0000",
        "0.3750",
        "0.3750",
        "40.00",
    ),
    (
        "10 submissions, q = 0.80, on time",
        [work("0.80") for _ in range(10)],
        "0.7308",
        "0.8846",
        "0.0000",
        "0.8846",
        "0.8846",
        "80.77",
    ),
    (
        "10 submissions, q = 0.80, 20 min each",
        [work("0.80", minutes=20) for _ in range(10)],
        "0.7308",
        "0.8846",
        "0.0000",
        "0.8846",
        "0.5000",
        "73.08",
    ),
    (
        "10 submissions alternating q = 0.95 / 0.45, on time",
        [work("0.95" if index % 2 else "0.45") for index in range(10)],
        "0.6538",
        "0.5000",
        "0.2193",
        "0.3904",
        "0.8846",
        "62.10",
    ),
    (
        "5 recent at q = 0.90, 10 at q = 0.30 from 90 days earlier",
        [work("0.90") for _ in range(5)] + [work("0.30", days_before_newest=90) for _ in range(10)],
        "0.6892",
        "0.7027",
        "0.1973",
        "0.5641",
        "0.8378",
        "68.14",
    ),
    (
        "10 submissions, q = 0.80, on time, all for one creator",
        [work("0.80", creator=1) for _ in range(10)],
        "0.5750",
        "0.6250",
        "0.0000",
        "0.6250",
        "0.6250",
        "60.00",
    ),
    (
        "100 submissions, q = 1, on time, all for one creator",
        [work("1", creator=1) for _ in range(100)],
        "0.6250",
        "0.6250",
        "0.0000",
        "0.6250",
        "0.6250",
        "62.50",
    ),
    (
        "100 submissions, q = 1, on time, for two creators",
        [work("1", creator=index % 2) for index in range(100)],
        "0.7500",
        "0.7500",
        "0.0000",
        "0.7500",
        "0.7500",
        "75.00",
    ),
    (
        "100 submissions, q = 1, on time, for four creators",
        [work("1", creator=index % 4) for index in range(100)],
        "0.9854",
        "0.9854",
        "0.0000",
        "0.9854",
        "0.9854",
        "98.54",
    ),
    (
        "10 recent at q = 0.30, 5 at q = 0.90 from 90 days earlier",
        [work("0.30") for _ in range(10)] + [work("0.90", days_before_newest=90) for _ in range(5)],
        "0.3716",
        "0.1560",
        "0.1247",
        "0.1365",
        "0.8899",
        "40.47",
    ),
]


@pytest.mark.parametrize(
    ("label", "records", "quality", "pass_rate", "spread", "consistency", "speed", "reputation"),
    EXAMPLES,
    ids=[example[0] for example in EXAMPLES],
)
def test_the_worked_examples_give_exactly_the_documented_numbers(
    label, records, quality, pass_rate, spread, consistency, speed, reputation
):
    score, breakdown = reputation_compute(records)

    assert score == Decimal(reputation)
    assert breakdown["quality"]["score"] == quality
    assert breakdown["pass_rate"] == pass_rate
    assert breakdown["spread"] == spread
    assert breakdown["consistency"]["score"] == consistency
    assert breakdown["speed"]["score"] == speed
    assert breakdown["submissions"] == len(records)


def test_the_documented_table_matches_the_code():
    text = DOCS.read_text()
    for label, records, *_ in EXAMPLES:
        score, breakdown = reputation_compute(records)
        row = re.search(rf"^\| {re.escape(label)} \|(.+)$", text, re.MULTILINE)
        assert row, f"docs/reputation.md has no row for {label!r}"
        cells = [cell.strip().strip("*") for cell in row.group(1).split("|") if cell.strip()]
        assert cells == [
            breakdown["quality"]["score"],
            breakdown["pass_rate"],
            breakdown["spread"],
            breakdown["consistency"]["score"],
            breakdown["speed"]["score"],
            str(score),
        ], label


def test_a_newcomer_starts_at_fifty():
    assert Decimal("50.00") == NEWCOMER_REPUTATION


@pytest.mark.parametrize("q", ["1", "0"])
def test_one_submission_moves_a_newcomer_only_a_quarter_of_the_way(q):
    minutes = 10 if q == "1" else 30  # perfect and on time, or worthless and very late
    score, breakdown = reputation_compute([work(q, minutes=minutes)])

    # Every part moves from 0.5 a quarter of the way to its value: 1 real vs 3 prior submissions.
    target = 1.0 if q == "1" else 0.0
    for part in ("quality", "consistency", "speed"):
        assert float(breakdown[part]["score"]) == pytest.approx(0.5 + (target - 0.5) / 4, abs=1e-4)
    assert score == (Decimal("62.50") if q == "1" else Decimal("37.50"))


def test_a_long_record_outweighs_the_prior():
    score, _ = reputation_compute([work("1") for _ in range(200)])
    assert score > Decimal("99")


def test_older_work_counts_less_than_recent_work():
    recent_good = [work("0.9"), work("0.3", days_before_newest=60)]
    recent_bad = [work("0.3"), work("0.9", days_before_newest=60)]

    assert reputation_compute(recent_good)[0] > reputation_compute(recent_bad)[0]


def test_weights_halve_every_thirty_days():
    _, breakdown = reputation_compute([work("0.8"), work("0.8", days_before_newest=30)])
    assert breakdown["effective_weight"] == "1.50"


def test_ages_are_measured_from_the_newest_work_so_the_same_work_gives_the_same_score():
    records = [work("0.8"), work("0.6", days_before_newest=45)]
    now_score, _ = reputation_compute(records)
    later_score, _ = reputation_compute(list(records))

    assert now_score == later_score
    # An explicit clock a year later decays everything towards the prior instead.
    assert reputation_compute(records, now=NEWEST + timedelta(days=365))[0] < now_score


def test_erratic_work_scores_below_steady_work_with_the_same_average():
    steady = [work("0.7") for _ in range(10)]
    erratic = [work("0.95" if index % 2 else "0.45") for index in range(10)]

    assert reputation_compute(erratic)[0] < reputation_compute(steady)[0]


def test_the_threshold_in_force_at_settlement_decides_passing():
    _, strict = reputation_compute([work("0.6", threshold="0.7")])
    _, lenient = reputation_compute([work("0.6", threshold="0.5")])

    assert strict["pass_rate"] < lenient["pass_rate"]


@pytest.mark.parametrize(
    ("minutes", "expected", "speed"),
    [(5, 10, 1.0), (10, 10, 1.0), (15, 10, 0.75), (20, 10, 0.5), (30, 10, 0.0), (90, 10, 0.0), (3, 0, 0.0)],
)
def test_speed_is_full_within_the_expected_time_and_zero_at_three_times_it(minutes, expected, speed):
    assert speed_of(work("0.8", minutes=minutes, expected=expected)) == pytest.approx(speed)


def test_hints_start_with_the_part_that_has_the_most_points_to_gain():
    _, breakdown = reputation_compute([work("0.8", minutes=20) for _ in range(10)])

    hints = reputation_hints(breakdown)

    assert hints[0].startswith("Follow the instructions")  # quality: 13.46 points to gain
    assert "up to 13.46 points" in hints[0]
    assert hints[1].startswith("Submit within")  # speed: 10 points
    assert hints[2].startswith("Keep every demonstration")  # consistency: 3.46 points


def test_parts_add_up_to_the_reputation():
    score, breakdown = reputation_compute([work("0.9"), work("0.4", minutes=25), work("0.7")])

    assert sum(part["points"] for part in reputation_parts(breakdown)) == pytest.approx(float(score), abs=0.02)


# ---- One creator's share (issue 20 row 2) ------------------------------------------------


@pytest.mark.parametrize(("creators", "ceiling"), [(1, "62.50"), (2, "75.00"), (3, "87.50")])
def test_k_creators_lift_a_farmer_at_most_k_times_the_share_of_fifty_points(creators, ceiling):
    """However much perfect work: 50 + 50 x k x share (the default share 0.25)."""
    records = [work("1", creator=index % creators) for index in range(MAX_HISTORY)]

    score, breakdown = reputation_compute(records)

    assert score == Decimal(ceiling)
    assert (breakdown["creators"], breakdown["limited_creators"]) == (creators, creators)


def test_enough_creators_are_not_limited_at_all():
    records = [work("1", creator=index % 4) for index in range(MAX_HISTORY)]

    _, breakdown = reputation_compute(records)

    assert breakdown["limited_creators"] == 0
    assert reputation_compute(records) == reputation_compute(records, max_creator_share=1.0)


def test_one_creators_bad_work_sinks_a_farmer_no_further_than_their_good_work_lifts():
    records = [work("0", minutes=30, creator=1) for _ in range(MAX_HISTORY)]

    assert reputation_compute(records)[0] == Decimal("37.50")


def test_one_submission_is_never_limited():
    assert reputation_compute([work("1", creator=1)])[1]["limited_creators"] == 0


def test_a_limited_creator_keeps_the_mix_of_their_work():
    """The creator's weights shrink together: their average is untouched, only its say."""
    one = [work("0.9", creator=1) for _ in range(20)] + [work("0.5", creator=1) for _ in range(20)]

    _, breakdown = reputation_compute(one)

    # quality = (3 x 0.5 + 1 x 0.7) / 4: the creator's 0.7 average counts as one submission.
    assert breakdown["quality"]["score"] == "0.5500"


def test_a_share_of_one_limits_nothing():
    records = [work("1", creator=1) for _ in range(10)]

    assert (
        reputation_compute(records, max_creator_share=1.0)[0] == reputation_compute([work("1") for _ in range(10)])[0]
    )


@pytest.mark.parametrize("share", [0, -0.1, 1.01])
def test_a_share_outside_zero_to_one_is_refused(share):
    with pytest.raises(ValueError, match="max_creator_share"):
        reputation_compute([], max_creator_share=share)


def test_a_farmer_limited_by_one_creator_is_told_to_work_for_more():
    _, breakdown = reputation_compute([work("0.8", creator=1) for _ in range(10)])

    assert reputation_hints(breakdown)[0].startswith("Work for more creators")
    assert not any(hint.startswith("Work for more") for hint in reputation_hints(reputation_compute([work("1")])[1]))


def _limit_by_bisection(weights: list[float], share: float) -> float:
    """T = share x (prior + sum of min(w, T)), found the slow, obvious way."""
    low, high = 0.0, share * (PRIOR_WEIGHT + sum(weights)) + 1
    for _ in range(200):
        middle = (low + high) / 2
        if share * (PRIOR_WEIGHT + sum(min(weight, middle) for weight in weights)) > middle:
            low = middle
        else:
            high = middle
    return high


@given(
    weights=st.lists(st.floats(min_value=0.01, max_value=200), min_size=1, max_size=12),
    share=st.floats(min_value=0.05, max_value=0.95),
)
def test_the_limit_is_the_fixed_point_and_no_limited_creator_exceeds_the_share(weights, share):
    limit = creator_weight_limit(weights, max_share=share)
    expected = _limit_by_bisection(weights, share)

    if math.isinf(limit):
        assert max(weights) <= expected * (1 + 1e-9)
    else:
        assert limit == pytest.approx(expected, rel=1e-6)
        total = PRIOR_WEIGHT + sum(min(weight, limit) for weight in weights)
        assert max(min(weight, limit) for weight in weights) / total <= share * (1 + 1e-9)
