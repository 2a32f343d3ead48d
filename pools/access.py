"""Who may reach which pools object: one access helper per object, used by the API and the
pages alike, so the same refusal gives the same answer (Zulip's `access_message`).

The rule, from the API contract (its "Errors" convention): **404** for what does not exist
or is not visible to the caller, **403** for someone else's object the caller acts on.

- `access_factory(need="view")`: staff, the creator, a farmer while it is open to them or
  they worked on it; anyone else 404.
- `access_factory(need="owner")`, to act on it (fund, rate, edit, pause, resume, close):
  staff and the creator; anyone else 403 (404 when it does not exist).
- `access_factory(need="dataset")`, its demonstrations, exports and attachments: staff and the
  creator; anyone else 404 (the data is not visible to them: no hint it exists).
- `access_factory(need="claim")`: any factory that exists; `claim_create` then refuses what
  cannot be claimed (409 draft, paused, closed, full or unfunded; 403 reputation), so a
  paused factory answers 409, not 404, on the API and the claim page alike.
- `access_submission`: staff, the grading service, its farmer, its factory's creator; else 404.
- `access_claim`: staff, its farmer; else 404.
- exports are the datasets app's: `datasets.access.access_export` (staff, the factory's
  creator; else 404), beside `access_factory(need="dataset")` for the dataset itself.

Pages get the same answers: `core.middleware` turns a `NotFound` into the 404 page and a
`Forbidden` into the 403 page (tests/security/test_access_helpers.py).
"""

from __future__ import annotations

from typing import Literal

from core.exceptions import Forbidden, NotFound

from .locks import factory_lock
from .models import Claim, Factory, Submission
from .selectors import factory_queryset, factory_visible_to, submission_queryset

Need = Literal["view", "owner", "dataset", "claim"]
NEEDS = ("view", "owner", "dataset", "claim")


def _is_staff(user) -> bool:
    return bool(getattr(user, "is_staff", False))


def access_factory(user, factory_id: int, *, need: Need = "view", for_update: bool = False) -> Factory:
    """The factory `user` may reach for `need` (see the module docstring), or NotFound /
    Forbidden. `for_update`: locked (pools.locks), inside the caller's transaction."""
    if need not in NEEDS:
        raise ValueError(f"need is one of {NEEDS}, not {need!r}")
    factory = factory_queryset().filter(pk=factory_id).first()
    if factory is None:
        raise NotFound("No such factory.")
    mine = _is_staff(user) or factory.creator_id == user.pk
    if need == "owner" and not mine:
        raise Forbidden("Only the factory's creator can do this.")
    if need == "dataset" and not mine:
        raise NotFound("No such factory.")
    if need == "view" and not factory_visible_to(user, factory):
        raise NotFound("No such factory.")
    if for_update:
        factory = factory_lock(factory.pk, related=("token", "available_account", "reserved_account", "creator"))
    return factory


def access_submission(user, submission_id: int) -> Submission:
    """A submission its farmer, its factory's creator, staff or the grading service may see."""
    submission = submission_queryset().filter(pk=submission_id).first()
    if submission is None or not (
        _is_staff(user)
        or getattr(user, "role", None) == "grader"
        or user.pk in (submission.farmer_id, submission.factory.creator_id)
    ):
        raise NotFound("No such submission.")
    return submission


def access_claim(user, claim_id: int) -> Claim:
    """A claim its farmer (or staff) may see; anyone else's is indistinguishable from none."""
    claim = Claim.objects.select_related("factory__token").filter(pk=claim_id).first()
    if claim is None or not (_is_staff(user) or claim.farmer_id == user.pk):
        raise NotFound("No such claim.")
    return claim
