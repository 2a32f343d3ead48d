"""The demonstration format: the contract minimum is accepted, every rejection names its field."""

from __future__ import annotations

import copy
import json
import math
from datetime import datetime
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from pools.demonstrations import (
    ACTIONS,
    ALLOWED_ATTACHMENT_CONTENT_TYPES,
    MAX_ATTACHMENTS,
    MAX_LONG_TEXT_CHARS,
    MAX_NESTING_DEPTH,
    MAX_REPORTED_ERRORS,
    MAX_STEP_TEXT_CHARS,
    MAX_STEPS,
    demonstration_size_ok,
    demonstration_validate,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "demonstrations"


def load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def minimal(**overrides) -> dict:
    """A one-minute demonstration in the contract's minimum shape."""
    demonstration = {
        "started_at": "2026-01-12T09:30:00Z",
        "ended_at": "2026-01-12T09:31:00Z",
        "steps": [
            {"t": 0, "action": "navigate", "target": "https://docs.google.com/spreadsheets"},
            {"t": 5.5, "action": "click", "target": "Blank spreadsheet"},
            {"t": 12, "action": "type", "target": "Document title", "text": "Budget 2026"},
        ],
    }
    demonstration.update(overrides)
    return demonstration


def with_step(index: int, **fields) -> dict:
    demonstration = minimal()
    demonstration["steps"][index].update(fields)
    return demonstration


def errors_of(data) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        demonstration_validate(data)
    return caught.value.message_dict


def assert_rejected(data, path: str, fragment: str) -> None:
    """Rejected with exactly one field path, whose message mentions `fragment`."""
    errors = errors_of(data)
    assert list(errors) == [path], errors
    assert any(fragment.lower() in message.lower() for message in errors[path]), errors


# ---- accepted -----------------------------------------------------------------------------------


def test_contract_minimum_is_accepted_and_normalised():
    data = load("contract_minimum.json")
    result = demonstration_validate(data)
    assert result["format_version"] == 1
    assert result["steps"] == data["steps"]
    assert result["started_at"] == "2026-01-12T09:30:00+00:00"


def test_contract_minimum_with_every_optional_contract_field_is_accepted():
    data = minimal(final_state="Spreadsheet Budget 2026 created", notes="Recorded on a laptop")
    result = demonstration_validate(data)
    assert result["final_state"] == "Spreadsheet Budget 2026 created"
    assert result["notes"] == "Recorded on a laptop"


def test_trailing_z_and_offsets_are_read_as_the_same_instant():
    result = demonstration_validate(minimal(started_at="2026-01-12T10:30:00+01:00", ended_at="2026-01-12T09:31:00Z"))
    started = datetime.fromisoformat(result["started_at"])
    ended = datetime.fromisoformat(result["ended_at"])
    assert (ended - started).total_seconds() == 60
    assert result["ended_at"] == "2026-01-12T09:31:00+00:00"


def test_validation_does_not_modify_its_input():
    data = minimal(notes=None)
    snapshot = copy.deepcopy(data)
    demonstration_validate(data)
    assert data == snapshot


def test_null_optional_fields_are_dropped():
    data = minimal(notes=None, final_state=None)
    data["steps"][0]["text"] = None
    result = demonstration_validate(data)
    assert "notes" not in result
    assert "final_state" not in result
    assert "text" not in result["steps"][0]


@pytest.mark.parametrize("name", ["sheets_budget_good.json", "sheets_budget_mediocre.json", "sheets_budget_junk.json"])
def test_example_demonstrations_are_valid(name):
    data = load(name)
    result = demonstration_validate(data)
    assert len(result["steps"]) == len(data["steps"])
    json.dumps(result, allow_nan=False)


def test_extended_fields_are_kept():
    data = load("sheets_budget_good.json")
    result = demonstration_validate(data)
    assert result["task"] == data["task"]
    assert result["attachments"] == data["attachments"]
    assert result["steps"][0]["url"].startswith("https://docs.google.com/")
    assert result["steps"][2]["x"] == 212
    assert result["steps"][4]["key"] == "Meta+A"


def test_scroll_deltas_may_be_negative_or_fractional():
    result = demonstration_validate(with_step(1, action="scroll", dy=-120.5, dx=3))
    assert result["steps"][1]["dy"] == -120.5


def test_unknown_keys_are_kept_when_they_are_plain_json():
    data = minimal(recorder={"name": "forge-recorder", "version": "0.3.1", "plugins": [1, 2.5, None, True]})
    data["steps"][1]["modifiers"] = ["shift"]
    result = demonstration_validate(data)
    assert result["recorder"]["version"] == "0.3.1"
    assert result["steps"][1]["modifiers"] == ["shift"]


def test_a_step_at_ended_at_plus_the_tolerance_is_accepted():
    # ended_at is one minute after started_at; recorder clocks may disagree by up to a second.
    demonstration_validate(with_step(2, t=61))


def test_strings_at_their_limits_are_accepted():
    data = minimal(notes="n" * MAX_LONG_TEXT_CHARS, final_state="f" * MAX_LONG_TEXT_CHARS)
    data["steps"][0]["target"] = "t" * MAX_STEP_TEXT_CHARS
    data["steps"][0]["text"] = "x" * MAX_STEP_TEXT_CHARS
    demonstration_validate(data)


def test_max_steps_is_accepted():
    steps = [{"t": index * 0.001, "action": "click"} for index in range(MAX_STEPS)]
    result = demonstration_validate(minimal(steps=steps))
    assert len(result["steps"]) == MAX_STEPS


def test_nesting_up_to_the_limit_is_accepted():
    nested: list = []
    for _ in range(MAX_NESTING_DEPTH - 2):  # the top-level object is level 1, the key's value level 2
        nested = [nested]
    demonstration_validate(minimal(extra=nested))


# ---- rejected: the whole document -------------------------------------------------------------------


@pytest.mark.parametrize("data", [None, [], "a string", 3, 2.5, True, [minimal()]])
def test_a_demonstration_that_is_not_an_object_is_rejected(data):
    assert_rejected(data, "demonstration", "must be a JSON object")


@pytest.mark.parametrize("field", ["started_at", "ended_at", "steps"])
def test_missing_required_fields_are_rejected(field):
    data = minimal()
    del data[field]
    assert_rejected(data, field, "required")


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01T00:00:00Z", "", "12/01/2026 09:30"])
def test_unparseable_datetimes_are_rejected(value):
    assert_rejected(minimal(started_at=value), "started_at", "not an ISO 8601 date-time")


@pytest.mark.parametrize("value", [1736674200, None, ["2026-01-12T09:30:00Z"]])
def test_datetimes_that_are_not_strings_are_rejected(value):
    assert_rejected(minimal(ended_at=value), "ended_at", "ISO 8601 date-time string")


def test_naive_datetimes_are_rejected():
    errors = errors_of(load("invalid_naive_datetimes.json"))
    assert set(errors) == {"started_at", "ended_at"}
    assert "timezone" in errors["started_at"][0]


def test_a_naive_datetime_next_to_an_aware_one_is_rejected():
    assert_rejected(minimal(ended_at="2026-01-12T09:31:00"), "ended_at", "must include a timezone")


def test_ended_before_started_is_rejected():
    assert_rejected(minimal(ended_at="2026-01-12T09:29:59Z"), "ended_at", "before started_at")


def test_a_demonstration_longer_than_24_hours_is_rejected():
    assert_rejected(minimal(ended_at="2026-01-13T09:30:01Z"), "ended_at", "at most 24 h")


def test_exactly_24_hours_is_accepted():
    demonstration_validate(minimal(ended_at="2026-01-13T09:30:00Z"))


@pytest.mark.parametrize("value", [2, 0, "1", True])
def test_unsupported_format_versions_are_rejected(value):
    assert_rejected(minimal(format_version=value), "format_version", "unsupported format_version")


def test_zero_steps_are_rejected():
    assert_rejected(minimal(steps=[]), "steps", "at least one step")


@pytest.mark.parametrize("value", [{"t": 0, "action": "click"}, "click", None])
def test_steps_that_are_not_a_list_are_rejected(value):
    assert_rejected(minimal(steps=value), "steps", "must be a list")


def test_more_than_the_maximum_number_of_steps_is_rejected():
    steps = [{"t": 0, "action": "click"}] * (MAX_STEPS + 1)
    assert_rejected(minimal(steps=steps), "steps", f"at most {MAX_STEPS}")


@pytest.mark.parametrize("length", [MAX_LONG_TEXT_CHARS + 1])
@pytest.mark.parametrize("field", ["notes", "final_state"])
def test_long_texts_over_the_limit_are_rejected(field, length):
    assert_rejected(minimal(**{field: "x" * length}), field, f"at most {MAX_LONG_TEXT_CHARS}")


@pytest.mark.parametrize("field", ["notes", "final_state"])
def test_long_texts_must_be_strings(field):
    assert_rejected(minimal(**{field: ["done"]}), field, "must be a string")


# ---- rejected: steps -----------------------------------------------------------------------------


@pytest.mark.parametrize("step", ["click", 3, None, ["click", 1.5]])
def test_a_step_that_is_not_an_object_is_rejected(step):
    data = minimal()
    data["steps"][1] = step
    assert_rejected(data, "steps[1]", "must be an object")


@pytest.mark.parametrize("action", ["drag", "Click", "", 3, None, ["click"]])
def test_unknown_actions_are_rejected(action):
    assert_rejected(with_step(1, action=action), "steps[1].action", "unknown action")


def test_a_step_without_an_action_is_rejected():
    data = minimal()
    del data["steps"][2]["action"]
    assert_rejected(data, "steps[2].action", "required")


def test_a_step_without_t_is_rejected():
    data = minimal()
    del data["steps"][1]["t"]
    assert_rejected(data, "steps[1].t", "required")


@pytest.mark.parametrize("t", ["5", True, False, None, math.nan, math.inf, -math.inf, [5], {"s": 5}])
def test_t_must_be_a_finite_number(t):
    assert_rejected(with_step(1, t=t), "steps[1].t", "must be a number")


def test_negative_t_is_rejected():
    assert_rejected(with_step(0, t=-0.5), "steps[0].t", "must not be negative")


def test_steps_out_of_time_order_are_rejected():
    errors = errors_of(load("invalid_steps_out_of_order.json"))
    assert list(errors) == ["steps[2].t"]
    assert "time order" in errors["steps[2].t"][0]


def test_a_step_after_ended_at_is_rejected():
    assert_rejected(with_step(2, t=61.5), "steps[2].t", "after ended_at")


@pytest.mark.parametrize("field", ["target", "text", "url"])
def test_step_strings_over_the_limit_are_rejected(field):
    assert_rejected(with_step(1, **{field: "x" * (MAX_STEP_TEXT_CHARS + 1)}), f"steps[1].{field}", "at most 2000")


@pytest.mark.parametrize("field", ["target", "text", "url", "key"])
def test_step_strings_must_be_strings(field):
    assert_rejected(with_step(1, **{field: 42}), f"steps[1].{field}", "must be a string")


@pytest.mark.parametrize("value", [-1, 1.5, True, "10", 100_001])
@pytest.mark.parametrize("field", ["x", "y"])
def test_coordinates_must_be_non_negative_integers(field, value):
    assert_rejected(with_step(1, **{field: value}), f"steps[1].{field}", "must be an integer")


@pytest.mark.parametrize("value", ["down", True, math.nan, 10**9])
def test_scroll_deltas_must_be_finite_numbers(value):
    assert_rejected(with_step(1, action="scroll", dy=value), "steps[1].dy", "must be a number")


def test_every_bad_step_is_reported_with_its_own_path():
    data = minimal()
    data["steps"][0]["action"] = "teleport"
    data["steps"][2]["t"] = "late"
    errors = errors_of(data)
    assert set(errors) == {"steps[0].action", "steps[2].t"}


def test_the_number_of_reported_errors_is_capped():
    steps = [{"t": 0, "action": "fly"} for _ in range(500)]
    errors = errors_of(minimal(steps=steps))
    assert len(errors) == MAX_REPORTED_ERRORS


# ---- rejected: extensions ----------------------------------------------------------------------------


def test_task_must_be_an_object():
    assert_rejected(minimal(task="Google Sheets"), "task", "must be an object")


@pytest.mark.parametrize("value", [0, -5, "1512", 1.5, None])
def test_task_screen_sizes_must_be_positive_integers(value):
    data = minimal(task={"app": "Chrome", "screen": {"width": value, "height": 982}})
    assert_rejected(data, "task.screen.width", "must be an integer")


def test_task_labels_must_be_short_strings():
    assert_rejected(minimal(task={"os": "x" * 201}), "task.os", "at most 200")


def attachment(**overrides) -> dict:
    return {
        "name": "screen.webm",
        "content_type": "video/webm",
        "size": 18_734_112,
        "sha256": "9f2c5e0b7a1d4c3e8f6a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e",
    } | overrides


@pytest.mark.parametrize("content_type", sorted(ALLOWED_ATTACHMENT_CONTENT_TYPES))
def test_each_allowed_attachment_type_is_accepted(content_type):
    demonstration_validate(minimal(attachments=[attachment(content_type=content_type)]))


def test_attachments_must_be_a_list():
    assert_rejected(minimal(attachments=attachment()), "attachments", "must be a list")


def test_too_many_attachments_are_rejected():
    attachments = [attachment(name=f"shot-{index}.png") for index in range(MAX_ATTACHMENTS + 1)]
    assert_rejected(minimal(attachments=attachments), "attachments", f"at most {MAX_ATTACHMENTS}")


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("content_type", "application/x-msdownload", "is not allowed"),
        ("content_type", "VIDEO/MP4", "is not allowed"),
        ("size", 0, "positive integer"),
        ("size", "12 MB", "positive integer"),
        ("size", 200 * 1024 * 1024 + 1, "the limit is"),
        ("sha256", "9F2C5E0B7A1D4C3E8F6A2B1C0D9E8F7A6B5C4D3E2F1A0B9C8D7E6F5A4B3C2D1E", "lowercase hexadecimal"),
        ("sha256", "abc123", "lowercase hexadecimal"),
        ("name", "", "must not be blank"),
        ("name", 7, "must be a string"),
    ],
)
def test_bad_attachment_fields_are_rejected(field, value, fragment):
    assert_rejected(minimal(attachments=[attachment(**{field: value})]), f"attachments[0].{field}", fragment)


@pytest.mark.parametrize("field", ["name", "content_type", "size", "sha256"])
def test_attachment_fields_are_required(field):
    item = attachment()
    del item[field]
    assert_rejected(minimal(attachments=[item]), f"attachments[0].{field}", "required")


def test_attachment_names_must_be_unique():
    assert_rejected(minimal(attachments=[attachment(), attachment()]), "attachments[1].name", "already named")


def test_the_attachment_size_limit_comes_from_settings(settings):
    settings.FORGE_ATTACHMENT_MAX_BYTES = 1000
    demonstration_validate(minimal(attachments=[attachment(size=1000)]))
    assert_rejected(minimal(attachments=[attachment(size=1001)]), "attachments[0].size", "the limit is 1000")


def test_nesting_deeper_than_the_limit_is_rejected():
    nested: list = []
    for _ in range(MAX_NESTING_DEPTH):
        nested = [nested]
    errors = errors_of(minimal(extra=nested))
    [(path, messages)] = errors.items()
    assert path.startswith("extra[0]")
    assert "nested too deeply" in messages[0].lower()


def test_deep_nesting_inside_a_step_is_rejected():
    nested: dict = {}
    for _ in range(MAX_NESTING_DEPTH):
        nested = {"a": nested}
    errors = errors_of(with_step(1, meta=nested))
    [path] = errors
    assert path.startswith("steps[1].meta")


def test_a_hostile_deeply_nested_payload_does_not_exhaust_the_stack():
    nested: list = []
    for _ in range(100_000):
        nested = [nested]
    errors = errors_of(minimal(extra=nested))
    assert len(errors) == 1


@pytest.mark.parametrize("value", [math.nan, math.inf, {"a": [1, -math.inf]}])
def test_unknown_keys_with_nan_or_infinity_are_rejected(value):
    errors = errors_of(minimal(extra=value))
    [path] = errors
    assert path.startswith("extra")
    assert "NaN" in errors[path][0]


@pytest.mark.parametrize("value", [{1, 2}, datetime(2026, 1, 1), b"bytes", (1, 2), {1: "int key"}])
def test_unknown_keys_that_are_not_plain_json_are_rejected(value):
    errors = errors_of(minimal(extra=value))
    assert list(errors) == ["extra"]


def test_non_string_top_level_keys_are_rejected():
    data = minimal()
    data[1] = "one"
    assert_rejected(data, "demonstration", "keys must be strings")


# ---- size ----------------------------------------------------------------------------------------


def test_size_at_the_default_limit_is_accepted():
    demonstration_size_ok(2 * 1024 * 1024)


def test_size_over_the_default_limit_is_rejected():
    with pytest.raises(ValidationError) as caught:
        demonstration_size_ok(2 * 1024 * 1024 + 1)
    assert list(caught.value.message_dict) == ["demonstration"]
    assert "limit is 2097152 bytes" in caught.value.message_dict["demonstration"][0]


def test_the_size_limit_comes_from_settings(settings):
    settings.FORGE_DEMONSTRATION_MAX_BYTES = 100
    demonstration_size_ok(100)
    with pytest.raises(ValidationError):
        demonstration_size_ok(101)


# ---- anything at all ---------------------------------------------------------------------------

_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20)
)
_json_values = st.recursive(
    _json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=30,
)


def _mostly(valid: st.SearchStrategy) -> st.SearchStrategy:
    """Usually `valid`, sometimes any JSON value: both the accepted and the refused paths get exercised."""
    # one_of() does not pick its branches evenly, so choose the branch explicitly.
    return st.sampled_from([True] * 9 + [False]).flatmap(lambda use_valid: valid if use_valid else _json_values)


_step_like = st.fixed_dictionaries(
    {"t": _mostly(st.just(0)), "action": _mostly(st.sampled_from(ACTIONS))},
    optional={
        "target": _mostly(st.text(max_size=20)),
        "x": _mostly(st.integers(0, 4000)),
        "dy": _mostly(st.floats(-500, 500)),
        "meta": _json_values,
    },
)
_demonstration_like = st.fixed_dictionaries(
    {
        "started_at": _mostly(st.just("2026-01-12T09:30:00Z")),
        "ended_at": _mostly(st.sampled_from(["2026-01-12T09:32:00+00:00", "2026-01-12T09:30:00.5Z"])),
        "steps": _mostly(st.lists(_mostly(_step_like), min_size=1, max_size=4)),
    },
    optional={
        "task": _mostly(st.fixed_dictionaries({"app": st.text(max_size=10)})),
        "format_version": _mostly(st.just(1)),
        "extra": _json_values,
    },
)


@hypothesis_settings(max_examples=300, deadline=None)
@given(data=_json_values | _demonstration_like)
def test_any_json_value_is_either_accepted_as_plain_json_or_refused_with_field_errors(data):
    try:
        result = demonstration_validate(data)
    except ValidationError as error:
        assert error.message_dict
        assert all(isinstance(message, str) for messages in error.message_dict.values() for message in messages)
    else:
        json.dumps(result, allow_nan=False)
        assert result["format_version"] == 1
        assert 1 <= len(result["steps"]) <= MAX_STEPS
