"""Sending Celery tasks from services: by name, after commit, never failing the caller.

A service never imports a task (tasks import services; the reverse is a cycle). It names the
task instead, as Zulip's `queue_event_on_commit` does:

    queue_on_commit("pools.submission_settle", submission.pk)

The message leaves only once the current transaction commits (immediately outside one), so a
worker never looks for a row that is not there yet, and a rolled-back request sends nothing.

The caller has already recorded the work durably (a status column, an outbox row): that is the
intent, the message only a nudge. So a broker that is down or slow must not turn an accepted
request into an error: the failure is logged and the app's sweeper sends the task again later.

`wake_up_on_commit` (and `wake_up`, for a task that sends itself again) is the one coalesced
variant: for a task that drains everything waiting (the batch processor, the reputation
refresh), one message per window serves every request of that window. The task clears the
mark (`wake_up_clear`) once it has drained the queue, then looks once more, so nothing
committed meanwhile waits for the sweeper. While there is still more to do it passes the baton
instead (`wake_up_pass`): it sends itself again and keeps the mark, so requests arriving
meanwhile start no second chain of runs beside it. (Clearing the mark after every run let each
run under a steady stream add a chain: runs multiplied, each taking a handful of rows and
paying a batch's fixed cost for them.)
"""

from __future__ import annotations

import logging
import math

from celery import current_app
from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)


def _task(name: str):
    """The registered task called `name`. The web process imports task modules lazily (the
    worker imports them on start), so they are imported on first use."""
    app = current_app
    task = app.tasks.get(name)
    if task is None:
        app.loader.import_default_modules()
        task = app.tasks.get(name)
    if task is None:
        raise LookupError(f"no Celery task is registered as {name!r}")
    return task


def queue_now(task_name: str, *args, **kwargs) -> bool:
    """Send the task now; True if the broker took it. A broker error is logged, not raised."""
    try:
        # Through the task object, not `send_task`: it honours CELERY_TASK_ALWAYS_EAGER (the
        # zero-setup default runs tasks in-process) and the task's own options.
        _task(task_name).delay(*args, **kwargs)
    except LookupError:
        raise  # a misspelt task name is a bug, not an outage
    except Exception:
        logger.exception("could not enqueue %s%r; its sweeper will send it again", task_name, args)
        return False
    return True


def queue_on_commit(task_name: str, *args, **kwargs) -> None:
    """Send the task called `task_name` with these arguments once the transaction commits."""
    transaction.on_commit(lambda: queue_now(task_name, *args, **kwargs))


def wake_up(task_name: str, *, key: str, window_seconds: int) -> None:
    """Make sure the draining task `task_name` runs: at most one message per `window_seconds`
    (marked by the cache `key`). If the broker refuses, the mark is cleared so the next caller
    tries again. Sends now: from a service, use `wake_up_on_commit`. An unreachable cache
    (Redis down) must not fail the request that committed: the message is then sent without
    coalescing."""
    try:
        if not cache.add(key, 1, timeout=window_seconds):
            return  # a wake-up sent in this window will see the committed rows
    except Exception:
        logger.warning("the cache is unreachable; sending %s without coalescing", task_name)
    if not queue_now(task_name):
        wake_up_clear(key)


def wake_up_on_commit(task_name: str, *, key: str, window_seconds: int) -> None:
    """`wake_up` once the current transaction commits."""
    transaction.on_commit(lambda: wake_up(task_name, key=key, window_seconds=window_seconds))


def wake_up_pass(task_name: str, *, key: str, window_seconds: int) -> None:
    """From the draining task `task_name` itself, with more left to drain: send it again and
    renew the mark for another `window_seconds`, so the requests of that window (whose rows the
    next run drains) send nothing. If the broker refuses, the mark is cleared so the next
    request wakes a run; with the cache unreachable the message is sent all the same."""
    try:
        cache.set(key, 1, timeout=window_seconds)
    except Exception:
        logger.warning("the cache is unreachable; passing %s on without its mark", task_name)
    if not queue_now(task_name):
        wake_up_clear(key)


def wake_up_hold(key: str, *, seconds: float) -> None:
    """From the draining task, about to wait for more rows within the same run: keep the mark
    for `seconds`, so the requests of that time send nothing (the run will take their rows)."""
    try:
        cache.set(key, 1, timeout=math.ceil(seconds))
    except Exception:
        logger.warning("the cache is unreachable; the wake-up mark %s may lapse", key)


def wake_up_clear(key: str) -> None:
    """Called by the draining task when the queue is empty: the next request sends a message.
    With the cache unreachable the mark expires by itself (`window_seconds`)."""
    try:
        cache.delete(key)
    except Exception:
        logger.warning("the cache is unreachable; the wake-up mark %s expires by itself", key)
