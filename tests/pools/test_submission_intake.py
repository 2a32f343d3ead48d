"""The intake hot path (`submission_create` and POST /api/v1/claims/{id}/submission/, benchmark
4 of docs/performance.md): a fixed, small number of statements, an answer equal to what is
stored, and the guarantees of its single statement: one submission per claim, refusals that
write nothing, no money moved, the processing wake-up coalesced."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.exceptions import Conflict, NotFound
from ledger.models import Account, Transaction
from pools.models import Attachment, Claim, Submission
from pools.services.claims import claim_create, claim_expire
from pools.services.submissions import WAKE_UP_KEY, submission_create
from pools.tasks import submissions_process_pending_task
from tests.concurrency import all_at_once
from tests.conftest import client_for
from tests.factories import CreatorFactory, FarmerFactory, StaffFactory, demonstration
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db

ATTACHMENT = {"name": "screen.mp4", "content_type": "video/mp4", "size": 1234, "sha256": "ab" * 32}


@pytest.fixture
def write_path():
    """The one way of writing (PostgreSQL everywhere: the ORM twin for SQLite is gone)."""
    return "one statement"


@pytest.fixture
def factory(creator):
    return funded_factory(creator, reward="0.2", deposit="2")


@pytest.fixture
def claim(factory, farmer):
    return claim_create(factory=factory, farmer=farmer)


def money_snapshot() -> tuple:
    return Transaction.objects.count(), sorted(Account.objects.values_list("id", "balance"))


def assert_unchanged(claim: Claim, money_before: tuple) -> None:
    assert not Submission.objects.filter(claim_id=claim.pk).exists()
    assert not Attachment.objects.exists()
    claim.refresh_from_db()
    assert claim.status == Claim.Status.OPEN
    assert claim.closed_at is None
    assert money_snapshot() == money_before


def post(client, claim_id: int, body: dict, capture):
    with capture(execute=False):  # the wake-up would run the batch processor in-process
        return client.post(f"/api/v1/claims/{claim_id}/submission/", body, format="json")


# ---- The accepted path -------------------------------------------------------------------


@pytest.mark.parametrize("attachments", [[], [ATTACHMENT]])
def test_a_submission_closes_its_claim_and_moves_no_money(
    write_path, attachments, claim, farmer, django_capture_on_commit_callbacks
):
    money_before = money_snapshot()
    sent = {**demonstration(), "attachments": attachments} if attachments else demonstration()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=sent)

    stored = Submission.objects.get(pk=submission.pk)
    assert (stored.claim_id, stored.factory_id, stored.farmer_id) == (claim.pk, claim.factory_id, farmer.pk)
    assert stored.status == Submission.Status.SUBMITTED
    assert stored.demonstration == submission.demonstration
    assert stored.sequence_fingerprint == submission.sequence_fingerprint != ""
    assert stored.submitted_at == submission.submitted_at
    assert list(stored.attachments.values("name", "content_type", "size", "sha256")) == attachments
    claim.refresh_from_db()
    assert claim.status == Claim.Status.SUBMITTED
    assert claim.closed_at == stored.submitted_at
    assert money_snapshot() == money_before  # the reward stays reserved until settlement
    assert len(callbacks) == 1  # the wake-up, after commit
    assert_audit_clean()


def test_the_returned_submission_is_the_stored_row(write_path, claim, farmer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())

    stored = Submission.objects.select_related("claim", "factory__token").get(pk=submission.pk)
    for field in Submission._meta.concrete_fields:
        assert getattr(submission, field.attname) == getattr(stored, field.attname), field.name
    for field in Claim._meta.concrete_fields:
        assert getattr(submission.claim, field.attname) == getattr(stored.claim, field.attname), field.name
    assert submission.factory.token == stored.factory.token
    assert submission.factory.token.decimals == stored.factory.token.decimals
    # Fields the answer does not carry load on access, with their stored values.
    assert submission.factory.title == stored.factory.title
    assert submission._state.adding is False


def test_the_answer_is_what_reading_the_submission_back_shows(
    write_path, claim, farmer, django_capture_on_commit_callbacks
):
    client = client_for(farmer)

    created = post(client, claim.pk, {"demonstration": demonstration()}, django_capture_on_commit_callbacks)

    assert created.status_code == 201, created.json()
    read = client.get(f"/api/v1/submissions/{created.json()['id']}/")
    assert read.status_code == 200
    assert created.json() == read.json()


def test_staff_may_submit_for_a_farmers_claim_and_it_stays_the_farmers(
    write_path, claim, farmer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        submission = submission_create(claim_id=claim.pk, farmer=StaffFactory(), demonstration=demonstration())

    assert Submission.objects.get(pk=submission.pk).farmer_id == farmer.pk


# ---- Refusals: nothing written -----------------------------------------------------------


def test_someone_elses_claim_is_not_found_and_nothing_is_written(write_path, claim):
    money_before = money_snapshot()

    with pytest.raises(NotFound):
        submission_create(claim_id=claim.pk, farmer=FarmerFactory(), demonstration=demonstration())

    assert_unchanged(claim, money_before)


@pytest.mark.parametrize("claim_id", [0, 10**9, 2**63 - 1, 2**63, 2**80, -1])
def test_a_claim_that_does_not_exist_is_not_found(write_path, claim, farmer, claim_id):
    money_before = money_snapshot()

    with pytest.raises(NotFound):
        submission_create(claim_id=claim_id, farmer=farmer, demonstration=demonstration())

    assert_unchanged(claim, money_before)


def test_a_second_submission_is_a_conflict(write_path, claim, farmer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        first = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())

    with pytest.raises(Conflict, match="already has a submission"):
        submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())

    assert list(Submission.objects.values_list("pk", flat=True)) == [first.pk]


@pytest.mark.parametrize("how", ["past its time", "expired by the sweeper"])
def test_an_expired_claim_is_a_conflict_and_nothing_is_written(write_path, how, claim, farmer):
    if how == "past its time":
        Claim.objects.filter(pk=claim.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    else:
        assert claim_expire(claim_id=claim.pk, now=claim.expires_at)
    money_before = money_snapshot()
    status_before = Claim.objects.get(pk=claim.pk).status

    with pytest.raises(Conflict, match="expired"):
        submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())

    assert not Submission.objects.exists()
    assert Claim.objects.get(pk=claim.pk).status == status_before
    assert money_snapshot() == money_before


def test_an_invalid_demonstration_touches_nothing(write_path, claim, farmer, django_capture_on_commit_callbacks):
    money_before = money_snapshot()
    client = client_for(farmer)

    with CaptureQueriesContext(connection) as queries:
        response = post(client, claim.pk, {"demonstration": {"steps": []}}, django_capture_on_commit_callbacks)

    assert response.status_code == 400
    assert {"started_at", "ended_at", "steps"} <= set(response.json())
    assert len(queries) == 1  # the token; the claim is not even read
    assert_unchanged(claim, money_before)


# ---- Statement count ---------------------------------------------------------------------


@pytest.mark.parametrize(("attachments", "most"), [([], 2), ([ATTACHMENT], 5)])
def test_the_endpoint_runs_a_fixed_handful_of_statements(
    attachments, most, claim, farmer, django_capture_on_commit_callbacks
):
    """Token lookup and the one-statement write; with attachments, their INSERT inside a
    transaction (a savepoint here, as the test runs in a transaction; BEGIN/COMMIT live)."""
    client = client_for(farmer)
    body = {"demonstration": {**demonstration(), "attachments": attachments}}

    with CaptureQueriesContext(connection) as queries:
        response = post(client, claim.pk, body, django_capture_on_commit_callbacks)

    assert response.status_code == 201, response.json()
    assert len(queries) <= most, [query["sql"][:80] for query in queries]
    assert not any(query["sql"].lstrip().upper().startswith("SELECT") for query in queries[1:])  # no read-back


def test_a_refusal_costs_one_more_statement_to_say_why(claim, farmer, django_capture_on_commit_callbacks):
    client = client_for(FarmerFactory())

    with CaptureQueriesContext(connection) as queries:
        response = post(client, claim.pk, {"demonstration": demonstration()}, django_capture_on_commit_callbacks)

    assert response.status_code == 404
    assert len(queries) == 3


# ---- The processing wake-up stays coalesced ---------------------------------------------


def test_many_submissions_send_one_wake_up_per_window(
    write_path, factory, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    # Services send the batch processor by name (core.queue); intercept the registered task.
    monkeypatch.setattr(submissions_process_pending_task, "delay", lambda *args, **kwargs: sent.append(args))
    farmers = [FarmerFactory() for _ in range(4)]
    claims = [claim_create(factory=factory, farmer=farmer) for farmer in farmers]

    for farmer, claim in zip(farmers, claims, strict=True):
        with django_capture_on_commit_callbacks(execute=True):
            submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())

    assert len(sent) == 1
    from django.core.cache import cache

    assert cache.get(WAKE_UP_KEY) is not None  # held for the window


# ---- Races (real threads, each with its own connection) ----------------------------------


def _all_at_once(calls) -> list[str]:
    """What each call returned; a refusal by its class name, anything else unexpected as its
    repr (which fails the assertions)."""
    return [
        type(result).__name__
        if isinstance(result, Conflict | NotFound)
        else repr(result)
        if isinstance(result, Exception)
        else result
        for result in all_at_once(calls, timeout=60)
    ]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_submissions_for_one_claim_store_exactly_one(write_path):
    factory = funded_factory(CreatorFactory(), reward="0.2", deposit="1")
    farmer = FarmerFactory()
    claim = claim_create(factory=factory, farmer=farmer)

    def submit():
        submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())
        return "submitted"

    outcomes = _all_at_once([submit] * 6)

    assert sorted(outcomes) == ["Conflict"] * 5 + ["submitted"], outcomes
    assert Submission.objects.filter(claim_id=claim.pk).count() == 1
    assert Claim.objects.get(pk=claim.pk).status == Claim.Status.SUBMITTED
    assert_audit_clean()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_submission_racing_the_expiry_sweep_either_lands_or_is_refunded_never_both(write_path):
    factory = funded_factory(CreatorFactory(), reward="0.2", deposit="2")
    farmers = [FarmerFactory() for _ in range(5)]
    claims = [claim_create(factory=factory, farmer=farmer) for farmer in farmers]

    for farmer, claim in zip(farmers, claims, strict=True):

        def submit(farmer=farmer, claim=claim):
            submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())
            return "submitted"

        def expire(claim=claim):
            # The sweeper's clock is past the claim's expiry; the farmer's is not.
            return "expired" if claim_expire(claim_id=claim.pk, now=claim.expires_at) else "not expired"

        outcomes = sorted(_all_at_once([submit, expire]))

        assert outcomes in (["Conflict", "expired"], ["not expired", "submitted"]), outcomes
        stored = Claim.objects.get(pk=claim.pk)
        has_submission = Submission.objects.filter(claim_id=claim.pk).exists()
        assert (stored.status, has_submission) in (
            (Claim.Status.SUBMITTED, True),
            (Claim.Status.EXPIRED, False),
        )
    assert_audit_clean()
