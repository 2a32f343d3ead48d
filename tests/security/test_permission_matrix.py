"""The permission matrix: every API endpoint (each of its methods) and every page, as each kind
of user, answers the expected status; a refused request changes nothing (row counts of the
money models and the ledger, balances, states), and a GET never changes money.

The tables are checked against the URL resolver: an endpoint, a method or a page without a row
fails `test_every_endpoint_and_page_has_a_row`, so a new one cannot ship without saying who
may use it.

Columns, in order (tests/security/world.py says what each user owns):
    anonymous  farmer  other_farmer  creator (owner)  other_creator  ambassador  staff  grader
Each role's request runs in a savepoint that is rolled back: every role meets the same world.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from tests.factories import demonstration
from tests.security.world import LATER_PNG, PASSWORD, ROLES, World, money_state, world_build, world_upload

pytestmark = pytest.mark.django_db

SOLANA_ADDRESS = "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV"
NEW_FACTORY = {"title": "Sort mail", "instructions": "Sort the inbox.", "token": "USDC", "reward": "0.1"}


@dataclass(frozen=True)
class Row:
    name: str  # URL name, e.g. "api:factory"
    method: str
    expect: str  # one status per role, in ROLES order
    kwargs: Callable[[World], dict] = field(default=lambda world: {})
    body: Callable[[World, str], dict | bytes] | None = None
    content_type: str = ""  # for a raw (bytes) body
    headers: dict = field(default_factory=dict)  # extra request headers (WSGI names: HTTP_...)

    def statuses(self) -> dict[str, int]:
        return dict(zip(ROLES, (int(code) for code in self.expect.split()), strict=True))

    def __str__(self) -> str:
        return f"{self.method} {self.name}"


def factory_pk(world):
    return {"pk": world.factory.pk}


def export_pk(world):
    return {"pk": world.export.pk}


def factory_export(world):
    return {"pk": world.factory.pk, "export_id": world.export.pk}


def credentials(world, role):
    user = world.users[role]
    return {"username": user.username if user else "nobody", "password": PASSWORD}


def wallet_link_body(world, role):
    """A real Sign-In with Solana link for the caller: a nonce issued to them, signed by a
    fresh key (anonymous and the grader are refused before the body is read)."""
    from solders.keypair import Keypair

    from chain.services import wallet_nonce_issue

    user = world.users[role]
    if user is None or user.is_grader:
        return {"chain": "solana", "message": "m", "signature": "s"}
    key = Keypair()
    message = wallet_nonce_issue(user=user, chain="solana", address=str(key.pubkey()))["message"]
    return {"chain": "solana", "message": message, "signature": str(key.sign_message(message.encode()))}


MULTIPART = "multipart/form-data; boundary=MatrixBoundary"


def recorder_archive_body(world) -> bytes:
    """A recorder archive (no video: quick) made for the world's claim, as a multipart body."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test.client import encode_multipart

    from tests.evidence.intake_support import session_members, zip_of

    archive = SimpleUploadedFile("recording.zip", zip_of(session_members(world.claim)), "application/zip")
    return encode_multipart("MatrixBoundary", {"archive": archive})


TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}


def farmer_upload(world) -> dict:
    return {"upload_id": world_upload(world).pk}


# fmt: off
API = [
    #                                                    anon farm ofrm crea ocre amb  staf grad
    Row("api:register", "POST",                          "201  201  201  201  201  201  201  201",
        body=lambda w, role: {"username": f"new-{role}", "password": "a-long-unusual-passphrase-93", "role": "farmer"}),
    Row("api:token", "POST",                             "400  200  200  200  200  200  200  200", body=credentials),
    Row("api:token-rotate", "POST",                      "401  200  200  200  200  200  200  403"),
    Row("api:token-revoke", "POST",                      "401  204  204  204  204  204  204  403"),
    Row("api:me", "GET",                                 "401  200  200  200  200  200  200  403"),
    Row("api:balances", "GET",                           "401  200  200  200  200  200  200  403"),
    Row("api:tokens", "GET",                             "200  200  200  200  200  200  200  403"),
    Row("api:factories", "GET",                          "401  200  200  200  200  200  200  403"),
    Row("api:factories", "POST",                         "401  403  403  201  201  403  201  403",
        body=lambda w, role: NEW_FACTORY),
    Row("api:factory", "GET",                            "401  200  200  200  404  200  200  403", factory_pk),
    Row("api:factory-deposits", "POST",                  "401  403  403  201  403  403  403  403", factory_pk,
        body=lambda w, role: {"amount": "1", "tx_ref": f"sig-matrix-{role}"}),
    Row("api:factory-rate", "POST",                      "401  403  403  200  403  403  200  403", factory_pk,
        body=lambda w, role: {"reward": "0.3"}),
    Row("api:factory-claims", "POST",                    "401  201  409  403  403  201  403  403", factory_pk),
    # A factory's tasks: whoever may see it reads them; its creator (or staff) adds and removes.
    Row("api:factory-tasks", "GET",                      "401  200  200  200  404  200  200  403", factory_pk),
    Row("api:factory-tasks", "POST",                     "401  403  403  201  403  403  201  403",
        lambda w: {"pk": w.paused.pk},
        body=lambda w, role: {"title": "More", "instructions": "Do more.", "reward": "0.1"}),
    Row("api:factory-task", "DELETE",                    "401  403  403  204  403  403  204  403",
        lambda w: {"pk": w.paused.pk, "task_id": w.task.pk}),
    # A dry run: farmers, on a factory they may see (the other farmer holds a claim on it).
    Row("api:factory-dry-run", "POST",                   "401  200  200  403  403  200  403  403", factory_pk,
        body=lambda w, role: {"demonstration": demonstration()}),
    Row("api:factory-pause", "POST",                     "401  403  403  200  403  403  200  403", factory_pk),
    Row("api:factory-resume", "POST",                    "401  403  403  200  403  403  200  403",
        lambda w: {"pk": w.paused.pk}),
    Row("api:factory-close", "POST",                     "401  403  403  200  403  403  200  403", factory_pk),
    # Staff accounts have the creator role: they keep their own lists, like any creator.
    Row("api:farmer-lists", "GET",                       "401  403  403  200  200  403  200  403"),
    Row("api:farmer-lists", "POST",                      "401  403  403  201  201  403  201  403",
        body=lambda w, role: {"username": w.users["other_farmer"].username, "kind": "block"}),
    Row("api:farmer-list-entry", "DELETE",               "401  403  403  204  404  403  404  403",
        lambda w: {"pk": w.list_entry.pk}),
    Row("api:deposit-confirm", "POST",                   "401  403  403  403  403  403  200  403",
        lambda w: {"pk": w.pending_deposit.pk}),
    Row("api:claim-submission", "POST",                  "401  201  404  403  403  404  403  403",
        lambda w: {"pk": w.claim.pk}, body=lambda w, role: {"demonstration": demonstration()}),
    Row("api:claim-recording", "POST",                   "401  201  404  403  403  404  403  403",
        lambda w: {"pk": w.claim.pk}, body=lambda w, role: recorder_archive_body(w), content_type=MULTIPART),
    Row("api:uploads", "POST",                           "401  201  201  403  403  201  403  403",
        headers={**TUS, "HTTP_UPLOAD_LENGTH": "4"}),
    Row("api:upload", "GET",                             "401  200  404  403  403  404  403  403", farmer_upload,
        headers=TUS),
    Row("api:upload", "PATCH",                           "401  204  404  403  403  404  403  403", farmer_upload,
        body=lambda w, role: b"abcd", content_type="application/offset+octet-stream",
        headers={**TUS, "HTTP_UPLOAD_OFFSET": "0"}),
    Row("api:upload", "DELETE",                          "401  204  404  403  403  404  403  403", farmer_upload,
        headers=TUS),
    Row("api:submissions", "GET",                        "401  200  200  200  200  200  200  403"),
    Row("api:submission", "GET",                         "401  200  404  200  404  404  200  200",
        lambda w: {"pk": w.submission.pk}),
    Row("api:submission-review", "POST",                 "401  403  403  403  403  403  200  200",
        lambda w: {"pk": w.submission.pk}, body=lambda w, role: {"quality_score": "0.7", "reason": "matrix"}),
    # Flags and bonuses: the factory's creator only (another creator, or staff acting as one: 404).
    Row("api:submission-flag", "POST",                   "401  403  403  201  404  403  404  403",
        lambda w: {"pk": w.submission.pk}, body=lambda w, role: {"reason": "It missed the task."}),
    Row("api:submission-bonus", "POST",                  "401  403  403  201  404  403  404  403",
        lambda w: {"pk": w.submission.pk}, body=lambda w, role: {"amount": "0.01"}),
    Row("api:flag-decision", "POST",                     "401  403  403  403  403  403  200  403",
        lambda w: {"pk": w.flag.pk}, body=lambda w, role: {"upheld": False, "reason": "It did not."}),
    Row("api:factory-demonstrations", "GET",            "401  404  404  200  404  404  200  403", factory_pk),
    Row("api:factory-exports", "GET",                    "401  404  404  200  404  404  200  403", factory_pk),
    Row("api:factory-exports", "POST",                   "401  404  404  202  404  404  202  403", factory_pk,
        body=lambda w, role: {"min_quality": "0.5"}),
    Row("api:export", "GET",                             "401  404  404  200  404  404  200  403", export_pk),
    Row("api:export-download", "GET",                    "401  404  404  200  404  404  200  403", export_pk),
    Row("api:submission-attachment", "GET",              "401  200  404  200  404  404  200  403",
        lambda w: {"pk": w.submission.pk, "attachment_id": w.attachment.pk}),
    Row("api:submission-attachment", "PUT",              "401  200  404  404  404  404  404  403",
        lambda w: {"pk": w.submission.pk, "attachment_id": w.pending_attachment.pk},
        body=lambda w, role: LATER_PNG, content_type="image/png"),
    Row("api:become-ambassador", "GET",                  "401  404  404  404  404  200  404  403"),
    Row("api:become-ambassador", "POST",                 "401  201  201  201  201  200  201  403"),
    Row("api:ambassador", "PATCH",                       "401  403  403  403  403  403  200  403",
        lambda w: {"code": w.ambassador.code}, body=lambda w, role: {"tier": 3}),
    Row("api:ledger-audit", "GET",                       "401  403  403  403  403  403  200  403"),
    Row("api:treasury", "GET",                           "401  403  403  403  403  403  200  403"),
    Row("api:wallets", "GET",                            "401  200  200  200  200  200  200  403"),
    Row("api:wallets", "POST",                           "401  201  201  201  201  201  201  403",
        body=wallet_link_body),
    Row("api:wallet-nonce", "POST",                      "401  201  201  201  201  201  201  403",
        body=lambda w, role: {"chain": "evm"}),
    Row("api:factory-chain-deposits", "GET",            "401  403  403  200  404  403  404  403", factory_pk),
    # The world's factory is in USDC, which is not paid on chain here: the owner gets a 400.
    Row("api:factory-chain-deposits", "POST",           "401  403  403  400  404  403  404  403", factory_pk,
        body=lambda w, role: {"wallet": 1, "amount": "1"}),
    Row("api:withdrawals", "GET",                        "401  200  200  200  200  200  200  403"),
    # Only the farmer holds USDC and a linked wallet; the ambassador has the wallet, not the
    # USDC (409, insufficient funds); the others have no linked wallet (400).
    Row("api:withdrawals", "POST",                       "401  201  400  400  400  409  400  403",
        body=lambda w, role: {"token": "USDC", "amount": "0.1", "address": w.wallets.get(role, SOLANA_ADDRESS)}),
    # The owner's balance is empty: a 409 (insufficient funds) that moves nothing.
    Row("api:factory-fund-from-balance", "POST",         "401  403  403  409  403  403  403  403", factory_pk,
        body=lambda w, role: {"amount": "0.1", "request_id": "matrix-request-1"}),
    # The proof of payouts: published hours are public; a receipt file is its farmer's only.
    Row("api:receipt-hours", "GET",                      "200  200  200  200  200  200  200  200"),
    Row("api:receipt-hour", "GET",                       "200  200  200  200  200  200  200  200",
        lambda w: {"pk": w.receipt_batch.pk}),
    Row("api:receipt", "GET",                            "401  200  404  404  404  404  404  403",
        lambda w: {"submission_id": w.submission.pk}),
    Row("api:wallet", "DELETE",                          "401  204  404  404  404  404  404  403",
        lambda w: {"pk": w.wallet.pk}),
    # Appeals (reviews/): the farmer's refused submission; staff decide.
    Row("api:submission-appeal", "GET",                  "401  200  404  200  404  404  200  403",
        lambda w: {"pk": w.appealed.pk}),
    Row("api:submission-appeal", "POST",                 "401  201  404  403  403  404  403  403",
        lambda w: {"pk": w.refused.pk}, body=lambda w, role: {"note": "The form was sent at step 9."}),
    Row("api:appeal-decision", "POST",                   "401  403  403  403  403  403  200  403",
        lambda w: {"pk": w.appeal.pk}, body=lambda w, role: {"reason": "The score stands."}),
    # Notifications: each person's own; webhooks: each creator's own endpoints.
    Row("api:notifications", "GET",                      "401  200  200  200  200  200  200  403"),
    Row("api:notifications-read", "POST",                "401  200  200  200  200  200  200  403"),
    Row("api:notification-preferences", "GET",           "401  200  200  200  200  200  200  403"),
    Row("api:notification-preferences", "PUT",           "401  200  200  200  200  200  200  403",
        body=lambda w, role: [{"kind": "submission.paid", "in_app": True, "email": False}]),
    Row("api:webhooks", "GET",                           "401  403  403  200  200  403  200  403"),
    Row("api:webhooks", "POST",                          "401  403  403  201  201  403  201  403",
        body=lambda w, role: {"url": "https://example.com/matrix", "event_types": ["bonus.paid"]}),
    Row("api:webhook", "DELETE",                         "401  403  403  204  404  403  404  403",
        lambda w: {"pk": w.webhook.pk}),
    Row("api:webhook-test", "POST",                      "401  403  403  202  404  403  404  403",
        lambda w: {"pk": w.webhook.pk}),
    Row("api:webhook-deliveries", "GET",                 "401  403  403  200  404  403  404  403",
        lambda w: {"pk": w.webhook.pk}),
    # The published schema and its browsable page are public documentation.
    Row("api-schema", "GET",                             "200  200  200  200  200  200  200  200"),
    Row("api-docs", "GET",                               "200  200  200  200  200  200  200  200"),
]

PAGES = [
    #                                                    anon farm ofrm crea ocre amb  staf grad
    Row("home", "GET",                                   "200  200  200  200  200  200  200  403"),
    Row("healthz", "GET",                                "200  200  200  200  200  200  200  200"),
    Row("metrics", "GET",                                "403  403  403  403  403  403  200  403"),
    Row("admin:index", "GET",                            "302  302  302  302  302  302  200  403"),
    Row("accounts:account", "GET",                       "302  200  200  200  200  200  200  403"),
    Row("accounts:signup", "GET",                        "200  302  302  302  302  302  302  403"),
    Row("accounts:login", "GET",                         "200  302  302  302  302  302  302  403"),
    Row("accounts:logout", "POST",                       "302  302  302  302  302  302  302  302"),
    Row("accounts:password-change", "GET",               "302  200  200  200  200  200  200  403"),
    Row("accounts:token-rotate", "POST",                 "302  302  302  302  302  302  302  403"),
    Row("accounts:token-revoke", "POST",                 "302  302  302  302  302  302  302  403"),
    Row("accounts:notifications", "GET",                 "302  200  200  200  200  200  200  403"),
    Row("accounts:notifications-read", "POST",           "302  302  302  302  302  302  302  403"),
    # Opening a notification: the farmer's is marked read and followed; anyone else's is a 404.
    Row("accounts:notification-open", "POST",            "302  302  404  404  404  404  404  403",
        lambda w: {"notification_id": w.notification.pk}),
    Row("accounts:notification-preferences", "GET",      "302  200  200  200  200  200  200  403"),
    Row("accounts:webhooks", "GET",                      "302  403  403  200  200  403  200  403"),
    Row("accounts:webhook-delete", "POST",               "302  403  403  302  404  403  404  403",
        lambda w: {"endpoint_id": w.webhook.pk}),
    Row("accounts:webhook-test", "POST",                 "302  403  403  302  404  403  404  403",
        lambda w: {"endpoint_id": w.webhook.pk}),
    Row("accounts:webhook-deliveries", "GET",            "302  403  403  200  404  403  404  403",
        lambda w: {"endpoint_id": w.webhook.pk}),
    Row("pools:dashboard", "GET",                        "302  403  403  200  200  403  200  403"),
    Row("pools:factory-create", "GET",                   "302  403  403  200  200  403  200  403"),
    Row("pools:factory-detail", "GET",                   "302  403  403  200  404  403  200  403", factory_pk),
    Row("pools:factory-submissions", "GET",              "302  403  403  200  404  403  200  403", factory_pk),
    Row("pools:factory-edit", "GET",                     "302  403  403  200  403  403  200  403", factory_pk),
    Row("pools:factory-fund", "POST",                    "302  403  403  302  403  403  403  403", factory_pk,
        body=lambda w, role: {"amount": "1", "tx_ref": f"sig-page-{role}"}),
    Row("pools:factory-rate", "POST",                    "302  403  403  302  403  403  302  403", factory_pk,
        body=lambda w, role: {"reward": "0.3"}),
    Row("pools:factory-pause", "POST",                   "302  403  403  302  403  403  302  403", factory_pk),
    Row("pools:factory-resume", "POST",                  "302  403  403  302  403  403  302  403",
        lambda w: {"pk": w.paused.pk}),
    Row("pools:factory-close", "POST",                   "302  403  403  302  403  403  302  403", factory_pk),
    Row("pools:factory-tasks", "GET",                    "302  403  403  200  403  403  200  403", factory_pk),
    Row("pools:factory-task-remove", "POST",             "302  403  403  302  403  403  302  403",
        lambda w: {"pk": w.paused.pk, "task_id": w.task.pk}),
    Row("pools:farmer-lists", "GET",                     "302  403  403  200  200  403  200  403"),
    Row("pools:farmer-list-remove", "POST",              "302  403  403  302  404  403  404  403",
        lambda w: {"entry_id": w.list_entry.pk}),
    Row("pools:factory-dataset", "GET",                  "302  403  403  200  404  403  200  403", factory_pk),
    Row("pools:factory-demonstration", "GET",            "302  403  403  200  404  403  200  403",
        lambda w: {"pk": w.factory.pk, "submission_id": w.submission.pk}),
    Row("pools:factory-demonstration-flag", "POST",      "302  403  403  302  404  403  404  403",
        lambda w: {"pk": w.factory.pk, "submission_id": w.submission.pk}, body=lambda w, role: {"reason": "Missed."}),
    Row("pools:factory-demonstration-bonus", "POST",     "302  403  403  302  404  403  404  403",
        lambda w: {"pk": w.factory.pk, "submission_id": w.submission.pk}, body=lambda w, role: {"amount": "0.01"}),
    Row("pools:factory-attachment", "GET",               "302  403  403  200  404  403  200  403",
        lambda w: {"pk": w.factory.pk, "submission_id": w.submission.pk, "attachment_id": w.attachment.pk}),
    Row("pools:factory-export-start", "POST",            "302  403  403  302  404  403  302  403", factory_pk),
    Row("pools:factory-export", "GET",                   "302  403  403  200  404  403  200  403", factory_export),
    Row("pools:factory-export-download", "GET",          "302  403  403  200  404  403  200  403", factory_export),
    # Marking alerts read only ever touches the caller's own alerts (see the object-level tests).
    Row("pools:alerts-read", "POST",                     "302  403  403  302  302  403  302  403"),
    Row("pools:alert-read", "POST",                      "302  403  403  302  302  403  302  403",
        lambda w: {"alert_id": w.alert.pk}),
    Row("farmers:browse", "GET",                         "302  200  200  403  403  200  403  403"),
    # Reading a factory before claiming: any farmer, for a factory open to farmers.
    Row("farmers:factory", "GET",                        "302  200  200  403  403  200  403  403",
        lambda w: {"factory_id": w.factory.pk}),
    Row("farmers:format", "GET",                         "302  200  200  403  403  200  403  403"),
    Row("farmers:claim_start", "POST",                   "302  302  302  403  403  302  403  403",
        lambda w: {"factory_id": w.factory.pk}),
    Row("farmers:claim", "GET",                          "302  200  404  403  403  404  403  403",
        lambda w: {"claim_id": w.claim.pk}),
    Row("farmers:claim", "POST",                         "302  302  404  403  403  404  403  403",
        lambda w: {"claim_id": w.claim.pk}, body=lambda w, role: {"demonstration": json.dumps(demonstration())}),
    Row("farmers:submission", "GET",                     "302  200  404  403  403  404  403  403",
        lambda w: {"submission_id": w.submission.pk}),
    Row("farmers:submission_status", "GET",              "302  200  404  403  403  404  403  403",
        lambda w: {"submission_id": w.submission.pk}),
    Row("evidence:thumbnail", "GET",                     "302  200  404  200  404  404  200  403",
        lambda w: {"submission_id": w.submission.pk, "index": 0}),
    Row("farmers:submission_appeal", "POST",             "302  302  404  403  403  404  403  403",
        lambda w: {"submission_id": w.refused.pk}, body=lambda w, role: {"note": "Step 9 sends the form."}),
    Row("farmers:work", "GET",                           "302  200  200  403  403  200  403  403"),
    Row("farmers:earnings", "GET",                       "302  200  200  403  403  200  403  403"),
    Row("farmers:withdrawal_create", "POST",             "302  302  400  403  403  400  403  403",
        body=lambda w, role: {"token": "USDC", "amount": "0.1", "address": w.wallets.get(role, SOLANA_ADDRESS)}),
    Row("referrals:link", "GET",                         "302  302  302  302  302  302  302  403",
        lambda w: {"code": w.ambassador.code}),
    Row("referrals:dashboard", "GET",                    "302  200  200  200  200  200  200  403"),
    Row("referrals:become", "POST",                      "302  302  302  302  302  302  302  403"),
    Row("referrals:stake", "POST",                       "302  302  302  302  302  302  302  403",
        body=lambda w, role: {"stake-amount": "10"}),
    Row("referrals:unstake", "POST",                     "302  302  302  302  302  400  302  403",
        body=lambda w, role: {"unstake-amount": "10"}),
    Row("referrals:withdraw", "POST",                    "302  302  302  302  302  302  302  403",
        body=lambda w, role: {"token": "CLONES", "amount": "1", "address": w.wallets.get(role, SOLANA_ADDRESS)}),
    # Pages are closed to the grading service's account, public ones too (as the home page).
    Row("receipts:hours", "GET",                         "200  200  200  200  200  200  200  403"),
    Row("receipts:hour", "GET",                          "200  200  200  200  200  200  200  403",
        lambda w: {"pk": w.receipt_batch.pk}),
    Row("receipts:download", "GET",                      "302  200  404  404  404  404  404  403",
        lambda w: {"submission_id": w.submission.pk}),
    Row("chain:deposit-intent-create", "POST",          "302  403  403  302  404  403  404  403", factory_pk,
        body=lambda w, role: {"wallet": "1", "amount": "1"}),
    Row("pools:balance", "GET",                          "302  403  403  200  200  403  200  403"),
    Row("pools:balance-withdraw", "POST",                "302  403  403  400  400  403  400  403",
        body=lambda w, role: {"token": "USDC", "amount": "0.1", "address": SOLANA_ADDRESS}),
    Row("pools:balance-fund", "POST",                    "302  403  403  400  400  403  400  403",
        body=lambda w, role: {"factory": str(w.factory.pk), "amount": "0.1", "request_id": "matrix-request-2"}),
    Row("chain:wallets", "GET",                          "302  200  200  200  200  200  200  403"),
    Row("chain:wallet-unlink", "POST",                   "302  302  404  404  404  404  404  403",
        lambda w: {"wallet_id": w.wallet.pk}),
]
# fmt: on

# Namespaces whose every page needs a row; the admin is covered by its index (its views are
# Django's, closed to non-staff) and by the money-admin tests in test_audit_trail.py.
PAGE_NAMESPACES = ("accounts", "pools", "farmers", "referrals", "chain", "evidence", "receipts")
ROOT_NAMES = {"home", "healthz", "metrics", "api-schema", "api-docs", "admin:index"}


def _patterns(patterns, namespace=None):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from _patterns(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield (f"{namespace}:{pattern.name}" if namespace else pattern.name), pattern


def _api_methods(callback) -> set[str]:
    view = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    return {
        method.upper()
        for method in view.http_method_names
        if method not in ("options", "head") and hasattr(view, method)
    }


def routed() -> tuple[set[tuple[str, str]], set[str]]:
    """(API name, method) pairs and page names the project serves."""
    api, pages = set(), set()
    for name, pattern in _patterns(get_resolver().url_patterns):
        if name.startswith("api:"):
            api |= {(name, method) for method in _api_methods(pattern.callback)}
        elif (name.split(":")[0] in PAGE_NAMESPACES and ":" in name) or name in ROOT_NAMES:
            pages.add(name)
    return api, pages


def test_every_endpoint_and_page_has_a_row():
    api, pages = routed()
    api_rows = {(row.name, row.method) for row in API if row.name.startswith("api:")}
    page_rows = {row.name for row in PAGES} | {row.name for row in API if not row.name.startswith("api:")}

    assert api - api_rows == set(), "API endpoints without a row in the permission matrix"
    assert api_rows - api == set(), "rows for API endpoints that no longer exist"
    assert pages - page_rows == set(), "pages without a row in the permission matrix"
    assert page_rows - pages - {"api-schema", "api-docs"} == set(), "rows for pages that no longer exist"


def test_the_matrix_has_one_row_per_endpoint_and_method():
    keys = [(row.name, row.method) for row in API + PAGES]
    assert len(keys) == len(set(keys))


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """One world for the whole module, in a transaction rolled back at its end; each test (and
    each role's request) runs in a savepoint inside it."""
    from tests.conftest import _ensure_reference_data

    with (
        django_db_blocker.unblock(),
        override_settings(MEDIA_ROOT=tmp_path_factory.mktemp("media")),
        transaction.atomic(),
    ):
        _ensure_reference_data()
        yield world_build()
        transaction.set_rollback(True)


def _api_client(world: World, role: str) -> APIClient:
    client = APIClient()
    token = world.token(role)
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def _page_client(world: World, role: str) -> Client:
    client = Client()
    if world.users[role]:
        client.force_login(world.users[role])
    return client


def _check(row: Row, world: World, *, api: bool) -> list[str]:
    problems = []
    for role, expected in row.statuses().items():
        client = _api_client(world, role) if api else _page_client(world, role)
        url = reverse(row.name, kwargs=row.kwargs(world))
        body = row.body(world, role) if row.body else None
        with transaction.atomic():
            cache.clear()  # throttle counters: every request starts fresh
            before = money_state()
            if isinstance(body, bytes):
                response = client.generic(row.method, url, body, row.content_type, **row.headers)
            elif api:
                response = client.generic(
                    row.method, url, json.dumps(body) if body is not None else "", "application/json", **row.headers
                )
            else:
                response = client.generic(
                    row.method,
                    url,
                    _form_encode(body) if body else "",
                    "application/x-www-form-urlencoded",
                )
            if response.streaming:  # a download: read it (the test client then closes the file)
                b"".join(response.streaming_content)
            after = money_state()
            transaction.set_rollback(True)
        if response.status_code != expected:
            detail = getattr(response, "data", None) or response.content[:300]
            problems.append(f"{row} as {role}: {response.status_code}, expected {expected} ({detail!r})")
        if (response.status_code >= 400 or row.method == "GET") and before != after:
            changed = sorted(key for key in before if before[key] != after[key])
            problems.append(f"{row} as {role} answered {response.status_code} but changed {changed}")
    return problems


def _form_encode(body: dict) -> str:
    from urllib.parse import urlencode

    return urlencode(body)


@pytest.mark.parametrize("row", API, ids=str)
def test_api_permission_matrix(row, world):
    problems = _check(row, world, api=True)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("row", PAGES, ids=str)
def test_page_permission_matrix(row, world):
    problems = _check(row, world, api=False)
    assert not problems, "\n".join(problems)


def _first_allowed(row: Row) -> str:
    """A role for which the row's request goes through (a redirect after the POST), else one
    the view itself answers (a 400 form error: the request passed the permission checks, so a
    403 without the CSRF token can only be the CSRF check)."""
    statuses = [(role, status) for role, status in row.statuses().items() if role != "anonymous"]
    for wanted in (302, 400):
        for role, status in statuses:
            if status == wanted:
                return role
    raise AssertionError(f"{row}: no role gets past the permission checks")


PAGE_POSTS = [row for row in PAGES if row.method == "POST"]


@pytest.mark.parametrize("row", PAGE_POSTS, ids=str)
def test_page_posts_without_the_csrf_token_are_refused_and_change_nothing(row, world):
    role = _first_allowed(row)
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users[role])
    body = row.body(world, role) if row.body else {}
    with transaction.atomic():
        before = money_state()
        response = client.post(reverse(row.name, kwargs=row.kwargs(world)), body)
        after = money_state()
        transaction.set_rollback(True)

    assert response.status_code == 403
    assert before == after


def test_the_api_with_a_session_needs_the_csrf_token_too(world):
    """A browser session does not let another site post to the API on the user's behalf."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["creator"])
    with transaction.atomic():
        before = money_state()
        response = client.post(f"/api/v1/factories/{world.factory.pk}/pause/")
        after = money_state()
        transaction.set_rollback(True)

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert before == after


def test_the_change_detector_sees_one_changed_column_and_a_rollback(world):
    """The matrix's "nothing changed" check is only as good as `money_state`: one column of one
    row changing must show, and a rolled-back savepoint must leave the same state."""
    from django.db.models import F

    from pools.models import Factory

    start = money_state()
    with transaction.atomic():
        Factory.objects.filter(pk=world.factory.pk).update(reward=F("reward") + 1)
        changed = money_state()
        transaction.set_rollback(True)

    assert changed != start
    assert money_state() == start
