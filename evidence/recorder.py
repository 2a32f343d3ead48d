"""The recorder's input log, converted into the demonstration format: the one place that does it.

docs/recorder-archive.md has the field-by-field tables; in short, reading input_log.jsonl in
order (one streaming pass, so a long log never sits in memory):

- printable key presses (the character the recorder saw, or the US-layout character of the key
  when it saw none) run together into one `type` step; Backspace inside a run removes the last
  character, as on screen. A run ends at any other step or after TYPE_RUN_GAP_SECONDS of quiet.
- a key pressed with Ctrl or Meta held (or Alt, when it types no character) becomes a `key`
  step named like the format's examples (`Meta+A`, `Ctrl+Shift+T`); Enter, Tab, Escape, arrows,
  function keys and a Backspace with nothing to delete become `key` steps too. A key held down
  (auto-repeat) is one step with `repeat: n`. Modifiers alone, Caps Lock and Num Lock are no step.
- a mouse press and its release become one `click` step at the press, with the pointer position
  (`x`, `y`, the last `mousemove`); a second click within CLICK_MERGE_SECONDS at the same place
  raises `clicks` instead of adding a step; a release far from the press adds `drag_to`. The
  click's `target` is the label of the deepest element under the pointer in the accessibility
  dump the recorder took for that click (the first dump within AXTREE_AFTER_SECONDS, else the
  last one before it), with `target_role` and the focused `app` when the dump names them.
- wheel events close together become one `scroll` step; `dy` is the summed wheel delta with
  the format's sign (negative is up; the recorder's positive is up).
- pauses stay gaps between step times: the grader measures idle time from gaps, and a
  synthesised `wait` step would count the same pause twice (waits are noise in the rubric).
  No `navigate` step is produced: the recorder logs no addresses.

Every line is counted under `recorder.events`; events that carry no step (`mousemove`,
`mousedelta`, `ffmpeg_stderr`, ...) are counted under `recorder.ignored_events`, events of a type
this module does not know under `recorder.unknown_events` (with a few samples), lines that are
not JSON objects under `recorder.unreadable_lines`: kept in the demonstration, never an error.
Times are seconds since meta.json's `timestamp` (the recording start).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.exceptions import ValidationError

from pools.demonstrations import (
    MAX_COORDINATE,
    MAX_DURATION_SECONDS,
    MAX_KEY_CHARS,
    MAX_STEP_TEXT_CHARS,
    MAX_STEPS,
    MAX_TASK_LABEL_CHARS,
    demonstration_validate,
)

from .archive import INPUT_LOG_NAME, VIDEO_NAME, InputLine, RecorderArchive, VideoFile

RECORDER_NAME = "clones-desktop"
TYPE_RUN_GAP_SECONDS = 5.0
CLICK_MERGE_SECONDS = 0.5
CLICK_MERGE_PIXELS = 4
DRAG_PIXELS = 8
SCROLL_MERGE_SECONDS = 1.0
AXTREE_AFTER_SECONDS = 3.0
AXTREE_BEFORE_SECONDS = 10.0
MAX_AXTREE_NODES = 5_000
MAX_AXTREE_DEPTH = 100
MAX_TARGET_CHARS = 200
MAX_SAMPLES = 10
MAX_SAMPLE_CHARS = 300
MAX_EVENT_NAMES = 50

KEY_EVENTS = frozenset({"keydown", "keyup"})
MOUSE_EVENTS = frozenset({"mousedown", "mouseup", "mousemove", "mousewheel"})
AXTREE_EVENTS = frozenset({"axtree_interaction", "axtree_pre_recording", "axtree_post_recording"})
# Logged by the recorder but carrying no step: relative motion (Windows raw input), FFmpeg's output.
IGNORED_EVENTS = frozenset({"mousedelta", "ffmpeg_stderr", "ffmpeg_stdout"})

# Key names: rdev's (macOS/Linux, `KeyA`, `ShiftLeft`) and multiinput's (Windows, `A`, `Shift`).
_MODIFIERS = {
    "ShiftLeft": "Shift",
    "ShiftRight": "Shift",
    "Shift": "Shift",
    "LeftShift": "Shift",
    "RightShift": "Shift",
    "ControlLeft": "Ctrl",
    "ControlRight": "Ctrl",
    "Control": "Ctrl",
    "LeftCtrl": "Ctrl",
    "RightCtrl": "Ctrl",
    "MetaLeft": "Meta",
    "MetaRight": "Meta",
    "Meta": "Meta",
    "Super": "Meta",
    "Cmd": "Meta",
    "LeftWindows": "Meta",
    "RightWindows": "Meta",
    "Alt": "Alt",
    "LeftAlt": "Alt",
    "RightAlt": "Alt",
    "AltGr": "AltGr",
    "Function": "Fn",
}
_CHORD_ORDER = ("Ctrl", "Alt", "Shift", "Meta")
_NO_STEP_KEYS = frozenset({"CapsLock", "NumLock", "Numlock", "ScrollLock"})
_NAMED_KEYS = {
    "Return": "Enter",
    "KpReturn": "Enter",
    "Enter": "Enter",
    "Escape": "Escape",
    "Tab": "Tab",
    "Backspace": "Backspace",
    "Delete": "Delete",
    "Insert": "Insert",
    "Home": "Home",
    "End": "End",
    "PageUp": "PageUp",
    "PageDown": "PageDown",
    "UpArrow": "ArrowUp",
    "DownArrow": "ArrowDown",
    "LeftArrow": "ArrowLeft",
    "RightArrow": "ArrowRight",
    "Up": "ArrowUp",
    "Down": "ArrowDown",
    "Left": "ArrowLeft",
    "Right": "ArrowRight",
    "PrintScreen": "PrintScreen",
    "Pause": "Pause",
    "Space": "Space",
}
# The character of a key on a US layout, used only when the recorder saw no character (Windows).
_US_CHARS = {
    "Space": (" ", " "),
    "Minus": ("-", "_"),
    "Equal": ("=", "+"),
    "Plus": ("=", "+"),
    "Comma": (",", "<"),
    "Dot": (".", ">"),
    "FullStop": (".", ">"),
    "Slash": ("/", "?"),
    "ForwardSlash": ("/", "?"),
    "SemiColon": (";", ":"),
    "Quote": ("'", '"'),
    "Apostrophe": ("'", '"'),
    "BackQuote": ("`", "~"),
    "BackTick": ("`", "~"),
    "LeftBracket": ("[", "{"),
    "LeftSquareBracket": ("[", "{"),
    "RightBracket": ("]", "}"),
    "RightSquareBracket": ("]", "}"),
    "BackSlash": ("\\", "|"),
    "KpMinus": ("-", "-"),
    "KpPlus": ("+", "+"),
    "KpMultiply": ("*", "*"),
    "KpDivide": ("/", "/"),
    "KpDecimal": (".", "."),
}
_US_SHIFTED_DIGITS = ")!@#$%^&*("
_WORD_DIGITS = ("Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine")
_RUST_NAME_RE = re.compile(r'name: Some\("((?:[^"\\]|\\.)*)"\)')
_RUST_ESCAPE_RE = re.compile(r"\\(u\{[0-9a-fA-F]{1,6}\}|.)")
_RUST_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "0": "\0", "\\": "\\", '"': '"', "'": "'"}
_GENERIC_LABEL_RE = re.compile(r"^(Window on display \d+|Application|Focused Application)$")


@dataclass
class _Node:
    depth: int
    x: float
    y: float
    width: float
    height: float
    label: str
    role: str

    def contains(self, x: float, y: float) -> bool:
        return self.x <= x <= self.x + self.width and self.y <= y <= self.y + self.height


@dataclass
class _Dump:
    t: float
    nodes: list[_Node]
    app: str | None


@dataclass
class _TypeRun:
    t: float
    last_t: float
    chars: list[str] = field(default_factory=list)
    corrections: int = 0


@dataclass
class _Press:
    t: float
    button: str
    x: float | None
    y: float | None


class _Converter:
    """The streaming state of one conversion; `feed` each line in order, then `finish`."""

    def __init__(self, started_ms: float):
        self.started_ms = started_ms
        self.steps: list[dict] = []
        self.events: Counter[str] = Counter()
        self.ignored: Counter[str] = Counter()
        self.unknown: Counter[str] = Counter()
        self.unmatched: Counter[str] = Counter()
        self.unknown_samples: list[dict] = []
        self.unreadable = 0
        self.unreadable_samples: list[dict] = []
        self.untimed = 0
        self.before_start = 0
        self.pointer: tuple[float, float] | None = None
        self.max_pointer = (0.0, 0.0)
        self.held: set[str] = set()
        self.down_keys: set[str] = set()
        self.last_keydown: str | None = None
        self.run: _TypeRun | None = None
        self.presses: dict[str, _Press] = {}
        self.last_click: dict | None = None
        self.last_click_press_t = -math.inf
        self.scroll: dict | None = None
        self.last_dump: _Dump | None = None
        self.pending: list[tuple[dict, _Dump | None]] = []
        self.last_t = 0.0

    # -- input ---------------------------------------------------------------------------

    def feed(self, line: InputLine) -> None:
        if line.problem is not None:
            self._unreadable(line.number, line.problem)
            return
        value = line.value
        name = value.get("event")
        if not isinstance(name, str) or not name:
            self._unreadable(line.number, "no 'event' name")
            return
        self._count(self.events, name)
        if name in IGNORED_EVENTS:
            self._count(self.ignored, name)
            return
        known = name in KEY_EVENTS or name in MOUSE_EVENTS or name in AXTREE_EVENTS
        if not known:
            self._count(self.unknown, name)
            if len(self.unknown_samples) < MAX_SAMPLES:
                raw = json.dumps(value, ensure_ascii=False, sort_keys=True)
                self.unknown_samples.append({"line": line.number, "event": name[:64], "json": raw[:MAX_SAMPLE_CHARS]})
            return
        t = self._time(value.get("time"))
        if t is None:
            self.untimed += 1
            return
        data = value.get("data")
        data = data if isinstance(data, dict) else {}
        self.last_t = max(self.last_t, t)
        self._resolve_pending(t, None)
        if name == "keydown":
            self._keydown(t, data)
        elif name == "keyup":
            self._keyup(data)
        elif name == "mousemove":
            self._mousemove(data)
        elif name == "mousedown":
            self._mousedown(t, data)
        elif name == "mouseup":
            self._mouseup(t, data)
        elif name == "mousewheel":
            self._wheel(t, data)
        else:
            self._axtree(t, data)

    def finish(self) -> list[dict]:
        self._flush_run()
        self._flush_scroll()
        for press in list(self.presses.values()):  # pressed when the recording stopped
            self._click(press, press.x, press.y)
        self.presses.clear()
        self._resolve_pending(math.inf, None)
        self.steps.sort(key=lambda step: step["t"])  # stable: log order breaks ties
        # Typing goes where the last click went, until a key (Tab, Enter, ...) moves the focus.
        clicked = None
        for step in self.steps:
            if step["action"] == "click":
                clicked = step.get("target")
            elif step["action"] == "key":
                clicked = None
            elif step["action"] == "type" and clicked and "target" not in step:
                step["target"] = clicked
        return self.steps

    # -- keys ------------------------------------------------------------------------------

    def _keydown(self, t: float, data: dict) -> None:
        key = data.get("key")
        if not isinstance(key, str) or not key:
            self._count(self.unmatched, "keydown without key")
            return
        repeat = key in self.down_keys and self.last_keydown == key
        self.down_keys.add(key)
        self.last_keydown = key
        modifier = _MODIFIERS.get(key)
        if modifier is not None:
            self.held.add(modifier)
            return
        if key in _NO_STEP_KEYS or _is_dead(data.get("actual_char")):
            return  # a dead key types with the next key, which carries the composed character
        chord_mods = self.held & {"Ctrl", "Meta"}
        char = _character(data.get("actual_char"), key, shift="Shift" in self.held)
        if not chord_mods and char is not None and not ("Alt" in self.held and not char.strip()):
            self._flush_scroll()
            self._type(t, char)
            return
        if key == "Backspace" and not self.held - {"Shift"} and self.run is not None and self.run.chars:
            self.run.chars.pop()
            self.run.corrections += 1
            self.run.last_t = t
            return
        name = _key_name(key)
        mods = [mod for mod in _CHORD_ORDER if mod in self.held]
        combo = "+".join([*mods, name])[:MAX_KEY_CHARS]
        previous = self.steps[-1] if self.steps else None
        if repeat and previous is not None and previous["action"] == "key" and previous["key"] == combo:
            previous["repeat"] = previous.get("repeat", 1) + 1
            return
        self._add({"t": t, "action": "key", "key": combo})

    def _keyup(self, data: dict) -> None:
        key = data.get("key")
        if not isinstance(key, str):
            return
        self.down_keys.discard(key)
        if self.last_keydown == key:
            self.last_keydown = None
        modifier = _MODIFIERS.get(key)
        if modifier is not None and not any(_MODIFIERS.get(other) == modifier for other in self.down_keys):
            self.held.discard(modifier)

    def _type(self, t: float, char: str) -> None:
        run = self.run
        if run is not None and t - run.last_t > TYPE_RUN_GAP_SECONDS:
            self._flush_run()
            run = None
        if run is None:
            run = self.run = _TypeRun(t=t, last_t=t)
        run.chars.append(char)
        run.last_t = t

    def _flush_run(self) -> None:
        run, self.run = self.run, None
        if run is None or not run.chars:
            return
        text = "".join(run.chars)[:MAX_STEP_TEXT_CHARS]
        step = {"t": run.t, "action": "type", "text": text, "typed_until": round(run.last_t, 3)}
        if run.corrections:
            step["corrections"] = run.corrections
        self._append(step)

    # -- mouse -----------------------------------------------------------------------------

    def _mousemove(self, data: dict) -> None:
        x, y = data.get("x"), data.get("y")
        if _finite(x) and _finite(y):
            self.pointer = (float(x), float(y))
            self.max_pointer = (max(self.max_pointer[0], float(x)), max(self.max_pointer[1], float(y)))

    def _mousedown(self, t: float, data: dict) -> None:
        button = _button(data)
        x, y = self.pointer if self.pointer else (None, None)
        if button in self.presses:  # a press whose release was lost: it was still a click
            old = self.presses.pop(button)
            self._click(old, old.x, old.y)
        self.presses[button] = _Press(t=t, button=button, x=x, y=y)

    def _mouseup(self, t: float, data: dict) -> None:
        button = _button(data)
        press = self.presses.pop(button, None)
        if press is None:
            self._count(self.unmatched, "mouseup without mousedown")
            return
        x, y = self.pointer if self.pointer else (press.x, press.y)
        self._click(press, x, y)

    def _click(self, press: _Press, up_x: float | None, up_y: float | None) -> None:
        last = self.last_click
        if (
            last is not None
            and self.steps
            and self.steps[-1] is last
            and last.get("button", "left") == press.button
            and press.t - self.last_click_press_t <= CLICK_MERGE_SECONDS
            and _near(last.get("x"), last.get("y"), press.x, press.y, CLICK_MERGE_PIXELS)
        ):
            last["clicks"] = last.get("clicks", 1) + 1
            self.last_click_press_t = press.t
            return
        step: dict = {"t": press.t, "action": "click"}
        if press.x is not None and press.y is not None:
            step["x"] = _pixel(press.x)
            step["y"] = _pixel(press.y)
            if up_x is not None and up_y is not None and not _near(press.x, press.y, up_x, up_y, DRAG_PIXELS):
                step["drag_to"] = {"x": _pixel(up_x), "y": _pixel(up_y)}
        if press.button != "left":
            step["button"] = press.button
        self._add(step)
        self.last_click = step
        self.last_click_press_t = press.t
        dump = self.last_dump if self.last_dump and press.t - self.last_dump.t <= AXTREE_BEFORE_SECONDS else None
        self.pending.append((step, dump))

    def _wheel(self, t: float, data: dict) -> None:
        delta = data.get("delta")
        if not _finite(delta):
            self._count(self.unmatched, "mousewheel without delta")
            return
        scroll = self.scroll
        if scroll is not None and t - scroll["_last_t"] <= SCROLL_MERGE_SECONDS:
            scroll["dy"] -= float(delta)
            scroll["_last_t"] = t
            return
        self._flush_scroll()
        self._flush_run()
        scroll = {"t": t, "action": "scroll", "dy": -float(delta), "_last_t": t}
        if self.pointer:
            scroll["x"], scroll["y"] = _pixel(self.pointer[0]), _pixel(self.pointer[1])
        self.scroll = scroll

    def _flush_scroll(self) -> None:
        scroll, self.scroll = self.scroll, None
        if scroll is None:
            return
        scroll.pop("_last_t")
        scroll["dy"] = _number(max(-1_000_000.0, min(1_000_000.0, scroll["dy"])))
        self._append(scroll)

    # -- accessibility dumps ---------------------------------------------------------------

    def _axtree(self, t: float, data: dict) -> None:
        dump = _Dump(t=t, nodes=_compact_tree(data.get("tree")), app=_app_name(data.get("focused_app")))
        self._resolve_pending(t, dump)
        self.last_dump = dump

    def _resolve_pending(self, now: float, dump: _Dump | None) -> None:
        """Give pending clicks a target: the first dump within AXTREE_AFTER_SECONDS after the
        press, else (once that window has passed) the last dump before it."""
        if not self.pending:
            return
        still = []
        for step, fallback in self.pending:
            if dump is not None and step["t"] <= dump.t <= step["t"] + AXTREE_AFTER_SECONDS:
                _apply_target(step, dump)
            elif now > step["t"] + AXTREE_AFTER_SECONDS:
                if fallback is not None:
                    _apply_target(step, fallback)
            else:
                still.append((step, fallback))
        self.pending = still

    # -- bookkeeping -----------------------------------------------------------------------

    def _add(self, step: dict) -> None:
        """A non-typing step: it ends the current type run and scroll first."""
        self._flush_run()
        self._flush_scroll()
        self._append(step)

    def _append(self, step: dict) -> None:
        if len(self.steps) >= MAX_STEPS:
            raise ValidationError(
                {"input_log": [f"The recording converts into more than {MAX_STEPS} steps; record a shorter session."]}
            )
        step["t"] = round(step["t"], 3)
        self.steps.append(step)

    def _time(self, value) -> float | None:
        if not _finite(value):
            return None
        t = (float(value) - self.started_ms) / 1000.0
        if t > MAX_DURATION_SECONDS:  # a clock gone wrong: no step can be a day after the start
            return None
        if t < 0:
            self.before_start += 1
            t = 0.0
        return t

    def _unreadable(self, number: int, problem: str) -> None:
        self.unreadable += 1
        if len(self.unreadable_samples) < MAX_SAMPLES:
            self.unreadable_samples.append({"line": number, "problem": problem})

    @staticmethod
    def _count(counter: Counter, name: str) -> None:
        name = name[:64]
        if name in counter or len(counter) < MAX_EVENT_NAMES:
            counter[name] += 1
        else:
            counter["(other)"] += 1


def demonstration_from_archive(
    archive: RecorderArchive,
    *,
    video: VideoFile | None = None,
    final_state: str | None = None,
    notes: str | None = None,
) -> dict:
    """Convert an opened archive into a validated demonstration (see the module docstring).

    `video` (from `archive.video_file()`) adds the recording as the demonstration's attachment;
    `final_state` and `notes` are the farmer's words, which the recorder does not write.
    Raises ValidationError when the result is not a valid demonstration (no steps at all, too many).
    """
    meta = archive.meta
    started_at = meta["started_at"]
    converter = _Converter(started_ms=started_at.timestamp() * 1000.0)
    for line in archive.input_lines():
        converter.feed(line)
    steps = converter.finish()
    if not steps:
        raise ValidationError(
            {"input_log": [f"{INPUT_LOG_NAME} has no clicks, key presses or scrolls: there is nothing to convert."]}
        )

    duration = max(meta["duration_seconds"], steps[-1]["t"], converter.last_t)
    demonstration: dict = {
        "format_version": 1,
        "started_at": started_at.isoformat(),
        "ended_at": (started_at + timedelta(seconds=duration)).isoformat(),
        "steps": steps,
        "task": _task(meta),
        "recorder": _recorder_section(meta, converter),
    }
    if final_state is not None:
        demonstration["final_state"] = final_state
    if notes is not None:
        demonstration["notes"] = notes
    if video is not None:
        demonstration["attachments"] = [
            {"name": VIDEO_NAME, "content_type": "video/mp4", "size": video.size, "sha256": video.sha256}
        ]
    return demonstration_validate(demonstration)


def pointer_scale(demonstration: dict, video_width: int, video_height: int) -> float:
    """How many video pixels one recorder pointer unit is. macOS logs the pointer in points
    while the video is in physical pixels (2 per point on a Retina screen); elsewhere both are
    pixels. Estimated: 2 when the platform is macOS and every pointer position fits in half the
    video, else 1 (docs/recorder-archive.md)."""
    recorder = demonstration.get("recorder") or {}
    if recorder.get("platform") != "macos":
        return 1.0
    max_x, max_y = recorder.get("pointer_max", [0, 0])
    if max_x * 2 <= video_width and max_y * 2 <= video_height and video_width >= 2 * 640:
        return 2.0
    return 1.0


def _task(meta: dict) -> dict:
    task: dict = {}
    app = (meta.get("quest") or {}).get("app")
    if app:
        task["app"] = app[:MAX_TASK_LABEL_CHARS]
    os_label = " ".join(part for part in (meta.get("platform"), meta.get("version")) if part)
    if os_label:
        task["os"] = os_label[:MAX_TASK_LABEL_CHARS]
    if "primary_monitor" in meta:
        task["screen"] = dict(meta["primary_monitor"])
    return task


def _recorder_section(meta: dict, converter: _Converter) -> dict:
    section: dict = {"name": RECORDER_NAME, "recording_id": meta["id"]}
    for field_name in ("title", "platform", "arch", "version", "locale", "keyboard_layout", "reason"):
        if meta.get(field_name):
            section[field_name] = meta[field_name]
    if meta.get("quest"):
        section["quest"] = meta["quest"]
    section["duration_seconds"] = _number(meta["duration_seconds"])
    section["pointer_max"] = [_pixel(converter.max_pointer[0]), _pixel(converter.max_pointer[1])]
    section["events"] = dict(sorted(converter.events.items()))
    section["ignored_events"] = dict(sorted(converter.ignored.items()))
    section["unknown_events"] = dict(sorted(converter.unknown.items()))
    section["unknown_samples"] = converter.unknown_samples
    section["unreadable_lines"] = converter.unreadable
    section["unreadable_samples"] = converter.unreadable_samples
    section["untimed_events"] = converter.untimed
    section["events_before_start"] = converter.before_start
    section["unmatched"] = dict(sorted(converter.unmatched.items()))
    return section


# -- helpers -------------------------------------------------------------------------------


def _character(actual_char, key: str, *, shift: bool) -> str | None:
    """The printable character a key press typed, or None (a control key, a dead key)."""
    if isinstance(actual_char, str) and actual_char:
        match = _RUST_NAME_RE.search(actual_char)
        if match is not None:
            text = _rust_unescape(match.group(1))
            return text if text and text.isprintable() else None
        if len(actual_char) == 1 and actual_char.isprintable():  # a plain character, if a recorder writes one
            return actual_char
        return None
    # No character from the recorder (Windows): the key's US-layout character.
    if re.fullmatch(r"Key[A-Z]", key) or re.fullmatch(r"[A-Z]", key):
        letter = key[-1]
        return letter if shift else letter.lower()
    digit = None
    if re.fullmatch(r"(Num|Kp)[0-9]", key):
        digit = int(key[-1])
    elif key in _WORD_DIGITS:
        digit = _WORD_DIGITS.index(key)
    if digit is not None:
        return _US_SHIFTED_DIGITS[digit] if shift and not key.startswith("Kp") else str(digit)
    pair = _US_CHARS.get(key)
    if pair is not None:
        return pair[1] if shift else pair[0]
    return None


def _is_dead(actual_char) -> bool:
    return isinstance(actual_char, str) and "is_dead: true" in actual_char


def _rust_unescape(text: str) -> str:
    def replace(match: re.Match) -> str:
        escape = match.group(1)
        if escape.startswith("u{"):
            try:
                return chr(int(escape[2:-1], 16))
            except ValueError:
                return ""
        return _RUST_SIMPLE_ESCAPES.get(escape, escape)

    return _RUST_ESCAPE_RE.sub(replace, text)


def _key_name(key: str) -> str:
    if key in _NAMED_KEYS:
        return _NAMED_KEYS[key]
    if re.fullmatch(r"Key[A-Z]", key):
        return key[-1]
    if re.fullmatch(r"(Num|Kp)[0-9]", key):
        return key[-1]
    if key in _WORD_DIGITS:
        return str(_WORD_DIGITS.index(key))
    pair = _US_CHARS.get(key)
    if pair is not None and key != "Space":
        return pair[0]
    return key[:40]


def _button(data: dict) -> str:
    button = data.get("button")
    return button.lower()[:20] if isinstance(button, str) and button else "left"


def _finite(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _pixel(value: float) -> int:
    """A pointer coordinate as the format's integer pixel (negative positions, on a screen left
    of or above the primary one, clamp to 0)."""
    return int(min(max(round(value), 0), MAX_COORDINATE))


def _number(value: float) -> int | float:
    rounded = round(value, 3)
    return int(rounded) if rounded == int(rounded) else rounded


def _near(x1, y1, x2, y2, pixels: float) -> bool:
    if None in (x1, y1, x2, y2):
        return x1 is None and x2 is None
    return abs(x1 - x2) <= pixels and abs(y1 - y2) <= pixels


def _app_name(focused) -> str | None:
    if isinstance(focused, dict) and isinstance(focused.get("name"), str) and focused["name"].strip():
        return focused["name"].strip()[:MAX_TASK_LABEL_CHARS]
    return None


def _label(node: dict) -> str:
    for key in ("name", "value", "description"):
        value = node.get(key)
        if isinstance(value, str):
            value = " ".join(value.split())
            if value and not _GENERIC_LABEL_RE.match(value):
                return value[:MAX_TARGET_CHARS]
    return ""


def _compact_tree(tree) -> list[_Node]:
    """The labelled, positioned elements of an accessibility dump (at most MAX_AXTREE_NODES),
    read iteratively so a deep tree cannot exhaust the stack. The rest of the dump is dropped."""
    nodes: list[_Node] = []
    if not isinstance(tree, list):
        return nodes
    stack: list[tuple[object, int]] = [(item, 0) for item in reversed(tree)]
    visited = 0
    while stack and visited < 20 * MAX_AXTREE_NODES and len(nodes) < MAX_AXTREE_NODES:
        node, depth = stack.pop()
        visited += 1
        if not isinstance(node, dict):
            continue
        role = node.get("role") if isinstance(node.get("role"), str) else ""
        bbox = node.get("bbox")
        if isinstance(bbox, dict) and role != "application":
            box = [bbox.get(key) for key in ("x", "y", "width", "height")]
            label = _label(node)
            if label and all(_finite(value) for value in box) and box[2] > 0 and box[3] > 0:
                nodes.append(_Node(depth, float(box[0]), float(box[1]), float(box[2]), float(box[3]), label, role[:60]))
        children = node.get("children")
        if isinstance(children, list) and depth < MAX_AXTREE_DEPTH:
            stack.extend((child, depth + 1) for child in reversed(children))
    return nodes


def _apply_target(step: dict, dump: _Dump) -> None:
    if dump.app and "app" not in step:
        step["app"] = dump.app
    x, y = step.get("x"), step.get("y")
    if x is None or y is None:
        return
    best: _Node | None = None
    for node in dump.nodes:
        if node.contains(x, y) and (
            best is None
            or node.depth > best.depth
            or (node.depth == best.depth and node.width * node.height < best.width * best.height)
        ):
            best = node
    if best is not None:
        step["target"] = best.label
        if best.role:
            step["target_role"] = best.role
