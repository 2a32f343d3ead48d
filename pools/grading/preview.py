"""A dry run's answer, cut from a rules grade: what a farmer may see before submitting.

The dry run (pools/services/dry_run.py) grades with the built-in rubric (`rules.grade`) and
answers with this, which **withholds the anti-cheat signals**: the integrity features
(`gate.flags`: robotic timing, impossible speed, echoed instructions, ...), the confidence
and its reasons, and the "suspiciously fast" efficiency note. The estimated score is the
rubric's work score with the success-check gate only (a failed required check or a near-miss
value, which the farmer is told about), never the integrity gate: probing the dry run cannot
tell a farmer which trick the agent sees through. Pure: no database, no cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .base import GradeResult, quantize_score
from .rules import FAILED_GATE_FACTOR, work_score

PARTS = ("outcome", "process", "efficiency")
# An efficiency reason that names the speed heuristic is an integrity signal: withheld.
WITHHELD_MARKERS = ("suspicious",)


@dataclass(frozen=True)
class DryRunAnswer:
    estimated_score: Decimal  # before the integrity checks, which the dry run does not show
    parts: dict[str, Decimal]  # outcome, process, efficiency sub-scores
    checks: list[dict] = field(default_factory=list)  # {check, required, passed, near_miss}
    reasons: list[str] = field(default_factory=list)


def dry_run_answer(result: GradeResult) -> DryRunAnswer:
    breakdown = result.breakdown
    parts = {name: Decimal(breakdown[name]["score"]) for name in PARTS}
    gate = breakdown.get("gate", {})
    integrity = set((gate.get("flags") or {}).values())
    check_gate = (
        [reason for reason in gate.get("reasons", []) if reason not in integrity] if gate.get("score") != "1" else []
    )
    factor = FAILED_GATE_FACTOR if check_gate else Decimal(1)
    reasons = list(check_gate)
    for name in PARTS:
        reasons += [
            reason
            for reason in breakdown[name].get("reasons", [])
            if not any(marker in reason.lower() for marker in WITHHELD_MARKERS)
        ]
    checks = [
        {
            "check": check["check"],
            "required": check["required"],
            "passed": check["passed"],
            "near_miss": check.get("near_miss"),
        }
        for check in breakdown["outcome"].get("checks", [])
    ]
    return DryRunAnswer(
        estimated_score=quantize_score(factor * work_score(parts)), parts=parts, checks=checks, reasons=reasons
    )
