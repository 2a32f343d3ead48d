"""A worker process moves what it keeps for its lifetime out of the garbage collector's reach
(forge/celery.py): full collections walked ~200,000 long-lived objects and took 100 ms of a
600 ms settlement batch (docs/performance.md, benchmark 1)."""

from __future__ import annotations

import gc

import pytest
from celery.signals import task_postrun, worker_process_init, worker_ready

from forge import celery as worker_module
from pools.tasks import submissions_process_pending_task


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


def _receivers(signal) -> list:
    return [receiver for _, receiver in signal.receivers]  # connected with weak=False: the functions


def test_the_worker_and_each_pool_child_freeze_their_live_objects_when_ready():
    assert worker_module._freeze_what_lives in _receivers(worker_ready)
    assert worker_module._freeze_what_lives in _receivers(worker_process_init)


def test_freezing_moves_the_live_objects_to_the_permanent_generation(unfrozen):
    kept = [object() for _ in range(10)]
    assert gc.get_freeze_count() == 0

    worker_module._freeze_what_lives()

    assert gc.get_freeze_count() >= len(kept)
    assert len(gc.get_objects()) < gc.get_freeze_count()  # what collections still walk


def test_a_worker_freezes_once_more_after_its_first_task_only(unfrozen, monkeypatch):
    frozen = []
    monkeypatch.setattr(worker_module, "_freeze_what_lives", lambda: frozen.append(1))
    task_postrun.connect(worker_module._freeze_after_first_task, weak=False)

    class Request:
        is_eager = True

    class Task:
        request = Request()

    worker_module._freeze_after_first_task(task=Task())  # in-process: no worker
    assert frozen == []

    Request.is_eager = False
    worker_module._freeze_after_first_task(task=Task())
    assert frozen == [1]
    assert worker_module._freeze_after_first_task not in _receivers(task_postrun)


def test_a_task_run_in_process_freezes_nothing(unfrozen, db, settings):
    settings.FORGE_GRADER = "rules"
    submissions_process_pending_task.apply()
    assert gc.get_freeze_count() == 0
