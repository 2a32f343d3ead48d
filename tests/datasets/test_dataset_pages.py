"""The creator's dataset pages: the list with filters and pseudonyms, a demonstration's
preview (timeline, notes, final state, score breakdown, attachments), and the export button
with its progress row and download link. Only the factory's owner sees them."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from core.templatetags.forge_tags import percent, score
from datasets.models import Export
from datasets.selectors import farmer_pseudonym
from tests.factories import CreatorFactory, FarmerFactory, demonstration
from tests.money_helpers import funded_factory
from tests.pools.dataset_support import PNG, declared, read_download, settled

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FORGE_GRADER = "manual"


@pytest.fixture
def factory(creator):
    return funded_factory(creator, title="Budget sheets")


@pytest.fixture
def page(client, creator):
    client.force_login(creator)
    return client


def dataset_url(factory, query=""):
    return f"/creator/factories/{factory.pk}/dataset/" + (f"?{query}" if query else "")


def test_the_factory_page_links_to_its_dataset(factory, page):
    html = page.get(f"/creator/factories/{factory.pk}/").content.decode()

    assert f'href="{dataset_url(factory)}"' in html


def test_the_dataset_page_lists_accepted_work_under_pseudonyms(factory, page, django_capture_on_commit_callbacks):
    farmer = FarmerFactory(username="bob-the-farmer")
    accepted = settled(factory, farmer, score="0.8", capture=django_capture_on_commit_callbacks)
    rejected = settled(factory, score="0.1", capture=django_capture_on_commit_callbacks)

    html = page.get(dataset_url(factory)).content.decode()

    assert f"dataset/{accepted.pk}/" in html and f"dataset/{rejected.pk}/" not in html
    assert farmer_pseudonym(factory.pk, farmer.pk) in html
    assert "bob-the-farmer" not in html
    assert "1 demonstration" in html

    with_rejected = page.get(dataset_url(factory, "include=rejected")).content.decode()
    assert f"dataset/{rejected.pk}/" in with_rejected


def test_the_filters_narrow_the_list_and_a_bad_one_is_explained(factory, page, django_capture_on_commit_callbacks):
    high = settled(factory, score="0.95", capture=django_capture_on_commit_callbacks)
    low = settled(factory, score="0.6", capture=django_capture_on_commit_callbacks)

    narrowed = page.get(dataset_url(factory, "min_quality=0.9")).content.decode()
    broken = page.get(dataset_url(factory, "min_quality=lots"))

    assert f"dataset/{high.pk}/" in narrowed and f"dataset/{low.pk}/" not in narrowed
    assert broken.status_code == 200
    assert "could not be read" in broken.content.decode()
    assert 'aria-invalid="true"' in broken.content.decode()


def test_the_preview_shows_the_timeline_notes_final_state_breakdown_and_attachments(
    factory, page, as_user, django_capture_on_commit_callbacks
):
    demo = demonstration(steps=4, minutes=2)
    demo["notes"] = "Used the template from the shared drive."
    demo["steps"][2]["text"] = "Rent 1200"
    submission = settled(
        factory, demo=demo, capture=django_capture_on_commit_callbacks, attachments=[declared("screen.png", PNG)]
    )
    item = submission.attachments.get()
    as_user(submission.farmer).generic(
        "PUT", f"/api/v1/submissions/{submission.pk}/attachments/{item.pk}/", PNG, content_type="image/png"
    )

    html = page.get(f"/creator/factories/{factory.pk}/dataset/{submission.pk}/").content.decode()

    # Four steps over two minutes: at 0:00, 0:30, 1:00, 1:30, each 30 s after the previous.
    for clock in ("0:00", "0:30", "1:00", "1:30"):
        assert f"<code>{clock}</code>" in html
    assert "+30.0 s" in html
    assert "Rent 1200" in html
    assert "Used the template from the shared drive." in html
    assert demo["final_state"] in html
    assert "<dd>90%</dd>" in html  # the score as a percentage, like the threshold
    assert f"/creator/factories/{factory.pk}/dataset/{submission.pk}/attachments/{item.pk}/" in html
    download = page.get(f"/creator/factories/{factory.pk}/dataset/{submission.pk}/attachments/{item.pk}/")
    assert read_download(download) == PNG


def test_the_preview_of_rejected_work_says_it_is_not_in_the_dataset(factory, page, django_capture_on_commit_callbacks):
    rejected = settled(factory, score="0.1", capture=django_capture_on_commit_callbacks)

    html = page.get(f"/creator/factories/{factory.pk}/dataset/{rejected.pk}/").content.decode()

    assert "Not part of the dataset." in html and "below the quality threshold" in html


def test_the_export_button_builds_an_export_shown_with_its_download_link(
    factory, page, django_capture_on_commit_callbacks
):
    accepted = settled(factory, score="0.9", capture=django_capture_on_commit_callbacks)
    settled(factory, score="0.7", capture=django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        response = page.post(f"/creator/factories/{factory.pk}/exports/", {"filter_query": "min_quality=0.8&page=2"})

    assert response.status_code == 302
    assert response["Location"].endswith(f"{dataset_url(factory)}?min_quality=0.8#exports")
    export = Export.objects.get()
    assert (export.status, export.count, export.filters) == (Export.Status.READY, 1, {"min_quality": "0.8"})
    html = page.get(dataset_url(factory)).content.decode()
    download_path = f"/creator/factories/{factory.pk}/exports/{export.pk}/download/"
    assert download_path in html
    body = read_download(page.get(download_path)).decode()
    assert f'"id":{accepted.pk},' in body and body.count("\n") == 1


def test_a_running_export_row_polls_for_progress_and_stops_when_done(factory, page, creator):
    export = Export.objects.create(factory=factory, requested_by=creator, status=Export.Status.RUNNING, progress=40)
    row_url = f"/creator/factories/{factory.pk}/exports/{export.pk}/"

    running = page.get(row_url).content.decode()
    Export.objects.filter(pk=export.pk).update(status=Export.Status.FAILED, error="Attachment 'x' failed SHA-256")
    failed = page.get(row_url).content.decode()

    assert f'hx-get="{row_url}"' in running and 'value="40"' in running
    assert "hx-get" not in failed and "failed SHA-256" in failed


def test_the_export_button_with_attachments_makes_a_zip(factory, page, django_capture_on_commit_callbacks):
    settled(factory, capture=django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        page.post(f"/creator/factories/{factory.pk}/exports/", {"filter_query": "", "include_attachments": "on"})

    export = Export.objects.get()
    assert export.include_attachments and export.file.name.endswith(".zip")
    assert default_storage.exists(export.file.name)


@pytest.mark.parametrize(
    "path",
    [
        "dataset/",
        "dataset/{submission}/",
        "dataset/{submission}/attachments/{attachment}/",
        "exports/{export}/",
        "exports/{export}/download/",
    ],
)
def test_another_creator_gets_404_everywhere(
    factory, creator, client, path, as_user, django_capture_on_commit_callbacks
):
    submission = settled(factory, capture=django_capture_on_commit_callbacks, attachments=[declared("s.png", PNG)])
    item = submission.attachments.get()
    as_user(submission.farmer).generic(
        "PUT", f"/api/v1/submissions/{submission.pk}/attachments/{item.pk}/", PNG, content_type="image/png"
    )
    export = Export.objects.create(factory=factory, requested_by=creator)
    client.force_login(CreatorFactory())

    url = f"/creator/factories/{factory.pk}/" + path.format(
        submission=submission.pk, attachment=item.pk, export=export.pk
    )

    assert client.get(url).status_code == 404


def test_another_creator_cannot_start_an_export(factory, client):
    client.force_login(CreatorFactory())

    assert client.post(f"/creator/factories/{factory.pk}/exports/", {"filter_query": ""}).status_code == 404
    assert not Export.objects.exists()


def test_farmers_cannot_open_dataset_pages(factory, client):
    client.force_login(FarmerFactory())

    assert client.get(dataset_url(factory)).status_code == 403


def test_the_preview_shows_each_part_of_a_graded_score(factory, page, settings, django_capture_on_commit_callbacks):
    settings.FORGE_GRADER = "rules"
    submission = settled_by_rules(factory, django_capture_on_commit_callbacks)

    html = page.get(f"/creator/factories/{factory.pk}/dataset/{submission.pk}/").content.decode()

    for part, values in submission.score_breakdown.items():
        assert f'<th scope="row">{part.capitalize()}</th>' in html
        # Scores and weights as percentages (0.9000 -> "90%"), as everywhere on the pages.
        assert f">{score(values['score'])}<" in html and f">{percent(values['weight'])}<" in html


def settled_by_rules(factory, capture):
    from tests.pools.dataset_support import submit

    submission = submit(factory, capture=capture)
    assert submission.score_breakdown and submission.status in ("settled", "rejected"), submission.status
    return submission
