"""The `frames_reused` check (evidence/checks.py) and its lookup (evidence/selectors.py
`frames_near`): most of a recording found in another one fails; a shared start screen does not;
the four-band index finds every stored frame within Hamming distance 3, and only those."""

from __future__ import annotations

from decimal import Decimal

import pytest

from evidence.checks import REUSE_DISTANCE, check_frames_reused, dhash_informative, reuse_candidates
from evidence.models import EvidenceFrame, EvidenceReport, Recording
from evidence.selectors import dhash_bands, dhash_to_int, frames_near
from pools.services.claims import claim_create
from pools.services.submissions import submission_create
from tests.factories import CreatorFactory, FarmerFactory, demonstration
from tests.money_helpers import funded_factory

PICTURES = ["c11f998282828182", "6127818181838382", "c167e18282828182", "d117818282828182"]


def sampled(*digests: str) -> dict:
    return {
        "keyframes": [{"index": i, "t": f"{i}.000", "dhash": d, "purpose": "sample"} for i, d in enumerate(digests)]
    }


def match(submission_id: int) -> list[dict]:
    return [{"submission_id": submission_id, "farmer_id": 7, "factory_id": 3, "dhash": "", "distance": 0}]


def test_most_pictures_in_one_other_recording_fail_naming_it():
    candidates = reuse_candidates(sampled(*PICTURES, PICTURES[0]))  # a repeated picture counts once
    assert len(candidates) == 4
    check = check_frames_reused(candidates, {digest: match(41) for digest in PICTURES[:3]})
    assert check["result"] == "fail" and check["details"]["other_submission"] == "41"
    assert "submission 41, factory 3" in check["reason"] and check["keyframe"]["index"] == 0


def test_a_shared_start_screen_is_not_reuse():
    candidates = reuse_candidates(sampled(*PICTURES))
    check = check_frames_reused(candidates, {PICTURES[0]: match(41), PICTURES[1]: match(42)})
    assert check["result"] == "pass"


def test_flat_pictures_are_left_out_and_too_few_pictures_skip():
    assert not dhash_informative("0000000000000000") and not dhash_informative("ffffffffffffffff")
    assert not dhash_informative("4100000000000000") and dhash_informative("c140000000000000")
    candidates = reuse_candidates(sampled("0000000000000000", "ffffffffffffffff", PICTURES[0]))
    assert check_frames_reused(candidates, {PICTURES[0]: match(41)})["result"] == "skipped"


def flipped(digest: str, bits: list[int]) -> str:
    value = int(digest, 16)
    for bit in bits:
        value ^= 1 << bit
    return f"{value:016x}"


@pytest.mark.django_db
def test_the_band_lookup_finds_every_frame_within_distance_3_and_no_further():
    factory = funded_factory(CreatorFactory(), reward="0.2", deposit="1")
    farmer = FarmerFactory()
    submission = submission_create(
        claim_id=claim_create(factory=factory, farmer=farmer).pk, farmer=farmer, demonstration=demonstration()
    )
    recording = Recording.objects.create(
        submission=submission,
        video="recordings/x.mp4",
        video_sha256="0" * 64,
        video_size=1,
        archive_sha256="0" * 64,
        duration_seconds=Decimal(1),
        width=2,
        height=2,
        fps=Decimal(1),
    )
    report = EvidenceReport.objects.create(recording=recording, section={}, cpu_seconds=Decimal(0))
    base = PICTURES[0]
    # one bit flipped in three different bands: distance 3, no band in common but one
    near = flipped(base, [1, 17, 33])
    far = flipped(base, [1, 17, 33, 49])  # every band differs: distance 4
    stored = [near, far, "0123456789abcdef"]
    EvidenceFrame.objects.bulk_create(
        EvidenceFrame(
            report=report,
            submission=submission,
            farmer=farmer,
            factory=factory,
            index=i,
            t=Decimal(i),
            purpose="sample",
            dhash=dhash_to_int(digest),
            **dict(zip(("band0", "band1", "band2", "band3"), dhash_bands(digest), strict=True)),
        )
        for i, digest in enumerate(stored)
    )
    assert dhash_to_int("ffffffffffffffff") == -1  # stored as PostgreSQL's signed bigint

    found = frames_near([base], exclude_submission_id=submission.pk + 1)
    assert [(m["dhash"], m["distance"]) for m in found[base]] == [(near, REUSE_DISTANCE)]
    assert found[base][0]["submission_id"] == submission.pk
    assert frames_near([base], exclude_submission_id=submission.pk) == {}  # its own frames are no reuse


def test_the_other_farmer_is_not_named_in_the_section():
    candidates = reuse_candidates(sampled(*PICTURES))
    check = check_frames_reused(candidates, {digest: match(41) for digest in PICTURES})
    assert check["result"] == "fail" and "other_farmer" not in check["details"]
    assert check["details"]["other_factory"] == "3"
