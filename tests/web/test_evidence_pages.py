"""The evidence checks on the submission pages, each with the keyframe it used: the farmer's
submission page and the creator's demonstration page show them; the thumbnails are served
only to who may see the submission (tests/security/test_permission_matrix.py has the row)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from evidence.selectors import evidence_frames_of
from evidence.services import recording_examine
from pools.grading.evidence import evidence_rows
from pools.services.batch import process_batch
from tests.evidence.recordings import build_recording
from tests.evidence.test_recording_examine import submit_archive
from tests.factories import FarmerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def held_recording(settings, tmp_path):
    """A frozen-screen recording submitted, examined and held (its checks name keyframes)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    submission = submit_archive(build_recording(tmp_path / "recordings", "frozen"))
    recording_examine(submission_id=submission.pk)
    process_batch(limit=100)
    submission.refresh_from_db()
    return submission


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def shown_keyframes(submission) -> set[int]:
    """The keyframes the pages show: each check's (pools.grading.evidence.evidence_rows)."""
    return {ref["index"] for row in evidence_rows(submission.evidence) for ref in row["keyframes"]}


def test_the_farmer_sees_each_check_with_its_keyframe(held_recording):
    submission = held_recording
    page = signed_in(submission.farmer).get(reverse("farmers:submission", args=[submission.pk]))

    html = page.content.decode()
    assert page.status_code == 200
    assert "evidence checks" in html and "Video changes" in html and "Frames reused" in html
    frames = evidence_frames_of(submission.pk)
    shown = shown_keyframes(submission)
    assert shown and shown <= set(frames)  # the model judge's frames are stored too, not all shown
    for index in shown:
        assert reverse("evidence:thumbnail", args=[submission.pk, index]) in html
    assert '"evidence"' not in html and ">Evidence<" not in html  # not a row of the score table


def test_the_creator_sees_them_on_the_demonstration_page(held_recording):
    submission = held_recording
    url = reverse("pools:factory-demonstration", args=[submission.factory_id, submission.pk])
    page = signed_in(submission.factory.creator).get(url)

    html = page.content.decode()
    assert page.status_code == 200 and "evidence checks" in html
    index = min(shown_keyframes(submission))
    thumbnail = reverse("evidence:thumbnail", args=[submission.pk, index])
    assert thumbnail in html

    image = signed_in(submission.factory.creator).get(thumbnail)
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"
    assert b"".join(image.streaming_content)[:3] == b"\xff\xd8\xff"  # a JPEG


def test_another_farmer_gets_a_404_and_an_unknown_keyframe_too(held_recording):
    submission = held_recording
    index = min(shown_keyframes(submission))
    assert signed_in(FarmerFactory()).get(reverse("evidence:thumbnail", args=[submission.pk, index])).status_code == 404
    owner = signed_in(submission.farmer)
    assert owner.get(reverse("evidence:thumbnail", args=[submission.pk, 9999])).status_code == 404
    assert owner.get(reverse("evidence:thumbnail", args=[submission.pk + 1000, index])).status_code == 404


def test_while_the_recording_is_examined_the_farmer_is_told_so(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    submission = submit_archive(build_recording(tmp_path / "recordings", "frozen"))
    client = signed_in(submission.farmer)

    page = client.get(reverse("farmers:submission", args=[submission.pk])).content.decode()
    assert "Checking your recording…" in page and "comparing the video with your demonstration" in page
    status = reverse("farmers:submission_status", args=[submission.pk])
    seen = "submitted:pending:None:0"
    assert client.get(status, {"seen": seen}).status_code == 204  # nothing new while examined

    recording_examine(submission_id=submission.pk)
    assert client.get(status, {"seen": seen}).status_code == 200  # the examination is news
