"""The outside grading service client (FORGE_GRADER=http).

Request: `POST <url>` with `Authorization: Bearer <api_key>` and JSON
`{"demonstration": {...}, "task": {"title", "instructions", "expected_minutes"}}`.
Response: 200 `{"quality_score": "0.83" | 0.83, "confidence"?: ..., "breakdown"?: {...},
"reasons"?: [...]}`.

Failures are split by what the caller should do (see docs/quality-agent.md):
- timeouts, connection errors, 5xx: retried here `retries` times with a short exponential
  backoff, then `GraderUnavailable` (transient: the score task retries later);
- 4xx, a body that is not the JSON above, a score outside [0, 1]: `GraderResponseInvalid`
  at once (asking again would get the same answer).
Scores are parsed exactly (`Decimal(str(x))`) and rounded down to 4 places.
"""

from __future__ import annotations

import logging
import math
import time
from decimal import Decimal, InvalidOperation

import httpx

from .base import (
    GRADER_HTTP,
    ONE,
    ZERO,
    GradeResult,
    GraderResponseInvalid,
    GraderUnavailable,
    TaskContext,
    quantize_score,
)

logger = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 0.2  # attempt n waits BACKOFF_BASE_SECONDS * 2**n before the next one
BACKOFF_MAX_SECONDS = 5.0
# The service's reasons are shown to farmers and creators: keep them bounded.
MAX_REASONS = 20
MAX_REASON_CHARS = 500
MAX_BREAKDOWN_DEPTH = 10
# Without a confidence the service vouches for its score like a human would.
DEFAULT_CONFIDENCE = ONE


def grade(
    demonstration: dict, *, task: TaskContext, url: str, api_key: str, timeout: float, retries: int
) -> GradeResult:
    """Ask the grading service; `timeout` is per attempt, `retries` extra attempts after the first."""
    if not url:
        raise GraderUnavailable("FORGE_GRADER=http but FORGE_GRADER_HTTP_URL is not set.")
    payload = {
        "demonstration": demonstration,
        "task": {
            "title": task.title,
            "instructions": task.instructions,
            "expected_minutes": task.expected_minutes,
        },
    }
    return _parse_response(post_with_retries(url, payload, api_key=api_key, timeout=timeout, retries=retries))


def post_with_retries(url: str, payload: dict, *, api_key: str, timeout: float, retries: int) -> httpx.Response:
    """POST JSON; a 200 response, or GraderUnavailable (transient) / GraderResponseInvalid (4xx).

    Shared by the outside grading service and the model judge: the same timeouts, retries and
    backoff, the same split between "ask again later" and "asking again will not help".
    """
    headers = {"Accept": "application/json"}
    if api_key:
        # "Bearer " with nothing after it is not even a legal header value; send none instead.
        headers["Authorization"] = f"Bearer {api_key}"
    attempts = max(0, retries) + 1
    last_problem = ""
    with httpx.Client(timeout=timeout) as client:
        for attempt in range(attempts):
            if attempt:
                time.sleep(min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)))
            try:
                response = client.post(url, json=payload, headers=headers)
            except httpx.TimeoutException:
                last_problem = f"timed out after {timeout:g} s"
            except httpx.TransportError as error:
                last_problem = f"connection failed ({type(error).__name__})"
            else:
                if response.status_code >= 500:
                    last_problem = f"answered HTTP {response.status_code}"
                elif response.status_code != 200:
                    # 4xx (bad key, payload refused) will not fix itself by asking again.
                    raise GraderResponseInvalid(
                        f"Grading service answered HTTP {response.status_code}: {response.text[:200]}"
                    )
                else:
                    return response
            logger.warning("grading service attempt %d/%d %s", attempt + 1, attempts, last_problem)
    raise GraderUnavailable(f"Grading service unavailable: {last_problem} ({attempts} attempts).")


def _parse_response(response: httpx.Response) -> GradeResult:
    try:
        body = response.json()
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise GraderResponseInvalid(f"Grading service answered non-JSON: {response.text[:200]!r}") from None
    if not isinstance(body, dict):
        raise GraderResponseInvalid("Grading service answered JSON that is not an object.")
    if "quality_score" not in body:
        raise GraderResponseInvalid("Grading service answer has no quality_score.")
    score = _parse_unit_decimal(body["quality_score"], "quality_score")
    confidence = (
        DEFAULT_CONFIDENCE if body.get("confidence") is None else _parse_unit_decimal(body["confidence"], "confidence")
    )

    breakdown = body.get("breakdown") or {}
    if not isinstance(breakdown, dict):
        raise GraderResponseInvalid("Grading service breakdown is not an object.")
    reasons = body.get("reasons") or []
    if not isinstance(reasons, list) or not all(isinstance(reason, str) for reason in reasons):
        raise GraderResponseInvalid("Grading service reasons are not a list of strings.")

    return GradeResult(
        score=quantize_score(score),
        confidence=quantize_score(confidence),
        breakdown=_stringify_numbers(breakdown, depth=1),
        reasons=[reason[:MAX_REASON_CHARS] for reason in reasons[:MAX_REASONS]],
        grader=GRADER_HTTP,
    )


def _parse_unit_decimal(value, field: str) -> Decimal:
    """A number or decimal string in [0, 1], read exactly (0.83 -> Decimal("0.83"), not its binary twin)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise GraderResponseInvalid(f"Grading service {field} is not a number: {value!r}.")
    if isinstance(value, float) and not math.isfinite(value):
        raise GraderResponseInvalid(f"Grading service {field} is not finite: {value!r}.")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise GraderResponseInvalid(f"Grading service {field} is not a number: {value!r}.") from None
    if not number.is_finite() or not ZERO <= number <= ONE:
        raise GraderResponseInvalid(f"Grading service {field} {value!r} is outside [0, 1].")
    return number


def _stringify_numbers(value, *, depth: int):
    """The breakdown as stored: plain JSON with every number written as a string."""
    if depth > MAX_BREAKDOWN_DEPTH:
        raise GraderResponseInvalid("Grading service breakdown is nested too deeply.")
    if isinstance(value, dict):
        return {str(key): _stringify_numbers(child, depth=depth + 1) for key, child in value.items()}
    if isinstance(value, list):
        return [_stringify_numbers(child, depth=depth + 1) for child in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise GraderResponseInvalid("Grading service breakdown contains NaN or Infinity.")
    return str(Decimal(str(value)))
