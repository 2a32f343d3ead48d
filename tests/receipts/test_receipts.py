"""Signed settlement receipts and hourly Merkle roots: built after settlement by the beat task's
services, published per finished hour, downloadable by the farmer with a Merkle path and checked
offline by scripts/receipt_verify.py (a subprocess with no Django and no database): a tampered
receipt, a wrong path or another key fail; the totals per pool recompute from the published
receipts and equal the settled rows."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Sum
from django.utils import timezone
from rest_framework.test import APIClient
from solders.keypair import Keypair

from accounts.services import api_token_for
from pools.models import Submission
from receipts import proof
from receipts.keys import NoReceiptKey, _load
from receipts.models import Receipt, ReceiptBatch
from receipts.services import receipt_batches_publish, receipts_build
from receipts.tasks import receipts_publish_task
from tests.factories import CreatorFactory, FarmerFactory
from tests.money_helpers import funded_factory
from tests.pools.dataset_support import settled

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
SEED = bytes(range(32))
KEY = Keypair.from_seed(SEED)
PUBLIC = str(KEY.pubkey())


@pytest.fixture(autouse=True)
def receipt_key(settings):
    settings.FORGE_RECEIPT_KEY_FILE = ""
    settings.FORGE_RECEIPT_SIGNING_KEY = SEED.hex()
    settings.FORGE_GRADER = "manual"
    _load.cache_clear()
    yield
    _load.cache_clear()


@pytest.fixture
def world(django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    a = funded_factory(CreatorFactory(), token="USDC", reward="0.2", deposit="10")
    b = funded_factory(CreatorFactory(), token="USDC", reward="0.5", deposit="10")
    farmer = FarmerFactory()
    rows = [
        settled(a, farmer, score="0.9", capture=capture),
        settled(a, score="0.2", capture=capture),  # below the threshold: rejected, still a receipt
        settled(b, farmer, score="1", capture=capture),
    ]
    assert {r.status for r in rows} == {"settled", "rejected"}
    return {"factories": (a, b), "farmer": farmer, "rows": rows}


def next_hour():
    return timezone.now() + timedelta(hours=1)


def publish_all(world):
    assert receipts_build() == 3
    return receipt_batches_publish(now=next_hour())


def document_for(user, submission_id):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_for(user)}")
    return client.get(f"/api/v1/receipts/{submission_id}/")


def run_script(*args):
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}  # no Django, no DB
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "receipt_verify.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_receipts_written_after_settlement_once_and_published_after_the_hour(world):
    assert not Receipt.objects.exists()  # settlement itself writes none
    assert receipts_build() == 3
    assert receipts_build() == 0
    receipt = Receipt.objects.get(submission=world["rows"][0])
    body = json.loads(receipt.body)
    row = world["rows"][0]
    assert body["submission"] == row.pk and body["quality_score"] == str(row.quality_score)
    assert body["shares"]["farmer_reward"] == str(row.farmer_reward)
    assert body["ledger"]["transaction"] == row.settlement_transaction_id
    assert sum(int(e["amount"]) for e in body["ledger"]["entries"]) == 0  # the transaction balances
    assert proof.verify_signature(PUBLIC, proof.RECEIPT_DOMAIN, body, receipt.signature)

    assert receipt_batches_publish() == []  # the hour is not over
    [batch] = receipt_batches_publish(now=next_hour())
    assert batch.count == 3 and receipt_batches_publish(now=next_hour()) == []
    assert list(batch.receipts.order_by("position").values_list("submission_id", flat=True)) == [
        r.pk for r in sorted(world["rows"], key=lambda r: Receipt.objects.get(submission=r).pk)
    ]


def test_public_receipts_name_no_user(world):
    [batch] = publish_all(world)
    hour = APIClient().get(f"/api/v1/receipts/hours/{batch.pk}/").json()
    farmer = world["farmer"]
    mine = [
        item["receipt"]
        for item in hour["receipts"]
        if item["receipt"]["submission"] in (world["rows"][0].pk, world["rows"][2].pk)
    ]
    assert len(mine) == 2 and mine[0]["farmer"] != mine[1]["farmer"]  # not linkable to each other
    for item in hour["receipts"]:
        accounts = [entry["account"] for entry in item["receipt"]["ledger"]["entries"]]
        if item["receipt"]["status"] == "settled":  # paid: the farmer's account, blinded
            assert any(":user:~" in a for a in accounts), accounts
        assert not any(a.endswith(f"user:{farmer.pk}") for a in accounts)
        assert item["receipt"]["farmer"].startswith("~") and str(farmer.pk) != item["receipt"]["farmer"]
        assert any(a.endswith(f"pool:{item['receipt']['factory']}") for a in accounts)


def test_published_totals_recompute_from_receipts_and_equal_the_settled_rows(world):
    [batch] = publish_all(world)
    response = APIClient().get(f"/api/v1/receipts/hours/{batch.pk}/")  # anyone
    assert response.status_code == 200
    hour = response.json()
    assert proof.verify_batch(hour, hour["receipts"], PUBLIC) == []
    for factory in world["factories"]:
        sums = Submission.objects.filter(factory=factory).aggregate(
            reward=Sum("farmer_reward"), gross=Sum("gross_payout"), back=Sum("refunded_to_pool")
        )
        totals = hour["totals"][str(factory.pk)]
        assert int(totals["farmer_reward"]) == sums["reward"]
        assert int(totals["gross_payout"]) == sums["gross"]
        assert int(totals["refunded_to_pool"]) == sums["back"]
    assert hour["totals"][str(world["factories"][0].pk)]["rejected"] == 1

    # A changed total, a dropped receipt or another key: refused.
    forged = copy.deepcopy(hour)
    forged["totals"][str(world["factories"][1].pk)]["farmer_reward"] = "1"
    assert any("totals" in e for e in proof.verify_batch(forged, forged["receipts"], PUBLIC))
    assert any("root" in e for e in proof.verify_batch(hour, hour["receipts"][:-1], PUBLIC))
    assert proof.verify_batch(hour, hour["receipts"], str(Keypair().pubkey()))

    path = ROOT / "tmp-hour.json"
    try:
        path.write_text(json.dumps(hour))
        result = run_script("--hour", str(path), "--public-key", PUBLIC)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"pool {world['factories'][0].pk}" in result.stdout
        path.write_text(json.dumps(forged))
        assert run_script("--hour", str(path), "--public-key", PUBLIC).returncode == 1
    finally:
        path.unlink(missing_ok=True)


def test_farmer_downloads_receipt_and_verifies_offline(world, tmp_path):
    publish_all(world)
    farmer, row = world["farmer"], world["rows"][0]
    response = document_for(farmer, row.pk)
    assert response.status_code == 200
    document = response.json()
    assert proof.verify_receipt_document(document, PUBLIC) == []

    good = tmp_path / "receipt.json"
    good.write_text(json.dumps(document))
    result = run_script(str(good), "--public-key", PUBLIC)
    assert result.returncode == 0 and "VALID" in result.stdout, result.stdout + result.stderr
    call_command("receipt_verify", str(good), public_key=PUBLIC)

    tampered = copy.deepcopy(document)
    tampered["receipt"]["shares"]["farmer_reward"] = str(int(row.farmer_reward) + 1)
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(tampered))
    result = run_script(str(bad), "--public-key", PUBLIC)
    assert result.returncode == 1 and "signature" in result.stdout
    with pytest.raises(CommandError, match="INVALID"):
        call_command("receipt_verify", str(bad), public_key=PUBLIC)

    wrong_path = copy.deepcopy(document)
    step = wrong_path["path"][0]
    step["side"] = "left" if step["side"] == "right" else "right"
    assert any("Merkle path" in e for e in proof.verify_receipt_document(wrong_path, PUBLIC))
    other_hash = copy.deepcopy(document)
    other_hash["path"][0]["hash"] = "00" * 32
    path_file = tmp_path / "path.json"
    path_file.write_text(json.dumps(other_hash))
    result = run_script(str(path_file), "--public-key", PUBLIC)
    assert result.returncode == 1 and "Merkle path" in result.stdout

    forged_root = copy.deepcopy(document)  # a root made to fit the path is not the signed one
    forged_root["batch"]["root"] = proof.root_from_path(
        proof.leaf_hash(forged_root["receipt"]), forged_root["path"]
    ).hex()
    forged_root["receipt"]["quality_score"] = "1.0000"
    assert proof.verify_receipt_document(forged_root, PUBLIC)

    assert proof.verify_receipt_document(document, str(Keypair().pubkey()))  # another key
    assert run_script(str(good), "--public-key", str(Keypair().pubkey())).returncode == 1


def test_receipt_is_the_farmers_own(world):
    publish_all(world)
    row = world["rows"][0]
    assert document_for(FarmerFactory(), row.pk).status_code == 404
    assert document_for(world["factories"][0].creator, row.pk).status_code == 404
    assert APIClient().get(f"/api/v1/receipts/{row.pk}/").status_code == 401
    assert document_for(world["farmer"], 10**9).status_code == 404


def test_merkle_paths_for_every_size_and_position():
    for size in range(1, 12):
        leaves = [proof.leaf_hash({"i": i}) for i in range(size)]
        root = proof.merkle_root(leaves)
        for index in range(size):
            path = proof.merkle_path(leaves, index)
            assert proof.root_from_path(leaves[index], path) == root
            if size > 1:
                assert proof.root_from_path(leaves[(index + 1) % size], path) != root


def test_receipt_into_the_next_hour_when_its_hour_is_published(world, django_capture_on_commit_callbacks):
    [first] = publish_all(world)
    later = settled(world["factories"][0], score="0.9", capture=django_capture_on_commit_callbacks)
    receipts_build()  # the clock is still in the published hour
    receipt = Receipt.objects.get(submission=later)
    assert receipt.created_at >= first.hour + timedelta(hours=1)
    [second] = receipt_batches_publish(now=first.hour + timedelta(hours=3))
    assert second.hour == first.hour + timedelta(hours=1) and second.count == 1


def test_no_key_no_receipt_and_keypair_file_accepted(world, settings, tmp_path):
    settings.FORGE_RECEIPT_SIGNING_KEY = ""
    _load.cache_clear()
    with pytest.raises(NoReceiptKey):
        receipts_build()
    assert receipts_publish_task() is None and not Receipt.objects.exists()

    keyfile = tmp_path / "receipt-key.json"  # the Solana CLI format
    keyfile.write_text(json.dumps(list(bytes(KEY))))
    settings.FORGE_RECEIPT_KEY_FILE = str(keyfile)
    _load.cache_clear()
    assert receipts_publish_task()["written"] == 3
    receipt = Receipt.objects.first()
    assert proof.verify_signature(PUBLIC, proof.RECEIPT_DOMAIN, json.loads(receipt.body), receipt.signature)
    assert not ReceiptBatch.objects.exists()  # the hour is not over


def test_submission_page_offers_the_receipt(world, client):
    row = world["rows"][0]
    client.force_login(world["farmer"])
    page = f"/farm/submissions/{row.pk}/"
    assert "signed receipt" not in client.get(page).content.decode()
    receipts_build()
    assert "published after the hour ends" in client.get(page).content.decode()
    [batch] = receipt_batches_publish(now=next_hour())
    html = client.get(page).content.decode()
    assert f"/proofs/receipts/{row.pk}.json" in html and f"/proofs/{batch.pk}/" in html


def test_public_pages(world, client):
    [batch] = publish_all(world)
    page = client.get("/proofs/")
    assert page.status_code == 200 and batch.root in page.content.decode() and PUBLIC in page.content.decode()
    assert client.get(f"/proofs/{batch.pk}/").status_code == 200
    listing = APIClient().get("/api/v1/receipts/hours/").json()
    assert listing["public_key"] == PUBLIC and listing["results"][0]["root"] == batch.root
    client.force_login(world["farmer"])
    download = client.get(f"/proofs/receipts/{world['rows'][0].pk}.json")
    assert download.status_code == 200 and "attachment" in download["Content-Disposition"]
    assert proof.verify_receipt_document(json.loads(download.content), PUBLIC) == []
    assert client.get(f"/proofs/receipts/{world['rows'][1].pk}.json").status_code == 404  # not theirs


def test_receipts_in_the_admin_are_read_only(world, admin_client):
    [batch] = publish_all(world)
    assert batch.root in admin_client.get("/admin/receipts/receiptbatch/").content.decode()
    assert admin_client.get("/admin/receipts/receipt/").status_code == 200
    assert admin_client.get(f"/admin/receipts/receiptbatch/{batch.pk}/delete/").status_code == 403
