"""Users and their role. A user is a factory creator, a farmer, or a service account (the
outside grading service). Being an ambassador is not a role: any user can become one
(see referrals)."""

from django.contrib.auth.models import AbstractUser
from django.db import models

from ledger.fields import AmountField


class User(AbstractUser):
    class Role(models.TextChoices):
        CREATOR = "creator", "Factory creator"
        FARMER = "farmer", "Farmer"
        GRADER = "grader", "Grading service"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.FARMER)
    # What the username looks like (accounts/usernames.py): unique, so no two names look alike.
    # Null for the few existing users whose look-alike registered first (kept as they are).
    username_skeleton = models.CharField(max_length=600, null=True, blank=True, unique=True, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=["creator", "farmer", "grader"]), name="user_role_valid"
            ),
        ]

    def save(self, *args, **kwargs):
        # Derived from the username, like a normalised copy of it, wherever a user is saved
        # (registration, admin, createsuperuser); not on saves that leave the username alone.
        update_fields = kwargs.get("update_fields")
        if update_fields is None or "username" in update_fields:
            from .usernames import username_skeleton

            self.username_skeleton = username_skeleton(self.username)
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "username_skeleton"}
        super().save(*args, **kwargs)

    @property
    def is_creator(self) -> bool:
        return self.role == self.Role.CREATOR

    @property
    def is_farmer(self) -> bool:
        return self.role == self.Role.FARMER

    @property
    def is_grader(self) -> bool:
        return self.role == self.Role.GRADER

    @property
    def ledger_holder(self) -> str:
        """How the ledger names this user's accounts (the ledger knows nothing of users)."""
        return f"user:{self.pk}"


class Withdrawal(models.Model):
    """A user's request to send part of their balance to a wallet. The amount moves to the
    pending-withdrawal account at once. Above the approval limits it waits for staff
    (`approval` -> `pending`). Then either staff mark it sent (with the chain reference) or
    reject it (the amount returns to the balance), or, with payouts enabled, the system takes
    it (`sending`: a signed transaction exists; staff can no longer mark or reject it) and
    records it sent once confirmed on chain, or returns the amount if the transfer failed."""

    class Status(models.TextChoices):
        APPROVAL = "approval", "Waiting for staff approval"
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending on chain"
        SENT = "sent", "Sent"
        REJECTED = "rejected", "Rejected"

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="withdrawals")
    token = models.ForeignKey("ledger.Token", on_delete=models.PROTECT, related_name="+")
    amount = AmountField()
    address = models.CharField(max_length=128)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    chain_ref = models.CharField(max_length=128, blank=True)
    reject_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    processed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="withdrawal_amount_positive")]
        # Who else withdrew to an address (account links, read at every settlement batch).
        indexes = [models.Index(fields=["address"], name="withdrawal_address")]

    def __str__(self) -> str:
        return f"withdrawal {self.pk}"


class SignInSignal(models.Model):
    """What a sign-in looked like, kept only as salted hashes (accounts/links.py): the client's
    network (IPv4 /24, IPv6 /48) and its user agent. Two accounts that sign in from the same
    network with the same browser are linked for staff (AccountLink, signal "device"). Deleted
    after FORGE_SIGNIN_SIGNAL_RETENTION_DAYS (docs/security.md, "Account links")."""

    class Kind(models.TextChoices):
        REGISTRATION = "registration", "Registration"
        LOGIN = "login", "Login (page)"
        TOKEN = "token", "Login (API token)"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    network_hash = models.CharField(max_length=64)
    agent_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["network_hash", "agent_hash"], name="signin_signal_device")]

    def __str__(self) -> str:
        return f"{self.kind} of user {self.user_id}"


class AccountLink(models.Model):
    """Two accounts that look like one person (docs/security.md, "Account links"): found by a
    signal, kept as a flag for staff. Open and confirmed links count (no commission between
    them, no reputation from work for each other); a link staff dismissed does not. Stored
    once per pair and signal, the lower user id first."""

    class Signal(models.TextChoices):
        WALLET = "wallet", "Same wallet"
        DEVICE = "device", "Same network and browser"
        MONEY = "money", "Money between them"
        SELF_FUNDED = "self_funded", "Factory funded by the other"

    class Status(models.TextChoices):
        OPEN = "open", "Open (counts)"
        CONFIRMED = "confirmed", "Confirmed by staff (counts)"
        DISMISSED = "dismissed", "Dismissed by staff (ignored)"

    user_low = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    user_high = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    signal = models.CharField(max_length=16, choices=Signal.choices)
    evidence = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-last_seen", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user_low", "user_high", "signal"], name="account_link_once_per_signal"),
            models.CheckConstraint(condition=models.Q(user_low__lt=models.F("user_high")), name="account_link_ordered"),
            models.CheckConstraint(
                condition=models.Q(signal__in=["wallet", "device", "money", "self_funded"]), name="account_link_signal"
            ),
        ]
        indexes = [models.Index(fields=["user_high"], name="account_link_high")]

    def __str__(self) -> str:
        return f"users {self.user_low_id} and {self.user_high_id}: {self.get_signal_display()}"
