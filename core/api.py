"""Shared bits for the DRF views: permissions by role, money fields, and the JSON parser."""

from __future__ import annotations

import logging

from django.conf import settings
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.throttling import ScopedRateThrottle

from core.money import format_amount

logger = logging.getLogger(__name__)


class FailOpenScopedRateThrottle(ScopedRateThrottle):
    """DRF's scoped throttle, letting the request through when the cache (Redis) cannot be
    reached, instead of failing it with a 500.

    Failing open is the choice for every scope we throttle (register, token, claims,
    submissions): a rate limit protects capacity, and a Redis outage must not stop farmers
    from working. Guessing passwords stays bounded while the cache is down: django-axes counts
    failed logins in PostgreSQL (docs/security.md, "Brute force and floods")."""

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception:  # redis-py's ConnectionError/TimeoutError, or any cache backend's
            logger.warning("throttle %r skipped: the cache is unreachable", self.scope, exc_info=True)
            return True


class IsCreator(BasePermission):
    message = "Only factory creators can do this."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.role == "creator")


class IsFarmer(BasePermission):
    message = "Only farmers can do this."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.role == "farmer")


class IsStaff(BasePermission):
    message = "Staff only."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


class IsStaffOrGrader(BasePermission):
    message = "Only staff or the grading service can do this."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and (user.is_staff or user.role == "grader"))


class GraderOnlyWhereAllowed(BasePermission):
    """The grading service's account (role "grader") may use only the views that say so with
    `allow_grader = True` (reading a submission, posting its review). A default permission
    (settings.REST_FRAMEWORK), so a new view is closed to the grader unless it opts in; views
    that set their own `permission_classes` list this class too, or refuse graders otherwise
    (IsCreator, IsFarmer, IsStaff do). tests/security/test_permission_matrix.py checks every
    endpoint."""

    message = "The grading service's credentials are limited to reviews."

    def has_permission(self, request, view):
        user = request.user
        if user and user.is_authenticated and getattr(user, "role", None) == "grader":
            return bool(getattr(view, "allow_grader", False))
        return True


def amount_str(units: int | None, token) -> str | None:
    """An exact decimal string in the token's decimals ("0.200000"), or None."""
    if units is None:
        return None
    return format_amount(units, decimals=token.decimals)


class AmountStringField(serializers.CharField):
    """Money in: a decimal string (validated and parsed by the service with the token's decimals).
    Numbers are refused so that no float ever carries money. Not trimmed: " 1 " is outside the
    amount grammar (core.money.AMOUNT_GRAMMAR) and the parser says so."""

    default_error_messages = {"invalid": 'Send amounts as a decimal string, e.g. "0.2".'}

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def json_depth_exceeds(value, limit: int) -> bool:
    """Whether lists/objects in `value` nest deeper than `limit` (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, refusing (400) JSON nested deeper than FORGE_JSON_MAX_DEPTH.

    Python's json module recurses once per level: ten thousand nested lists raise
    RecursionError (a 500 with the stock parser), and a document just under the interpreter's
    limit would fail later, wherever the value is walked or serialized again."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.FORGE_JSON_MAX_DEPTH
        message = f"JSON nested deeper than {limit} levels is refused."
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(message) from None
        if json_depth_exceeds(data, limit):
            raise ParseError(message)
        return data
