"""Opening an uploaded recorder archive: what is refused, with which message, and what is read."""

from __future__ import annotations

import io
import json
import stat
import zipfile

import pytest
from django.core.exceptions import ValidationError

from evidence import archive as archive_module
from evidence.archive import ArchiveRefused, archive_open
from tests.evidence.recordings import input_log_text, meta, write_archive

MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


def zip_bytes(members: dict[str, bytes | str], *, compression=zipfile.ZIP_STORED, infos=None) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for info, data in infos or ():
            archive.writestr(info, data)
    buffer.seek(0)
    return buffer


def session(**extra) -> dict[str, bytes | str]:
    return {"meta.json": json.dumps(meta()), "input_log.jsonl": input_log_text(), **extra}


def refused(source) -> str:
    with pytest.raises(ArchiveRefused) as caught, archive_open(source):
        pass
    assert caught.value.field == "archive"
    assert caught.value.status == 400
    return caught.value.message


def test_a_recorder_archive_opens_with_its_meta_read_and_normalised(tmp_path):
    path = write_archive(tmp_path / "a.zip", video=MP4_HEAD + b"\x00" * 100)
    with archive_open(str(path)) as archive:
        assert archive.member_names == ["input_log.jsonl", "meta.json", "recording.mp4"]
        assert archive.has_video
        assert archive.meta["id"] == "20260112_093000"
        assert archive.meta["duration_seconds"] == 30.0
        # chrono writes nanoseconds; they are read, not refused
        assert archive.meta["started_at"].isoformat() == "2026-01-12T09:30:00.250000+01:00"
        assert "unknown_field" not in archive.meta
        lines = list(archive.input_lines())
    assert lines[3].problem is not None and "not JSON" in lines[3].problem
    assert sum(1 for line in lines if line.problem is None) == len(lines) - 1


def test_the_session_folder_itself_may_be_zipped(tmp_path):
    buffer = zip_bytes({f"20260112_093000/{name}": data for name, data in session().items()})
    with archive_open(buffer) as archive:
        assert archive.meta["id"] == "20260112_093000"
        assert not archive.has_video


def test_a_file_that_is_not_a_zip_is_refused():
    assert "not a readable zip archive" in refused(io.BytesIO(b"%PDF-1.7 this is a pdf"))


def test_an_empty_upload_is_refused():
    assert "not a readable zip archive" in refused(io.BytesIO(b""))


def test_a_truncated_zip_is_refused(tmp_path):
    data = zip_bytes(session()).getvalue()
    assert "not a readable zip archive" in refused(io.BytesIO(data[: len(data) // 2]))


def test_a_member_with_damaged_bytes_is_refused_when_read():
    data = bytearray(zip_bytes(session()).getvalue())
    offset = data.index(b'"completed"')
    data[offset + 1 : offset + 4] = b"XXX"  # same length, so only the CRC tells
    message = refused(io.BytesIO(bytes(data)))
    assert "damaged" in message and "meta.json" in message


def test_a_zip_bomb_member_is_refused_by_its_compression_ratio():
    bomb = b"\0" * (20 * 1024 * 1024)
    message = refused(zip_bytes(session(**{"sft.json": bomb}), compression=zipfile.ZIP_DEFLATED))
    assert "expands" in message and "zip bomb" in message and "sft.json" in message


def test_an_archive_larger_than_the_caps_is_refused_before_reading(settings):
    settings.FORGE_ATTACHMENT_MAX_BYTES = 1024
    archive_module.MAX_INPUT_LOG_BYTES, old = 1024, archive_module.MAX_INPUT_LOG_BYTES
    try:
        message = refused(zip_bytes(session(**{"sft.json": b"x" * (70 * 1024 * 1024)})))
    finally:
        archive_module.MAX_INPUT_LOG_BYTES = old
    assert "expands to more than" in message


def test_a_video_over_the_attachment_limit_is_refused(settings):
    settings.FORGE_ATTACHMENT_MAX_BYTES = 1000
    message = refused(zip_bytes(session(**{"recording.mp4": MP4_HEAD + b"\0" * 2000})))
    assert message == "recording.mp4 is 2024 bytes; the limit is 1000 bytes."


def test_too_many_members_are_refused():
    members = session(**{f"extra/{i}.txt": "x" for i in range(70)})
    assert "at most 64 are allowed" in refused(zip_bytes(members))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../meta.json", "points outside the archive"),
        ("session/../../etc/passwd", "points outside the archive"),
        ("/etc/passwd", "absolute path"),
        ("C:/Windows/evil.dll", "absolute path"),
        ("..\\evil.txt", "backslash"),
    ],
)
def test_paths_that_escape_the_archive_are_refused(name, expected):
    info = zipfile.ZipInfo("placeholder")
    info.filename = name  # ZipInfo cleans names it is given; an attacker's zip is not cleaned
    assert expected in refused(zip_bytes(session(), infos=[(info, b"x")]))


def test_a_symbolic_link_is_refused():
    info = zipfile.ZipInfo("recording.mp4")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    message = refused(zip_bytes(session(), infos=[(info, b"/etc/passwd")]))
    assert "symbolic link" in message


def test_an_encrypted_member_is_refused():
    data = bytearray(zip_bytes(session(**{"sft.json": b"x"})).getvalue())
    entry = data.rindex(b"PK\x01\x02")  # the last central directory entry: sft.json
    data[entry + 8] |= 0x1  # general purpose flag bit 0: encrypted
    assert "'sft.json' is encrypted" in refused(io.BytesIO(bytes(data)))


def test_two_members_with_one_name_are_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in session().items():
            archive.writestr(name, data)
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("meta.json", json.dumps(meta(id="another")))
    buffer.seek(0)
    assert "two members named 'meta.json'" in refused(buffer)


@pytest.mark.parametrize("missing", ["meta.json", "input_log.jsonl"])
def test_an_archive_without_meta_or_input_log_is_refused(missing):
    members = session()
    del members[missing]
    message = refused(zip_bytes(members))
    assert f"has no {missing}" in message and "a recorder archive holds" in message


def test_a_meta_that_is_not_json_is_refused_with_a_field_error():
    with pytest.raises(ValidationError) as caught, archive_open(zip_bytes(session(**{"meta.json": "{not json"}))):
        pass
    assert "meta.json is not valid JSON" in caught.value.message_dict["meta"][0]


def meta_errors(**changes) -> dict:
    data = meta()
    for key, value in changes.items():
        if value is KeyError:
            del data[key]
        else:
            data[key] = value
    with pytest.raises(ValidationError) as caught, archive_open(zip_bytes(session(**{"meta.json": json.dumps(data)}))):
        pass
    return caught.value.message_dict


def test_a_meta_missing_required_fields_names_each_of_them():
    errors = meta_errors(id=KeyError, timestamp=KeyError, duration_seconds=KeyError, platform=KeyError)
    for field in ("id", "timestamp", "duration_seconds", "platform"):
        assert errors[f"meta.{field}"] == ["This field is required."]


def test_a_meta_with_wrong_types_is_refused_field_by_field():
    errors = meta_errors(
        duration_seconds="thirty",
        timestamp="yesterday",
        title=12,
        primary_monitor={"width": 0, "height": "tall"},
        quest={"title": 5, "objectives": "not a list"},
    )
    assert errors["meta.duration_seconds"] == ["Must be a number of seconds."]
    assert "is not an RFC 3339 date-time" in errors["meta.timestamp"][0]
    assert errors["meta.title"] == ["Must be a string."]
    assert "meta.primary_monitor.width" in errors and "meta.primary_monitor.height" in errors
    assert "meta.quest.title" in errors and "meta.quest.objectives" in errors


def test_a_meta_without_timezone_or_with_an_impossible_duration_is_refused():
    errors = meta_errors(timestamp="2026-01-12T09:30:00", duration_seconds=-1)
    assert errors["meta.timestamp"] == ["Must include a timezone offset, as the recorder writes it."]
    assert errors["meta.duration_seconds"] == ["Must be between 0 and 86400 seconds."]


def test_a_recording_that_was_never_stopped_is_refused():
    errors = meta_errors(status="recording")
    assert "was not stopped properly" in errors["meta.status"][0]


def test_a_meta_edited_by_the_recorder_has_a_fractional_duration_and_is_accepted():
    buffer = zip_bytes(session(**{"meta.json": json.dumps(meta(duration_seconds=27.5))}))
    with archive_open(buffer) as archive:
        assert archive.meta["duration_seconds"] == 27.5


def test_an_over_long_input_line_is_reported_not_held(monkeypatch):
    monkeypatch.setattr(archive_module, "MAX_INPUT_LINE_BYTES", 1000)
    log = '{"event": "mousemove", "data": {"x": 1, "y": 2}, "time": 1}\n' + "x" * 5000 + "\n" + "[1, 2]\n"
    with archive_open(zip_bytes(session(**{"input_log.jsonl": log}))) as archive:
        lines = list(archive.input_lines())
    assert [line.problem for line in lines] == [None, "longer than 1000 bytes", "not a JSON object"]
    assert [line.number for line in lines] == [1, 2, 3]


def test_an_input_log_over_its_cap_is_refused_before_reading(monkeypatch):
    monkeypatch.setattr(archive_module, "MAX_INPUT_LOG_BYTES", 2000)
    log = '{"event": "mousemove", "data": {"x": 1, "y": 2}, "time": 1}\n' * 100
    assert refused(zip_bytes(session(**{"input_log.jsonl": log}))) == (
        "input_log.jsonl is 6000 bytes; the limit is 2000 bytes."
    )


def test_a_video_member_that_is_not_mp4_is_refused_when_copied():
    source = zip_bytes(session(**{"recording.mp4": b"<html>not a video</html>"}))
    with archive_open(source) as archive, pytest.raises(ArchiveRefused) as caught, archive.video_file():
        pass
    assert caught.value.message == "recording.mp4 is not an MP4 video (it has no 'ftyp' header)."


def test_the_video_is_streamed_to_a_temporary_file_with_its_sha256(tmp_path):
    import hashlib
    import os

    payload = MP4_HEAD + os.urandom(3 * archive_module.CHUNK_BYTES + 17)
    with archive_open(zip_bytes(session(**{"recording.mp4": payload}))) as archive, archive.video_file() as video:
        assert video.size == len(payload)
        assert video.sha256 == hashlib.sha256(payload).hexdigest()
        with open(video.path, "rb") as handle:
            assert handle.read() == payload
        path = video.path
    assert not os.path.exists(path)
