"""Near-duplicates by similarity (issue 16): a copy disguised by spacing, an added wait or one
changed character is held, across farmers and factories, with a hold naming the submission it
copies; recordings that differ in the keys pressed or the URLs visited are not copies; the
candidates of a whole batch come from one query, and signatures are read only for the pairs
that share a key."""

from __future__ import annotations

import copy

import pytest
from django.db import connection

from pools.models import Submission
from pools.services.batch import process_batch
from pools.services.claims import claim_create
from pools.services.scoring import near_duplicates
from pools.services.submissions import submission_create
from tests.factories import FarmerFactory, demonstration
from tests.money_helpers import funded_factory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def rules(settings):
    settings.FORGE_GRADER = "rules"


def submit(factory, demo: dict) -> Submission:
    farmer = FarmerFactory()
    claim = claim_create(factory=factory, farmer=farmer)
    return submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demo)


def spaced(demo):
    out = copy.deepcopy(demo)
    for step in out["steps"]:
        step["target"] = step["target"].replace(" ", "  ")
    return out


def with_a_wait(demo):
    out = copy.deepcopy(demo)
    out["steps"].insert(3, {"t": out["steps"][2]["t"] + 0.5, "action": "wait"})
    return out


def one_character(demo):
    out = copy.deepcopy(demo)
    typed = next(step for step in out["steps"] if step.get("text"))
    typed["text"] = typed["text"][:-1] + "Z"
    return out


@pytest.mark.parametrize("disguise", [spaced, with_a_wait, one_character])
def test_a_disguised_copy_in_another_factory_is_held_naming_the_original(creator, disguise):
    first = funded_factory(creator, reward="0.2", deposit="2", expected_minutes=6)
    second = funded_factory(creator, reward="0.2", deposit="2", expected_minutes=6)
    demo = demonstration(steps=24)
    original = submit(first, demo)
    process_batch(limit=100)
    copy_ = submit(second, disguise(demo))

    process_batch(limit=100)

    original.refresh_from_db()
    copy_.refresh_from_db()
    assert not original.needs_review
    assert copy_.needs_review and copy_.status == Submission.Status.SCORING
    assert len(copy_.review_reasons) == 1
    assert f"(submission {original.pk}, similarity" in copy_.review_reasons[0]
    # Shown beside the grader's parts: the submission copied and how close (the hold, not a score).
    part = copy_.score_breakdown["near_duplicate"]
    assert part["weight"] == "hold" and part["reasons"] == copy_.review_reasons
    assert part["metrics"]["similar_to_submission"] == str(original.pk)
    assert "near_duplicate" not in original.score_breakdown


def test_recordings_that_differ_in_urls_or_keys_are_not_copies(creator):
    factory = funded_factory(creator, reward="0.2", deposit="2", expected_minutes=6)
    demo = demonstration(steps=24)
    for step in demo["steps"]:
        if step["action"] == "key":
            step["key"] = "Enter"
    other_key = copy.deepcopy(demo)
    next(step for step in other_key["steps"] if step["action"] == "key")["key"] = "Escape"
    other_url = copy.deepcopy(demo)
    other_url["steps"][0]["target"] = "https://sheets.example.com/another/place"
    rows = [submit(factory, demo), submit(factory, other_url), submit(factory, other_key)]

    process_batch(limit=100)

    for row in rows:
        row.refresh_from_db()
        assert not row.needs_review, row.review_reasons


def test_the_candidates_of_a_batch_come_from_one_query(creator, django_assert_num_queries):
    factory = funded_factory(creator, reward="0.2", deposit="4", expected_minutes=6)
    demo = demonstration(steps=24)
    rows = [submit(factory, demo if index % 2 else demonstration(steps=24)) for index in range(8)]
    # Loaded with their keys, as the batch loads them.
    loaded = list(Submission.objects.filter(pk__in=[row.pk for row in rows]).select_related("signature").order_by("pk"))

    # One lookup, between the two statements that set and restore its planner settings (inside
    # the test's transaction, as in a batch's); then the signatures of the pairs sharing a key.
    with django_assert_num_queries(4):
        found = near_duplicates(loaded)

    first_copy = rows[1].pk
    assert {row_id for row_id, _, _ in found} == {row.pk for row in rows[3::2]}
    assert all(other == first_copy for _, other, _ in found)


def test_a_batch_without_copies_reads_no_signature(creator, django_assert_num_queries):
    """Every row shares its keys with itself: the lookup returns other submissions only, and
    with no pair to compare, no signature is read (benchmark 1 decoded 500 a batch)."""
    factory = funded_factory(creator, reward="0.2", deposit="4", expected_minutes=6)
    for _ in range(3):
        submit(factory, demonstration(steps=24))
    rows = [submit(factory, demonstration(steps=24)) for _ in range(5)]
    loaded = list(
        Submission.objects.filter(pk__in=[row.pk for row in rows]).select_related("signature").only("signature__bands")
    )
    sent = []

    def record(execute, sql, params, many, context):
        sent.append(sql)
        return execute(sql, params, many, context)

    with django_assert_num_queries(3), connection.execute_wrapper(record):
        assert near_duplicates(loaded) == []
    [lookup] = [sql for sql in sent if "&&" in sql]
    assert '"signature"' not in lookup.split("FROM")[0]  # ids and keys only
    assert "NOT" in lookup  # the batch's own rows are left out of the lookup


def test_a_copy_of_an_earlier_submission_reads_the_pairs_signatures_in_one_query(creator, django_assert_num_queries):
    factory = funded_factory(creator, reward="0.2", deposit="4", expected_minutes=6)
    demo = demonstration(steps=24)
    original = submit(factory, demo)
    rows = [submit(factory, spaced(demo)), submit(factory, demonstration(steps=24))]
    loaded = list(Submission.objects.filter(pk__in=[row.pk for row in rows]).only("pk"))

    # The rows' keys (not loaded with them), the lookup between its two settings, the signatures.
    with django_assert_num_queries(5):
        found = near_duplicates(loaded)

    [(copy_id, other, similarity)] = found
    assert (copy_id, other) == (rows[0].pk, original.pk)
    assert similarity >= 0.85
