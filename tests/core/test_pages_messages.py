"""One failed action, one flash message: a service error whose parts have no field on the form
is shown as a single message (its parts joined, each once), never a stack of flashes."""

from __future__ import annotations

import pytest
from django import forms
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.cache import SessionStore
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from core.exceptions import Conflict
from core.pages import show_service_error


class AmountForm(forms.Form):
    amount = forms.CharField()


def _request():
    request = RequestFactory().post("/")
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    return request


@pytest.mark.parametrize(
    "error",
    [
        ValidationError({"user": ["Balance too low.", "Balance too low."], "address": ["Not your wallet."]}),
        ValidationError(["Balance too low.", "Not your wallet."]),
    ],
)
def test_several_parts_of_one_error_are_one_message(error):
    request = _request()
    form = AmountForm(data={"amount": "1"})
    form.is_valid()

    show_service_error(request, error, form)

    shown = [str(message) for message in get_messages(request)]
    assert len(shown) == 1
    assert "Balance too low." in shown[0] and "Not your wallet." in shown[0]
    assert shown[0].count("Balance too low.") == 1


def test_field_errors_stay_next_to_their_fields_and_make_no_message():
    request = _request()
    form = AmountForm(data={"amount": "1"})
    form.is_valid()

    show_service_error(request, ValidationError({"amount": ["Too many decimals."]}), form)

    assert list(get_messages(request)) == []
    assert form.errors["amount"] == ["Too many decimals."]


def test_two_events_are_two_messages():
    request = _request()
    show_service_error(request, Conflict("The pool is empty."))
    show_service_error(request, Conflict("The factory is paused."))
    assert [str(message) for message in get_messages(request)] == ["The pool is empty.", "The factory is paused."]
