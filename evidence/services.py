"""Recorder archives in, evidence and a grade out: the evidence app's service functions.

- `archive_import`: open a recorder archive safely (archive.py), check its video is a video
  (video.py) and convert it into a validated demonstration (recorder.py).
- `evidence_examine`: decode the keyframes the checks need, read their text (ocr.py) and build
  the evidence section (checks.py). CPU-heavy: meant for a worker, never a web request.
- `archive_grade`: both, then the quality agent's grade combined with the evidence by the rule
  scoring applies to every submission with a recording (`pools/grading/evidence.py`: "a claim
  the pixels do not support counts for nothing"; forged-looking or missing evidence holds), so
  `grade_archive` (support) and the production path agree.
- `recording_examine` (below): the worker's service: a stored recording's evidence examined,
  its keyframes kept (thumbnails in storage, perceptual hashes indexed for reuse across farmers)
  and the section handed to pools (`submission_evidence_record`), which then scores it.

Nothing here touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import IO

from pools.grading import TaskContext
from pools.grading.evidence import grade_with_evidence as evidence_rule_grade
from pools.models import EconomicsConfig

from .archive import VIDEO_NAME, archive_open
from .checks import (
    changed_share,
    evidence_plan,
    evidence_report,
    evidence_report_without_video,
    success_checks_propose,
)
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
    """Grade `demonstration` by the evidence rule (`pools/grading/evidence.py`, the one scoring
    uses for submissions: unsupported claims count for nothing, forged-looking or missing
    evidence holds) and say whether it would be paid at `threshold`."""
    threshold = default_quality_threshold() if threshold is None else threshold
    result, outcome = evidence_rule_grade(demonstration, evidence, task=task)
    held = bool(outcome.holds)
    return ArchiveGrade(
        score=outcome.score,
        paid=outcome.score >= threshold and not held,
        held=held,
        threshold=threshold,
        confidence=result.confidence,
        evidence_confidence=Decimal(evidence["confidence"]),
        breakdown=outcome.breakdown,
        reasons=outcome.reasons + [hold for hold in outcome.holds if hold not in outcome.reasons],
        grader=result.grader,
        demonstration=demonstration,
    )


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
