"""The reputation formula (0-100), pure: no database. docs/reputation.md has worked examples.

    reputation = 100 x (0.5 x quality + 0.3 x consistency + 0.2 x speed)

Each part is a weighted mean over the farmer's settled work (paid or rejected) **shrunk
towards a prior**: `PRIOR_WEIGHT` imaginary submissions worth `PRIOR_VALUE`. A newcomer
therefore starts at 50, and one lucky or unlucky submission moves them only part of the way
(a quarter of the distance with the defaults: 1 real submission against 3 imaginary ones).

Each submission's weight **decays** with its age (half-life `HALF_LIFE_DAYS`), so recent
work counts more and old work fades. Ages are measured from the farmer's most recent settled
work, not from the wall clock: the score changes only when new work settles (or a score is
corrected), so recomputing it is idempotent, and a farmer who takes a break keeps the score
they earned instead of drifting back to the newcomer's 50.

- quality:     the quality score q in [0, 1]
- consistency: how reliably work clears the quality threshold in force when it settled
               (1 if q >= threshold, else 0), times (1 - spread), where spread is the weighted
               standard deviation of q, shrunk by the prior's weight as well (so two early
               scores that differ do not halve a newcomer's consistency)
- speed:       1 when submitted within the factory's expected minutes (measured from the
               claim), falling linearly to 0 at `SLOW_LIMIT` x the expected time

**No creator counts for more than a share** of the evidence (`max_creator_share`, the setting
FORGE_REPUTATION_MAX_CREATOR_SHARE, 0.25): a creator whose work weighs more than that share of
the total (the prior included) has their submissions' weights scaled down to it. One creator,
however much work they buy, then moves a farmer at most 50 x share points from 50 (62.5 with
the default); k creators at most k times that. A creator the farmer is linked to (a sock puppet
we can see) counts for nothing at all; this cap bounds the ones we cannot see
(docs/reputation.md, "One creator's share").

The numbers are floats (this is a score, never money), rounded once at the end to two
decimals, half to even.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

WEIGHTS = {"quality": 0.5, "consistency": 0.3, "speed": 0.2}
PRIOR_VALUE = 0.5
PRIOR_WEIGHT = 3.0
HALF_LIFE_DAYS = 30.0
SLOW_LIMIT = 3.0  # speed reaches 0 at this multiple of the expected time
MAX_HISTORY = 200  # the newest settled submissions considered

LABELS = {"quality": "Quality", "consistency": "Consistency", "speed": "Speed"}


@dataclass(frozen=True, slots=True)
class WorkRecord:
    """One settled submission, as the formula sees it."""

    quality_score: Decimal
    threshold: Decimal
    settled_at: datetime
    minutes_taken: float
    expected_minutes: int
    creator_id: int  # whose factory it was for: no single creator counts beyond a share


def speed_of(record: WorkRecord) -> float:
    ratio = max(record.minutes_taken, 0.0) / max(record.expected_minutes, 1)
    if ratio <= 1:
        return 1.0
    return max(0.0, 1.0 - (ratio - 1.0) / (SLOW_LIMIT - 1.0))


def decay_weight(age_days: float) -> float:
    """A submission's weight: 1 for the newest work, halving every `HALF_LIFE_DAYS`."""
    return 0.5 ** (max(age_days, 0.0) / HALF_LIFE_DAYS)


def _shrunk_mean(pairs: list[tuple[float, float]]) -> float:
    total_weight = PRIOR_WEIGHT + sum(weight for weight, _ in pairs)
    return (PRIOR_WEIGHT * PRIOR_VALUE + sum(weight * value for weight, value in pairs)) / total_weight


def _shrunk_spread(pairs: list[tuple[float, float]]) -> float:
    """Weighted standard deviation of the values, with the prior's weight in the denominator:
    little evidence of erratic work counts for little."""
    if not pairs:
        return 0.0
    own_weight = sum(weight for weight, _ in pairs)
    mean = sum(weight * value for weight, value in pairs) / own_weight
    variance = sum(weight * (value - mean) ** 2 for weight, value in pairs) / (PRIOR_WEIGHT + own_weight)
    return math.sqrt(variance)


def creator_weight_limit(creator_weights: Iterable[float], *, max_share: float) -> float:
    """The most weight one creator may carry: the T with T = max_share x (prior + sum of
    min(weight, T)), so that no creator, once limited, is more than `max_share` of the total.
    Infinite when nothing needs limiting (or max_share >= 1).

    The right side minus T is concave in T and positive at 0, so there is exactly one such T;
    it is found piece by piece, limiting the heaviest creators first."""
    if max_share >= 1:
        return math.inf
    heaviest_first = sorted(creator_weights, reverse=True)
    unlimited = sum(heaviest_first)
    for limited, weight in enumerate(heaviest_first):
        # `limited` creators weigh T each, the rest what they weigh: solve the linear piece.
        # (Fewer than 1 / max_share creators are ever limited: each would be a full share.)
        limit = max_share * (PRIOR_WEIGHT + unlimited) / (1 - limited * max_share)
        if weight <= limit:
            return math.inf if limited == 0 else limit
        unlimited -= weight
    return max_share * PRIOR_WEIGHT / (1 - len(heaviest_first) * max_share)


def reputation_compute(
    records: Iterable[WorkRecord], *, max_creator_share: float, now: datetime | None = None
) -> tuple[Decimal, dict]:
    """(reputation, breakdown) for a farmer's settled work, newest first.

    `now` is the moment ages are measured from; by default the newest record's settlement
    (see the module docstring for why). `max_creator_share` (0 < share <= 1) is the most of the
    evidence any one creator's work may be; 1 limits nothing."""
    if not 0 < max_creator_share <= 1:
        raise ValueError(f"max_creator_share must be in (0, 1], not {max_creator_share!r}")
    records = list(records)[:MAX_HISTORY]
    if now is None and records:
        now = max(record.settled_at for record in records)
    weighted = [(decay_weight((now - record.settled_at).total_seconds() / 86400), record) for record in records]

    by_creator: dict[int, float] = {}
    for weight, record in weighted:
        by_creator[record.creator_id] = by_creator.get(record.creator_id, 0.0) + weight
    limit = creator_weight_limit(by_creator.values(), max_share=max_creator_share)
    limited = {creator for creator, total in by_creator.items() if total > limit}
    weighted = [
        (weight * limit / by_creator[record.creator_id] if record.creator_id in limited else weight, record)
        for weight, record in weighted
    ]

    scores = [(weight, float(record.quality_score)) for weight, record in weighted]
    quality = _shrunk_mean(scores)
    pass_rate = _shrunk_mean([(w, 1.0 if r.quality_score >= r.threshold else 0.0) for w, r in weighted])
    spread = _shrunk_spread(scores)
    consistency = pass_rate * (1.0 - spread)
    speed = _shrunk_mean([(w, speed_of(r)) for w, r in weighted])

    parts = {"quality": quality, "consistency": consistency, "speed": speed}
    score = 100 * sum(WEIGHTS[name] * value for name, value in parts.items())
    reputation = Decimal(repr(score)).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    reputation = min(max(reputation, Decimal(0)), Decimal(100))
    breakdown = {name: {"score": f"{value:.4f}", "weight": str(WEIGHTS[name])} for name, value in parts.items()}
    breakdown["pass_rate"] = f"{pass_rate:.4f}"
    breakdown["spread"] = f"{spread:.4f}"
    breakdown["submissions"] = len(records)
    breakdown["effective_weight"] = f"{sum(w for w, _ in weighted):.2f}"
    breakdown["creators"] = len(by_creator)
    breakdown["limited_creators"] = len(limited)
    return reputation, breakdown


NEWCOMER_REPUTATION = reputation_compute([], max_creator_share=1.0)[0]

_HINTS = {
    "quality": "Follow the instructions closely and finish the task: quality is half the score.",
    "consistency": "Keep every demonstration above the quality threshold; erratic scores cost points.",
    "speed": "Submit within the factory's expected time, counted from your claim.",
}


def reputation_parts(breakdown: dict) -> list[dict]:
    """The three parts for display: name, label, score (0-1), weight, points now (0-100 scale)
    and `headroom`, the most points that part could still add."""
    rows = []
    for name, weight in WEIGHTS.items():
        value = float((breakdown.get(name) or {}).get("score", PRIOR_VALUE))
        rows.append(
            {
                "name": name,
                "label": LABELS[name],
                "score": value,
                "weight": weight,
                "points": round(100 * weight * value, 2),
                "headroom": round(100 * weight * (1 - value), 2),
            }
        )
    return rows


_MORE_CREATORS_HINT = (
    "Work for more creators: one creator's work counts for only a share of your score, however much you do for them."
)


def reputation_hints(breakdown: dict) -> list[str]:
    """What would raise this score, the part with the most points to gain first; first of all,
    working for more creators when one creator's work was limited to its share."""
    ranked = sorted(reputation_parts(breakdown), key=lambda part: -part["headroom"])
    hints = [f"{_HINTS[part['name']]} (up to {part['headroom']:g} points)" for part in ranked if part["headroom"] > 0]
    return [_MORE_CREATORS_HINT, *hints] if breakdown.get("limited_creators") else hints
