"""Request ids and structured logs (docs/operations.md, "Logs and request ids").

Every request gets an id (the client's `X-Request-ID` when it is a plain token of at most 64
characters, else a new one), answered in the `X-Request-ID` header and added to every log
record written while it runs. A task sent during the request carries it in its message
headers (`forge_request_id`), and the worker's log records carry it while the task runs, so
`grep <id>` follows a submission from the API to the worker that scored and paid it.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

REQUEST_ID_HEADER = "forge_request_id"
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("forge_request_id", default="")
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def current_request_id() -> str:
    return _request_id.get()


def request_id_set(value: str | None) -> contextvars.Token:
    return _request_id.set(value or "")


def request_id_reset(token: contextvars.Token) -> None:
    _request_id.reset(token)


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """First in the stack: the id is set before anything logs, and cleared after."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = given if _VALID.match(given) else new_request_id()
        request.request_id = request_id
        token = request_id_set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_reset(token)
        response["X-Request-ID"] = request_id
        return response


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record (empty outside a request or task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = current_request_id()
        return True


# ---- Celery: the id travels in the task message's headers ----------------------------------


def task_headers_add(headers: dict | None = None, **_kwargs) -> None:
    """`before_task_publish`: put the current request id in the message headers."""
    request_id = current_request_id()
    if request_id and headers is not None and not headers.get(REQUEST_ID_HEADER):
        headers[REQUEST_ID_HEADER] = request_id


_task_tokens: dict[str, contextvars.Token] = {}


def task_started(task_id: str | None = None, task=None, **_kwargs) -> None:
    """`task_prerun`: the task's log records carry the id of the request that sent it (or,
    for beat's tasks, `task-<task id>`)."""
    request = getattr(task, "request", None)
    request_id = (
        (getattr(request, REQUEST_ID_HEADER, None) or (getattr(request, "headers", None) or {}).get(REQUEST_ID_HEADER))
        or (current_request_id() if getattr(request, "is_eager", False) else "")
        or f"task-{task_id}"
    )
    _task_tokens[task_id] = request_id_set(request_id)


def task_finished(task_id: str | None = None, **_kwargs) -> None:
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        try:
            request_id_reset(token)
        except ValueError:  # set in another context (a thread pool): clear instead
            request_id_set("")


def logging_config(*, json_logs: bool, level: str) -> dict:
    """settings.LOGGING: JSON lines (python-json-logger) or plain text, each with request_id."""
    formatter = (
        {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(process)d",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
        if json_logs
        else {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "core.observability.RequestIdFilter"}},
        "formatters": {"main": formatter},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "main", "filters": ["request_id"]}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.db.backends": {"level": "WARNING"}},
    }


def sentry_configure(*, dsn: str, environment: str, release: str = "", traces_sample_rate: float = 0.0) -> bool:
    """Error reporting through Sentry when a DSN is set (docs/operations.md): Django, Celery and
    logging integrations, personal data left out (the SDK's default). Returns whether it was configured."""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or None,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        traces_sample_rate=traces_sample_rate,
    )
    return True
