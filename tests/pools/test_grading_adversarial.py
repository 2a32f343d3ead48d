"""Demonstrations that do not do the task are not paid; quick honest work is.

Every attack is a fixture written here (never the evaluation corpus). "Paid" means what
settlement would do by default: score >= the default quality threshold and no review hold
(neither the grader's own nor a confidence under the default FORGE_REVIEW_BELOW_CONFIDENCE).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings

from pools.grading import TaskContext, rules
from tests.pools.demonstrations import (
    CALENDAR_TASK,
    HONEST_SHEET_FINAL,
    ONE_CLICK_TASK,
    SHEET_TASK,
    START,
    THRESHOLD,
    flags,
    honest_sheet,
    honest_sheet_steps,
    paid,
    recording,
)

# ---- honest work is paid ------------------------------------------------------------------------


def test_an_honest_recording_is_paid_with_every_check_passed():
    result = rules.grade(honest_sheet(), task=SHEET_TASK)
    assert paid(result)
    assert all(check["passed"] for check in result.breakdown["outcome"]["checks"] if check["required"])
    assert flags(result) == {}
    assert result.breakdown["gate"]["score"] == "1"


def test_a_one_click_task_done_in_one_click_in_three_seconds_is_paid():
    demo = recording(
        [{"t": 2.1, "action": "click", "target": 'button "Accept all"'}], seconds=3, final_state="Banner closed"
    )
    result = rules.grade(demo, task=ONE_CLICK_TASK)
    assert paid(result), result.reasons
    assert result.breakdown["efficiency"]["score"] == "1.0000"


def test_work_inside_the_claim_window_is_paid():
    task = TaskContext(
        **{
            **SHEET_TASK.__dict__,
            "claimed_at": START - timedelta(minutes=2),
            "submitted_at": START + timedelta(minutes=3),
        }
    )
    assert paid(rules.grade(honest_sheet(), task=task))


# ---- attacks: none is paid, each names its feature --------------------------------------------------


def test_keyword_stuffing_with_the_instructions_as_final_state_is_not_paid():
    words = ["spreadsheet sheet", "total cell region", "north sales sheet", "save total cell", "region spreadsheet"]
    steps = [
        {"t": 3 + index * 4.3, "action": "type", "target": f"Field {index}", "text": text}
        for index, text in enumerate(words)
    ]
    result = rules.grade(recording(steps, seconds=30, final_state=SHEET_TASK.instructions), task=SHEET_TASK)
    assert not paid(result)
    assert "keyword_stuffing" in flags(result)
    assert "instructions_echoed" in flags(result)


def test_a_step_by_step_echo_of_the_instructions_is_not_paid():
    sentences = SHEET_TASK.instructions.split(". ")
    steps = [{"t": 2 + index * 5.1, "action": "click", "target": sentence} for index, sentence in enumerate(sentences)]
    result = rules.grade(recording(steps, seconds=20, final_state="Done."), task=SHEET_TASK)
    assert not paid(result)
    assert "instructions_echoed" in flags(result)


def test_the_same_values_typed_into_a_text_document_are_the_wrong_app():
    steps = [dict(step) for step in honest_sheet_steps()]
    steps[0]["url"] = "https://docs.example.com/document/new"
    result = rules.grade(
        honest_sheet(steps=steps, app="Docs", final_state="Document with Q2 Sales North 48,250.75"), task=SHEET_TASK
    )
    assert not paid(result)
    assert "wrong_app" in flags(result)


def test_only_waiting_with_the_instructions_as_final_state_is_not_paid():
    steps = [{"t": index * 17.0, "action": "wait"} for index in range(8)]
    result = rules.grade(recording(steps, seconds=130, final_state=SHEET_TASK.instructions), task=SHEET_TASK)
    assert not paid(result)
    assert "only_waiting" in flags(result)
    assert result.score < Decimal("0.2")


def test_only_scrolling_is_not_work_either():
    steps = [{"t": index * 2.7, "action": "scroll", "dy": 300} for index in range(12)]
    result = rules.grade(recording(steps, seconds=35, final_state=HONEST_SHEET_FINAL), task=SHEET_TASK)
    assert not paid(result)
    assert "only_waiting" in flags(result)


def test_a_final_state_claiming_values_no_step_produced_is_fabricated():
    steps = [
        {"t": 2.0, "action": "click", "target": "Inbox"},
        {"t": 5.5, "action": "click", "target": "Promotions"},
        {"t": 9.1, "action": "scroll", "dy": 400},
    ]
    result = rules.grade(recording(steps, seconds=12, final_state=HONEST_SHEET_FINAL), task=SHEET_TASK)
    assert not paid(result)
    assert "fabricated_state" in flags(result)


def test_a_typed_value_that_was_never_typed_is_fabricated():
    task = TaskContext(title="Sign up", instructions='Type the username "marisol.v" and submit.', expected_minutes=2)
    steps = [
        {"t": 1.5, "action": "click", "target": "Username field"},
        {"t": 4.0, "action": "click", "target": "Submit"},
    ]
    result = rules.grade(recording(steps, seconds=6, final_state='Username: "marisol.v"'), task=task)
    assert not paid(result)
    assert "fabricated_state" in flags(result)


def test_one_single_click_for_a_multi_step_task_is_not_paid():
    result = rules.grade(
        recording([{"t": 1.0, "action": "click", "target": "Blank"}], seconds=2, final_state=""), task=SHEET_TASK
    )
    assert not paid(result)


def test_booking_the_wrong_meeting_fails_its_required_check():
    steps = [
        {"t": 1.2, "action": "navigate", "url": "https://calendar.example.com/week"},
        {"t": 5.0, "action": "click", "target": "Thu 13 March, 15:30"},
        {"t": 8.7, "action": "type", "target": "Title", "text": "Design review"},
        {"t": 14.2, "action": "type", "target": "Guests", "text": "ana@example.org"},
        {"t": 17.9, "action": "click", "target": 'button "Save"'},
    ]
    result = rules.grade(
        recording(steps, seconds=20, final_state="Design review, 13/03/2026 15:30, guest ana@example.org"),
        task=CALENDAR_TASK,
    )
    assert not paid(result)
    failed = [
        check["check"] for check in result.breakdown["outcome"]["checks"] if check["required"] and not check["passed"]
    ]
    assert failed == ["shows: 14 March 2026"]
    assert any("Required check failed: shows: 14 March 2026" in reason for reason in result.reasons)


def test_the_right_meeting_in_another_date_format_is_paid():
    steps = [
        {"t": 1.2, "action": "navigate", "url": "https://calendar.example.com/week"},
        {"t": 5.0, "action": "click", "target": "Fri 14 March, 15:30"},
        {"t": 8.7, "action": "type", "target": "Title", "text": "Design review"},
        {"t": 14.2, "action": "type", "target": "Guests", "text": "ana@example.org"},
        {"t": 17.9, "action": "click", "target": 'button "Save"'},
    ]
    final = "Design review, 2026-03-14 15:30, guest ANA@example.org"
    assert paid(rules.grade(recording(steps, seconds=20, final_state=final), task=CALENDAR_TASK))


def test_a_typo_in_a_typed_value_is_a_wrong_value():
    steps = honest_sheet_steps()
    steps[2] = {**steps[2], "text": "Q2 Sals"}
    result = rules.grade(honest_sheet(steps=steps, final_state="A7: North, B7: 48,250.75"), task=SHEET_TASK)
    assert not paid(result)


def test_robotic_identical_intervals_are_not_paid():
    steps = [{**step, "t": 1.0 + index * 0.5} for index, step in enumerate(honest_sheet_steps())]
    result = rules.grade(honest_sheet(steps=steps, seconds=8), task=SHEET_TASK)
    assert not paid(result)
    assert "robotic_timing" in flags(result)


def test_superhuman_speed_is_impossible():
    steps = [{**step, "t": index * 0.01 + (index % 3) * 0.004} for index, step in enumerate(honest_sheet_steps())]
    result = rules.grade(honest_sheet(steps=steps, seconds=0.2), task=SHEET_TASK)
    assert not paid(result)
    assert "impossible_speed" in flags(result)


def test_times_that_go_backwards_are_not_a_recording():
    # The validator refuses this; the grader must not pay it either if handed one directly.
    demo = honest_sheet()
    demo["steps"][5] = {**demo["steps"][5], "t": 2.0}
    result = rules.grade(demo, task=SHEET_TASK)
    assert not paid(result)
    assert "time_out_of_order" in flags(result)


@pytest.mark.parametrize(
    ("start", "claim_offset", "submit_offset", "seconds", "why"),
    [
        (datetime(2099, 1, 1, tzinfo=UTC), -60, 600, 40, "after it was submitted"),
        (START - timedelta(days=365), -60, 600, 40, "before the task was claimed"),
        (START, 0, 1, 360, "after it was submitted"),
    ],
    ids=["dated-2099", "a-year-before-the-claim", "six-minutes-submitted-one-second-after-claiming"],
)
def test_recorded_times_outside_the_claim_window_are_not_paid(start, claim_offset, submit_offset, seconds, why):
    task = TaskContext(
        **{
            **SHEET_TASK.__dict__,
            "claimed_at": START + timedelta(seconds=claim_offset),
            "submitted_at": START + timedelta(seconds=submit_offset),
        }
    )
    steps = [{**step, "t": step["t"] * seconds / 40} for step in honest_sheet_steps()]
    result = rules.grade(honest_sheet(steps=steps, seconds=seconds, start=start), task=task)
    assert not paid(result)
    assert why in flags(result)["outside_claim_window"]


def test_declaring_more_work_than_the_claim_lasted_is_outside_the_window():
    task = TaskContext(**{**SHEET_TASK.__dict__, "claimed_at": START, "submitted_at": START + timedelta(seconds=30)})
    steps = [{**step, "t": step["t"] * 9} for step in honest_sheet_steps()]
    result = rules.grade(honest_sheet(steps=steps, seconds=360, start=START - timedelta(seconds=100)), task=task)
    assert not paid(result)
    assert "outside_claim_window" in flags(result)


def test_a_real_demonstration_of_another_task_is_not_paid():
    result = rules.grade(honest_sheet(), task=CALENDAR_TASK)
    assert not paid(result)
    assert result.breakdown["gate"]["score"] == str(rules.FAILED_GATE_FACTOR)


# ---- the rubric's contract ----------------------------------------------------------------------------


def test_every_grade_records_the_agent_the_rubric_version_and_each_component():
    result = rules.grade(honest_sheet(), task=SHEET_TASK)
    assert result.rubric_version == rules.RUBRIC_VERSION
    assert result.breakdown["gate"]["agent"] == {
        "name": rules.AGENT_NAME,
        "rubric_version": str(rules.RUBRIC_VERSION),
        "grader": "rules",
    }
    assert set(result.breakdown) == {"outcome", "process", "efficiency", "gate"}
    # Pages show every part as a row: score, weight and reasons.
    assert all({"score", "weight", "reasons"} <= set(part) for part in result.breakdown.values())


def test_a_failed_required_check_keeps_the_score_under_the_threshold_however_clean_the_work():
    assert rules.FAILED_GATE_FACTOR * 1 < THRESHOLD


def test_factory_checks_replace_the_proposed_ones():
    from pools.grading.checks import Check

    strict = TaskContext(**{**SHEET_TASK.__dict__, "checks": (Check("shows", "South"),)})
    result = rules.grade(honest_sheet(), task=strict)
    assert [check["check"] for check in result.breakdown["outcome"]["checks"]] == ["shows: South"]
    assert not paid(result)


def test_missing_evidence_lowers_confidence_below_the_default_review_line():
    vague = TaskContext(title="Tidy up", instructions="Tidy up the page.", expected_minutes=2)
    demo = recording([{"t": 1.0, "action": "click", "target": "Menu"}], seconds=3)
    result = rules.grade(demo, task=vague)
    assert result.confidence < Decimal(str(settings.FORGE_REVIEW_BELOW_CONFIDENCE))
    assert not paid(result)


def test_the_default_review_line_holds_low_confidence():
    assert Decimal(str(settings.FORGE_REVIEW_BELOW_CONFIDENCE)) > 0


def test_a_final_state_that_restates_the_values_is_not_an_echo():
    task = TaskContext(
        title="New contact", instructions="Add a new contact named John Smith with phone 555-1234.", expected_minutes=2
    )
    steps = [
        {"t": 1.0, "action": "click", "target": "New contact"},
        {"t": 4.2, "action": "type", "target": "Name", "text": "John Smith"},
        {"t": 9.0, "action": "type", "target": "Phone", "text": "555-1234"},
        {"t": 11.5, "action": "click", "target": 'button "Save"'},
    ]
    result = rules.grade(
        recording(steps, seconds=14, final_state="Contact John Smith with phone 555-1234 added."), task=task
    )
    assert "instructions_echoed" not in flags(result)
    assert paid(result)


def test_asked_to_type_but_typing_nothing_fails_even_an_optional_typed_check():
    task = TaskContext(title="Sign in", instructions='Enter the code "7Q" and press submit.', expected_minutes=1)
    clicks_only = recording(
        [{"t": 1.0, "action": "click", "target": "Code"}, {"t": 2.5, "action": "click", "target": 'button "Submit"'}],
        seconds=4,
        final_state="Signed in",
    )
    result = rules.grade(clicks_only, task=task)
    assert not paid(result)
    assert any("Nothing was typed for typed: 7Q" in reason for reason in result.reasons)
    typed = recording(
        [
            {"t": 1.0, "action": "type", "target": "Code", "text": "7Q"},
            {"t": 2.5, "action": "click", "target": 'button "Submit"'},
        ],
        seconds=4,
        final_state="Signed in",
    )
    assert paid(rules.grade(typed, task=task))


# ---- evidence that names no task word (rubric 2, kinds and missed keystrokes) -------------------

COUNT_TASK = TaskContext(title="Count", instructions="How many red triangles are on the board?", expected_minutes=1)
DIGIT_TASK = TaskContext(title="Pick", instructions="Click on a blue digit.", expected_minutes=1)
COLOUR_TASK = TaskContext(title="Swatch", instructions="Select the orange colored tile.", expected_minutes=1)
FIELD_TASK = TaskContext(title="Focus", instructions="Put the cursor in the comment textbox.", expected_minutes=1)
CODE_TASK = TaskContext(title="Code", instructions='Enter "K7Q2P" into the box and press Submit.', expected_minutes=1)


def test_a_quantity_question_answered_with_a_number_is_paid():
    steps = [{"t": 2.4, "action": "click", "target": 'button "4"'}]
    result = rules.grade(recording(steps, seconds=3, final_state="[1] | [4] (focused) | [7]"), task=COUNT_TASK)
    assert paid(result), result.reasons


def test_a_quantity_question_answered_with_a_word_control_is_not_paid():
    steps = [{"t": 2.4, "action": "click", "target": 'button "Cancel"'}]
    result = rules.grade(recording(steps, seconds=3, final_state="[1] | [4] | [Cancel] (focused)"), task=COUNT_TASK)
    assert not paid(result)


def test_a_number_clicked_for_a_task_that_asks_for_no_number_is_not_paid():
    steps = [{"t": 2.4, "action": "click", "target": 'link "2" .page-link'}]
    result = rules.grade(recording(steps, seconds=3, final_state="page 2"), task=FIELD_TASK)
    assert not paid(result)


def test_a_target_of_the_kind_asked_for_is_about_the_task():
    digit = rules.grade(
        recording([{"t": 1.8, "action": "click", "target": 'drawn text "7"'}], seconds=3), task=DIGIT_TASK
    )
    letter = rules.grade(
        recording([{"t": 1.8, "action": "click", "target": 'drawn text "q"'}], seconds=3), task=DIGIT_TASK
    )
    assert paid(digit), digit.reasons
    assert not paid(letter)
    field = rules.grade(
        recording([{"t": 1.1, "action": "click", "target": "text field #comment"}], seconds=2, final_state="(none)"),
        task=FIELD_TASK,
    )
    assert paid(field), field.reasons


def test_a_colored_tile_is_a_color_target():
    steps = [{"t": 1.5, "action": "click", "target": "div .color #swatch-3"}]
    assert paid(rules.grade(recording(steps, seconds=2, final_state="(none)"), task=COLOUR_TASK))
    steps = [{"t": 1.5, "action": "click", "target": 'button "Next"'}]
    assert not paid(rules.grade(recording(steps, seconds=2, final_state="(none)"), task=COLOUR_TASK))


def test_a_value_in_the_field_the_farmer_clicked_was_entered_even_if_keystrokes_were_missed():
    steps = [
        {"t": 1.2, "action": "click", "target": "text field #code"},
        {"t": 4.9, "action": "click", "target": 'button "Submit" #subbtn'},
    ]
    final = 'Form fields: text field#code: "K7Q2P". Visible text: [Submit] (focused)'
    result = rules.grade(recording(steps, seconds=6, final_state=final), task=CODE_TASK)
    assert paid(result), result.reasons
    assert "fabricated_state" not in flags(result)


def test_a_value_in_a_field_no_step_touched_is_still_fabricated():
    steps = [
        {"t": 1.2, "action": "click", "target": "text field #search"},
        {"t": 4.9, "action": "click", "target": 'button "Submit" #subbtn'},
    ]
    final = 'Form fields: text field#code: "K7Q2P". Visible text: [Submit] (focused)'
    result = rules.grade(recording(steps, seconds=6, final_state=final), task=CODE_TASK)
    assert not paid(result)
    assert "fabricated_state" in flags(result)


# ---- more kinds of recordings that do not do the task -------------------------------------------

FABRICATED_STEPS = [
    {"t": 1.4, "action": "navigate", "url": "https://sheets.example.com/new"},
    {"t": 6.0, "action": "click", "target": 'Sheet name "Q2 Sales"'},
    {"t": 12.0, "action": "click", "target": 'Cell B7 "48,250.75"'},
    {"t": 15.0, "action": "click", "target": 'Cell A7 "North"'},
    {"t": 20.0, "action": "key", "key": "Ctrl+S"},
]


@pytest.mark.parametrize("final_state", ["", HONEST_SHEET_FINAL])
def test_steps_written_to_carry_the_values_with_nothing_typed_are_fabricated(final_state):
    result = rules.grade(
        recording(FABRICATED_STEPS, seconds=25, final_state=final_state, app="Sheets"), task=SHEET_TASK
    )
    assert not paid(result)
    assert "fabricated_state" in flags(result)


def test_values_only_in_a_url_and_a_save_shortcut_are_not_typing():
    steps = [
        {"t": 1.4, "action": "navigate", "url": "https://sheets.example.com/new?name=Q2%20Sales&B7=48250.75"},
        {"t": 6.0, "action": "key", "key": "Ctrl+S"},
        {"t": 8.0, "action": "key", "key": "Enter"},
    ]
    result = rules.grade(recording(steps, seconds=12, final_state=HONEST_SHEET_FINAL, app="Sheets"), task=SHEET_TASK)
    assert not paid(result)
    assert "fabricated_state" in flags(result)


@pytest.mark.parametrize("keys", [["Ctrl+V"], ["Meta+V"], ["ArrowUp", "ArrowUp"], ["K", "7"]])
def test_a_paste_or_arrow_keys_into_the_clicked_field_are_entering_the_value(keys):
    steps = [{"t": 1.2, "action": "click", "target": "text field #code"}]
    steps += [{"t": 2.0 + index, "action": "key", "key": key} for index, key in enumerate(keys)]
    steps.append({"t": 6.0, "action": "click", "target": 'button "Submit" #subbtn'})
    final = 'Form fields: text field#code: "K7Q2P". Visible text: [Submit] (focused)'
    result = rules.grade(recording(steps, seconds=8, final_state=final), task=CODE_TASK)
    assert paid(result), result.reasons


def test_a_recording_of_the_right_app_doing_something_else_is_not_paid():
    steps = [
        {"t": 1.4, "action": "navigate", "url": "https://sheets.example.com/new"},
        {"t": 5.0, "action": "click", "target": "Cell C3"},
        {"t": 7.2, "action": "type", "target": "Cell C3", "text": "Groceries"},
        {"t": 9.0, "action": "key", "key": "Enter"},
        {"t": 12.5, "action": "type", "target": "Cell C4", "text": "112.40"},
        {"t": 15.0, "action": "key", "key": "Ctrl+S"},
    ]
    final = 'Spreadsheet "Household" saved; C3: Groceries, C4: 112.40'
    result = rules.grade(recording(steps, seconds=20, final_state=final, app="Sheets"), task=SHEET_TASK)
    assert not paid(result)
