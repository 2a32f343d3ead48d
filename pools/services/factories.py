"""Creating and running factories: details, reward rate, pause/resume, close."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import F
from django.utils import timezone

from audit.models import StaffAction
from audit.services import staff_action_record
from core.db import atomic_with_retry
from core.exceptions import Conflict, Forbidden
from core.money import format_amount, parse_amount
from ledger.models import Account, Token
from ledger.services import Leg, account_get, transaction_post

from ..demonstrations import demonstration_validate
from ..grading.checks import ChecksInvalid, checks_from_json, checks_to_json
from ..grading.references import MAX_REFERENCES
from ..locks import factory_lock
from ..models import FACTORY_TERM_BOUNDS, Factory, RateChange
from ..selectors import economics_config

EDITABLE_FIELDS = (
    "title",
    "description",
    "instructions",
    "category",
    "tags",
    "target_count",
    "expected_minutes",
    "claim_timeout_minutes",
    "per_farmer_limit",
    "min_reputation",
    "success_checks",
    "requires_recording",
    "reference_demonstrations",
)


TERM_MESSAGES = {
    "target_count": "Target count must be between {low:,} and {high:,} (or empty for open).",
    "expected_minutes": "Must be between {low:,} and {high:,} minutes.",
    "claim_timeout_minutes": "Must be between {low:,} and {high:,} minutes.",
    "per_farmer_limit": "Must be between {low:,} and {high:,}, or empty for no limit.",
}


def token_get_enabled(symbol: str, *, field: str = "token") -> Token:
    token = Token.objects.filter(symbol=str(symbol).strip().upper()).first()
    if token is None or not token.enabled:
        raise ValidationError({field: [f'Unknown or disabled token "{symbol}".']})
    return token


def _require_creator(user) -> None:
    if user.role != "creator" and not user.is_staff:
        raise Forbidden("Only factory creators can do this.")


def _require_owner(factory: Factory, user) -> None:
    if factory.creator_id != user.pk and not user.is_staff:
        raise Forbidden("Only the factory's creator can do this.")


def _record_if_staff(factory: Factory, actor, *, action: str, before: dict, after: dict) -> None:
    """Staff may run another creator's factory (pause it, fix a typo, close it): the creator
    did not do it, so the staff audit trail says who did, with the fields before and after.
    A creator acting on their own factory is not a staff action, whatever their flags."""
    if factory.creator_id != actor.pk and before != after:
        staff_action_record(actor=actor, action=action, obj=factory, before=before, after=after)


def _clean_fields(values: dict) -> dict:
    values = dict(values)
    errors = {}
    if "title" in values and not str(values["title"] or "").strip():
        errors["title"] = ["A title is required."]
    if "instructions" in values and not str(values["instructions"] or "").strip():
        errors["instructions"] = ["Instructions for farmers are required."]
    for name, (low, high) in FACTORY_TERM_BOUNDS.items():
        value = values.get(name)
        # Checked here, not only by the forms and serializers, so that no caller can send an
        # integer past the column (a 500 from PostgreSQL) or a claim that lasts for years.
        if value is not None and not low <= int(value) <= high:
            errors[name] = [TERM_MESSAGES[name].format(low=low, high=high)]
    if values.get("success_checks") is not None:
        # Stored in the canonical form; an error names the bad check and field.
        try:
            values["success_checks"] = checks_to_json(checks_from_json(values["success_checks"]))
        except ChecksInvalid as error:
            errors["success_checks"] = [f"{error.field}: {error.message}"]
    if "reference_demonstrations" in values:
        try:
            values["reference_demonstrations"] = references_clean(values["reference_demonstrations"])
        except ValidationError as error:
            errors["reference_demonstrations"] = error.messages
    reputation = values.get("min_reputation")
    if reputation is not None and not Decimal(0) <= Decimal(reputation) <= Decimal(100):
        errors["min_reputation"] = ["Minimum reputation must be between 0 and 100."]
    if errors:
        raise ValidationError(errors)
    return values


def references_clean(references) -> list[dict]:
    """Reference demonstrations as stored: a list of at most MAX_REFERENCES validated
    demonstrations (null or empty: none). An error names the reference and its field."""
    if references in (None, "", []):
        return []
    if not isinstance(references, list):
        raise ValidationError("A list of demonstrations (JSON objects), or empty for none.")
    if len(references) > MAX_REFERENCES:
        raise ValidationError(f"At most {MAX_REFERENCES} reference demonstrations.")
    cleaned = []
    for index, reference in enumerate(references):
        try:
            cleaned.append(demonstration_validate(reference))
        except ValidationError as error:
            path, problems = next(iter(error.message_dict.items()))
            where = f"[{index}]" if path == "demonstration" else f"[{index}].{path}"
            raise ValidationError(f"Reference {where}: {problems[0]}") from None
    return cleaned


@atomic_with_retry
def factory_create(*, creator, title: str, instructions: str, token: str, reward, **fields) -> Factory:
    """A new factory in `draft`; it turns `active` when its first deposit is confirmed."""
    _require_creator(creator)
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"unexpected fields: {sorted(unknown)}")
    # Every field's problem in one answer (a form or API client fixes them all at once).
    errors: dict[str, list[str]] = {}
    token_obj = reward_units = values = None
    try:
        token_obj = token_get_enabled(token)
        reward_units = parse_amount(reward, decimals=token_obj.decimals, field="reward")
    except ValidationError as error:
        errors.update(error.message_dict)
    try:
        values = _clean_fields({"title": title, "instructions": instructions, **fields})
    except ValidationError as error:
        errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    values.setdefault("claim_timeout_minutes", economics_config().default_claim_timeout_minutes)
    values = {
        key: value for key, value in values.items() if value is not None or key in ("target_count", "per_farmer_limit")
    }

    factory = Factory(creator=creator, token=token_obj, reward=reward_units, **values)
    # The pool's accounts are created with the factory (a placeholder holder until the
    # factory has its id, then renamed to "pool:<id>").
    placeholder = f"pool:new:{uuid.uuid4().hex}"
    factory.available_account = Account.objects.create(
        kind=Account.Kind.POOL_AVAILABLE, holder=placeholder, token=token_obj
    )
    factory.reserved_account = Account.objects.create(
        kind=Account.Kind.POOL_RESERVED, holder=placeholder, token=token_obj
    )
    factory.save()
    Account.objects.filter(pk__in=[factory.available_account_id, factory.reserved_account_id]).update(
        holder=factory.ledger_holder
    )
    factory.available_account.holder = factory.reserved_account.holder = factory.ledger_holder
    RateChange.objects.create(
        factory=factory, old_reward=None, new_reward=reward_units, changed_by=creator, created_at=factory.created_at
    )
    return factory


@atomic_with_retry
def factory_update(*, factory: Factory, actor, **fields) -> Factory:
    _require_owner(factory, actor)
    if factory.status == Factory.Status.CLOSED:
        raise Conflict("A closed factory cannot be edited.")
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"unexpected fields: {sorted(unknown)}")
    fields = _clean_fields(fields)
    changed = [name for name, value in fields.items() if getattr(factory, name) != value]
    before = {name: getattr(factory, name) for name in changed}
    for name, value in fields.items():
        setattr(factory, name, value)
    factory.save(update_fields=list(fields))
    after = {name: fields[name] for name in changed}
    _record_if_staff(factory, actor, action=StaffAction.Action.FACTORY_UPDATE, before=before, after=after)
    return factory


@atomic_with_retry
def factory_rate_change(*, factory: Factory, reward, actor) -> Factory:
    """Set the reward for **new** claims; open claims keep the reward they reserved."""
    _require_owner(factory, actor)
    factory = factory_lock(factory.pk)
    if factory.status == Factory.Status.CLOSED:
        raise Conflict("A closed factory's rate cannot change.")
    new_reward = parse_amount(reward, decimals=factory.token.decimals, field="reward")
    if new_reward != factory.reward:
        before = {"reward": format_amount(factory.reward, decimals=factory.token.decimals)}
        RateChange.objects.create(factory=factory, old_reward=factory.reward, new_reward=new_reward, changed_by=actor)
        factory.reward = new_reward
        factory.save(update_fields=["reward"])
        _record_if_staff(
            factory,
            actor,
            action=StaffAction.Action.FACTORY_RATE_CHANGE,
            before=before,
            after={"reward": format_amount(new_reward, decimals=factory.token.decimals)},
        )
    return factory


def _set_status(factory: Factory, actor, *, allowed_from: set[str], to: str, verb: str, action: str) -> Factory:
    _require_owner(factory, actor)
    updated = Factory.objects.filter(pk=factory.pk, status__in=allowed_from).update(status=to)
    factory.refresh_from_db(fields=["status"])
    if not updated and factory.status != to:
        raise Conflict(f"A {factory.get_status_display().lower()} factory cannot be {verb}.")
    if updated:
        _record_if_staff(
            factory, actor, action=action, before={"status": sorted(allowed_from)[0]}, after={"status": to}
        )
    return factory


@atomic_with_retry
def factory_pause(*, factory: Factory, actor) -> Factory:
    return _set_status(
        factory,
        actor,
        allowed_from={Factory.Status.ACTIVE},
        to=Factory.Status.PAUSED,
        verb="paused",
        action=StaffAction.Action.FACTORY_PAUSE,
    )


@atomic_with_retry
def factory_resume(*, factory: Factory, actor) -> Factory:
    return _set_status(
        factory,
        actor,
        allowed_from={Factory.Status.PAUSED},
        to=Factory.Status.ACTIVE,
        verb="resumed",
        action=StaffAction.Action.FACTORY_RESUME,
    )


@atomic_with_retry
def factory_close(*, factory: Factory, actor) -> Factory:
    """Close for good: no new claims; what is available returns to the creator's balance now,
    and what in-flight claims still hold returns as each one expires or settles."""
    _require_owner(factory, actor)
    factory = factory_lock(factory.pk, related=())
    if factory.creator_id == actor.pk or factory.status == Factory.Status.CLOSED:
        return _close(factory)
    before = _pool_state(factory)
    factory = _close(factory)
    _record_if_staff(factory, actor, action=StaffAction.Action.FACTORY_CLOSE, before=before, after=_pool_state(factory))
    return factory


def _close(factory: Factory) -> Factory:
    """Close a locked factory and return its available pool to the creator."""
    if factory.status != Factory.Status.CLOSED:
        factory.status = Factory.Status.CLOSED
        factory.closed_at = timezone.now()
        factory.save(update_fields=["status", "closed_at"])
    pool_return_to_creator(factory=factory, reason="close")
    return factory


@atomic_with_retry
def factory_force_close(*, factory: Factory, actor, reason: str) -> Factory:
    """Staff close someone else's factory (abuse, a misleading task, a creator's request), as
    `factory_close` does for its owner: the available pool returns to the creator now, open
    claims may still submit. Recorded in the staff audit trail with the pool before and after."""
    if not getattr(actor, "is_staff", False):
        raise Forbidden("Only staff can force-close a factory.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Say why the factory is being closed."]})
    factory = factory_lock(factory.pk)
    if factory.status == Factory.Status.CLOSED:
        raise Conflict("This factory is already closed.")
    before = _pool_state(factory)
    factory = _close(factory)
    staff_action_record(
        actor=actor,
        action=StaffAction.Action.FACTORY_FORCE_CLOSE,
        obj=factory,
        before=before,
        after=_pool_state(factory),
        reason=reason,
    )
    return factory


def _pool_state(factory: Factory) -> dict:
    balances = dict(
        Account.objects.filter(pk__in=[factory.available_account_id, factory.reserved_account_id]).values_list(
            "pk", "balance"
        )
    )
    token = Token.objects.get(pk=factory.token_id)

    def money(units) -> str:
        return format_amount(units, decimals=token.decimals)

    return {
        "status": factory.status,
        "token": token.symbol,
        "available": money(balances[factory.available_account_id]),
        "reserved": money(balances[factory.reserved_account_id]),
        "returned_to_creator": money(factory.returned_to_creator),
        "in_flight_count": factory.in_flight_count,
    }


def pool_return_to_creator(*, factory: Factory, reason: str) -> None:
    """Move a closed pool's whole available balance to its creator (call with the factory
    row locked, inside a transaction). `reason` makes the idempotency key unique per cause."""
    if factory.status != Factory.Status.CLOSED:
        return
    available = Account.objects.get(pk=factory.available_account_id)
    # Read once: transaction_post updates `available.balance` in place (to 0) when it posts.
    amount = available.balance
    if amount == 0:
        return
    creator_balance = account_get(
        kind=Account.Kind.USER_BALANCE, holder=f"user:{factory.creator_id}", token=available.token
    )
    transaction_post(
        key=f"pool-return:{factory.pk}:{reason}",
        kind="pool_return",
        legs=[Leg(available, -amount), Leg(creator_balance, amount)],
        memo=f"Closed factory {factory.pk}: remaining pool returned to its creator",
    )
    Factory.objects.filter(pk=factory.pk).update(returned_to_creator=F("returned_to_creator") + amount)
    factory.returned_to_creator += amount
