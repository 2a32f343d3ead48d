"""The built-in Data Quality Agent: a deterministic, documented rubric (FORGE_GRADER=rules).

It pays for work that was done, read from what the recording shows, not from the words it uses.
docs/quality-agent.md explains every number with a worked example. In order:

1. **checks** (`checks.py`): the task's success checks (the factory's, or proposed from the
   instructions) are evaluated against the final state, the typed text, the step targets and
   urls. A **required check that fails fails the outcome**.
2. **integrity**: named anti-gaming features, each computed from the recording alone (or the
   server's claim window): `instructions_echoed`, `keyword_stuffing`, `robotic_timing`,
   `impossible_speed`, `time_out_of_order`, `wrong_app`, `outside_claim_window`,
   `only_waiting`, `fabricated_state`. Any one of them fails the demonstration.
3. **work** = outcome x (0.5 + 0.3 process + 0.2 efficiency), each sub-score in [0, 1]:
   - outcome (a factor: tidy work that reaches nothing earns nothing): share of checks passed
     (required count double); with only optional checks or none, steps about the task count
     too; plus a final state being present;
   - process: share of actions about the task (they name a task keyword or check value) and
     the absence of noise (idle gaps, waits, runs of identical actions);
   - efficiency: duration judged against the task. Slow is judged against the factory's
     expected time; fast against the smaller of that and the time a person needs for the
     actions recorded (a one-click task done in one click in 3 s is not "too fast").
4. **gate**: a failed required check, a near-miss value or an integrity flag multiplies the
   work by `FAILED_GATE_FACTOR` (0.2), so it lands under any quality threshold above 0.2 and
   nothing is paid; the breakdown names what failed.

score = gate x work, rounded down to 4 places (never over-pay). Confidence falls when evidence is
missing (no check to verify, no final state, fewer actions than the task needs, steps that never
touch the task); a confidence under FORGE_REVIEW_BELOW_CONFIDENCE holds the grade for review.

Internal arithmetic is float in a fixed order, so the same input gives the same output in every
process: nothing is summed in set-iteration order and every listed keyword is sorted.
"""

from __future__ import annotations

import itertools
import re
import statistics
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from . import checks as checks_module
from . import references as references_module
from .base import GRADER_RULES, GradeResult, TaskContext, format_decimal, quantize_score

RUBRIC_VERSION = 4
AGENT_NAME = "forge-rules"

# ---- work = outcome x (BASE + PROCESS_WEIGHT x process + EFFICIENCY_WEIGHT x efficiency) --------
# The outcome is a factor, not a term: tidy, quick work that reaches nothing earns nothing.
# How it was done can take off up to half of what the outcome earned.
WORK_BASE = Decimal("0.5")
PROCESS_WEIGHT = Decimal("0.3")
EFFICIENCY_WEIGHT = Decimal("0.2")
assert WORK_BASE + PROCESS_WEIGHT + EFFICIENCY_WEIGHT == 1
OUTCOME_WEIGHT = Decimal("1")  # the outcome multiplies the rest
# A failed required check or an integrity flag: the work score is multiplied by this.
FAILED_GATE_FACTOR = Decimal("0.2")
GATE_WEIGHT_LABEL = "×"  # the gate multiplies the work: shown in the breakdown's weight column

# ---- outcome: parts (sum to 1) ---------------------------------------------------------------
OUTCOME_FINAL_STATE_PRESENT = 0.15  # a non-blank final_state
OUTCOME_EVIDENCE = 0.85  # checks passed, or (without checks) keywords shown
# Without (required) checks: steps about the task are worth this much evidence; the rest is
# the share of the task's keywords the steps or the final state show.
NO_CHECKS_RELEVANT_EVIDENCE = 0.6
REQUIRED_CHECK_WEIGHT = 2.0
OPTIONAL_CHECK_WEIGHT = 1.0
# Coverage when the task has no keywords and no checks: unknowable, neither reward nor punish.
NEUTRAL_COVERAGE = 0.5

# ---- process: relevance half + cleanliness half ---------------------------------------------------
PROCESS_RELEVANCE_SHARE = 0.5
# Navigating between cells, pressing Tab/Enter, etc. rarely name task words, so half of the
# actions mentioning the task is already a fully focused demonstration.
RELEVANT_SHARE_FOR_FULL_MARKS = 0.5
# A gap between events longer than this is idle time (its excess over the threshold counts).
IDLE_GAP_MIN_SECONDS = 30.0
IDLE_GAP_EXPECTED_FRACTION = 0.05
IDLE_PENALTY_WEIGHT = 0.4
IDLE_SHARE_FOR_FULL_PENALTY = 0.5
WAIT_PENALTY_WEIGHT = 0.3
WAIT_SHARE_FOR_FULL_PENALTY = 0.5
REPEAT_PENALTY_WEIGHT = 0.3
REPEAT_SHARE_FOR_FULL_PENALTY = 0.3
# A double-click or "Tab, Tab" is normal: only identical actions beyond the 2nd in a row count.
REPEAT_FREE_RUN_LENGTH = 2
REPEAT_EXEMPT_ACTIONS = frozenset({"scroll", "wait"})

# ---- efficiency -------------------------------------------------------------------------------------
SUSPICIOUS_RATIO = 0.1  # faster than this share of the reference time is suspicious
SUSPICIOUS_SCORE = 0.2
BEST_RATIO_LOW = 0.3
BEST_RATIO_HIGH = 1.5
SLOW_RATIO = 4.0  # from BEST_RATIO_HIGH to here the score eases from 1 down to SLOW_SCORE
SLOW_SCORE = 0.2  # beyond SLOW_RATIO: SLOW_SCORE * SLOW_RATIO / ratio
# Seconds a person typically needs per action: what "fast" is judged against.
TYPICAL_SECONDS = {"click": 2.0, "key": 0.6, "navigate": 3.0, "scroll": 1.0, "type": 1.0, "wait": 0.0}
TYPICAL_SECONDS_PER_CHARACTER = 0.2
# And the least a person can possibly need (impossible_speed when the recording is faster).
MIN_HUMAN_SECONDS = {"click": 0.05, "key": 0.02, "navigate": 0.1, "scroll": 0.0, "type": 0.05, "wait": 0.0}
MIN_HUMAN_SECONDS_PER_CHARACTER = 0.02  # 50 characters a second
# Identical gaps between many actions, faster than a person reads: a script, not a person.
ROBOTIC_MIN_INTERVALS = 8
ROBOTIC_MAX_SPREAD = 0.01  # (max gap - min gap) / mean gap
ROBOTIC_MAX_INTERVAL_SECONDS = 2.0
REGULAR_TIMING_CONFIDENCE = 0.85  # identical but slow gaps: odd, not proof

# ---- integrity ---------------------------------------------------------------------------------------
ECHO_SHINGLE_WORDS = 4
ECHO_MIN_SHARE = 0.6  # most of the instructions' 4-word runs reproduced (a summary restates values, not prose)
ECHO_MIN_SHINGLES = 3
STUFFING_MIN_WORDS = 3  # typed words that are not check values
STUFFING_MIN_SHARE = 0.8  # ... and this share of them are the task's own keywords
STUFFING_MIN_DISTINCT = 4  # ... at least this many different ones
STUFFING_MIN_VOCABULARY_SHARE = 0.5  # ... and at least half of the task's keywords
ONLY_WAITING_ACTIONS = frozenset({"wait", "scroll"})
CLAIM_WINDOW_TOLERANCE_SECONDS = 120  # recorder and server clocks disagree a little
STEP_TIME_TOLERANCE_SECONDS = 1.0  # a step stamped this far past ended_at is still fine
SPEED_TOLERANCE_SECONDS = 0.2  # recorder rounding when comparing with the least human time

# App kinds: a task that names one must be recorded in it (no per-task lists, only kinds).
APP_KINDS = {
    "spreadsheet": ("spreadsheet", "sheets", "excel", "calc", "xlsx", "csv"),
    "document": ("document", "docs", "word", "writer", "docx"),
    "presentation": ("presentation", "slides", "powerpoint", "impress", "keynote"),
    "calendar": ("calendar",),
    "email": ("email", "gmail", "outlook", "inbox", "mail"),
    "terminal": ("terminal", "shell", "bash", "console"),
}

# Kinds of thing a task asks to act on, named by a common noun rather than a value ("click on a
# black digit", "how many ... are there?", "focus into the textbox"): an action whose target is
# of that kind is about the task even though it repeats no word of it. Kind -> (the words in
# the instructions that ask for it, stemmed; the words in a target that make it one). A quoted
# label that is a number is a number, one letter a letter.
TARGET_KINDS = {
    "number": (frozenset({"digit", "number", "count"}), frozenset()),
    "letter": (frozenset({"letter", "character"}), frozenset()),
    "shape": (
        frozenset({"shape"}),
        frozenset({"circle", "rectangle", "square", "triangle", "ellipse", "polygon", "shape", "star"}),
    ),
    "text_field": (
        frozenset({"textbox", "textfield", "field", "input"}),
        frozenset({"textbox", "textfield", "textarea", "input"}),
    ),
}
# Named keys that enter or change a value (besides characters, pastes and arrows).
ENTRY_KEY_NAMES = frozenset({"backspace", "delete", "space", "spacebar", "up", "down", "left", "right"})
# A question about a quantity is answered with a number.
_QUANTITY_QUESTION_RE = re.compile(r"\bhow (?:many|much)\b", re.IGNORECASE)
_NUMBER_LABEL_RE = re.compile(r"^-?\d+(?:[.,]\d+)?$")

# ---- reference demonstrations (references.py) ---------------------------------------------------
# With references, this share of the outcome is the alignment (milestones of the closest
# reference reached in order): another route to the same result loses at most this much.
REFERENCE_WEIGHT = 0.2
REFERENCE_LOW_ALIGNMENT = 0.25  # under this share of milestones: confidence falls
REFERENCE_LOW_CONFIDENCE = 0.7

# ---- confidence: a product of factors in (0, 1] --------------------------------------------------
FEW_ACTIONS_CONFIDENCE_FLOOR = 0.4  # factor for no action at all
NO_CHECKS_CONFIDENCE = 0.8
NO_KEYWORDS_CONFIDENCE = 0.6
NO_FINAL_STATE_CONFIDENCE = 0.85
SUSPICIOUS_SPEED_CONFIDENCE = 0.6
IRRELEVANT_STEPS_CONFIDENCE = 0.5
DISAGREEMENT_CONFIDENCE_PENALTY = 0.3

# ---- keywords ----------------------------------------------------------------------------------
_WORD_RE = re.compile(r"[a-z0-9]+")
MIN_KEYWORD_CHARS = 2
MAX_LISTED_KEYWORDS = 8
STEP_TEXT_FIELDS = ("target", "text", "url", "key")
_STOP_WORDS_TEXT = """
    a an and are as at be been but by can could do does done for from had has have he her his how
    i if in into is it its let me my no not now of off on once only onto or our out over own
    please she should so some such than that the their them then there these they this those to
    too up us very was we were what when where which while who why will with would you your
    add added adding all any click clicked create created creating each enter go make made named
    called new open opened set type typed use using via
    http https www com org net html htm php index
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())


def grade(demonstration: dict, *, task: TaskContext) -> GradeResult:
    """Grade a demonstration that passed `demonstration_validate` against its factory's task."""
    keywords, task_checks, value_words, relevance_words, wanted_kinds, label_values = _task_terms(
        task.title, task.instructions, task.checks
    )
    expected_seconds = task.expected_minutes * 60.0
    steps = demonstration.get("steps") or []
    step_count = len(steps)
    duration = _duration_seconds(demonstration)
    idle_gap_seconds = max(IDLE_GAP_MIN_SECONDS, expected_seconds * IDLE_GAP_EXPECTED_FRACTION)

    # One pass over the steps collects everything the sub-scores and features need.
    covered_by_steps: set[str] = set()
    action_count = 0  # steps that are neither waits nor scrolls
    relevant_action_count = 0
    wait_count = 0
    repeat_count = 0
    idle_seconds = 0.0
    previous_t = 0.0
    previous_signature: tuple | None = None
    run_length = 0
    out_of_order = False
    typical_seconds = 0.0
    least_seconds = 0.0
    action_times: list[float] = []
    typed_words: list[str] = []
    entry_count = 0  # type actions and keys that enter or change text (not Enter, Tab, Ctrl+S)
    typed_entries: list[list[str]] = []  # [target, text] per field typed into, in order
    previous_was_typing = False
    for step in steps:
        action = step.get("action")
        t = step.get("t")
        if t.__class__ is not float and (t.__class__ is not int):  # bool, None, text: not a time
            t = 0.0
        if t < previous_t:
            out_of_order = True
        gap = t - previous_t
        if gap > idle_gap_seconds:
            idle_seconds += gap - idle_gap_seconds
        previous_t = max(previous_t, t)
        text = step.get("text") or ""
        typical_seconds += TYPICAL_SECONDS.get(action, 1.0) + (
            TYPICAL_SECONDS_PER_CHARACTER * len(text) if action == "type" else 0.0
        )
        least_seconds += MIN_HUMAN_SECONDS.get(action, 0.0) + (
            MIN_HUMAN_SECONDS_PER_CHARACTER * len(text) if action == "type" else 0.0
        )

        if action == "wait":
            wait_count += 1
        elif action != "scroll":
            action_count += 1
            action_times.append(t)
            relevant = False
            for field in STEP_TEXT_FIELDS:
                value = step.get(field)
                if value and relevance_words:
                    matched = _matched_keywords(value, relevance_words)
                    if matched:
                        relevant = True
                        covered_by_steps |= matched & keywords
            target = step.get("target")
            if target and not relevant and (wanted_kinds or label_values):
                labels = checks_module.target_labels(target)
                if labels & label_values:
                    relevant = True
                for kind in _target_kinds(target, labels):
                    if kind in wanted_kinds:
                        relevant = True
                        covered_by_steps |= wanted_kinds[kind]
            relevant_action_count += relevant
            if action == "type" or (action == "key" and _enters_text(step.get("key"))):
                entry_count += 1
            if action == "type" and text:
                typed_words.extend(_WORD_RE.findall(text.lower()))
                # One entry per field typed into: bursts into the same target join (evidence_of).
                target_text = step.get("target") or ""
                if typed_entries and typed_entries[-1][0] == target_text and previous_was_typing:
                    typed_entries[-1][1] += text
                else:
                    typed_entries.append([target_text, text])
            previous_was_typing = action == "type" or (action == "key" and previous_was_typing)

        if action in REPEAT_EXEMPT_ACTIONS:
            previous_signature = None
            run_length = 0
            continue
        signature = (action, step.get("target"), step.get("text"), step.get("url"), step.get("key"))
        if signature == previous_signature:
            run_length += 1
            if run_length > REPEAT_FREE_RUN_LENGTH:
                repeat_count += 1
        else:
            previous_signature = signature
            run_length = 1
    tail_gap = duration - previous_t
    if tail_gap > idle_gap_seconds:
        idle_seconds += tail_gap - idle_gap_seconds

    final_state = demonstration.get("final_state") or ""
    has_final_state = bool(final_state.strip())
    covered_by_final_state = _matched_keywords(final_state, keywords) if has_final_state else frozenset()

    evidence = checks_module.evidence_of(demonstration)
    check_results = checks_module.checks_evaluate(task_checks, evidence)
    # A typed value that fails while nothing at all was typed is not "maybe not visible": the
    # typing the task asks for was not done, so even an optional typed check fails the outcome.
    nothing_typed = entry_count == 0
    failed_required = [
        result
        for result in check_results
        if not result.passed
        and (result.check.required or result.near_miss or (nothing_typed and result.check.kind == checks_module.TYPED))
    ]

    # ---- integrity features --------------------------------------------------------------------
    flags: dict[str, str] = {}
    if action_count == 0:
        flags["only_waiting"] = "No action besides waiting or scrolling: nothing was done."
    echo = _echo_share(task.instructions, evidence)
    if echo:
        flags["instructions_echoed"] = f"The task's instructions are copied into the {echo}."
    stuffing = _stuffing(typed_words, keywords, value_words)
    if stuffing:
        flags["keyword_stuffing"] = stuffing
    if out_of_order:
        flags["time_out_of_order"] = "Step times go backwards: not a recording."
    robotic, regular = _robotic(action_times)
    if robotic:
        flags["robotic_timing"] = robotic
    if action_count and duration + SPEED_TOLERANCE_SECONDS < least_seconds:
        flags["impossible_speed"] = (
            f"{action_count} actions in {duration:.1f} s: faster than a person can act "
            f"({least_seconds:.1f} s at least)."
        )
    if previous_t > duration + STEP_TIME_TOLERANCE_SECONDS:
        flags["impossible_speed"] = "Steps are recorded after the recording ended."
    wrong_app = _wrong_app(task, demonstration, evidence)
    if wrong_app:
        flags["wrong_app"] = wrong_app
    window = _outside_claim_window(demonstration, task, duration)
    if window:
        flags["outside_claim_window"] = window
    fabricated = _fabricated(check_results, evidence, entry_count, relevant_action_count)
    if fabricated:
        flags["fabricated_state"] = fabricated
    wrong_field = _wrong_field(check_results, typed_entries)
    if wrong_field:
        flags["wrong_field"] = wrong_field

    # ---- sub-scores ------------------------------------------------------------------------------
    outcome_score, outcome_reasons, outcome_metrics = _outcome(
        keywords,
        check_results,
        evidence.labels,
        relevant_action_count / action_count if action_count else 0.0,
        has_final_state,
        covered_by_final_state,
        covered_by_steps,
    )
    reference = None
    if task.references:
        share, reached, total = references_module.alignment(task.references, evidence.step_texts)
        if total:
            reference = (share, reached, total)
            outcome_score = (1 - REFERENCE_WEIGHT) * outcome_score + REFERENCE_WEIGHT * share
    process_score, process_reasons, process_metrics = _process(
        relevance_words,
        action_count=action_count,
        relevant_action_count=relevant_action_count,
        step_count=step_count,
        wait_count=wait_count,
        repeat_count=repeat_count,
        idle_seconds=idle_seconds,
        idle_gap_seconds=idle_gap_seconds,
        duration=duration,
    )
    fast_reference = max(1.0, min(expected_seconds, typical_seconds))
    efficiency_score, efficiency_reasons, efficiency_metrics, suspicious = _efficiency(
        duration, expected_seconds, fast_reference, task.expected_minutes
    )

    sub_scores = {
        "outcome": quantize_score(outcome_score),
        "process": quantize_score(process_score),
        "efficiency": quantize_score(efficiency_score),
    }
    work = work_score(sub_scores)
    gate_reasons = [
        f"Wrong value for {result.check.label()}: {result.near_miss!r} was typed."
        if result.near_miss
        else f"Required check failed: {result.check.label()}."
        if result.check.required
        else f"Nothing was typed for {result.check.label()}."
        for result in failed_required
    ]
    gate_reasons += list(flags.values())
    gate_factor = FAILED_GATE_FACTOR if gate_reasons else Decimal(1)
    score = quantize_score(gate_factor * work)

    confidence, confidence_reasons = _confidence(
        action_count=action_count,
        needed_actions=max(1, len(check_results)),
        has_checks=bool(check_results),
        has_keywords=bool(keywords),
        has_final_state=has_final_state,
        suspicious=suspicious,
        irrelevant=bool(relevance_words) and action_count > 0 and relevant_action_count == 0,
        regular_timing=regular,
        sub_scores=[outcome_score, process_score, efficiency_score],
    )
    if reference is not None and reference[0] < REFERENCE_LOW_ALIGNMENT:
        confidence *= REFERENCE_LOW_CONFIDENCE
        confidence_reasons.append("Lower confidence: the steps follow little of the reference demonstrations.")

    # Every part has a score, a weight and reasons, so pages can show each as a row (the dataset
    # preview, the farmer's status); the gate multiplies, hence its weight label GATE_WEIGHT_LABEL.
    outcome_part = _part(sub_scores["outcome"], OUTCOME_WEIGHT, outcome_reasons, outcome_metrics)
    outcome_part["checks"] = [
        {
            "check": result.check.label(),
            "kind": result.check.kind,
            "required": result.check.required,
            "origin": result.check.origin,
            "passed": result.passed,
            "where": result.where,
            "near_miss": result.near_miss,
        }
        for result in check_results
    ]
    breakdown = {
        "outcome": outcome_part,
        **({"reference": _reference_part(*reference)} if reference is not None else {}),
        "process": _part(sub_scores["process"], PROCESS_WEIGHT, process_reasons, process_metrics),
        "efficiency": _part(sub_scores["efficiency"], EFFICIENCY_WEIGHT, efficiency_reasons, efficiency_metrics),
        "gate": {
            "score": str(gate_factor),
            "weight": GATE_WEIGHT_LABEL,
            "reasons": gate_reasons or ["No required check failed and no integrity feature fired."],
            "flags": dict(sorted(flags.items())),
            "echo": echo or "no",
            "agent": {"name": AGENT_NAME, "rubric_version": str(RUBRIC_VERSION), "grader": GRADER_RULES},
        },
    }
    reasons = [*gate_reasons, *outcome_reasons, *process_reasons, *efficiency_reasons, *confidence_reasons]
    return GradeResult(
        score=score,
        confidence=quantize_score(confidence),
        breakdown=breakdown,
        reasons=reasons,
        grader=GRADER_RULES,
        rubric_version=RUBRIC_VERSION,
    )


# ---- sub-scores -----------------------------------------------------------------------------------


def _outcome(
    keywords: frozenset[str],
    check_results,
    labels_acted_on: frozenset[str],
    relevant_share: float,
    has_final_state: bool,
    covered_by_final_state: frozenset[str],
    covered_by_steps: set[str],
) -> tuple[float, list[str], dict]:
    reasons: list[str] = []
    metrics: dict = {"final_state": "yes" if has_final_state else "no"}
    required_checks = [result for result in check_results if result.check.required]
    # Steps about the task, as a share of what a focused demonstration shows (1 = focused).
    relevant = min(1.0, relevant_share / RELEVANT_SHARE_FOR_FULL_MARKS)
    if check_results:
        total = passed = 0.0
        for result in check_results:
            weight = REQUIRED_CHECK_WEIGHT if result.check.required else OPTIONAL_CHECK_WEIGHT
            total += weight
            passed += weight * result.passed
        evidence = passed / total
        passed_count = sum(result.passed for result in check_results)
        reasons.append(f"{passed_count} of {len(check_results)} success checks passed.")
        for result in check_results:
            if not result.passed and not result.check.required:
                reasons.append(f"Optional check not met: {result.check.label()}.")
        contradicted = bool(labels_acted_on) and any(
            not result.passed
            and result.check.kind == checks_module.ACTED_ON
            and len(result.check.value) >= checks_module.MIN_REQUIRED_QUOTED_CHARS
            for result in check_results
        )
        if not required_checks and not contradicted:
            # Optional checks may simply not be visible in a recording: steps about the task
            # are evidence too, as for a task without checks. Not when the steps clicked
            # named controls and none was the one asked for (contradicted).
            evidence = max(evidence, NO_CHECKS_RELEVANT_EVIDENCE * relevant)
        metrics["checks_passed"] = f"{passed_count}/{len(check_results)}"
        metrics["check_share"] = format_decimal(passed / total)
    elif keywords:
        final_coverage = len(covered_by_final_state) / len(keywords)
        steps_coverage = len(covered_by_steps) / len(keywords)
        evidence = NO_CHECKS_RELEVANT_EVIDENCE * relevant + (1 - NO_CHECKS_RELEVANT_EVIDENCE) * max(
            steps_coverage, final_coverage
        )
        reasons.append("No success checks for this task: judged by the steps that are about it.")
        missing = sorted(keywords - covered_by_steps - covered_by_final_state)
        if missing:
            shown = ", ".join(missing[:MAX_LISTED_KEYWORDS])
            more = len(missing) - MAX_LISTED_KEYWORDS
            reasons.append(f"Never mentioned: {shown}" + (f" and {more} more." if more > 0 else "."))
        metrics["final_state_keyword_coverage"] = format_decimal(final_coverage)
        metrics["steps_keyword_coverage"] = format_decimal(steps_coverage)
    else:
        evidence = NEUTRAL_COVERAGE
        reasons.append("The task has no success checks and no keywords to check the recording against.")
    if not has_final_state:
        reasons.append("No final state: nothing shows that the task's goal was reached.")
    score = OUTCOME_FINAL_STATE_PRESENT * (1.0 if has_final_state else 0.0) + OUTCOME_EVIDENCE * evidence
    return score, reasons, metrics


def _reference_part(share: float, reached: int, total: int) -> dict:
    """The alignment to the closest reference demonstration (a share of the outcome)."""
    return _part(
        quantize_score(share),
        Decimal(str(REFERENCE_WEIGHT)),
        [f"Reached {reached} of the {total} milestones of the closest reference demonstration, in order."],
        {"milestones_reached": f"{reached}/{total}", "alignment": format_decimal(share)},
    )


def _process(
    relevance_words: frozenset[str],
    *,
    action_count: int,
    relevant_action_count: int,
    step_count: int,
    wait_count: int,
    repeat_count: int,
    idle_seconds: float,
    idle_gap_seconds: float,
    duration: float,
) -> tuple[float, list[str], dict]:
    reasons: list[str] = []
    if not relevance_words:
        relevant_share = NEUTRAL_COVERAGE
    elif action_count:
        relevant_share = relevant_action_count / action_count
    else:
        relevant_share = 0.0
    relevance = min(1.0, relevant_share / RELEVANT_SHARE_FOR_FULL_MARKS)
    if relevance_words:
        reasons.append(f"{relevant_action_count} of {action_count} actions relate to the task.")

    idle_share = idle_seconds / duration if duration > 0 else 0.0
    wait_share = wait_count / step_count if step_count else 0.0
    repeat_share = repeat_count / step_count if step_count else 0.0
    noise = (
        IDLE_PENALTY_WEIGHT * min(1.0, idle_share / IDLE_SHARE_FOR_FULL_PENALTY)
        + WAIT_PENALTY_WEIGHT * min(1.0, wait_share / WAIT_SHARE_FOR_FULL_PENALTY)
        + REPEAT_PENALTY_WEIGHT * min(1.0, repeat_share / REPEAT_SHARE_FOR_FULL_PENALTY)
    )
    if idle_seconds > 0:
        reasons.append(
            f"Idle for {_format_duration(idle_seconds)} in gaps longer than {idle_gap_seconds:g} s "
            f"({idle_share:.0%} of the time)."
        )
    if wait_count:
        reasons.append(f"{wait_count} of {step_count} steps are waits.")
    if repeat_count:
        reasons.append(f"{repeat_count} identical actions repeated more than {REPEAT_FREE_RUN_LENGTH} times in a row.")
    if not (idle_seconds or wait_count or repeat_count):
        reasons.append("Little noise: no long idle gaps, waits or repeated actions.")

    score = PROCESS_RELEVANCE_SHARE * relevance + (1 - PROCESS_RELEVANCE_SHARE) * (1 - noise)
    metrics = {
        "relevant_share": format_decimal(relevant_share),
        "idle_seconds": format_decimal(idle_seconds, 1),
        "idle_share": format_decimal(idle_share),
        "wait_share": format_decimal(wait_share),
        "repeat_share": format_decimal(repeat_share),
    }
    return score, reasons, metrics


def _efficiency(
    duration: float, expected_seconds: float, fast_reference: float, expected_minutes: int
) -> tuple[float, list[str], dict, bool]:
    """Slow is judged against the factory's expected time; fast against what the actions need."""
    slow_ratio = duration / expected_seconds
    fast_ratio = duration / fast_reference
    suspicious = fast_ratio < SUSPICIOUS_RATIO
    if slow_ratio > BEST_RATIO_HIGH:
        score = efficiency_curve(slow_ratio)
    else:
        score = efficiency_curve(min(fast_ratio, BEST_RATIO_HIGH))
    reasons = [
        f"Took {_format_duration(duration)} for a task expected to take {expected_minutes} min ({slow_ratio:.2f}x); "
        f"the recorded actions need about {_format_duration(fast_reference)}."
    ]
    if suspicious:
        reasons.append(f"Under {SUSPICIOUS_RATIO:.0%} of the time its actions need: suspiciously fast.")
    elif fast_ratio < BEST_RATIO_LOW:
        reasons.append("Much faster than its actions usually take.")
    elif slow_ratio > BEST_RATIO_HIGH:
        reasons.append("Slower than expected.")
    metrics = {
        "duration_seconds": format_decimal(duration, 1),
        "expected_seconds": str(expected_minutes * 60),
        "actions_need_seconds": format_decimal(fast_reference, 1),
        "ratio": format_decimal(slow_ratio),
        "fast_ratio": format_decimal(fast_ratio),
    }
    return score, reasons, metrics, suspicious


def work_score(sub_scores: dict[str, Decimal]) -> Decimal:
    """outcome x (0.5 + 0.3 process + 0.2 efficiency), from the 4-place sub-scores (exact)."""
    return sub_scores["outcome"] * (
        WORK_BASE + PROCESS_WEIGHT * sub_scores["process"] + EFFICIENCY_WEIGHT * sub_scores["efficiency"]
    )


def efficiency_curve(ratio: float) -> float:
    """Efficiency for duration/reference: continuous, smooth between the breakpoints, in [0, 1]."""
    if ratio < SUSPICIOUS_RATIO:
        return SUSPICIOUS_SCORE * max(0.0, ratio) / SUSPICIOUS_RATIO
    if ratio < BEST_RATIO_LOW:
        progress = (ratio - SUSPICIOUS_RATIO) / (BEST_RATIO_LOW - SUSPICIOUS_RATIO)
        return SUSPICIOUS_SCORE + (1 - SUSPICIOUS_SCORE) * _smoothstep(progress)
    if ratio <= BEST_RATIO_HIGH:
        return 1.0
    if ratio <= SLOW_RATIO:
        progress = (ratio - BEST_RATIO_HIGH) / (SLOW_RATIO - BEST_RATIO_HIGH)
        return 1.0 - (1 - SLOW_SCORE) * _smoothstep(progress)
    return SLOW_SCORE * SLOW_RATIO / ratio


def _confidence(
    *,
    action_count: int,
    needed_actions: int,
    has_checks: bool,
    has_keywords: bool,
    has_final_state: bool,
    suspicious: bool,
    irrelevant: bool,
    regular_timing: bool,
    sub_scores: list[float],
) -> tuple[float, list[str]]:
    reasons: list[str] = []
    confidence = 1.0
    # Few actions are thin evidence only against what the task needs (one per check, at least one).
    if action_count < needed_actions:
        confidence *= FEW_ACTIONS_CONFIDENCE_FLOOR + (1 - FEW_ACTIONS_CONFIDENCE_FLOOR) * (
            action_count / needed_actions
        )
        reasons.append(f"Low confidence: only {action_count} actions for a task that needs about {needed_actions}.")
    if not has_checks:
        confidence *= NO_CHECKS_CONFIDENCE
        reasons.append("Lower confidence: no success check to verify the outcome.")
    if not has_keywords:
        confidence *= NO_KEYWORDS_CONFIDENCE
    if not has_final_state:
        confidence *= NO_FINAL_STATE_CONFIDENCE
    if suspicious:
        confidence *= SUSPICIOUS_SPEED_CONFIDENCE
    if irrelevant:
        confidence *= IRRELEVANT_STEPS_CONFIDENCE
        reasons.append("Lower confidence: no step touches the task.")
    if regular_timing:
        confidence *= REGULAR_TIMING_CONFIDENCE
        reasons.append("Lower confidence: every step is exactly equally spaced.")
    # Outcome high but process low (or the reverse) is exactly the case a human should look at.
    confidence *= 1 - DISAGREEMENT_CONFIDENCE_PENALTY * (max(sub_scores) - min(sub_scores))
    return confidence, reasons


# ---- integrity features -------------------------------------------------------------------------


def _echo_share(instructions: str, evidence) -> str:
    """Where the instructions were copied to ("final state", "typed text", "steps"), or ""."""
    shingles, content_words, first_words = _instruction_shingles(instructions)
    if len(shingles) < ECHO_MIN_SHINGLES:
        return ""
    needed = max(ECHO_MIN_SHINGLES, ECHO_MIN_SHARE * len(shingles))
    size = ECHO_SHINGLE_WORDS
    for name, haystack in (
        ("final state", evidence.final_state),
        ("typed text", evidence.typed),
        ("steps", " ".join(evidence.step_texts)),
    ):
        if not haystack:
            continue
        haystack_words = _WORD_RE.findall(haystack)
        # Cheap first: an echo of most of the 4-word runs needs most of the content words.
        if len(content_words.intersection(haystack_words)) < ECHO_MIN_SHARE * len(content_words):
            continue
        found = {
            run
            for index, word in enumerate(haystack_words[: len(haystack_words) - size + 1])
            if word in first_words and (run := tuple(haystack_words[index : index + size])) in shingles
        }
        if len(found) >= needed:
            return name
    return ""


@lru_cache(maxsize=4096)
def _instruction_shingles(instructions: str) -> tuple[frozenset[tuple[str, ...]], frozenset[str], frozenset[str]]:
    """(4-word runs, content words, words that start a run) of the first paragraph."""
    words = _WORD_RE.findall(instructions.strip().split("\n\n")[0].lower())
    size = ECHO_SHINGLE_WORDS
    shingles = frozenset(tuple(words[index : index + size]) for index in range(len(words) - size + 1))
    content = frozenset(word for word in words if word not in STOP_WORDS) or frozenset(words)
    return shingles, content, frozenset(run[0] for run in shingles)


def _stuffing(typed_words: list[str], keywords: frozenset[str], value_words: frozenset[str]) -> str:
    """Typed text that is only the task's own words, most of its vocabulary, beyond its values.

    Typing the three headers a task names is the work; typing most of the task's vocabulary
    into fields, and little else, is stuffing.
    """
    extra = [stem for stem in map(_stem, typed_words) if stem and stem not in value_words and not stem.isdigit()]
    if len(extra) < STUFFING_MIN_WORDS:
        return ""
    vocabulary = keywords - value_words
    task_words = [stem for stem in extra if stem in vocabulary]
    distinct = len(set(task_words))
    if (
        len(task_words) >= STUFFING_MIN_SHARE * len(extra)
        and distinct >= STUFFING_MIN_DISTINCT
        and distinct >= STUFFING_MIN_VOCABULARY_SHARE * len(vocabulary)
    ):
        return (
            f"{len(task_words)} of {len(extra)} typed words are the task's own keywords "
            f"({distinct} of its {len(vocabulary)} besides the values it asks for): stuffing, not work."
        )
    return ""


def _robotic(action_times: list[float]) -> tuple[str, bool]:
    """(flag reason, regular): identical fast gaps are a script; identical slow gaps only odd."""
    gaps = [later - earlier for earlier, later in itertools.pairwise(action_times)]
    if len(gaps) < ROBOTIC_MIN_INTERVALS:
        return "", False
    mean = statistics.fmean(gaps)
    if mean <= 0:
        return "Every action at the same instant: a script, not a person.", True
    if (max(gaps) - min(gaps)) / mean > ROBOTIC_MAX_SPREAD:
        return "", False
    if mean < ROBOTIC_MAX_INTERVAL_SECONDS:
        return f"{len(gaps)} gaps between actions all {mean:.2f} s: a script, not a person.", True
    return "", True


def _wrong_app(task: TaskContext, demonstration: dict, evidence) -> str:
    wanted = _app_kinds(f"{task.title} {task.instructions}")
    if not wanted:
        return ""
    recorded_app = evidence.app
    seen = _app_kinds(f"{recorded_app} {evidence.urls}")
    if not seen:
        return ""
    if wanted & seen:
        return ""
    return (
        f"The task is about a {'/'.join(sorted(wanted))} but the recording is in a {'/'.join(sorted(seen))} "
        f"({recorded_app or evidence.urls[:80]})."
    )


@lru_cache(maxsize=4096)
def _app_kinds(text: str) -> frozenset[str]:
    words = {_stem(word) or word for word in _WORD_RE.findall(text.lower())}
    return frozenset(kind for kind, names in APP_KINDS.items() if any(name in words for name in names))


def _outside_claim_window(demonstration: dict, task: TaskContext, duration: float) -> str:
    claimed_at, submitted_at = task.claimed_at, task.submitted_at
    if claimed_at is None and submitted_at is None:
        return ""
    started = _parse_time(demonstration.get("started_at"))
    ended = _parse_time(demonstration.get("ended_at"))
    if started is None or ended is None:
        return "The recording has no usable start and end time to place in the claim window."
    tolerance = timedelta(seconds=CLAIM_WINDOW_TOLERANCE_SECONDS)
    if claimed_at is not None and started < claimed_at - tolerance:
        return f"Recorded from {started.isoformat()}, before the task was claimed ({claimed_at.isoformat()})."
    if submitted_at is not None and ended > submitted_at + tolerance:
        return f"Recorded until {ended.isoformat()}, after it was submitted ({submitted_at.isoformat()})."
    if claimed_at is not None and submitted_at is not None:
        window = (submitted_at - claimed_at).total_seconds()
        if duration > window + CLAIM_WINDOW_TOLERANCE_SECONDS:
            return f"Declares {duration:.0f} s of work in a claim that lasted {window:.0f} s."
    return ""


def _fabricated(check_results, evidence, entry_count: int, relevant_action_count: int) -> str:
    """The final state (or the names of clicked elements) claims what no step produced."""
    if entry_count == 0:
        # Values to type found only in the names of clicked elements, and nothing typed at all:
        # steps written to carry the values ('Cell B7 "48,250.75"'), not work.
        in_targets = [
            result
            for result in check_results
            if result.passed and result.check.kind == checks_module.TYPED and result.where == checks_module.STEP_TARGETS
        ]
        if in_targets:
            return (
                f"The values to type ({in_targets[0].check.value!r}) appear only in the names of clicked "
                "elements, and nothing was typed."
            )
    only_final = [result for result in check_results if result.passed and result.where == checks_module.FINAL_STATE]
    if not only_final:
        return ""
    typed_claims = [
        result
        for result in only_final
        if result.check.kind == checks_module.TYPED and not checks_module.field_acted_on(result.check.value, evidence)
    ]
    if typed_claims and entry_count == 0:
        return f"The final state shows typed values ({typed_claims[0].check.value!r}) but nothing was typed."
    if relevant_action_count == 0:
        return "The final state shows the task's values but no step touched the task."
    return ""


# The browser's own navigation fields: what is typed there goes to a URL or a web search, never
# into the app's fields ("Address and search bar", "URL bar", "omnibox", "location bar").
_NAVIGATION_TARGET_RE = re.compile(
    r"\baddress(?: and search)? ?bar\b|\burl ?(?:bar|field|box)\b|\bomni ?box\b|\blocation ?bar\b"
    r"|\bsearch or type (?:a )?(?:web address|url)\b|\baddress ?field\b",
    re.IGNORECASE,
)
WRONG_FIELD_MIN_VALUES = 2  # values asked for separately, all typed as one entry into one field
# Values that belong in the address bar or make one field's whole content: URLs, domains, emails.
_ADDRESS_VALUE_RE = re.compile(
    r"https?://|\b(?:[a-z0-9-]+\.)+(?:com|org|net|io|dev|app|co|uk|de|fr|edu|gov)\b|@[\w-]+\.", re.IGNORECASE
)


def _wrong_field(check_results, typed_entries: list[list[str]]) -> str:
    """The task's values typed where they cannot be the app's values:

    - into the browser's navigation field (the address bar) and nowhere else: the value went to
      a URL or a web search, whatever the final state claims;
    - all at once: two or more values the task asks for separately (different checks, none
      inside another), of at least two kinds (text, date, time, number), each whole, typed in
      one entry into one field, and none of them anywhere else: one field cannot hold a name,
      a date and an amount (two words of one kind, "milk" and "eggs" in a note, it can; so can
      the two ends of one word, "starts with Cay, ends with ands").

    Only required `typed`/`shows` checks that passed and are not URLs, domains or emails (those
    belong in the address bar or in one field) count."""
    if not typed_entries:
        return ""
    values = []
    for result in check_results:
        check = result.check
        if not (result.passed and check.required and check.kind in (checks_module.TYPED, checks_module.SHOWS)):
            continue
        if _ADDRESS_VALUE_RE.search(check.value) or check.value in values:
            continue
        values.append(check.value)
    if not values:
        return ""
    entries = [
        (target, checks_module.normalise(text), bool(_NAVIGATION_TARGET_RE.search(target)))
        for target, text in typed_entries
    ]
    app_text = "\n".join(text for _, text, navigation in entries if not navigation)
    for value in values:
        in_navigation = [
            target for target, text, navigation in entries if navigation and checks_module.value_found(value, text)
        ]
        if in_navigation and not checks_module.value_found(value, app_text):
            return (
                f"The task's value {value!r} was typed only into the browser's {in_navigation[0]!r}, not into the app."
            )
    # Values of one kind may share a field ("milk" and "eggs" in a note); a name, a date and an
    # amount are entered in fields of their own. A value inside another one is not a value apart.
    apart = [
        value
        for value in values
        if not any(
            other != value and checks_module.value_found(value, checks_module.normalise(other)) for other in values
        )
    ]
    if len(apart) < WRONG_FIELD_MIN_VALUES or len({checks_module.value_kind(value) for value in apart}) < 2:
        return ""
    values = apart
    for index, (target, text, _) in enumerate(entries):
        if not all(_whole_value_found(value, text) for value in values):
            continue
        elsewhere = "\n".join(other for position, (_, other, _) in enumerate(entries) if position != index)
        if not any(checks_module.value_found(value, elsewhere) for value in values):
            shown = ", ".join(repr(value) for value in values[:4])
            return (
                f"All of the task's values ({shown}) were typed at once into one field "
                f"({target or 'no target'!r}): they were not entered where the task asks."
            )
    return ""


def _whole_value_found(value: str, text: str) -> bool:
    """`value` in `text` as whole words: not the start or end of a word ("Cay" and "ands" are
    the two ends of one item, "Cayman Islands", which one field holds by design)."""
    if not checks_module.value_found(value, text):
        return False
    wanted = checks_module.normalise(value)
    if not any(char.isalpha() for char in wanted):
        return True  # a date, time or number: value_found already matched it whole
    return re.search(rf"(?<![a-z0-9]){re.escape(wanted)}(?![a-z0-9])", text) is not None


# ---- helpers ----------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _task_terms(title: str, instructions: str, checks: tuple | None) -> tuple:
    """What grading reads of the task itself, the same for every submission under the same
    terms: (keywords, checks, check value words, relevance words, wanted target kinds, check
    label values). Keyed by the terms, not the `TaskContext`: that also holds each
    submission's own times, so it never repeats within a batch."""
    keywords = _task_keywords(title, instructions)
    task_checks = checks if checks is not None else checks_module.checks_propose(title, instructions)
    value_words = _check_value_words(task_checks)
    return (
        keywords,
        task_checks,
        value_words,
        keywords | value_words,
        _wanted_kinds(title, instructions),
        _check_label_values(task_checks),
    )


def _task_keywords(title: str, instructions: str) -> frozenset[str]:
    # The first paragraph states the task; later paragraphs describe the setting.
    return _matched_keywords(f"{title} {instructions.strip().split(chr(10) * 2)[0]}", None)


@lru_cache(maxsize=1024)
def _enters_text(key) -> bool:
    """A key that enters or changes a value: a character, a paste, an arrow (a spinner, a
    picker), Backspace/Delete. Enter, Tab, Escape or Ctrl+S enter nothing."""
    if not isinstance(key, str) or not key:
        return False
    if len(key) == 1:  # a character, "+" included
        return True
    *modifiers, name = key.lower().split("+")
    if len(name) == 1:  # "Shift+A" types; "Ctrl+V" pastes; "Ctrl+S", "Ctrl+C" do not enter text
        return name == "v" or all(modifier == "shift" for modifier in modifiers)
    return name.startswith("arrow") or name in ENTRY_KEY_NAMES


def _wanted_kinds(title: str, instructions: str) -> dict[str, frozenset[str]]:
    """Kinds of target the task asks to act on -> the task keywords that ask for each."""
    text = f"{title} {instructions.strip().split(chr(10) * 2)[0]}"
    words = [_stem(word) for word in _WORD_RE.findall(text.lower())]
    # "text box", "text field": one word, as UIs spell them either way.
    stems = frozenset(words) | {first + second for first, second in itertools.pairwise(words) if first and second}
    keywords = _task_keywords(title, instructions)
    wanted = {}
    for kind, (asking_words, _) in TARGET_KINDS.items():
        asked = asking_words & stems
        if asked:
            wanted[kind] = frozenset(asked & keywords)
    if _QUANTITY_QUESTION_RE.search(text):
        wanted.setdefault("number", frozenset())
    return wanted


@lru_cache(maxsize=16384)
def _target_kinds(target: str, labels: frozenset[str]) -> frozenset[str]:
    """Kinds of a step's target: a number or a letter by its label, a shape or a field by its name."""
    kinds = set()
    for label in labels:
        if _NUMBER_LABEL_RE.match(label):
            kinds.add("number")
        elif len(label) == 1 and label.isalpha():
            kinds.add("letter")
    words = _WORD_RE.findall(target.lower())
    names = set(words) | {first + second for first, second in itertools.pairwise(words)}
    for kind, (_, target_words) in TARGET_KINDS.items():
        if target_words & names:
            kinds.add(kind)
    return frozenset(kinds)


def _check_label_values(task_checks: tuple) -> frozenset[str]:
    """Check values as a target's quoted label would read ("8" for `shows: 8`), short ones too."""
    return frozenset(checks_module.normalise(value) for check in task_checks for value in (check.value, *check.values))


def _check_value_words(task_checks: tuple) -> frozenset[str]:
    words = set()
    for check in task_checks:
        for value in (check.value, *check.values):
            words |= _matched_keywords(value, None)
            words |= {word for word in _WORD_RE.findall(value.lower()) if word.isdigit()}
    return frozenset(words)


@lru_cache(maxsize=8192)
def _matched_keywords(text: str, keywords: frozenset[str] | None) -> frozenset[str]:
    """Keywords of `text` (all of them when `keywords` is None, else those in `keywords`)."""
    found = set()
    for word in _WORD_RE.findall(text.lower()):
        stem = _stem(word)
        if stem and (keywords is None or stem in keywords):
            found.add(stem)
    return frozenset(found)


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """Crude plural folding ("sheets" = "sheet", "entries" = "entry"); "" for stop/short words."""
    if len(word) < MIN_KEYWORD_CHARS or word in STOP_WORDS:
        return ""
    if len(word) > 5 and word.endswith("ed") and not word.endswith("eed"):
        return word[:-2]  # "colored" = "color", "labeled" = "label" (both sides fold alike)
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss") and not word.isdigit():
        return word[:-1]
    return word


def _parse_time(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _duration_seconds(demonstration: dict) -> float:
    started = _parse_time(demonstration.get("started_at"))
    ended = _parse_time(demonstration.get("ended_at"))
    if started is None or ended is None:
        return 0.0
    return max(0.0, (ended - started).total_seconds())


def _smoothstep(progress: float) -> float:
    progress = min(1.0, max(0.0, progress))
    return progress * progress * (3 - 2 * progress)


def _part(score: Decimal, weight: Decimal, reasons: list[str], metrics: dict) -> dict:
    return {"score": str(score), "weight": str(weight), "reasons": reasons, "metrics": metrics}


def _format_duration(seconds: float) -> str:
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
