"""Dataset exports: a factory's accepted demonstrations as a JSONL manifest, or a zip of the
manifest and the attachments, built by a Celery task into the default storage.

The build streams: rows come from the database in chunks (`.iterator(chunk_size=...)`, a
server-side cursor on PostgreSQL), each is written as one JSON line to a temporary file, and
the finished file is handed to the storage, which copies it in chunks too. Memory stays
bounded by one chunk of rows, whatever the number of demonstrations (docs/datasets.md has the
measurement). Attachments are copied into the zip through `attachment_chunks_verified`: a
file whose SHA-256 no longer matches fails the export with a message naming it.

States: queued -> running -> ready | failed. Every transition is a compare-and-swap, so a
redelivered task never builds the same export twice at once; a running export whose worker
died stops moving its heartbeat and `exports_sweep` queues it again (or fails it after
MAX_ATTEMPTS).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
import zipfile
from datetime import timedelta
from itertools import islice

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.text import get_valid_filename

from core.queue import queue_now, queue_on_commit
from pools.models import Factory, Submission
from pools.services.attachments import AttachmentIntegrityError, attachment_chunks_verified

from ..models import Export
from ..selectors import (
    DatasetFilters,
    dataset_attachments_by_submission,
    dataset_export_queryset,
    dataset_filters_parse,
    farmer_pseudonym,
)

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
# Progress is also written at least this often (seconds) while large attachments are copied.
HEARTBEAT_SECONDS = 5.0


class _Superseded(Exception):
    """This run no longer owns the export (the sweeper gave it to another run or failed it)."""


def export_chunk_size() -> int:
    return getattr(settings, "FORGE_EXPORT_CHUNK_SIZE", 500)


def export_progress_every() -> int:
    return getattr(settings, "FORGE_EXPORT_PROGRESS_EVERY", 500)


def export_request(*, factory: Factory, actor, filters: DatasetFilters, include_attachments: bool = False) -> Export:
    """Record an export of `factory`'s dataset as `filters` narrow it; a task builds it after
    commit (and `exports_sweep` sends the task again if the broker lost it)."""

    with transaction.atomic():
        export = Export.objects.create(
            factory=factory,
            requested_by=actor,
            include_attachments=include_attachments,
            filters=filters.as_params(),
        )
        queue_on_commit("pools.export_build", export.pk)
    return export


def export_line(submission: Submission, attachments, *, zip_paths: dict[int, str] | None = None) -> bytes:
    """One manifest line (UTF-8 JSON and a newline): everything about one demonstration the
    creator takes home. `zip_paths` maps attachment ids to their path inside the zip.

    The demonstration is written as the database's own JSON text (`demonstration_json`, see
    `dataset_export_queryset`) rather than decoded into Python objects and encoded again:
    decoded, a demonstration takes ten times its size in memory, and it is the bulk of a line.
    """
    fields = {
        "id": submission.pk,
        "factory": submission.factory_id,
        "status": submission.status,
        "quality_score": None if submission.quality_score is None else f"{submission.quality_score:f}",
        "score_breakdown": submission.score_breakdown,
        "score_reasons": submission.score_reasons,
        "flagged": bool(submission.needs_review or submission.review_reasons),
        "review_reasons": submission.review_reasons,
        "farmer": farmer_pseudonym(submission.factory_id, submission.farmer_id),
        "submitted_at": submission.submitted_at.isoformat(),
        "scored_at": submission.scored_at.isoformat() if submission.scored_at else None,
        "settled_at": submission.settled_at.isoformat() if submission.settled_at else None,
        "attachments": [
            {
                "name": attachment.name,
                "content_type": attachment.content_type,
                "size": attachment.size,
                "sha256": attachment.sha256,
                "uploaded": attachment.uploaded_at is not None,
                "path": (zip_paths or {}).get(attachment.pk),
                "download_url": reverse(
                    "api:submission-attachment", kwargs={"pk": submission.pk, "attachment_id": attachment.pk}
                )
                if attachment.uploaded_at
                else None,
            }
            for attachment in attachments
        ],
    }
    head = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    demonstration = getattr(submission, "demonstration_json", None)
    if demonstration is None:  # not from dataset_export_queryset: encode the decoded payload
        demonstration = json.dumps(submission.demonstration, ensure_ascii=False, separators=(",", ":"))
    return f'{head[:-1]},"demonstration":{demonstration}}}\n'.encode()


def _zip_member_path(submission_id: int, attachment) -> str:
    # Never the raw name: "../../x" or "C:\\x" must not escape the folder when unzipped.
    safe = get_valid_filename(attachment.name.replace("\\", "/").rsplit("/", 1)[-1]) if attachment.name else ""
    return f"attachments/{submission_id}/{attachment.pk}-{safe or 'file'}"


class _Progress:
    """Writes count/progress/heartbeat every `every` rows or HEARTBEAT_SECONDS, only while this
    run still owns the export (same attempt, still running)."""

    def __init__(self, export: Export, total: int):
        self.export = export
        self.total = total
        self.every = export_progress_every()
        self.rows = 0
        self.last_write = time.monotonic()

    def _write(self) -> None:
        progress = min(99, self.rows * 100 // self.total) if self.total else 99
        owned = Export.objects.filter(
            pk=self.export.pk, status=Export.Status.RUNNING, attempts=self.export.attempts
        ).update(count=self.rows, progress=progress, heartbeat_at=timezone.now())
        if not owned:
            raise _Superseded
        self.last_write = time.monotonic()

    def row_done(self) -> None:
        self.rows += 1
        if self.rows % self.every == 0:
            self._write()

    def beat(self) -> None:
        if time.monotonic() - self.last_write >= HEARTBEAT_SECONDS:
            self._write()


def _rows_with_attachments(queryset):
    """(submission, [attachments]) for every row, fetched chunk by chunk: one query for the
    rows of a chunk (a server-side cursor on PostgreSQL) and one for their attachments."""
    rows = queryset.iterator(chunk_size=export_chunk_size())
    while chunk := list(islice(rows, export_chunk_size())):
        attachments = dataset_attachments_by_submission(submission.pk for submission in chunk)
        for submission in chunk:
            yield submission, attachments.get(submission.pk, [])
        del chunk, attachments  # before the next chunk is read, not after


def _write_jsonl(rows, out, progress: _Progress) -> None:
    for submission, attachments in rows:
        out.write(export_line(submission, attachments))
        progress.row_done()


def _write_zip(rows, out, progress: _Progress) -> None:
    """manifest.jsonl + attachments/<submission id>/<attachment id>-<name>. The manifest is
    spooled to its own temporary file during the single pass over the rows and added last
    (a zip can be written one member at a time only)."""
    with zipfile.ZipFile(out, "w", allowZip64=True) as archive, tempfile.TemporaryFile() as manifest:
        for submission, attachments in rows:
            zip_paths = {}
            for attachment in attachments:
                if not attachment.uploaded_at:
                    continue  # declared but never uploaded: listed in the manifest, no file
                path = _zip_member_path(submission.pk, attachment)
                info = zipfile.ZipInfo(path, date_time=attachment.uploaded_at.timetuple()[:6])
                info.compress_type = zipfile.ZIP_STORED  # recordings are compressed already
                with archive.open(info, "w", force_zip64=True) as member:
                    for chunk in attachment_chunks_verified(attachment):
                        member.write(chunk)
                        progress.beat()
                zip_paths[attachment.pk] = path
            manifest.write(export_line(submission, attachments, zip_paths=zip_paths))
            progress.row_done()
        manifest.seek(0)
        info = zipfile.ZipInfo("manifest.jsonl", date_time=timezone.now().timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as member:
            shutil.copyfileobj(manifest, member, 1024 * 1024)


def export_build(*, export_id: int) -> Export:
    """Build a queued export. Idempotent: an export that is running elsewhere, ready or failed
    is returned as it is."""
    now = timezone.now()
    taken = Export.objects.filter(pk=export_id, status=Export.Status.QUEUED).update(
        status=Export.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
        progress=0,
        count=0,
        error="",
    )
    export = Export.objects.select_related("factory", "factory__creator").get(pk=export_id)
    if not taken:
        return export

    try:
        filters = dataset_filters_parse(export.filters)
        queryset = dataset_export_queryset(export.factory, filters)
        progress = _Progress(export, queryset.count())
        rows = _rows_with_attachments(queryset)
        suffix = "zip" if export.include_attachments else "jsonl"
        filename = f"factory-{export.factory_id}-export-{export.pk}.{suffix}"
        with tempfile.TemporaryFile() as out:
            if export.include_attachments:
                _write_zip(rows, out, progress)
            else:
                _write_jsonl(rows, out, progress)
            size = out.tell()
            out.seek(0)
            stored_name = export.file.storage.save(
                export.file.field.generate_filename(export, filename),
                File(out),
                max_length=export.file.field.max_length,
            )
    except _Superseded:
        logger.warning("export %s: superseded while running (attempt %s); stopping", export.pk, export.attempts)
        return Export.objects.get(pk=export_id)
    except AttachmentIntegrityError as error:
        return _fail(export, error.message)
    except ValidationError as error:  # filters stored by an older version that no longer read
        return _fail(export, "The export's filters are not valid: " + "; ".join(error.messages))
    except Exception:
        logger.exception("export %s failed", export.pk)
        return _fail(export, "The export failed because of an internal error; please try again.")

    finished = Export.objects.filter(pk=export.pk, status=Export.Status.RUNNING, attempts=export.attempts).update(
        status=Export.Status.READY,
        file=stored_name,
        size=size,
        count=progress.rows,
        progress=100,
        heartbeat_at=timezone.now(),
        finished_at=timezone.now(),
    )
    if not finished:  # superseded at the last moment: keep the other run's result
        export.file.storage.delete(stored_name)
        return Export.objects.get(pk=export_id)
    export.refresh_from_db()
    logger.info("export %s ready: %s rows, %s bytes", export.pk, export.count, export.size)
    _tell_creator(export)
    return export


def _fail(export: Export, message: str) -> Export:
    updated = Export.objects.filter(pk=export.pk, status=Export.Status.RUNNING, attempts=export.attempts).update(
        status=Export.Status.FAILED, error=message[:500], finished_at=timezone.now(), heartbeat_at=timezone.now()
    )
    export.refresh_from_db()
    if updated:
        logger.warning("export %s failed: %s", export.pk, message)
        _tell_creator(export)
    return export


def _tell_creator(export: Export) -> None:
    from .alerts import alert_export_finished

    try:
        alert_export_finished(export=export)
    except Exception:  # an alert must never undo a finished export
        logger.exception("could not record the alert for export %s", export.pk)


def exports_sweep(*, now=None) -> dict:
    """Recover exports a lost broker message or a dead worker left behind.

    - queued for longer than FORGE_EXPORT_STALE_SECONDS: the task is sent again;
    - running with a heartbeat older than that: queued again (a fresh attempt), or failed
      after MAX_ATTEMPTS attempts.
    """
    now = now or timezone.now()
    stale = now - timedelta(seconds=getattr(settings, "FORGE_EXPORT_STALE_SECONDS", 600))
    failed = Export.objects.filter(
        status=Export.Status.RUNNING, heartbeat_at__lt=stale, attempts__gte=MAX_ATTEMPTS
    ).update(
        status=Export.Status.FAILED,
        error=f"The export stopped {MAX_ATTEMPTS} times without finishing; please try again.",
        finished_at=now,
    )
    requeued = Export.objects.filter(status=Export.Status.RUNNING, heartbeat_at__lt=stale).update(
        status=Export.Status.QUEUED
    )
    waiting = list(
        Export.objects.filter(status=Export.Status.QUEUED, created_at__lt=stale).values_list("pk", flat=True)[:100]
    )
    waiting += list(
        Export.objects.filter(status=Export.Status.QUEUED, heartbeat_at__isnull=False)
        .exclude(pk__in=waiting)
        .values_list("pk", flat=True)[:100]
    )
    for export_id in waiting:
        queue_now("pools.export_build", export_id)
    return {"failed": failed, "requeued": requeued, "sent": len(waiting)}
