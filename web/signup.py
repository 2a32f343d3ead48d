"""Signing up: one use case that spans three apps, so it lives above them.

A new user is an account (accounts), a farmer's profile (farmers) and, with a referral code,
an attribution to an ambassador (referrals). accounts sits below farmers and referrals and
imports neither; this module composes them in one transaction. The API (web.apis.RegisterApi),
the signup page (web.accounts.signup) and the demo seed call it.
"""

from __future__ import annotations

from django.db import transaction

from accounts.models import User
from accounts.services import user_register
from farmers.services import farmer_profile_create
from referrals.selectors import ambassador_by_code
from referrals.services import referral_attach


@transaction.atomic
def user_signup(*, username: str, password: str, role: str, referral_code: str | None = None, email: str = "") -> User:
    """Create a creator or farmer, attributed to the ambassador whose code they used."""
    errors = {}
    ambassador = None
    referral_code = (referral_code or "").strip()
    if referral_code:
        ambassador = ambassador_by_code(referral_code)
        if ambassador is None:
            errors["referral_code"] = [f'Unknown referral code "{referral_code[:32]}".']
    user = user_register(username=username, password=password, role=role, email=email, errors=errors)
    if role == User.Role.FARMER:
        farmer_profile_create(user=user)
    if ambassador is not None:
        referral_attach(user=user, ambassador=ambassador)
    return user
