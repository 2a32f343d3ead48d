"""Factories, their pools, deposits, claims and submissions, and the economics settings.

A factory's **pool** is two ledger accounts in the factory's token: `available` (can be
claimed) and `reserved` (held for open claims). Every movement of money goes through
`ledger.services.transaction_post`; this module only holds data and the invariants the
database can enforce.
"""

from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from ledger.fields import AmountField
from ledger.models import Account, Token, Transaction

# The bounds of a factory's integer terms, defined once: the model's validators (admin), the
# API serializers, the page widgets and the service check (services/factories.py) read them.
FACTORY_TERM_BOUNDS = {
    "target_count": (10, 100_000),
    "expected_minutes": (1, 24 * 60),
    "claim_timeout_minutes": (1, 7 * 24 * 60),
    "per_farmer_limit": (1, 100_000),
    "per_farmer_daily_limit": (1, 10_000),
}
# A year: longer is a mistake, and far longer overflowed the date of every later unstake.
UNSTAKE_COOLDOWN_HOURS_MAX = 365 * 24


def _bounded(name: str) -> list:
    low, high = FACTORY_TERM_BOUNDS[name]
    return [MinValueValidator(low), MaxValueValidator(high)]


class EconomicsConfig(models.Model):
    """The platform's money rules (a single row, edited by staff). Defaults from economics.md."""

    platform_fee_rate = models.DecimalField(
        max_digits=6,
        decimal_places=5,
        default=Decimal("0.10"),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(1))],
        help_text="Share of the gross payout kept as the platform fee (0.10 = 10%).",
    )
    quality_threshold = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.5"),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(1))],
        help_text="Scores below this are paid nothing; the reward returns to the pool.",
    )
    default_claim_timeout_minutes = models.PositiveIntegerField(
        default=60, validators=_bounded("claim_timeout_minutes")
    )
    unstake_cooldown_hours = models.PositiveIntegerField(
        default=72,
        validators=[MaxValueValidator(UNSTAKE_COOLDOWN_HOURS_MAX)],
        help_text="How long unstaked CLONES cool down before returning to the balance.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "economics settings"
        verbose_name_plural = "economics settings"
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="economics_single_row"),
            models.CheckConstraint(
                condition=models.Q(platform_fee_rate__gte=0, platform_fee_rate__lte=1), name="economics_fee_rate_range"
            ),
            models.CheckConstraint(
                condition=models.Q(quality_threshold__gte=0, quality_threshold__lte=1),
                name="economics_threshold_range",
            ),
        ]

    def __str__(self) -> str:
        return f"fee {self.platform_fee_rate:%}, threshold {self.quality_threshold}"


class Factory(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        CLOSED = "closed", "Closed"

    creator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="factories")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    instructions = models.TextField(help_text="The task prompt farmers see.")
    category = models.CharField(max_length=64, blank=True, db_index=True)
    tags = models.CharField(max_length=255, blank=True, help_text="Comma-separated.")
    token = models.ForeignKey(Token, on_delete=models.PROTECT, related_name="factories")
    reward = AmountField(help_text="Reward per demonstration, in base units of the token.")
    target_count = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=_bounded("target_count"),
        help_text="How many accepted demonstrations are wanted (10 to 100,000), or empty for open.",
    )
    expected_minutes = models.PositiveIntegerField(default=10, validators=_bounded("expected_minutes"))
    claim_timeout_minutes = models.PositiveIntegerField(default=60, validators=_bounded("claim_timeout_minutes"))
    per_farmer_limit = models.PositiveIntegerField(null=True, blank=True, validators=_bounded("per_farmer_limit"))
    # Claims one farmer may make per UTC day (expired ones do not count); None: no daily cap.
    per_farmer_daily_limit = models.PositiveIntegerField(
        null=True, blank=True, validators=_bounded("per_farmer_daily_limit")
    )
    # Only farmers on the creator's allow list (FarmerListEntry) may see and claim it.
    allow_list_only = models.BooleanField(default=False)
    # A factory of the same creator whose accepted (settled) demonstration a farmer needs first.
    qualification_factory = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="qualified_factories"
    )
    min_reputation = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal(0),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    # The creator's success checks (pools.grading.checks JSON, validated by checks_from_json);
    # None or [] = the agent proposes them from the instructions when a claim is made.
    success_checks = models.JSONField(null=True, blank=True)
    # Evidence policy: demonstrations must come as a recorder archive with its screen video
    # (frozen on each claim's terms; a JSON-only submission is refused at intake).
    requires_recording = models.BooleanField(default=False)
    # Recordings of the task done well (validated demonstrations, at most 5): the agent scores a
    # farmer's alignment to their milestones (pools/grading/references.py). Frozen per claim.
    reference_demonstrations = models.JSONField(default=list, blank=True)
    available_account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="+")
    reserved_account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="+")
    # Counters kept by the services in the same transaction as the money, so that browse
    # pages can filter "not full" without counting rows. In flight: claimed and not yet
    # expired or settled. Accepted: settled at or above the quality threshold.
    in_flight_count = models.PositiveIntegerField(default=0)
    accepted_count = models.PositiveIntegerField(default=0)
    returned_to_creator = AmountField(default=0, help_text="Returned to the creator's balance on close.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "factories"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(reward__gt=0), name="factory_reward_positive"),
            models.CheckConstraint(
                condition=models.Q(target_count__isnull=True)
                | models.Q(target_count__gte=10, target_count__lte=100_000),
                name="factory_target_count_range",
            ),
        ]
        indexes = [models.Index(fields=["status", "-created_at"])]

    def __str__(self) -> str:
        return self.title

    @property
    def ledger_holder(self) -> str:
        return f"pool:{self.pk}"

    def money(self, units: int):
        return self.token.money(units)

    @property
    def slots_taken(self) -> int:
        return self.accepted_count + self.in_flight_count

    @property
    def slots_left(self) -> int | None:
        if self.target_count is None:
            return None
        return max(self.target_count - self.slots_taken, 0)

    @property
    def is_full(self) -> bool:
        return self.target_count is not None and self.slots_taken >= self.target_count


class FactoryTask(models.Model):
    """One task of a factory with several (issue 19): its own instructions, success checks,
    expected time, reward and caps. A claim names the task it was made for and freezes its terms
    (Claim.terms), so grading and settlement work as for a single-task factory; the pool, the
    status and the target stay the factory's. A factory without tasks is one task: itself."""

    factory = models.ForeignKey(Factory, on_delete=models.PROTECT, related_name="tasks")
    position = models.PositiveIntegerField(default=1)
    title = models.CharField(max_length=200)
    instructions = models.TextField()
    success_checks = models.JSONField(null=True, blank=True)
    expected_minutes = models.PositiveIntegerField(default=10, validators=_bounded("expected_minutes"))
    reward = AmountField(help_text="Reward per demonstration of this task, in base units of the factory's token.")
    per_farmer_limit = models.PositiveIntegerField(null=True, blank=True, validators=_bounded("per_farmer_limit"))
    per_farmer_daily_limit = models.PositiveIntegerField(
        null=True, blank=True, validators=_bounded("per_farmer_daily_limit")
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["factory_id", "position", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(reward__gt=0), name="factory_task_reward_positive"),
            models.UniqueConstraint(fields=["factory", "position"], name="factory_task_unique_position"),
        ]

    def __str__(self) -> str:
        return f"{self.factory_id}.{self.position} {self.title}"


class FarmerListEntry(models.Model):
    """A creator's allow or block list entry for one farmer (pools/services/controls.py).

    Blocked: the farmer sees and claims none of the creator's factories. Allowed: the farmer
    may see and claim the creator's allow-list-only factories (Factory.allow_list_only)."""

    class Kind(models.TextChoices):
        ALLOW = "allow", "Allowed"
        BLOCK = "block", "Blocked"

    creator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="farmer_list")
    farmer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "farmer_id"]
        constraints = [
            # One entry per creator and farmer: a farmer is allowed or blocked, never both.
            models.UniqueConstraint(fields=["creator", "farmer"], name="farmer_list_one_entry"),
        ]
        indexes = [models.Index(fields=["farmer", "kind"])]

    def __str__(self) -> str:
        return f"{self.creator_id} {self.kind}s {self.farmer_id}"


class RateChange(models.Model):
    factory = models.ForeignKey(Factory, on_delete=models.CASCADE, related_name="rate_changes")
    old_reward = AmountField(null=True)
    new_reward = AmountField()
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.factory_id}: {self.old_reward} -> {self.new_reward}"


class Deposit(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending confirmation"
        CONFIRMED = "confirmed", "Confirmed"
        REJECTED = "rejected", "Rejected"

    factory = models.ForeignKey(Factory, on_delete=models.PROTECT, related_name="deposits")
    token = models.ForeignKey(Token, on_delete=models.PROTECT, related_name="+")
    amount = AmountField()
    tx_ref = models.CharField(max_length=128, help_text="The chain transaction signature.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    ledger_transaction = models.OneToOneField(
        Transaction, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A chain transaction is credited at most once per token, even under races.
            models.UniqueConstraint(fields=["token", "tx_ref"], name="deposit_unique_token_tx_ref"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="deposit_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.token.money(self.amount)} ({self.tx_ref})"


class Claim(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        SUBMITTED = "submitted", "Submitted"
        EXPIRED = "expired", "Expired"

    factory = models.ForeignKey(Factory, on_delete=models.PROTECT, related_name="claims")
    # The task claimed, for a factory with several (FactoryTask); None: the factory itself.
    task = models.ForeignKey("FactoryTask", null=True, blank=True, on_delete=models.PROTECT, related_name="claims")
    farmer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="claims")
    # The reward reserved at claim time; settlement pays from exactly this.
    reward = AmountField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    # The task terms the claim was made under, frozen: {"title", "instructions", "expected_minutes",
    # "reward" (a string of the amount), "checks" (checks JSON: the factory's or the proposed
    # ones)}. The agent grades against these; a later factory edit applies to new claims only.
    terms = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(reward__gt=0), name="claim_reward_positive"),
            # A farmer holds at most one open claim per factory, even under concurrent requests.
            models.UniqueConstraint(
                fields=["factory", "farmer"], condition=models.Q(status="open"), name="claim_one_open_per_farmer"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "expires_at"]),
            models.Index(fields=["farmer", "-created_at"]),
            # A factory's claims per hour over the last day (its detail page): a range scan.
            models.Index(fields=["factory", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"claim {self.pk} on {self.factory_id} by {self.farmer_id}"


class Submission(models.Model):
    class Status(models.TextChoices):
        SUBMITTED = "submitted", "Submitted"  # waiting to be scored
        SCORING = "scoring", "Scoring"  # being scored, or scored and waiting to settle / for review
        SETTLED = "settled", "Settled"  # paid at or above the threshold
        REJECTED = "rejected", "Rejected"  # settled below the threshold: nothing paid

    claim = models.OneToOneField(Claim, on_delete=models.PROTECT, related_name="submission")
    # No single-column indexes on factory, farmer and the fingerprint beyond those in Meta: the
    # composite indexes start with them, and every index is one more write per settlement. No
    # index on status alone either: waiting rows have the partial queue index, and for settled
    # rows the planner preferred it (with statistics a minute old) to a farmer's 200 rows.
    factory = models.ForeignKey(Factory, on_delete=models.PROTECT, related_name="submissions", db_index=False)
    farmer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="submissions", db_index=False
    )
    demonstration = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUBMITTED)
    submitted_at = models.DateTimeField(default=timezone.now, db_index=True)
    # sha256 of the normalised (action, target) sequence: near-identical replays collide.
    sequence_fingerprint = models.CharField(max_length=64, blank=True)
    # A screen recording (evidence.Recording) came with the demonstration. Set once, by
    # submission_create, from what the evidence app passes: pools never imports evidence, so
    # this plain flag is what pools knows of it (its evidence is graded above pools).
    has_recording = models.BooleanField(default=False)
    # Its near-duplicate signature and LSH keys are a row of their own: SubmissionSignature.

    # Evidence (issue 17): a submission with a screen recording is not scored until the evidence
    # app has examined it. "" = no recording (scored on its demonstration alone); "pending" = the
    # evidence task has not handed back its section yet (the batch processor passes it over);
    # "examined" = `evidence` holds the section (plain values: checks, verdict, hold, reasons),
    # which scoring combines with the grade (pools/grading/evidence.py); "failed" = the
    # examination was sent FORGE_EVIDENCE_SWEEP_MAX_ATTEMPTS times and never came back (the storage
    # stayed down): `evidence` holds a no-video section naming why, so scoring holds it for staff.
    class Evidence(models.TextChoices):
        NONE = "", "No recording"
        PENDING = "pending", "Being examined"
        EXAMINED = "examined", "Examined"
        FAILED = "failed", "Could not be examined"

    evidence_status = models.CharField(max_length=10, choices=Evidence.choices, default=Evidence.NONE, blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    # How many times, and when last, the sweeper sent the examination again
    # (evidence.tasks.recordings_sweep_task): sends are FORGE_EVIDENCE_SWEEP_AFTER_SECONDS apart.
    evidence_sweeps = models.PositiveSmallIntegerField(default=0)
    evidence_swept_at = models.DateTimeField(null=True, blank=True)

    # Scoring (the Data Quality Agent or a reviewer).
    quality_score = models.DecimalField(max_digits=5, decimal_places=4, null=True, blank=True)
    score_confidence = models.DecimalField(max_digits=5, decimal_places=4, null=True, blank=True)
    score_breakdown = models.JSONField(default=dict, blank=True)
    score_reasons = models.JSONField(default=list, blank=True)
    graded_by = models.CharField(max_length=16, blank=True)
    # The agent version that gave the score (GradeResult.rubric_version: the rules rubric, also
    # under the judge); None for an outside grader or a reviewer's score.
    rubric_version = models.PositiveIntegerField(null=True, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    scoring_attempts = models.PositiveIntegerField(default=0)
    # After a grader failure, not before this time (backoff; the batch path skips it until then).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    scoring_error = models.CharField(max_length=255, blank=True)
    # Held for staff review instead of automatic payment (low confidence, cheating signals).
    needs_review = models.BooleanField(default=False)
    review_reasons = models.JSONField(default=list, blank=True)

    # Settlement: computed once, at settlement, and stored with the ledger transaction.
    gross_payout = AmountField(null=True, blank=True)
    platform_fee = AmountField(null=True, blank=True)
    farmer_reward = AmountField(null=True, blank=True)
    farmer_ambassador_commission = AmountField(null=True, blank=True)
    factory_ambassador_commission = AmountField(null=True, blank=True)
    protocol_fee = AmountField(null=True, blank=True)
    refunded_to_pool = AmountField(null=True, blank=True)
    # The rates and ambassadors in force when it settled (a later score override reuses them).
    settlement_terms = models.JSONField(default=dict, blank=True)
    # Indexed only where set, by the partial covering indexes of migration 0005 (most rows have
    # no ambassador: a full index would take a NULL entry per settlement for nothing).
    farmer_ambassador = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    factory_ambassador = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    settled_at = models.DateTimeField(null=True, blank=True)
    settlement_transaction = models.OneToOneField(
        Transaction, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-submitted_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quality_score__isnull=True) | models.Q(quality_score__gte=0, quality_score__lte=1),
                name="submission_score_range",
            ),
            models.CheckConstraint(
                condition=~models.Q(status__in=["settled", "rejected"])
                | models.Q(settlement_transaction__isnull=False),
                name="submission_settled_has_transaction",
            ),
        ]
        indexes = [
            models.Index(fields=["factory", "status", "-submitted_at"]),
            models.Index(fields=["farmer", "-submitted_at"]),
            # The batch processor's queue: only unsettled rows, in id order (a small index
            # however many settled submissions the table holds).
            models.Index(
                fields=["id"], name="submission_waiting_queue", condition=models.Q(status__in=["submitted", "scoring"])
            ),
        ]

    def __str__(self) -> str:
        return f"submission {self.pk}"

    @property
    def is_final(self) -> bool:
        return self.status in (self.Status.SETTLED, self.Status.REJECTED)


def attachment_upload_to(instance, filename: str) -> str:
    return f"attachments/{instance.submission.factory_id}/{instance.submission_id}/{instance.sha256}"


class SubmissionSignature(models.Model):
    """A submission's near-duplicate signature (pools.grading.similarity, compact) and its LSH
    keys (pools.services.integrity.signature_bands), written with it in the same statement
    (`submission_create`) and never changed: near-duplicates are found through the keys.

    A row of its own because a submission's row is rewritten whole when it is scored and
    settled (those updates change indexed columns, so PostgreSQL writes a new version of the
    row and an entry in every index): on the submission, the 0.9 kB signature was copied and
    the eight keys inserted in the GIN index again at every settlement (docs/performance.md,
    benchmark 1). A submission without one (made before signatures, or outside
    `submission_create`) is not compared."""

    submission = models.OneToOneField(Submission, on_delete=models.CASCADE, primary_key=True, related_name="signature")
    signature = models.JSONField(default=dict)
    bands = ArrayField(models.BigIntegerField(), default=list)

    class Meta:
        indexes = [
            # Near-duplicate candidates: rows sharing any LSH key (`bands && ARRAY[...]`). No
            # pending list (fastupdate): a lookup scans all of it for each of a batch's keys
            # (3.9 s against 0.18 s per batch of 500 when settlements kept it full).
            GinIndex(fields=["bands"], name="submission_signature_bands", fastupdate=False),
        ]

    def __str__(self) -> str:
        return f"signature of submission {self.submission_id}"


class Attachment(models.Model):
    """A recording or screenshot declared by a demonstration (size and SHA-256 at upload)."""

    submission = models.ForeignKey(Submission, on_delete=models.PROTECT, related_name="attachments")
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    file = models.FileField(upload_to=attachment_upload_to, blank=True)
    uploaded_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class ScoreOverride(models.Model):
    """A staff review that changed a score, before or after settlement (an audit record)."""

    submission = models.ForeignKey(Submission, on_delete=models.PROTECT, related_name="overrides")
    old_score = models.DecimalField(max_digits=5, decimal_places=4, null=True)
    new_score = models.DecimalField(max_digits=5, decimal_places=4)
    reason = models.CharField(max_length=500, blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    adjustment_transaction = models.OneToOneField(
        Transaction, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"submission {self.submission_id}: {self.old_score} -> {self.new_score}"


class Flag(models.Model):
    """A creator's flag on a paid demonstration that missed the task (pools/services/controls.py):
    staff uphold it (the score becomes 0: the farmer's share and the commissions are reversed
    by an adjusting transaction and the reward returns to the pool) or dismiss it. One flag per
    submission, raised within settings.FORGE_FLAG_WINDOW_DAYS of its settlement."""

    class Status(models.TextChoices):
        OPEN = "open", "Waiting for staff"
        UPHELD = "upheld", "Upheld: payment reversed"
        DISMISSED = "dismissed", "Dismissed"

    submission = models.OneToOneField(Submission, on_delete=models.PROTECT, related_name="flag")
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    # The score override (to 0) that reversed the payment, when upheld.
    score_override = models.OneToOneField(
        ScoreOverride, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"flag {self.pk} on submission {self.submission_id}"


class Bonus(models.Model):
    """A creator's bonus from a factory's pool to the farmer of an excellent (paid)
    demonstration: one per submission, ledger key `bonus:<submission id>`. The platform fee
    applies to it as to a payout; its fee goes to the treasury whole (docs/economics.md)."""

    submission = models.OneToOneField(Submission, on_delete=models.PROTECT, related_name="bonus")
    factory = models.ForeignKey(Factory, on_delete=models.PROTECT, related_name="bonuses")
    farmer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    given_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    amount = AmountField(help_text="Taken from the pool, in base units of the factory's token.")
    platform_fee = AmountField()
    farmer_amount = AmountField()
    note = models.CharField(max_length=200, blank=True)
    ledger_transaction = models.OneToOneField(Transaction, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="bonus_amount_positive"),
            models.CheckConstraint(
                condition=models.Q(farmer_amount__gte=0, platform_fee__gte=0)
                & models.Q(amount=models.F("farmer_amount") + models.F("platform_fee")),
                name="bonus_parts_sum",
            ),
        ]

    def __str__(self) -> str:
        return f"bonus on submission {self.submission_id}"
