"""Reads of the evidence app (never writes)."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Q

from .checks import REUSE_DISTANCE
from .models import EvidenceFrame
from .video import dhash_distance

# Candidates read per lookup at most: the bands of informative pictures are spread; a flood of
# one band means a degenerate picture, and the first rows of it are enough to say "reused".
MAX_CANDIDATES = 20_000


def dhash_to_int(digest: str) -> int:
    """A 16-hex-digit dHash as PostgreSQL's signed bigint."""
    value = int(digest, 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def dhash_bands(digest: str) -> tuple[int, int, int, int]:
    value = int(digest, 16)
    return tuple((value >> shift) & 0xFFFF for shift in (48, 32, 16, 0))


def _hex(value: int) -> str:
    return f"{value & ((1 << 64) - 1):016x}"


def frames_near(digests: list[str], *, exclude_submission_id: int) -> dict[str, list[dict]]:
    """{digest: frames of other recordings within REUSE_DISTANCE of it}, across farmers and
    factories: four indexed band lookups (EvidenceFrame's docstring), distances checked here.
    Each frame: {"submission_id", "farmer_id", "factory_id", "dhash", "distance"}."""
    if not digests:
        return {}
    bands = [dhash_bands(digest) for digest in digests]
    condition = Q()
    for position in range(4):
        condition |= Q(**{f"band{position}__in": sorted({band[position] for band in bands})})
    candidates = (
        EvidenceFrame.objects.filter(condition)
        .exclude(submission_id=exclude_submission_id)
        .values_list("submission_id", "farmer_id", "factory_id", "dhash")[:MAX_CANDIDATES]
    )
    by_band: list[dict[int, list[tuple]]] = [defaultdict(list) for _ in range(4)]
    for row in candidates:
        row_bands = dhash_bands(_hex(row[3]))
        for position in range(4):
            by_band[position][row_bands[position]].append(row)
    found: dict[str, list[dict]] = {}
    for digest, digest_bands in zip(digests, bands, strict=True):
        rows = {row for position in range(4) for row in by_band[position].get(digest_bands[position], ())}
        matches = []
        for submission_id, farmer_id, factory_id, value in rows:
            distance = dhash_distance(digest, _hex(value))
            if distance <= REUSE_DISTANCE:
                matches.append(
                    {
                        "submission_id": submission_id,
                        "farmer_id": farmer_id,
                        "factory_id": factory_id,
                        "dhash": _hex(value),
                        "distance": distance,
                    }
                )
        if matches:
            found[digest] = sorted(matches, key=lambda match: (match["distance"], match["submission_id"]))
    return found


def evidence_frames_of(submission_id: int) -> dict[int, EvidenceFrame]:
    """{keyframe index: frame} of a submission's examined recording (with a thumbnail only)."""
    frames = EvidenceFrame.objects.filter(submission_id=submission_id).exclude(thumbnail="")
    return {frame.index: frame for frame in frames}


def evidence_thumbnail(submission_id: int, index: int) -> EvidenceFrame | None:
    """The keyframe `index` of the submission's recording, if a check used it (has a thumbnail).
    Callers check who may see the submission first (pools.access.access_submission)."""
    return EvidenceFrame.objects.filter(submission_id=submission_id, index=index).exclude(thumbnail="").first()
