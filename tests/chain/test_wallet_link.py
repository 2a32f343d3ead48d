"""Linking a wallet by signature (Sign-In with Ethereum / Solana), with real keys made here:
eth_account for EVM, solders for Solana. Every refusal is a ValidationError naming the field
and changes nothing: no wallet, the nonce still unused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone
from eth_account import Account
from eth_account.messages import encode_defunct
from solders.keypair import Keypair

from chain.models import Wallet, WalletNonce
from chain.selectors import wallet_for_withdrawal, wallets_of
from chain.services import wallet_link, wallet_nonce_issue, wallet_unlink
from core.exceptions import Conflict, NotFound
from tests.factories import FarmerFactory, sign_in_wallet

pytestmark = pytest.mark.django_db


def evm_sign(key, message: str) -> str:
    return "0x" + key.sign_message(encode_defunct(text=message)).signature.hex().removeprefix("0x")


def sol_sign(key, message: str) -> str:
    return str(key.sign_message(message.encode()))


def nothing_changed(nonce_value: str):
    assert Wallet.objects.count() == 0
    assert WalletNonce.objects.get(value=nonce_value).used_at is None


def refused(field: str, *, user, chain, message, signature, now=None) -> str:
    with pytest.raises(ValidationError) as error:
        wallet_link(user=user, chain=chain, message=message, signature=signature, now=now)
    assert field in error.value.message_dict, error.value.message_dict
    return " ".join(error.value.message_dict[field])


@pytest.fixture
def user():
    return FarmerFactory(email="farmer@example.com")


def test_an_ethereum_wallet_is_linked_by_its_signature_and_waits_for_the_cooldown(user, settings):
    settings.FORGE_WALLET_COOLDOWN_HOURS = 24
    key = Account.create()
    fields = wallet_nonce_issue(user=user, chain="evm", address=key.address.lower())
    assert key.address in fields["message"]  # normalised to the EIP-55 spelling
    assert fields["message"].startswith("127.0.0.1:8000 wants you to sign in with your Ethereum account:\n")

    wallet, created = wallet_link(
        user=user, chain="evm", message=fields["message"], signature=evm_sign(key, fields["message"])
    )

    assert created
    assert (wallet.user, wallet.chain, wallet.address) == (user, "evm", key.address)
    assert wallet.usable_from - wallet.verified_at == timedelta(hours=24)
    assert WalletNonce.objects.get(value=fields["nonce"]).used_at is not None
    assert list(wallets_of(user)) == [wallet]
    with pytest.raises(ValidationError, match="open at"):
        wallet_for_withdrawal(user=user, chain="evm", address=key.address)
    later = timezone.now() + timedelta(hours=24, seconds=1)
    assert wallet_for_withdrawal(user=user, chain="evm", address=key.address.lower(), now=later) == wallet


def test_a_solana_wallet_is_linked_by_an_ed25519_signature(user):
    key = Keypair()
    fields = wallet_nonce_issue(user=user, chain="solana", address=str(key.pubkey()))
    assert "sign in with your Solana account:\n" + str(key.pubkey()) in fields["message"]
    assert "Chain ID: mainnet" in fields["message"]

    wallet, created = wallet_link(
        user=user, chain="solana", message=fields["message"], signature=sol_sign(key, fields["message"])
    )

    assert created and wallet.address == str(key.pubkey())


def test_a_solana_message_built_by_the_wallet_from_the_nonce_fields_is_accepted(user):
    """The Wallet Standard flow: the page asks for a nonce without an address and the wallet
    writes the message itself, in the Sign-In with Solana format."""
    key = Keypair()
    fields = wallet_nonce_issue(user=user, chain="solana")
    assert "message" not in fields
    message = (
        f"{fields['domain']} wants you to sign in with your Solana account:\n{key.pubkey()}\n\n"
        f"{fields['statement']}\n\nURI: {fields['uri']}\nVersion: 1\nChain ID: {fields['chain_id']}\n"
        f"Nonce: {fields['nonce']}\nIssued At: {fields['issued_at']}\nExpiration Time: {fields['expiration_time']}"
    )
    wallet, _ = wallet_link(user=user, chain="solana", message=message, signature=sol_sign(key, message))
    assert wallet.address == str(key.pubkey())


def test_linking_emails_the_user_when_withdrawals_open(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        wallet, _ = sign_in_wallet(user, chain="evm")
    assert len(mail.outbox) == 1
    assert user.email in mail.outbox[0].to
    assert wallet.address in mail.outbox[0].body
    assert "Withdrawals to it open at" in mail.outbox[0].body


@pytest.mark.parametrize("chain", ["evm", "solana"])
def test_a_replayed_signed_message_is_refused(user, chain):
    wallet, _ = sign_in_wallet(user, chain=chain)
    message = wallet.message
    problem = refused("message", user=user, chain=chain, message=message, signature=wallet.signature)
    assert "already used" in problem
    assert Wallet.objects.count() == 1


@pytest.mark.parametrize("chain", ["evm", "solana"])
def test_a_message_for_another_domain_is_refused(user, chain):
    key = Account.create() if chain == "evm" else Keypair()
    address = key.address if chain == "evm" else str(key.pubkey())
    fields = wallet_nonce_issue(user=user, chain=chain, address=address)
    message = fields["message"].replace("127.0.0.1:8000 wants", "evil.example wants", 1)
    sign = evm_sign if chain == "evm" else sol_sign
    problem = refused("message", user=user, chain=chain, message=message, signature=sign(key, message))
    assert "evil.example" in problem
    nothing_changed(fields["nonce"])


@pytest.mark.parametrize(
    ("original", "forged", "expect"),
    [
        ("URI: http://127.0.0.1:8000", "URI: http://evil.example", "URI"),
        ("Chain ID: 1", "Chain ID: 5", "chain 5"),
    ],
)
def test_a_message_with_another_uri_or_chain_id_is_refused(user, original, forged, expect):
    key = Account.create()
    fields = wallet_nonce_issue(user=user, chain="evm", address=key.address)
    message = fields["message"].replace(original, forged)
    assert message != fields["message"]
    problem = refused("message", user=user, chain="evm", message=message, signature=evm_sign(key, message))
    assert expect in problem
    nothing_changed(fields["nonce"])


@pytest.mark.parametrize("chain", ["evm", "solana"])
def test_an_expired_nonce_is_refused(user, chain, settings):
    settings.FORGE_WALLET_NONCE_TTL_SECONDS = 300
    key = Account.create() if chain == "evm" else Keypair()
    address = key.address if chain == "evm" else str(key.pubkey())
    fields = wallet_nonce_issue(user=user, chain=chain, address=address)
    sign = evm_sign if chain == "evm" else sol_sign
    later = timezone.now() + timedelta(seconds=301)
    problem = refused(
        "message", user=user, chain=chain, message=fields["message"], signature=sign(key, fields["message"]), now=later
    )
    assert "expired" in problem
    nothing_changed(fields["nonce"])


@pytest.mark.parametrize("chain", ["evm", "solana"])
def test_a_signature_by_another_wallet_is_refused(user, chain):
    key, other = (Account.create(), Account.create()) if chain == "evm" else (Keypair(), Keypair())
    address = key.address if chain == "evm" else str(key.pubkey())
    fields = wallet_nonce_issue(user=user, chain=chain, address=address)
    sign = evm_sign if chain == "evm" else sol_sign
    problem = refused(
        "signature", user=user, chain=chain, message=fields["message"], signature=sign(other, fields["message"])
    )
    assert "not made by the wallet" in problem
    nothing_changed(fields["nonce"])


@pytest.mark.parametrize(
    ("chain", "signature", "expect"),
    [
        ("evm", "0x1234", "65 bytes"),
        ("evm", "0x" + "zz" * 65, "65 bytes"),
        ("evm", "0x" + "00" * 65, "malformed"),
        ("evm", "", "required"),
        ("solana", "not-base58!", "64 bytes"),
        ("solana", "3" * 20, "64 bytes"),
        ("solana", "", "required"),
    ],
)
def test_a_malformed_signature_is_refused(user, chain, signature, expect):
    key = Account.create() if chain == "evm" else Keypair()
    address = key.address if chain == "evm" else str(key.pubkey())
    fields = wallet_nonce_issue(user=user, chain=chain, address=address)
    problem = refused("signature", user=user, chain=chain, message=fields["message"], signature=signature)
    assert expect in problem
    nothing_changed(fields["nonce"])


@pytest.mark.parametrize("chain", ["evm", "solana"])
def test_a_tampered_message_is_refused_even_with_the_right_key(user, chain):
    """The signature covers the exact text: one changed character and it no longer verifies."""
    key = Account.create() if chain == "evm" else Keypair()
    address = key.address if chain == "evm" else str(key.pubkey())
    fields = wallet_nonce_issue(user=user, chain=chain, address=address)
    sign = evm_sign if chain == "evm" else sol_sign
    signature = sign(key, fields["message"])
    tampered = fields["message"].replace("receive withdrawals", "receive withdrawalz")
    problem = refused("signature", user=user, chain=chain, message=tampered, signature=signature)
    assert "not made by the wallet" in problem
    nothing_changed(fields["nonce"])


def test_another_users_nonce_is_refused(user):
    thief = FarmerFactory()
    key = Keypair()
    fields = wallet_nonce_issue(user=user, chain="solana", address=str(key.pubkey()))
    problem = refused(
        "message", user=thief, chain="solana", message=fields["message"], signature=sol_sign(key, fields["message"])
    )
    assert "not issued to you" in problem
    nothing_changed(fields["nonce"])


def test_a_nonce_for_the_other_chain_is_refused(user):
    key = Keypair()
    evm_fields = wallet_nonce_issue(user=user, chain="evm")
    sol_fields = wallet_nonce_issue(user=user, chain="solana", address=str(key.pubkey()))
    message = sol_fields["message"].replace(sol_fields["nonce"], evm_fields["nonce"])
    problem = refused("message", user=user, chain="solana", message=message, signature=sol_sign(key, message))
    assert "not issued to you" in problem


@pytest.mark.parametrize(
    "message",
    ["", "hello", "x" * 5000, "127.0.0.1:8000 wants you to sign in with your Ethereum account:\n0xabc\n\nURI: x"],
)
@pytest.mark.parametrize("chain", ["evm", "solana"])
def test_a_message_that_is_not_a_sign_in_message_is_refused(user, chain, message):
    problem = refused("message", user=user, chain=chain, message=message, signature="0x" + "11" * 65)
    assert problem
    assert Wallet.objects.count() == 0


def test_an_unknown_chain_is_refused(user):
    with pytest.raises(ValidationError) as error:
        wallet_nonce_issue(user=user, chain="bitcoin")
    assert "chain" in error.value.message_dict
    with pytest.raises(ValidationError):
        wallet_link(user=user, chain="bitcoin", message="m", signature="s")


@pytest.mark.parametrize(
    ("chain", "address"),
    [("evm", "0x123"), ("evm", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"), ("solana", "0OIl"), ("solana", "x" * 50)],
)
def test_a_malformed_address_gets_no_nonce(user, chain, address):
    with pytest.raises(ValidationError) as error:
        wallet_nonce_issue(user=user, chain=chain, address=address)
    assert "address" in error.value.message_dict
    assert WalletNonce.objects.count() == 0


def test_a_wallet_linked_to_another_user_is_refused_and_the_nonce_stays_unused(user):
    wallet, key = sign_in_wallet(user, chain="solana")
    other = FarmerFactory()
    fields = wallet_nonce_issue(user=other, chain="solana", address=str(key.pubkey()))
    with pytest.raises(Conflict, match="another account"):
        wallet_link(user=other, chain="solana", message=fields["message"], signature=sol_sign(key, fields["message"]))
    assert WalletNonce.objects.get(value=fields["nonce"]).used_at is None
    assert list(Wallet.objects.all()) == [wallet]


def test_linking_a_wallet_again_keeps_it_and_its_cooldown(user):
    wallet, key = sign_in_wallet(user, chain="evm")
    again, _ = sign_in_wallet(user, chain="evm", key=key, now=timezone.now() + timedelta(hours=1))
    assert again == wallet
    assert Wallet.objects.get().usable_from == wallet.usable_from


def test_an_unlinked_wallet_takes_no_withdrawal_and_can_be_linked_again_with_a_fresh_cooldown(user):
    wallet, key = sign_in_wallet(user, chain="solana", now=timezone.now() - timedelta(days=7))
    assert wallet_for_withdrawal(user=user, chain="solana", address=wallet.address) == wallet
    wallet_unlink(user=user, wallet_id=wallet.pk)
    wallet_unlink(user=user, wallet_id=wallet.pk)  # idempotent
    assert list(wallets_of(user)) == []
    with pytest.raises(ValidationError, match="linked by signature"):
        wallet_for_withdrawal(user=user, chain="solana", address=wallet.address)
    relinked, _ = sign_in_wallet(user, chain="solana", key=key)
    assert relinked.pk != wallet.pk
    with pytest.raises(ValidationError, match="open at"):
        wallet_for_withdrawal(user=user, chain="solana", address=wallet.address)


def test_another_users_wallet_cannot_be_unlinked(user):
    wallet, _ = sign_in_wallet(user)
    with pytest.raises(NotFound):
        wallet_unlink(user=FarmerFactory(), wallet_id=wallet.pk)
    assert Wallet.objects.get().unlinked_at is None


def test_a_withdrawal_needs_the_wallet_on_the_tokens_chain_and_of_the_same_user(user):
    wallet, _ = sign_in_wallet(user, chain="evm", now=timezone.now() - timedelta(days=7))
    with pytest.raises(ValidationError, match="linked by signature"):
        wallet_for_withdrawal(user=FarmerFactory(), chain="evm", address=wallet.address)
    with pytest.raises(ValidationError):
        wallet_for_withdrawal(user=user, chain="solana", address=wallet.address)


def test_a_long_message_is_refused_quickly(user):
    """The EIP-4361 ABNF parser needed 10 s for 5,000 characters; the bounded reader and the
    regular-expression parser answer at once."""
    import time

    key = Account.create()
    fields = wallet_nonce_issue(user=user, chain="evm", address=key.address)
    message = fields["message"].replace(fields["statement"], "a" * 3700)
    started = time.monotonic()
    refused("signature", user=user, chain="evm", message=message, signature="0x" + "11" * 65)
    assert time.monotonic() - started < 1.0
