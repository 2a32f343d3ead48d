"""Demonstrations for the grading tests (tests/pools/test_grading_*.py), built in one place.

- `recording_data` / `recording`: a recording from its steps and length, raw or validated by
  the contract (pools.demonstrations), as the grader receives it.
- `timed_steps`: steps written as `(t, action, fields)` rows, for long recordings;
  `ending_now(seconds)`: the start of a recording that ends now.
- The honest quarterly-sales sheet of the adversarial suite and its tasks, which the other
  grading suites vary (`honest_sheet(steps=...)`).
- `paid` and `flags`: what settlement would do with a grade by default, and the gate's flags.

Every fixture here is written for the tests, never taken from the evaluation corpus.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from pools.demonstrations import demonstration_validate
from pools.grading import GradeResult, TaskContext
from pools.models import EconomicsConfig

THRESHOLD = EconomicsConfig._meta.get_field("quality_threshold").default
START = datetime(2026, 5, 4, 14, 0, tzinfo=UTC)


def recording_data(
    steps: list[dict],
    *,
    seconds: float | None = None,
    final_state: str | None = None,
    app: str = "",
    start: datetime = START,
) -> dict:
    """A recording that starts at `start` and lasts `seconds` (by default until 4 s after the
    last step), not validated. `final_state` None leaves the field out (the grader reads it as
    empty); `app` names the task's app."""
    if seconds is None:
        seconds = steps[-1]["t"] + 4.0
    data = {
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(seconds=seconds)).isoformat(),
        "steps": steps,
    }
    if final_state is not None:
        data["final_state"] = final_state
    if app:
        data["task"] = {"app": app}
    return data


def recording(steps: list[dict], **fields) -> dict:
    """`recording_data` (the same arguments), validated by the demonstration contract as the
    API does."""
    return demonstration_validate(recording_data(steps, **fields))


def ending_now(seconds: float) -> datetime:
    """The start of a recording of `seconds` that ends now: inside a claim made just before, as
    the grader's claim window wants it."""
    return timezone.now() - timedelta(seconds=seconds)


def timed_steps(rows: list[tuple[float, str, dict]]) -> list[dict]:
    """Steps from `(t, action, other fields)` rows."""
    return [{"t": t, "action": action, **fields} for t, action, fields in rows]


# ---- the honest sheet and its tasks -----------------------------------------------------

SHEET_TASK = TaskContext(
    title="Quarterly sales sheet",
    instructions=(
        'In the spreadsheet app, create a sheet named "Q2 Sales" and enter the total 48,250.75 in cell B7 '
        "for the region North. Then save it."
    ),
    expected_minutes=5,
)
CALENDAR_TASK = TaskContext(
    title="Book a meeting",
    instructions='In the calendar, book "Design review" on 14 March 2026 at 3:30 PM with ana@example.org.',
    expected_minutes=4,
)
ONE_CLICK_TASK = TaskContext(title="Accept the cookie banner", instructions='Click "Accept all".', expected_minutes=1)


def honest_sheet_steps() -> list[dict]:
    return [
        {"t": 1.4, "action": "navigate", "url": "https://sheets.example.com/new"},
        {"t": 6.9, "action": "click", "target": "Untitled spreadsheet"},
        {"t": 9.2, "action": "type", "target": "Sheet name", "text": "Q2 Sales"},
        {"t": 11.0, "action": "key", "key": "Enter"},
        {"t": 17.6, "action": "click", "target": "Cell A7"},
        {"t": 19.3, "action": "type", "target": "Cell A7", "text": "North"},
        {"t": 21.1, "action": "key", "key": "Tab"},
        {"t": 24.8, "action": "type", "target": "Cell B7", "text": "48250.75"},
        {"t": 26.0, "action": "key", "key": "Enter"},
        {"t": 31.5, "action": "key", "key": "Ctrl+S"},
    ]


HONEST_SHEET_FINAL = 'Spreadsheet "Q2 Sales" saved; A7: North, B7: 48,250.75'


def honest_sheet(**overrides) -> dict:
    """The honest sheet recording (40 s in the Sheets app), with any `recording` argument or
    `steps` replaced."""
    fields = {"seconds": 40, "final_state": HONEST_SHEET_FINAL, "app": "Sheets"}
    fields.update(overrides)
    steps = fields.pop("steps", None) or honest_sheet_steps()
    return recording(steps, **fields)


# ---- reading a grade ----------------------------------------------------------------------


def paid(result: GradeResult) -> bool:
    """What settlement does by default: pays a score at or above the default quality threshold
    unless the grade is held (the grader's own hold, or a confidence below
    FORGE_REVIEW_BELOW_CONFIDENCE)."""
    review_below = Decimal(str(settings.FORGE_REVIEW_BELOW_CONFIDENCE))
    held = bool(result.hold_reasons) or result.confidence < review_below
    return result.score >= THRESHOLD and not held


def flags(result: GradeResult) -> dict:
    return result.breakdown["gate"]["flags"]
