"""A small world with one user of every kind and the objects they own, built through the real
services, for the permission matrix and the bad-input tests.

    creator        owns `factory` (active, 10 USDC, reward 0.2), `paused` and a pending deposit;
                   a ready `export` of `factory`'s dataset and an unread `alert`
    other_creator  owns `other_factory` (active)
    farmer         settled `submission` on `factory` (two declared attachments: `attachment`
                   uploaded, `pending_attachment` not yet); open `claim` on `other_factory`
    other_farmer   open `other_claim` on `factory`
    ambassador     a farmer who became an ambassador (code `ambassador.code`), 100 CLONES
                   (farmer and ambassador each have a Solana `wallets[role]` linked and past
                   its cooldown: withdrawals go only there; `wallet` is the farmer's)
    staff          is_staff + superuser (role creator, as StaffFactory makes them)
    grader         the grading service's account
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import connection
from django.test import override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token as ApiToken

from accounts.models import User, Withdrawal
from accounts.services import api_token_for
from audit.models import StaffAction
from chain.models import Wallet
from datasets.models import Alert, Export
from datasets.selectors import dataset_filters_parse
from datasets.services.exports import export_build, export_request
from ledger.models import Account, Entry, Transaction
from notifications.models import Notification, NotificationPreference, WebhookDelivery, WebhookEndpoint
from notifications.services import webhook_endpoint_create
from pools.models import (
    Attachment,
    Bonus,
    Claim,
    Deposit,
    Factory,
    FactoryTask,
    FarmerListEntry,
    Flag,
    RateChange,
    ScoreOverride,
    Submission,
)
from pools.services.attachments import attachment_upload
from pools.services.claims import claim_create
from pools.services.deposits import deposit_create
from pools.services.factories import factory_pause
from pools.services.settlement import submission_settle
from pools.services.submissions import submission_create, submission_review
from receipts.models import ReceiptBatch
from receipts.services import receipt_batches_publish, receipts_build
from referrals.models import Ambassador, CommissionTier, Referral, TierChange, Unstake
from referrals.services import ambassador_create
from reviews.models import Appeal
from reviews.services import appeal_create
from tests.factories import CreatorFactory, FarmerFactory, GraderFactory, StaffFactory, demonstration, withdrawal_wallet
from tests.money_helpers import funded_factory
from tests.pools.dataset_support import PNG, declared

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's
LATER_PNG = PNG + b"uploaded later"  # the pending attachment's content
ROLES = ("anonymous", "farmer", "other_farmer", "creator", "other_creator", "ambassador", "staff", "grader")


@dataclass
class World:
    users: dict[str, User | None]
    factory: Factory
    paused: Factory
    other_factory: Factory
    pending_deposit: Deposit
    submission: Submission
    claim: Claim
    other_claim: Claim
    ambassador: Ambassador
    attachment: Attachment
    pending_attachment: Attachment
    export: Export
    alert: Alert
    refused: Submission  # the farmer's, below the threshold, not appealed
    appealed: Submission  # the farmer's, refused, with a pending `appeal`
    appeal: Appeal
    webhook: WebhookEndpoint  # the creator's
    wallets: dict[str, str]
    wallet: Wallet
    list_entry: FarmerListEntry
    flag: Flag
    task: FactoryTask
    notification: Notification | None = None  # the farmer's, unread, pointing at their submission
    receipt_batch: ReceiptBatch | None = None

    def token(self, role: str) -> str | None:
        user = self.users[role]
        return api_token_for(user) if user else None


def world_build() -> World:
    from tests.referrals.conftest import clones_credit

    creator, other_creator = CreatorFactory(), CreatorFactory()
    farmer, other_farmer = FarmerFactory(), FarmerFactory()
    ambassador_user = FarmerFactory()
    factory = funded_factory(creator, reward="0.2", deposit="10")
    other_factory = funded_factory(other_creator, reward="0.2", deposit="10")
    paused = factory_pause(factory=funded_factory(creator, reward="0.1", deposit="1"), actor=creator)
    with override_settings(FORGE_DEPOSITS_AUTOCONFIRM=False):
        pending_deposit = deposit_create(factory=factory, actor=creator, amount="2", tx_ref="sig-world-pending")
    staff = StaffFactory()
    first_claim = claim_create(factory=factory, farmer=farmer)
    submission = submission_create(
        claim_id=first_claim.pk,
        farmer=farmer,
        demonstration={
            **demonstration(),
            "attachments": [declared("screen.png", PNG), declared("later.png", LATER_PNG)],
        },
    )
    submission_review(submission_id=submission.pk, reviewer=staff, quality_score="0.9")
    submission = submission_settle(submission_id=submission.pk)
    attachment, pending_attachment = submission.attachments.order_by("pk")
    refused, appealed = (_refused(factory, farmer, staff) for _ in range(2))
    appeal = appeal_create(farmer=farmer, submission_id=appealed.pk, note="Please look again.")
    webhook = webhook_endpoint_create(owner=creator, url="https://example.com/hook")
    attachment_upload(attachment=attachment, chunks=[PNG], content_type="image/png", length=len(PNG))
    keyframe_store(submission)
    export = export_build(
        export_id=export_request(factory=factory, actor=creator, filters=dataset_filters_parse({})).pk
    )
    notification = Notification.objects.create(
        user=farmer, kind="submission.paid", subject="Paid", url=f"/farm/submissions/{submission.pk}/"
    )
    alert = Alert.objects.create(
        user=creator,
        key=f"matrix:{factory.pk}",
        kind=Alert.Kind.TARGET_REACHED,
        title="Target reached",
        factory=factory,
    )
    claim = claim_create(factory=other_factory, farmer=farmer)
    other_claim = claim_create(factory=factory, farmer=other_farmer)
    ambassador, _ = ambassador_create(user=ambassador_user)
    clones_credit(ambassador_user, "100")
    users = {
        "anonymous": None,
        "farmer": farmer,
        "other_farmer": other_farmer,
        "creator": creator,
        "other_creator": other_creator,
        "ambassador": ambassador_user,
        "staff": staff,
        "grader": GraderFactory(),
    }
    for user in users.values():
        if user:
            api_token_for(user)
    wallets = {role: withdrawal_wallet(users[role]) for role in ("farmer", "ambassador")}
    factory.refresh_from_db()
    with override_settings(FORGE_RECEIPT_SIGNING_KEY="11" * 32):  # the settled submission's receipt
        receipts_build()
        [receipt_batch] = receipt_batches_publish(now=timezone.now() + timedelta(hours=1))
    return World(
        users=users,
        factory=factory,
        paused=paused,
        other_factory=other_factory,
        pending_deposit=pending_deposit,
        submission=submission,
        claim=claim,
        other_claim=other_claim,
        ambassador=ambassador,
        attachment=attachment,
        pending_attachment=pending_attachment,
        export=export,
        alert=alert,
        notification=notification,
        refused=refused,
        appealed=appealed,
        appeal=appeal,
        webhook=webhook,
        wallets=wallets,
        wallet=Wallet.objects.get(address=wallets["farmer"]),
        # The creator blocks a farmer who plays no other part in the world.
        list_entry=FarmerListEntry.objects.create(creator=creator, farmer=FarmerFactory(), kind="block"),
        flag=_flagged(factory, creator, staff),
        # A task on the paused factory (the world's main factory stays a single task).
        task=FactoryTask.objects.create(factory=paused, title="Extra", instructions="Do more.", reward=100_000),
        receipt_batch=receipt_batch,
    )


def _flagged(factory, creator, staff) -> Flag:
    """An open flag on a demonstration another farmer was paid for (the world's own submission
    stays unflagged, for the flag and bonus rows)."""
    from pools.services.controls import flag_open

    farmer = FarmerFactory()
    claim = claim_create(factory=factory, farmer=farmer)
    submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())
    submission_review(submission_id=submission.pk, reviewer=staff, quality_score="0.8")
    submission_settle(submission_id=submission.pk)
    return flag_open(submission_id=submission.pk, creator=creator, reason="Missed the task.")


KEYFRAME_INDEX = 0


def keyframe_store(submission) -> None:
    """A recording's evidence for `submission`: keyframe KEYFRAME_INDEX with its thumbnail in
    storage (what evidence.services.recording_examine keeps), for the thumbnail page's row."""
    from decimal import Decimal

    from django.core.files.base import ContentFile

    from evidence.models import EvidenceFrame, EvidenceReport, Recording

    recording = Recording.objects.create(
        submission=submission,
        video=f"recordings/matrix/{submission.pk}.mp4",
        video_sha256="0" * 64,
        video_size=1,
        archive_sha256="0" * 64,
        duration_seconds=Decimal("1.000"),
        width=64,
        height=36,
        fps=Decimal("30.000"),
    )
    report = EvidenceReport.objects.create(recording=recording, section={"checks": []}, cpu_seconds=Decimal(0))
    frame = EvidenceFrame(
        report=report,
        submission=submission,
        farmer_id=submission.farmer_id,
        factory_id=submission.factory_id,
        index=KEYFRAME_INDEX,
        t=Decimal("0.500"),
        purpose="final",
        dhash=1,
        band0=0,
        band1=0,
        band2=0,
        band3=1,
    )
    frame.thumbnail.save(f"{KEYFRAME_INDEX}.jpg", ContentFile(PNG), save=False)
    frame.save()


COUNTED = [
    Transaction,
    Entry,
    Account,
    Deposit,
    Withdrawal,
    Claim,
    Submission,
    ScoreOverride,
    Factory,
    RateChange,
    Ambassador,
    Referral,
    TierChange,
    Unstake,
    StaffAction,
    User,
    ApiToken,
    Attachment,
    Export,
    Alert,
    Wallet,
    FarmerListEntry,
    Flag,
    Bonus,
    FactoryTask,
    Appeal,
    Notification,
    NotificationPreference,
    WebhookEndpoint,
    WebhookDelivery,
]


def _refused(factory, farmer, staff) -> Submission:
    claim = claim_create(factory=factory, farmer=farmer)
    submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())
    submission_review(submission_id=submission.pk, reviewer=staff, quality_score="0.2")
    return submission_settle(submission_id=submission.pk)


def money_state() -> dict:
    """Everything a refused request must leave as it was, in one query: per money table, the
    row count and a hash of every row's full text (any column of any row changing shows)."""
    tables = [model._meta.db_table for model in [*COUNTED, CommissionTier]]
    sql = " UNION ALL ".join(
        f"SELECT %s, count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
        for table in tables
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, tables)
        return {table: (count, digest) for table, count, digest in cursor.fetchall()}


def world_upload(world: World):
    """The world farmer's unfinished resumable upload of 4 bytes (evidence.ArchiveUpload), made
    when a test first needs it (each test's changes roll back, so it is looked up again)."""
    from datetime import timedelta

    from django.utils import timezone

    from evidence.models import ArchiveUpload

    farmer = world.users["farmer"]
    upload = ArchiveUpload.objects.filter(farmer=farmer, length=4, used_at__isnull=True).first()
    return upload or ArchiveUpload.objects.create(
        farmer=farmer, length=4, expires_at=timezone.now() + timedelta(hours=1)
    )
