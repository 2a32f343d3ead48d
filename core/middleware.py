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
