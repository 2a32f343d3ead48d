"""The intake half of the whole path with real parts: a recorder archive uploaded through the
API for a factory that requires a recording, converted and stored with its video; a real worker
on Redis scores and settles the submission; the ledger audit is clean."""

import pytest

from evidence.models import Recording
from pools.models import Submission
from pools.services.claims import claim_create
from tests.evidence.intake_support import archive_for_claim, video_of
from tests.evidence.recordings import TASK, build_recording
from tests.factories import CreatorFactory, FarmerFactory
from tests.integration.conftest import wait_for
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.integration


def test_an_uploaded_recording_is_scored_and_settled_by_a_real_worker(start_worker, as_user, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # The worker examines the stored video (the evidence queue) before scoring: same storage.
    start_worker(extra_env={"MEDIA_ROOT": str(settings.MEDIA_ROOT)})
    factory = funded_factory(
        CreatorFactory(), reward="0.2", deposit="1", instructions=TASK["instructions"], requires_recording=True
    )
    farmer = FarmerFactory()
    claim = claim_create(factory=factory, farmer=farmer)
    video = video_of(build_recording(tmp_path / "recordings", "genuine"))
    archive = archive_for_claim(tmp_path / "a.zip", claim, video=video)

    with archive.open("rb") as handle:
        response = as_user(farmer).post(
            f"/api/v1/claims/{claim.pk}/recording/",
            {"archive": handle, "final_state": "Spreadsheet Budget 2026 with headers Month, Income, Expenses"},
            format="multipart",
        )

    assert response.status_code == 201, response.json()
    settled = wait_for(
        lambda: Submission.objects.filter(pk=response.json()["id"], status__in=["settled", "rejected"]).first(),
        timeout=120,
        message="the worker to examine, score and settle the recorded submission",
    )
    assert settled.has_recording and settled.settlement_transaction_id is not None
    assert Recording.objects.get(submission=settled).video_size == len(video)
    assert_audit_clean()
