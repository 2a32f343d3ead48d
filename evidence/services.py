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
- `recording_attach`: a converted archive's demonstration and its video, stored together: the
  submission (pools' `submission_create`), the video in Django's storage, its `Recording` row and
  the declared attachment marked as uploaded, in one transaction.

Only `recording_attach`, `recording_examine` (and the services built on them) touch the database.
"""

from __future__ import annotations

import io
import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import IO

from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image

from core.queue import queue_now, queue_on_commit
from pools.grading import TaskContext
from pools.grading.base import MAX_KEYFRAME_IMAGES
from pools.grading.evidence import MAX_SHOWN_KEYFRAMES
from pools.grading.evidence import grade_with_evidence as evidence_rule_grade
from pools.models import EconomicsConfig, Submission
from pools.services.attachments import attachment_mark_stored
from pools.services.evidence import submission_evidence_record, submissions_evidence_sweep
from pools.services.submissions import submission_create

from .archive import VIDEO_NAME, VideoFile, archive_open
from .checks import (
    changed_share,
    check_frames_reused,
    evidence_plan,
    evidence_report,
    evidence_report_without_video,
    reuse_candidates,
    section_with_check,
    success_checks_propose,
)
from .locks import keyframes_lock
from .models import EvidenceFrame, EvidenceReport, Recording
from .ocr import ocr_available, ocr_prepare, ocr_text, text_contains
from .recorder import demonstration_from_archive, pointer_scale
from .selectors import dhash_bands, dhash_to_int, frames_near
from .video import Keyframe, VideoInfo, VideoRefused, keyframes_extract, video_probe

logger = logging.getLogger(__name__)

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
    section, _ = _examine(
        demonstration, video_path=video_path, video=video, success_checks=success_checks, use_ocr=use_ocr
    )
    return section


def _examine(
    demonstration: dict,
    *,
    video_path: str,
    video: VideoInfo,
    success_checks: list[str] | None,
    use_ocr: bool | None,
) -> tuple[dict, list[Keyframe]]:
    """`evidence_examine`, with the keyframes it decoded (thumbnails and hashes, kept by
    `recording_examine`)."""
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
    section = evidence_report(
        demonstration,
        plan,
        keyframes,
        texts,
        video=video.as_dict(),
        recording_seconds=_recording_seconds(demonstration),
        success_checks=success_checks,
        ocr_engine=OCR_ENGINE if use_ocr else None,
    )
    return section, keyframes


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
            # The submission waits ("pending") until this task hands its evidence to pools.
            queue_on_commit("evidence.recording_examine", submission.pk)
    except BaseException:
        if stored_name is not None:
            Recording._meta.get_field("video").storage.delete(stored_name)
        raise
    return recording


# -- the worker's examination of a stored recording ----------------------------------------

THUMBNAIL_QUALITY = 80
SPOOL_CHUNK_BYTES = 1 << 20
SUCCESS_CHECK_KINDS = ("shows", "typed")


def recording_examine(*, submission_id: int) -> bool:
    """Examine the recording stored with a submission waiting for its evidence, keep what the
    checks looked at (an EvidenceReport; an EvidenceFrame per keyframe: perceptual hash, and a
    thumbnail for the frames a check names), add the `frames_reused` check (another recording,
    of any farmer or factory, holding most of this one's pictures) and hand the section to
    pools (`submission_evidence_record`), which wakes the scorer. Returns False when there was
    nothing to do: the submission is not waiting (already examined, scored or reviewed), so a
    task delivered twice changes nothing.

    A video that cannot be read or examined (a missing or damaged file, a frame that breaks the
    decoder) examines to the no-video section (held for review); an error fetching it from the
    storage or writing the report propagates, leaving the row pending for the task's retry or
    the sweeper."""
    recording = (
        Recording.objects.select_related("submission", "submission__claim", "report")
        .filter(submission_id=submission_id)
        .first()
    )
    submission = recording.submission if recording is not None else Submission.objects.filter(pk=submission_id).first()
    if submission is None or submission.evidence_status != Submission.Evidence.PENDING:
        return False
    if recording is None:  # has_recording without a Recording row: nothing to look at
        section = evidence_report_without_video("The submission's recording was not stored: nothing supports it.")
        return submission_evidence_record(submission_id=submission_id, evidence=section)
    report = getattr(recording, "report", None)
    if report is not None:  # examined before, handed over lost (a crash between the two)
        return submission_evidence_record(submission_id=submission_id, evidence=report.section)

    started = time.process_time()
    terms = submission.claim.terms or {}
    success_checks = _success_phrases(terms)
    keyframes: list[Keyframe] = []
    # Fetching the video from a remote storage (S3) may fail for a while: that error propagates
    # (the task's retry, then the sweeper, try again). What fails once the video is here fails
    # the same way every time: a person looks at it instead, the log keeps the traceback.
    with stored_video_path(recording.video.storage, recording.video.name) as path:
        try:
            info = video_probe(path)
            section, keyframes = _examine(
                submission.demonstration, video_path=path, video=info, success_checks=success_checks, use_ocr=None
            )
        except VideoRefused as refused:
            section = evidence_report_without_video(f"The stored recording cannot be read: {refused.message}")
        except Exception as error:
            logger.exception("the recording of submission %s could not be examined", submission_id)
            section = evidence_report_without_video(
                f"The recording could not be examined ({error.__class__.__name__}); a person checks it."
            )
    section["success_checks"] = success_checks
    cpu_seconds = Decimal(f"{time.process_time() - started:.3f}")
    return _report_store(recording, submission, section, keyframes, cpu_seconds)


def recordings_sweep(*, older_than_seconds: int, max_attempts: int) -> tuple[int, int]:
    """Send the examination again for each recording still waiting for its evidence (pools
    counts the sends); one sent again `max_attempts` times already is given up on: recorded
    "failed" with a no-video section naming why, which scoring holds for staff review. Returns
    (sent again, given up)."""
    resend, exhausted = submissions_evidence_sweep(older_than_seconds=older_than_seconds, max_attempts=max_attempts)
    for submission_id in resend:
        queue_now("evidence.recording_examine", submission_id)
    given_up = 0
    for submission_id in exhausted:
        section = evidence_report_without_video(
            f"The recording could not be examined after {max_attempts + 1} attempts (the storage or the "
            "evidence worker did not answer); a person checks it."
        )
        given_up += submission_evidence_record(submission_id=submission_id, evidence=section, failed=True)
    return len(resend), given_up


def _success_phrases(terms: dict) -> list[str]:
    """What the last frames must show: the factory's required `shows`/`typed` checks frozen on
    the claim, else phrases proposed from its instructions (as `grade_archive` does)."""
    phrases = [
        str(check["value"])
        for check in terms.get("checks") or ()
        if check.get("kind") in SUCCESS_CHECK_KINDS and check.get("required") and check.get("value")
    ]
    return phrases or success_checks_propose(terms.get("instructions") or "")


@contextmanager
def stored_video_path(storage, name: str) -> Iterator[str]:
    """A local path of the stored video `name`: the file itself on a filesystem storage, else a
    temporary copy streamed in SPOOL_CHUNK_BYTES pieces (S3: never read whole into memory)."""
    try:
        local = storage.path(name)
    except NotImplementedError:  # a remote storage (S3)
        local = None
    if local is not None:
        yield local
        return
    with tempfile.NamedTemporaryFile(prefix="recording-", suffix=".mp4") as spool:
        with storage.open(name, "rb") as source:
            while chunk := source.read(SPOOL_CHUNK_BYTES):
                spool.write(chunk)
        spool.flush()
        yield spool.name


def _report_store(
    recording: Recording, submission: Submission, section: dict, keyframes: list[Keyframe], cpu_seconds: Decimal
) -> bool:
    """Look for reuse, then store the report, its frames and thumbnails, and hand the section
    to pools, in one transaction under the keyframe lock (evidence/locks.py)."""
    # Thumbnails of the keyframes the pages show: each check's first MAX_SHOWN_KEYFRAMES.
    used = {ref["index"] for check in section["checks"] for ref in (check.get("keyframes") or ())[:MAX_SHOWN_KEYFRAMES]}
    stored: list[str] = []
    try:
        with transaction.atomic():
            keyframes_lock()
            if EvidenceReport.objects.filter(recording=recording).exists():
                return False  # another delivery of this task stored it meanwhile
            candidates = reuse_candidates(section)
            matches = frames_near([frame["dhash"] for frame in candidates], exclude_submission_id=submission.pk)
            reuse = check_frames_reused(candidates, matches)
            section = section_with_check(section, reuse)
            used |= {ref["index"] for ref in reuse["keyframes"][:MAX_SHOWN_KEYFRAMES]}
            judged = judge_keyframe_indices(section)
            used |= set(judged)
            purposes = {frame["index"]: frame.get("purpose", "") for frame in section.get("keyframes", ())}
            frames = []
            for keyframe in keyframes:  # one per planned time: indices are unique
                band = dhash_bands(keyframe.dhash)
                frame = EvidenceFrame(
                    submission=submission,
                    farmer_id=submission.farmer_id,
                    factory_id=submission.factory_id,
                    index=keyframe.index,
                    t=Decimal(f"{keyframe.t:.3f}"),
                    purpose=purposes.get(keyframe.index, "")[:40],
                    dhash=dhash_to_int(keyframe.dhash),
                    band0=band[0],
                    band1=band[1],
                    band2=band[2],
                    band3=band[3],
                )
                if keyframe.index in used:
                    name = _thumbnail_save(frame, keyframe)
                    stored.append(name)
                    frame.thumbnail.name = name
                frames.append(frame)
            # The frames the model judge is shown (FORGE_GRADER=judge), by stored name: pools
            # reads them from storage (pools/services/evidence.py), never importing evidence.
            by_index = {frame.index: frame for frame in frames if frame.thumbnail.name}
            section = {
                **section,
                "judge_keyframes": [
                    {
                        "index": index,
                        "t": f"{by_index[index].t:.3f}",
                        "purpose": by_index[index].purpose,
                        "name": by_index[index].thumbnail.name,
                    }
                    for index in judged
                    if index in by_index
                ],
            }
            report = EvidenceReport.objects.create(recording=recording, section=section, cpu_seconds=cpu_seconds)
            for frame in frames:
                frame.report = report
            EvidenceFrame.objects.bulk_create(frames)
            return submission_evidence_record(submission_id=submission.pk, evidence=section)
    except BaseException:
        storage = EvidenceFrame._meta.get_field("thumbnail").storage
        for name in stored:
            storage.delete(name)
        raise


def judge_keyframe_indices(section: dict) -> list[int]:
    """The keyframes shown to the model judge, in time order: the frame after each typing step
    (the values entered: the task's milestones) and the last final frame, at most
    MAX_KEYFRAME_IMAGES (the last ones: the final frame always)."""
    frames = [frame for frame in section.get("keyframes") or () if isinstance(frame.get("index"), int)]
    typed = [frame["index"] for frame in frames if str(frame.get("purpose", "")).startswith("after typing")]
    final = [frame["index"] for frame in frames if frame.get("purpose") == "final"]
    times = {frame["index"]: _seconds(frame.get("t")) for frame in frames}
    last_final = sorted(final, key=lambda index: (times[index], index))[-1:]
    chosen = sorted({*typed[-(MAX_KEYFRAME_IMAGES - 1) :], *last_final}, key=lambda index: (times[index], index))
    return chosen[-MAX_KEYFRAME_IMAGES:]


def _seconds(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _thumbnail_save(frame: EvidenceFrame, keyframe: Keyframe) -> str:
    """The keyframe's grayscale thumbnail as a JPEG in storage; its stored name."""
    buffer = io.BytesIO()
    Image.fromarray(keyframe.thumb).save(buffer, format="JPEG", quality=THUMBNAIL_QUALITY)
    field_ = EvidenceFrame._meta.get_field("thumbnail")
    name = field_.generate_filename(frame, f"{keyframe.index}.jpg")
    return field_.storage.save(name, ContentFile(buffer.getvalue()), max_length=field_.max_length)
