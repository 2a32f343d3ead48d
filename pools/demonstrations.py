"""The demonstration format: what a farmer submits, and the one validator for it.

A demonstration is a JSON object recording how a task was done on screen (see
docs/demonstration-format.md for the full format, an example and every limit). This module
owns the format's limits and `demonstration_validate`, which turns already-parsed JSON into
the normalised dict that is stored and graded, or raises a Django `ValidationError` whose
`message_dict` maps field paths (`"steps[3].t"`, `"task.screen.width"`) to messages.

It is pure Python: it reads settings for two size limits and never touches the database.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError

FORMAT_VERSION = 1
SUPPORTED_FORMAT_VERSIONS = frozenset({1})

ACTIONS = ("click", "type", "key", "scroll", "navigate", "wait")
_ACTION_SET = frozenset(ACTIONS)

# Size of the raw request body; read from settings so operators can tune it per deployment.
DEFAULT_DEMONSTRATION_MAX_BYTES = 2 * 1024 * 1024
DEFAULT_ATTACHMENT_MAX_BYTES = 200 * 1024 * 1024

MAX_DURATION_SECONDS = 24 * 60 * 60
MAX_STEPS = 10_000
# Recorders stamp `t` and `ended_at` from different clocks; allow this much disagreement.
STEP_TIME_TOLERANCE_SECONDS = 1
MAX_STEP_TEXT_CHARS = 2_000  # target, text, url
MAX_KEY_CHARS = 100  # "Ctrl+Shift+T"
MAX_LONG_TEXT_CHARS = 10_000  # notes, final_state
MAX_TASK_LABEL_CHARS = 200  # task.app, task.os
MAX_COORDINATE = 100_000  # x, y, screen sizes: far beyond any real screen, still catches garbage
MAX_SCROLL_DELTA = 1_000_000
MAX_ATTACHMENTS = 20
MAX_ATTACHMENT_NAME_CHARS = 255
ALLOWED_ATTACHMENT_CONTENT_TYPES = frozenset({"video/mp4", "video/webm", "image/png", "image/jpeg", "application/json"})
# The top-level object is depth 1, `steps` depth 2, a step depth 3. Deeply nested payloads
# cost CPU and stack in every later reader (JSONB, exports), and no real recorder needs them.
MAX_NESTING_DEPTH = 20
# A demonstration with 10,000 bad steps should not produce a 10,000-entry error response.
MAX_REPORTED_ERRORS = 50

_SHA256_RE = re.compile(r"[0-9a-f]{64}")

# Fields with a meaning in the format; anything else is kept as-is if it is plain JSON.
_STEP_STRING_FIELDS = (("target", MAX_STEP_TEXT_CHARS), ("text", MAX_STEP_TEXT_CHARS), ("url", MAX_STEP_TEXT_CHARS))
_KNOWN_STEP_FIELDS = frozenset({"t", "action", "target", "text", "url", "key", "x", "y", "dx", "dy"})
_KNOWN_TOP_LEVEL_FIELDS = frozenset(
    {"format_version", "started_at", "ended_at", "steps", "final_state", "notes", "task", "attachments"}
)

REQUIRED = "This field is required."

# A worked example (the claim page inserts it; the API schema shows it): a valid demonstration
# of "Create a spreadsheet named Budget 2026 with the headers Month, Income, Expenses".
EXAMPLE_DEMONSTRATION = {
    "format_version": 1,
    "started_at": "2026-01-12T09:30:00Z",
    "ended_at": "2026-01-12T09:31:10Z",
    "task": {"app": "Google Sheets", "os": "linux 6.1", "screen": {"width": 1920, "height": 1080}},
    "steps": [
        {"t": 0, "action": "navigate", "url": "https://docs.google.com/spreadsheets", "target": "Google Sheets"},
        {"t": 4.2, "action": "click", "target": "Blank spreadsheet", "x": 212, "y": 318},
        {"t": 9.0, "action": "click", "target": "Untitled spreadsheet", "x": 150, "y": 26},
        {"t": 10.1, "action": "type", "target": "Document title", "text": "Budget 2026"},
        {"t": 14.5, "action": "key", "key": "Enter"},
        {"t": 18.0, "action": "click", "target": "A1", "x": 96, "y": 210},
        {"t": 19.2, "action": "type", "target": "A1", "text": "Month"},
        {"t": 23.0, "action": "key", "key": "Tab"},
        {"t": 24.1, "action": "type", "target": "B1", "text": "Income"},
        {"t": 28.3, "action": "key", "key": "Tab"},
        {"t": 29.5, "action": "type", "target": "C1", "text": "Expenses"},
        {"t": 35.0, "action": "scroll", "dy": 240, "x": 960, "y": 600},
        {"t": 70.0, "action": "wait", "text": "checked the sheet saved"},
    ],
    "final_state": "Spreadsheet Budget 2026 with headers Month, Income, Expenses in row 1",
    "notes": "Recorded in Chrome on Linux.",
}


class _Errors:
    """Collects messages per field path, up to MAX_REPORTED_ERRORS paths."""

    def __init__(self) -> None:
        self.by_path: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        if path in self.by_path:
            self.by_path[path].append(message)
        elif len(self.by_path) < MAX_REPORTED_ERRORS:
            self.by_path[path] = [message]

    @property
    def full(self) -> bool:
        return len(self.by_path) >= MAX_REPORTED_ERRORS

    def __bool__(self) -> bool:
        return bool(self.by_path)


def demonstration_size_ok(raw_bytes_len: int) -> None:
    """Refuse a raw demonstration body larger than FORGE_DEMONSTRATION_MAX_BYTES."""
    limit = getattr(settings, "FORGE_DEMONSTRATION_MAX_BYTES", DEFAULT_DEMONSTRATION_MAX_BYTES)
    if raw_bytes_len > limit:
        raise ValidationError(
            {"demonstration": [f"The demonstration is {raw_bytes_len} bytes; the limit is {limit} bytes."]}
        )


def demonstration_validate(data) -> dict:
    """Validate a demonstration (already-parsed JSON; may be any Python value).

    Returns a new, normalised dict: `format_version` filled in, `started_at`/`ended_at`
    rewritten in canonical ISO 8601 (`+00:00` rather than `Z`), optional known fields that
    are null dropped. Raises `ValidationError` whose `message_dict` maps field paths to
    messages, e.g. `{"steps[3].t": [...]}` or `{"demonstration": ["..."]}`. Never writes.
    """
    if not isinstance(data, dict):
        raise ValidationError({"demonstration": ["The demonstration must be a JSON object."]})
    if not all(isinstance(key, str) for key in data):
        raise ValidationError({"demonstration": ["Object keys must be strings."]})

    errors = _Errors()
    _check_storable_text(data, errors)
    if errors:
        # Reported alone: the rest would be judged on text that can never be stored anyway.
        raise ValidationError(errors.by_path)
    result: dict = {}

    result["format_version"] = _validate_format_version(data.get("format_version"), errors)

    started_at = _parse_datetime(data, "started_at", errors)
    ended_at = _parse_datetime(data, "ended_at", errors)
    duration: float | None = None
    if started_at is not None and ended_at is not None:
        duration = (ended_at - started_at).total_seconds()
        if duration < 0:
            errors.add("ended_at", "ended_at is before started_at.")
            duration = None
        elif duration > MAX_DURATION_SECONDS:
            errors.add("ended_at", f"The demonstration lasts {duration:.0f} s; at most 24 h is allowed.")
            duration = None
    if started_at is not None:
        result["started_at"] = started_at.isoformat()
    if ended_at is not None:
        result["ended_at"] = ended_at.isoformat()

    if "steps" not in data:
        errors.add("steps", REQUIRED)
    else:
        result["steps"] = _validate_steps(data["steps"], duration, errors)

    for field in ("final_state", "notes"):
        value = data.get(field)
        if value is not None:
            _check_string(value, field, MAX_LONG_TEXT_CHARS, errors)
            result[field] = value

    if data.get("task") is not None:
        result["task"] = _validate_task(data["task"], errors)
    if data.get("attachments") is not None:
        result["attachments"] = _validate_attachments(data["attachments"], errors)

    for key, value in data.items():
        if key not in _KNOWN_TOP_LEVEL_FIELDS:
            _check_plain_json(value, key, 2, errors)
            result[key] = value

    if errors:
        raise ValidationError(errors.by_path)
    return result


def _validate_format_version(value, errors: _Errors) -> int:
    if value is None:
        return FORMAT_VERSION
    if isinstance(value, bool) or not isinstance(value, int) or value not in SUPPORTED_FORMAT_VERSIONS:
        supported = ", ".join(str(v) for v in sorted(SUPPORTED_FORMAT_VERSIONS))
        errors.add("format_version", f"Unsupported format_version {value!r}; supported: {supported}.")
        return FORMAT_VERSION
    return value


def _parse_datetime(data: dict, field: str, errors: _Errors) -> datetime | None:
    if field not in data:
        errors.add(field, REQUIRED)
        return None
    value = data[field]
    if not isinstance(value, str):
        errors.add(field, "Must be an ISO 8601 date-time string, e.g. 2026-01-05T09:30:00Z.")
        return None
    try:
        # Python 3.11's fromisoformat reads ISO 8601, including a trailing "Z".
        parsed = datetime.fromisoformat(value)
    except ValueError:
        errors.add(field, f"{value[:40]!r} is not an ISO 8601 date-time, e.g. 2026-01-05T09:30:00Z.")
        return None
    # Naive times are ambiguous (whose local time?) and cannot be compared with aware ones.
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        errors.add(field, "Must include a timezone, e.g. 2026-01-05T09:30:00Z or +01:00.")
        return None
    return parsed


def _validate_steps(steps, duration: float | None, errors: _Errors) -> list:
    if not isinstance(steps, list):
        errors.add("steps", "Must be a list of steps.")
        return []
    if not steps:
        errors.add("steps", "At least one step is required.")
        return []
    if len(steps) > MAX_STEPS:
        errors.add("steps", f"{len(steps)} steps; at most {MAX_STEPS} are allowed.")
        return []

    normalised: list[dict] = []
    previous_t: float | None = None
    for index, step in enumerate(steps):
        if errors.full:
            break
        path = f"steps[{index}]"
        if not isinstance(step, dict):
            errors.add(path, "Each step must be an object.")
            continue
        if not all(isinstance(key, str) for key in step):
            errors.add(path, "Object keys must be strings.")
            continue

        t = _validate_step_time(step, path, duration, previous_t, errors)
        if t is not None:
            previous_t = t

        if "action" not in step:
            errors.add(f"{path}.action", REQUIRED)
        elif not isinstance(step["action"], str) or step["action"] not in _ACTION_SET:
            errors.add(f"{path}.action", f"Unknown action {step['action']!r}; expected one of {', '.join(ACTIONS)}.")

        clean = {"t": step.get("t"), "action": step.get("action")}
        for field, limit in _STEP_STRING_FIELDS:
            value = step.get(field)
            if value is not None:
                _check_string(value, f"{path}.{field}", limit, errors)
                clean[field] = value
        if step.get("key") is not None:
            _check_string(step["key"], f"{path}.key", MAX_KEY_CHARS, errors)
            clean["key"] = step["key"]
        for field in ("x", "y"):
            value = step.get(field)
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COORDINATE:
                    errors.add(f"{path}.{field}", f"Must be an integer between 0 and {MAX_COORDINATE} (pixels).")
                clean[field] = value
        for field in ("dx", "dy"):
            value = step.get(field)
            if value is not None:
                if not _is_finite_number(value) or abs(value) > MAX_SCROLL_DELTA:
                    errors.add(
                        f"{path}.{field}", f"Must be a number between -{MAX_SCROLL_DELTA} and {MAX_SCROLL_DELTA}."
                    )
                clean[field] = value
        for key, value in step.items():
            if key not in _KNOWN_STEP_FIELDS:
                _check_plain_json(value, f"{path}.{key}", 4, errors)
                clean[key] = value
        normalised.append(clean)
    return normalised


def _validate_step_time(
    step: dict, path: str, duration: float | None, previous_t: float | None, errors: _Errors
) -> float | None:
    field = f"{path}.t"
    if "t" not in step:
        errors.add(field, REQUIRED)
        return None
    t = step["t"]
    if not _is_finite_number(t):
        errors.add(field, "Must be a number of seconds since started_at.")
        return None
    if t < 0:
        errors.add(field, "Must not be negative.")
        return None
    if previous_t is not None and t < previous_t:
        errors.add(field, f"Steps must be in time order; t={t} comes after t={previous_t}.")
    if duration is not None and t > duration + STEP_TIME_TOLERANCE_SECONDS:
        errors.add(field, f"t={t} is after ended_at ({duration:g} s after started_at).")
    return t


def _validate_task(task, errors: _Errors) -> dict:
    if not isinstance(task, dict) or not all(isinstance(key, str) for key in task):
        errors.add("task", 'Must be an object, e.g. {"app": "Google Sheets", "os": "macOS 15"}.')
        return {}
    for field in ("app", "os"):
        if task.get(field) is not None:
            _check_string(task[field], f"task.{field}", MAX_TASK_LABEL_CHARS, errors)
    screen = task.get("screen")
    if screen is not None:
        if not isinstance(screen, dict):
            errors.add("task.screen", 'Must be an object {"width": int, "height": int}.')
        else:
            for field in ("width", "height"):
                value = screen.get(field)
                if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COORDINATE:
                    errors.add(f"task.screen.{field}", f"Must be an integer between 1 and {MAX_COORDINATE} (pixels).")
    _check_plain_json(task, "task", 2, errors)
    return {key: value for key, value in task.items() if value is not None}


def _validate_attachments(attachments, errors: _Errors) -> list:
    if not isinstance(attachments, list):
        errors.add("attachments", "Must be a list of attachment objects.")
        return []
    if len(attachments) > MAX_ATTACHMENTS:
        errors.add("attachments", f"{len(attachments)} attachments; at most {MAX_ATTACHMENTS} are allowed.")
        return []
    max_bytes = getattr(settings, "FORGE_ATTACHMENT_MAX_BYTES", DEFAULT_ATTACHMENT_MAX_BYTES)
    seen_names: set[str] = set()
    for index, attachment in enumerate(attachments):
        path = f"attachments[{index}]"
        if not isinstance(attachment, dict) or not all(isinstance(key, str) for key in attachment):
            errors.add(path, "Each attachment must be an object {name, content_type, size, sha256}.")
            continue
        name = attachment.get("name")
        if name is None:
            errors.add(f"{path}.name", REQUIRED)
        elif _check_string(name, f"{path}.name", MAX_ATTACHMENT_NAME_CHARS, errors):
            if not name.strip():
                errors.add(f"{path}.name", "Must not be blank.")
            elif name in seen_names:
                errors.add(f"{path}.name", f"Another attachment is already named {name!r}.")
            seen_names.add(name)
        content_type = attachment.get("content_type")
        if content_type is None:
            errors.add(f"{path}.content_type", REQUIRED)
        elif not isinstance(content_type, str) or content_type not in ALLOWED_ATTACHMENT_CONTENT_TYPES:
            allowed = ", ".join(sorted(ALLOWED_ATTACHMENT_CONTENT_TYPES))
            errors.add(f"{path}.content_type", f"Content type {content_type!r} is not allowed; allowed: {allowed}.")
        size = attachment.get("size")
        if size is None:
            errors.add(f"{path}.size", REQUIRED)
        elif isinstance(size, bool) or not isinstance(size, int) or size < 1:
            errors.add(f"{path}.size", "Must be a positive integer number of bytes.")
        elif size > max_bytes:
            errors.add(f"{path}.size", f"The attachment is {size} bytes; the limit is {max_bytes} bytes.")
        digest = attachment.get("sha256")
        if digest is None:
            errors.add(f"{path}.sha256", REQUIRED)
        elif not isinstance(digest, str) or not _SHA256_RE.fullmatch(digest):
            errors.add(f"{path}.sha256", "Must be 64 lowercase hexadecimal characters (a SHA-256 digest).")
        _check_plain_json(attachment, path, 3, errors)
    return list(attachments)


def _check_string(value, path: str, max_chars: int, errors: _Errors) -> bool:
    if not isinstance(value, str):
        errors.add(path, "Must be a string.")
        return False
    if len(value) > max_chars:
        errors.add(path, f"{len(value)} characters; at most {max_chars} are allowed.")
        return False
    return True


def _is_finite_number(value) -> bool:
    # bool is an int subclass, but `true` is not a number of seconds.
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


def _check_plain_json(value, path: str, depth: int, errors: _Errors) -> None:
    """Check that `value`, found at nesting `depth`, is plain finite JSON within the depth limit.

    Iterative, so a hostile payload nested 900 levels deep cannot exhaust the stack.
    NaN/Infinity are refused: Python's json accepts them, PostgreSQL's JSONB does not.
    """
    stack: list[tuple[object, str, int]] = [(value, path, depth)]
    while stack:
        item, item_path, item_depth = stack.pop()
        if isinstance(item, dict | list):
            if item_depth > MAX_NESTING_DEPTH:
                errors.add(item_path, f"Nested too deeply; at most {MAX_NESTING_DEPTH} levels are allowed.")
                return
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str):
                        errors.add(item_path, "Object keys must be strings.")
                        return
                    if isinstance(child, dict | list | float) or not _is_scalar(child):
                        stack.append((child, f"{item_path}.{key}", item_depth + 1))
            else:
                for index, child in enumerate(item):
                    if isinstance(child, dict | list | float) or not _is_scalar(child):
                        stack.append((child, f"{item_path}[{index}]", item_depth + 1))
        elif isinstance(item, float):
            if not math.isfinite(item):
                errors.add(item_path, "NaN and Infinity are not valid JSON numbers.")
                return
        elif not _is_scalar(item):
            errors.add(item_path, f"{type(item).__name__} is not a JSON value.")
            return


# NUL: PostgreSQL's JSONB refuses \u0000 ("cannot be converted to text"). Lone surrogates
# (U+D800-U+DFFF outside a pair; json.loads decodes "\ud800" to one) have no UTF-8 encoding.
_UNSTORABLE_CHAR = re.compile("[\x00\ud800-\udfff]")


def _unstorable_text_message(text: str) -> str:
    char = _UNSTORABLE_CHAR.search(text).group()
    if char == "\x00":
        return "Contains a NUL character (\\u0000), which cannot be stored; remove it."
    return f"Contains a lone surrogate (\\u{ord(char):04x}), which is not valid Unicode text; remove it."


def _check_storable_text(data: dict, errors: _Errors) -> None:
    """Report every string and object key, at any depth, that PostgreSQL cannot store.

    Paths as elsewhere (`steps[2].target`); a bad key is reported at the object holding it
    (`demonstration` at the top). Iterative, for the reason `_check_plain_json` is: no
    recursion in Python or in C (a `json.dumps` fast path crashed the interpreter on a payload
    nested 100,000 deep). Strings decoded by json.loads from a surrogate *pair* are one
    ordinary character and pass."""
    stack: list[tuple[object, str]] = [(data, "")]
    while stack and not errors.full:
        item, path = stack.pop()
        if isinstance(item, str):
            if _UNSTORABLE_CHAR.search(item):
                errors.add(path, _unstorable_text_message(item))
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and _UNSTORABLE_CHAR.search(key):
                    errors.add(path or "demonstration", "A key: " + _unstorable_text_message(key))
                    # The path goes into the response, which must itself be valid UTF-8.
                    key = _UNSTORABLE_CHAR.sub(lambda match: f"\\u{ord(match.group()):04x}", key)
                stack.append((child, f"{path}.{key}" if path else str(key)))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{index}]") for index, child in enumerate(item))


def _is_scalar(value) -> bool:
    return value is None or isinstance(value, str | int | bool)
