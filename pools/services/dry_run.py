"""A dry run: score a demonstration against a factory's terms before submitting it. Writes
nothing (no row, no file, no cache entry beyond the caller's rate-limit counter).

The terms are those the real grade would use: the farmer's open claim's frozen terms (with its
claim window) when they hold one, else the factory's current terms (`claim_terms`, as a claim
would freeze them now). The grade is always the built-in rubric's (`pools.grading.rules`),
whatever FORGE_GRADER says: a dry run must be cheap and must not spend an outside grader's
budget on probes; the real grade may differ when FORGE_GRADER is `http` or `judge`. The answer
withholds the anti-cheat signals (`pools.grading.preview`), and duplicates are not looked
for (nothing is compared with stored work).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from core.exceptions import Forbidden

from ..demonstrations import demonstration_validate
from ..grading import TaskContext
from ..grading import rules as rules_grader
from ..grading.checks import checks_from_json
from ..grading.preview import DryRunAnswer, dry_run_answer
from ..models import Claim, Factory
from ..selectors import economics_config
from .claims import claim_terms, task_of


@dataclass(frozen=True)
class DryRun:
    answer: DryRunAnswer
    threshold: Decimal
    against: str  # "claim": the open claim's frozen terms; "factory": its current terms

    @property
    def would_pass_threshold(self) -> bool:
        return self.answer.estimated_score >= self.threshold


def demonstration_dry_run(*, factory: Factory, farmer, demonstration, task_id: int | None = None) -> DryRun:
    """Grade `demonstration` (validated as a submission would be: a bad one is the same
    ValidationError) against the terms it would be graded under: the open claim's, else the
    factory's or (on a factory with tasks) the chosen task's."""
    if getattr(farmer, "role", None) != "farmer":
        raise Forbidden("Only farmers can try a demonstration.")
    cleaned = demonstration_validate(demonstration)
    claim = (
        Claim.objects.filter(factory=factory, farmer=farmer, status=Claim.Status.OPEN)
        .only("pk", "terms", "created_at")
        .first()
    )
    frozen = claim.terms if claim is not None else None
    terms = frozen or claim_terms(factory, task_of(factory, task_id))
    window = {}
    if claim is not None and getattr(settings, "FORGE_GRADE_CLAIM_WINDOW", True):
        window = {"claimed_at": claim.created_at, "submitted_at": timezone.now()}
    task = TaskContext(
        title=terms["title"],
        instructions=terms["instructions"],
        expected_minutes=int(terms["expected_minutes"]),
        checks=checks_from_json(terms["checks"]) if terms.get("checks") else None,
        references=terms.get("references") or None,  # as the real grade (services/scoring.py)
        **window,
    )
    result = rules_grader.grade(cleaned, task=task)
    return DryRun(
        answer=dry_run_answer(result),
        threshold=economics_config().quality_threshold,
        against="claim" if claim is not None else "factory",
    )
