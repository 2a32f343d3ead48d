"""core.db: the set-based writes of the batch paths store exactly what `save()` stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from core.db import bulk_update_values, rows_json
from pools.models import Claim, Submission
from pools.services.claims import claim_create
from pools.services.submissions import submission_create
from tests.factories import CreatorFactory, FarmerFactory, demonstration
from tests.money_helpers import funded_factory

pytestmark = pytest.mark.django_db

FIELDS = [
    "quality_score",
    "score_breakdown",
    "score_reasons",
    "scored_at",
    "needs_review",
    "gross_payout",
    "scoring_error",
    "next_attempt_at",
    "status",
]


def submissions(count: int) -> list[Submission]:
    factory = funded_factory(CreatorFactory(), reward="0.2", deposit="10")
    rows = []
    for _ in range(count):
        farmer = FarmerFactory()
        claim = claim_create(factory=factory, farmer=farmer)
        rows.append(submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration()))
    return rows


def stored(row: Submission) -> tuple:
    fresh = Submission.objects.get(pk=row.pk)
    return tuple(getattr(fresh, name) for name in FIELDS)


def set_values(row: Submission, variant: int) -> None:
    row.quality_score = Decimal("0.8125") if variant else Decimal("0.0001")
    row.score_breakdown = {"quote": 'say "hi" \\ back', "unicode": "écran ✓", "n": 3, "nested": [1, None, True]}
    row.score_reasons = ["first", "second"] if variant else []
    # Microseconds and a non-UTC offset survive.
    row.scored_at = datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    row.needs_review = bool(variant)
    row.gross_payout = 10**36 + 7 if variant else 0  # beyond a float's precision
    row.scoring_error = "it's a 'quote' and a ; semicolon"
    row.next_attempt_at = None
    row.status = Submission.Status.SCORING


def test_bulk_update_values_stores_what_save_stores():
    by_save, by_bulk = submissions(2), submissions(2)
    for variant, row in enumerate(by_save):
        set_values(row, variant)
        row.save(update_fields=FIELDS)
    for variant, row in enumerate(by_bulk):
        set_values(row, variant)
    bulk_update_values(Submission, by_bulk, FIELDS)

    assert [stored(row) for row in by_bulk] == [stored(row) for row in by_save]
    assert stored(by_bulk[1])[FIELDS.index("gross_payout")] == 10**36 + 7
    assert stored(by_bulk[1])[FIELDS.index("scored_at")].microsecond == 123456


def test_bulk_update_values_writes_only_the_given_rows_and_fields():
    rows = submissions(3)
    before = Submission.objects.get(pk=rows[2].pk)
    rows[0].scoring_error = "changed"
    rows[0].quality_score = Decimal("0.5")  # set but not in the field list: not written
    bulk_update_values(Submission, rows[:2], ["scoring_error"])
    assert Submission.objects.get(pk=rows[0].pk).scoring_error == "changed"
    assert Submission.objects.get(pk=rows[0].pk).quality_score is None
    assert Submission.objects.get(pk=rows[2].pk).scoring_error == before.scoring_error
    assert Claim.objects.count() == 3


def test_rows_json_is_exact():
    assert rows_json([(1, 'a"b', Decimal("0.10"), 10**38 - 1, None, True)]) == (
        '[[1,"a\\"b","0.10",99999999999999999999999999999999999999,null,true]]'
    )
    assert rows_json([(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),)]) == '[["2026-01-02T03:04:05.000006+00:00"]]'
    with pytest.raises(TypeError):
        rows_json([(object(),)])


def test_bulk_insert_values_skips_conflicts_on_the_unique_key_and_refuses_a_value_too_long():
    from django.db import DataError, transaction

    from core.db import bulk_insert_values
    from notifications.models import Notification

    farmer = FarmerFactory()
    now = datetime(2026, 12, 7, 4, 0, 0, 123456, tzinfo=UTC)
    fields = (
        "user",
        "kind",
        "subject",
        "key",
        "created_at",
        "email_wanted",
        "email_attempts",
        "payload",
        "body",
        "url",
    )
    row = (farmer.pk, "submission.paid", "Paid", "paid:1", now, True, 0, {"amount": Decimal("0.000001")}, "", "")
    assert bulk_insert_values(Notification, fields, [row], unique=("user", "key")) == 1
    other = (farmer.pk, "submission.paid", "Again", "paid:1", now, False, 0, {}, "", "")  # the same (user, key)
    assert (
        bulk_insert_values(Notification, fields, [other, (*row[:3], "paid:2", *row[4:])], unique=("user", "key")) == 1
    )
    stored = Notification.objects.get(key="paid:1")
    assert (stored.subject, stored.created_at, stored.payload) == ("Paid", now, {"amount": "0.000001"})
    # Cut to the column's width it would collide with another key: refused, as bulk_create would.
    with pytest.raises(DataError), transaction.atomic():
        bulk_insert_values(Notification, fields, [(*row[:3], "k" * 121, *row[4:])], unique=("user", "key"))
    assert Notification.objects.count() == 2
    assert bulk_insert_values(Notification, fields, [], unique=("user", "key")) == 0


def test_the_any_id_lookup_finds_what_in_finds_with_one_parameter():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    rows = submissions(3)
    wanted = [rows[2].pk, rows[0].pk, rows[0].pk]
    assert sorted(Submission.objects.filter(pk__any_id=wanted).values_list("pk", flat=True)) == sorted(
        Submission.objects.filter(pk__in=wanted).values_list("pk", flat=True)
    )
    farmers = [rows[1].farmer_id]
    with CaptureQueriesContext(connection) as queries:
        found = list(Submission.objects.filter(farmer_id__any_id=farmers).values_list("pk", flat=True))  # a foreign key
    assert found == [rows[1].pk]
    assert "= ANY(" in queries[0]["sql"]


def test_bulk_update_values_refuses_a_value_too_long_for_its_column_as_save_does():
    """A record set typed varchar(255) would cut the value silently; typed text, the UPDATE's
    own assignment refuses it (nothing is written)."""
    from django.db import DataError, transaction

    [row] = submissions(1)
    row.scoring_error = "x" * 300
    with pytest.raises(DataError), transaction.atomic():
        row.save(update_fields=["scoring_error"])
    with pytest.raises(DataError), transaction.atomic():
        bulk_update_values(Submission, [row], ["scoring_error"])
    assert Submission.objects.get(pk=row.pk).scoring_error == ""
