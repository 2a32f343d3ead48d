"""The scoring path hands the model judge (FORGE_GRADER=judge) the keyframes the evidence app
named in the section (`judge_keyframes`: stored thumbnails, read from default storage by
`pools.selectors.evidence_keyframes_read`): the judge's request carries them as image parts;
missing, bad, oversized or foreign files are skipped and the submission is still scored."""

from __future__ import annotations

import base64
import io
import json

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from pools.grading.base import MAX_KEYFRAME_BYTES, MAX_KEYFRAME_IMAGES
from pools.selectors import evidence_keyframes_read
from pools.services.batch import process_batch
from pools.services.evidence import submission_evidence_record
from tests.fake_http import RecordingHandler, serving
from tests.money_helpers import funded_factory
from tests.pools.test_evidence_scoring import section, submit_recorded
from tests.pools.test_grading_judge import answer, completion

pytestmark = pytest.mark.django_db

OVERSIZED = b"\xff\xd8\xff" + b"\0" * MAX_KEYFRAME_BYTES


class Handler(RecordingHandler):
    def do_POST(self):
        self.record(self.path)
        self.reply(200, json.dumps(completion(answer(True, 0.9))))


@pytest.fixture(scope="module")
def server():
    with serving(Handler) as fake:
        yield fake


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def factory(creator):
    return funded_factory(creator, reward="0.2", deposit="2", expected_minutes=6)


def jpeg(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (40, 24), color=shade).save(buffer, format="JPEG", quality=70)
    return buffer.getvalue()


def stored(name: str, data: bytes) -> str:
    return default_storage.save(name, ContentFile(data))


def sent_images(body: dict) -> list[bytes]:
    content = body["messages"][-1]["content"]
    if isinstance(content, str):
        return []
    return [
        base64.b64decode(part["image_url"]["url"].removeprefix("data:image/jpeg;base64,"))
        for part in content
        if part["type"] == "image_url"
    ]


def test_the_judge_sees_the_stored_keyframes_and_skips_the_bad_ones(factory, settings, server):
    typed, final = jpeg(70), jpeg(210)
    refs = [  # as many as the evidence app writes at most (MAX_KEYFRAME_IMAGES)
        {"index": 3, "t": "8.100", "purpose": "after typing 1", "name": stored("evidence/1/1/3.jpg", typed)},
        {"index": 4, "t": "9.000", "purpose": "after typing 2", "name": "evidence/1/1/missing.jpg"},
        {"index": 5, "t": "9.500", "purpose": "after typing 3", "name": stored("evidence/1/1/5.jpg", b"\x89PNG...")},
        {"index": 7, "t": "9.700", "purpose": "after typing 5", "name": stored("evidence/1/1/7.jpg", OVERSIZED)},
        {"index": 8, "t": "9.800", "purpose": "final", "name": stored("private/secret.jpg", jpeg(5))},
        {"index": 10, "t": "12.000", "purpose": "final", "name": stored("evidence/1/1/10.jpg", final)},
    ]
    settings.FORGE_GRADER = "judge"
    settings.FORGE_GRADER_JUDGE_URL = server.url("/v1")
    submission = submit_recorded(factory)
    submission_evidence_record(submission_id=submission.pk, evidence={**section(), "judge_keyframes": refs})

    process_batch(limit=100)
    submission.refresh_from_db()
    assert submission.graded_by == "judge" and submission.quality_score is not None
    assert sent_images(server.last_body) == [typed, final]
    captions = [part["text"] for part in server.last_body["messages"][-1]["content"][1:] if part["type"] == "text"]
    assert captions == ["Keyframe at 8.100 s (after typing 1):", "Keyframe at 12.000 s (final):"]


def test_a_section_without_keyframes_sends_text_only(factory, settings, server):
    settings.FORGE_GRADER = "judge"
    settings.FORGE_GRADER_JUDGE_URL = server.url("/v1")
    submission = submit_recorded(factory)
    submission_evidence_record(submission_id=submission.pk, evidence=section())

    process_batch(limit=100)
    submission.refresh_from_db()
    assert submission.graded_by == "judge"
    assert isinstance(server.last_body["messages"][-1]["content"], str)


def test_bad_stored_keyframes_are_skipped_and_reads_are_bounded():
    good = jpeg(99)
    bad = [
        {"name": stored("evidence/2/2/truncated.jpg", b"\xff\xd8\xff" + b"x" * 64)},  # JPEG magic, no image
        {"name": stored("evidence/2/2/big.jpg", OVERSIZED)},
        {"name": "evidence/../private/secret.jpg"},
        {"name": "/etc/passwd"},
        {"name": 12},
        "not a reference",
    ]
    assert evidence_keyframes_read({"judge_keyframes": bad}) == ()
    name = stored("evidence/2/2/good.jpg", good)
    frames = evidence_keyframes_read({"judge_keyframes": [*bad[:1], {"name": name, "t": 3, "purpose": "final"}]})
    assert [(frame.jpeg, frame.t, frame.purpose) for frame in frames] == [(good, "3", "final")]
    many = [{"name": name, "t": str(i), "purpose": "after typing"} for i in range(MAX_KEYFRAME_IMAGES + 4)]
    assert len(evidence_keyframes_read({"judge_keyframes": many})) == MAX_KEYFRAME_IMAGES


@pytest.mark.parametrize("evidence", [None, {}, {"judge_keyframes": "evidence/1/1/1.jpg"}, {"judge_keyframes": [7]}])
def test_malformed_keyframe_references_read_as_none(evidence):
    assert evidence_keyframes_read(evidence) == ()
