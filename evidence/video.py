"""A recording's video, read as a video and in bounded memory (PyAV, which ships FFmpeg).

- `video_probe(path)` opens the file with FFmpeg's MP4/QuickTime demuxer only (the recorder
  writes H.264 in MP4; fewer demuxers, less untrusted-input surface), decodes its first frame and
  returns container, codec, size, duration and frame rate, or raises `VideoRefused` (400, field
  `video`) saying why the file is not a usable video.
- `keyframes_extract(path, times)` returns one `Keyframe` per requested time: the frame on screen
  at that time (the last frame whose timestamp is at or before it). An H.264 frame can only be
  decoded after every frame since its key frame, so the cost is the frames decoded: it decodes
  forward in one pass and seeks only where that skips frames, i.e. when the key frame a seek to
  the next time would land on (the MP4's sample index says where they are) comes after the last
  frame decoded. Frames between the last time a key frame's stretch needs and the next key
  frame are never decoded; close times cost one decode of their stretch, not one per time. (A
  file without an index seeks across gaps longer than SEEK_GAP_SECONDS.) Each kept frame is
  reduced at once to a small grayscale thumbnail (THUMB_WIDTH wide) and a 64-bit difference
  hash; the full-size picture (its luma, grayscale) is handed to `on_full_frame` only for the
  indices the caller asks for (OCR) and dropped straight after. Memory is one decoded frame plus
  the thumbnails, whatever the file's size. `DecodeStats` counts frames decoded and seeks.

One worker process is one core, and throughput comes from running more workers
(bench/evidence.py measures both): FFmpeg's decoder runs on one thread (DECODE_THREADS; its
default is one thread per core plus one) and so does its scaler (SCALE_THREADS; PyAV's default
starts a pool of threads per call), in the probe as in the extraction. Neither changes a pixel.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import av
import numpy as np
from PIL import Image

from core.exceptions import ApplicationError
from pools.demonstrations import MAX_DURATION_SECONDS

DEMUXER = "mov"  # FFmpeg's "mov,mp4,m4a,3gp,3g2,mj2" demuxer
MAX_PIXELS = 7680 * 4320  # 8K: a larger frame is not a screen recording
THUMB_WIDTH = 480
SEEK_GAP_SECONDS = 10.0  # without an index: longer than the recorder's key-frame interval (x264's 250 frames at 30 fps)
DECODE_THREADS = 1
SCALE_THREADS = 1
DHASH_SIZE = 8
_TIME_EPSILON = 1e-4


class VideoRefused(ApplicationError):
    """The file is not a video we can read (400, field `video`)."""

    def __init__(self, message: str):
        super().__init__(message, field="video")


@dataclass(frozen=True)
class VideoInfo:
    container: str
    codec: str
    width: int
    height: int
    duration_seconds: float
    frame_rate: float
    frames: int | None

    def as_dict(self) -> dict:
        return {
            "container": self.container,
            "codec": self.codec,
            "width": self.width,
            "height": self.height,
            "duration_seconds": f"{self.duration_seconds:.3f}",
            "frame_rate": f"{self.frame_rate:.3f}",
            "frames": self.frames,
        }


@dataclass
class DecodeStats:
    """What a `keyframes_extract` call cost: frames decoded and seeks taken."""

    frames_decoded: int = 0
    seeks: int = 0


@dataclass(frozen=True)
class Keyframe:
    """The frame on screen at `requested_t` (seconds of video time): its own time `t`, a small
    grayscale thumbnail (uint8, THUMB_WIDTH wide, the video's aspect ratio) and its dHash."""

    index: int
    requested_t: float
    t: float
    thumb: np.ndarray
    dhash: str

    def as_dict(self) -> dict:
        return {
            "index": self.index,
            "t": f"{self.t:.3f}",
            "requested_t": f"{self.requested_t:.3f}",
            "dhash": self.dhash,
        }


def _open(path: str):
    try:
        return av.open(path, format=DEMUXER, metadata_errors="ignore")
    except (av.FFmpegError, OSError, ValueError) as error:
        raise VideoRefused(f"The recording is not a video FFmpeg can read as MP4 ({_describe(error)}).") from None


def video_probe(path: str) -> VideoInfo:
    """Container, codec, size, duration and frame rate of the video at `path`; VideoRefused if
    it is not a decodable MP4 video of a plausible size and length."""
    container = _open(path)
    with container:
        if not container.streams.video:
            raise VideoRefused("The recording has no video stream.")
        stream = container.streams.video[0]
        context = stream.codec_context
        width, height = int(context.width or 0), int(context.height or 0)
        if width <= 0 or height <= 0:
            raise VideoRefused("The recording's video stream has no picture size.")
        if width * height > MAX_PIXELS:
            raise VideoRefused(f"The recording is {width}x{height}; at most 8K (7680x4320) is accepted.")
        rate = stream.average_rate or stream.guessed_rate
        frame_rate = float(rate) if rate else 0.0
        duration = _duration(container, stream)
        if duration is None or not math.isfinite(duration) or duration <= 0:
            raise VideoRefused("The recording's video has no duration.")
        if duration > MAX_DURATION_SECONDS:
            raise VideoRefused(f"The recording lasts {duration:.0f} s; at most 24 h is accepted.")
        context.thread_count = DECODE_THREADS
        try:
            first = next(container.decode(stream), None)
        except (av.FFmpegError, OSError, ValueError) as error:
            raise VideoRefused(f"The recording's first frame cannot be decoded ({_describe(error)}).") from None
        if first is None:
            raise VideoRefused("The recording's video has no frame.")
        return VideoInfo(
            container=container.format.name,
            codec=context.name,
            width=width,
            height=height,
            duration_seconds=duration,
            frame_rate=frame_rate,
            frames=int(stream.frames) or None,
        )


def _duration(container, stream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def thumb_size(width: int, height: int, thumb_width: int = THUMB_WIDTH) -> tuple[int, int]:
    thumb_width = min(thumb_width, width)
    return thumb_width, max(1, round(height * thumb_width / width))


def keyframes_extract(
    path: str,
    times: Sequence[float],
    *,
    full_frames: Iterable[int] = (),
    on_full_frame: Callable[[int, Image.Image], None] | None = None,
    thumb_width: int = THUMB_WIDTH,
    stats: DecodeStats | None = None,
) -> list[Keyframe]:
    """One Keyframe per entry of `times` (seconds of video time, any order; past the end means
    the last frame), in the order given. For each index in `full_frames`, `on_full_frame(index,
    grayscale image)` is called with the full-size frame's luma while it is decoded (module doc).
    `stats`, when given, is filled in with the frames decoded and the seeks taken."""
    stats = stats if stats is not None else DecodeStats()
    wanted_full = set(full_frames)
    order = sorted(range(len(times)), key=lambda i: times[i])
    results: list[Keyframe | None] = [None] * len(times)
    container = _open(path)
    with container:
        if not container.streams.video:
            raise VideoRefused("The recording has no video stream.")
        stream = container.streams.video[0]
        stream.codec_context.thread_count = DECODE_THREADS
        origin = float(stream.start_time * stream.time_base) if stream.start_time and stream.time_base else 0.0
        size = thumb_size(stream.codec_context.width, stream.codec_context.height, thumb_width)
        frame_rate = float(stream.average_rate) if stream.average_rate else 30.0
        # The frame handed out last and its reduction: several times can fall on one frame.
        last: list = [None, None]

        def keep(position: int, frame, frame_t: float) -> None:
            index = order[position]
            if last[0] is not frame:
                thumb = frame.reformat(
                    width=size[0], height=size[1], format="gray", interpolation="AREA", threads=SCALE_THREADS
                ).to_ndarray()
                thumb = np.ascontiguousarray(thumb)
                last[0], last[1] = frame, (frame_t, thumb, dhash(thumb))
            frame_time, thumb, digest = last[1]
            if index in wanted_full and on_full_frame is not None:
                on_full_frame(index, _luma_image(frame))
            results[index] = Keyframe(index, float(times[index]), frame_time, thumb, digest)

        def timestamp(t: float) -> int:
            return int((t + origin) / stream.time_base)

        entries = stream.index_entries if stream.time_base else ()
        # The MP4 index holds decoding times. With B-frames they run ahead of the times frames are
        # shown by the reorder delay, and FFmpeg's seek to t lands on the last key frame decoded
        # at or before t minus that delay (the recorder's x264 "ultrafast" writes no B-frames: 0).
        reorder = max(0.0, origin - float(entries[0].timestamp * stream.time_base)) if len(entries) else 0.0

        def worth_seeking(target: float, decoded_t: float) -> bool:
            """Whether seeking to `target` skips frames: the key frame the seek lands on comes
            after the last frame decoded (without an index: the gap is long)."""
            if not len(entries):
                return target - decoded_t > SEEK_GAP_SECONDS
            found = entries.search_timestamp(timestamp(target - reorder), backward=True, any_frame=False)
            landing = float(entries[found].timestamp * stream.time_base) - origin if found >= 0 else -math.inf
            return landing > decoded_t + _TIME_EPSILON

        def frames_from(start: float):
            if start > 0:
                container.seek(timestamp(start), stream=stream, backward=True, any_frame=False)
                stats.seeks += 1
            counter = 0
            try:
                for frame in container.decode(stream):
                    counter += 1
                    stats.frames_decoded += 1
                    # Without timestamps: count frames.
                    frame_t = frame.time - origin if frame.time is not None else (counter - 1) / frame_rate
                    yield frame, frame_t
            except (av.FFmpegError, OSError, ValueError) as error:
                raise VideoRefused(f"The recording cannot be decoded ({_describe(error)}).") from None

        position, considered = 0, -1  # considered: the last position a seek was weighed for
        previous, previous_t = None, -math.inf
        decoded = frames_from(0.0)
        while position < len(order):
            target = float(times[order[position]])
            if position != considered and previous is not None:
                considered = position
                if worth_seeking(target, previous_t):
                    decoded = frames_from(target)
                    previous, previous_t = None, -math.inf
            item = next(decoded, None)
            if item is None:  # end of the video: later times see its last frame
                if previous is None:
                    raise VideoRefused("The recording's video has no frame at the requested times.")
                while position < len(order):
                    keep(position, previous, previous_t)
                    position += 1
                break
            frame, frame_t = item
            if frame_t <= target + _TIME_EPSILON:
                previous, previous_t = frame, frame_t
                continue
            shown, shown_t = (previous, previous_t) if previous is not None else (frame, frame_t)
            while position < len(order) and float(times[order[position]]) < frame_t - _TIME_EPSILON:
                keep(position, shown, shown_t)
                position += 1
            previous, previous_t = frame, frame_t
    return [keyframe for keyframe in results if keyframe is not None]


_LUMA_FIRST_FORMATS = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21"})


def _luma_image(frame) -> Image.Image:
    """The full-size frame as a grayscale picture: its luma plane, copied as is (no colour
    conversion: OCR reads gray, and converting 1080p to RGB costs ~20 ms a frame)."""
    if frame.format.name in _LUMA_FIRST_FORMATS:
        plane = frame.planes[0]
        rows = np.frombuffer(plane, np.uint8)[: plane.line_size * frame.height].reshape(frame.height, plane.line_size)
        return Image.fromarray(np.ascontiguousarray(rows[:, : frame.width]), mode="L")
    return frame.to_image(threads=SCALE_THREADS).convert("L")


def dhash(gray: np.ndarray, size: int = DHASH_SIZE) -> str:
    """64-bit difference hash of a grayscale picture, as 16 hex digits: each bit says whether a
    cell of a (size+1) by size reduction is brighter than its right neighbour. Robust to scaling and
    re-encoding, so the same screen recorded twice hashes (nearly) the same."""
    small = np.asarray(Image.fromarray(gray).resize((size + 1, size), Image.Resampling.BILINEAR), dtype=np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return f"{value:0{size * size // 4}x}"


def dhash_distance(first: str, second: str) -> int:
    """Hamming distance between two dHashes (0 = same picture, 64 = opposite)."""
    return (int(first, 16) ^ int(second, 16)).bit_count()


def _describe(error: BaseException) -> str:
    return (str(error).strip() or error.__class__.__name__)[:200]
