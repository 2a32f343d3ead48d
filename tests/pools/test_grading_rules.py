"""The built-in quality agent: realistic examples rank as expected, grades are deterministic and bounded."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from pools.demonstrations import ACTIONS, demonstration_validate
from pools.grading import GradeResult, ManualGradingOnly, TaskContext, grade, quantize_score, rules
from pools.grading.rules import efficiency_curve
from tests.pools.demonstrations import recording

DATA = Path(__file__).resolve().parent.parent / "data" / "demonstrations"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
TASK = TaskContext(**json.loads((DATA / "task_sheets_budget.json").read_text()))


def load(name: str) -> dict:
    return demonstration_validate(json.loads((DATA / name).read_text()))


def grade_example(name: str) -> GradeResult:
    return rules.grade(load(f"sheets_budget_{name}.json"), task=TASK)


def clean_steps() -> list[dict]:
    return [
        {"t": 0, "action": "navigate", "url": "https://docs.google.com/spreadsheets/"},
        {"t": 6, "action": "click", "target": "Blank spreadsheet"},
        {"t": 12, "action": "type", "target": "Document title", "text": "Budget 2026"},
        {"t": 20, "action": "click", "target": "Cell A1"},
        {"t": 22, "action": "type", "target": "Cell A1", "text": "Month"},
        {"t": 24, "action": "key", "key": "Tab"},
        {"t": 26, "action": "type", "target": "Cell B1", "text": "Income"},
        {"t": 28, "action": "key", "key": "Tab"},
        {"t": 30, "action": "type", "target": "Cell C1", "text": "Expenses"},
        {"t": 32, "action": "key", "key": "Enter"},
        {"t": 40, "action": "click", "target": "Header row 1"},
    ]


FINAL_STATE = "Google Sheets spreadsheet Budget 2026 with headers Month, Income, Expenses in the first row."


def sub_score(result: GradeResult, part: str) -> Decimal:
    return Decimal(result.breakdown[part]["score"])


# ---- the examples ----------------------------------------------------------------------------------


def test_a_clean_complete_demonstration_scores_as_good():
    result = grade_example("good")
    assert result.score >= Decimal("0.75")
    assert result.confidence >= Decimal("0.8")
    assert result.grader == "rules"


def test_a_wandering_idle_but_finished_demonstration_scores_as_mediocre():
    # Rubric v2: the goal was reached (every check passes), so it is paid, but the idling and
    # repeats take a clear share off what a clean recording earns.
    result = grade_example("mediocre")
    assert Decimal("0.5") <= result.score <= grade_example("good").score - Decimal("0.15")
    assert any("Idle for" in reason for reason in result.reasons)
    assert any("repeated" in reason for reason in result.reasons)


def test_random_clicks_and_waits_without_a_final_state_score_as_junk():
    result = grade_example("junk")
    assert result.score < Decimal("0.5")
    assert any("No final state" in reason for reason in result.reasons)
    # Rubric v2 judges speed against the actions recorded (16 s for ~27 s of actions is not
    # "suspicious"); what makes it junk is that none of the task's checks is met.
    assert any("0 of 5 success checks passed" in reason for reason in result.reasons)


def test_the_examples_rank_good_over_mediocre_over_junk_on_every_sub_score_that_matters():
    good, mediocre, junk = (grade_example(name) for name in ("good", "mediocre", "junk"))
    assert good.score > mediocre.score > junk.score
    # Both good and mediocre reach the goal (rubric v2: the outcome is what was reached).
    assert sub_score(good, "outcome") >= sub_score(mediocre, "outcome") > sub_score(junk, "outcome")
    assert sub_score(good, "process") > sub_score(mediocre, "process") > sub_score(junk, "process")


# ---- the arithmetic ------------------------------------------------------------------------------


def test_weights_sum_to_one():
    assert rules.WORK_BASE + rules.PROCESS_WEIGHT + rules.EFFICIENCY_WEIGHT == 1
    assert pytest.approx(1) == rules.OUTCOME_FINAL_STATE_PRESENT + rules.OUTCOME_EVIDENCE


@pytest.mark.parametrize("name", ["good", "mediocre", "junk"])
def test_the_score_is_the_weighted_sum_of_the_breakdown_rounded_down(name):
    # Rubric v2: gate x outcome x (0.5 + 0.3 process + 0.2 efficiency), from the breakdown.
    result = grade_example(name)
    sub_scores = {part: Decimal(result.breakdown[part]["score"]) for part in ("outcome", "process", "efficiency")}
    weighted = Decimal(result.breakdown["gate"]["score"]) * rules.work_score(sub_scores)
    assert result.score == quantize_score(weighted)
    assert result.score <= weighted
    assert result.score.as_tuple().exponent == -4
    assert result.confidence.as_tuple().exponent == -4


@pytest.mark.parametrize("name", ["good", "mediocre", "junk"])
def test_the_breakdown_is_json_with_numbers_written_as_strings(name):
    result = grade_example(name)
    text = json.dumps(result.breakdown, allow_nan=False)
    assert set(result.breakdown) == {"outcome", "process", "efficiency", "gate"}
    assert result.breakdown["gate"]["agent"]["rubric_version"] == str(rules.RUBRIC_VERSION)
    assert_no_json_numbers(json.loads(text))
    for part in result.breakdown.values():
        assert Decimal(part["score"]) == Decimal(part["score"]).quantize(Decimal("0.0001"))
        assert part["reasons"]


def assert_no_json_numbers(value) -> None:
    if isinstance(value, dict):
        for child in value.values():
            assert_no_json_numbers(child)
    elif isinstance(value, list):
        for child in value:
            assert_no_json_numbers(child)
    else:
        assert value is None or isinstance(value, str | bool), value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.7, "0.7000"),  # binary noise must not round 0.7 down to 0.6999
        (0.99999, "0.9999"),
        (Decimal("0.12345"), "0.1234"),
        (Decimal("0.83"), "0.8300"),
        (1.2, "1.0000"),
        (-0.1, "0.0000"),
        (1, "1.0000"),
    ],
)
def test_scores_are_clamped_and_rounded_down_to_four_places(value, expected):
    assert quantize_score(value) == Decimal(expected)
    assert str(quantize_score(value)) == expected


def test_grade_results_refuse_scores_outside_the_unit_interval_or_with_more_places():
    with pytest.raises(ValueError):
        GradeResult(score=Decimal("1.0001"), confidence=Decimal("1"), breakdown={}, reasons=[], grader="rules")
    with pytest.raises(ValueError):
        GradeResult(score=Decimal("0.12345"), confidence=Decimal("1"), breakdown={}, reasons=[], grader="rules")
    with pytest.raises(ValueError):
        GradeResult(score=Decimal("0.5"), confidence=Decimal("0.5"), breakdown={}, reasons=[], grader="oracle")


def test_task_context_requires_at_least_one_expected_minute():
    with pytest.raises(ValueError):
        TaskContext(title="t", instructions="i", expected_minutes=0)


# ---- determinism ---------------------------------------------------------------------------------


def test_the_same_demonstration_always_gets_the_same_grade():
    first = grade_example("mediocre")
    for _ in range(5):
        assert grade_example("mediocre") == first


_SUBPROCESS_GRADE = """
import json, sys
from pools.demonstrations import demonstration_validate
from pools.grading.base import TaskContext
from pools.grading.rules import grade
data = json.load(open(sys.argv[1]))
task = TaskContext(**json.load(open(sys.argv[2])))
result = grade(demonstration_validate(data), task=task)
print(json.dumps([str(result.score), str(result.confidence), result.breakdown, result.reasons]))
"""


def test_grades_do_not_depend_on_the_process_hash_seed():
    # Set iteration order changes with PYTHONHASHSEED; a grade must not.
    outputs = set()
    for seed in ("1", "2", "3"):
        completed = subprocess.run(
            [
                sys.executable,
                "-c",
                _SUBPROCESS_GRADE,
                str(DATA / "sheets_budget_junk.json"),
                str(DATA / "task_sheets_budget.json"),
            ],
            cwd=PROJECT_ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed, "DJANGO_SETTINGS_MODULE": "forge.settings.test"},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        outputs.add(completed.stdout)
    assert len(outputs) == 1
    [score, confidence, breakdown, _reasons] = json.loads(outputs.pop())
    expected = grade_example("junk")
    assert (Decimal(score), Decimal(confidence), breakdown) == (expected.score, expected.confidence, expected.breakdown)


# ---- each signal moves the score the right way ------------------------------------------------------------


def test_a_missing_final_state_lowers_the_outcome_and_the_confidence():
    with_final = rules.grade(recording(clean_steps(), seconds=60, final_state=FINAL_STATE), task=TASK)
    without = rules.grade(recording(clean_steps(), seconds=60), task=TASK)
    assert sub_score(without, "outcome") < sub_score(with_final, "outcome")
    assert without.confidence < with_final.confidence


def test_a_final_state_unrelated_to_the_task_earns_less_than_one_that_describes_it():
    related = rules.grade(recording(clean_steps(), seconds=60, final_state=FINAL_STATE), task=TASK)
    unrelated = rules.grade(recording(clean_steps(), seconds=60, final_state="All done, thanks!"), task=TASK)
    assert sub_score(unrelated, "outcome") < sub_score(related, "outcome")


def test_long_idle_gaps_lower_the_process_score():
    steps = clean_steps()
    idle_steps = [dict(step, t=step["t"] + (120 if index >= 5 else 0)) for index, step in enumerate(steps)]
    clean = rules.grade(recording(steps, seconds=60, final_state=FINAL_STATE), task=TASK)
    idle = rules.grade(recording(idle_steps, seconds=180, final_state=FINAL_STATE), task=TASK)
    assert sub_score(idle, "process") < sub_score(clean, "process")
    # The 122 s gap before step 5 is 92 s over the 30 s idle threshold.
    assert idle.breakdown["process"]["metrics"]["idle_seconds"] == "92.0"


def test_runs_of_identical_actions_lower_the_process_score():
    steps = clean_steps()
    clicks_again = [{"t": 6 + index * 0.5, "action": "click", "target": "Blank spreadsheet"} for index in range(1, 8)]
    repeated = [*steps[:2], *clicks_again, *steps[2:]]
    clean = rules.grade(recording(steps, seconds=60, final_state=FINAL_STATE), task=TASK)
    noisy = rules.grade(recording(repeated, seconds=60, final_state=FINAL_STATE), task=TASK)
    assert sub_score(noisy, "process") < sub_score(clean, "process")
    assert noisy.breakdown["process"]["metrics"]["repeat_share"] != "0.0000"


def test_a_double_click_is_not_a_repeat():
    steps = clean_steps()
    steps.insert(2, {"t": 6.2, "action": "click", "target": "Blank spreadsheet"})
    result = rules.grade(recording(steps, seconds=60, final_state=FINAL_STATE), task=TASK)
    assert result.breakdown["process"]["metrics"]["repeat_share"] == "0.0000"


def test_many_wait_steps_lower_the_process_score():
    steps = clean_steps()
    waits = [{"t": 41 + index, "action": "wait"} for index in range(10)]
    clean = rules.grade(recording(steps, seconds=60, final_state=FINAL_STATE), task=TASK)
    waiting = rules.grade(recording(steps + waits, seconds=60, final_state=FINAL_STATE), task=TASK)
    assert sub_score(waiting, "process") < sub_score(clean, "process")


def test_actions_unrelated_to_the_task_lower_the_process_score():
    unrelated = [
        {"t": index * 4, "action": "click", "target": target}
        for index, target in enumerate(["Inbox", "Promotions", "Settings", "Themes", "Dark", "Back", "Starred"])
    ]
    focused = rules.grade(recording(clean_steps(), seconds=60, final_state=FINAL_STATE), task=TASK)
    wandering = rules.grade(recording(unrelated, seconds=60, final_state=FINAL_STATE), task=TASK)
    assert sub_score(wandering, "process") < sub_score(focused, "process")


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(60, "1.0000"), (9 * 60, "0.4816")],
)
def test_efficiency_compares_the_duration_with_the_expected_time(seconds, expected):
    # TASK expects 3 minutes: 1 min is in the best band, 9 min is 3x over. (Rubric v2 judges
    # "too fast" against the actions recorded, not the expected time: see the quick-task tests.)
    steps = [step for step in clean_steps() if step["t"] <= seconds]
    result = rules.grade(recording(steps, seconds=seconds, final_state=FINAL_STATE), task=TASK)
    assert result.breakdown["efficiency"]["score"] == expected


def test_suspiciously_fast_demonstrations_get_low_confidence():
    fast_steps = [dict(step, t=step["t"] / 10) for step in clean_steps()]
    normal = rules.grade(recording(clean_steps(), seconds=60, final_state=FINAL_STATE), task=TASK)
    fast = rules.grade(recording(fast_steps, seconds=6, final_state=FINAL_STATE), task=TASK)
    assert fast.confidence < normal.confidence
    assert fast.score < normal.score


def test_the_efficiency_curve_is_continuous_and_shaped_as_documented():
    breakpoints = [rules.SUSPICIOUS_RATIO, rules.BEST_RATIO_LOW, rules.BEST_RATIO_HIGH, rules.SLOW_RATIO]
    for point in breakpoints:
        assert efficiency_curve(point - 1e-9) == pytest.approx(efficiency_curve(point + 1e-9), abs=1e-6)
    assert efficiency_curve(0) == 0
    assert efficiency_curve(rules.SUSPICIOUS_RATIO) == pytest.approx(rules.SUSPICIOUS_SCORE)
    assert all(efficiency_curve(ratio / 10) == 1 for ratio in range(3, 16))
    rising = [efficiency_curve(ratio / 100) for ratio in range(0, 31)]
    falling = [efficiency_curve(ratio / 10) for ratio in range(15, 200)]
    assert rising == sorted(rising)
    assert falling == sorted(falling, reverse=True)
    assert 0 < efficiency_curve(100) < rules.SLOW_SCORE


def test_few_steps_lower_the_confidence():
    many = rules.grade(recording(clean_steps(), seconds=60, final_state=FINAL_STATE), task=TASK)
    few = rules.grade(recording(clean_steps()[:3], seconds=60, final_state=FINAL_STATE), task=TASK)
    assert few.confidence < many.confidence
    assert any("only 3 actions" in reason for reason in few.reasons)


def test_a_task_without_keywords_lowers_the_confidence():
    vague = TaskContext(title="Do it", instructions="Please do this and that.", expected_minutes=3)
    result = rules.grade(recording(clean_steps(), seconds=60, final_state=FINAL_STATE), task=vague)
    normal = rules.grade(recording(clean_steps(), seconds=60, final_state=FINAL_STATE), task=TASK)
    assert result.confidence < normal.confidence


def test_plural_and_singular_keywords_match():
    task = TaskContext(title="Sheets", instructions="Add the headers", expected_minutes=1)
    result = rules.grade(
        recording([{"t": 0, "action": "click", "target": "Sheet header"}], seconds=30, final_state="sheet header"),
        task=task,
    )
    assert result.breakdown["outcome"]["metrics"]["final_state_keyword_coverage"] == "1.0000"


# ---- speed ---------------------------------------------------------------------------------------


def test_the_largest_allowed_demonstration_is_graded_in_linear_time():
    steps = [
        {"t": index * 0.5, "action": ACTIONS[index % len(ACTIONS)], "target": f"Cell A{index}", "text": "Budget"}
        for index in range(10_000)
    ]
    data = recording(steps, seconds=5_000, final_state=FINAL_STATE)
    started = time.perf_counter()
    rules.grade(data, task=TASK)
    # ~2 µs a step in practice; a quadratic pass would take minutes.
    assert time.perf_counter() - started < 2.0


# ---- dispatch ------------------------------------------------------------------------------------


def test_the_configured_rules_grader_is_used(settings):
    settings.FORGE_GRADER = "rules"
    assert grade(load("sheets_budget_good.json"), task=TASK) == grade_example("good")


def test_manual_mode_refuses_to_grade(settings):
    settings.FORGE_GRADER = "manual"
    with pytest.raises(ManualGradingOnly):
        grade(load("sheets_budget_good.json"), task=TASK)


def test_an_unknown_grader_setting_is_an_error(settings):
    settings.FORGE_GRADER = "oracle"
    with pytest.raises(ValueError, match="oracle"):
        grade(load("sheets_budget_good.json"), task=TASK)


# ---- any valid demonstration ---------------------------------------------------------------------

# Storable text: NUL and lone surrogates are refused by the validator (PostgreSQL cannot store them).
_storable = st.characters(codec="utf-8", exclude_characters="\x00")
_texts = st.one_of(
    st.none(), st.text(_storable, max_size=40), st.sampled_from(["Budget 2026", "Cell A1", "Month", "sheets"])
)


@st.composite
def valid_demonstrations(draw) -> dict:
    seconds = draw(st.floats(min_value=0, max_value=24 * 3600, allow_nan=False))
    times = sorted(draw(st.lists(st.floats(min_value=0, max_value=seconds), min_size=1, max_size=60)))
    steps = []
    for t in times:
        step = {"t": draw(st.one_of(st.just(t), st.just(int(t)))), "action": draw(st.sampled_from(ACTIONS))}
        for field in ("target", "text", "url", "key"):
            value = draw(_texts)
            if value is not None:
                step[field] = value
        steps.append(step)
    # int(t) may undo the ordering of two close floats; keep times non-decreasing.
    for previous, step in itertools.pairwise(steps):
        step["t"] = max(step["t"], previous["t"])
    return recording(steps, seconds=seconds, final_state=draw(st.one_of(st.none(), st.text(_storable, max_size=200))))


_tasks = st.builds(
    TaskContext,
    title=st.text(max_size=60),
    instructions=st.text(max_size=300),
    expected_minutes=st.integers(min_value=1, max_value=24 * 60),
)


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=valid_demonstrations(), task=_tasks)
def test_any_valid_demonstration_gets_a_bounded_serialisable_deterministic_grade(data, task):
    result = rules.grade(data, task=task)
    assert Decimal(0) <= result.score <= Decimal(1)
    assert Decimal(0) <= result.confidence <= Decimal(1)
    assert result.score.as_tuple().exponent == -4
    assert result.confidence.as_tuple().exponent == -4
    json.dumps(result.breakdown, allow_nan=False)
    assert all(isinstance(reason, str) for reason in result.reasons)
    assert rules.grade(data, task=task) == result
