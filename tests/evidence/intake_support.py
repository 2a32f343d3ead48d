"""Recorder archives made for one claim: the genuine recording's video and input log, with the
log's times and meta.json's timestamp moved into the claim's window and `quest.pool_id` naming
the claim's factory (docs/recorder-archive.md "Intake")."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

from tests.evidence.recordings import START_MS, input_log_events, input_log_text, meta, write_archive


def video_of(archive_path: Path) -> bytes:
    with zipfile.ZipFile(archive_path) as archive:
        return archive.read("recording.mp4")


def claim_meta(claim, *, started_at: datetime | None = None, **changes) -> dict:
    started_at = started_at or claim.created_at + timedelta(seconds=1)
    data = meta(timestamp=started_at.isoformat())
    data["quest"] = {**data["quest"], "pool_id": f"factory-{claim.factory_id}"}
    data.update(changes)
    return data


def shifted_log(started_at: datetime) -> str:
    shift = int(started_at.timestamp() * 1000) - START_MS
    events = [{**event, "time": event["time"] + shift} for event in input_log_events()]
    return input_log_text(events)


def archive_for_claim(
    path: Path,
    claim,
    *,
    video: bytes | Path | None,
    started_at: datetime | None = None,
    meta_data: dict | None = None,
    members: dict[str, bytes] | None = None,
) -> Path:
    """A recorder archive at `path` recorded for `claim` (started a second after claiming)."""
    started_at = started_at or claim.created_at + timedelta(seconds=1)
    data = meta_data if meta_data is not None else claim_meta(claim, started_at=started_at)
    return write_archive(path, video=video, meta_data=data, log=shifted_log(started_at), members=members)


def zip_of(members: dict[str, bytes | str], *, compression=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def session_members(claim, **extra) -> dict[str, bytes | str]:
    started_at = claim.created_at + timedelta(seconds=1)
    return {
        "meta.json": json.dumps(claim_meta(claim, started_at=started_at)),
        "input_log.jsonl": shifted_log(started_at),
        **extra,
    }
