"""Services for the token table: staff add a token and change its name, chain or whether it is
enabled, each recorded in the staff audit trail in the same transaction. (Apart from
services.py, which posts transactions, because nothing here touches a balance.)

A token's symbol and decimals are fixed once it exists: every stored amount is a count of its
base units, so changing the decimals would change what every balance means.
"""

from __future__ import annotations

from django.db import transaction

from audit.models import StaffAction
from audit.services import staff_action_record
from core.exceptions import Forbidden

from .models import Token

TOKEN_FIELDS = ("symbol", "name", "decimals", "chain", "enabled")


def _token_state(token: Token) -> dict:
    return {name: getattr(token, name) for name in TOKEN_FIELDS}


def _staff_only(actor) -> None:
    if not getattr(actor, "is_staff", False):
        raise Forbidden("Only staff can change tokens.")


@transaction.atomic
def token_create(*, actor, symbol: str, name: str, decimals: int, chain: str, enabled: bool = True) -> Token:
    """A new token (validated as the model and its constraints require: a unique symbol, at
    most 18 decimals, a known chain)."""
    _staff_only(actor)
    token = Token(symbol=(symbol or "").strip(), name=name, decimals=decimals, chain=chain, enabled=enabled)
    token.full_clean()
    token.save()
    staff_action_record(
        actor=actor, action=StaffAction.Action.TOKEN_CREATE, obj=token, before={}, after=_token_state(token)
    )
    return token


@transaction.atomic
def token_update(*, token: Token, actor, name: str, chain: str, enabled: bool) -> Token:
    """Change what may change (name, chain, enabled); a save that changes nothing records nothing."""
    _staff_only(actor)
    token = Token.objects.select_for_update().get(pk=token.pk)
    before = _token_state(token)
    token.name, token.chain, token.enabled = name, chain, enabled
    token.full_clean()
    after = _token_state(token)
    if after == before:
        return token
    token.save(update_fields=["name", "chain", "enabled"])
    staff_action_record(actor=actor, action=StaffAction.Action.TOKEN_UPDATE, obj=token, before=before, after=after)
    return token
