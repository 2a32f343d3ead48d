"""Converting the recorder's input log into the demonstration format (evidence/recorder.py)."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.exceptions import ValidationError

from evidence import recorder as recorder_module
from evidence.archive import archive_open
from evidence.recorder import demonstration_from_archive, pointer_scale
from pools.demonstrations import demonstration_validate
from tests.evidence.recordings import START_MS, input_log_events, meta


def key_event(t, name, key, char=None):
    info = "" if char is None else f'UnicodeInfo {{ name: Some("{char}"), unicode: [0], is_dead: false }}'
    return {
        "event": name,
        "data": {"key": key, "actual_char": info, "layout_dependent": True, "detection_method": "rdev_cross_platform"},
        "time": START_MS + round(t * 1000),
    }


def press(t, key, char=None):
    return [key_event(t, "keydown", key, char), key_event(t + 0.05, "keyup", key, char)]


def typed(t, text, interval=0.1):
    events = []
    for i, char in enumerate(text):
        key = "Space" if char == " " else f"Key{char.upper()}" if char.isalpha() else f"Num{char}"
        events += press(t + i * interval, key, char)
    return events


def event(t, name, **data):
    return {"event": name, "data": data, "time": START_MS + round(t * 1000)}


def click(t, x, y, button="Left", up_at=None):
    up_x, up_y = up_at or (x, y)
    return [
        event(t - 0.2, "mousemove", x=x, y=y),
        event(t, "mousedown", button=button),
        event(t + 0.05, "mousemove", x=up_x, y=up_y),
        event(t + 0.08, "mouseup", button=button),
    ]


def convert(events, *, lines=(), **meta_changes) -> dict:
    log = "\n".join([json.dumps(e) for e in events] + list(lines)) + "\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("meta.json", json.dumps(meta(**meta_changes)))
        archive.writestr("input_log.jsonl", log)
    buffer.seek(0)
    with archive_open(buffer) as archive:
        return demonstration_from_archive(archive)


def steps(events, **kwargs):
    return [{k: v for k, v in s.items() if k not in ("app",)} for s in convert(events, **kwargs)["steps"]]


def test_the_recorders_own_log_converts_into_a_valid_demonstration():
    demonstration = convert(input_log_events())
    assert demonstration_validate(demonstration) == demonstration
    actions = [(s["action"], s.get("text") or s.get("key") or s.get("target")) for s in demonstration["steps"]]
    assert actions == [
        ("click", "Document title"),
        ("type", "Budget 2026"),
        ("key", "Enter"),
        ("click", "Cell A1"),
        ("type", "Month"),
        ("key", "Tab"),
        ("type", "Income"),
        ("key", "Tab"),
        ("type", "Expenses"),
        ("key", "Enter"),
        ("click", "Cell B4"),
        ("scroll", None),
    ]
    assert demonstration["started_at"] == "2026-01-12T09:30:00.250000+01:00"
    assert demonstration["ended_at"] == "2026-01-12T09:30:30.250000+01:00"
    assert demonstration["task"] == {"app": "Google Sheets", "os": "linux 6.1", "screen": {"width": 960, "height": 540}}


def test_times_are_seconds_since_the_recording_start():
    result = steps([*click(2.5, 10, 10), *typed(4.25, "ab")])
    assert [s["t"] for s in result] == [2.5, 4.25]
    assert result[1]["typed_until"] == 4.35


def test_key_runs_merge_into_one_type_step_with_capitals_from_the_recorders_character():
    events = [key_event(1.0, "keydown", "ShiftLeft"), *press(1.05, "KeyB", "B"), key_event(1.1, "keyup", "ShiftLeft")]
    events += typed(1.2, "udget 2026")
    assert steps(events) == [{"t": 1.05, "action": "type", "text": "Budget 2026", "typed_until": 2.1}]


def test_backspace_inside_a_run_removes_the_last_character():
    events = [*typed(1.0, "Budgte"), *press(1.7, "Backspace"), *press(1.8, "Backspace"), *typed(1.9, "et")]
    [step] = steps(events)
    assert step["text"] == "Budget" and step["corrections"] == 2


def test_a_backspace_with_nothing_typed_is_a_key_step():
    assert steps(press(1.0, "Backspace")) == [{"t": 1.0, "action": "key", "key": "Backspace"}]


def test_chords_become_key_steps_named_like_the_format():
    events = [key_event(1.0, "keydown", "MetaLeft"), *press(1.1, "KeyA", "a"), key_event(1.2, "keyup", "MetaLeft")]
    events += [key_event(2.0, "keydown", "ControlLeft"), key_event(2.01, "keydown", "ShiftLeft")]
    events += [*press(2.1, "KeyT", "T"), key_event(2.2, "keyup", "ShiftLeft"), key_event(2.3, "keyup", "ControlLeft")]
    events += [key_event(3.0, "keydown", "ShiftLeft"), *press(3.1, "Tab", "\\t"), key_event(3.2, "keyup", "ShiftLeft")]
    assert [s["key"] for s in steps(events)] == ["Meta+A", "Ctrl+Shift+T", "Shift+Tab"]


def test_a_chord_ends_the_typing_run_around_it():
    events = [*typed(1.0, "ab"), key_event(1.5, "keydown", "ControlLeft"), *press(1.6, "KeyC")]
    events += [key_event(1.7, "keyup", "ControlLeft"), *typed(2.0, "cd")]
    assert [(s["action"], s.get("text") or s.get("key")) for s in steps(events)] == [
        ("type", "ab"),
        ("key", "Ctrl+C"),
        ("type", "cd"),
    ]


def test_modifiers_alone_and_caps_lock_are_no_steps():
    events = [*press(1.0, "ShiftLeft"), *press(1.5, "MetaRight"), *press(2.0, "CapsLock"), *press(3.0, "Return", "\\r")]
    assert steps(events) == [{"t": 3.0, "action": "key", "key": "Enter"}]


def test_a_key_held_down_is_one_step_with_its_repeat_count():
    events = [key_event(1.0 + i * 0.03, "keydown", "DownArrow") for i in range(5)]
    events.append(key_event(1.2, "keyup", "DownArrow"))
    events += press(2.0, "DownArrow")
    assert steps(events) == [
        {"t": 1.0, "action": "key", "key": "ArrowDown", "repeat": 5},
        {"t": 2.0, "action": "key", "key": "ArrowDown"},
    ]


def test_a_long_pause_splits_typing_and_stays_a_gap_not_a_wait_step():
    events = [*typed(1.0, "ab"), *typed(40.0, "cd")]
    result = steps(events, duration_seconds=60)
    assert [(s["t"], s["text"]) for s in result] == [(1.0, "ab"), (40.0, "cd")]
    assert all(s["action"] != "wait" for s in result)


def test_without_the_recorders_character_the_us_layout_is_used():
    events = [key_event(1.0, "keydown", "Shift"), key_event(1.05, "keydown", "KeyH")]
    events += [key_event(1.1, "keyup", "KeyH"), key_event(1.15, "keyup", "Shift")]
    events += [key_event(1.2, "keydown", "KeyI"), key_event(1.3, "keydown", "Num1"), key_event(1.4, "keydown", "Space")]
    events += [key_event(1.5, "keydown", "Shift"), key_event(1.6, "keydown", "Num1"), key_event(1.7, "keyup", "Shift")]
    [step] = steps(events)
    assert step["text"] == "Hi1 !"


def test_a_dead_key_types_nothing_and_the_composed_character_is_kept():
    dead = key_event(1.0, "keydown", "Quote")
    dead["data"]["actual_char"] = 'UnicodeInfo { name: Some("´"), unicode: [180], is_dead: true }'
    events = [dead, key_event(1.1, "keyup", "Quote"), *press(1.2, "KeyE", "é")]
    assert steps(events) == [{"t": 1.2, "action": "type", "text": "é", "typed_until": 1.2}]


def test_escaped_characters_from_rust_debug_output_are_unescaped():
    events = [*press(1.0, "Quote", '\\"'), *press(1.1, "BackSlash", "\\\\"), *press(1.2, "KeyX", "\\u{e9}")]
    assert steps(events)[0]["text"] == '"\\é'


def test_a_press_and_release_make_one_click_at_the_pointer():
    assert steps(click(2.0, 300.4, 200.6)) == [{"t": 2.0, "action": "click", "x": 300, "y": 201}]


def test_a_double_click_is_one_step_with_a_click_count():
    result = steps([*click(2.0, 300, 200), *click(2.3, 301, 200)])
    assert result == [{"t": 2.0, "action": "click", "x": 300, "y": 200, "clicks": 2}]


def test_a_drag_and_a_right_click_keep_their_details():
    result = steps([*click(2.0, 100, 100, up_at=(400, 120)), *click(4.0, 50, 60, button="Right")])
    assert result[0]["drag_to"] == {"x": 400, "y": 120}
    assert result[1]["button"] == "right"


def test_negative_pointer_positions_on_another_screen_clamp_to_zero():
    assert steps(click(2.0, -300, 50))[0]["x"] == 0


def test_a_press_whose_release_was_lost_is_still_a_click():
    events = [event(1.0, "mousemove", x=5, y=6), event(1.1, "mousedown", button="Left")]
    assert steps(events) == [{"t": 1.1, "action": "click", "x": 5, "y": 6}]


def dump(t, nodes, app="Google Chrome"):
    children = [
        {"name": name, "role": role, "bbox": {"x": x, "y": y, "width": w, "height": h}, "children": []}
        for name, role, (x, y, w, h) in nodes
    ]
    window = {"name": "Window on display 0", "role": "window", "bbox": {"x": 0, "y": 0, "width": 2000, "height": 2000}}
    window["children"] = children
    tree = [
        {"name": app, "role": "application", "bbox": {"x": 0, "y": 0, "width": 0, "height": 0}, "children": [window]}
    ]
    return {
        "event": "axtree_interaction",
        "time": START_MS + round(t * 1000),
        "data": {"tree": tree, "focused_app": {"name": app}},
    }


def test_a_click_takes_the_deepest_labelled_element_of_the_dump_taken_for_it():
    nodes = [("Toolbar", "AXGroup", (0, 0, 800, 100)), ("Blank spreadsheet", "AXButton", (150, 20, 120, 60))]
    events = [*click(2.0, 200, 50), dump(2.4, nodes)]
    [step] = convert(events)["steps"]
    assert step["target"] == "Blank spreadsheet"
    assert step["target_role"] == "AXButton"
    assert step["app"] == "Google Chrome"


def test_without_a_dump_after_the_click_the_last_one_before_it_is_used():
    events = [dump(0.5, [("Cell A1", "AXCell", (50, 100, 150, 36))]), *click(2.0, 60, 110), *typed(7.0, "x")]
    result = convert(events)["steps"]
    assert result[0]["target"] == "Cell A1"
    assert result[1]["target"] == "Cell A1"  # the typing went where the click went


def test_generic_window_names_are_not_targets():
    [step] = convert([*click(2.0, 1500, 1500), dump(2.2, [])])["steps"]
    assert "target" not in step and step["app"] == "Google Chrome"


def test_wheel_events_merge_into_one_scroll_with_the_formats_sign():
    events = [event(1.0, "mousemove", x=10, y=20)]
    events += [event(2.0 + i * 0.2, "mousewheel", delta=1.0) for i in range(3)]
    events += [event(5.0, "mousewheel", delta=-2.5)]
    assert steps(events) == [
        {"t": 2.0, "action": "scroll", "x": 10, "y": 20, "dy": -3},
        {"t": 5.0, "action": "scroll", "x": 10, "y": 20, "dy": 2.5},
    ]


def test_unknown_events_and_broken_lines_are_counted_never_an_error():
    events = [*click(1.0, 5, 5), event(1.5, "joystickaxis", id=1, axis="X", value=0.5), event(1.6, "mousedelta", x=3)]
    events.append({"event": "ffmpeg_stderr", "data": {"output": "frame=1"}, "time": START_MS})
    recorder = convert(events, lines=["{broken", "[1]", '{"data": {}}', '{"event": "keydown", "time": "soon"}'])[
        "recorder"
    ]
    assert recorder["unknown_events"] == {"joystickaxis": 1}
    assert recorder["unknown_samples"][0]["event"] == "joystickaxis"
    assert recorder["ignored_events"] == {"ffmpeg_stderr": 1, "mousedelta": 1}
    assert recorder["unreadable_lines"] == 3
    assert [s["problem"] for s in recorder["unreadable_samples"]][1:] == ["not a JSON object", "no 'event' name"]
    assert recorder["untimed_events"] == 1
    assert recorder["events"]["mousedown"] == 1


def test_events_stamped_more_than_a_day_after_the_start_are_not_steps():
    result = convert([*click(1.0, 5, 5), *click(90_000.0, 6, 6)])
    assert len(result["steps"]) == 1
    assert result["recorder"]["untimed_events"] == 4  # the far moves, press and release


def test_events_before_the_recording_start_count_at_zero():
    result = convert([*click(-3.0, 5, 5)])
    assert result["steps"][0]["t"] == 0
    assert result["recorder"]["events_before_start"] >= 1


def test_steps_after_the_recorded_duration_stretch_the_end():
    result = convert([*click(45.0, 5, 5)], duration_seconds=30)
    assert result["ended_at"] == "2026-01-12T09:30:45.330000+01:00"


def test_a_log_with_no_input_is_refused_clearly():
    with pytest.raises(ValidationError) as caught:
        convert([event(1.0, "mousemove", x=1, y=1)])
    assert "has no clicks, key presses or scrolls" in caught.value.message_dict["input_log"][0]


def test_a_log_converting_into_too_many_steps_is_refused(monkeypatch):
    monkeypatch.setattr(recorder_module, "MAX_STEPS", 5)
    events = [e for i in range(6) for e in click(1.0 + i, 10 * i, 10)]
    with pytest.raises(ValidationError) as caught:
        convert(events)
    assert "more than 5 steps" in caught.value.message_dict["input_log"][0]


def test_macos_pointer_points_are_doubled_on_a_retina_video():
    demonstration = convert(click(1.0, 700, 400), platform="macos")
    assert pointer_scale(demonstration, 2880, 1800) == 2.0
    assert pointer_scale(demonstration, 1280, 800) == 1.0  # 700 points would not fit in half of it
    assert pointer_scale(convert(click(1.0, 700, 400)), 2880, 1800) == 1.0
