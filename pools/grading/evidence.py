"""The evidence rule: a grade combined with what the screen recording shows (issue 17).

Pure Python, no database. The evidence app (above pools) examines a recording and hands its
evidence section over as plain values (`pools.services.evidence.submission_evidence_record`);
this module is the one place that says what the section does to a grade, so that the batch
processor, `submission_score` and `grade_archive` (the support command) agree:

**A claim the pixels do not support counts for nothing.** The demonstration is graded with its
unsupported claims removed (`claims_without_support`: the final state when the last frames
contradict it or the task's success checks are not on them; the text of typing never seen on
screen), and a demonstration with any unsupported claim is not paid, whatever that grade: its
score becomes 0 (the grade it would have had is kept in the breakdown, `evidence_rule`).
Evidence that looks forged (a still video, a video much shorter or longer than the events,
clicks and typing that change nothing, frames reused from another recording) or missing (no
readable video) holds the demonstration for staff review, with one reason per failed check,
each naming the check. Otherwise the grade stands.

The section's shape is `evidence/checks.py`'s (`verdict`, `hold`, `unsupported_claims`,
`reasons`, `checks`: each `{name, result, reason, keyframe, ...}`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from decimal import Decimal

from . import grade
from .base import GradeResult, TaskContext

ZERO = Decimal("0.0000")
FAILED = "fail"
NOT_PAID_UNSUPPORTED = "Not paid: a claim the recording does not support counts for nothing"
HOLD_NO_EVIDENCE = "Evidence: the recording could not be examined; nothing on screen supports the demonstration."


@dataclass(frozen=True)
class EvidenceOutcome:
    """A grade after the evidence rule: the score to store, its breakdown (with `evidence` and
    `evidence_rule`), the reasons to show and the holds to apply."""

    score: Decimal
    breakdown: dict
    reasons: list[str]
    holds: list[str] = field(default_factory=list)


def claims_without_support(demonstration: dict, evidence: dict) -> dict:
    """A copy of `demonstration` without the claims the evidence found unsupported: the final
    state (when `final_state` or `success_checks` failed) and the text of typing never seen."""
    graded = copy.deepcopy(demonstration)
    unsupported = set(evidence.get("unsupported_claims", ()))
    if unsupported & {"final_state", "success_checks"}:
        graded.pop("final_state", None)
    unseen_steps = set()
    for check in evidence.get("checks", ()):
        if check.get("name") == "typed_text":
            unseen_steps = {
                item["step"] for item in (check.get("details") or {}).get("items", ()) if item.get("seen") == "no"
            }
    steps = graded.get("steps") or []
    for index in unseen_steps:
        if isinstance(index, int) and 0 <= index < len(steps):
            steps[index].pop("text", None)
    return graded


def evidence_holds(evidence: dict) -> list[str]:
    """The review holds the section asks for, one per failed suspicious check, each naming it
    (`Evidence check video_changes: ...`); the no-video reason when there is no video."""
    if not evidence.get("hold"):
        return []
    holds = [
        f"Evidence check {check['name']}: {check['reason']}"
        for check in evidence.get("checks", ())
        if check.get("result") == FAILED and check.get("name") in set(evidence.get("hold_checks", ()))
    ]
    if holds:
        return holds
    reasons = [str(reason) for reason in evidence.get("reasons", ()) if reason]
    return [f"Evidence: {reason}" for reason in reasons] or [HOLD_NO_EVIDENCE]


def evidence_apply(result: GradeResult, evidence: dict) -> EvidenceOutcome:
    """`result` (the grade of `claims_without_support(demonstration, evidence)`) under the rule."""
    unsupported = sorted(evidence.get("unsupported_claims", ()))
    reasons = list(result.reasons)
    reasons += [
        f"Evidence check {check['name']}: {check['reason']}"
        for check in evidence.get("checks", ())
        if check.get("result") == FAILED
    ]
    score = result.score
    if unsupported:
        score = ZERO
        reasons.append(f"{NOT_PAID_UNSUPPORTED} ({', '.join(unsupported)}).")
    rule = {
        "verdict": evidence.get("verdict", ""),
        "score_before_evidence": str(result.score),
        "unsupported_claims": unsupported,
        "hold": bool(evidence.get("hold")),
    }
    breakdown = {**result.breakdown, "evidence": evidence, "evidence_rule": rule}
    return EvidenceOutcome(score=score, breakdown=breakdown, reasons=reasons, holds=evidence_holds(evidence))


def grade_with_evidence(
    demonstration: dict, evidence: dict, *, task: TaskContext
) -> tuple[GradeResult, EvidenceOutcome]:
    """Grade `demonstration` without its unsupported claims, then apply the rule."""
    result = grade(claims_without_support(demonstration, evidence), task=task)
    return result, evidence_apply(result, evidence)


MAX_SHOWN_KEYFRAMES = 3
RESULT_LABELS = {"pass": "Passed", "fail": "Failed", "skipped": "Not checked"}


def evidence_rows(evidence: dict | None) -> list[dict]:
    """The evidence checks as rows for the submission pages (farmer and creator): the check's
    name, result, reason and the keyframes it used (`keyframes`: up to MAX_SHOWN_KEYFRAMES
    `{index, t}`, the index for the thumbnail URL, t its time in the video as text; `keyframe`:
    the first one's index or None)."""
    rows = []
    for check in (evidence or {}).get("checks") or ():
        if not isinstance(check, dict) or "name" not in check:
            continue
        keyframe = check.get("keyframe") if isinstance(check.get("keyframe"), dict) else None
        used = [ref for ref in check.get("keyframes") or () if isinstance(ref, dict) and "index" in ref]
        used = used or ([keyframe] if keyframe and "index" in keyframe else [])
        rows.append(
            {
                "name": str(check["name"]).replace("_", " ").capitalize(),
                "result": str(check.get("result", "")),
                "label": RESULT_LABELS.get(str(check.get("result", "")), str(check.get("result", ""))),
                "reason": str(check.get("reason", "")),
                "keyframe": keyframe.get("index") if keyframe else None,
                "t": str(keyframe.get("t", "")) if keyframe else "",
                "keyframes": [
                    {"index": ref["index"], "t": str(ref.get("t", ""))} for ref in used[:MAX_SHOWN_KEYFRAMES]
                ],
            }
        )
    return rows
