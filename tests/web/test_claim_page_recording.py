"""The claim page takes the desktop recorder's archive (a file input next to the JSON box),
shows every refusal as a form error next to it with nothing stored, says what to submit, inserts
a worked JSON example on request, and links the format page."""

from __future__ import annotations

import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from evidence.models import Recording
from pools.demonstrations import EXAMPLE_DEMONSTRATION, demonstration_validate
from pools.models import Claim, Submission
from pools.services.claims import claim_create
from tests.evidence.intake_support import archive_for_claim, claim_meta, session_members, video_of, zip_of
from tests.evidence.recordings import build_recording
from tests.money_helpers import funded_factory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FORGE_GRADER = "manual"
    return settings.MEDIA_ROOT


@pytest.fixture(scope="module")
def genuine_video(tmp_path_factory) -> bytes:
    return video_of(build_recording(tmp_path_factory.mktemp("recordings"), "genuine"))


@pytest.fixture
def farmer_client(farmer):
    client = Client()
    client.force_login(farmer)
    return client


@pytest.fixture
def claim(creator, farmer):
    return claim_create(factory=funded_factory(creator), farmer=farmer)


def url(claim) -> str:
    return reverse("farmers:claim", kwargs={"claim_id": claim.pk})


def upload(data: bytes, name="recording.zip") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/zip")


def archive_errors(response) -> list[str]:
    return response.context["form"].errors.get("archive", [])


def test_the_page_says_what_to_submit_and_links_the_format(farmer_client, claim):
    page = farmer_client.get(url(claim)).content.decode()

    assert 'name="archive"' in page and 'accept=".zip,application/zip"' in page
    assert 'name="demonstration"' in page and 'name="insert_example"' in page
    assert "recorder archive" in page.lower() and f"factory-{claim.factory_id}" in page
    assert f'href="{reverse("farmers:format")}"' in page
    assert claim.factory.instructions in page and "{%" not in page  # the whole page, rendered


def test_the_worked_example_is_inserted_and_is_a_valid_demonstration(farmer_client, claim):
    response = farmer_client.post(url(claim), {"insert_example": "1"})

    assert response.status_code == 200
    inserted = response.context["form"].initial["demonstration"]
    assert json.loads(inserted) == EXAMPLE_DEMONSTRATION
    assert "Budget 2026" in response.content.decode()
    demonstration_validate(EXAMPLE_DEMONSTRATION)  # raises if the example ever stops being valid
    assert not Submission.objects.exists() and Claim.objects.get(pk=claim.pk).status == Claim.Status.OPEN


def test_a_recorder_archive_is_submitted_from_the_page(farmer_client, claim, genuine_video, tmp_path):
    data = archive_for_claim(tmp_path / "a.zip", claim, video=genuine_video).read_bytes()

    response = farmer_client.post(url(claim), {"archive": upload(data), "final_state": "Budget 2026 sheet"})

    submission = Submission.objects.get(claim=claim)
    assert response.status_code == 302 and response.url == reverse("farmers:submission", args=[submission.pk])
    assert submission.has_recording and submission.demonstration["final_state"] == "Budget 2026 sheet"
    assert Recording.objects.filter(submission=submission).exists()


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda claim: b"definitely not a zip", "not a readable zip archive"),
        (lambda claim: zip_of({**session_members(claim), "../escape.txt": b"x"}), "points outside the archive"),
        (
            lambda claim: zip_of(
                {**session_members(claim), "big.bin": b"\0" * (4 * 1024 * 1024)}, compression=zipfile.ZIP_DEFLATED
            ),
            "zip bomb",
        ),
        (
            lambda claim: zip_of({**session_members(claim), "recording.mp4": b"\0\0\0\x18ftypisom" + b"\1" * 999}),
            "not a video FFmpeg can read",
        ),
        (
            lambda claim: zip_of(
                {**session_members(claim), "meta.json": json.dumps(claim_meta(claim, quest={"pool_id": "factory-0"}))}
            ),
            "meta.quest.pool_id: The recording was made for pool 'factory-0'",
        ),
    ],
)
def test_a_bad_archive_is_a_form_error_next_to_the_file_input(farmer_client, claim, media, make, words):
    response = farmer_client.post(url(claim), {"archive": upload(make(claim))})

    assert response.status_code == 400
    assert any(words in error for error in archive_errors(response)), archive_errors(response)
    assert not Submission.objects.exists() and not Recording.objects.exists()
    assert not media.exists() or not [path for path in media.rglob("*") if path.is_file()]


def test_a_file_that_is_not_a_zip_by_name_is_refused(farmer_client, claim):
    response = farmer_client.post(url(claim), {"archive": upload(b"PK", name="recording.mp4")})

    assert "Upload the recorder's .zip archive" in archive_errors(response)[0]


def test_an_archive_and_json_together_are_refused(farmer_client, claim):
    response = farmer_client.post(
        url(claim), {"archive": upload(b"PK"), "demonstration": json.dumps(EXAMPLE_DEMONSTRATION)}
    )

    assert "not both" in archive_errors(response)[0]
    assert not Submission.objects.exists()


def test_a_claim_requiring_a_recording_shows_no_json_box_and_says_why(farmer_client, creator, farmer):
    claim = claim_create(factory=funded_factory(creator, requires_recording=True), farmer=farmer)

    page = farmer_client.get(url(claim)).content.decode()
    refused = farmer_client.post(url(claim), {"demonstration": json.dumps(EXAMPLE_DEMONSTRATION)})
    without_video = farmer_client.post(url(claim), {"archive": upload(zip_of(session_members(claim)))})

    assert "This task requires a screen recording" in page and 'name="demonstration"' not in page
    assert "requires a screen recording" in archive_errors(refused)[0]
    assert "has no recording.mp4" in archive_errors(without_video)[0]
    assert not Submission.objects.exists()


def test_the_format_page_explains_the_archive_and_every_step_field(farmer_client):
    page = farmer_client.get(reverse("farmers:format")).content.decode()

    assert 'id="recorder-archive"' in page and "recording.mp4" in page and "input_log.jsonl" in page
    for field in ("<code>t</code>", "<code>action</code>", "<code>key</code>", "<code>dx</code>"):
        assert field in page
