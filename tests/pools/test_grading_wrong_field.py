"""The task's values typed where they cannot be the app's values are not paid (rule
`wrong_field`, pools/grading/rules.py `_wrong_field`): into the browser's address bar, or all at
once into one field. Honest work that uses the address bar to navigate, or a task whose values
are the two ends of one item, is paid. Fixtures written here, never the evaluation corpus."""

from __future__ import annotations

import pytest

from pools.grading import TaskContext, rules
from tests.pools.demonstrations import (
    CALENDAR_TASK,
    HONEST_SHEET_FINAL,
    SHEET_TASK,
    flags,
    honest_sheet,
    honest_sheet_steps,
    paid,
    recording,
)

SHEET_VALUES = "Q2 Sales North 48,250.75"
CALENDAR_FINAL = 'Event "Design review" Sat 14 March 2026 15:30-16:00, guests: ana@example.org (saved)'


def sheet_typed_into(target: str, *texts: str) -> dict:
    """The sheet app opened, then the values typed into `target` (one step per text), saved."""
    steps = [
        {"t": 1.4, "action": "navigate", "url": "https://sheets.example.com/new"},
        {"t": 6.9, "action": "click", "target": target},
    ]
    t = 9.0
    for text in texts:
        steps.append({"t": t, "action": "type", "target": target, "text": text})
        t += 6.0
    steps += [{"t": t, "action": "key", "key": "Enter"}, {"t": t + 7.0, "action": "key", "key": "Ctrl+S"}]
    return honest_sheet(steps=steps)


@pytest.mark.parametrize(
    "target",
    ["Address and search bar", "URL bar", "omnibox", "Location bar", "Search or type web address", "address field"],
)
def test_the_values_typed_into_the_address_bar_are_not_paid(target):
    result = rules.grade(sheet_typed_into(target, SHEET_VALUES), task=SHEET_TASK)
    assert not paid(result)
    assert "wrong_field" in flags(result)
    assert target in flags(result)["wrong_field"]
    assert result.breakdown["gate"]["score"] != "1"


def test_one_value_in_the_address_bar_and_the_rest_in_the_app_is_not_paid():
    steps = [dict(step) for step in honest_sheet_steps()]
    steps[2] = {"t": 9.2, "action": "type", "target": "Address and search bar", "text": "Q2 Sales"}
    result = rules.grade(honest_sheet(steps=steps), task=SHEET_TASK)
    assert not paid(result)
    assert "'Q2 Sales'" in flags(result)["wrong_field"]


@pytest.mark.parametrize("texts", [(SHEET_VALUES,), ("Q2 Sales ", "North 48,250.75"), ("Q2 Sales, 48250.75",)])
def test_all_the_values_typed_at_once_into_one_app_field_are_not_paid(texts):
    result = rules.grade(sheet_typed_into("Cell A1", *texts), task=SHEET_TASK)
    assert not paid(result)
    assert "wrong_field" in flags(result)
    assert "one field ('Cell A1')" in flags(result)["wrong_field"]


def test_the_whole_meeting_typed_into_its_title_is_not_paid():
    steps = [
        {"t": 1.2, "action": "navigate", "url": "https://calendar.example.com/week"},
        {"t": 5.0, "action": "click", "target": "Sat 14 March, 15:30"},
        {"t": 8.7, "action": "type", "target": "Title", "text": "Design review 14 March 2026 3:30 PM"},
        {"t": 14.2, "action": "type", "target": "Guests", "text": "ana@example.org"},
        {"t": 17.9, "action": "click", "target": 'button "Save"'},
    ]
    demo = recording(steps, seconds=22, final_state=CALENDAR_FINAL, app="Calendar")
    result = rules.grade(demo, task=CALENDAR_TASK)
    assert not paid(result)
    assert "wrong_field" in flags(result)


def test_the_honest_meeting_is_paid():
    steps = [
        {"t": 1.2, "action": "navigate", "url": "https://calendar.example.com/week"},
        {"t": 5.0, "action": "click", "target": "Sat 14 March, 15:30"},
        {"t": 8.7, "action": "type", "target": "Title", "text": "Design review"},
        {"t": 11.0, "action": "type", "target": "Date", "text": "14/03/2026"},
        {"t": 13.0, "action": "type", "target": "Start", "text": "3:30 PM"},
        {"t": 16.2, "action": "type", "target": "Guests", "text": "ana@example.org"},
        {"t": 19.9, "action": "click", "target": 'button "Save"'},
    ]
    result = rules.grade(recording(steps, seconds=24, final_state=CALENDAR_FINAL, app="Calendar"), task=CALENDAR_TASK)
    assert "wrong_field" not in flags(result)
    assert paid(result), result.reasons


def test_navigating_by_the_address_bar_then_typing_in_the_app_is_paid():
    steps = [
        {"t": 1.0, "action": "click", "target": "Address and search bar"},
        {"t": 2.5, "action": "type", "target": "Address and search bar", "text": "sheets.example.com/new"},
        {"t": 3.1, "action": "key", "key": "Enter"},
        *honest_sheet_steps()[1:],
    ]
    result = rules.grade(honest_sheet(steps=steps), task=SHEET_TASK)
    assert "wrong_field" not in flags(result)
    assert paid(result), result.reasons


def test_searching_a_value_in_the_address_bar_as_well_as_typing_it_in_the_app_is_paid():
    steps = [
        {"t": 0.8, "action": "type", "target": "Address and search bar", "text": "Q2 Sales"},
        {"t": 1.2, "action": "key", "key": "Enter"},
        *[{**step, "t": step["t"] + 1.0} for step in honest_sheet_steps()],
    ]
    result = rules.grade(honest_sheet(steps=steps, seconds=42), task=SHEET_TASK)
    assert "wrong_field" not in flags(result)
    assert paid(result), result.reasons


def test_a_url_the_task_asks_for_belongs_in_the_address_bar():
    task = TaskContext(
        title="Open the status page", instructions="Go to status.example.com and check it is up.", expected_minutes=1
    )
    steps = [
        {"t": 1.0, "action": "click", "target": "Address and search bar"},
        {"t": 2.5, "action": "type", "target": "Address and search bar", "text": "status.example.com"},
        {"t": 3.1, "action": "key", "key": "Enter"},
    ]
    demo = recording(steps, seconds=8, final_state="status.example.com: All systems operational")
    result = rules.grade(demo, task=task)
    assert "wrong_field" not in flags(result)


def test_the_two_ends_of_one_item_typed_into_one_field_are_one_value():
    task = TaskContext(
        title="Autocomplete",
        instructions='Enter an item that starts with "Cay" and ends with "ands".',
        expected_minutes=1,
    )
    steps = [
        {"t": 1.0, "action": "click", "target": "text field #tags"},
        {"t": 2.5, "action": "type", "target": "text field #tags", "text": "Cayman Isl"},
        {"t": 4.0, "action": "type", "target": "text field #tags", "text": "ands"},
        {"t": 5.5, "action": "click", "target": 'button "Submit"'},
    ]
    demo = recording(steps, seconds=7, final_state='Form fields: text field#tags: "Cayman Islands"')
    result = rules.grade(demo, task=task)
    assert "wrong_field" not in flags(result)
    assert paid(result), result.reasons


def test_the_honest_sheet_is_untouched_by_the_rule():
    result = rules.grade(honest_sheet(final_state=HONEST_SHEET_FINAL), task=SHEET_TASK)
    assert flags(result) == {} and paid(result)


def test_values_of_one_kind_may_share_a_field():
    task = TaskContext(
        title="Shopping note", instructions='Write a note containing "milk" and "eggs".', expected_minutes=1
    )
    steps = [
        {"t": 1.0, "action": "click", "target": "Note"},
        {"t": 3.0, "action": "type", "target": "Note", "text": "milk and eggs"},
        {"t": 5.5, "action": "click", "target": 'button "Save"'},
    ]
    result = rules.grade(recording(steps, seconds=7, final_state='Note saved: "milk and eggs"'), task=task)
    assert "wrong_field" not in flags(result)
    assert paid(result), result.reasons


def test_a_date_inside_the_quoted_message_is_not_a_value_apart():
    task = TaskContext(
        title="Reminder", instructions='Send the message "Meet on March 4, 2026" to the team.', expected_minutes=1
    )
    steps = [
        {"t": 1.0, "action": "click", "target": "Message"},
        {"t": 3.0, "action": "type", "target": "Message", "text": "Meet on March 4, 2026"},
        {"t": 6.5, "action": "click", "target": 'button "Send"'},
    ]
    result = rules.grade(recording(steps, seconds=8, final_state='Sent: "Meet on March 4, 2026"'), task=task)
    assert "wrong_field" not in flags(result)
