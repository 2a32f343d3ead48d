"""Service accounts have no pages.

The grading service's account (role "grader") exists to read submissions and post reviews
through the API. Signed in through the login page it could otherwise browse the farmer pages
(which are open to any signed-in user): every page answers 403 instead, except logging out.
The API decides for itself (core.api.GraderOnlyWhereAllowed).
"""

from django.core.exceptions import PermissionDenied
from django.urls import reverse

OPEN_PREFIXES = ("/api/", "/static/", "/healthz")


class ServiceAccountPagesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and getattr(user, "role", None) == "grader"
            and not request.path.startswith(OPEN_PREFIXES)
            and request.path != reverse("accounts:logout")
        ):
            raise PermissionDenied("The grading service's account has no pages.")
        return self.get_response(request)


class ServiceErrorPagesMiddleware:
    """What a page view lets escape answers as the API would, never a 500:

    - `NotFound` / `Forbidden` from an access helper (pools.access) -> the 404 / 403 page, the
      same refusal the API gives for the same case;
    - `core.db.TransactionBusy` (every retry lost a deadlock), or a deadlock outside any
      retry -> 503 with `Retry-After`: nothing was written and the request can be sent again.
      The API (DRF re-raises what its handler does not map) answers `{"detail": ...}`.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        from django.http import Http404, JsonResponse
        from django.shortcuts import render

        from core.db import RETRY_AFTER_SECONDS, TransactionBusy, is_transient
        from core.exceptions import Forbidden, NotFound

        if isinstance(exception, NotFound):
            raise Http404(exception.message)
        if isinstance(exception, Forbidden):
            raise PermissionDenied(exception.message)
        if not isinstance(exception, TransactionBusy) and not is_transient(exception):
            return None
        message = TransactionBusy.message
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": message}, status=503)
        else:
            response = render(request, "errors/503.html", {"message": message}, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
