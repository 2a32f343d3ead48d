"""Demonstration attachments (recordings, screenshots): upload and verified reading.

A demonstration declares its attachments (name, content_type, size, sha256) and
`submission_create` records one `Attachment` row for each. The file follows separately,
uploaded by the submitting farmer, and is accepted only when it is exactly what was declared:

- its content type is the declared one, and the declared one is on the allow-list
  (FORGE_ATTACHMENT_CONTENT_TYPES), and its first bytes look like that type;
- it is at most FORGE_ATTACHMENT_MAX_BYTES and exactly the declared size;
- its SHA-256, computed while the bytes stream to a temporary file, is the declared one.

Only then is it saved through Django's storage API (`default_storage`: local files, or an
S3-compatible bucket in production) and `uploaded_at` recorded. A refused upload stores
nothing. Readers (exports) go through `attachment_chunks_verified`, which hashes the stored
bytes again and raises `AttachmentIntegrityError` when they no longer match.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.utils import timezone

from core.exceptions import ApplicationError, Conflict, NotFound

from ..demonstrations import ALLOWED_ATTACHMENT_CONTENT_TYPES, DEFAULT_ATTACHMENT_MAX_BYTES
from ..models import Attachment

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
# Bytes read before checking the file's signature against its content type.
_SIGNATURE_BYTES = 16


class AttachmentIntegrityError(ApplicationError):
    """Stored attachment bytes that no longer match the SHA-256 (or size) recorded at upload."""

    status = 409


def allowed_content_types() -> frozenset[str]:
    configured = getattr(settings, "FORGE_ATTACHMENT_CONTENT_TYPES", None)
    return frozenset(configured) if configured else ALLOWED_ATTACHMENT_CONTENT_TYPES


def attachment_max_bytes() -> int:
    return getattr(settings, "FORGE_ATTACHMENT_MAX_BYTES", DEFAULT_ATTACHMENT_MAX_BYTES)


def _signature_ok(content_type: str, head: bytes) -> bool:
    """Whether the first bytes look like `content_type` (a cheap guard against a renamed
    executable or an HTML page served back as a "screenshot")."""
    if content_type == "image/png":
        return head.startswith(b"\x89PNG\r\n\x1a\n")
    if content_type == "image/jpeg":
        return head.startswith(b"\xff\xd8\xff")
    if content_type == "video/webm":
        return head.startswith(b"\x1a\x45\xdf\xa3")
    if content_type == "video/mp4":
        return head[4:8] == b"ftyp"
    if content_type == "application/json":
        stripped = head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
        return stripped[:1] in (b"{", b"[")
    return True  # a type added to the allow-list by configuration: no known signature


def attachment_for_uploader(*, submission_id: int, attachment_id: int, user) -> Attachment:
    """The attachment, when `user` is the farmer who submitted it; otherwise NotFound."""
    attachment = (
        Attachment.objects.select_related("submission").filter(pk=attachment_id, submission__pk=submission_id).first()
    )
    if attachment is None or attachment.submission.farmer_id != user.pk:
        raise NotFound("No such attachment.")
    return attachment


def attachment_upload(
    *, attachment: Attachment, chunks: Iterable[bytes], content_type: str, length: int | None
) -> Attachment:
    """Store the declared file of `attachment` from `chunks` (raw bytes, in order).

    `content_type` is what the client sent the file as; `length` its size when known in
    advance (Content-Length of a raw body, or a multipart part's size), checked before any
    byte is read. Raises ValidationError (400) for a refused file, Conflict (409) when the
    attachment was already uploaded. A refused upload leaves no file behind.
    """
    if attachment.uploaded_at is not None:
        raise Conflict("This attachment was already uploaded.")
    declared = attachment.content_type
    if declared not in allowed_content_types():
        allowed = ", ".join(sorted(allowed_content_types()))
        raise ValidationError({"content_type": [f"Content type {declared!r} is not allowed; allowed: {allowed}."]})
    sent = (content_type or "").split(";")[0].strip().lower()
    if sent != declared:
        raise ValidationError(
            {"content_type": [f"The file was sent as {sent or 'nothing'!r}; the demonstration declared {declared!r}."]}
        )
    limit = attachment_max_bytes()
    if length is not None:
        if length > limit:
            raise ValidationError({"size": [f"The file is {length} bytes; the limit is {limit} bytes."]})
        if length != attachment.size:
            raise ValidationError(
                {"size": [f"The file is {length} bytes; the demonstration declared {attachment.size} bytes."]}
            )

    digest = hashlib.sha256()
    received = 0
    head = b""
    with tempfile.TemporaryFile() as spool:
        for chunk in chunks:
            if not chunk:
                continue
            received += len(chunk)
            if received > limit:
                raise ValidationError({"size": [f"The file is over the {limit}-byte limit."]})
            if received > attachment.size:
                raise ValidationError(
                    {"size": [f"The file is larger than the {attachment.size} bytes the demonstration declared."]}
                )
            if len(head) < _SIGNATURE_BYTES:
                head += chunk[: _SIGNATURE_BYTES - len(head)]
            digest.update(chunk)
            spool.write(chunk)
        if received != attachment.size:
            raise ValidationError(
                {"size": [f"The file is {received} bytes; the demonstration declared {attachment.size} bytes."]}
            )
        if not _signature_ok(declared, head):
            raise ValidationError({"content_type": [f"The file's content does not look like {declared}."]})
        actual = digest.hexdigest()
        if actual != attachment.sha256:
            raise ValidationError(
                {
                    "sha256": [
                        f"The file's SHA-256 is {actual}; the demonstration declared {attachment.sha256}. "
                        "Nothing was stored."
                    ]
                }
            )
        spool.seek(0)
        # The name comes from Attachment.file's upload_to (factory/submission/sha256); the
        # storage adds a suffix rather than overwrite an existing file.
        stored_name = attachment.file.field.generate_filename(attachment, attachment.sha256)
        stored_name = attachment.file.storage.save(
            stored_name, File(spool), max_length=attachment.file.field.max_length
        )

    now = timezone.now()
    # Compare-and-swap: of two concurrent uploads of the same attachment exactly one wins.
    won = Attachment.objects.filter(pk=attachment.pk, uploaded_at__isnull=True).update(
        file=stored_name, uploaded_at=now
    )
    if not won:
        attachment.file.storage.delete(stored_name)
        raise Conflict("This attachment was already uploaded.")
    attachment.file.name = stored_name
    attachment.uploaded_at = now
    logger.info("attachment %s of submission %s stored as %s", attachment.pk, attachment.submission_id, stored_name)
    return attachment


def attachment_chunks_verified(attachment: Attachment, *, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The stored bytes of an uploaded attachment, chunk by chunk; after the last chunk the
    size and SHA-256 are compared with those recorded at upload, and AttachmentIntegrityError
    is raised on any difference (the caller must treat what it received as tainted)."""
    label = f"Attachment {attachment.name!r} (id {attachment.pk}) of submission {attachment.submission_id}"
    if not attachment.uploaded_at or not attachment.file.name:
        raise AttachmentIntegrityError(f"{label} was never uploaded.")
    storage = attachment.file.storage
    try:
        handle = storage.open(attachment.file.name, "rb")
    except (FileNotFoundError, OSError) as error:
        raise AttachmentIntegrityError(f"{label} is missing from storage ({error.__class__.__name__}).") from error
    digest = hashlib.sha256()
    size = 0
    with handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
            size += len(chunk)
            yield chunk
    actual = digest.hexdigest()
    if actual != attachment.sha256 or size != attachment.size:
        raise AttachmentIntegrityError(
            f"{label} failed SHA-256 verification: stored file is {size} bytes with SHA-256 {actual}, "
            f"expected {attachment.size} bytes with SHA-256 {attachment.sha256}."
        )


def attachment_mark_stored(*, submission_id: int, name: str, sha256: str, size: int, stored_name: str) -> int:
    """Record that the declared attachment `name` of a submission is already in storage as
    `stored_name` (a recording's video, stored by the evidence app in the submission's own
    transaction), when its size and SHA-256 are the declared ones. Returns how many rows were
    marked (0 when nothing declared matches: the caller decides whether that is an error)."""
    return Attachment.objects.filter(
        submission_id=submission_id, name=name, sha256=sha256, size=size, uploaded_at__isnull=True
    ).update(file=stored_name, uploaded_at=timezone.now())
