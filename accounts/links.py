"""Writes about account links (docs/security.md, "Account links"): the signals that two
accounts are one person, recorded as `AccountLink` flags for staff, and the staff decision on
each. Readers (referrals' commissions, pools' reputation inputs) use
`accounts.selectors.users_linked`.

Signals, each recorded where it is seen:
  wallet       two users asked for withdrawals to one address (`withdrawal_request`) or
               linked the same wallet by signature (chain's `wallet_link`)
  device       a sign-in (registration, login page, API token) from the same network (IPv4
               /24, IPv6 /48) with the same user agent as another user's within the retention
               window; only salted hashes are stored (`signin_signal_record`)
  money        a wallet one user linked is where another user's withdrawals went, or where
               another user's on-chain deposits came from (chain's `wallet_link`)
  self_funded  a factory deposit credited from a wallet another user linked or withdrew to
               (chain's `transfer_settle`)
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from datetime import timedelta
from itertools import combinations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.services import staff_action_record

from .models import AccountLink, SignInSignal

logger = logging.getLogger(__name__)

UNKNOWN = "unknown"


def _salt() -> bytes:
    return (settings.FORGE_SIGNAL_SALT or f"forge-signin-signal:{settings.SECRET_KEY}").encode()


def signal_hash(value: str) -> str:
    """HMAC-SHA256 of `value` under FORGE_SIGNAL_SALT (SECRET_KEY when unset): equal inputs
    compare equal, the input cannot be read back or looked up in a table of addresses."""
    return hmac.new(_salt(), value.encode(), hashlib.sha256).hexdigest()


def client_network(request) -> str:
    """The client's network, not its address: IPv4 /24, IPv6 /48 (one household, office or
    carrier block, and no single address kept). The address is read from
    settings.FORGE_CLIENT_IP_HEADER (REMOTE_ADDR, or a header the proxy in front overwrites)."""
    raw = (request.META.get(settings.FORGE_CLIENT_IP_HEADER) or request.META.get("REMOTE_ADDR") or "").split(",")[0]
    try:
        address = ipaddress.ip_address(raw.strip())
    except ValueError:
        return UNKNOWN
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def client_agent(request) -> str:
    return " ".join((request.META.get("HTTP_USER_AGENT") or "").split())[:512] or UNKNOWN


def account_link_record(*, user_ids, signal: str, evidence: str) -> int:
    """Link every pair of these users by `signal` (idempotent: a pair already linked by it keeps
    its row, its status and staff's decision; `last_seen` moves). Returns the pairs newly
    linked. Runs inside the caller's transaction."""
    users = sorted({int(pk) for pk in user_ids if pk is not None})
    now = timezone.now()
    created = 0
    for low, high in combinations(users, 2):
        _, was_created = AccountLink.objects.get_or_create(
            user_low_id=low, user_high_id=high, signal=signal, defaults={"evidence": evidence[:255]}
        )
        if was_created:
            created += 1
            logger.warning("account link: users %s and %s, %s: %s", low, high, signal, evidence)
        else:
            AccountLink.objects.filter(user_low_id=low, user_high_id=high, signal=signal).update(last_seen=now)
    return created


def signin_seen(request) -> dict:
    """The sign-in signals of a request, as `signin_signal_record` takes them."""
    return {"network": client_network(request), "agent": client_agent(request)}


@transaction.atomic
def signin_signal_record(*, user, kind: str, network: str, agent: str) -> int:
    """Keep the hashed network and agent of a sign-in (`signin_seen(request)`) and link the
    user to every other user seen with both in the retention window; returns the links
    added. Nothing is kept when neither is known."""
    if network == UNKNOWN and agent == UNKNOWN:
        return 0
    network_hash, agent_hash = signal_hash(f"net:{network}"), signal_hash(f"ua:{agent}")
    SignInSignal.objects.create(user=user, kind=kind, network_hash=network_hash, agent_hash=agent_hash)
    if network == UNKNOWN or agent == UNKNOWN:
        return 0
    since = timezone.now() - timedelta(days=settings.FORGE_SIGNIN_SIGNAL_RETENTION_DAYS)
    limit = settings.FORGE_DEVICE_LINK_MAX_ACCOUNTS
    others = set(
        SignInSignal.objects.filter(network_hash=network_hash, agent_hash=agent_hash, created_at__gte=since)
        .exclude(user_id=user.pk)
        .values_list("user_id", flat=True)
        .distinct()[: limit + 1]
    )
    if len(others) > limit:
        # A network and browser this many accounts share (a campus, a carrier's NAT, a kiosk)
        # says nothing about who is who; linking them all would withhold commissions from
        # strangers and make every link walk a crowd.
        logger.info("sign-in of user %s: network and browser shared by over %d accounts, not linked", user.pk, limit)
        return 0
    added = 0
    for other in sorted(others):
        added += account_link_record(
            user_ids=[user.pk, other], signal=AccountLink.Signal.DEVICE, evidence="same network and browser at sign-in"
        )
    return added


def signin_signals_purge(*, now=None) -> int:
    """Delete sign-in signals older than FORGE_SIGNIN_SIGNAL_RETENTION_DAYS (the links they
    made stay: they are staff's record). Returns how many were deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.FORGE_SIGNIN_SIGNAL_RETENTION_DAYS)
    deleted, _ = SignInSignal.objects.filter(created_at__lt=cutoff).delete()
    return deleted


DECISIONS = {"confirm": AccountLink.Status.CONFIRMED, "dismiss": AccountLink.Status.DISMISSED}


@transaction.atomic
def account_link_decide(*, link: AccountLink, decision: str, actor, reason: str = "") -> AccountLink:
    """Staff confirm a link (it keeps counting) or dismiss it (a false positive: a shared
    office network, a wallet sold on; it stops counting from the next settlement). Audited.
    Commissions withheld while it counted stay with the platform."""
    if decision not in DECISIONS:
        raise ValidationError({"decision": [f"Choose one of: {', '.join(DECISIONS)}."]})
    reason = (reason or "").strip()
    if decision == "dismiss" and not reason:
        raise ValidationError({"reason": ["Say why the link is dismissed."]})
    link = AccountLink.objects.select_for_update().get(pk=link.pk)
    before = {"status": link.status}
    link.status = DECISIONS[decision]
    link.decided_by, link.decided_at, link.decision_reason = actor, timezone.now(), reason[:500]
    link.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    staff_action_record(
        actor=actor,
        action=f"account_link_{decision}",
        obj=link,
        before=before,
        after={"status": link.status},
        reason=reason,
    )
    return link
