"""notify / notify_many: after commit only, idempotent by key, preferences, email sending."""

import pytest
from django.core import mail
from django.db import transaction

from notifications.models import Kind, Notification
from notifications.services import (
    Notice,
    emails_send_pending,
    notification_preferences_set,
    notifications_mark_read,
    notify,
    notify_many,
)
from tests.factories import FarmerFactory

pytestmark = pytest.mark.django_db


def _farmer(**kwargs):
    return FarmerFactory(email=kwargs.pop("email", "farmer@example.com"), **kwargs)


def test_notify_records_nothing_until_the_transaction_commits(django_capture_on_commit_callbacks):
    farmer = _farmer()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        notify(user=farmer, kind=Kind.SUBMISSION_PAID, subject="Paid", key="paid:1")
    assert Notification.objects.count() == 0
    for callback in callbacks:
        callback()
    assert Notification.objects.get().subject == "Paid"


def test_a_recorded_row_holds_every_field_as_the_model_stores_it(django_capture_on_commit_callbacks):
    from decimal import Decimal

    farmer = _farmer()
    payload = {"submission_id": 12, "amount": Decimal("0.000001"), "nested": {"ok": True, "none": None}}
    with django_capture_on_commit_callbacks(execute=True):
        notify(
            user=farmer,
            kind=Kind.SUBMISSION_PAID,
            subject="S" * 250,
            body="Paid 0.000001 USDC",
            url="/farm/" + "u" * 600,
            payload=payload,
            key="paid:12",
        )
    row = Notification.objects.get()
    assert (row.user_id, row.kind, row.key, row.body) == (
        farmer.pk,
        Kind.SUBMISSION_PAID,
        "paid:12",
        "Paid 0.000001 USDC",
    )
    assert row.subject == "S" * 200 and row.url == ("/farm/" + "u" * 600)[:500]
    assert row.payload == {"submission_id": 12, "amount": "0.000001", "nested": {"ok": True, "none": None}}
    assert row.read_at is None and row.email_wanted is True
    assert row.created_at is not None


def test_a_rolled_back_transaction_notifies_nobody(django_capture_on_commit_callbacks):
    farmer = _farmer()
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                notify(user=farmer, kind=Kind.SUBMISSION_PAID, subject="Paid")
                raise RuntimeError("settlement failed")
        except RuntimeError:
            pass
    assert Notification.objects.count() == 0


def test_the_same_key_twice_is_one_notification_and_one_email(django_capture_on_commit_callbacks):
    farmer = _farmer()
    with django_capture_on_commit_callbacks(execute=True):
        notify(user=farmer, kind=Kind.SUBMISSION_REFUSED, subject="Refused", body="Score 20%", key="refused:7")
        notify(user=farmer.pk, kind=Kind.SUBMISSION_REFUSED, subject="Refused", body="Score 20%", key="refused:7")
    assert Notification.objects.filter(user=farmer).count() == 1
    emails_send_pending()
    assert [message.subject for message in mail.outbox] == ["Refused"]
    assert mail.outbox[0].to == ["farmer@example.com"]
    assert emails_send_pending() == 0  # sent once, never again
    assert len(mail.outbox) == 1


def test_email_preference_off_keeps_the_centre_entry_and_sends_no_email(django_capture_on_commit_callbacks):
    farmer = _farmer()
    notification_preferences_set(user=farmer, choices={Kind.SUBMISSION_HELD: (True, False)})
    with django_capture_on_commit_callbacks(execute=True):
        notify(user=farmer, kind=Kind.SUBMISSION_HELD, subject="Held")
        notify(user=farmer, kind=Kind.SUBMISSION_PAID, subject="Paid")
    emails_send_pending()
    assert [message.subject for message in mail.outbox] == ["Paid"]
    assert Notification.objects.filter(user=farmer, read_at__isnull=True).count() == 2


def test_muted_in_the_centre_is_never_unread(django_capture_on_commit_callbacks):
    farmer = _farmer()
    notification_preferences_set(user=farmer, choices={Kind.SUBMISSION_PAID: (False, False)})
    with django_capture_on_commit_callbacks(execute=True):
        notify(user=farmer, kind=Kind.SUBMISSION_PAID, subject="Paid")
    assert Notification.objects.filter(user=farmer, read_at__isnull=True).count() == 0


def test_mark_read_touches_only_the_users_own_rows(django_capture_on_commit_callbacks):
    farmer, other = _farmer(), _farmer(email="other@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        notify_many(
            notices=[
                Notice(user_id=farmer.pk, kind=Kind.SUBMISSION_PAID, subject="a"),
                Notice(user_id=other.pk, kind=Kind.SUBMISSION_PAID, subject="b"),
            ]
        )
    others = list(Notification.objects.filter(user=other).values_list("pk", flat=True))
    assert notifications_mark_read(user=farmer, ids=others) == 0
    assert notifications_mark_read(user=farmer) == 1
    assert Notification.objects.filter(user=other, read_at__isnull=True).count() == 1


def test_an_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError):
        notify(user=1, kind="made.up", subject="x")


def test_recording_a_batch_runs_a_fixed_number_of_queries(django_assert_max_num_queries):
    from notifications.services import notifications_record

    def batch(n):
        return [
            Notice(user_id=_farmer(email=f"f{n}-{i}@example.com").pk, kind=Kind.SUBMISSION_PAID, subject="Paid")
            for i in range(n)
        ]

    small, large = batch(2), batch(40)
    with django_assert_max_num_queries(7):  # savepoint, preferences, addresses, insert, endpoints, release
        notifications_record(notices=small)
    with django_assert_max_num_queries(7):
        notifications_record(notices=large)
    assert Notification.objects.count() == 42


def test_a_user_without_an_email_address_is_never_queued_an_email(django_capture_on_commit_callbacks, monkeypatch):
    """Nobody to write to: the row is in the centre with no email wanted, and the sender is not
    woken for it (it used to spend such rows one at a time on the settling workers: 0.3 s after
    every batch of 500, docs/performance.md)."""
    from notifications import services

    woken = []
    monkeypatch.setattr(services, "wake_up_on_commit", lambda *args, **kwargs: woken.append(args))
    silent, reachable = _farmer(email=""), _farmer(email="reachable@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        notify(user=silent, kind=Kind.SUBMISSION_PAID, subject="Paid", key="paid:silent")
    assert Notification.objects.get(user=silent).email_wanted is False
    assert woken == []

    with django_capture_on_commit_callbacks(execute=True):
        notify(user=reachable, kind=Kind.SUBMISSION_PAID, subject="Paid", key="paid:reachable")
    assert Notification.objects.get(user=reachable).email_wanted is True
    assert woken == [("notifications.emails_send",)]
    emails_send_pending()
    assert [message.to for message in mail.outbox] == [["reachable@example.com"]]
