"""The desktop recorder's archive, opened safely.

The CLONES desktop recorder (github.com/clones-ai/clones-desktop) zips one recording session:
`meta.json`, `input_log.jsonl`, `recording.mp4` and, when its post-processing ran, `sft.json`.
docs/recorder-archive.md describes each file field by field and says what is ignored.

An upload is untrusted bytes. `archive_open` reads only the zip's central directory first and
refuses, with an `ArchiveRefused` (400, field `archive`) whose message says what is wrong:

- not a zip, a damaged zip (bad central directory, bad CRC, corrupt compressed data);
- a zip bomb: too many members, more uncompressed bytes than the caps below, or a member that
  expands more than MAX_COMPRESSION_RATIO times; the caps are enforced on the bytes actually
  decompressed too, never only on what the directory declares;
- a member whose path could escape a folder it were extracted into (absolute, `..`, a drive
  letter, a backslash, a NUL byte), a symbolic link, an encrypted member, a duplicated name;
- a missing `meta.json` or `input_log.jsonl`.

`meta.json` is then checked against the recorder's schema (`meta_validate`; errors name the
field, e.g. `{"meta.duration_seconds": [...]}`). Nothing is ever extracted to a path taken from
the archive, and nothing is read into memory whole except `meta.json` (at most 1 MiB): the input
log is read line by line (`RecorderArchive.input_lines`) and the video is streamed to a temporary
file in chunks while its SHA-256 is computed (`RecorderArchive.video_file`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from django.conf import settings
from django.core.exceptions import ValidationError

from core.exceptions import ApplicationError
from pools.demonstrations import DEFAULT_ATTACHMENT_MAX_BYTES, MAX_COORDINATE, MAX_DURATION_SECONDS

META_NAME = "meta.json"
INPUT_LOG_NAME = "input_log.jsonl"
VIDEO_NAME = "recording.mp4"
REQUIRED_MEMBERS = (META_NAME, INPUT_LOG_NAME)

# The recorder writes 3 or 4 files; a few more (a zipping tool's __MACOSX/ folder) are tolerated.
MAX_MEMBERS = 64
MAX_META_BYTES = 1024 * 1024
# Accessibility-tree dumps make the log large: one per click or navigation key, each the whole tree.
MAX_INPUT_LOG_BYTES = 256 * 1024 * 1024
MAX_INPUT_LINE_BYTES = 16 * 1024 * 1024
# Everything that is neither the video nor the log (sft.json, stray files) together.
MAX_OTHER_BYTES = 64 * 1024 * 1024
# Deflate cannot legitimately expand screen video and JSON lines by more than this; bombs do.
MAX_COMPRESSION_RATIO = 100
# Tiny members (an empty log, a short meta) compress absurdly well and are harmless.
RATIO_CHECK_MIN_BYTES = 1024 * 1024
CHUNK_BYTES = 1024 * 1024

_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_IGNORED_PREFIXES = ("__MACOSX/",)


class ArchiveRefused(ApplicationError):
    """The uploaded file is not a recorder archive we can read safely (400, field `archive`)."""

    def __init__(self, message: str):
        super().__init__(message, field="archive")


def video_max_bytes() -> int:
    return getattr(settings, "FORGE_ATTACHMENT_MAX_BYTES", DEFAULT_ATTACHMENT_MAX_BYTES)


def max_total_bytes() -> int:
    """The cap on the archive's uncompressed size: the largest video plus the largest log plus the rest."""
    return video_max_bytes() + MAX_INPUT_LOG_BYTES + MAX_OTHER_BYTES


@dataclass(frozen=True)
class InputLine:
    """One line of input_log.jsonl: `value` is the parsed JSON, or None with `problem` saying why."""

    number: int
    value: object
    problem: str | None = None


@dataclass(frozen=True)
class VideoFile:
    """The archive's video, copied to a temporary file that lives as long as the `with` block."""

    path: str
    size: int
    sha256: str


class RecorderArchive:
    """An opened, checked recorder archive. Use through `archive_open`."""

    def __init__(self, zip_file: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], meta: dict):
        self._zip = zip_file
        self._members = members
        self.meta = meta

    @property
    def has_video(self) -> bool:
        return VIDEO_NAME in self._members

    @property
    def member_names(self) -> list[str]:
        return sorted(self._members)

    def input_lines(self) -> Iterator[InputLine]:
        """The input log, one parsed line at a time (blank lines skipped). A line that is not a
        JSON object, or is longer than MAX_INPUT_LINE_BYTES, comes back with a `problem`."""
        info = self._members[INPUT_LOG_NAME]
        budget = _Budget(INPUT_LOG_NAME, MAX_INPUT_LOG_BYTES)
        with _member_errors(INPUT_LOG_NAME), self._zip.open(info) as handle:
            number = 0
            while True:
                line = handle.readline(MAX_INPUT_LINE_BYTES + 1)
                if not line:
                    return
                number += 1
                budget.take(len(line))
                if len(line) > MAX_INPUT_LINE_BYTES and not line.endswith(b"\n"):
                    # Skip the rest of the over-long line without holding it.
                    while line and not line.endswith(b"\n"):
                        line = handle.readline(CHUNK_BYTES)
                        budget.take(len(line))
                    yield InputLine(number, None, f"longer than {MAX_INPUT_LINE_BYTES} bytes")
                    continue
                stripped = line.strip()
                if not stripped:
                    continue
                yield _parse_line(number, stripped)

    @contextlib.contextmanager
    def video_file(self) -> Iterator[VideoFile]:
        """Stream recording.mp4 to a temporary file (deleted afterwards), at most
        FORGE_ATTACHMENT_MAX_BYTES, hashing it on the way. Refuses a member that is not MP4."""
        if not self.has_video:
            raise ArchiveRefused(f"The archive has no {VIDEO_NAME}.")
        info = self._members[VIDEO_NAME]
        budget = _Budget(VIDEO_NAME, video_max_bytes())
        digest = hashlib.sha256()
        size = 0
        with tempfile.NamedTemporaryFile(prefix="recording-", suffix=".mp4") as spool:
            with _member_errors(VIDEO_NAME), self._zip.open(info) as handle:
                while chunk := handle.read(CHUNK_BYTES):
                    budget.take(len(chunk))
                    digest.update(chunk)
                    size += len(chunk)
                    spool.write(chunk)
            spool.flush()
            spool.seek(0)
            head = spool.read(12)
            if len(head) < 12 or head[4:8] != b"ftyp":
                raise ArchiveRefused(f"{VIDEO_NAME} is not an MP4 video (it has no 'ftyp' header).")
            yield VideoFile(path=spool.name, size=size, sha256=digest.hexdigest())


@contextlib.contextmanager
def archive_open(source: str | IO[bytes]) -> Iterator[RecorderArchive]:
    """Open a recorder archive (a path or a seekable binary file) and check it; see the module doc.

    Raises ArchiveRefused for an unsafe or unreadable archive, ValidationError (`meta.*` fields)
    for a meta.json that does not match the recorder's schema.
    """
    try:
        zip_file = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as error:
        raise ArchiveRefused(f"The file is not a readable zip archive ({_describe(error)}).") from None
    except OSError as error:
        raise ArchiveRefused(f"The file could not be read as a zip archive ({_describe(error)}).") from None
    with zip_file:
        members = _checked_members(zip_file)
        raw_meta = _read_member(zip_file, members[META_NAME], MAX_META_BYTES)
        try:
            meta_data = json.loads(raw_meta.decode("utf-8"), parse_constant=_refuse_constant)
        except (UnicodeDecodeError, ValueError) as error:
            raise ValidationError({"meta": [f"{META_NAME} is not valid JSON ({_describe(error)})."]}) from None
        yield RecorderArchive(zip_file, members, meta_validate(meta_data))


def _checked_members(zip_file: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """Check every member's path, type and size; return the session's files by name."""
    infos = zip_file.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ArchiveRefused(f"The archive has {len(infos)} members; at most {MAX_MEMBERS} are allowed.")
    total = 0
    seen: set[str] = set()
    files: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        _check_path(name)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ArchiveRefused(f"The archive member {name!r} is a symbolic link; links are not allowed.")
        if info.flag_bits & 0x1:
            raise ArchiveRefused(f"The archive member {name!r} is encrypted; upload the recorder's archive as it is.")
        normalised = "/".join(part for part in name.split("/") if part not in ("", "."))
        if info.is_dir():
            continue
        if normalised in seen:
            raise ArchiveRefused(f"The archive holds two members named {normalised!r}.")
        seen.add(normalised)
        total += info.file_size
        if total > max_total_bytes():
            raise ArchiveRefused(
                f"The archive expands to more than {max_total_bytes()} bytes; that is more than a recording can be."
            )
        if info.file_size >= RATIO_CHECK_MIN_BYTES and info.file_size > MAX_COMPRESSION_RATIO * max(
            info.compress_size, 1
        ):
            raise ArchiveRefused(
                f"The archive member {name!r} expands {info.file_size // max(info.compress_size, 1)} times "
                f"({info.compress_size} to {info.file_size} bytes); at most {MAX_COMPRESSION_RATIO} times is "
                "allowed (a zip bomb?)."
            )
        if not normalised.startswith(_IGNORED_PREFIXES):
            files[normalised] = info

    prefix = _session_prefix(files)
    session = {name[len(prefix) :]: info for name, info in files.items() if name.startswith(prefix)}
    missing = [name for name in REQUIRED_MEMBERS if name not in session]
    if missing:
        found = ", ".join(sorted(files)) or "nothing"
        raise ArchiveRefused(
            f"The archive has no {' and no '.join(missing)}; a recorder archive holds {META_NAME}, "
            f"{INPUT_LOG_NAME} and {VIDEO_NAME} (found: {found[:300]})."
        )
    for name, limit in ((META_NAME, MAX_META_BYTES), (INPUT_LOG_NAME, MAX_INPUT_LOG_BYTES), (VIDEO_NAME, None)):
        info = session.get(name)
        limit = video_max_bytes() if limit is None else limit
        if info is not None and info.file_size > limit:
            raise ArchiveRefused(f"{name} is {info.file_size} bytes; the limit is {limit} bytes.")
    return session


def _check_path(name: str) -> None:
    if "\x00" in name:
        raise ArchiveRefused("An archive member's name contains a NUL byte.")
    if "\\" in name:
        raise ArchiveRefused(f"The archive member {name[:200]!r} uses a backslash in its path; paths use '/'.")
    if name.startswith("/") or _DRIVE_RE.match(name):
        raise ArchiveRefused(f"The archive member {name[:200]!r} has an absolute path.")
    if ".." in name.split("/"):
        raise ArchiveRefused(f"The archive member {name[:200]!r} points outside the archive ('..').")


def _session_prefix(files: dict[str, zipfile.ZipInfo]) -> str:
    """'' when the session's files are at the root (the recorder's own archive); 'folder/' when a
    farmer zipped the session folder itself."""
    if META_NAME in files:
        return ""
    folders = {name.rsplit("/", 1)[0] for name in files if name.endswith("/" + META_NAME) and name.count("/") == 1}
    return f"{folders.pop()}/" if len(folders) == 1 else ""


class _Budget:
    """Counts bytes actually decompressed from one member; refuses past `limit`."""

    def __init__(self, name: str, limit: int):
        self.name = name
        self.limit = limit
        self.used = 0

    def take(self, count: int) -> None:
        self.used += count
        if self.used > self.limit:
            raise ArchiveRefused(f"{self.name} expands to more than {self.limit} bytes.")


@contextlib.contextmanager
def _member_errors(name: str) -> Iterator[None]:
    """Turn the zip module's many ways of saying "damaged" into one clear refusal."""
    try:
        yield
    except ArchiveRefused:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as error:
        raise ArchiveRefused(f"The archive is damaged: {name} cannot be read ({_describe(error)}).") from None
    except NotImplementedError as error:
        raise ArchiveRefused(f"{name} uses a compression method we cannot read ({_describe(error)}).") from None
    except RuntimeError as error:  # encrypted members, when the flag bit lies
        raise ArchiveRefused(f"{name} cannot be read ({_describe(error)}).") from None


def _read_member(zip_file: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    budget = _Budget(info.filename, limit)
    parts = []
    with _member_errors(info.filename), zip_file.open(info) as handle:
        while chunk := handle.read(min(CHUNK_BYTES, limit + 1)):
            budget.take(len(chunk))
            parts.append(chunk)
    return b"".join(parts)


def _parse_line(number: int, raw: bytes) -> InputLine:
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        return InputLine(number, None, f"not JSON ({_describe(error)[:80]})")
    if not isinstance(value, dict):
        return InputLine(number, None, "not a JSON object")
    return InputLine(number, value)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _describe(error: BaseException) -> str:
    text = str(error).strip() or error.__class__.__name__
    return text[:200]


# -- meta.json -------------------------------------------------------------------------------

# (field, required) for the string fields of the recorder's RecordingMeta (src-tauri/src/core/record.rs).
_META_STRINGS = (
    ("id", True),
    ("status", True),
    ("title", True),
    ("description", False),
    ("platform", True),
    ("arch", True),
    ("version", True),
    ("locale", True),
    ("reason", False),
    ("keyboard_layout", False),
)
MAX_META_STRING_CHARS = 2_000
COMPLETED = "completed"


def meta_validate(data) -> dict:
    """Check a parsed meta.json against the recorder's schema; return the known fields, normalised.

    `timestamp` becomes an aware datetime (`started_at`), `duration_seconds` a float. Unknown
    fields are dropped (docs/recorder-archive.md lists what is read). Raises ValidationError
    whose keys are `meta.<field>`.
    """
    if not isinstance(data, dict):
        raise ValidationError({"meta": [f"{META_NAME} must be a JSON object."]})
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(f"meta.{field}", []).append(message)

    meta: dict = {}
    for field, required in _META_STRINGS:
        value = data.get(field)
        if value is None:
            if required:
                add(field, "This field is required.")
            continue
        if not isinstance(value, str):
            add(field, "Must be a string.")
        elif len(value) > MAX_META_STRING_CHARS:
            add(field, f"{len(value)} characters; at most {MAX_META_STRING_CHARS} are allowed.")
        else:
            meta[field] = value

    if meta.get("status") not in (None, COMPLETED):
        add(
            "status",
            f"The recording's status is {meta['status'][:40]!r}, not {COMPLETED!r}: it was not stopped properly. "
            "Stop the recording in the recorder and upload the archive again.",
        )

    timestamp = data.get("timestamp")
    if timestamp is None:
        add("timestamp", "This field is required.")
    elif not isinstance(timestamp, str):
        add("timestamp", "Must be an RFC 3339 date-time string, e.g. 2026-01-12T09:30:00+01:00.")
    else:
        try:
            started_at = datetime.fromisoformat(timestamp)
        except ValueError:
            add("timestamp", f"{timestamp[:40]!r} is not an RFC 3339 date-time.")
        else:
            if started_at.tzinfo is None or started_at.utcoffset() is None:
                add("timestamp", "Must include a timezone offset, as the recorder writes it.")
            else:
                meta["started_at"] = started_at

    duration = data.get("duration_seconds")
    if duration is None:
        add("duration_seconds", "This field is required.")
    elif isinstance(duration, bool) or not isinstance(duration, int | float) or not math.isfinite(duration):
        add("duration_seconds", "Must be a number of seconds.")
    elif not 0 <= duration <= MAX_DURATION_SECONDS:
        add("duration_seconds", f"Must be between 0 and {MAX_DURATION_SECONDS} seconds.")
    else:
        meta["duration_seconds"] = float(duration)

    monitor = data.get("primary_monitor")
    if monitor is not None:
        if not isinstance(monitor, dict):
            add("primary_monitor", 'Must be an object {"width": int, "height": int}.')
        else:
            sizes = {}
            for side in ("width", "height"):
                value = monitor.get(side)
                if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COORDINATE:
                    add(f"primary_monitor.{side}", f"Must be an integer between 1 and {MAX_COORDINATE} (pixels).")
                else:
                    sizes[side] = value
            if len(sizes) == 2:
                meta["primary_monitor"] = sizes

    quest = data.get("quest")
    if quest is not None:
        meta["quest"] = _quest_validate(quest, add)

    if errors:
        raise ValidationError(errors)
    return meta


def _quest_validate(quest, add) -> dict:
    """The task the recorder was given (`quest`, the recorder's Demonstration struct)."""
    if not isinstance(quest, dict):
        add("quest", "Must be an object or null.")
        return {}
    clean: dict = {}
    for field in ("title", "app", "content", "icon_url", "pool_id", "task_id"):
        value = quest.get(field)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > MAX_META_STRING_CHARS:
            add(f"quest.{field}", f"Must be a string of at most {MAX_META_STRING_CHARS} characters.")
        else:
            clean[field] = value
    objectives = quest.get("objectives")
    if objectives is not None:
        if (
            not isinstance(objectives, list)
            or len(objectives) > 100
            or not all(isinstance(item, str) and len(item) <= MAX_META_STRING_CHARS for item in objectives)
        ):
            add("quest.objectives", "Must be a list of at most 100 strings.")
        else:
            clean["objectives"] = objectives
    return clean
