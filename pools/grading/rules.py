"""The built-in Data Quality Agent: a deterministic, documented rubric (FORGE_GRADER=rules).

Three weighted sub-scores, each in [0, 1] (docs/quality-agent.md explains every number):

- **outcome** (0.4): was the task's goal reached? A final state that names what the task
  asked for, steps that touch the task's keywords, enough real (non-wait) actions.
- **process** (0.35): were the actions about the task, with little noise? Share of actions
  whose target/text/url mention task keywords; penalties for long idle gaps, a high share of
  `wait` steps and runs of identical consecutive actions.
- **efficiency** (0.25): duration against the factory's expected time. Best between 0.3x
  and 1.5x; very fast (< 10 %) is suspicious and scores low; far over scores lower.

score = sum(weight * sub-score), rounded down to 4 places (never over-pay). Confidence is
lower for short demonstrations, tasks without keywords, a missing final state, suspicious
speed, and when the sub-scores disagree.

Internal arithmetic is float (fast; the benchmark grades 100,000 demonstrations) in a fixed
order, so the same input gives the same output on every run and in every process: nothing
is summed in set-iteration order, and every listed keyword is sorted. Sub-scores are turned
into 4-place Decimals before the weighted sum, so the breakdown adds up exactly.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from .base import GRADER_RULES, GradeResult, TaskContext, format_decimal, quantize_score

RUBRIC_VERSION = 1

# ---- weights (sum to 1) --------------------------------------------------------------------
OUTCOME_WEIGHT = Decimal("0.4")
PROCESS_WEIGHT = Decimal("0.35")
EFFICIENCY_WEIGHT = Decimal("0.25")
assert OUTCOME_WEIGHT + PROCESS_WEIGHT + EFFICIENCY_WEIGHT == 1

# ---- outcome: parts (sum to 1) ---------------------------------------------------------------
OUTCOME_FINAL_STATE_PRESENT = 0.35  # a non-blank final_state
OUTCOME_FINAL_STATE_COVERAGE = 0.25  # share of task keywords the final state mentions
OUTCOME_STEPS_COVERAGE = 0.25  # share of task keywords the steps mention
OUTCOME_SUBSTANCE = 0.15  # enough non-wait actions to have done anything
# Below this many non-wait actions the substance part is scaled down linearly.
SUBSTANTIAL_ACTION_COUNT = 5
# Coverage when the task has no keywords: unknowable, so neither reward nor punish.
NEUTRAL_COVERAGE = 0.5

# ---- process: relevance half + cleanliness half ---------------------------------------------------
PROCESS_RELEVANCE_SHARE = 0.5
# Navigating between cells, pressing Tab/Enter, etc. rarely name task words, so half of the
# actions mentioning the task is already a fully focused demonstration.
RELEVANT_SHARE_FOR_FULL_MARKS = 0.5
# A gap between events longer than this is idle time (its excess over the threshold counts).
# Longer tasks get more thinking time: the threshold grows with the expected duration.
IDLE_GAP_MIN_SECONDS = 30.0
IDLE_GAP_EXPECTED_FRACTION = 0.05
# Noise penalties, each saturating at 1 when its share reaches the given value.
IDLE_PENALTY_WEIGHT = 0.4
IDLE_SHARE_FOR_FULL_PENALTY = 0.5  # half of the time idle
WAIT_PENALTY_WEIGHT = 0.3
WAIT_SHARE_FOR_FULL_PENALTY = 0.5  # half of the steps are waits
REPEAT_PENALTY_WEIGHT = 0.3
REPEAT_SHARE_FOR_FULL_PENALTY = 0.3  # 30 % of the steps are pointless repeats
# A double-click or "Tab, Tab" is normal: only identical actions beyond the 2nd in a row count.
REPEAT_FREE_RUN_LENGTH = 2
# Scrolling repeats by nature and waits are counted separately.
REPEAT_EXEMPT_ACTIONS = frozenset({"scroll", "wait"})

# ---- efficiency: ratio = duration / expected duration --------------------------------------------
SUSPICIOUS_RATIO = 0.1  # faster than this is probably not a real demonstration
SUSPICIOUS_SCORE = 0.2  # score at SUSPICIOUS_RATIO, falling linearly to 0 at ratio 0
BEST_RATIO_LOW = 0.3
BEST_RATIO_HIGH = 1.5
SLOW_RATIO = 4.0  # from BEST_RATIO_HIGH to here the score eases from 1 down to SLOW_SCORE
SLOW_SCORE = 0.2  # beyond SLOW_RATIO: SLOW_SCORE * SLOW_RATIO / ratio

# ---- confidence: a product of factors in (0, 1] --------------------------------------------------
CONFIDENT_STEP_COUNT = 10
FEW_STEPS_CONFIDENCE_FLOOR = 0.4  # confidence factor for a 0-step demonstration
NO_KEYWORDS_CONFIDENCE = 0.6
NO_FINAL_STATE_CONFIDENCE = 0.85
SUSPICIOUS_SPEED_CONFIDENCE = 0.6
DISAGREEMENT_CONFIDENCE_PENALTY = 0.3  # times (max sub-score - min sub-score)

# ---- keywords ----------------------------------------------------------------------------------
_WORD_RE = re.compile(r"[a-z0-9]+")
MIN_KEYWORD_CHARS = 2
MAX_LISTED_KEYWORDS = 8  # in the "Never mentioned" reason
STEP_TEXT_FIELDS = ("target", "text", "url", "key")
# English function words, plus verbs every instruction uses ("create", "open", "click") and
# URL noise: they match everything and so say nothing about relevance.
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
    keywords = _task_keywords(task)
    expected_seconds = task.expected_minutes * 60.0
    steps = demonstration.get("steps") or []
    step_count = len(steps)
    duration = _duration_seconds(demonstration)
    idle_gap_seconds = max(IDLE_GAP_MIN_SECONDS, expected_seconds * IDLE_GAP_EXPECTED_FRACTION)

    # One pass over the steps collects everything the three sub-scores need.
    covered_by_steps: set[str] = set()
    action_count = 0  # non-wait steps
    relevant_action_count = 0
    wait_count = 0
    repeat_count = 0
    idle_seconds = 0.0
    previous_t = 0.0
    previous_signature: tuple | None = None
    run_length = 0
    for step in steps:
        action = step.get("action")
        t = float(step.get("t") or 0)
        gap = t - previous_t
        if gap > idle_gap_seconds:
            idle_seconds += gap - idle_gap_seconds
        previous_t = max(previous_t, t)

        if action == "wait":
            wait_count += 1
        else:
            action_count += 1
            relevant = False
            for field in STEP_TEXT_FIELDS:
                value = step.get(field)
                if value and keywords:
                    matched = _matched_keywords(value, keywords)
                    if matched:
                        relevant = True
                        covered_by_steps |= matched
            relevant_action_count += relevant

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

    outcome_score, outcome_reasons, outcome_metrics = _outcome(
        keywords, has_final_state, covered_by_final_state, covered_by_steps, action_count
    )
    process_score, process_reasons, process_metrics = _process(
        keywords,
        action_count=action_count,
        relevant_action_count=relevant_action_count,
        step_count=step_count,
        wait_count=wait_count,
        repeat_count=repeat_count,
        idle_seconds=idle_seconds,
        idle_gap_seconds=idle_gap_seconds,
        duration=duration,
    )
    ratio = duration / expected_seconds
    efficiency_score, efficiency_reasons, efficiency_metrics = _efficiency(ratio, duration, task.expected_minutes)

    sub_scores = {
        "outcome": quantize_score(outcome_score),
        "process": quantize_score(process_score),
        "efficiency": quantize_score(efficiency_score),
    }
    score = quantize_score(
        OUTCOME_WEIGHT * sub_scores["outcome"]
        + PROCESS_WEIGHT * sub_scores["process"]
        + EFFICIENCY_WEIGHT * sub_scores["efficiency"]
    )
    confidence, confidence_reasons = _confidence(
        step_count=step_count,
        has_keywords=bool(keywords),
        has_final_state=has_final_state,
        suspicious=ratio < SUSPICIOUS_RATIO,
        sub_scores=[outcome_score, process_score, efficiency_score],
    )

    breakdown = {
        "outcome": _part(sub_scores["outcome"], OUTCOME_WEIGHT, outcome_reasons, outcome_metrics),
        "process": _part(sub_scores["process"], PROCESS_WEIGHT, process_reasons, process_metrics),
        "efficiency": _part(sub_scores["efficiency"], EFFICIENCY_WEIGHT, efficiency_reasons, efficiency_metrics),
    }
    reasons = [*outcome_reasons, *process_reasons, *efficiency_reasons, *confidence_reasons]
    return GradeResult(
        score=score,
        confidence=quantize_score(confidence),
        breakdown=breakdown,
        reasons=reasons,
        grader=GRADER_RULES,
    )


# ---- sub-scores -----------------------------------------------------------------------------------


def _outcome(
    keywords: frozenset[str],
    has_final_state: bool,
    covered_by_final_state: frozenset[str] | set[str],
    covered_by_steps: set[str],
    action_count: int,
) -> tuple[float, list[str], dict]:
    reasons: list[str] = []
    if keywords:
        final_coverage = len(covered_by_final_state) / len(keywords)
        steps_coverage = len(covered_by_steps) / len(keywords)
    else:
        final_coverage = NEUTRAL_COVERAGE if has_final_state else 0.0
        steps_coverage = NEUTRAL_COVERAGE
    substance = min(1.0, action_count / SUBSTANTIAL_ACTION_COUNT)

    if has_final_state:
        if keywords:
            reasons.append(
                f"Final state given; it mentions {len(covered_by_final_state)} of {len(keywords)} task keywords."
            )
        else:
            reasons.append("Final state given.")
    else:
        reasons.append("No final state: nothing shows that the task's goal was reached.")
    if keywords:
        missing = sorted(keywords - covered_by_steps - covered_by_final_state)
        reasons.append(f"The steps mention {len(covered_by_steps)} of {len(keywords)} task keywords.")
        if missing:
            shown = ", ".join(missing[:MAX_LISTED_KEYWORDS])
            more = len(missing) - MAX_LISTED_KEYWORDS
            reasons.append(f"Never mentioned: {shown}" + (f" and {more} more." if more > 0 else "."))
    else:
        reasons.append("The task's instructions have no keywords to check the steps against.")
    if action_count < SUBSTANTIAL_ACTION_COUNT:
        reasons.append(f"Only {action_count} actions besides waiting.")

    score = (
        OUTCOME_FINAL_STATE_PRESENT * (1.0 if has_final_state else 0.0)
        + OUTCOME_FINAL_STATE_COVERAGE * final_coverage
        + OUTCOME_STEPS_COVERAGE * steps_coverage
        + OUTCOME_SUBSTANCE * substance
    )
    metrics = {
        "final_state": "yes" if has_final_state else "no",
        "final_state_keyword_coverage": format_decimal(final_coverage),
        "steps_keyword_coverage": format_decimal(steps_coverage),
        "actions": str(action_count),
    }
    return score, reasons, metrics


def _process(
    keywords: frozenset[str],
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
    if not keywords:
        relevant_share = NEUTRAL_COVERAGE
    elif action_count:
        relevant_share = relevant_action_count / action_count
    else:
        relevant_share = 0.0
    relevance = min(1.0, relevant_share / RELEVANT_SHARE_FOR_FULL_MARKS)
    if keywords:
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


def _efficiency(ratio: float, duration: float, expected_minutes: int) -> tuple[float, list[str], dict]:
    score = efficiency_curve(ratio)
    reasons = [f"Took {_format_duration(duration)} for a task expected to take {expected_minutes} min ({ratio:.2f}x)."]
    if ratio < SUSPICIOUS_RATIO:
        reasons.append(f"Under {SUSPICIOUS_RATIO:.0%} of the expected time: suspiciously fast.")
    elif ratio < BEST_RATIO_LOW:
        reasons.append("Much faster than expected.")
    elif ratio > BEST_RATIO_HIGH:
        reasons.append("Slower than expected.")
    metrics = {
        "duration_seconds": format_decimal(duration, 1),
        "expected_seconds": str(expected_minutes * 60),
        "ratio": format_decimal(ratio),
    }
    return score, reasons, metrics


def efficiency_curve(ratio: float) -> float:
    """Efficiency for duration/expected: continuous, smooth between the breakpoints, in [0, 1]."""
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
    *, step_count: int, has_keywords: bool, has_final_state: bool, suspicious: bool, sub_scores: list[float]
) -> tuple[float, list[str]]:
    reasons: list[str] = []
    confidence = FEW_STEPS_CONFIDENCE_FLOOR + (1 - FEW_STEPS_CONFIDENCE_FLOOR) * min(
        1.0, step_count / CONFIDENT_STEP_COUNT
    )
    if step_count < CONFIDENT_STEP_COUNT:
        reasons.append(f"Low confidence: only {step_count} steps to judge.")
    if not has_keywords:
        confidence *= NO_KEYWORDS_CONFIDENCE
    if not has_final_state:
        confidence *= NO_FINAL_STATE_CONFIDENCE
    if suspicious:
        confidence *= SUSPICIOUS_SPEED_CONFIDENCE
    # Outcome high but process low (or the reverse) is exactly the case a human should look at.
    confidence *= 1 - DISAGREEMENT_CONFIDENCE_PENALTY * (max(sub_scores) - min(sub_scores))
    return confidence, reasons


# ---- helpers ----------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _task_keywords(task: TaskContext) -> frozenset[str]:
    # TaskContext is frozen and hashable: a factory's many demonstrations tokenise it once.
    return _matched_keywords(f"{task.title} {task.instructions}", None)


@lru_cache(maxsize=8192)  # bounded: texts may be 2,000 characters long
def _matched_keywords(text: str, keywords: frozenset[str] | None) -> frozenset[str]:
    """Keywords of `text` (all of them when `keywords` is None, else those in `keywords`).

    Cached: recordings repeat the same targets ("Cell A1", "Tab") across steps and farmers,
    and frozensets cache their hash, so a hit costs one dictionary lookup.
    """
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
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss") and not word.isdigit():
        return word[:-1]
    return word


def _duration_seconds(demonstration: dict) -> float:
    try:
        started = datetime.fromisoformat(demonstration["started_at"])
        ended = datetime.fromisoformat(demonstration["ended_at"])
    except (KeyError, TypeError, ValueError):
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
