"""The platform's ed25519 receipt key: from a file (FORGE_RECEIPT_KEY_FILE) or the environment
(FORGE_RECEIPT_SIGNING_KEY), never from the database. Accepted spellings: 64 hex characters (the
32-byte seed), or a Solana CLI keypair file (a JSON array of 64 bytes). Only the public key
(base58) is published."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class NoReceiptKey(Exception):
    """No receipt key is configured: receipts are not built (the demo runs without one)."""


def _parse(text: str):
    from solders.keypair import Keypair

    text = text.strip()
    try:
        if text.startswith("["):
            return Keypair.from_bytes(bytes(json.loads(text)))
        seed = bytes.fromhex(text)
        if len(seed) != 32:
            raise ValueError("a seed is 32 bytes")
        return Keypair.from_seed(seed)
    except (ValueError, TypeError) as error:
        raise ImproperlyConfigured(f"The receipt key is not a 32-byte hex seed or a keypair file: {error}") from None


@cache
def _load(path: str, inline: str):
    if path:
        return _parse(Path(path).read_text())
    if inline:
        return _parse(inline)
    raise NoReceiptKey("Set FORGE_RECEIPT_KEY_FILE or FORGE_RECEIPT_SIGNING_KEY to sign receipts.")


def receipt_keypair():
    return _load(settings.FORGE_RECEIPT_KEY_FILE, settings.FORGE_RECEIPT_SIGNING_KEY)


def receipt_public_key() -> str | None:
    try:
        return str(receipt_keypair().pubkey())
    except NoReceiptKey:
        return None


def sign(domain: bytes, payload: bytes) -> str:
    return str(receipt_keypair().sign_message(domain + payload))
