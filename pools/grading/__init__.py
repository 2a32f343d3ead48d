"""Grading: turn a validated demonstration into a quality score (the Data Quality Agent).

`grade` is the one entry point; it dispatches on `settings.FORGE_GRADER`:

- `rules` (default): the built-in deterministic rubric in `rules.py`;
- `http`: an outside grading service (`http.py`), configured by FORGE_GRADER_HTTP_URL,
  _KEY, _TIMEOUT (seconds per attempt) and _RETRIES;
- `manual`: raises `ManualGradingOnly`; scores arrive through the review endpoint;
- `judge`: the rules grader plus a model judge on any OpenAI-compatible chat-completions
  endpoint (`judge.py`), configured by FORGE_GRADER_JUDGE_URL, _KEY, _MODEL, _TIMEOUT and
  _RETRIES; the rules' checks bind and disagreement holds for review.

Pure Python, no database: callers (the score task) load the submission and record the result.
"""

from __future__ import annotations

from django.conf import settings

from . import http, judge, rules
from .base import (
    GRADER_HTTP,
    GRADER_JUDGE,
    GRADER_MANUAL,
    GRADER_RULES,
    GRADERS,
    GradeResult,
    GraderResponseInvalid,
    GraderUnavailable,
    ManualGradingOnly,
    TaskContext,
    quantize_score,
)

__all__ = [
    "GRADERS",
    "GRADER_HTTP",
    "GRADER_JUDGE",
    "GRADER_MANUAL",
    "GRADER_RULES",
    "GradeResult",
    "GraderResponseInvalid",
    "GraderUnavailable",
    "ManualGradingOnly",
    "TaskContext",
    "grade",
    "quantize_score",
]

DEFAULT_GRADER = GRADER_RULES
DEFAULT_HTTP_TIMEOUT_SECONDS = 10.0
DEFAULT_HTTP_RETRIES = 2
DEFAULT_JUDGE_MODEL = "default"
DEFAULT_JUDGE_TIMEOUT_SECONDS = 60.0


def grade(demonstration: dict, *, task: TaskContext) -> GradeResult:
    """Grade with the configured grader. Raises GraderUnavailable (retry later) or ManualGradingOnly."""
    grader = getattr(settings, "FORGE_GRADER", DEFAULT_GRADER)
    if grader == GRADER_RULES:
        return rules.grade(demonstration, task=task)
    if grader == GRADER_HTTP:
        return http.grade(
            demonstration,
            task=task,
            url=getattr(settings, "FORGE_GRADER_HTTP_URL", ""),
            api_key=getattr(settings, "FORGE_GRADER_HTTP_KEY", ""),
            timeout=float(getattr(settings, "FORGE_GRADER_HTTP_TIMEOUT", DEFAULT_HTTP_TIMEOUT_SECONDS)),
            retries=int(getattr(settings, "FORGE_GRADER_HTTP_RETRIES", DEFAULT_HTTP_RETRIES)),
        )
    if grader == GRADER_JUDGE:
        return judge.grade(
            demonstration,
            task=task,
            url=getattr(settings, "FORGE_GRADER_JUDGE_URL", ""),
            api_key=getattr(settings, "FORGE_GRADER_JUDGE_KEY", ""),
            model=getattr(settings, "FORGE_GRADER_JUDGE_MODEL", DEFAULT_JUDGE_MODEL),
            timeout=float(getattr(settings, "FORGE_GRADER_JUDGE_TIMEOUT", DEFAULT_JUDGE_TIMEOUT_SECONDS)),
            retries=int(getattr(settings, "FORGE_GRADER_JUDGE_RETRIES", DEFAULT_HTTP_RETRIES)),
        )
    if grader == GRADER_MANUAL:
        raise ManualGradingOnly("FORGE_GRADER=manual: scores come only from POST /api/v1/submissions/{id}/review/.")
    # A typo in FORGE_GRADER must not silently pay or refuse anyone.
    raise ValueError(f"Unknown FORGE_GRADER {grader!r}; expected one of {', '.join(GRADERS)}.")
