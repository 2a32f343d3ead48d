"""Longer desktop and web tasks of other kinds than the development corpus: the rules must
generalise. Each honest recording is paid; each recording submitted for another task is not."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pools.grading import TaskContext, rules
from tests.pools.demonstrations import paid, recording, timed_steps

START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)

CASES = {
    "spreadsheet": (
        TaskContext(
            title="Fill the expense sheet",
            instructions=(
                "Open expenses.xlsx, add a row for the taxi on 12/05/2026 costing $38.40 under Travel, "
                "and sort the sheet by date.\n\nUse the company laptop."
            ),
            expected_minutes=6,
        ),
        recording(
            timed_steps(
                [
                    (2.0, "click", {"target": "expenses.xlsx"}),
                    (9.4, "click", {"target": "Cell A14"}),
                    (12.1, "type", {"target": "Cell A14", "text": "12/05/2026"}),
                    (13.0, "key", {"key": "Tab"}),
                    (16.8, "type", {"target": "Cell B14", "text": "Taxi"}),
                    (17.5, "key", {"key": "Tab"}),
                    (21.2, "type", {"target": "Cell C14", "text": "38.40"}),
                    (22.0, "key", {"key": "Tab"}),
                    (25.9, "type", {"target": "Cell D14", "text": "Travel"}),
                    (31.3, "click", {"target": "Data"}),
                    (33.0, "click", {"target": "Sort range by column A"}),
                    (40.2, "key", {"key": "Ctrl+S"}),
                ]
            ),
            final_state="expenses.xlsx saved. Row 14: 2026-12-05 | Taxi | 38.40 | Travel. Sorted by Date.",
            app="LibreOffice Calc",
            start=START,
        ),
    ),
    "document": (
        TaskContext(
            title="Add a heading to the minutes",
            instructions=(
                'In the document "Team minutes", add the heading "Action items" and under it the line '
                '"Ana: send the budget by Friday".'
            ),
            expected_minutes=4,
        ),
        recording(
            timed_steps(
                [
                    (1.5, "navigate", {"url": "https://docs.example.com/d/team-minutes"}),
                    (7.2, "click", {"target": "End of document"}),
                    (9.0, "click", {"target": "Style: Heading 2"}),
                    (12.6, "type", {"target": "Document body", "text": "Action items"}),
                    (13.4, "key", {"key": "Enter"}),
                    (20.1, "type", {"target": "Document body", "text": "Ana: send the budget by Friday"}),
                ]
            ),
            final_state='Team minutes — heading "Action items"; line: Ana: send the budget by Friday',
            app="Google Docs",
            start=START,
        ),
    ),
    "calendar": (
        TaskContext(
            title="Book the dentist",
            instructions=(
                "Create a calendar event 'Dentist' on June 18, 2026 from 4:15 PM to 5:00 PM and add the note "
                "'bring insurance card'."
            ),
            expected_minutes=3,
        ),
        recording(
            timed_steps(
                [
                    (1.1, "click", {"target": "Create"}),
                    (4.0, "type", {"target": "Title", "text": "Dentist"}),
                    (8.2, "click", {"target": "Date picker"}),
                    (10.9, "click", {"target": "Thursday, June 18"}),
                    (14.3, "type", {"target": "Start time", "text": "4:15pm"}),
                    (17.0, "type", {"target": "End time", "text": "5:00pm"}),
                    (23.5, "type", {"target": "Description", "text": "bring insurance card"}),
                    (26.0, "click", {"target": 'button "Save"'}),
                ]
            ),
            final_state="Event Dentist, Thu 18 Jun 2026, 16:15–17:00. Note: bring insurance card.",
            app="Calendar",
            start=START,
        ),
    ),
    "form": (
        TaskContext(
            title="Register for the workshop",
            instructions=(
                "Fill the registration form on events.example.org with the name Priya Natarajan, "
                "email priya.n@example.net and 2 seats, then submit."
            ),
            expected_minutes=3,
        ),
        recording(
            timed_steps(
                [
                    (1.0, "navigate", {"url": "https://events.example.org/workshop/register"}),
                    (5.3, "click", {"target": "Full name"}),
                    (8.9, "type", {"target": "Full name", "text": "Priya Natarajan"}),
                    (10.0, "key", {"key": "Tab"}),
                    (15.2, "type", {"target": "Email", "text": "priya.n@example.net"}),
                    (18.4, "click", {"target": "Seats"}),
                    (19.6, "click", {"target": 'option "2"'}),
                    (23.0, "click", {"target": 'button "Submit"'}),
                ]
            ),
            final_state="Registration received for Priya Natarajan (priya.n@example.net), 2 seats.",
            start=START,
        ),
    ),
    "email": (
        TaskContext(
            title="Answer the supplier",
            instructions=(
                'Reply to the email with the subject "Invoice 4471" saying "Paid today, thank you." and archive it.'
            ),
            expected_minutes=3,
        ),
        recording(
            timed_steps(
                [
                    (1.4, "navigate", {"url": "https://mail.example.com/inbox"}),
                    (5.0, "click", {"target": 'row "Invoice 4471 — Acme Supplies"'}),
                    (8.6, "click", {"target": 'button "Reply"'}),
                    (15.9, "type", {"target": "Message body", "text": "Paid today, thank you."}),
                    (18.2, "click", {"target": 'button "Send"'}),
                    (21.7, "click", {"target": 'button "Archive"'}),
                ]
            ),
            final_state="Inbox: reply sent; conversation archived.",
            app="Mail",
            start=START,
        ),
    ),
    "shopping": (
        TaskContext(
            title="Order printer paper",
            instructions=(
                "On shop.example.com, add 3 packs of A4 printer paper (80 g) to the cart and check out with the "
                "coupon 'OFFICE10'. The total should be $26.97."
            ),
            expected_minutes=5,
        ),
        recording(
            timed_steps(
                [
                    (1.2, "navigate", {"url": "https://shop.example.com"}),
                    (4.6, "type", {"target": "Search", "text": "A4 printer paper 80g"}),
                    (5.3, "key", {"key": "Enter"}),
                    (11.8, "click", {"target": "A4 Printer Paper 80 g, 500 sheets"}),
                    (16.1, "type", {"target": "Quantity", "text": "3"}),
                    (18.0, "click", {"target": 'button "Add to cart"'}),
                    (24.4, "click", {"target": "Cart"}),
                    (29.7, "type", {"target": "Coupon code", "text": "OFFICE10"}),
                    (31.2, "click", {"target": 'button "Apply"'}),
                    (36.9, "click", {"target": 'button "Checkout"'}),
                ]
            ),
            final_state="Order confirmed: 3 x A4 Printer Paper 80 g, coupon OFFICE10, total $26.97",
            start=START,
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_honest_work_on_other_task_families_is_paid(name):
    task, demo = CASES[name]
    result = rules.grade(demo, task=task)
    assert paid(result), (
        result.score,
        result.confidence,
        result.breakdown["gate"],
        result.breakdown["outcome"]["checks"],
    )


@pytest.mark.parametrize(
    ("task_name", "demo_name"),
    [(task, demo) for task in sorted(CASES) for demo in sorted(CASES) if task != demo],
)
def test_a_real_recording_of_another_task_is_not_paid(task_name, demo_name):
    result = rules.grade(CASES[demo_name][1], task=CASES[task_name][0])
    assert not paid(result), (task_name, demo_name, result.score, result.breakdown["outcome"]["checks"])
