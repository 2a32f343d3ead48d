"""Small desktop-recorder archives built at test time: frames drawn with Pillow, encoded to MP4
with PyAV, zipped with an input log and a meta.json in the recorder's format
(docs/recorder-archive.md).

One script of actions (clicks, key presses) drives both the input log and what the frames show:

- `genuine`: a spreadsheet where the title becomes "Budget 2026" and the first row gets the
  headers Month, Income, Expenses, exactly as typed; the pointer moves to each click.
- `wrong_document`: the same input log, but the video shows a notes document filling with other
  words (the farmer recorded one thing and the log says another).
- `frozen`: the same input log over a still picture of the finished spreadsheet (a screenshot
  passed off as a recording): the final text is right, yet nothing ever moves.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import av
from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 960, 540
FPS = 4
DURATION = 30.0
STARTED_AT = datetime(2026, 1, 12, 9, 30, 0, 250000, tzinfo=timezone(timedelta(hours=1)))
START_MS = int(STARTED_AT.timestamp() * 1000)

TITLE_BOX = (20, 10, 400, 42)
GRID_LEFT, GRID_TOP, CELL_W, CELL_H = 50, 110, 150, 36
COLUMNS = "ABCDE"

TASK = {
    "title": "Budget 2026 spreadsheet",
    "instructions": (
        "Create a new spreadsheet named Budget 2026 and add headers Month, Income, Expenses in the first row."
    ),
    "expected_minutes": 1,
}
FINAL_STATE = "Spreadsheet Budget 2026 with headers Month, Income, Expenses"

# What the wrong document shows instead of each typed text (same lengths, so it changes as fast).
WRONG_TEXTS = {"Budget 2026": "Notes 12 Jun", "Month": "Lunch", "Income": "Agenda", "Expenses": "Weather!"}


def cell_center(column: int, row: int) -> tuple[int, int]:
    return GRID_LEFT + column * CELL_W + CELL_W // 2, GRID_TOP + row * CELL_H + CELL_H // 2


TITLE_CLICK = (150, 26)

# The script: (time, action, argument). "click" moves the pointer there over the second before.
SCRIPT: list[tuple[float, str, object]] = [
    (3.0, "click", TITLE_CLICK),
    (4.0, "type", "Budget 2026"),
    (7.0, "key", "Return"),
    (9.0, "click", cell_center(0, 0)),
    (10.0, "type", "Month"),
    (11.5, "key", "Tab"),
    (12.5, "type", "Income"),
    (14.0, "key", "Tab"),
    (15.0, "type", "Expenses"),
    (17.0, "key", "Return"),
    (20.0, "click", cell_center(1, 3)),
    (21.0, "wheel", -2),
]
TYPE_INTERVAL = 0.15


@dataclass
class Screen:
    """What the application shows at one moment."""

    title: str = "Untitled spreadsheet"
    title_focused: bool = False
    title_draft: str | None = None
    cells: dict[tuple[int, int], str] = field(default_factory=dict)
    selected: tuple[int, int] | None = None
    draft: str = ""
    pointer: tuple[float, float] = (700.0, 400.0)


def _keystrokes(text: str, start: float) -> list[tuple[float, str, str]]:
    """(time, key, character) for each character of `text`."""
    strokes = []
    for i, char in enumerate(text):
        if char == " ":
            key = "Space"
        elif char.isdigit():
            key = f"Num{char}"
        elif char.isalpha():
            key = f"Key{char.upper()}"
        else:
            key = "Unknown(0)"
        strokes.append((start + i * TYPE_INTERVAL, key, char))
    return strokes


def screen_at(t: float, *, wrong: bool = False) -> Screen:
    """Replay the script up to time `t`."""
    screen = Screen()
    pointer_from = screen.pointer
    for when, action, argument in SCRIPT:
        if action == "click":
            start = when - 1.0
            if t < start:
                break
            progress = min(1.0, (t - start) / 1.0)
            tx, ty = argument
            screen.pointer = (
                pointer_from[0] + (tx - pointer_from[0]) * progress,
                pointer_from[1] + (ty - pointer_from[1]) * progress,
            )
            if t < when:
                break
            pointer_from = (tx, ty)
            if argument == TITLE_CLICK:
                screen.title_focused, screen.title_draft, screen.selected = True, "", None
            else:
                column = (tx - GRID_LEFT) // CELL_W
                row = (ty - GRID_TOP) // CELL_H
                _commit(screen)
                screen.selected = (column, row)
            continue
        if t < when:
            break
        if action == "type":
            shown = WRONG_TEXTS.get(argument, argument) if wrong else argument
            typed = sum(1 for at, _, _ in _keystrokes(argument, when) if at <= t)
            part = shown[: round(typed * len(shown) / len(argument))]
            if screen.title_focused:
                screen.title_draft = part
            else:
                screen.draft = part
        elif action == "key":
            if screen.title_focused:
                screen.title = screen.title_draft or screen.title
                screen.title_focused, screen.title_draft = False, None
            elif screen.selected is not None:
                _commit(screen)
                column, row = screen.selected
                screen.selected = (column + 1, row) if argument == "Tab" else (column, row + 1)
        # "wheel": the sheet is already at its top; scrolling shows nothing new.
    return screen


def _commit(screen: Screen) -> None:
    if screen.selected is not None and screen.draft:
        screen.cells[screen.selected] = screen.draft
    screen.draft = ""


_FONTS: dict[int, ImageFont.ImageFont] = {}


def _font(size: int):
    if size not in _FONTS:
        _FONTS[size] = ImageFont.load_default(size=size)
    return _FONTS[size]


def draw_spreadsheet(screen: Screen, *, pointer: bool = True) -> Image.Image:
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH, 52), fill=(241, 243, 244))
    title = screen.title_draft if screen.title_focused else screen.title
    draw.rectangle(
        TITLE_BOX, fill="white", outline=(26, 115, 232) if screen.title_focused else (241, 243, 244), width=2
    )
    draw.text((TITLE_BOX[0] + 8, TITLE_BOX[1] + 4), title, fill="black", font=_font(22))
    draw.text((720, 14), "Spreadsheet", fill=(60, 64, 67), font=_font(22))
    for column, letter in enumerate(COLUMNS):
        x = GRID_LEFT + column * CELL_W
        draw.rectangle((x, GRID_TOP - 30, x + CELL_W, GRID_TOP), fill=(248, 249, 250), outline=(218, 220, 224))
        draw.text((x + CELL_W // 2 - 6, GRID_TOP - 26), letter, fill=(95, 99, 104), font=_font(18))
    for row in range(11):
        y = GRID_TOP + row * CELL_H
        draw.text((14, y + 8), str(row + 1), fill=(95, 99, 104), font=_font(18))
        for column in range(len(COLUMNS)):
            x = GRID_LEFT + column * CELL_W
            draw.rectangle((x, y, x + CELL_W, y + CELL_H), outline=(218, 220, 224))
    for (column, row), text in screen.cells.items():
        y = GRID_TOP + row * CELL_H
        draw.text((GRID_LEFT + column * CELL_W + 8, y + 6), text, fill="black", font=_font(22))
    if screen.selected is not None:
        column, row = screen.selected
        x, y = GRID_LEFT + column * CELL_W, GRID_TOP + row * CELL_H
        draw.rectangle((x, y, x + CELL_W, y + CELL_H), outline=(26, 115, 232), width=3)
        if screen.draft:
            draw.text((x + 8, y + 6), screen.draft, fill="black", font=_font(22))
    if pointer:
        _draw_pointer(draw, screen.pointer)
    return image


def draw_notes(screen: Screen, *, pointer: bool = True) -> Image.Image:
    """The wrong document: a notes page that fills with other words at the same moments."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (255, 253, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH, 52), fill=(250, 240, 200))
    title = screen.title_draft if screen.title_focused else screen.title
    title = "Untitled note" if title == "Untitled spreadsheet" else title
    draw.rectangle(TITLE_BOX, fill="white", outline=(200, 120, 0) if screen.title_focused else (250, 240, 200), width=2)
    draw.text((TITLE_BOX[0] + 8, TITLE_BOX[1] + 4), title, fill="black", font=_font(22))
    draw.text((760, 14), "Notebook", fill=(90, 70, 20), font=_font(22))
    lines = [text for _, text in sorted(screen.cells.items())]
    if screen.draft:
        lines.append(screen.draft)
    if screen.selected is not None:
        column, row = screen.selected
        x, y = GRID_LEFT + column * CELL_W, GRID_TOP + row * CELL_H
        draw.line((x + 4, y + 4, x + 4, y + CELL_H - 4), fill=(200, 120, 0), width=2)
    for i, text in enumerate(lines):
        draw.text((GRID_LEFT + i * CELL_W + 8, GRID_TOP + 6), text, fill=(40, 40, 40), font=_font(22))
    if pointer:
        _draw_pointer(draw, screen.pointer)
    return image


def _draw_pointer(draw: ImageDraw.ImageDraw, position: tuple[float, float]) -> None:
    x, y = position
    draw.polygon(
        [(x, y), (x, y + 18), (x + 5, y + 14), (x + 9, y + 21), (x + 12, y + 19), (x + 8, y + 12), (x + 14, y + 12)],
        fill="black",
        outline="white",
    )


def encode_video(
    path: Path, frames, *, fps: int = FPS, width: int = WIDTH, height: int = HEIGHT, options: dict | None = None
) -> None:
    """Encode PIL images to H.264 MP4, as the recorder's FFmpeg does (yuv420p, ultrafast);
    `options` are x264's, over those (e.g. {"g": "10"} for a key frame every 10 frames)."""
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23", "tune": "zerolatency", **(options or {})}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def render_frames(kind: str, *, fps: int = FPS, duration: float = DURATION):
    count = int(duration * fps)
    if kind == "frozen":
        still = draw_spreadsheet(screen_at(duration), pointer=False)
        for _ in range(count):
            yield still
        return
    draw = draw_notes if kind == "wrong_document" else draw_spreadsheet
    for i in range(count):
        yield draw(screen_at(i / fps, wrong=kind == "wrong_document"))


def _unicode_info(char: str) -> str:
    escaped = char.replace("\\", "\\\\").replace('"', '\\"')
    return f'UnicodeInfo {{ name: Some("{escaped}"), unicode: [{ord(char)}], is_dead: false }}'


def _event(t: float, name: str, data: dict) -> dict:
    return {"event": name, "data": data, "time": START_MS + round(t * 1000)}


def _axtree(t: float) -> dict:
    children = [
        {
            "name": "Document title",
            "role": "AXTextField",
            "description": "",
            "value": "",
            "bbox": dict(
                zip(
                    ("x", "y", "width", "height"),
                    (TITLE_BOX[0], TITLE_BOX[1], TITLE_BOX[2] - TITLE_BOX[0], TITLE_BOX[3] - TITLE_BOX[1]),
                    strict=True,
                )
            ),
            "children": [],
        }
    ]
    for column, letter in enumerate(COLUMNS):
        for row in range(10):
            x, y = GRID_LEFT + column * CELL_W, GRID_TOP + row * CELL_H
            children.append(
                {
                    "name": f"Cell {letter}{row + 1}",
                    "role": "AXCell",
                    "description": "",
                    "value": "",
                    "bbox": {"x": x, "y": y, "width": CELL_W, "height": CELL_H},
                    "children": [],
                }
            )
    window = {
        "name": "Budget - Sheets",
        "role": "window",
        "description": "",
        "value": "",
        "bbox": {"x": 0, "y": 0, "width": WIDTH, "height": HEIGHT},
        "children": children,
    }
    app = {
        "name": "Google Chrome",
        "role": "application",
        "description": "",
        "value": "",
        "bbox": {"x": 0, "y": 0, "width": 0, "height": 0},
        "children": [window],
    }
    return {
        "event": "axtree_interaction",
        "time": START_MS + round(t * 1000),
        "data": {
            "duration": 120,
            "tree": [app],
            "focused_app": {"name": "Google Chrome", "bundle_id": None, "path": None, "pid": None},
        },
    }


def input_log_events() -> list[dict]:
    """The recorder's input log for SCRIPT, in the recorder's event format."""
    events = [_event(0.05, "ffmpeg_stderr", {"output": "frame=    1 fps=0.0 q=0.0 size=       0kB"})]
    pointer = Screen().pointer
    for when, action, argument in SCRIPT:
        if action == "click":
            for step in range(1, 11):
                progress = step / 10
                x = pointer[0] + (argument[0] - pointer[0]) * progress
                y = pointer[1] + (argument[1] - pointer[1]) * progress
                events.append(_event(when - 1.0 + progress, "mousemove", {"x": x, "y": y}))
            pointer = argument
            events.append(_event(when, "mousedown", {"button": "Left"}))
            events.append(_event(when + 0.08, "mouseup", {"button": "Left"}))
            events.append(_axtree(when + 0.3))
        elif action == "type":
            for at, key, char in _keystrokes(argument, when):
                shifted = char.isupper()
                if shifted:
                    events.append(
                        _event(
                            at - 0.03,
                            "keydown",
                            {
                                "key": "ShiftLeft",
                                "actual_char": "",
                                "layout_dependent": True,
                                "detection_method": "rdev_cross_platform",
                            },
                        )
                    )
                events.append(
                    _event(
                        at,
                        "keydown",
                        {
                            "key": key,
                            "actual_char": _unicode_info(char),
                            "layout_dependent": True,
                            "detection_method": "rdev_cross_platform",
                        },
                    )
                )
                events.append(
                    _event(
                        at + 0.05,
                        "keyup",
                        {
                            "key": key,
                            "actual_char": _unicode_info(char),
                            "layout_dependent": True,
                            "detection_method": "rdev_cross_platform",
                        },
                    )
                )
                if shifted:
                    events.append(
                        _event(
                            at + 0.07,
                            "keyup",
                            {
                                "key": "ShiftLeft",
                                "actual_char": "",
                                "layout_dependent": True,
                                "detection_method": "rdev_cross_platform",
                            },
                        )
                    )
        elif action == "key":
            control, code = {"Return": ("\\r", 13), "Tab": ("\\t", 9)}[argument]
            info = f'UnicodeInfo {{ name: Some("{control}"), unicode: [{code}], is_dead: false }}'
            events.append(
                _event(
                    when,
                    "keydown",
                    {
                        "key": argument,
                        "actual_char": info,
                        "layout_dependent": True,
                        "detection_method": "rdev_cross_platform",
                    },
                )
            )
            events.append(
                _event(
                    when + 0.06,
                    "keyup",
                    {
                        "key": argument,
                        "actual_char": info,
                        "layout_dependent": True,
                        "detection_method": "rdev_cross_platform",
                    },
                )
            )
        elif action == "wheel":
            events.append(_event(when, "mousewheel", {"delta": argument / 2}))
            events.append(_event(when + 0.1, "mousewheel", {"delta": argument / 2}))
    events.append(_event(22.0, "joystickaxis", {"id": 1, "axis": "X", "value": 0.5}))
    events.sort(key=lambda event: event["time"])
    return events


def meta(**changes) -> dict:
    data = {
        "id": "20260112_093000",
        "timestamp": STARTED_AT.isoformat(timespec="microseconds").replace(".250000", ".250000123"),
        "duration_seconds": int(DURATION),
        "status": "completed",
        "reason": None,
        "title": "Budget 2026 spreadsheet",
        "description": "",
        "platform": "linux",
        "arch": "x86_64",
        "version": "6.1",
        "locale": "en-US",
        "keyboard_layout": "us",
        "primary_monitor": {"width": WIDTH, "height": HEIGHT},
        "quest": {
            "title": "Budget 2026 spreadsheet",
            "app": "Google Sheets",
            "icon_url": "",
            "objectives": ["Name it Budget 2026", "Add headers Month, Income, Expenses"],
            "content": TASK["instructions"],
            "pool_id": "pool-7",
        },
    }
    data.update(changes)
    return data


def input_log_text(events: list[dict] | None = None, *, extra_lines: tuple[str, ...] = ("not json at all",)) -> str:
    lines = [json.dumps(event) for event in (input_log_events() if events is None else events)]
    lines[3:3] = list(extra_lines)
    return "\n".join(lines) + "\n"


def write_archive(
    path: Path,
    *,
    video: Path | bytes | None,
    meta_data: dict | None = None,
    log: str | None = None,
    members: dict[str, bytes] | None = None,
) -> Path:
    """A recorder archive as the recorder writes it: stored (uncompressed) members at the root."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("input_log.jsonl", input_log_text() if log is None else log)
        archive.writestr("meta.json", json.dumps(meta() if meta_data is None else meta_data, indent=2))
        if isinstance(video, Path):
            archive.write(video, "recording.mp4")
        elif video is not None:
            archive.writestr("recording.mp4", video)
        for name, data in (members or {}).items():
            archive.writestr(name, data)
    return path


def build_recording(directory: Path, kind: str) -> Path:
    """`directory`/`kind`.zip: a whole archive of the given kind (genuine, wrong_document, frozen)."""
    directory.mkdir(parents=True, exist_ok=True)
    video = directory / f"{kind}.mp4"
    encode_video(video, render_frames(kind))
    return write_archive(directory / f"{kind}.zip", video=video)
