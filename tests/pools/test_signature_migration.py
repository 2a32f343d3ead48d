"""Migration pools 0023 moves each submission's near-duplicate signature and LSH keys to a row
of their own (SubmissionSignature), and back when reversed: nothing is lost either way."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from pools.models import SubmissionSignature
from pools.services.claims import claim_create
from pools.services.submissions import submission_create
from tests.factories import FarmerFactory, demonstration
from tests.money_helpers import funded_factory

BEFORE = [("pools", "0022_signature_bands_without_pending_list")]
AFTER = [("pools", "0023_submission_signature_apart")]


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_signatures_move_to_their_own_rows_and_back(creator):
    factory = funded_factory(creator, reward="0.2", deposit="2", expected_minutes=6)
    made = []
    for _ in range(3):
        farmer = FarmerFactory()
        claim = claim_create(factory=factory, farmer=farmer)
        made.append(submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration(steps=12)))
    stored = {row.submission_id: (row.signature, row.bands) for row in SubmissionSignature.objects.all()}
    assert set(stored) == {row.pk for row in made} and all(bands for _, bands in stored.values())

    try:
        _migrate(BEFORE)
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, similarity_signature, signature_bands FROM pools_submission ORDER BY id")
            back = {pk: (signature, bands) for pk, signature, bands in cursor.fetchall()}
        assert {pk: (json_or_dict(s), b) for pk, (s, b) in back.items()} == stored

        _migrate(AFTER)
        with connection.cursor() as cursor:
            cursor.execute("SELECT submission_id, signature, bands FROM pools_submissionsignature ORDER BY 1")
            again = {pk: (json_or_dict(s), b) for pk, s, b in cursor.fetchall()}
        assert again == stored
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def json_or_dict(value):
    return json.loads(value) if isinstance(value, str) else value
