"""A factory's tasks (pools.models.FactoryTask): a factory with several tasks is claimed task
by task, each with its own instructions, checks, expected time, reward and caps
(claim_create freezes the task's terms on the claim)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Max

from core.db import atomic_with_retry
from core.exceptions import Conflict
from core.money import parse_amount

from ..locks import factory_lock
from ..models import Factory, FactoryTask
from .factories import _clean_fields, _require_owner

TASK_FIELDS = ("expected_minutes", "success_checks", "per_farmer_limit", "per_farmer_daily_limit")


@atomic_with_retry
def factory_task_add(*, factory: Factory, actor, title: str, instructions: str, reward, **fields) -> FactoryTask:
    """Add a task at the end of the factory's list. Every field's problem in one answer."""
    _require_owner(factory, actor)
    unknown = set(fields) - set(TASK_FIELDS)
    if unknown:
        raise TypeError(f"unexpected fields: {sorted(unknown)}")
    factory = factory_lock(factory.pk)
    if factory.status == Factory.Status.CLOSED:
        raise Conflict("A closed factory takes no new tasks.")
    errors: dict[str, list[str]] = {}
    units = values = None
    try:
        units = parse_amount(reward, decimals=factory.token.decimals, field="reward")
    except ValidationError as error:
        errors.update(error.message_dict)
    try:
        values = _clean_fields({"title": title, "instructions": instructions, **fields})
    except ValidationError as error:
        errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    values = {key: value for key, value in values.items() if value is not None or key in TASK_FIELDS}
    values.setdefault("expected_minutes", factory.expected_minutes)
    if values.get("expected_minutes") is None:
        values["expected_minutes"] = factory.expected_minutes
    last = FactoryTask.objects.filter(factory=factory).aggregate(last=Max("position"))["last"] or 0
    return FactoryTask.objects.create(factory=factory, position=last + 1, reward=units, **values)


@atomic_with_retry
def factory_task_remove(*, task: FactoryTask, actor) -> None:
    """Remove a task nobody has claimed yet (a claimed task is part of the record)."""
    _require_owner(task.factory, actor)
    factory_lock(task.factory_id)
    if task.claims.exists():
        raise Conflict("This task has claims: it stays (pause or close the factory instead).")
    task.delete()
