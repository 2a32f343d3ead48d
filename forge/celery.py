"""The Celery application. Tasks live in each app's tasks.py and are found by autodiscovery."""

import os

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun

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
