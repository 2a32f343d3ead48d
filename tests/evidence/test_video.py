"""The recording is read as a video (evidence/video.py): probe, keyframes, hashes, bounded memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evidence.video import (
    DecodeStats,
    VideoRefused,
    dhash,
    dhash_distance,
    keyframes_extract,
    video_probe,
)
from tests.evidence.recordings import encode_video

ROOT = Path(__file__).resolve().parents[2]


def solid_frames(colours, size=(320, 180)):
    return [Image.new("RGB", size, colour) for colour in colours]


@pytest.fixture(scope="module")
def counting_video(tmp_path_factory):
    """10 frames at 5 fps; frame i is gray level 20*i, so a frame's level tells its number."""
    path = tmp_path_factory.mktemp("video") / "counting.mp4"
    encode_video(path, solid_frames([(20 * i,) * 3 for i in range(10)]), fps=5, width=320, height=180)
    return path


def level(keyframe) -> int:
    return round(float(keyframe.thumb.mean()) / 20)


def test_a_video_is_probed_for_container_codec_size_duration_and_rate(counting_video):
    info = video_probe(str(counting_video))
    assert (info.container, info.codec, info.width, info.height) == ("mov", "h264", 320, 180)
    assert info.duration_seconds == pytest.approx(2.0, abs=0.01)
    assert info.frame_rate == 5.0
    assert info.frames == 10
    assert info.as_dict()["duration_seconds"] == "2.000"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\x00\x00\x00\x18ftypisom" + b"garbage" * 200, "not a video FFmpeg can read as MP4"),
        (b"", "not a video FFmpeg can read as MP4"),
        (b"just some text, not a video", "not a video FFmpeg can read as MP4"),
    ],
)
def test_a_file_that_is_not_a_video_is_refused(tmp_path, content, expected):
    path = tmp_path / "recording.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoRefused) as caught:
        video_probe(str(path))
    assert expected in caught.value.message
    assert caught.value.field == "video" and caught.value.status == 400


def test_a_picture_renamed_to_mp4_is_refused(tmp_path):
    path = tmp_path / "recording.mp4"
    Image.new("RGB", (64, 64), "red").save(path, format="PNG")
    with pytest.raises(VideoRefused):
        video_probe(str(path))


def test_an_mp4_with_only_sound_is_refused(tmp_path):
    import av

    path = tmp_path / "sound.mp4"
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    with pytest.raises(VideoRefused, match="has no video stream"):
        video_probe(str(path))


def test_keyframes_are_the_frames_on_screen_at_the_requested_times(counting_video):
    times = [1.0, 0.0, 0.39, 0.41, 1.9, 5.0]
    frames = keyframes_extract(str(counting_video), times)
    assert [frame.requested_t for frame in frames] == times  # in the order asked
    assert [level(frame) for frame in frames] == [5, 0, 1, 2, 9, 9]  # past the end: the last frame
    assert [round(frame.t, 2) for frame in frames] == [1.0, 0.0, 0.2, 0.4, 1.8, 1.8]
    assert frames[0].thumb.shape == (180, 320) and frames[0].thumb.dtype == np.uint8


def test_full_frames_are_handed_over_only_for_the_indices_asked(counting_video):
    seen = {}
    keyframes_extract(str(counting_video), [0.0, 1.0, 1.5], full_frames=[1], on_full_frame=seen.__setitem__)
    assert list(seen) == [1]
    assert seen[1].size == (320, 180) and seen[1].mode == "L"
    assert abs(float(np.asarray(seen[1]).mean()) - 100) < 4  # frame 5 of the counting video: gray 100


def test_far_apart_times_are_reached_by_seeking(tmp_path):
    path = tmp_path / "long.mp4"
    encode_video(
        path, solid_frames([(i % 13 * 18,) * 3 for i in range(600)], size=(64, 36)), fps=10, width=64, height=36
    )
    frames = keyframes_extract(str(path), [0.0, 25.0, 59.9])
    assert [round(frame.t, 1) for frame in frames] == [0.0, 25.0, 59.9]
    assert [round(float(frame.thumb.mean()) / 18) for frame in frames] == [0, 250 % 13, 599 % 13]


def counting_levels(count: int, size=(64, 36)):
    """Frame i is gray level 7*i mod 256 (distinct for 36 frames and more than a thumbnail's noise)."""
    return solid_frames([((7 * i) % 252,) * 3 for i in range(count)], size=size)


def frames_on_screen(path, times) -> list[np.ndarray]:
    """The thumbnails keyframes_extract should give, from decoding every frame in order (no seek)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoded = [(float(frame.time), frame) for frame in container.decode(stream)]
    shown = []
    for t in times:
        frame = [frame for frame_t, frame in decoded if frame_t <= t + 1e-4][-1]
        shown.append(frame.reformat(format="gray", interpolation="AREA").to_ndarray())
    return shown


def assert_same_pictures(frames, expected: list[np.ndarray]) -> None:
    assert len(frames) == len(expected)
    assert [np.array_equal(frame.thumb, picture) for frame, picture in zip(frames, expected, strict=True)] == [
        True
    ] * len(expected)


def test_frames_no_requested_time_needs_are_never_decoded(tmp_path):
    """A key frame every second at 10 fps: for 0.0, 2.5 and 4.2 s only frames 0-1, 2.0-2.6 and
    4.0-4.3 s are decoded (a seek to each key frame), not the 44 frames up to 4.3 s; and the
    pictures are the ones decoding every frame gives."""
    path = tmp_path / "gops.mp4"
    encode_video(path, counting_levels(60), fps=10, width=64, height=36, options={"g": "10", "keyint_min": "10"})
    times = [2.5, 0.0, 4.2]
    stats = DecodeStats()
    frames = keyframes_extract(str(path), times, stats=stats)
    assert [round(frame.t, 1) for frame in frames] == [2.5, 0.0, 4.2]
    assert_same_pictures(frames, frames_on_screen(path, times))
    assert (stats.frames_decoded, stats.seeks) == (2 + 7 + 4, 2)


@pytest.mark.timeout(60)
def test_a_long_stretch_without_key_frame_is_decoded_forward_not_again_from_its_start(tmp_path):
    """One key frame for 30 s (a recorder at a low frame rate, or a long key-frame interval):
    times 12 s apart are reached by decoding on, never by seeking back to the key frame and
    decoding the stretch again (which, once, seeked back for ever)."""
    path = tmp_path / "one-gop.mp4"
    encode_video(path, counting_levels(300), fps=10, width=64, height=36, options={"g": "300", "keyint_min": "300"})
    stats = DecodeStats()
    frames = keyframes_extract(str(path), [0.0, 12.0, 24.0], stats=stats)
    assert [round(frame.t, 1) for frame in frames] == [0.0, 12.0, 24.0]
    assert (stats.frames_decoded, stats.seeks) == (242, 0)


def test_with_b_frames_the_frame_shown_just_before_a_key_frame_is_found(tmp_path):
    """With B-frames a key frame is decoded before frames shown earlier (its index time is its
    decoding time, 1.8 s here): the frame on screen at 1.9 s is frame 19, not the key frame shown
    at 2.0 s. 1.9 s is reached by decoding on (FFmpeg's seek would land on the first key frame
    again), 4.5 s by one seek to the key frame shown at 4.0 s."""
    import av

    path = tmp_path / "b-frames.mp4"
    options = {"preset": "medium", "tune": "film", "bf": "3", "g": "20", "keyint_min": "20", "sc_threshold": "0"}
    encode_video(path, counting_levels(60), fps=10, width=64, height=36, options=options)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        key_decoding_times = [float(e.timestamp * stream.time_base) for e in stream.index_entries if e.is_keyframe]
    assert 1.7 <= key_decoding_times[1] < 1.9  # decoded before 1.9 s, shown at 2.0 s
    times = [0.0, 1.9, 2.0, 4.5]
    stats = DecodeStats()
    frames = keyframes_extract(str(path), times, stats=stats)
    assert [round(frame.t, 1) for frame in frames] == times
    assert_same_pictures(frames, frames_on_screen(path, times))
    assert stats.seeks == 1


ONE_THREAD_PROBE = textwrap.dedent(
    """
    import json, os, resource, sys
    import django
    django.setup()
    from evidence.video import keyframes_extract, video_probe

    def cpu(who):
        usage = resource.getrusage(who)
        return usage.ru_utime + usage.ru_stime

    def threads():
        return len(os.listdir("/proc/self/task"))

    path = sys.argv[1]
    idle = threads()
    seen = []
    process_before, thread_before = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_THREAD)
    video_probe(path)
    keyframes_extract(
        path, [i / 10 for i in range(30)], full_frames=[5], on_full_frame=lambda i, image: seen.append(threads())
    )
    process, thread = cpu(resource.RUSAGE_SELF) - process_before, cpu(resource.RUSAGE_THREAD) - thread_before
    print(json.dumps({"idle": idle, "during": seen[0], "process": process, "other_threads": process - thread}))
    """
)


def test_a_worker_decodes_and_scales_on_its_one_thread(tmp_path):
    """Probing and sampling a 1080p video runs on the calling thread alone: no FFmpeg decoder or
    scaler threads (their defaults start one per core), and, once Django is set up, no idle
    OpenBLAS threads either. One worker process is one core."""
    path = tmp_path / "screen.mp4"
    rng = np.random.default_rng(3)
    noise = [rng.integers(0, 256, (270, 480), dtype=np.uint8) for _ in range(30)]
    pictures = [Image.fromarray(picture).resize((1920, 1080)) for picture in noise]
    encode_video(path, pictures, fps=10, width=1920, height=1080)
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "OMP_THREAD_LIMIT", "SENTRY_DSN"}
    }
    result = subprocess.run(
        [sys.executable, "-c", ONE_THREAD_PROBE, str(path)],
        capture_output=True,
        text=True,
        env={**environment, "DJANGO_SETTINGS_MODULE": "forge.settings.test", "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    print(measured)
    assert measured["idle"] == 1 and measured["during"] == 1
    assert measured["other_threads"] <= 0.01 + 0.02 * measured["process"]


def test_the_difference_hash_is_stable_under_scaling_and_tells_pictures_apart():
    rng = np.random.default_rng(7)
    picture = rng.integers(0, 256, (90, 160), dtype=np.uint8)
    bigger = np.asarray(Image.fromarray(picture).resize((320, 180), Image.Resampling.BILINEAR))
    other = rng.integers(0, 256, (90, 160), dtype=np.uint8)
    assert len(dhash(picture)) == 16
    assert dhash_distance(dhash(picture), dhash(bigger)) <= 6
    assert dhash_distance(dhash(picture), dhash(other)) >= 16
    assert dhash_distance("0" * 16, "f" * 16) == 64


MEMORY_PROBE = textwrap.dedent(
    """
    import json, sys, threading, time
    import django
    import psutil
    django.setup()
    from evidence.archive import archive_open
    from evidence.video import keyframes_extract, video_probe

    small, large, archive_path = sys.argv[1:4]
    keyframes_extract(small, [0.0, 1.0], full_frames=[1], on_full_frame=lambda i, image: None)  # load the codecs
    process = psutil.Process()
    highest = [0]
    done = threading.Event()

    def sample():  # the resident size, every 2 ms: a peak, not the high-water mark of start-up
        while not done.is_set():
            highest[0] = max(highest[0], process.memory_info().rss)
            time.sleep(0.002)

    base = process.memory_info().rss
    sampler = threading.Thread(target=sample)
    sampler.start()
    video_probe(large)
    times = [i * 0.1 for i in range(40)]
    frames = keyframes_extract(large, times, full_frames=[5, 30], on_full_frame=lambda i, image: None)
    direct = highest[0] - base
    with archive_open(archive_path) as archive, archive.video_file() as video:
        keyframes_extract(video.path, [0.0, 3.9])
    done.set()
    sampler.join()
    print(json.dumps({"frames": len(frames), "direct": direct, "through_archive": highest[0] - base}))
    """
)


def test_a_large_video_is_never_read_into_memory_whole(tmp_path, recordings):
    """A 60+ MB video (lossless noise, so it cannot be small) is sampled, and copied out of its
    archive, while the process grows by well under half the file's size."""
    import zipfile

    import av

    large = tmp_path / "noise.mp4"
    rng = np.random.default_rng(1)
    with av.open(str(large), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.options = {"preset": "ultrafast", "qp": "0"}
        for _ in range(40):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    size = large.stat().st_size
    assert size > 50 * 1024 * 1024
    archive_path = tmp_path / "large.zip"
    with zipfile.ZipFile(recordings["genuine"]) as source, zipfile.ZipFile(archive_path, "w") as target:
        for name in ("meta.json", "input_log.jsonl"):
            target.writestr(name, source.read(name))
        target.write(large, "recording.mp4")
    small = recordings["genuine"].with_suffix(".mp4")

    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "forge.settings.test", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(small), str(large), str(archive_path)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    print(
        f"video {size / 2**20:.0f} MiB; peak growth {measured['direct'] / 2**20:.1f} MiB reading it, "
        f"{measured['through_archive'] / 2**20:.1f} MiB with the archive copy"
    )
    assert measured["frames"] == 40
    assert measured["direct"] < min(size / 2, 48 * 1024 * 1024)
    assert measured["through_archive"] < min(size / 2, 48 * 1024 * 1024)
