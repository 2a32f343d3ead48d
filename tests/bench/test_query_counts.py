"""The five pages of benchmark 3 run a constant number of SQL queries, at most 15, whatever the
amount of data: the same count with 10 times the factories, farmers and settled submissions.
The data comes from the benchmark's own bulk builder (bench/pages.py), which must leave a
clean ledger audit."""

from __future__ import annotations

import pytest

from bench.pages import TARGETS, build, client_for, page_urls, query_count
from tests.money_helpers import assert_audit_clean

pytestmark = pytest.mark.django_db

SMALL = {"factories": 10, "farmers": 10, "submissions": 60}
LARGE = {"factories": 100, "farmers": 100, "submissions": 600}


def counts(subjects) -> dict[str, tuple[int, int]]:
    """{page: (queries on the first request, queries on the next one)}."""
    found = {}
    for page, (user_id, path) in page_urls(subjects).items():
        client = client_for(user_id)
        found[page] = (query_count(client, path), query_count(client, path))
    return found


def test_each_page_runs_the_same_few_queries_at_ten_times_the_data():
    small = counts(build(**SMALL, tag="s"))
    large = counts(build(**LARGE, tag="l"))

    for page in small:
        assert large[page][1] == small[page][1], (page, small[page], large[page])
        assert max(small[page] + large[page]) <= TARGETS["max_queries"], (page, small[page], large[page])
    assert set(small) == {
        "farmer_browse",
        "creator_dashboard",
        "factory_detail",
        "farmer_earnings",
        "ambassador_dashboard",
    }


def test_the_bulk_data_set_is_settled_and_audits_clean():
    from pools.models import Claim, Submission

    subjects = build(**SMALL, tag="a")

    assert (
        Submission.objects.filter(status__in=["settled", "rejected"], settlement_transaction__isnull=False).count()
        == 60
    )
    assert not Claim.objects.filter(status="open").exists()
    assert Submission.objects.filter(farmer_id=subjects.farmer_id).exists()
    assert Submission.objects.filter(farmer_ambassador__isnull=False).exists()
    assert_audit_clean()
