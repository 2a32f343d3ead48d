"""Recorder archives in at intake (service module): a farmer's archive, for one of their claims,
checked against that claim, converted and submitted with its video (docs/recorder-archive.md
"Intake").

`recording_submit` is the one entry point, behind the API (multipart upload, or a finished
resumable upload through `recording_submit_upload`: evidence/uploads.py) and the claim page alike:

1. the claim is the farmer's (else 404) and still open (else 409), checked before any work;
2. the archive is opened safely (evidence/archive.py: broken zip, zip bomb, path escape,
   symbolic links...), its meta.json must match the claim (`meta_check_claim`): `quest.pool_id`,
   when the recorder was given one, names the claim's factory, and the recording happened inside
   the claim's window (from the claim, give or take CLOCK_SKEW, to now);
3. the video must be a video FFmpeg reads (evidence/video.py); a factory that requires a screen
   recording (the claim's frozen terms) refuses an archive without one;
4. the log is converted into the demonstration (evidence/recorder.py), and `recording_attach`
   stores submission, video and `Recording` in one transaction.

Every refusal is a 400 (ArchiveRefused, VideoRefused, ValidationError with `meta.*` / `archive`
keys) or the claim's own 404/409, raised before anything is written: nothing is stored.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from typing import IO

from django.core.exceptions import ValidationError
from django.utils import timezone

from core.exceptions import Conflict
from pools.access import access_claim
from pools.models import Claim, Submission
from pools.services.submissions import RECORDING_REQUIRED_MESSAGE, submission_create

from .archive import CHUNK_BYTES, VIDEO_NAME, archive_open
from .recorder import demonstration_from_archive
from .services import recording_attach
from .uploads import archive_from_upload, upload_release, upload_take
from .video import video_probe

# Farmers' computer clocks drift: a recording may seem to start this much before the claim, or
# end this much after the upload, and still be accepted.
CLOCK_SKEW = timedelta(minutes=5)

# "12", "factory-12", "pool_12", "Factory 12": the factory's id after an optional word.
_POOL_ID_RE = re.compile(r"^\s*(?:[A-Za-z][A-Za-z _-]*?[ _-]?)?(\d{1,19})\s*$")


def file_sha256(handle: IO[bytes]) -> str:
    """SHA-256 of a seekable binary file, read in chunks; the file is left at its start."""
    handle.seek(0)
    digest = hashlib.sha256()
    while chunk := handle.read(CHUNK_BYTES):
        digest.update(chunk)
    handle.seek(0)
    return digest.hexdigest()


def claim_open_for_recording(*, farmer, claim_id: int, now: datetime | None = None) -> Claim:
    """The farmer's claim, if it can still take a submission: NotFound (someone else's or none),
    Conflict (submitted or expired). Checked first, so a closed claim costs no archive work."""
    now = now or timezone.now()
    claim = access_claim(farmer, claim_id)
    if claim.status == Claim.Status.SUBMITTED:
        raise Conflict("This claim already has a submission.")
    if claim.status == Claim.Status.EXPIRED or claim.expires_at <= now:
        raise Conflict("This claim has expired; its reward went back to the pool.")
    return claim


def meta_check_claim(meta: dict, claim: Claim, *, now: datetime) -> None:
    """Refuse (ValidationError, `meta.*` keys) a meta.json that does not belong to this claim."""
    errors: dict[str, list[str]] = {}
    pool_id = (meta.get("quest") or {}).get("pool_id")
    if pool_id:  # the recorder was given a task: it must be this claim's factory
        match = _POOL_ID_RE.match(pool_id)
        if match is None or int(match.group(1)) != claim.factory_id:
            errors["meta.quest.pool_id"] = [
                f"The recording was made for pool {pool_id[:60]!r}, but this claim is for factory "
                f"{claim.factory_id}: upload the recording of this task."
            ]
    started_at = meta["started_at"]
    ended_at = started_at + timedelta(seconds=meta["duration_seconds"])
    if started_at < claim.created_at - CLOCK_SKEW:
        errors.setdefault("meta.timestamp", []).append(
            f"The recording started at {started_at.isoformat(timespec='seconds')}, before you claimed this task "
            f"({timezone.localtime(claim.created_at).isoformat(timespec='seconds')}): record the task after "
            "claiming it."
        )
    elif ended_at > now + CLOCK_SKEW:
        errors.setdefault("meta.timestamp", []).append(
            f"The recording ends at {ended_at.isoformat(timespec='seconds')}, after now "
            f"({timezone.localtime(now).isoformat(timespec='seconds')}): check your computer's clock and "
            "record again."
        )
    if errors:
        raise ValidationError(errors)


def recording_submit(
    *, claim_id: int, farmer, archive: IO[bytes], final_state: str | None = None, notes: str | None = None
) -> Submission:
    """Check, convert and submit a recorder archive (a seekable binary file) for the farmer's
    claim; see the module docstring. Returns the submission (with `recording` when the archive
    had a video)."""
    now = timezone.now()
    claim = claim_open_for_recording(farmer=farmer, claim_id=claim_id, now=now)
    requires_recording = bool((claim.terms or {}).get("requires_recording"))
    archive_sha256 = file_sha256(archive)
    with archive_open(archive) as opened:
        meta_check_claim(opened.meta, claim, now=now)
        if not opened.has_video:
            if requires_recording:
                raise ValidationError({"archive": [f"The archive has no {VIDEO_NAME}. {RECORDING_REQUIRED_MESSAGE}"]})
            demonstration = demonstration_from_archive(opened, final_state=final_state, notes=notes)
            return submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration)
        with opened.video_file() as video:
            info = video_probe(video.path)
            demonstration = demonstration_from_archive(opened, video=video, final_state=final_state, notes=notes)
            recording = recording_attach(
                claim_id=claim.pk,
                farmer=farmer,
                demonstration=demonstration,
                video=video,
                info=info,
                archive_sha256=archive_sha256,
                meta=opened.meta,
            )
    return recording.submission


def recording_submit_upload(
    *, claim_id: int, farmer, upload_id, final_state: str | None = None, notes: str | None = None
) -> Submission:
    """`recording_submit` for a finished resumable upload of the farmer's. The upload is taken
    (one claim only) while it is checked; a refused archive gives it back, so it can be deleted
    or expire. A used upload's chunks are deleted by the next sweep (`uploads_expire`)."""
    claim_open_for_recording(farmer=farmer, claim_id=claim_id)
    upload = upload_take(farmer=farmer, upload_id=upload_id)
    try:
        with archive_from_upload(upload) as archive:
            return recording_submit(
                claim_id=claim_id, farmer=farmer, archive=archive, final_state=final_state, notes=notes
            )
    except BaseException:
        upload_release(upload_id=upload.pk)
        raise
