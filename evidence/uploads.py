"""Resumable uploads of recorder archives (service module): tus 1.0 core with the creation,
expiration, checksum and termination extensions (https://tus.io/protocols/resumable-upload),
the API in evidence/apis.py (docs/recorder-archive.md "Resumable uploads").

- `upload_create`: a new upload of `length` bytes for a farmer, within the per-farmer limits
  (FORGE_UPLOAD_MAX_CONCURRENT unfinished uploads, FORGE_UPLOAD_MAX_BYTES_PER_FARMER declared
  bytes across uploads not yet expired or used) and the archive size limit.
- `upload_append`: one PATCH. The body streams to a temporary file (1 MiB at a time, never
  whole in memory) while its SHA-256 (and the client's Upload-Checksum algorithm) is computed;
  only a body that arrived whole, at the upload's current offset, with a matching checksum is
  stored, as one chunk file in default storage (S3 in production: no appends there), and the
  offset moves on. Anything else stores nothing; the client asks HEAD for the offset and
  resumes.
- `archive_from_upload`: a finished upload put back together in a temporary file (each chunk's
  SHA-256 checked on the way), for `evidence.intake.recording_submit`.
- `uploads_expire`: the beat task's sweep: expired and used uploads, their chunk files first.

Every refusal is an ApplicationError with the status tus asks for (404, 409, 410, 413, 460).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import logging
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import IO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from core.exceptions import ApplicationError, Conflict, Forbidden, NotFound

from .archive import CHUNK_BYTES, max_total_bytes
from .locks import farmer_uploads_lock, upload_lock
from .models import ArchiveUpload, UploadChunk

logger = logging.getLogger(__name__)

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = ("creation", "expiration", "checksum", "termination")
# tus asks for sha1 at least; sha256 is what we keep per chunk.
CHECKSUM_ALGORITHMS = ("sha256", "sha1", "md5")
MAX_METADATA_CHARS = 4_000


class UploadTooLarge(ApplicationError):
    status = 413


class UploadGone(ApplicationError):
    status = 410


class ChecksumMismatch(ApplicationError):
    """tus's 460 Checksum Mismatch: the chunk was not stored."""

    status = 460


def upload_max_bytes() -> int:
    """The largest archive (Tus-Max-Size): what an archive may expand to (evidence/archive.py)."""
    return max_total_bytes()


def max_concurrent() -> int:
    return settings.FORGE_UPLOAD_MAX_CONCURRENT


def max_bytes_per_farmer() -> int:
    return settings.FORGE_UPLOAD_MAX_BYTES_PER_FARMER


def chunk_max_bytes() -> int:
    return settings.FORGE_UPLOAD_CHUNK_MAX_BYTES


def expiry() -> timedelta:
    return timedelta(hours=settings.FORGE_UPLOAD_EXPIRY_HOURS)


def metadata_parse(header: str | None) -> dict[str, str]:
    """Upload-Metadata: `key base64value,key2 base64value2` (a key may have no value)."""
    if not header:
        return {}
    if len(header) > MAX_METADATA_CHARS:
        raise ValidationError({"Upload-Metadata": [f"At most {MAX_METADATA_CHARS} characters."]})
    parsed: dict[str, str] = {}
    for pair in header.split(","):
        parts = pair.strip().split(" ")
        key = parts[0]
        if not key or len(parts) > 2 or key in parsed or not key.isascii() or not key.isprintable():
            raise ValidationError({"Upload-Metadata": [f"{pair.strip()[:60]!r} is not 'key base64-value'."]})
        try:
            parsed[key] = base64.b64decode(parts[1], validate=True).decode("utf-8") if len(parts) == 2 else ""
        except (binascii.Error, UnicodeDecodeError):
            raise ValidationError({"Upload-Metadata": [f"The value of {key!r} is not base64 of UTF-8 text."]}) from None
    return parsed


def checksum_parse(header: str | None) -> tuple[str, bytes] | None:
    """Upload-Checksum: `<algorithm> <base64 digest>`."""
    if not header:
        return None
    parts = header.strip().split(" ")
    if len(parts) != 2:
        raise ValidationError({"Upload-Checksum": ["Send '<algorithm> <base64 digest>', e.g. 'sha256 n4bQgYhM...'."]})
    algorithm, encoded = parts[0].lower(), parts[1]
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise ValidationError(
            {
                "Upload-Checksum": [
                    f"Unsupported algorithm {algorithm[:20]!r}; use one of {', '.join(CHECKSUM_ALGORITHMS)}."
                ]
            }
        )
    try:
        digest = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise ValidationError({"Upload-Checksum": ["The digest is not base64."]}) from None
    if len(digest) != hashlib.new(algorithm).digest_size:
        raise ValidationError(
            {"Upload-Checksum": [f"A {algorithm} digest is {hashlib.new(algorithm).digest_size} bytes."]}
        )
    return algorithm, digest


def _active(farmer, now: datetime):
    """The farmer's uploads that still count against the limits: not expired, not used."""
    return ArchiveUpload.objects.filter(farmer=farmer, expires_at__gt=now, used_at__isnull=True)


@transaction.atomic
def upload_create(*, farmer, length: int, metadata: dict | None = None) -> ArchiveUpload:
    """A new upload of `length` bytes (Upload-Length), within the limits (module docstring)."""
    if getattr(farmer, "role", None) != "farmer":
        raise Forbidden("Only farmers can upload recordings.")
    limit = upload_max_bytes()
    if length <= 0:
        raise ValidationError({"Upload-Length": ["An upload has at least one byte."]})
    if length > limit:
        raise UploadTooLarge(f"The archive is {length} bytes; the limit is {limit} bytes.")
    now = timezone.now()
    farmer_uploads_lock(farmer.pk)
    active = _active(farmer, now)
    unfinished = active.filter(completed_at__isnull=True).count()
    if unfinished >= max_concurrent():
        raise Conflict(
            f"You have {unfinished} unfinished uploads (at most {max_concurrent()}): finish or delete one "
            "before starting another."
        )
    declared = active.aggregate(total=Sum("length"))["total"] or 0
    if declared + length > max_bytes_per_farmer():
        raise UploadTooLarge(
            f"Your uploads in progress hold {declared} bytes; with this one they would pass your limit of "
            f"{max_bytes_per_farmer()} bytes. Submit or delete one first."
        )
    return ArchiveUpload.objects.create(
        farmer=farmer, length=length, metadata=metadata or {}, created_at=now, expires_at=now + expiry()
    )


def upload_for_farmer(*, farmer, upload_id, now: datetime | None = None) -> ArchiveUpload:
    """The farmer's upload: NotFound for another's or none, UploadGone once expired or used."""
    now = now or timezone.now()
    upload = ArchiveUpload.objects.filter(pk=upload_id).first()
    if upload is None or upload.farmer_id != farmer.pk:
        raise NotFound("No such upload.")
    if upload.used_at is not None:
        raise UploadGone("This upload was already submitted.")
    if upload.expires_at <= now:
        raise UploadGone("This upload has expired; start a new one.")
    return upload


def upload_append(
    *,
    farmer,
    upload_id,
    offset: int,
    chunks: Iterable[bytes],
    length: int,
    checksum: tuple[str, bytes] | None = None,
) -> ArchiveUpload:
    """Store one PATCH body of `length` bytes (Content-Length) at `offset` (Upload-Offset); see
    the module docstring. Returns the upload with its new offset."""
    upload = upload_for_farmer(farmer=farmer, upload_id=upload_id)
    if offset != upload.offset:
        raise Conflict(f"The upload is at offset {upload.offset}, not {offset}: resume from {upload.offset}.")
    if length > chunk_max_bytes():
        raise UploadTooLarge(f"Send at most {chunk_max_bytes()} bytes per PATCH; this one declares {length}.")
    if offset + length > upload.length:
        raise ValidationError(
            {"Content-Length": [f"{length} bytes at offset {offset} pass the upload's length ({upload.length})."]}
        )
    if length == 0:
        return upload
    digest = hashlib.sha256()
    check = hashlib.new(checksum[0]) if checksum else None
    received = 0
    with tempfile.TemporaryFile() as spool:
        for chunk in chunks:
            if not chunk:
                continue
            received += len(chunk)
            if received > length:
                raise ValidationError({"Content-Length": [f"The body is longer than its Content-Length ({length})."]})
            digest.update(chunk)
            if check:
                check.update(chunk)
            spool.write(chunk)
        if received != length:  # the connection broke: tus clients ask HEAD and send again
            raise ValidationError(
                {"Content-Length": [f"{received} of {length} bytes arrived; nothing was stored. Resume at {offset}."]}
            )
        if check and check.digest() != checksum[1]:
            raise ChecksumMismatch(f"The chunk's {checksum[0]} does not match Upload-Checksum; nothing was stored.")
        spool.seek(0)
        return _chunk_store(farmer=farmer, upload_id=upload.pk, offset=offset, size=length, spool=spool, sha256=digest)


def _chunk_store(*, farmer, upload_id, offset: int, size: int, spool: IO[bytes], sha256) -> ArchiveUpload:
    stored_name = None
    try:
        with transaction.atomic():
            upload = upload_lock(upload_id)
            # Checked again under the lock: a concurrent PATCH may have moved it on meanwhile.
            if upload is None or upload.used_at is not None or upload.offset != offset:
                raise Conflict("Another request changed this upload meanwhile: ask for its offset (HEAD) and resume.")
            chunk = UploadChunk(upload=upload, offset=offset, size=size, sha256=sha256.hexdigest())
            field = UploadChunk._meta.get_field("file")
            stored_name = field.storage.save(
                field.generate_filename(chunk, "chunk"), File(spool), max_length=field.max_length
            )
            chunk.file.name = stored_name
            chunk.save(force_insert=True)
            now = timezone.now()
            upload.offset = offset + size
            upload.expires_at = now + expiry()
            fields = ["offset", "expires_at"]
            if upload.offset == upload.length:
                upload.completed_at = now
                fields.append("completed_at")
            upload.save(update_fields=fields)
    except BaseException:
        if stored_name is not None:
            UploadChunk._meta.get_field("file").storage.delete(stored_name)
        raise
    return upload


def upload_delete(*, farmer, upload_id) -> None:
    """tus termination: the farmer drops an upload (its chunk files, then the rows)."""
    upload = ArchiveUpload.objects.filter(pk=upload_id, farmer=farmer).first()
    if upload is None:
        raise NotFound("No such upload.")
    _upload_discard(upload)


def _upload_discard(upload: ArchiveUpload) -> None:
    storage = UploadChunk._meta.get_field("file").storage
    for name in upload.chunks.values_list("file", flat=True):
        try:
            storage.delete(name)
        except OSError:  # already gone, or the bucket refused: the row goes anyway, logged
            logger.warning("upload %s: chunk file %s could not be deleted", upload.pk, name, exc_info=True)
    upload.delete()


def uploads_expire(*, now: datetime | None = None, limit: int = 500) -> int:
    """Delete expired uploads (finished or not) and used ones, chunk files first. Idempotent."""
    now = now or timezone.now()
    due = list(
        ArchiveUpload.objects.filter(Q(expires_at__lte=now) | Q(used_at__isnull=False)).order_by("expires_at")[:limit]
    )
    for upload in due:
        _upload_discard(upload)
    if due:
        logger.info("uploads_expire: %s uploads deleted", len(due))
    return len(due)


@contextlib.contextmanager
def archive_from_upload(upload: ArchiveUpload) -> Iterator[IO[bytes]]:
    """The finished upload's bytes in a temporary file (deleted afterwards), each chunk read from
    storage 1 MiB at a time and its SHA-256 checked."""
    if not upload.is_complete:
        raise Conflict(f"The upload is not finished: {upload.offset} of {upload.length} bytes arrived.")
    with tempfile.TemporaryFile() as spool:
        expected = 0
        for chunk in upload.chunks.order_by("offset"):
            if chunk.offset != expected:
                raise Conflict("The upload's chunks do not join up; upload the archive again.")
            digest = hashlib.sha256()
            with chunk.file.storage.open(chunk.file.name, "rb") as handle:
                while piece := handle.read(CHUNK_BYTES):
                    digest.update(piece)
                    spool.write(piece)
            if digest.hexdigest() != chunk.sha256:
                raise Conflict("A stored chunk of the upload is damaged; upload the archive again.")
            expected += chunk.size
        if expected != upload.length:
            raise Conflict("The upload's chunks do not add up to its length; upload the archive again.")
        spool.seek(0)
        yield spool


def upload_take(*, farmer, upload_id) -> ArchiveUpload:
    """Mark the farmer's finished upload as used (compare-and-swap: one claim gets it)."""
    upload = upload_for_farmer(farmer=farmer, upload_id=upload_id)
    if not upload.is_complete:
        raise Conflict(f"The upload is not finished: {upload.offset} of {upload.length} bytes arrived.")
    taken = ArchiveUpload.objects.filter(pk=upload.pk, used_at__isnull=True).update(used_at=timezone.now())
    if not taken:
        raise UploadGone("This upload was already submitted.")
    return upload


def upload_release(*, upload_id) -> None:
    """Undo `upload_take` after a refused submission, so the farmer may try another claim."""
    ArchiveUpload.objects.filter(pk=upload_id).update(used_at=None)
