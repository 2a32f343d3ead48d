"""Evidence grading cost: a synthetic desktop recording at 1080p and the recorder's 30 fps, graded
through `evidence.services.archive_grade` (probe, keyframes, OCR, checks, the rules grader) in a
fresh worker process, then two such processes at once; and the memory of reading a large video.

    python -m bench.run --only evidence [--quick]

Set-up (not timed): a spreadsheet screen where, every 5 s, the pointer moves to a cell, clicks
and types a word (36 entries in 3 minutes; 12 in the quick minute), drawn with Pillow and encoded
with PyAV's libx264 exactly as the recorder's FFmpeg does (ultrafast, crf 23, yuv420p), zipped
with its input log and meta.json. Measured per worker process: CPU seconds of the process and of
the tesseract processes it ran (`getrusage` self + children), how much of it ran off the grading
thread (other threads of the process: decoder or scaler pools), wall time, the CPU/wall ratio
(above 1 means the worker used more than one core), the peak number of threads, peak resident
memory growth (sampled every 5 ms). Every worker process starts up (Python, Django, the codecs)
before the clock starts, each on its own copy of the archive; then the parent starts them all at
once, and throughput is recordings over the span from the first start to the last finish (the
children's monotonic clocks are the machine's), for one worker and for two alike. Targets: a
3-minute recording in at most 10 s of one core; two workers grade about twice as many recordings
per second as one. Memory: a lossless-noise video of
about 200 MiB (60 MiB quick) is copied out of its archive into a storage without local paths (as
S3), streamed back by the worker's `evidence.services.stored_video_path`, probed and sampled; the
JSON records the process's peak growth. The grade is the production rule
(`pools/grading/evidence.py`, through `archive_grade`); the examination in the Celery worker
(`recording_examine`) adds a few database statements to this, not decoding. The JSON records the
load average before and after: on a shared machine wall times (and so the two-worker speedup)
say more about the neighbours than about the code; CPU seconds per worker do not.

One worker process on an existing archive, by hand: `python -m bench.evidence grade ARCHIVE.zip`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from bench.common import PG, ROOT

FPS = 30
WIDTH, HEIGHT = 1920, 1080
ENTRY_SECONDS = 5.0
TYPE_INTERVAL = 0.12
TARGET_CPU_SECONDS_PER_3_MINUTES = 10.0
TARGET_TWO_WORKER_SPEEDUP = 1.8
CELL_W, CELL_H, GRID_LEFT, GRID_TOP = 180, 34, 60, 160
WORDS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "Income",
    "Expenses",
    "Savings",
    "Rent",
    "Food",
    "Travel",
]
SUCCESS_CHECKS = ["Budget 2026", "January", "Income"]
TASK = {
    "title": "Budget 2026 spreadsheet",
    "instructions": "Create a spreadsheet named Budget 2026 and add headers Month, Income, Expenses in the first row.",
    "expected_minutes": 3,
}


def _entries(minutes: float) -> list[tuple[float, tuple[int, int], str]]:
    """(click time, cell, word typed) every ENTRY_SECONDS, row by row."""
    count = int(minutes * 60 / ENTRY_SECONDS) - 1
    entries = []
    for i in range(count):
        cell = (i % 4, i // 4)
        word = "Budget 2026" if i == 0 else WORDS[(i - 1) % len(WORDS)] + ("" if i <= len(WORDS) else f" {i}")
        entries.append((2.0 + i * ENTRY_SECONDS, cell, word))
    return entries


def _cell_center(cell: tuple[int, int]) -> tuple[int, int]:
    return GRID_LEFT + cell[0] * CELL_W + CELL_W // 2, GRID_TOP + cell[1] * CELL_H + CELL_H // 2


def build_recording(directory: Path, minutes: float) -> Path:
    """Encode the screen video and write the archive; returns the zip's path."""
    import av
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=20)
    screen = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(screen)
    draw.rectangle((0, 0, WIDTH, 110), fill=(241, 243, 244))
    draw.text((30, 30), "Budget 2026 - Spreadsheet", fill="black", font=ImageFont.load_default(size=28))
    for column in range(10):
        for row in range(26):
            x, y = GRID_LEFT + column * CELL_W, GRID_TOP + row * CELL_H
            draw.rectangle((x, y, x + CELL_W, y + CELL_H), outline=(218, 220, 224))
    arrow = np.full((22, 15), 255, dtype=np.uint8)
    for row in range(22):
        arrow[row, : max(1, min(15, row * 2 // 3))] = 0
    entries = _entries(minutes)
    frames = int(minutes * 60 * FPS)

    def yuv(image):
        return av.VideoFrame.from_image(image).reformat(format="yuv420p").to_ndarray()

    video = directory / "recording.mp4"
    events = []
    start_ms = int(datetime(2026, 1, 12, 9, 30, tzinfo=UTC).timestamp() * 1000)

    def log(t: float, name: str, data: dict) -> None:
        events.append({"event": name, "data": data, "time": start_ms + round(t * 1000)})

    pointer = (1500.0, 900.0)
    cells = []
    for when, cell, word in entries:
        target = _cell_center(cell)
        for step in range(1, 11):
            p = step / 10
            log(
                when - 1 + p,
                "mousemove",
                {"x": pointer[0] + (target[0] - pointer[0]) * p, "y": pointer[1] + (target[1] - pointer[1]) * p},
            )
        pointer = target
        log(when, "mousedown", {"button": "Left"})
        log(when + 0.08, "mouseup", {"button": "Left"})
        nodes = [
            {
                "name": f"Cell {'ABCDEFGHIJ'[c]}{r + 1}",
                "role": "AXCell",
                "bbox": {"x": GRID_LEFT + c * CELL_W, "y": GRID_TOP + r * CELL_H, "width": CELL_W, "height": CELL_H},
                "children": [],
            }
            for c in range(10)
            for r in range(26)
        ]
        tree = [
            {
                "name": "Sheets",
                "role": "application",
                "bbox": {"x": 0, "y": 0, "width": 0, "height": 0},
                "children": [
                    {
                        "name": "Budget 2026",
                        "role": "window",
                        "bbox": {"x": 0, "y": 0, "width": WIDTH, "height": HEIGHT},
                        "children": nodes,
                    }
                ],
            }
        ]
        events.append(
            {
                "event": "axtree_interaction",
                "time": start_ms + round((when + 0.3) * 1000),
                "data": {"tree": tree, "focused_app": {"name": "Sheets"}},
            }
        )
        for i, char in enumerate(word):
            key = "Space" if char == " " else f"Num{char}" if char.isdigit() else f"Key{char.upper()}"
            info = f'UnicodeInfo {{ name: Some("{char}"), unicode: [{ord(char)}], is_dead: false }}'
            at = when + 0.5 + i * TYPE_INTERVAL
            log(at, "keydown", {"key": key, "actual_char": info})
            log(at + 0.05, "keyup", {"key": key, "actual_char": info})
        cells.append((when, cell, word))
    events.sort(key=lambda event: event["time"])

    def screen_at(t: float):
        """(the text typed so far as (cell, prefix) pairs, pointer position)."""
        shown, position = [], (1500.0, 900.0)
        for when, cell, word in cells:
            target = _cell_center(cell)
            if t < when - 1:
                break
            progress = min(1.0, (t - (when - 1)) / 1.0)
            position = (
                position[0] + (target[0] - position[0]) * progress,
                position[1] + (target[1] - position[1]) * progress,
            )
            typed = int(max(0.0, t - (when + 0.5)) / TYPE_INTERVAL) + 1 if t >= when + 0.5 else 0
            if typed:
                shown.append((cell, word[: min(typed, len(word))]))
        return tuple(shown), position

    with av.open(str(video), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23", "tune": "zerolatency"}
        cached_text, cached_planes = None, None
        for index in range(frames):
            text, position = screen_at(index / FPS)
            if text != cached_text:
                image = screen.copy()
                text_draw = ImageDraw.Draw(image)
                for cell, part in text:
                    x, y = GRID_LEFT + cell[0] * CELL_W, GRID_TOP + cell[1] * CELL_H
                    text_draw.text((x + 8, y + 6), part, fill="black", font=font)
                cached_text, cached_planes = text, yuv(image)
            planes = cached_planes.copy()
            x, y = int(position[0]), int(position[1])
            planes[y : y + 22, x : x + 15] = np.minimum(planes[y : y + 22, x : x + 15], arrow)  # the pointer, in luma
            for packet in stream.encode(av.VideoFrame.from_ndarray(planes, format="yuv420p")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)

    meta = {
        "id": "bench",
        "timestamp": datetime.fromtimestamp(start_ms / 1000, tz=UTC).isoformat(),
        "duration_seconds": int(minutes * 60),
        "status": "completed",
        "title": TASK["title"],
        "description": "",
        "platform": "linux",
        "arch": "x86_64",
        "version": "6.1",
        "locale": "en-US",
        "primary_monitor": {"width": WIDTH, "height": HEIGHT},
    }
    archive = directory / "recording.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as target:
        target.writestr("meta.json", json.dumps(meta))
        target.writestr("input_log.jsonl", "\n".join(json.dumps(event) for event in events) + "\n")
        target.write(video, "recording.mp4")
    return archive


def build_large_video(directory: Path, mebibytes: int) -> Path:
    """A 1280x720 lossless-noise video of about `mebibytes` MiB (noise cannot compress), in an archive."""
    import av
    import numpy as np

    path = directory / "noise.mp4"
    rng = np.random.default_rng(1)
    frames = max(10, int(mebibytes / 1.65))
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.options = {"preset": "ultrafast", "qp": "0"}
        for _ in range(frames):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    archive = directory / "large.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as target:
        target.writestr(
            "meta.json",
            json.dumps(
                {
                    "id": "large",
                    "timestamp": "2026-01-12T09:30:00+00:00",
                    "duration_seconds": frames // 10,
                    "status": "completed",
                    "title": "t",
                    "platform": "linux",
                    "arch": "x86_64",
                    "version": "1",
                    "locale": "en",
                }
            ),
        )
        target.writestr("input_log.jsonl", json.dumps({"event": "mousedown", "data": {}, "time": 1768210200500}) + "\n")
        target.write(path, "recording.mp4")
    path.unlink()
    return archive


# -- measured in a child process (one worker) ------------------------------------------------


READY, GO = "ready", "go"


def _child(mode: str, archive: str, *, wait_for_go: bool = False) -> dict:
    import resource
    import threading

    import psutil

    from bench.common import django_setup

    django_setup(f"{PG}/postgres")  # nothing here touches the database
    from evidence.archive import archive_open
    from evidence.services import archive_grade
    from evidence.video import keyframes_extract, video_probe
    from pools.grading import TaskContext

    process = psutil.Process()
    highest = [process.memory_info().rss, process.num_threads()]
    sampler_cpu = [0.0]
    done = threading.Event()

    def sample():  # its own CPU is measured and left out of the worker's
        while not done.is_set():
            highest[0] = max(highest[0], process.memory_info().rss)
            highest[1] = max(highest[1], process.num_threads())
            time.sleep(0.005)
        sampler_cpu[0] = time.thread_time()

    def cpu() -> tuple[float, float, float]:
        """(this process, its finished children = tesseract, the grading thread alone)."""
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        this_thread = resource.getrusage(resource.RUSAGE_THREAD)
        return (
            own.ru_utime + own.ru_stime,
            children.ru_utime + children.ru_stime,
            this_thread.ru_utime + this_thread.ru_stime,
        )

    threads_idle = process.num_threads()
    if wait_for_go:  # started up; the parent starts every worker's clock at once
        print(READY, flush=True)
        if sys.stdin.readline().strip() != GO:
            raise SystemExit("no start signal")
    base_rss = process.memory_info().rss
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu_before, started = cpu(), time.monotonic()
    if mode == "grade":
        with open(archive, "rb") as source:
            graded = archive_grade(
                source,
                task=TaskContext(**TASK),
                success_checks=SUCCESS_CHECKS,
                final_state="Budget 2026 spreadsheet with January",
            )
        outcome = {
            "score": str(graded.score),
            "paid": graded.paid,
            "held": graded.held,
            "verdict": graded.breakdown["evidence"]["verdict"],
            "evidence_confidence": str(graded.evidence_confidence),
            "checks": {check["name"]: check["result"] for check in graded.breakdown["evidence"]["checks"]},
        }
    else:
        # As intake then the worker do: the video copied out of its archive into a storage, then
        # streamed back from that storage to a local file (the S3 case: the worker's
        # `stored_video_path` with a storage that has no local path), probed and sampled.
        from django.core.files import File
        from django.core.files.storage import FileSystemStorage, Storage

        from evidence.services import stored_video_path

        root = Path(archive).parent / "storage"

        class RemoteStorage(Storage):  # opens files, has no local path (Storage.path raises)
            def _open(self, name, mode="rb"):
                return File(open(root / name, mode))

        storage = RemoteStorage()
        with archive_open(archive) as opened, opened.video_file() as video, open(video.path, "rb") as handle:
            name = FileSystemStorage(location=str(root)).save("recording.mp4", File(handle))
        with stored_video_path(storage, name) as path:
            info = video_probe(path)
            frames = keyframes_extract(
                path,
                [info.duration_seconds * i / 40 for i in range(41)],
                full_frames=[0, 40],
                on_full_frame=lambda index, image: None,
            )
        outcome = {"video_bytes": video.size, "keyframes": len(frames), "streamed_from_storage": True}
    finished = time.monotonic()
    (own, children, grading_thread), (own_before, children_before, grading_thread_before) = cpu(), cpu_before
    done.set()
    sampler.join()
    cpu_seconds = own - own_before - sampler_cpu[0] + children - children_before
    wall = finished - started
    return outcome | {
        "cpu_seconds": round(cpu_seconds, 2),
        "tesseract_cpu_seconds": round(children - children_before, 2),
        # CPU of this process's other threads (FFmpeg decoder or scaler pools), the sampler's left out.
        "cpu_seconds_off_grading_thread": round(
            max(0.0, own - own_before - sampler_cpu[0] - (grading_thread - grading_thread_before)), 2
        ),
        "sampler_cpu_seconds": round(sampler_cpu[0], 2),
        "wall_seconds": round(wall, 2),
        "cpu_per_wall": round(cpu_seconds / wall, 2) if wall else None,
        # Threads of the process, the sampler's included: idle after start-up, and at the peak.
        "threads_idle": threads_idle,
        "peak_threads": highest[1],
        "started": started,
        "finished": finished,
        "peak_rss_growth_mib": round((highest[0] - base_rss) / 2**20, 1),
        "peak_rss_mib": round(highest[0] / 2**20, 1),
    }


def _workers(mode: str, archives: list[Path]) -> tuple[list[dict], float]:
    """One worker process per archive, started up, then set off together; their results and the
    span from the first start to the last finish."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.evidence", mode, str(archive), "--wait-for-go"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for archive in archives
    ]
    try:
        for process in processes:
            if process.stdout.readline().strip() != READY:
                raise RuntimeError(f"benchmark child did not start ({process.wait()})")
        for process in processes:
            process.stdin.write(GO + "\n")
            process.stdin.flush()
        results = []
        for process in processes:
            out, _ = process.communicate(timeout=900)
            if process.returncode != 0:
                raise RuntimeError(f"benchmark child failed with {process.returncode}")
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    span = max(result.pop("finished") for result in results) - min(result.pop("started") for result in results)
    return results, span


def _copies(archive: Path, count: int) -> list[Path]:
    """One copy of the archive per worker: no worker reads a file another is reading."""
    copies = []
    for number in range(1, count + 1):
        copy = archive.with_name(f"{archive.stem}-{number}{archive.suffix}")
        shutil.copyfile(archive, copy)
        copies.append(copy)
    return copies


def run(*, quick: bool = False) -> dict:
    minutes = 1.0 if quick else 3.0
    large_mib = 60 if quick else 200
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-evidence-") as scratch:
        directory = Path(scratch)
        started = time.monotonic()
        archive = build_recording(directory, minutes)
        build_seconds = time.monotonic() - started
        video_mib = (directory / "recording.mp4").stat().st_size / 2**20

        copies = _copies(archive, 2)
        (one,), one_wall = _workers("grade", copies[:1])
        two, two_wall = _workers("grade", copies)

        large = build_large_video(directory, large_mib)
        (memory,), _ = _workers("memory", [large])

    per_minute = one["cpu_seconds"] / minutes
    speedup = (2 / two_wall) / (1 / one_wall) if two_wall and one_wall else 0.0
    projected_three_minutes = per_minute * 3
    return {
        "recording": {
            "minutes": minutes,
            "width": WIDTH,
            "height": HEIGHT,
            "fps": FPS,
            "video_mib": round(video_mib, 1),
            "entries": len(_entries(minutes)),
            "build_seconds": round(build_seconds, 1),
        },
        "one_worker": one,
        "two_workers": {
            "wall_seconds": round(two_wall, 2),
            "cpu_seconds_per_recording": round(sum(each["cpu_seconds"] for each in two) / len(two), 2),
            "each": two,
        },
        "cpu_seconds_per_minute": round(per_minute, 2),
        "cpu_seconds_for_3_minutes": round(projected_three_minutes, 2),
        "recordings_per_second_one_worker": round(1 / one_wall, 3),
        "recordings_per_second_two_workers": round(2 / two_wall, 3),
        "two_worker_speedup": round(speedup, 2),
        "two_workers_met": speedup >= TARGET_TWO_WORKER_SPEEDUP,
        # Wall times (and so the speedup) mean little when other sessions load the machine:
        # CPU seconds per worker do not depend on it; each worker's cpu_per_wall shows how much
        # of a core it got (or, above 1, that it used more than one).
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "large_video": memory | {"video_mib": round(memory["video_bytes"] / 2**20, 1)},
        "targets": {
            "cpu_seconds_for_3_minutes": TARGET_CPU_SECONDS_PER_3_MINUTES,
            "two_worker_speedup": TARGET_TWO_WORKER_SPEEDUP,
        },
        "met": projected_three_minutes <= TARGET_CPU_SECONDS_PER_3_MINUTES and all(r["paid"] for r in [one, *two]),
    }


if __name__ == "__main__":
    print(json.dumps(_child(sys.argv[1], sys.argv[2], wait_for_go="--wait-for-go" in sys.argv[3:])))
