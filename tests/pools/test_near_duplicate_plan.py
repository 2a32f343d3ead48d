"""The near-duplicate lookup of a batch goes through the GIN index on the submissions' LSH band
keys, whatever the planner estimates. Band keys are nearly all distinct, so the statistics know
none of them, and a batch's thousands of keys looked to the planner like most of the table: it
scanned every submission instead (6.6 s per batch of 500 at 100,000 submissions in benchmark 1,
0.1 s through the index). `core.db.planner_settings` confines the hint to that one statement."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from bench.pages import build
from core.db import planner_settings
from pools.models import Submission
from pools.services.scoring import near_duplicates

pytestmark = pytest.mark.django_db


def _setting(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s)", [name])
        return cursor.fetchone()[0]


def test_the_lookup_of_a_batch_uses_the_band_index():
    build(factories=10, farmers=20, submissions=600, tag="nd")
    with connection.cursor() as cursor:
        # Eight distinct random keys a submission, as the signatures give; then fresh statistics.
        cursor.execute(
            "INSERT INTO pools_submissionsignature (submission_id, signature, bands)"
            " SELECT id, '{}', ARRAY(SELECT (random() * 9e18)::bigint FROM generate_series(1, 8) WHERE id IS NOT NULL)"
            " FROM pools_submission"
        )
        cursor.execute("ANALYZE pools_submissionsignature")
    rows = list(Submission.objects.select_related("signature").order_by("-pk")[:200])
    plans = []

    def explain(execute, sql, params, many, context):
        if "&&" in sql and not sql.startswith("EXPLAIN"):
            context["cursor"].execute("EXPLAIN " + sql, params)
            plans.append("\n".join(line for (line,) in context["cursor"].fetchall()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(explain):
        found = near_duplicates(rows)

    assert found == []  # random keys: no copies
    [plan] = plans
    assert "submission_signature_bands" in plan, plan
    assert _setting("enable_seqscan") == "on"  # the hint ended with its statement


def test_planner_settings_last_for_their_block_only():
    with transaction.atomic():
        with planner_settings(enable_seqscan="off", work_mem="8MB"):
            assert (_setting("enable_seqscan"), _setting("work_mem")) == ("off", "8MB")
        assert _setting("enable_seqscan") == "on"
        assert _setting("work_mem") != "8MB"
    with planner_settings(enable_seqscan="off"):  # no transaction around it: one is opened
        assert _setting("enable_seqscan") == "off"
    assert _setting("enable_seqscan") == "on"


def test_a_failing_block_rolls_its_settings_back_and_the_transaction_goes_on():
    with transaction.atomic():
        with pytest.raises(ZeroDivisionError), planner_settings(enable_seqscan="off"):
            assert _setting("enable_seqscan") == "off"
            1 / 0  # noqa: B018
        assert _setting("enable_seqscan") == "on"
        assert Submission.objects.count() == 0  # the transaction is still usable


def test_the_band_index_keeps_no_pending_list():
    """GIN's pending list is scanned whole for each key of a lookup, and every settling UPDATE
    adds to it: 3.9 s against 0.18 s per batch of 500 (migration pools 0022)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'submission_signature_bands'")
        assert cursor.fetchone()[0] == ["fastupdate=off"]
