"""The reputation formula (0-100), pure: no database. docs/reputation.md has worked examples.

    reputation = 100 x (0.5 x quality + 0.3 x consistency + 0.2 x speed)

Each part is a weighted mean over the farmer's settled work with a **prior** worth
`PRIOR_WEIGHT` submissions at `PRIOR_VALUE`, so a newcomer starts at 50 and one lucky or
unlucky submission moves them only part of the way. Each submission's weight **decays**
with age (half-life `HALF_LIFE_DAYS`), so recent work counts more and old work fades.

- quality:     the quality score q in [0, 1]
- consistency: 1 when q clears the threshold, else 0; then x (1 - spread), where spread is
               the weighted standard deviation of q (steady work beats erratic work)
- speed:       1 when submitted within the factory's expected minutes (from the claim),
               falling linearly to 0 at 3x the expected time
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


@dataclass(frozen=True, slots=True)
class WorkRecord:
    quality_score: Decimal
    threshold: Decimal
    settled_at: datetime
    minutes_taken: float
    expected_minutes: int


def _speed(record: WorkRecord) -> float:
    ratio = record.minutes_taken / max(record.expected_minutes, 1)
    if ratio <= 1:
        return 1.0
    return max(0.0, 1.0 - (ratio - 1.0) / (SLOW_LIMIT - 1.0))


def _shrunk_mean(pairs: list[tuple[float, float]]) -> float:
    total_weight = PRIOR_WEIGHT + sum(weight for weight, _ in pairs)
    return (PRIOR_WEIGHT * PRIOR_VALUE + sum(weight * value for weight, value in pairs)) / total_weight


def reputation_compute(records: Iterable[WorkRecord], *, now: datetime) -> tuple[Decimal, dict]:
    records = list(records)[:MAX_HISTORY]
    weighted = []
    for record in records:
        age_days = max((now - record.settled_at).total_seconds(), 0) / 86400
        weighted.append((0.5 ** (age_days / HALF_LIFE_DAYS), record))

    quality = _shrunk_mean([(w, float(r.quality_score)) for w, r in weighted])
    pass_rate = _shrunk_mean([(w, 1.0 if r.quality_score >= r.threshold else 0.0) for w, r in weighted])
    if weighted:
        total = sum(w for w, _ in weighted)
        mean_q = sum(w * float(r.quality_score) for w, r in weighted) / total
        spread = math.sqrt(sum(w * (float(r.quality_score) - mean_q) ** 2 for w, r in weighted) / total)
    else:
        spread = 0.0
    consistency = pass_rate * (1.0 - min(spread, 0.5))
    speed = _shrunk_mean([(w, _speed(r)) for w, r in weighted])

    parts = {"quality": quality, "consistency": consistency, "speed": speed}
    score = 100 * sum(WEIGHTS[name] * value for name, value in parts.items())
    reputation = Decimal(str(score)).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    reputation = min(max(reputation, Decimal(0)), Decimal(100))
    breakdown = {name: {"score": f"{value:.4f}", "weight": str(WEIGHTS[name])} for name, value in parts.items()}
    breakdown["spread"] = f"{spread:.4f}"
    breakdown["submissions"] = len(records)
    breakdown["effective_weight"] = f"{sum(w for w, _ in weighted):.2f}"
    return reputation, breakdown


NEWCOMER_REPUTATION = reputation_compute([], now=datetime(2000, 1, 1))[0]


def reputation_hints(breakdown: dict) -> list[str]:
    """What would raise this score, weakest part first."""
    hints = {
        "quality": "Follow the instructions closely and finish the task: quality is half the score.",
        "consistency": "Keep every demonstration above the quality threshold; erratic scores cost points.",
        "speed": "Submit within the factory's expected time.",
    }
    ranked = sorted(WEIGHTS, key=lambda name: float(breakdown.get(name, {}).get("score", PRIOR_VALUE)))
    return [hints[name] for name in ranked]
