"""What every grader takes and returns, and the errors a grader may raise.

A grader turns a validated demonstration plus the factory's task into a `GradeResult`: a
quality score in [0, 1] that settlement multiplies money by, so it is a `Decimal` rounded
**down** to 4 places (a rounding error never pays a farmer more than the grade earned), a
confidence, a JSON-serialisable breakdown and human-readable reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation

SCORE_PLACES = Decimal("0.0001")
SCORE_ROUNDING = ROUND_DOWN
ZERO = Decimal("0")
ONE = Decimal("1")

GRADER_RULES = "rules"
GRADER_HTTP = "http"
GRADER_MANUAL = "manual"
GRADER_JUDGE = "judge"
GRADERS = (GRADER_RULES, GRADER_HTTP, GRADER_MANUAL, GRADER_JUDGE)


class GraderUnavailable(Exception):
    """Transient: the grader could not answer now (timeout, 5xx, connection error). Retry later."""


class GraderResponseInvalid(GraderUnavailable):
    """The grading service answered, but with something we cannot use (4xx, malformed body, bad score)."""


class ManualGradingOnly(Exception):
    """FORGE_GRADER=manual: scores come only from staff or the grading service via the review endpoint."""


# Keyframes of a submission's screen recording shown to the model judge (FORGE_GRADER=judge).
MAX_KEYFRAME_IMAGES = 6
MAX_KEYFRAME_BYTES = 256 * 1024
JPEG_MAGIC = b"\xff\xd8\xff"


@dataclass(frozen=True)
class KeyframeImage:
    """One keyframe of the submission's recording as a small JPEG, for the model judge: `t` its
    time in the video (text, seconds), `purpose` why it was decoded ("final", "after typing 2")."""

    t: str
    purpose: str
    jpeg: bytes

    def is_usable(self) -> bool:
        """A JPEG (by its magic bytes) of at most MAX_KEYFRAME_BYTES: anything else is skipped."""
        return (
            isinstance(self.jpeg, bytes)
            and 0 < len(self.jpeg) <= MAX_KEYFRAME_BYTES
            and self.jpeg.startswith(JPEG_MAGIC)
        )


@dataclass(frozen=True)
class TaskContext:
    """The part of a factory a grader needs: what was asked and how long it should take.

    `checks`: the factory's success checks (`pools.grading.checks.Check`), or None to have the
    agent propose them from the instructions. `claimed_at`/`submitted_at`: the server's clock at
    claim and submission (timezone-aware), when known; the recording must fall between them.
    """

    title: str
    instructions: str
    expected_minutes: int  # >= 1
    checks: tuple | None = None
    claimed_at: datetime | None = None
    submitted_at: datetime | None = None
    # Milestones of the factory's reference demonstrations (`references.reference_milestones`),
    # one tuple of strings per reference; None or () when the creator attached none.
    references: tuple | None = None
    # The submission's evidence keyframes (`KeyframeImage`), filled by the scoring path for the
    # model judge only (pools/services/evidence.py `evidence_keyframes_read`); None otherwise.
    keyframes: tuple | None = None

    def __post_init__(self) -> None:
        if isinstance(self.expected_minutes, bool) or not isinstance(self.expected_minutes, int):
            raise TypeError("expected_minutes must be an int")
        if self.expected_minutes < 1:
            raise ValueError("expected_minutes must be at least 1")
        if self.checks is not None:
            if isinstance(self.checks, list):
                object.__setattr__(self, "checks", tuple(self.checks))  # hashable: graders cache per task
            if not isinstance(self.checks, tuple):
                raise TypeError("checks must be a tuple of Check or None")
        if self.references is not None:
            if not isinstance(self.references, list | tuple) or not all(
                isinstance(milestones, list | tuple) and all(isinstance(item, str) for item in milestones)
                for milestones in self.references
            ):
                raise TypeError("references must be a tuple of tuples of strings or None")
            object.__setattr__(self, "references", tuple(tuple(milestones) for milestones in self.references))
        if self.keyframes is not None:
            if isinstance(self.keyframes, list):
                object.__setattr__(self, "keyframes", tuple(self.keyframes))
            if not isinstance(self.keyframes, tuple) or not all(
                isinstance(frame, KeyframeImage) for frame in self.keyframes
            ):
                raise TypeError("keyframes must be a tuple of KeyframeImage or None")
        for name in ("claimed_at", "submitted_at"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
                raise ValueError(f"{name} must be a timezone-aware datetime")


@dataclass(frozen=True)
class GradeResult:
    """One grade. `score` and `confidence` are Decimals in [0, 1] with exactly 4 places.

    `breakdown` is JSON-serialisable with every number written as a string, e.g.
    `{"outcome": {"score": "0.9000", "weight": "0.4", "reasons": [...]}, ...}`.
    """

    score: Decimal
    confidence: Decimal
    breakdown: dict = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    grader: str = GRADER_RULES
    # Why the grader itself wants a person to look before money moves (e.g. a model judge that
    # disagrees with the checks). Callers hold the submission when this is non-empty.
    hold_reasons: tuple[str, ...] = ()
    rubric_version: int | None = None  # the rules grader's RUBRIC_VERSION; None for others

    def __post_init__(self) -> None:
        # Settlement trusts these invariants; a grader bug must fail loudly, not pay wrongly.
        for name in ("score", "confidence"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or not ZERO <= value <= ONE:
                raise ValueError(f"{name} must be a Decimal in [0, 1], got {value!r}")
            if value != value.quantize(SCORE_PLACES):
                raise ValueError(f"{name} must have at most 4 decimal places, got {value!r}")
        if self.grader not in GRADERS:
            raise ValueError(f"unknown grader {self.grader!r}")


def quantize_score(value: Decimal | float | int | str) -> Decimal:
    """Clamp to [0, 1] and round down to 4 places: the one rounding rule for scores.

    Floats go through a 10-decimal string first, so binary noise (0.7 stored as
    0.69999999999999995559) does not round 0.7 down to 0.6999.
    """
    if isinstance(value, float):
        value = f"{value:.10f}"
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    number = min(max(number, ZERO), ONE)
    return number.quantize(SCORE_PLACES, rounding=SCORE_ROUNDING)


def format_decimal(value: Decimal | float | int, places: int = 4) -> str:
    """A breakdown number as a string, rounded down to `places` (breakdowns carry no JSON numbers)."""
    if isinstance(value, float):
        value = f"{value:.10f}"
    return str(Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN))
