"""The evidence checks as pure functions over keyframes, screen text and a demonstration."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evidence.checks import (
    FAIL,
    PASS,
    SKIPPED,
    changed_share,
    claim_words,
    evidence_plan,
    evidence_report,
    evidence_report_without_video,
    success_checks_propose,
)
from evidence.video import Keyframe, dhash

WIDTH, HEIGHT = 960, 540
VIDEO = {"duration_seconds": "20.000", "width": WIDTH, "height": HEIGHT}


def demonstration(steps, final_state=None):
    data = {"started_at": "2026-01-12T09:30:00+00:00", "ended_at": "2026-01-12T09:30:20+00:00", "steps": steps}
    if final_state:
        data["final_state"] = final_state
    return data


def blank():
    return np.full((270, 480), 255, dtype=np.uint8)


def with_box(thumb, left, top, right, bottom, level=0):
    changed = thumb.copy()
    changed[top:bottom, left:right] = level
    return changed


def report(demo, picture, *, texts=None, success_checks=None, ocr=True, duration=20.0):
    """Run the plan against pictures: `picture(t, purpose)` returns the thumbnail shown at t."""
    plan = evidence_plan(demo, duration=duration, width=WIDTH, height=HEIGHT, ocr=ocr)
    frames = []
    for index, (t, purpose) in enumerate(zip(plan.times, plan.purposes, strict=True)):
        thumb = picture(t, purpose)
        frames.append(Keyframe(index, t, t, thumb, dhash(thumb)))
    read = {}
    for index in plan.ocr:
        read[index] = (texts or {}).get(plan.purposes[index].split(" ")[0], "")
    section = evidence_report(
        demo,
        plan,
        frames,
        read if ocr else {},
        video=VIDEO | {"duration_seconds": f"{duration:.3f}"},
        recording_seconds=20.0,
        success_checks=success_checks,
        ocr_engine="tesseract" if ocr else None,
    )
    json.dumps(section)  # JSON-serialisable, always
    return section, {check["name"]: check for check in section["checks"]}


CLICK = {"t": 5.0, "action": "click", "x": 480, "y": 270}
TYPING = {"t": 6.0, "action": "type", "text": "Budget 2026", "typed_until": 7.0}


def genuine(t, purpose):
    """A screen that changes near the click (at 5 s) and shows text after typing (at 6-7 s)."""
    thumb = blank()
    if t >= 5.0:
        thumb = with_box(thumb, 230, 130, 250, 140)  # selection near the click (thumb 240, 135)
    if t >= 6.5:
        thumb = with_box(thumb, 260, 130, 300, 140, level=40)  # the typed text
    return thumb


def test_a_screen_that_reacts_to_its_events_passes_every_check():
    demo = demonstration([CLICK, TYPING], final_state="Budget 2026 sheet")
    texts = {"final": "Budget 2026 - Sheet", "after": "Budget 2026"}
    section, checks = report(demo, genuine, texts=texts, success_checks=["Budget 2026"])
    assert {name: check["result"] for name, check in checks.items()} == {
        "video_changes": PASS,
        "duration_matches": PASS,
        "events_match_video": PASS,
        "final_state": PASS,
        "success_checks": PASS,
        "typed_text": PASS,
        "clicks": PASS,
    }
    assert section["verdict"] == "supported" and section["hold"] is False
    assert section["confidence"] == "1.0000"
    assert checks["clicks"]["details"]["near"] == "1"
    assert checks["final_state"]["keyframe"]["t"] == "19.950"  # the last frame it read
    assert checks["clicks"]["keyframe"]["t"] == "6.500"  # the frame after the click
    assert all(isinstance(check["reason"], str) and check["reason"] for check in section["checks"])


def test_a_still_picture_fails_and_is_held_even_when_its_text_is_right():
    demo = demonstration([CLICK, TYPING, {**CLICK, "t": 9.0}, {**CLICK, "t": 12.0}], final_state="Budget 2026")
    texts = {"final": "Budget 2026", "after": "Budget 2026"}
    section, checks = report(demo, lambda t, p: genuine(20.0, p), texts=texts)
    assert checks["video_changes"]["result"] == FAIL
    assert "still picture" in checks["video_changes"]["reason"]
    assert checks["events_match_video"]["result"] == FAIL
    assert "3 of 3 clicks change nothing" in checks["events_match_video"]["reason"]
    assert checks["final_state"]["result"] == PASS
    assert section["verdict"] == "suspicious" and section["hold"] is True


def test_a_click_that_changes_the_screen_only_elsewhere_counts_half():
    def elsewhere(t, purpose):
        return with_box(blank(), 10, 10, 60, 40) if t >= 5.0 else blank()

    _, checks = report(demonstration([CLICK]), elsewhere)
    assert checks["clicks"]["details"] == {**checks["clicks"]["details"], "near": "0", "elsewhere": "1", "none": "0"}
    assert checks["clicks"]["result"] == PASS  # 0.5 share: a dialog opening elsewhere is a reaction


def test_the_pointer_arriving_at_the_click_is_not_a_change():
    def pointer_only(t, purpose):
        return with_box(blank(), 240, 135, 246, 144) if t >= 4.9 else blank()  # the arrow, nothing else

    demo = demonstration([{**CLICK, "t": float(t)} for t in (5, 8, 11)])
    _, checks = report(demo, pointer_only)
    assert checks["clicks"]["result"] == FAIL
    assert checks["clicks"]["details"]["near"] == "0"


def test_typed_text_not_on_screen_is_an_unsupported_claim():
    demo = demonstration([CLICK, TYPING], final_state="Budget 2026")
    texts = {"final": "Meeting notes", "after": "Meeting notes"}
    section, checks = report(demo, genuine, texts=texts, success_checks=["Budget 2026", "Month"])
    assert checks["typed_text"]["result"] == FAIL
    assert checks["typed_text"]["details"]["items"][0]["seen"] == "no"
    assert checks["final_state"]["result"] == FAIL and "budget" in checks["final_state"]["details"]["missing"]
    assert checks["success_checks"]["details"]["missing"] == ["Budget 2026", "Month"]
    assert section["verdict"] == "unsupported" and not section["hold"]
    assert section["unsupported_claims"] == ["final_state", "success_checks", "typed_text"]


def test_typed_text_seen_only_on_the_last_frames_still_counts():
    texts = {"final": "Budget 2026", "after": ""}
    _, checks = report(demonstration([CLICK, TYPING]), genuine, texts=texts)
    assert checks["typed_text"]["result"] == PASS
    assert checks["typed_text"]["details"]["items"][0]["seen"] == "on the last frames"


def test_without_ocr_the_text_checks_are_skipped_and_confidence_drops():
    section, checks = report(demonstration([CLICK, TYPING], final_state="x y"), genuine, ocr=False)
    for name in ("final_state", "success_checks", "typed_text"):
        assert checks[name]["result"] == SKIPPED
    assert "OCR is unavailable" in checks["final_state"]["reason"]
    assert section["verdict"] == "supported"
    assert section["confidence"] == "0.5000"  # (0.2 + 0.1 + 0.1 + 0.15) / 1.1, rounded down


def test_a_video_much_shorter_than_the_events_fails_the_duration_check():
    _, checks = report(demonstration([CLICK]), genuine, duration=6.0)
    assert checks["duration_matches"]["result"] == FAIL
    assert "lasts 6.0 s but the recorded events span 20.0 s" in checks["duration_matches"]["reason"]


def test_no_video_means_nothing_is_supported_and_the_demonstration_is_held():
    section = evidence_report_without_video("The archive has no recording.mp4.")
    assert section["verdict"] == "no_video" and section["hold"] is True
    assert section["confidence"] == "0.0000"
    assert {check["result"] for check in section["checks"]} == {SKIPPED}


def test_the_plan_reads_typed_text_in_a_crop_around_the_last_click():
    plan = evidence_plan(demonstration([CLICK, TYPING]), duration=20.0, width=WIDTH, height=HEIGHT)
    after = plan.typing[0]["after"]
    assert plan.times[after] == pytest.approx(8.5)  # 1.5 s after the last key
    assert plan.ocr[after].box == (336, 237, 912, 302) and plan.ocr[after].upscale == 2
    assert [plan.times[i] for i in plan.final] == [19.95, 8.5]
    assert len(plan.samples) == 21


def test_changed_share_counts_pixels_that_moved_beyond_noise():
    first = blank()
    assert changed_share(first, first) == 0.0
    assert changed_share(first, first - 10) == 0.0  # compression noise
    second = with_box(first, 0, 0, 48, 27)
    assert changed_share(first, second) == pytest.approx(0.01)
    assert changed_share(first, second, box=(0, 0, 48, 54)) == pytest.approx(0.5)


def test_success_checks_are_proposed_from_the_instructions():
    instructions = (
        "Create a new Google Sheets spreadsheet named Budget 2026 and add headers Month, Income, Expenses in the "
        'first row. Then write "Total" below.'
    )
    assert success_checks_propose(instructions) == ["Total", "Budget 2026", "Month", "Income", "Expenses"]
    assert success_checks_propose("Open the settings page.") == []


def test_claim_words_drop_stop_words_and_repeats():
    assert claim_words("The spreadsheet Budget 2026 was created, with the Budget headers.") == [
        "spreadsheet",
        "budget",
        "2026",
        "headers",
    ]
