"""The hot wallet's signer: the one place the application holds a private key.

The key comes from `FORGE_EVM_HOT_WALLET_KEY_FILE` (a file readable by the worker only: a
mounted secret, 64 hex digits, optional 0x and surrounding whitespace) or, failing that, from
`FORGE_EVM_HOT_WALLET_KEY` in the environment. Never from the database: a database dump or a
staff account cannot move the hot wallet's funds. With `FORGE_EVM_PAYOUTS_ENABLED` on and no
usable key, `evm_hot_wallet_check()` raises `ImproperlyConfigured` at start (chain/apps.py), so
no process runs half-configured.

The interface payouts use (both chains: an address, and `sign` of one transaction returning the
exact bytes to store and broadcast plus their id; `SolanaKeySigner` below signs a Solana message,
its key from FORGE_SOLANA_HOT_WALLET_KEY_FILE or FORGE_SOLANA_HOT_WALLET_KEY):

    signer.address            the public address that pays
    signer.sign(tx) -> Signed the raw signed transaction (bytes) and its hash (0x hex)

The key object lives only inside `LocalKeySigner`; `repr()` and logs show the address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KEY_RE = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class Signed:
    raw: bytes
    tx_hash: str  # 0x + 64 hex digits


class LocalKeySigner:
    """Signs EVM transactions with a key held in memory (from a secret file or the environment)."""

    def __init__(self, key_hex: str):
        from eth_account import Account

        self._account = Account.from_key(key_hex)
        self.address: str = self._account.address

    def sign(self, tx: dict) -> Signed:
        signed = self._account.sign_transaction(tx)
        tx_hash = signed.hash.hex()
        return Signed(
            raw=bytes(signed.raw_transaction), tx_hash=tx_hash if tx_hash.startswith("0x") else "0x" + tx_hash
        )

    def __repr__(self) -> str:
        return f"<LocalKeySigner {self.address}>"


def _key_text() -> tuple[str, str]:
    """(key, where it came from); ("", why not) when there is none."""
    path = settings.FORGE_EVM_HOT_WALLET_KEY_FILE
    if path:
        try:
            return Path(path).read_text().strip(), f"file {path}"
        except OSError as error:
            return "", f"FORGE_EVM_HOT_WALLET_KEY_FILE cannot be read ({error.strerror})"
    if settings.FORGE_EVM_HOT_WALLET_KEY:
        return settings.FORGE_EVM_HOT_WALLET_KEY.strip(), "the environment"
    return "", "neither FORGE_EVM_HOT_WALLET_KEY_FILE nor FORGE_EVM_HOT_WALLET_KEY is set"


def evm_signer_load() -> LocalKeySigner:
    """The hot wallet's signer; `ImproperlyConfigured` (never the key itself) when unusable."""
    key, source = _key_text()
    if not key:
        raise ImproperlyConfigured(f"FORGE_EVM_PAYOUTS_ENABLED is on but the hot wallet has no key: {source}.")
    if not KEY_RE.match(key):
        raise ImproperlyConfigured(f"The hot wallet key from {source} is not 32 bytes of hex.")
    return LocalKeySigner(key)


@cache
def evm_hot_wallet() -> LocalKeySigner:
    """The process's signer, loaded once."""
    return evm_signer_load()


def evm_hot_wallet_check() -> None:
    """At start: with payouts enabled, the key must load (else `ImproperlyConfigured`)."""
    if settings.FORGE_EVM_PAYOUTS_ENABLED:
        evm_signer_load()


# ---- Solana -----------------------------------------------------------------------------------


class SolanaKeySigner:
    """Signs Solana transaction messages with an ed25519 key held in memory (same interface:
    `address`, `sign(message) -> Signed(raw, tx_hash)`, tx_hash being the base58 signature)."""

    def __init__(self, keypair):
        self._keypair = keypair
        self.address: str = str(keypair.pubkey())

    def sign(self, message) -> Signed:
        from solders.transaction import Transaction

        tx = Transaction([self._keypair], message, message.recent_blockhash)
        return Signed(raw=bytes(tx), tx_hash=str(tx.signatures[0]))

    def __repr__(self) -> str:
        return f"<SolanaKeySigner {self.address}>"


def _solana_keypair(text: str):
    """A Solana CLI keypair (JSON array of 64 bytes) or base58 of the 64 bytes; None if neither."""
    import json

    from solders.keypair import Keypair

    text = text.strip()
    try:
        if text.startswith("["):
            return Keypair.from_bytes(bytes(json.loads(text)))
        return Keypair.from_base58_string(text)
    except Exception:  # the message never carries the key
        return None


def solana_signer_load() -> SolanaKeySigner:
    """The Solana hot wallet's signer; `ImproperlyConfigured` (never the key itself) when unusable."""
    path = settings.FORGE_SOLANA_HOT_WALLET_KEY_FILE
    if path:
        try:
            text, source = Path(path).read_text(), f"file {path}"
        except OSError as error:
            raise ImproperlyConfigured(f"FORGE_SOLANA_HOT_WALLET_KEY_FILE cannot be read ({error.strerror}).") from None
    elif settings.FORGE_SOLANA_HOT_WALLET_KEY:
        text, source = settings.FORGE_SOLANA_HOT_WALLET_KEY, "the environment"
    else:
        raise ImproperlyConfigured(
            "FORGE_SOLANA_PAYOUTS_ENABLED is on but neither FORGE_SOLANA_HOT_WALLET_KEY_FILE nor "
            "FORGE_SOLANA_HOT_WALLET_KEY is set."
        )
    keypair = _solana_keypair(text)
    if keypair is None:
        raise ImproperlyConfigured(f"The Solana hot wallet key from {source} is not a 64-byte keypair.")
    return SolanaKeySigner(keypair)


@cache
def solana_hot_wallet() -> SolanaKeySigner:
    """The process's Solana signer, loaded once."""
    return solana_signer_load()


def solana_hot_wallet_check() -> None:
    """At start: with Solana payouts enabled, the key must load (else `ImproperlyConfigured`)."""
    if settings.FORGE_SOLANA_PAYOUTS_ENABLED:
        solana_signer_load()
