"""Helpers shared by the server-rendered pages: role checks, a user's home page, and showing
service errors the way the pages promise (field errors next to fields, the rest as
messages). Views stay thin: parse a form, call one service, show what happened."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import NoReverseMatch, reverse

from core.exceptions import ApplicationError


def role_required(*roles: str) -> Callable:
    """Anonymous visitors go to the login page; signed-in users of another role get the 403
    page (Django's handler403). `roles` are User.Role values ("creator", "farmer")."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if request.user.role not in roles:
                raise PermissionDenied(f"This page is for {' or '.join(roles)} accounts.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def reverse_or_none(name: str, *args) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def home_url_for(user) -> str:
    """Where a signed-in user starts: creators on their dashboard, farmers browsing factories."""
    if user.is_authenticated:
        if user.role == "creator":
            return reverse("pools:dashboard")
        if user.role == "farmer":
            return reverse_or_none("farmers:browse") or reverse("accounts:account")
        if user.is_staff:
            return reverse("admin:index")
        return reverse("accounts:account")
    return reverse("home")


def show_service_error(request, error: Exception, form=None, *, field_map: dict[str, str] | None = None) -> None:
    """Show an error raised by a service. A `ValidationError` with field errors goes next to
    the form's fields (`field_map` renames service fields to form fields); anything without a
    field on the form, and every `ApplicationError`, becomes an error message: **one** message
    for the one failed action, its parts joined (never one flash per part, stacked up)."""
    field_map = field_map or {}
    if isinstance(error, ApplicationError):
        field = field_map.get(error.field, error.field) if error.field else None
        if form is not None and field in form.fields:
            form.add_error(field, error.message)
        else:
            messages.error(request, error.message)
        return
    if not isinstance(error, ValidationError):
        raise TypeError(f"not a service error: {error!r}")
    leftovers: list[str] = []
    if hasattr(error, "error_dict"):
        for name, errors in error.message_dict.items():
            field = field_map.get(name, name)
            if form is not None and field in form.fields:
                form.add_error(field, errors)
            else:
                leftovers.extend(errors)
    else:
        leftovers.extend(error.messages)
    if leftovers:
        messages.error(request, " ".join(dict.fromkeys(leftovers)))  # in order, each once
