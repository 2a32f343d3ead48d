"""Whole recordings through the evidence path: the genuine one is paid, the others are not.

The recordings (tests/evidence/recordings.py) share one input log: a title typed, three headers
typed into the first row. Only the video differs."""

from __future__ import annotations

import io
import json
import zipfile
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from evidence.archive import ArchiveRefused
from evidence.services import archive_grade, archive_import
from evidence.video import VideoRefused
from pools.demonstrations import demonstration_validate
from pools.grading import TaskContext
from pools.grading.evidence import claims_without_support
from tests.evidence.conftest import requires_tesseract
from tests.evidence.recordings import FINAL_STATE, TASK, write_archive

TASK_CONTEXT = TaskContext(**TASK)


def grade(path, **kwargs):
    kwargs.setdefault("final_state", FINAL_STATE)
    with open(path, "rb") as source:
        return archive_grade(source, task=TASK_CONTEXT, **kwargs)


def checks_of(result) -> dict[str, dict]:
    return {check["name"]: check for check in result.breakdown["evidence"]["checks"]}


@requires_tesseract
def test_the_genuine_recording_passes_every_evidence_check_and_is_paid(recordings):
    result = grade(recordings["genuine"])
    evidence = result.breakdown["evidence"]
    assert {name: check["result"] for name, check in checks_of(result).items()} == dict.fromkeys(
        (
            "video_changes",
            "duration_matches",
            "events_match_video",
            "final_state",
            "success_checks",
            "typed_text",
            "clicks",
        ),
        "pass",
    )
    assert evidence["verdict"] == "supported"
    assert evidence["success_checks"] == ["Budget 2026", "Month", "Income", "Expenses"]  # proposed from the task
    assert result.paid is True and result.held is False
    assert result.score >= Decimal("0.5") == result.threshold
    assert evidence["video"]["codec"] == "h264" and evidence["video"]["width"] == 960
    assert set(result.breakdown) >= {"outcome", "process", "efficiency", "evidence"}


@requires_tesseract
def test_the_wrong_document_is_not_paid_because_its_claims_are_not_on_screen(recordings):
    result = grade(recordings["wrong_document"])
    checks = checks_of(result)
    assert checks["final_state"]["result"] == "fail"
    assert checks["success_checks"]["result"] == "fail"
    assert checks["typed_text"]["result"] == "fail"
    assert checks["video_changes"]["result"] == "pass"  # a real recording, of the wrong thing
    assert result.breakdown["evidence"]["verdict"] == "unsupported"
    assert result.paid is False and result.held is False
    # the claims counted for nothing: graded without the final state and the unseen typing
    assert result.breakdown["outcome"]["metrics"]["final_state"] == "no"
    genuine = grade(recordings["genuine"])
    assert result.score < genuine.score


@requires_tesseract
def test_a_video_that_starts_late_against_the_recorders_clock_still_passes(recordings, tmp_path):
    """The recorder stamps meta.json before FFmpeg starts: the video may begin up to a second
    late. A timestamp 0.8 s earlier than the video's start is exactly that situation."""
    from datetime import timedelta

    from tests.evidence.recordings import STARTED_AT, meta

    early = (STARTED_AT - timedelta(seconds=0.8)).isoformat()
    path = write_archive(
        tmp_path / "late.zip", video=recordings["genuine"].with_suffix(".mp4"), meta_data=meta(timestamp=early)
    )
    result = grade(path)
    assert {check["result"] for check in result.breakdown["evidence"]["checks"]} == {"pass"}
    # the last click (cell B4) is followed by no typing: only its own selection shows it happened
    changes = {item["step"]: item["change"] for item in checks_of(result)["clicks"]["details"]["items"]}
    assert changes == {0: "near", 3: "near", 10: "near"}
    assert result.paid is True


def test_the_frozen_screen_is_held_even_though_its_last_frame_shows_the_right_text(recordings):
    result = grade(recordings["frozen"])
    checks = checks_of(result)
    assert checks["video_changes"]["result"] == "fail"
    assert checks["events_match_video"]["result"] == "fail"
    assert result.breakdown["evidence"]["verdict"] == "suspicious"
    assert result.held is True and result.paid is False


def test_the_genuine_and_frozen_recordings_differ_by_their_pixels_alone(recordings):
    genuine, frozen = archive_import(str(recordings["genuine"])), archive_import(str(recordings["frozen"]))
    assert genuine.demonstration["steps"] == frozen.demonstration["steps"]
    assert genuine.demonstration["attachments"][0]["sha256"] != frozen.demonstration["attachments"][0]["sha256"]


def test_an_archive_without_a_video_is_held_for_want_of_evidence(recordings, tmp_path):
    path = write_archive(tmp_path / "novideo.zip", video=None)
    result = grade(path)
    assert result.breakdown["evidence"]["verdict"] == "no_video"
    assert result.held is True and result.paid is False
    assert "no recording.mp4" in result.breakdown["evidence"]["reasons"][0]


def test_an_archive_whose_video_is_not_a_video_is_refused(tmp_path):
    path = write_archive(tmp_path / "fake.zip", video=b"\x00\x00\x00\x18ftypisom" + b"not really" * 100)
    with pytest.raises(VideoRefused, match="not a video FFmpeg can read"):
        grade(path)
    with pytest.raises(VideoRefused):
        archive_import(str(path))


def test_the_imported_demonstration_is_valid_and_carries_its_video_as_attachment(recordings):
    imported = archive_import(str(recordings["genuine"]), final_state="done")
    demonstration = imported.demonstration
    assert demonstration_validate(demonstration) == demonstration
    [attachment] = demonstration["attachments"]
    assert attachment["name"] == "recording.mp4" and attachment["content_type"] == "video/mp4"
    assert attachment["size"] == recordings["genuine"].with_suffix(".mp4").stat().st_size
    assert imported.video.duration_seconds == pytest.approx(30.0, abs=0.3)
    assert demonstration["final_state"] == "done"


def test_unsupported_claims_are_removed_before_grading():
    demonstration = {
        "final_state": "done",
        "steps": [{"t": 0, "action": "type", "text": "a"}, {"t": 1, "action": "type", "text": "b"}],
    }
    evidence = {
        "unsupported_claims": ["typed_text"],
        "checks": [{"name": "typed_text", "details": {"items": [{"step": 1, "seen": "no"}, {"step": 0, "seen": "x"}]}}],
    }
    stripped = claims_without_support(demonstration, evidence)
    assert stripped == {
        "final_state": "done",
        "steps": [{"t": 0, "action": "type", "text": "a"}, {"t": 1, "action": "type"}],
    }
    assert demonstration["steps"][1]["text"] == "b"  # the original is untouched
    evidence["unsupported_claims"] = ["success_checks"]
    assert "final_state" not in claims_without_support(demonstration, evidence)


# -- the commands --------------------------------------------------------------------------


def test_demonstration_import_prints_the_converted_demonstration(recordings, capsys):
    call_command("demonstration_import", str(recordings["genuine"]), "--final-state", "Budget 2026")
    printed = json.loads(capsys.readouterr().out)
    assert demonstration_validate(printed) == printed
    assert printed["steps"][1] == {
        "t": 4.0,
        "action": "type",
        "target": "Document title",
        "text": "Budget 2026",
        "typed_until": 5.5,
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a zip", "The file is not a readable zip archive"),
        (None, "The archive has no meta.json"),
    ],
)
def test_demonstration_import_refuses_a_bad_archive_with_a_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.zip"
    if content is None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("input_log.jsonl", "")
        content = buffer.getvalue()
    path.write_bytes(content)
    with pytest.raises(CommandError, match=message):
        call_command("demonstration_import", str(path))


def test_demonstration_import_names_each_bad_meta_field(tmp_path):
    from tests.evidence.recordings import meta

    path = write_archive(tmp_path / "meta.zip", video=None, meta_data=meta(duration_seconds="long", status="recording"))
    with pytest.raises(CommandError) as caught:
        call_command("demonstration_import", str(path))
    assert "meta.duration_seconds: Must be a number of seconds." in str(caught.value)
    assert "meta.status:" in str(caught.value)


def test_demonstration_import_of_a_missing_file_says_so(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("demonstration_import", str(tmp_path / "nope.zip"))


def test_grade_archive_prints_one_json_object(recordings, tmp_path, capsys):
    task = tmp_path / "task.json"
    task.write_text(json.dumps(TASK))
    call_command("grade_archive", str(recordings["frozen"]), "--task", str(task), "--json")
    out = capsys.readouterr().out.strip()
    result = json.loads(out)
    assert "\n" not in out
    assert set(result) >= {"score", "paid", "held", "breakdown"}
    assert result["paid"] is False and result["held"] is True
    assert Decimal(result["score"]) == Decimal(result["score"]).quantize(Decimal("0.0001"))
    assert result["breakdown"]["evidence"]["verdict"] == "suspicious"


def test_grade_archive_takes_the_tasks_own_success_checks(recordings, tmp_path, capsys):
    task = tmp_path / "task.json"
    task.write_text(json.dumps({**TASK, "success_checks": ["Quarterly forecast"]}))
    call_command("grade_archive", str(recordings["frozen"]), "--task", str(task), "--json")
    result = json.loads(capsys.readouterr().out)
    assert result["breakdown"]["evidence"]["success_checks"] == ["Quarterly forecast"]


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ("not json", "is not JSON"),
        ('{"title": "", "instructions": "x", "expected_minutes": 0}', "title must be a non-blank string"),
        ('{"title": "t", "instructions": "x", "expected_minutes": true}', "expected_minutes must be a whole number"),
        ('{"title": "t", "instructions": "x", "expected_minutes": 2, "success_checks": "x"}', "success_checks must"),
    ],
)
def test_grade_archive_refuses_a_bad_task_file(recordings, tmp_path, task, message):
    path = tmp_path / "task.json"
    path.write_text(task)
    with pytest.raises(CommandError, match=message):
        call_command("grade_archive", str(recordings["genuine"]), "--task", str(path), "--json")


def test_grade_archive_refuses_a_broken_archive(tmp_path):
    task = tmp_path / "task.json"
    task.write_text(json.dumps(TASK))
    path = tmp_path / "broken.zip"
    path.write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(CommandError, match="not a readable zip archive"):
        call_command("grade_archive", str(path), "--task", str(task))


def test_archive_refusals_are_400_application_errors():
    error = ArchiveRefused("x")
    assert error.status == 400 and error.as_data() == {"archive": ["x"]}
