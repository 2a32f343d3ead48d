"""Success checks: proposed from instructions, evaluated against what a recording shows, stored as JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pools.grading import TaskContext
from pools.grading.checks import (
    ACTED_ON,
    APP,
    FINAL_STATE,
    MILESTONES,
    NOT_SHOWS,
    SHOWS,
    STEP_TARGETS,
    SUBMITTED,
    TYPED,
    TYPED_TEXT,
    URLS,
    VISITED,
    Check,
    ChecksInvalid,
    checks_evaluate,
    checks_from_json,
    checks_propose,
    checks_to_json,
    dates_in,
    near_miss,
    times_in,
    value_found,
)
from tests.pools.demonstrations import recording_data


def demo(steps: list[dict], final_state: str = "", app: str = "") -> dict:
    """A five-minute recording as the checks read it: raw, not validated."""
    return recording_data(steps, seconds=300, final_state=final_state, app=app)


def proposed(instructions: str) -> dict[str, Check]:
    return {check.value: check for check in checks_propose("A task", instructions)}


# ---- propose ---------------------------------------------------------------------------------------


def test_quoted_strings_become_required_checks_whose_kind_follows_the_verb():
    checks = proposed('Rename the file to "Q3 Plan" and click "Share", then open "Team notes".')
    assert checks["Q3 Plan"].kind == TYPED and checks["Q3 Plan"].required
    assert checks["Share"].kind == ACTED_ON and checks["Share"].match_case
    assert checks["Team notes"].kind == ACTED_ON


def test_one_or_two_character_quotes_are_only_optional():
    assert not proposed('Click the "x" to close.')["x"].required


def test_dates_times_amounts_emails_and_urls_are_required():
    checks = proposed(
        "Book the room for 14 March 2026 at 3:30 PM, pay $1,250.00, invite ana.lopez@example.org "
        "and file it on https://intranet.example.com/rooms."
    )
    assert checks["14 March 2026"].required and checks["14 March 2026"].kind == SHOWS
    assert checks["3:30 PM"].required
    assert checks["1,250.00"].required
    assert checks["ana.lopez@example.org"].required
    assert checks["https://intranet.example.com/rooms"].kind == VISITED


def test_a_date_or_time_to_type_is_a_typed_check():
    assert proposed("Enter 03/04/2014 as the date.")["03/04/2014"].kind == TYPED
    assert proposed("Select 03/04/2014 in the calendar.")["03/04/2014"].kind == SHOWS


def test_names_and_bare_numbers_are_optional_and_sentence_starts_are_not_names():
    checks = proposed("Forward the invoice from Maria Gonzalez to Tom. Keep 3 copies.")
    assert set(checks) >= {"Maria Gonzalez", "Tom", "3"}
    assert not any(check.required for value, check in checks.items() if value in {"Maria Gonzalez", "Tom", "3"})
    assert "Forward" not in checks and "Keep" not in checks


def test_a_coordinate_is_required_and_so_is_pressing_the_final_control():
    checks = proposed("Select cell (3, 4) and press submit.")
    assert checks["(3, 4)"].required
    assert checks["submit"].kind == SUBMITTED and checks["submit"].required


def test_pressing_the_final_control_may_be_any_final_button_or_key():
    check = (Check(SUBMITTED, "login"),)
    by_label = demo(
        [{"t": 1, "action": "click", "target": 'button "Login"'}, {"t": 2, "action": "click", "target": "x"}]
    )
    ok_button = demo(
        [
            {"t": 1, "action": "type", "target": "User", "text": "ana"},
            {"t": 2, "action": "click", "target": 'button "OK"'},
        ]
    )
    enter = demo(
        [{"t": 1, "action": "type", "target": "User", "text": "ana"}, {"t": 2, "action": "key", "key": "Enter"}]
    )
    unfinished = demo(
        [{"t": 1, "action": "type", "target": "User", "text": "ana"}, {"t": 2, "action": "click", "target": "User"}]
    )
    results = [checks_evaluate(check, recording)[0].passed for recording in (by_label, ok_button, enter, unfinished)]
    assert results == [True, True, True, False]


def test_text_in_parentheses_and_later_paragraphs_does_not_make_names():
    checks = proposed("Click the button.\n\nSetting: a practice page (Example Corp sandbox) in a browser.")
    assert "Example Corp" not in checks and "Setting" not in checks


def test_proposals_are_deterministic_and_without_duplicates():
    text = 'Type "Budget" then type "Budget" again on 2026-01-05.'
    first = checks_propose("t", text)
    assert first == checks_propose("t", text)
    assert [check.value for check in first].count("Budget") == 1


# ---- normalisation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written", ["03/04/2014", "2014-03-04", "March 4, 2014", "4 March 2014", "Mar 4 2014", "3.4.2014"]
)
def test_a_date_matches_in_every_common_format(written):
    assert value_found("03/04/2014", written.casefold())


def test_a_different_date_does_not_match():
    assert not value_found("03/04/2014", "2014-04-03")
    assert not value_found("05/27/2016", "05/20/2016")
    assert dates_in("31/12/2025") == {(2025, 12, 31)}  # the first part cannot be a month


def test_times_match_across_12_and_24_hour_clocks_but_not_across_noon():
    assert times_in("5:29 pm") == {(17, 29)}
    assert value_found("5:29 PM", "time field: 17:29")
    assert not value_found("3:35 PM", "time field: 03:35")
    assert not value_found("12:23 PM", "00:23")


def test_numbers_ignore_thousands_separators_but_not_value():
    assert value_found("$1,250.00", "total 1250 usd")
    assert value_found("1250", "1,250")
    assert not value_found("1250", "12500")
    assert not value_found("1,250", "1,350")


def test_text_ignores_case_and_spacing_but_needs_a_word_boundary():
    assert value_found("Budget 2026", "spreadsheet   budget 2026 saved")
    assert value_found("textarea", "text area")
    assert not value_found("Budget 2026", "budget 20267x")
    assert not value_found("cat", "concatenate")


def test_a_typo_is_a_near_miss_not_a_match():
    assert near_miss("Patrizia", "patrozia") == "patrozia"
    assert near_miss("Patrizia", "completely different") is None
    assert near_miss("03/04/2014", "03/05/2014") is None  # dates are exact, never "near"


# ---- evaluate ---------------------------------------------------------------------------------------


def test_each_check_says_where_its_evidence_was_found():
    recording = demo(
        [
            {"t": 1, "action": "navigate", "url": "https://calendar.example.com/week"},
            {"t": 5, "action": "click", "target": 'button "New event"'},
            {"t": 9, "action": "type", "target": "Title", "text": "Design review"},
        ],
        final_state="Event Design review on 2026-03-14 15:30",
    )
    checks = (
        Check(TYPED, "design review"),
        Check(ACTED_ON, "New event", match_case=True),
        Check(SHOWS, "14/03/2026"),
        Check(SHOWS, "3:30 PM"),
        Check(VISITED, "calendar.example.com"),
        Check(NOT_SHOWS, "Cancelled"),
    )
    results = checks_evaluate(checks, recording)
    assert [result.passed for result in results] == [True] * 6
    assert [result.where for result in results] == [TYPED_TEXT, STEP_TARGETS, FINAL_STATE, FINAL_STATE, URLS, None]


def test_wrong_values_fail():
    recording = demo([{"t": 1, "action": "type", "target": "Title", "text": "Design reveiw"}], "Event on 2026-03-15")
    results = checks_evaluate((Check(TYPED, "Design review"), Check(SHOWS, "2026-03-14")), recording)
    assert [result.passed for result in results] == [False, False]
    assert results[0].near_miss == "design reveiw"


def test_a_quoted_label_must_be_the_very_control_clicked():
    recording = demo([{"t": 1, "action": "click", "target": 'link "viverra" .alink'}])
    exact = Check(ACTED_ON, "Viverra", match_case=True)
    assert not checks_evaluate((exact,), recording)[0].passed
    assert checks_evaluate((Check(ACTED_ON, "Viverra"),), recording)[0].passed
    other = demo([{"t": 1, "action": "click", "target": 'link "varius." .alink'}])
    assert not checks_evaluate((Check(ACTED_ON, "varius"),), other)[0].passed


def test_a_typed_value_counts_when_a_form_field_holds_it():
    recording = demo([{"t": 1, "action": "click", "target": "Name"}], final_state='Form fields: text field#name: "Ana"')
    assert checks_evaluate((Check(TYPED, "Ana"),), recording)[0].where == FINAL_STATE


def test_text_typed_in_bursts_into_one_field_is_joined():
    recording = demo(
        [
            {"t": 1, "action": "type", "target": "Password", "text": "P5"},
            {"t": 2, "action": "type", "target": "Password", "text": "ZMI"},
        ]
    )
    assert checks_evaluate((Check(TYPED, "P5ZMI"),), recording)[0].passed


def test_milestones_must_be_reached_in_order():
    steps = [
        {"t": 1, "action": "click", "target": "Cart"},
        {"t": 2, "action": "click", "target": "Checkout"},
        {"t": 3, "action": "click", "target": "Pay now"},
    ]
    in_order = Check(MILESTONES, values=("cart", "checkout", "pay"))
    reversed_order = Check(MILESTONES, values=("pay", "cart"))
    results = checks_evaluate((in_order, reversed_order), demo(steps))
    assert [result.passed for result in results] == [True, False]


def test_the_app_is_read_from_the_recording():
    results = checks_evaluate(
        (Check(APP, "LibreOffice Calc"), Check(APP, "Excel")), demo([], app="LibreOffice Calc 24")
    )
    assert [result.passed for result in results] == [True, False]


# ---- JSON -------------------------------------------------------------------------------------------


def test_checks_round_trip_through_json():
    checks = (
        *checks_propose("t", 'Type "Q3 Plan", click "Share" on 2026-01-05'),
        Check(MILESTONES, values=("open", "save")),
        Check(NOT_SHOWS, "Error", required=False),
    )
    stored = json.loads(json.dumps(checks_to_json(checks)))
    assert checks_from_json(stored) == checks


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "shows"}, "checks[0].value"),
        ({"kind": "guess", "value": "x"}, "checks[0].kind"),
        ({"kind": "shows", "value": "  "}, "checks[0].value"),
        ({"kind": "shows", "value": "x", "required": "yes"}, "checks[0].required"),
        ({"kind": "shows", "value": "x", "colour": "red"}, "checks[0].colour"),
        ({"kind": "milestones", "values": ["only one"]}, "checks[0].values"),
        ({"kind": "milestones", "values": ["a", 3]}, "checks[0].values[1]"),
        ({"kind": "shows", "value": "x" * 501}, "checks[0].value"),
        ({"kind": "shows", "value": "x", "match_case": 1}, "checks[0].match_case"),
        ("shows", "checks[0]"),
    ],
)
def test_bad_json_names_the_bad_field(data, field):
    with pytest.raises(ChecksInvalid) as error:
        checks_from_json([data])
    assert error.value.field == field


def test_checks_must_be_a_list_of_bounded_length():
    with pytest.raises(ChecksInvalid, match="checks"):
        checks_from_json({"kind": "shows"})
    with pytest.raises(ChecksInvalid, match="at most"):
        checks_from_json([{"kind": "shows", "value": "x"}] * 51)


# ---- TaskContext ----------------------------------------------------------------------------------


def test_task_context_keeps_its_old_shape_and_takes_checks_and_the_claim_window():
    old = TaskContext(title="t", instructions="i", expected_minutes=2)
    assert old.checks is None and old.claimed_at is None and old.submitted_at is None
    new = TaskContext(
        title="t",
        instructions="i",
        expected_minutes=2,
        checks=[Check(SHOWS, "x")],
        claimed_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert new.checks == (Check(SHOWS, "x"),)
    hash(new)  # graders cache per task


def test_task_context_refuses_a_naive_claim_time():
    with pytest.raises(ValueError, match="claimed_at"):
        TaskContext(title="t", instructions="i", expected_minutes=2, claimed_at=datetime(2026, 1, 1))


def test_in_rename_x_to_y_only_y_is_the_outcome():
    checks = proposed('Rename the file "draft-7.docx" to "Q3 Report.docx" and replace "TBD" with "Final".')
    assert checks["Q3 Report.docx"].kind == TYPED and checks["Q3 Report.docx"].required
    assert not checks["draft-7.docx"].required
    assert not checks["TBD"].required
    assert checks["Final"].required


def test_a_street_address_is_one_required_value():
    checks = proposed("Ship the order to 221 Harbor Lane, Springfield, and type the address into the form.")
    assert checks["221 Harbor Lane"].required
    assert "221" not in checks and "Harbor Lane" not in checks
    recording = demo([{"t": 1, "action": "type", "target": "Street", "text": "221 Harbor  lane"}])
    assert checks_evaluate((checks["221 Harbor Lane"],), recording)[0].passed
    wrong = demo([{"t": 1, "action": "type", "target": "Street", "text": "212 Harbor Lane"}])
    assert not checks_evaluate((checks["221 Harbor Lane"],), wrong)[0].passed
