"""Exports: POST /api/v1/factories/{id}/exports/ starts one (202), a Celery task builds the
JSONL manifest (or a zip with the attachments, each verified against its SHA-256), GET
/api/v1/exports/{id}/ reports progress, and the download is for the owner and staff only."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from datasets.models import Alert, Export
from datasets.selectors import farmer_pseudonym
from datasets.services.exports import export_build
from datasets.tasks import export_build_task
from tests.factories import CreatorFactory
from tests.money_helpers import funded_factory
from tests.pools.dataset_support import (
    PNG,
    WEBM,
    declared,
    jsonl,
    open_zip,
    read_download,
    settled,
    sha256,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FORGE_GRADER = "manual"


@pytest.fixture
def factory(creator):
    creator.email = "creator@example.com"
    creator.save(update_fields=["email"])
    return funded_factory(creator, reward="0.2", deposit="10")


@pytest.fixture
def dataset(factory, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    return {
        "accepted": [settled(factory, score="0.9", capture=capture), settled(factory, score="0.7", capture=capture)],
        "rejected": settled(factory, score="0.1", capture=capture),
    }


def start(client, factory, capture, **body):
    with capture(execute=True):  # the build task runs (eagerly) once the request commits
        return client.post(f"/api/v1/factories/{factory.pk}/exports/", body, format="json")


def test_an_export_is_accepted_then_built_by_the_task(
    factory, dataset, creator, as_user, django_capture_on_commit_callbacks
):
    client = as_user(creator)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(f"/api/v1/factories/{factory.pk}/exports/", {}, format="json")

    assert response.status_code == 202
    assert response.json()["status"] == "queued" and response.json()["download_url"] is None
    assert len(callbacks) == 1  # the build task is sent after commit, not before
    export_id = response.json()["id"]
    export_build_task.apply(args=[export_id])

    detail = client.get(f"/api/v1/exports/{export_id}/").json()
    assert detail["status"] == "ready"
    assert (detail["progress"], detail["count"]) == (100, 2)
    assert detail["download_url"].endswith(f"/api/v1/exports/{export_id}/download/")


def test_the_jsonl_holds_one_accepted_demonstration_per_line(
    factory, dataset, creator, as_user, django_capture_on_commit_callbacks
):
    client = as_user(creator)
    export_id = start(client, factory, django_capture_on_commit_callbacks).json()["id"]

    response = client.get(f"/api/v1/exports/{export_id}/download/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    assert f"factory-{factory.pk}-export-{export_id}.jsonl" in response["Content-Disposition"]
    lines = jsonl(read_download(response))
    accepted = sorted(dataset["accepted"], key=lambda s: (s.submitted_at, s.pk))
    assert [line["id"] for line in lines] == [s.pk for s in accepted]
    first = lines[0]
    assert first["quality_score"] == f"{accepted[0].quality_score:f}"
    assert first["demonstration"] == accepted[0].demonstration
    assert first["score_breakdown"] == accepted[0].score_breakdown
    assert first["farmer"] == farmer_pseudonym(factory.pk, accepted[0].farmer_id)
    assert first["submitted_at"] == accepted[0].submitted_at.isoformat()
    assert first["settled_at"] and first["flagged"] is False and first["attachments"] == []
    assert (
        accepted[0].farmer.username not in read_download(client.get(f"/api/v1/exports/{export_id}/download/")).decode()
    )


def test_an_export_takes_the_dataset_filters(factory, dataset, creator, as_user, django_capture_on_commit_callbacks):
    client = as_user(creator)

    high = start(client, factory, django_capture_on_commit_callbacks, min_quality="0.8").json()["id"]
    everything = start(client, factory, django_capture_on_commit_callbacks, include=["rejected"]).json()["id"]

    assert [line["id"] for line in jsonl(read_download(client.get(f"/api/v1/exports/{high}/download/")))] == [
        dataset["accepted"][0].pk
    ]
    assert Export.objects.get(pk=everything).count == 3
    assert Export.objects.get(pk=high).filters == {"min_quality": "0.8"}


def test_an_export_with_an_unreadable_filter_is_a_400_and_nothing_starts(
    factory, creator, as_user, django_capture_on_commit_callbacks
):
    response = start(as_user(creator), factory, django_capture_on_commit_callbacks, max_quality="lots")

    assert response.status_code == 400 and "max_quality" in response.json()
    assert not Export.objects.exists()


@pytest.mark.parametrize("who, status", [("owner", 200), ("staff", 200), ("another_creator", 404), ("farmer", 404)])
def test_only_the_owner_and_staff_download_an_export(
    factory, dataset, creator, staff, as_user, who, status, django_capture_on_commit_callbacks
):
    export_id = start(as_user(creator), factory, django_capture_on_commit_callbacks).json()["id"]
    user = {
        "owner": creator,
        "staff": staff,
        "another_creator": CreatorFactory(),
        "farmer": dataset["accepted"][0].farmer,
    }[who]
    client = as_user(user)

    download = client.get(f"/api/v1/exports/{export_id}/download/")
    detail = client.get(f"/api/v1/exports/{export_id}/")

    assert download.status_code == status
    assert detail.status_code == status
    if status == 200:
        assert len(jsonl(read_download(download))) == 2


@pytest.mark.parametrize("who", ["another_creator", "farmer"])
def test_strangers_cannot_start_or_list_exports(factory, dataset, who, as_user, django_capture_on_commit_callbacks):
    user = CreatorFactory() if who == "another_creator" else dataset["accepted"][0].farmer
    client = as_user(user)

    assert start(client, factory, django_capture_on_commit_callbacks).status_code == 404
    assert client.get(f"/api/v1/factories/{factory.pk}/exports/").status_code == 404
    assert not Export.objects.exists()


def test_the_owner_lists_the_factorys_exports(factory, dataset, creator, as_user, django_capture_on_commit_callbacks):
    client = as_user(creator)
    first = start(client, factory, django_capture_on_commit_callbacks).json()["id"]
    second = start(client, factory, django_capture_on_commit_callbacks).json()["id"]

    listed = client.get(f"/api/v1/factories/{factory.pk}/exports/").json()

    assert [row["id"] for row in listed["results"]] == [second, first]


def test_an_export_not_ready_yet_cannot_be_downloaded(factory, dataset, creator, as_user):
    client = as_user(creator)
    export_id = client.post(f"/api/v1/factories/{factory.pk}/exports/", {}, format="json").json()["id"]  # not built

    assert client.get(f"/api/v1/exports/{export_id}/download/").status_code == 409


@pytest.fixture
def with_attachments(factory, as_user, django_capture_on_commit_callbacks):
    """An accepted demonstration with two uploaded attachments and one never uploaded."""
    submission = settled(
        factory,
        capture=django_capture_on_commit_callbacks,
        attachments=[
            declared("../../screen.png", PNG),
            declared("recording.webm", WEBM, "video/webm"),
            declared("missing.png", PNG[:100]),
        ],
    )
    client = as_user(submission.farmer)
    for item, data in (
        (submission.attachments.get(name="../../screen.png"), PNG),
        (submission.attachments.get(name="recording.webm"), WEBM),
    ):
        response = client.generic(
            "PUT",
            f"/api/v1/submissions/{submission.pk}/attachments/{item.pk}/",
            data,
            content_type=item.content_type,
        )
        assert response.status_code == 200, response.json()
    return submission


def test_a_zip_export_packages_the_manifest_and_verified_attachments(
    factory, with_attachments, creator, as_user, django_capture_on_commit_callbacks
):
    client = as_user(creator)
    export_id = start(client, factory, django_capture_on_commit_callbacks, include_attachments=True).json()["id"]

    response = client.get(f"/api/v1/exports/{export_id}/download/")

    assert response["Content-Type"] == "application/zip"
    archive = open_zip(read_download(response))
    names = set(archive.namelist())
    assert "manifest.jsonl" in names
    (line,) = jsonl(archive.read("manifest.jsonl"))
    references = {ref["name"]: ref for ref in line["attachments"]}
    png, webm, missing = references["../../screen.png"], references["recording.webm"], references["missing.png"]
    # Paths stay inside attachments/<submission>/ whatever the declared name.
    assert png["path"].startswith(f"attachments/{with_attachments.pk}/") and ".." not in png["path"]
    assert archive.read(png["path"]) == PNG and png["sha256"] == sha256(PNG) and png["size"] == len(PNG)
    assert archive.read(webm["path"]) == WEBM
    assert missing["uploaded"] is False and missing["path"] is None
    assert names == {"manifest.jsonl", png["path"], webm["path"]}


def test_a_jsonl_export_references_attachments_without_copying_them(
    factory, with_attachments, creator, as_user, django_capture_on_commit_callbacks
):
    client = as_user(creator)
    export_id = start(client, factory, django_capture_on_commit_callbacks).json()["id"]

    (line,) = jsonl(read_download(client.get(f"/api/v1/exports/{export_id}/download/")))
    png = next(ref for ref in line["attachments"] if ref["name"] == "../../screen.png")

    assert png["path"] is None and png["sha256"] == sha256(PNG)
    assert read_download(client.get(png["download_url"])) == PNG


def test_a_tampered_stored_attachment_fails_the_export_with_a_clear_error(
    factory, with_attachments, creator, as_user, django_capture_on_commit_callbacks
):
    item = with_attachments.attachments.get(name="recording.webm")
    # Someone (or bit rot) changes the stored bytes after the upload was verified.
    default_storage.delete(item.file.name)
    default_storage.save(item.file.name, ContentFile(WEBM[:-1] + b"\x00"))
    client = as_user(creator)

    export_id = start(client, factory, django_capture_on_commit_callbacks, include_attachments=True).json()["id"]

    detail = client.get(f"/api/v1/exports/{export_id}/").json()
    assert detail["status"] == "failed" and detail["download_url"] is None
    assert "'recording.webm'" in detail["error"] and "SHA-256" in detail["error"]
    assert item.sha256 in detail["error"]
    assert Export.objects.get(pk=export_id).file.name == ""
    assert client.get(f"/api/v1/exports/{export_id}/download/").status_code == 409
    alert = Alert.objects.get(export_id=export_id)
    assert alert.kind == Alert.Kind.EXPORT_FAILED


def test_a_missing_stored_attachment_fails_the_export(
    factory, with_attachments, creator, as_user, django_capture_on_commit_callbacks
):
    default_storage.delete(with_attachments.attachments.get(name="recording.webm").file.name)

    export_id = start(as_user(creator), factory, django_capture_on_commit_callbacks, include_attachments=True).json()[
        "id"
    ]

    export = Export.objects.get(pk=export_id)
    assert export.status == Export.Status.FAILED and "missing from storage" in export.error


def test_the_creator_is_told_when_an_export_is_ready(
    factory, dataset, creator, as_user, django_capture_on_commit_callbacks
):
    export_id = start(as_user(creator), factory, django_capture_on_commit_callbacks).json()["id"]

    alert = Alert.objects.get(export_id=export_id)
    assert (alert.kind, alert.user_id) == (Alert.Kind.EXPORT_READY, creator.pk)
    (email,) = mail.outbox
    assert email.to == ["creator@example.com"] and "ready" in email.subject
    assert f"/creator/factories/{factory.pk}/dataset/" in email.body
    export_build(export_id=export_id)  # a redelivered task changes nothing, sends nothing
    assert len(mail.outbox) == 1 and Alert.objects.filter(export_id=export_id).count() == 1
