"""The referral link `/r/<code>`: remember the code for the signup that follows."""

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse

from .middleware import SESSION_KEY
from .selectors import ambassador_by_code


def _signup_url() -> str:
    try:
        return reverse("accounts:signup")
    except NoReverseMatch:
        return "/"


def referral_link(request, code: str):
    ambassador = ambassador_by_code(code)
    if ambassador is None:
        messages.error(request, f'The referral code "{code[:32]}" does not exist; you can still sign up without one.')
    else:
        request.session[SESSION_KEY] = ambassador.code
        messages.info(request, f"You were invited with referral code {ambassador.code}.")
    return redirect(_signup_url())
