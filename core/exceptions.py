"""Application errors and the one DRF exception handler that maps them to the API contract.

Services raise `ApplicationError` subclasses (or Django's `ValidationError`); pages show the
same message through Django messages / form errors; the API maps them here:

- `ValidationError` / `ApplicationError` -> 400 `{"field": [...]}` or `{"detail": ...}`
- `PermissionDenied`                     -> 403
- `NotFound`                             -> 404
- `Conflict` (state conflicts)           -> 409
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler


class ApplicationError(Exception):
    """A refused business operation. `status` is the HTTP status the API answers with."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra or {}

    def as_data(self) -> dict:
        if self.field:
            return {self.field: [self.message]}
        return {"detail": self.message, **self.extra}


class Conflict(ApplicationError):
    """The request is valid but the current state forbids it (full pool, settled twice...)."""

    status = 409


class Forbidden(ApplicationError):
    """The caller may not do this (wrong role, reputation below a factory's minimum...)."""

    status = 403


class NotFound(ApplicationError):
    status = 404


def api_exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": "The request body is too large."}, status=400)
    if isinstance(exc, SuspiciousOperation):
        return Response({"detail": "The request was refused as malformed."}, status=400)
    if isinstance(exc, DjangoValidationError):
        exc = drf_exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    if isinstance(exc, ApplicationError):
        return Response(exc.as_data(), status=exc.status)

    response = exception_handler(exc, context)
    if response is not None and isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
        response.status_code = 401
    return response
