"""The Celery application. Tasks live in each app's tasks.py and are found by autodiscovery."""

import gc
import os

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun, worker_process_init, worker_ready

from core.observability import task_finished, task_headers_add, task_started

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "forge.settings.local")
# One worker process is one core; throughput comes from more processes (docs/performance.md,
# benchmark 5). OpenBLAS, loaded with numpy by the evidence app, would start a thread per core
# at import; nothing here uses BLAS, so one (this module is imported before numpy is).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

app = Celery("forge")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The request id travels with each task (core/observability.py, docs/operations.md).
before_task_publish.connect(task_headers_add, weak=False)
task_prerun.connect(task_started, weak=False)
task_postrun.connect(task_finished, weak=False)


def _freeze_what_lives(**kwargs) -> None:
    """Move every object alive now (modules, settings, compiled statements: what the process
    keeps for its lifetime) out of the garbage collector's reach: a full collection walked
    them all, about 200,000 objects, and collections took 100 ms of a 600 ms settlement batch
    (docs/performance.md, benchmark 1). Objects made later are collected as before."""
    gc.collect()
    gc.freeze()


def _freeze_after_first_task(task=None, **kwargs) -> None:
    """Once more after a worker's first task: what that task imported or cached for good
    (lazy imports, the grader's caches) lives as long as the process too. Not for a task run
    in-process (eager: `make run` with no broker, the tests): that process is no worker."""
    if task is not None and task.request.is_eager:
        return
    task_postrun.disconnect(_freeze_after_first_task)
    _freeze_what_lives()


worker_ready.connect(_freeze_what_lives, weak=False)  # the worker's own process (solo pool)
worker_process_init.connect(_freeze_what_lives, weak=False)  # each child of a prefork pool
task_postrun.connect(_freeze_after_first_task, weak=False)
