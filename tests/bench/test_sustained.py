"""The sustained-load benchmark's own parts (bench/sustained.py): its demonstrations are
recorded inside their claim's window, so the quality agent grades them as real work (not
"outside_claim_window"), and its percentile is the nearest-rank one."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from bench.sustained import CLAIMED_AGO, _demonstration_in_window, _percentile
from pools.demonstrations import demonstration_validate

pytestmark = pytest.mark.django_db


class _Claim:
    def __init__(self, pk: int, created_at):
        self.pk, self.created_at = pk, created_at


def test_the_demonstrations_fall_inside_their_claims_window():
    claimed = timezone.now() - CLAIMED_AGO
    for pk in (1, 2, 3, 6, 7):
        demonstration = demonstration_validate(_demonstration_in_window(_Claim(pk, claimed)))
        started = datetime.fromisoformat(demonstration["started_at"])
        ended = datetime.fromisoformat(demonstration["ended_at"])
        assert claimed < started < ended < timezone.now()
        assert started - claimed == timedelta(minutes=1)


def test_nearest_rank_percentile():
    values = list(range(1, 101))
    assert _percentile(values, 0.95) == 95
    assert _percentile(values, 0.5) == 50
    assert _percentile([3.0], 0.95) == 3.0
    assert _percentile([], 0.95) == 0.0
