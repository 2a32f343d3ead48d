"""Exports survive lost messages and dead workers: a redelivered task never builds an export
twice at once, `exports_sweep` re-sends queued exports and takes back running ones whose
heartbeat stopped, and gives up after a few attempts with a clear message."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from datasets.models import Export
from datasets.selectors import DatasetFilters
from datasets.services.exports import MAX_ATTEMPTS, export_build, export_request, exports_sweep
from tests.money_helpers import funded_factory
from tests.pools.dataset_support import jsonl, settled

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FORGE_GRADER = "manual"


@pytest.fixture
def export(creator, django_capture_on_commit_callbacks):
    factory = funded_factory(creator)
    settled(factory, capture=django_capture_on_commit_callbacks)
    return export_request(factory=factory, actor=creator, filters=DatasetFilters())  # not sent: no commit


def test_a_redelivered_task_leaves_a_running_export_alone(export):
    Export.objects.filter(pk=export.pk).update(status=Export.Status.RUNNING, attempts=1, heartbeat_at=timezone.now())

    result = export_build(export_id=export.pk)

    assert (result.status, result.attempts, result.file.name) == (Export.Status.RUNNING, 1, "")


def test_a_finished_export_is_not_built_again(export):
    first = export_build(export_id=export.pk)

    again = export_build(export_id=export.pk)

    assert (again.status, again.file.name, again.attempts) == (Export.Status.READY, first.file.name, 1)


def test_the_sweeper_resends_an_export_whose_message_was_lost(export, settings):
    later = timezone.now() + timedelta(seconds=settings.FORGE_EXPORT_STALE_SECONDS + 1)

    assert exports_sweep(now=timezone.now())["sent"] == 0  # just queued: its message is on the way
    report = exports_sweep(now=later)  # tasks are eager here: the resent task builds it

    assert report["sent"] == 1
    export.refresh_from_db()
    assert export.status == Export.Status.READY and export.count == 1


def test_the_sweeper_takes_back_an_export_whose_worker_died(export, settings):
    stale = timezone.now() - timedelta(seconds=settings.FORGE_EXPORT_STALE_SECONDS + 1)
    Export.objects.filter(pk=export.pk).update(status=Export.Status.RUNNING, attempts=1, heartbeat_at=stale)

    report = exports_sweep()

    assert report["requeued"] == 1
    export.refresh_from_db()
    assert (export.status, export.attempts) == (Export.Status.READY, 2)
    with export.file.open("rb") as stored:
        assert len(jsonl(stored.read())) == 1


def test_a_running_export_with_a_fresh_heartbeat_is_left_alone(export):
    Export.objects.filter(pk=export.pk).update(status=Export.Status.RUNNING, attempts=1, heartbeat_at=timezone.now())

    assert exports_sweep() == {"failed": 0, "requeued": 0, "sent": 0}


def test_the_sweeper_gives_up_after_the_last_attempt(export, settings):
    stale = timezone.now() - timedelta(seconds=settings.FORGE_EXPORT_STALE_SECONDS + 1)
    Export.objects.filter(pk=export.pk).update(status=Export.Status.RUNNING, attempts=MAX_ATTEMPTS, heartbeat_at=stale)

    exports_sweep()

    export.refresh_from_db()
    assert export.status == Export.Status.FAILED
    assert f"stopped {MAX_ATTEMPTS} times" in export.error


def test_a_run_that_lost_its_export_stops_and_stores_nothing(export, settings, monkeypatch):
    """The sweeper gave the export to a new attempt while this run was still writing: this run
    notices at its next progress write and leaves the export to the new attempt."""
    settings.FORGE_EXPORT_PROGRESS_EVERY = 1
    from datasets.services import exports

    original = exports.export_line

    def line_then_taken_over(*args, **kwargs):
        Export.objects.filter(pk=export.pk).update(attempts=5)  # another attempt owns it now
        return original(*args, **kwargs)

    monkeypatch.setattr(exports, "export_line", line_then_taken_over)

    result = export_build(export_id=export.pk)

    assert result.status == Export.Status.RUNNING and result.attempts == 5 and result.file.name == ""
