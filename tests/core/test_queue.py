"""core.queue: services send tasks by name, after commit, and a broker outage never fails them."""

import logging

import pytest
from django.core.cache import cache
from django.db import transaction

from core.queue import queue_on_commit, wake_up_clear, wake_up_on_commit
from pools.tasks import submission_settle_task, submissions_process_pending_task


@pytest.fixture
def sent(monkeypatch):
    calls = []
    monkeypatch.setattr(submission_settle_task, "delay", lambda *args, **kwargs: calls.append((args, kwargs)))
    return calls


def test_a_task_named_in_a_transaction_is_sent_only_after_commit(db, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        queue_on_commit("pools.submission_settle", 42)
        assert sent == []

    assert sent == [((42,), {})]


def test_a_rolled_back_transaction_sends_nothing(db, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        queue_on_commit("pools.submission_settle", 42)
        raise RuntimeError("rolled back")

    assert sent == []


def test_a_broker_error_is_logged_not_raised(db, monkeypatch, caplog, django_capture_on_commit_callbacks):
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(submission_settle_task, "delay", broker_down)
    with caplog.at_level(logging.ERROR, logger="core.queue"), django_capture_on_commit_callbacks(execute=True):
        queue_on_commit("pools.submission_settle", 7)

    assert "could not enqueue pools.submission_settle(7,)" in caplog.text


def test_a_misspelt_task_name_is_an_error_not_an_outage(db, django_capture_on_commit_callbacks):
    with pytest.raises(LookupError), django_capture_on_commit_callbacks(execute=True):
        queue_on_commit("pools.no_such_task")


def test_wake_ups_in_one_window_send_one_message_until_cleared(db, monkeypatch, django_capture_on_commit_callbacks):
    calls = []
    monkeypatch.setattr(submissions_process_pending_task, "delay", lambda *args, **kwargs: calls.append(args))
    key = "test:wake-up"
    cache.delete(key)

    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            wake_up_on_commit("pools.submissions_process_pending", key=key, window_seconds=60)
    assert len(calls) == 1

    wake_up_clear(key)  # the task drained the queue
    with django_capture_on_commit_callbacks(execute=True):
        wake_up_on_commit("pools.submissions_process_pending", key=key, window_seconds=60)
    assert len(calls) == 2


def test_no_task_acknowledged_late_can_outlive_the_brokers_visibility_timeout(settings):
    """A message not acknowledged within the visibility timeout is delivered again: a task that
    acknowledges late and may run longer than that (its hard time limit) would run twice at once
    (the evidence examination's limit is 900 s; the timeout was 600 s)."""
    from forge.celery import app

    app.loader.import_default_modules()  # every app's tasks.py, as a worker imports them
    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    late = {
        name: task
        for name, task in app.tasks.items()
        if getattr(task, "acks_late", False) and not name.startswith("celery.")  # Celery's own: not ours
    }
    assert "evidence.recording_examine" in late and "pools.submission_settle" in late
    too_long = {
        name: task.time_limit for name, task in late.items() if not task.time_limit or task.time_limit >= timeout
    }
    assert too_long == {}, f"acks_late tasks whose time limit is not below the visibility timeout ({timeout} s)"
