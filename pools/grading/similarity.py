"""Near-duplicate demonstrations: a similarity over every action field, and a compact signature.

An exact fingerprint of the steps is evaded by doubling a space, adding one wait or changing
one character, and it calls two recordings the same when they differ only in what matters
most for a replay (the keys pressed, the addresses visited). Here:

- **soft fields** (action, target, typed text, pointer position bucketed to 40 px, the rhythm
  of the gaps between actions bucketed on a log scale) are written as one normalised string
  per recording: casefolded, whitespace collapsed, waits dropped. Its character 4-grams
  ("shingles") are compared by Jaccard similarity, so one changed character moves only a
  few shingles out of many.
- **hard fields** (the keys pressed, in order, and the URLs visited, in order) must be equal:
  two recordings that differ in either are at most `HARD_FIELD_MISMATCH_CAP` similar, under
  `DUPLICATE_SIMILARITY`.

`demonstration_signature` stores the same thing compactly per submission: a bottom-k MinHash
of the shingles (the 64 smallest shingle hashes; one hash per shingle, so a 10,000-step
recording signs in linear time) plus a digest of the hard fields. Two signatures estimate the
Jaccard similarity as the share of the 64 smallest hashes of their union that both hold.
Pure Python, deterministic across processes (hashlib, never `hash()`).
"""

from __future__ import annotations

import hashlib
import heapq
import math
import re
from urllib.parse import urlsplit

SIGNATURE_VERSION = 1
SHINGLE_CHARS = 4
MINHASH_SLOTS = 64
COORDINATE_BUCKET_PIXELS = 40
DUPLICATE_SIMILARITY = 0.85  # at or above: a near-duplicate (held for review by the caller)
HARD_FIELD_MISMATCH_CAP = 0.5  # keys or URLs differ: never a duplicate

_SPACE_RE = re.compile(r"\s+")


def _normal(text) -> str:
    return _SPACE_RE.sub(" ", str(text)).strip().casefold() if text is not None else ""


def _normal_url(url) -> str:
    text = _normal(url)
    if not text:
        return ""
    parts = urlsplit(text if "//" in text else f"//{text}")
    host = parts.netloc.removeprefix("www.")
    return f"{host}{parts.path.rstrip('/')}" + (f"?{parts.query}" if parts.query else "")


def _gap_bucket(gap: float) -> str:
    """The rhythm, not the clock: 0.1 s, 0.3 s, 1 s, 3 s ... buckets (half-decades)."""
    if gap <= 0.05:
        return "0"
    return str(max(-4, min(12, round(2 * math.log10(gap)))))


def demonstration_fields(demonstration: dict) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(soft string, keys in order, urls in order) of a recording; waits are not actions."""
    parts: list[str] = []
    keys: list[str] = []
    urls: list[str] = []
    previous_t = 0.0
    for step in demonstration.get("steps") or []:
        action = _normal(step.get("action"))
        if action == "wait":
            continue
        t = step.get("t")
        t = float(t) if isinstance(t, int | float) and not isinstance(t, bool) else previous_t
        gap, previous_t = t - previous_t, t
        x, y = step.get("x"), step.get("y")
        where = ""
        if isinstance(x, int) and isinstance(y, int):
            where = f"@{x // COORDINATE_BUCKET_PIXELS},{y // COORDINATE_BUCKET_PIXELS}"
        target = step.get("target")
        if action == "navigate" and target and not step.get("url"):
            urls.append(_normal_url(target))
            target = None
        if step.get("url"):
            urls.append(_normal_url(step.get("url")))
        if step.get("key"):
            keys.append(_normal(step.get("key")))
        parts.append(f"{action}|{_normal(target)}|{_normal(step.get('text'))}{where}~{_gap_bucket(gap)}")
    return "\n".join(parts), tuple(keys), tuple(urls)


def _shingles(soft: str) -> frozenset[str]:
    if len(soft) <= SHINGLE_CHARS:
        return frozenset({soft}) if soft else frozenset()
    return frozenset(soft[index : index + SHINGLE_CHARS] for index in range(len(soft) - SHINGLE_CHARS + 1))


def _hard_digest(keys: tuple[str, ...], urls: tuple[str, ...]) -> str:
    return hashlib.blake2b(
        "\x1f".join(keys).encode() + b"\x1e" + "\x1f".join(urls).encode(), digest_size=16
    ).hexdigest()


def demonstration_similarity(first: dict, second: dict) -> float:
    """Similarity in [0, 1] over every action field (see the module docstring)."""
    soft_a, keys_a, urls_a = demonstration_fields(first)
    soft_b, keys_b, urls_b = demonstration_fields(second)
    shingles_a, shingles_b = _shingles(soft_a), _shingles(soft_b)
    union = shingles_a | shingles_b
    soft = len(shingles_a & shingles_b) / len(union) if union else 1.0
    if keys_a != keys_b or urls_a != urls_b:
        return min(soft, HARD_FIELD_MISMATCH_CAP)
    return soft


def is_near_duplicate(first: dict, second: dict) -> bool:
    return demonstration_similarity(first, second) >= DUPLICATE_SIMILARITY


def demonstration_signature(demonstration: dict) -> dict:
    """A compact, JSON-storable signature: {"v", "minhash": [<= 64 ints, ascending], "hard": hex}."""
    soft, keys, urls = demonstration_fields(demonstration)
    hashed = {_shingle_hash(shingle) for shingle in _shingles(soft)}
    return {"v": SIGNATURE_VERSION, "minhash": heapq.nsmallest(MINHASH_SLOTS, hashed), "hard": _hard_digest(keys, urls)}


def _shingle_hash(shingle: str) -> int:
    return int.from_bytes(hashlib.blake2b(shingle.encode(), digest_size=8).digest(), "big")


def signature_similarity(first: dict, second: dict) -> float:
    """Estimated `demonstration_similarity` from two stored signatures (bottom-k MinHash)."""
    if first.get("v") != SIGNATURE_VERSION or second.get("v") != SIGNATURE_VERSION:
        raise ValueError("signatures of another version cannot be compared; recompute them")
    sketch_a, sketch_b = set(first["minhash"]), set(second["minhash"])
    union_smallest = heapq.nsmallest(MINHASH_SLOTS, sketch_a | sketch_b)
    if not union_smallest:
        soft = 1.0
    else:
        soft = sum(value in sketch_a and value in sketch_b for value in union_smallest) / len(union_smallest)
    if first["hard"] != second["hard"]:
        return min(soft, HARD_FIELD_MISMATCH_CAP)
    return soft
