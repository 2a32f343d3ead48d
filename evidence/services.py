"""Recorder archives in, evidence and a grade out: the evidence app's service functions.

- `archive_import`: open a recorder archive safely (archive.py), check its video is a video
  (video.py) and convert it into a validated demonstration (recorder.py).
- `evidence_examine`: decode the keyframes the checks need, read their text (ocr.py) and build
  the evidence section (checks.py). CPU-heavy: meant for a worker, never a web request.
- `archive_grade`: both, then the quality agent's grade (`pools.grading.grade`) combined with
  the evidence by one rule, until the lead wires the evidence section into the grade itself:

  **A claim the pixels do not support counts for nothing.** The demonstration is graded with its
  unsupported claims removed (the final state when the last frames contradict it or the task's
  success checks are not on them; the text of typing that never appears on screen), and a
  demonstration with any unsupported claim is not paid, whatever that grade. Evidence that looks
  forged (a still video, a video much shorter or longer than the events, clicks and typing that
  change nothing) or missing (no video) holds the demonstration for staff review. Otherwise it is
  paid when its score reaches the quality threshold (the platform default unless given).

- `recording_attach`: a converted archive's demonstration and its video, stored together: the
  submission (pools' `submission_create`), the video in Django's storage, its `Recording` row and
  the declared attachment marked as uploaded, in one transaction.

Only `recording_attach` (and the intake services built on it) touch the database.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import IO

from django.core.files import File
from django.db import transaction

from pools.grading import TaskContext, grade
from pools.models import EconomicsConfig
from pools.services.attachments import attachment_mark_stored
from pools.services.submissions import submission_create

from .archive import VIDEO_NAME, VideoFile, archive_open
from .checks import (
    changed_share,
    evidence_plan,
    evidence_report,
    evidence_report_without_video,
    success_checks_propose,
)
from .models import Recording
from .ocr import ocr_available, ocr_prepare, ocr_text, text_contains
from .recorder import demonstration_from_archive, pointer_scale
from .video import VideoInfo, keyframes_extract, video_probe

OCR_ENGINE = "tesseract"


@dataclass(frozen=True)
class ImportedArchive:
    demonstration: dict
    video: VideoInfo | None


@dataclass(frozen=True)
class ArchiveGrade:
    """A recorder archive graded with its evidence (see the module docstring for the rule)."""

    score: Decimal
    paid: bool
    held: bool
    threshold: Decimal
    confidence: Decimal
    evidence_confidence: Decimal
    breakdown: dict
    reasons: list[str]
    grader: str
    demonstration: dict = field(repr=False)

    def as_dict(self) -> dict:
        return {
            "score": str(self.score),
            "paid": self.paid,
            "held": self.held,
            "threshold": str(self.threshold),
            "confidence": str(self.confidence),
            "evidence_confidence": str(self.evidence_confidence),
            "grader": self.grader,
            "reasons": self.reasons,
            "breakdown": self.breakdown,
        }


def archive_import(
    source: str | IO[bytes], *, final_state: str | None = None, notes: str | None = None
) -> ImportedArchive:
    """The archive's demonstration (validated; the video as its attachment) and its video's probe.

    Raises ArchiveRefused / VideoRefused (ApplicationError, 400) or ValidationError with a message
    that says what is wrong; nothing is stored either way."""
    with archive_open(source) as archive:
        if not archive.has_video:
            demonstration = demonstration_from_archive(archive, final_state=final_state, notes=notes)
            return ImportedArchive(demonstration=demonstration, video=None)
        with archive.video_file() as video_file:
            info = video_probe(video_file.path)
            demonstration = demonstration_from_archive(archive, video=video_file, final_state=final_state, notes=notes)
    return ImportedArchive(demonstration=demonstration, video=info)


def evidence_examine(
    demonstration: dict,
    *,
    video_path: str,
    video: VideoInfo,
    success_checks: list[str] | None = None,
    use_ocr: bool | None = None,
) -> dict:
    """The evidence section for `demonstration` recorded in the video at `video_path` (probed as
    `video`). OCR runs when Tesseract is installed (or as `use_ocr` says)."""
    use_ocr = ocr_available() if use_ocr is None else use_ocr
    plan = evidence_plan(
        demonstration,
        duration=video.duration_seconds,
        width=video.width,
        height=video.height,
        pointer_scale=pointer_scale(demonstration, video.width, video.height),
        ocr=use_ocr,
    )
    # OCR waits until decoding is done (grayscale pictures kept meanwhile: at most the final
    # frames and MAX_TYPE_CHECKS crops), so that typing already visible on the last frames costs
    # no OCR of its own, and two identical last frames are read once.
    pictures: dict[int, object] = {}

    def keep_for_ocr(index: int, image) -> None:
        pictures[index] = ocr_prepare(image, plan.ocr[index].box)

    keyframes = keyframes_extract(
        video_path, plan.times, full_frames=plan.ocr.keys() if use_ocr else (), on_full_frame=keep_for_ocr
    )
    texts = _read_texts(plan, keyframes, pictures) if use_ocr else {}
    return evidence_report(
        demonstration,
        plan,
        keyframes,
        texts,
        video=video.as_dict(),
        recording_seconds=_recording_seconds(demonstration),
        success_checks=success_checks,
        ocr_engine=OCR_ENGINE if use_ocr else None,
    )


def _read_texts(plan, keyframes: list, pictures: dict) -> dict[int, str]:
    by_index = {frame.index: frame for frame in keyframes}
    texts: dict[int, str] = {}
    first_final = None
    for index in plan.final:
        if index not in pictures:
            continue
        if first_final is not None and changed_share(by_index[first_final].thumb, by_index[index].thumb) == 0:
            texts[index] = texts[first_final]  # the same picture: read once
            continue
        texts[index] = ocr_text(pictures.pop(index), upscale=plan.ocr[index].upscale)
        first_final = first_final if first_final is not None else index
    final_text = "\n".join(texts.get(index, "") for index in plan.final)
    for typing in plan.typing:
        index = typing["after"]
        if index in pictures and not text_contains(final_text, typing["text"]):
            texts[index] = ocr_text(pictures.pop(index), upscale=plan.ocr[index].upscale)
    return texts


def archive_grade(
    source: str | IO[bytes],
    *,
    task: TaskContext,
    success_checks: list[str] | None = None,
    final_state: str | None = None,
    notes: str | None = None,
    threshold: Decimal | None = None,
    use_ocr: bool | None = None,
) -> ArchiveGrade:
    """Convert, examine and grade a recorder archive against `task` (see the module docstring).
    `success_checks` None means: propose them from the task's instructions."""
    if success_checks is None:
        success_checks = success_checks_propose(task.instructions)
    with archive_open(source) as archive:
        if archive.has_video:
            with archive.video_file() as video_file:
                info = video_probe(video_file.path)
                demonstration = demonstration_from_archive(
                    archive, video=video_file, final_state=final_state, notes=notes
                )
                evidence = evidence_examine(
                    demonstration,
                    video_path=video_file.path,
                    video=info,
                    success_checks=success_checks,
                    use_ocr=use_ocr,
                )
        else:
            demonstration = demonstration_from_archive(archive, final_state=final_state, notes=notes)
            evidence = evidence_report_without_video(
                f"The archive has no {VIDEO_NAME}: nothing on screen supports the demonstration."
            )
    evidence["success_checks"] = success_checks
    return grade_with_evidence(demonstration, evidence, task=task, threshold=threshold)


def grade_with_evidence(
    demonstration: dict, evidence: dict, *, task: TaskContext, threshold: Decimal | None = None
) -> ArchiveGrade:
    """Grade `demonstration` with its unsupported claims removed, and decide paid/held from the
    evidence section (the rule in the module docstring)."""
    threshold = default_quality_threshold() if threshold is None else threshold
    result = grade(claims_without_support(demonstration, evidence), task=task)
    held = bool(evidence["hold"])
    unsupported = list(evidence["unsupported_claims"])
    paid = result.score >= threshold and not held and not unsupported
    reasons = list(result.reasons) + [f"Evidence: {reason}" for reason in evidence["reasons"]]
    if unsupported and result.score >= threshold:
        reasons.append("Not paid: a claim the recording does not support counts for nothing.")
    return ArchiveGrade(
        score=result.score,
        paid=paid,
        held=held,
        threshold=threshold,
        confidence=result.confidence,
        evidence_confidence=Decimal(evidence["confidence"]),
        breakdown={**result.breakdown, "evidence": evidence},
        reasons=reasons,
        grader=result.grader,
        demonstration=demonstration,
    )


def claims_without_support(demonstration: dict, evidence: dict) -> dict:
    """A copy of `demonstration` without the claims the evidence found unsupported: the final
    state (when `final_state` or `success_checks` failed) and the text of typing never seen."""
    graded = copy.deepcopy(demonstration)
    unsupported = set(evidence.get("unsupported_claims", ()))
    if unsupported & {"final_state", "success_checks"}:
        graded.pop("final_state", None)
    unseen_steps = set()
    for check in evidence.get("checks", ()):
        if check["name"] == "typed_text":
            unseen_steps = {item["step"] for item in check["details"].get("items", ()) if item["seen"] == "no"}
    for index in unseen_steps:
        if index < len(graded["steps"]):
            graded["steps"][index].pop("text", None)
    return graded


def default_quality_threshold() -> Decimal:
    """The platform's default quality threshold (pools.models.EconomicsConfig.quality_threshold's default;
    staff may have changed the live setting, which settlement reads)."""
    return Decimal(EconomicsConfig._meta.get_field("quality_threshold").default)


def _recording_seconds(demonstration: dict) -> float:
    recorder = demonstration.get("recorder") or {}
    duration = recorder.get("duration_seconds")
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        return float(duration)
    started = datetime.fromisoformat(demonstration["started_at"])
    ended = datetime.fromisoformat(demonstration["ended_at"])
    return (ended - started).total_seconds()


def meta_as_json(meta: dict) -> dict:
    """meta.json as `meta_validate` returned it, JSON-ready (the start time as RFC 3339 text)."""
    return {key: (value.isoformat() if isinstance(value, datetime) else value) for key, value in meta.items()}


def recording_attach(
    *,
    claim_id: int,
    farmer,
    demonstration: dict,
    video: VideoFile,
    info: VideoInfo,
    archive_sha256: str,
    meta: dict,
) -> Recording:
    """Submit `demonstration` for the claim and store its recording with it, in one transaction:
    the submission (pools' `submission_create`, with `has_recording`), the video copied from
    `video.path` into Django's default storage, the `Recording` row, and the demonstration's
    declared `recording.mp4` attachment marked as uploaded (the same stored file).

    The claim's refusals are `submission_create`'s (404, 409). A failure after the video was
    stored deletes it again: a refused or rolled-back submission leaves no file behind."""
    stored_name = None
    try:
        with transaction.atomic():
            submission = submission_create(
                claim_id=claim_id, farmer=farmer, demonstration=demonstration, has_recording=True
            )
            recording = Recording(
                submission=submission,
                video_sha256=video.sha256,
                video_size=video.size,
                archive_sha256=archive_sha256,
                meta=meta_as_json(meta),
                duration_seconds=Decimal(f"{info.duration_seconds:.3f}"),
                width=info.width,
                height=info.height,
                fps=Decimal(f"{info.frame_rate:.3f}"),
                container=info.container[:32],
                codec=info.codec[:32],
            )
            field = Recording._meta.get_field("video")
            with open(video.path, "rb") as handle:
                stored_name = field.storage.save(
                    field.generate_filename(recording, VIDEO_NAME), File(handle), max_length=field.max_length
                )
            recording.video.name = stored_name
            recording.save(force_insert=True)
            attachment_mark_stored(
                submission_id=submission.pk,
                name=VIDEO_NAME,
                sha256=video.sha256,
                size=video.size,
                stored_name=stored_name,
            )
    except BaseException:
        if stored_name is not None:
            Recording._meta.get_field("video").storage.delete(stored_name)
        raise
    return recording
