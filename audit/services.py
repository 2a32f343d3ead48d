"""Recording staff actions (audit.models.StaffAction).

Services call `staff_action_record` right after they change something on a staff member's
behalf, inside their own `transaction.atomic`: the record commits or rolls back with the change.
"""

from __future__ import annotations

from django.db import models, transaction

from .models import StaffAction


def staff_action_record(
    *, actor, action: str, obj: models.Model, before: dict, after: dict, reason: str = ""
) -> StaffAction:
    """Who (`actor`) did what (`action`) to which object, with the relevant fields before and
    after. Must run inside the transaction that makes the change."""
    if actor is None or not getattr(actor, "pk", None):
        raise ValueError("a staff action needs the acting user")
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("record a staff action inside the transaction that makes the change")
    return StaffAction.objects.create(
        actor=actor,
        action=str(action),
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        before=before,
        after=after,
        reason=(reason or "")[:2000],
    )


def staff_actions_for(obj: models.Model):
    """The trail of one object, newest first."""
    return StaffAction.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk))
