"""Concurrent requests on resumable uploads, with real threads and connections: the per-farmer
limits hold when several creations race (the advisory lock), and two PATCHes at one offset store
one chunk (the upload row lock and the offset checked again under it)."""

from __future__ import annotations

import pytest

from core.exceptions import Conflict
from evidence.models import ArchiveUpload, UploadChunk
from evidence.uploads import upload_append, upload_create
from tests.concurrency import all_at_once
from tests.factories import FarmerFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def test_racing_creations_never_pass_the_concurrent_limit(settings):
    settings.FORGE_UPLOAD_MAX_CONCURRENT = 2
    farmer = FarmerFactory()

    results = all_at_once([lambda: upload_create(farmer=farmer, length=10) for _ in range(6)])

    created = [result for result in results if isinstance(result, ArchiveUpload)]
    refused = [result for result in results if isinstance(result, Conflict)]
    assert len(created) == 2 and len(refused) == 4, results
    assert ArchiveUpload.objects.filter(farmer=farmer).count() == 2


def test_two_patches_at_one_offset_store_one_chunk(media):
    farmer = FarmerFactory()
    upload = upload_create(farmer=farmer, length=8)

    def append(data: bytes):
        return lambda: upload_append(farmer=farmer, upload_id=upload.pk, offset=0, chunks=iter([data]), length=4)

    results = all_at_once([append(b"abcd"), append(b"wxyz")])

    assert sum(isinstance(result, ArchiveUpload) for result in results) == 1
    assert sum(isinstance(result, Conflict) for result in results) == 1, results
    assert ArchiveUpload.objects.get().offset == 4 and UploadChunk.objects.count() == 1
    assert len([path for path in media.rglob("*") if path.is_file()]) == 1  # the loser's file was not kept
