"""factory_boy factories. Money-bearing objects are made through the services (so the
ledger is always right); plain rows through factories."""

from __future__ import annotations

import itertools
from datetime import timedelta

import factory
from django.utils import timezone

from accounts.models import User

_counter = itertools.count(1)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    role = User.Role.FARMER
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class CreatorFactory(UserFactory):
    username = factory.Sequence(lambda n: f"creator{n}")
    role = User.Role.CREATOR


class FarmerFactory(UserFactory):
    username = factory.Sequence(lambda n: f"farmer{n}")
    role = User.Role.FARMER


class StaffFactory(UserFactory):
    username = factory.Sequence(lambda n: f"staff{n}")
    role = User.Role.CREATOR
    is_staff = True
    is_superuser = True


class GraderFactory(UserFactory):
    username = factory.Sequence(lambda n: f"grader{n}")
    role = User.Role.GRADER


def demonstration(
    *, steps: int = 12, minutes: float = 6.0, variant: int | None = None, instructions_words=("sheet", "budget")
) -> dict:
    """A plausible, valid demonstration; `variant` makes its step sequence unique.

    Recorded just now: it ends when it is built and lasts `minutes`, so it lies inside a claim
    made before it (tests/conftest.py dates every new claim CLAIM_LEAD earlier, as a farmer
    claims, then records, then submits) and the grader's claim window passes it, as in
    production."""
    variant = next(_counter) if variant is None else variant
    duration = minutes * 60
    started = timezone.now().replace(microsecond=0) - timedelta(seconds=duration)
    actions = ["navigate", "click", "type", "click", "key", "scroll"]
    step_list = []
    for index in range(steps):
        action = actions[index % len(actions)]
        step = {
            "t": round(duration * index / steps, 2),
            "action": action,
            "target": f"{instructions_words[index % 2]} field {index}",
        }
        if action == "type":
            step["text"] = f"{instructions_words[0]} entry {variant}-{index}"
        if action == "navigate":
            step["target"] = f"https://sheets.example.com/{instructions_words[1]}/{variant}"
        step_list.append(step)
    return {
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(seconds=duration)).isoformat(),
        "steps": step_list,
        "final_state": f"The {instructions_words[1]} {instructions_words[0]} is saved with all entries ({variant}).",
        "notes": "",
    }


def sign_in_wallet(user, *, chain: str = "solana", key=None, now=None):
    """Link a wallet to `user` the real way: a fresh key (or `key`: a solders Keypair or an
    eth_account LocalAccount) signs the server's sign-in message. Returns (wallet, key)."""
    from eth_account import Account
    from eth_account.messages import encode_defunct
    from solders.keypair import Keypair

    from chain.services import wallet_link, wallet_nonce_issue

    if chain == "evm":
        key = key or Account.create()
        fields = wallet_nonce_issue(user=user, chain="evm", address=key.address, now=now)
        signature = "0x" + key.sign_message(encode_defunct(text=fields["message"])).signature.hex().removeprefix("0x")
    else:
        key = key or Keypair()
        fields = wallet_nonce_issue(user=user, chain="solana", address=str(key.pubkey()), now=now)
        signature = str(key.sign_message(fields["message"].encode()))
    wallet, _ = wallet_link(user=user, chain=chain, message=fields["message"], signature=signature, now=now)
    return wallet, key


def withdrawal_wallet(user, *, chain: str = "solana") -> str:
    """A wallet linked by signature and past its cooldown (linked a week ago): the address a
    withdrawal may go to."""
    from django.utils import timezone

    wallet, _ = sign_in_wallet(user, chain=chain, now=timezone.now() - timedelta(days=7))
    return wallet.address


def withdraw_through_shared_wallet(user, *, key, token, amount: str):
    """One wallet passed from hand to hand, as a ring would (an address has one active link at
    a time): `user` links the wallet of `key` (a week ago, past its cooldown), withdraws
    `amount` of `token` to it, and unlinks it for the next one."""
    from django.utils import timezone

    from accounts.services import withdrawal_request
    from chain.services import wallet_unlink

    wallet, _ = sign_in_wallet(user, key=key, now=timezone.now() - timedelta(days=7))
    withdrawal = withdrawal_request(user=user, token=token, amount=amount, address=wallet.address)
    wallet_unlink(user=user, wallet_id=wallet.pk)
    return withdrawal
