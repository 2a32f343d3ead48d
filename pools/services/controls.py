"""A creator's controls over who works for them: the allow and block lists
(pools.models.FarmerListEntry). The rules they feed (who sees and claims what) live in
pools.selectors (`factories_admitting`, `farmer_refusal`) and are enforced in claim_create."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from core.exceptions import Forbidden, NotFound

from ..models import FarmerListEntry

NOTE_MAX = 200


def _require_creator(user) -> None:
    if getattr(user, "role", None) != "creator":
        raise Forbidden("Only factory creators keep allow and block lists.")


@transaction.atomic
def farmer_list_set(*, creator, username: str, kind: str, note: str = "") -> FarmerListEntry:
    """Put the farmer `username` on the creator's allow or block list (moving them from the
    other list if there). Blocking does not touch claims already made: an open claim may still
    be submitted and is paid by the usual rules; new claims are refused."""
    _require_creator(creator)
    errors = {}
    for name, text in (("username", username), ("note", note)):
        if "\x00" in (text or ""):  # PostgreSQL cannot store it: a 400, never a 500
            errors[name] = ["Null characters are not allowed."]
    if errors:
        raise ValidationError(errors)
    if kind not in FarmerListEntry.Kind.values:
        errors["kind"] = ['Choose "allow" or "block".']
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        errors["note"] = [f"At most {NOTE_MAX} characters."]
    username = (username or "").strip()
    farmer = get_user_model().objects.filter(username__iexact=username, role="farmer").first() if username else None
    if farmer is None:
        errors["username"] = [f"No farmer named “{username}”." if username else "Give the farmer's username."]
    if errors:
        raise ValidationError(errors)
    entry, _ = FarmerListEntry.objects.update_or_create(
        creator=creator, farmer=farmer, defaults={"kind": kind, "note": note}
    )
    return entry


@transaction.atomic
def farmer_list_remove(*, creator, entry_id: int) -> None:
    """Take an entry off the creator's lists; someone else's entry is indistinguishable from none."""
    _require_creator(creator)
    deleted, _ = FarmerListEntry.objects.filter(pk=entry_id, creator=creator).delete()
    if not deleted:
        raise NotFound("No such list entry.")
