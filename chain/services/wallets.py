"""Writes for wallets: issue a sign-in nonce, link a wallet by its signature, unlink it.

A link is refused (a `ValidationError` naming the field, 400) when the message or signature
does not prove control of the address for this site, now, with a nonce this user was given and
has not used; a refused link changes nothing (the nonce stays usable until it expires). The
nonce is consumed by a conditional UPDATE in the same transaction as the link, so two requests
racing with one signed message link at most once.
"""

from __future__ import annotations

import logging
import secrets
import string
from datetime import UTC, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.exceptions import Conflict, NotFound

from .. import signin
from ..locks import wallet_lock
from ..models import ChainKind, Wallet, WalletNonce
from .links import wallet_links_record

logger = logging.getLogger(__name__)

NONCE_ALPHABET = string.ascii_letters + string.digits  # EIP-4361: at least 8 alphanumerics
NONCE_LENGTH = 24
CLOCK_SKEW = timedelta(seconds=60)
STATEMENT = "Link this wallet to your Forge Pools account to receive withdrawals."


def signin_domain() -> str:
    """The domain wallets show and sign: the host of FORGE_SITE_URL (what the browser sees)."""
    return urlsplit(settings.FORGE_SITE_URL).netloc


def signin_uri() -> str:
    return settings.FORGE_SITE_URL.rstrip("/")


def signin_chain_id(chain: str) -> str:
    """EIP-155 chain id for EVM (1 is Ethereum mainnet); the cluster name for Solana
    ("mainnet", "devnet", "testnet", "localnet": the Wallet Standard's chain id without `solana:`)."""
    return str(settings.FORGE_EVM_CHAIN_ID) if chain == ChainKind.EVM else settings.FORGE_SOLANA_CLUSTER


def _chain_clean(chain) -> str:
    if chain not in ChainKind.values:
        raise ValidationError({"chain": ['Choose the chain "evm" or "solana".']})
    return chain


def _iso(moment) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def wallet_nonce_issue(*, user, chain: str, address: str | None = None, now=None) -> dict:
    """A fresh nonce and everything a wallet needs to sign in with it. With `address`, also
    the exact message to sign (what the EVM flow uses; a Solana wallet builds it itself)."""
    chain = _chain_clean(chain)
    if address:
        try:
            address = signin.address_normalise(chain, address)
        except signin.SignInError as error:
            raise ValidationError({error.field: [error.message]}) from None
    now = (now or timezone.now()).replace(microsecond=0)
    nonce = WalletNonce.objects.create(
        value="".join(secrets.choice(NONCE_ALPHABET) for _ in range(NONCE_LENGTH)),
        user=user,
        chain=chain,
        domain=signin_domain(),
        issued_at=now,
        expires_at=now + timedelta(seconds=settings.FORGE_WALLET_NONCE_TTL_SECONDS),
    )
    fields = {
        "chain": chain,
        "domain": nonce.domain,
        "statement": STATEMENT,
        "uri": signin_uri(),
        "version": "1",
        "chain_id": signin_chain_id(chain),
        "nonce": nonce.value,
        "issued_at": _iso(nonce.issued_at),
        "expiration_time": _iso(nonce.expires_at),
    }
    if address:
        fields["message"] = signin.message_build(
            chain=chain,
            domain=fields["domain"],
            address=address,
            statement=STATEMENT,
            uri=fields["uri"],
            chain_id=fields["chain_id"],
            nonce=nonce.value,
            issued_at=fields["issued_at"],
            expiration_time=fields["expiration_time"],
        )
    return fields


def _refuse(field: str, message: str):
    raise ValidationError({field: [message]})


@transaction.atomic
def wallet_link(*, user, chain: str, message: str, signature: str, now=None) -> tuple[Wallet, bool]:
    """Link the wallet that signed `message`; returns (wallet, created). Linking a wallet the
    user already has returns it unchanged (its cooldown does not restart)."""
    chain = _chain_clean(chain)
    now = now or timezone.now()
    try:
        parsed = signin.parse(chain, message)
    except signin.SignInError as error:
        _refuse(error.field, error.message)
    if parsed.domain != signin_domain():
        _refuse("message", f"The message was made for {parsed.domain[:80]}, not for {signin_domain()}.")
    if parsed.uri.rstrip("/") != signin_uri():
        _refuse("message", f"The message's URI must be {signin_uri()}.")
    if parsed.version != "1":
        _refuse("message", "Only version 1 of the sign-in message is accepted.")
    if parsed.chain_id != signin_chain_id(chain):
        _refuse("message", f"The message is for chain {parsed.chain_id[:40]}; this site uses {signin_chain_id(chain)}.")
    nonce = WalletNonce.objects.filter(value=parsed.nonce, user=user, chain=chain).first()
    if nonce is None:
        _refuse("message", "This nonce was not issued to you: ask for a new one and sign again.")
    if nonce.used_at is not None:
        _refuse("message", "This signed message was already used: ask for a new nonce and sign again.")
    if now >= nonce.expires_at:
        _refuse("message", "The nonce has expired: ask for a new one and sign again.")
    if parsed.expiration_time is not None and now >= parsed.expiration_time:
        _refuse("message", "The signed message has expired: ask for a new nonce and sign again.")
    if parsed.not_before is not None and now < parsed.not_before:
        _refuse("message", "The signed message is not valid yet.")
    if not (nonce.issued_at - CLOCK_SKEW <= parsed.issued_at <= now + CLOCK_SKEW):
        _refuse("message", "The message's issued-at time does not match its nonce.")
    try:
        address = signin.signature_verify(chain, parsed, signature)
    except signin.SignInError as error:
        _refuse(error.field, error.message)

    existing = Wallet.objects.filter(chain=chain, address=address, unlinked_at__isnull=True).first()
    if existing is not None and existing.user_id != user.pk:
        raise Conflict("This wallet is linked to another account. Unlink it there first.")
    # Consume the nonce; a concurrent request with the same message finds it used.
    consumed = WalletNonce.objects.filter(pk=nonce.pk, used_at__isnull=True, expires_at__gt=now).update(used_at=now)
    if not consumed:
        _refuse("message", "This signed message was already used: ask for a new nonce and sign again.")
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            wallet = Wallet.objects.create(
                user=user,
                chain=chain,
                address=address,
                verified_at=now,
                usable_from=now + timedelta(hours=settings.FORGE_WALLET_COOLDOWN_HOURS),
                nonce=nonce,
                message=parsed.text,
                signature=signature.strip(),
            )
    except IntegrityError:  # the same wallet linked concurrently (by this user or another)
        raise Conflict("This wallet was just linked by another request.") from None
    wallet_links_record(wallet=wallet)
    transaction.on_commit(lambda: _email_linked(wallet))
    return wallet, True


def _email_linked(wallet: Wallet) -> None:
    """Tell the owner a wallet was linked: if they did not do it, their password is known."""
    user = wallet.user
    if not user.email:
        return
    opens = timezone.localtime(wallet.usable_from).strftime("%Y-%m-%d %H:%M %Z")
    try:
        send_mail(
            subject=f"[{settings.FORGE_SITE_NAME}] A wallet was linked to your account",
            message=(
                f"A {wallet.get_chain_display()} wallet was linked to your account {user.username}:\n\n"
                f"    {wallet.address}\n\n"
                f"Withdrawals to it open at {opens}.\n\n"
                "If you did not link it, change your password now and unlink the wallet: "
                f"{signin_uri()}/accounts/wallets/\n"
            ),
            from_email=None,
            recipient_list=[user.email],
        )
    except Exception:  # the link stands; the page shows the same information
        logger.exception("could not email user %s about wallet %s", user.pk, wallet.pk)


@transaction.atomic
def wallet_unlink(*, user, wallet_id: int, now=None) -> Wallet:
    """Unlink one of the user's wallets (idempotent). Withdrawals already requested to it keep
    their address; new ones need a linked wallet."""
    wallet = wallet_lock(wallet_id=wallet_id, user=user)
    if wallet is None:
        raise NotFound("No such wallet.")
    if wallet.unlinked_at is None:
        wallet.unlinked_at = now or timezone.now()
        wallet.save(update_fields=["unlinked_at"])
    return wallet
