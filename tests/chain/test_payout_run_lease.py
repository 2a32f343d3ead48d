"""The payout run's lease (chain.locks.payout_run_lease, chain/services/runs.py): one run at a
time per chain, a killed run's lease expires by itself, and it holds through PgBouncer in
transaction mode, where the session advisory lock it replaced stalled the payouts (issue 18).

The runs are real Solana payout runs against LiteSVM (tests/chain/solana_svm.py); the skeleton
and its lease are the EVM run's too. The second run of a race starts, in a thread with its own
database connection, while the first is inside its signing step (its lease held)."""

from __future__ import annotations

import signal
import subprocess
import time
from contextlib import contextmanager

import psycopg
import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.db.models.functions import Now
from django.db.models.signals import post_save

from accounts.services import withdrawal_request
from chain.locks import payout_run_lease
from chain.models import PayoutRunLease, SolanaPayout
from chain.services.runs import PAYOUT_TASK_TIME_LIMIT
from chain.services.solana_payouts import solana_payouts_run
from chain.tasks import evm_payouts_task, solana_payouts_task
from tests.chain.leases import lease_held_elsewhere
from tests.chain.processes import manage_process, shell_process
from tests.chain.test_solana_payouts import paid_farmer, payout_cluster, token
from tests.concurrency import all_at_once

pytestmark = [pytest.mark.chain]


@pytest.fixture
def cluster(settings, tmp_path):
    return payout_cluster(settings, tmp_path)


class DuringSigning:
    """The cluster, calling `during()` when the run asks for its blockhash: inside the signing
    step, the lease held, between two of the run's transactions."""

    def __init__(self, cluster, during):
        self._cluster, self._during = cluster, during

    def __getattr__(self, name):
        return getattr(self._cluster, name)

    def latest_blockhash(self):
        self._during()
        return self._cluster.latest_blockhash()


@contextmanager
def lease_taken_over_once_a_payout_is_stored():
    """Another run takes the Solana lease as soon as this run stores a signed transaction (its
    lease expired meanwhile, as a run slower than FORGE_PAYOUT_RUN_LEASE_SECONDS would let it)."""

    def taken_over(sender, instance, created, **kwargs):
        if created:
            PayoutRunLease.objects.filter(name="solana").update(holder="a newer run")

    post_save.connect(taken_over, sender=SolanaPayout)
    try:
        yield
    finally:
        post_save.disconnect(taken_over, sender=SolanaPayout)


def another_run(cluster):
    """A whole payout run in another thread, on its own database connection; its report."""
    (report,) = all_at_once([lambda: solana_payouts_run(source=cluster, signer=cluster.signer)])
    if isinstance(report, Exception):
        raise report
    return report


def pending_withdrawal(symbol: str = "SOL"):
    farmer, address = paid_farmer(symbol)
    return withdrawal_request(user=farmer, token=token(symbol), amount="0.1", address=address)


def lease_is_free(name: str) -> bool:
    with payout_run_lease(name) as lease:
        return lease is not None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_of_two_concurrent_runs_one_pays_and_the_other_reports_busy_and_does_nothing(cluster):
    withdrawal = pending_withdrawal()
    seen = []
    report = solana_payouts_run(
        source=DuringSigning(cluster, lambda: seen.append(another_run(cluster))), signer=cluster.signer
    )

    (second,) = seen
    assert second.busy and (second.signed, second.sent, second.resent) == (0, 0, 0) and second.waiting == []
    assert not report.busy and (report.signed, report.sent) == (1, 1)
    payout = SolanaPayout.objects.get()  # one transaction, by the run that held the lease
    assert payout.withdrawal_id == withdrawal.pk
    assert lease_is_free("solana")  # released at the end


@pytest.mark.django_db
def test_each_chain_has_its_own_lease(cluster):
    pending_withdrawal()
    with lease_held_elsewhere("evm"):
        report = solana_payouts_run(source=cluster, signer=cluster.signer)
    assert not report.busy and report.signed == 1


@pytest.mark.django_db
def test_a_run_whose_lease_another_run_took_stops_before_sending(cluster):
    """The lease expired mid-run (a run slower than FORGE_PAYOUT_RUN_LEASE_SECONDS) and another
    run took it: at its next renewal the first run stops; the row it signed is in doubt and the
    next run sends it as is."""
    withdrawal = pending_withdrawal()

    with lease_taken_over_once_a_payout_is_stored():
        report = solana_payouts_run(source=cluster, signer=cluster.signer)
    assert report.lease_lost and not report.busy
    assert (report.signed, report.sent) == (1, 0)
    payout = SolanaPayout.objects.get()
    assert payout.status == "signed"  # stored, never sent by the run that lost its lease
    assert PayoutRunLease.objects.get(name="solana").holder == "a newer run"  # not released by the loser

    PayoutRunLease.objects.filter(name="solana").update(holder="", expires_at=Now())  # the newer run ended
    report = solana_payouts_run(source=cluster, signer=cluster.signer)
    assert (report.signed, report.resent) == (0, 1)  # the same bytes, never a second transaction
    cluster.finalize()
    solana_payouts_run(source=cluster, signer=cluster.signer)
    withdrawal.refresh_from_db()
    assert withdrawal.status == "sent" and SolanaPayout.objects.count() == 1


def lease_holder_process(seconds: int) -> subprocess.Popen:
    """A process that takes the Solana payout run lease (for `seconds`) and then hangs, as a run
    stuck on a node would, until it is killed."""
    code = (
        "import time\nfrom chain.locks import payout_run_lease\n"
        "with payout_run_lease('solana') as lease:\n"
        "    print('lease:', 'held' if lease else 'busy', flush=True)\n    time.sleep(600)\n"
    )
    return shell_process(code, {"FORGE_PAYOUT_RUN_LEASE_SECONDS": str(seconds)}, text=True)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_lease_left_by_a_killed_run_expires_and_the_next_run_proceeds(cluster):
    pending_withdrawal()
    lease_seconds = 6
    process = lease_holder_process(lease_seconds)
    try:
        output = []
        while not (line := process.stdout.readline()).startswith("lease:"):
            assert line, f"the lease holder ended: {''.join(output)[-3000:]}"
            output.append(line)
        assert line.strip() == "lease: held"
        held_at = time.monotonic()
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    killed_holder = PayoutRunLease.objects.get(name="solana").holder
    assert str(process.pid) in killed_holder  # the dead process's lease is still there

    busy = 0
    while (report := solana_payouts_run(source=cluster, signer=cluster.signer)).busy:
        busy += 1
        assert time.monotonic() - held_at < lease_seconds + 30, "the killed run's lease never expired"
        time.sleep(0.2)
    assert busy > 0  # the lease outlived its process, until it expired
    assert time.monotonic() - held_at >= lease_seconds - 1  # not before (the clocks may differ by a tick)
    assert report.signed == 1 and report.sent == 1
    assert lease_is_free("solana")


# ---- Through PgBouncer in transaction mode -------------------------------------------------------


def _pooler_servers(database: str) -> list[str]:
    """The states of the pooler's server connections to `database` (its admin console)."""
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"] or "postgres", dbname="pgbouncer", autocommit=True
    ) as admin:
        cursor = admin.execute("SHOW SERVERS")
        names = [column.name for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return [row["state"] for row in rows if row["database"] == database]


def pin_every_server_connection() -> list[psycopg.Connection]:
    """Clients that each hold one of the pooler's server connections to the test database in an
    open transaction, until none is left idle: the next statement of anyone else goes to a
    server connection opened for it, other than every one used so far."""
    from tests.integration.conftest import _database_url

    pins: list[psycopg.Connection] = []
    while any(state in ("idle", "used") for state in _pooler_servers(connection.settings_dict["NAME"])):
        # The pool holds at most default_pool_size + reserve_pool_size (20 + 5,
        # scripts/pgbouncer.sh) server connections; earlier tests may have left them all idle.
        assert len(pins) < 40, "the pooler keeps more idle server connections than its pool allows"
        pin = psycopg.connect(_database_url())  # not autocommit: the SELECT opens a transaction
        pin.execute("SELECT 1")
        pins.append(pin)
    return pins


@pytest.mark.skipif(django_settings.DATABASE_POOLER != "pgbouncer", reason="the suite does not run through PgBouncer")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_through_pgbouncer_a_run_releases_its_lease_on_whatever_server_connection_and_the_next_run_pays(cluster):
    """The old session advisory lock was taken on one server connection and released (or not)
    on whichever the pooler handed out at the end: with the first one busy elsewhere, the
    unlock released nothing and every later run reported busy. The lease is a row: any
    server connection releases it."""
    pending_withdrawal()
    pins: list[psycopg.Connection] = []
    try:
        report = solana_payouts_run(
            source=DuringSigning(cluster, lambda: pins.extend(pin_every_server_connection())),
            signer=cluster.signer,
        )
        assert pins, "the run used no server connection before signing"
        assert not report.busy and (report.signed, report.sent) == (1, 1)

        pending_withdrawal("USDC")  # the next run has work: it must do it, not stall as busy
        report = solana_payouts_run(source=cluster, signer=cluster.signer)
        assert not report.busy, "the payout run stalled behind the pooler: its lock was never released"
        assert report.signed == 1 and report.sent == 1
        assert lease_is_free("solana")
    finally:
        for pin in pins:
            pin.close()
    assert SolanaPayout.objects.count() == 2


@pytest.mark.django_db
def test_the_lease_is_renewed_before_each_withdrawal_signed(cluster):
    """The lease taken over once the first of two withdrawals is signed: the run stops at the
    next renewal, before signing the second (it renewed only before sending, after the whole
    batch was signed, so a slow batch could outlive its lease while signing)."""
    first, second = pending_withdrawal(), pending_withdrawal()
    with lease_taken_over_once_a_payout_is_stored():
        report = solana_payouts_run(source=cluster, signer=cluster.signer)
    assert report.lease_lost and (report.signed, report.sent) == (1, 0)
    assert list(SolanaPayout.objects.values_list("withdrawal_id", flat=True)) == [first.pk]
    second.refresh_from_db()
    assert second.status == "pending"  # left to the run that holds the lease


class DuringResend:
    """The cluster, calling `during()` when a transaction is sent again (tracking a live one)."""

    def __init__(self, cluster, during):
        self._cluster, self._during = cluster, during

    def __getattr__(self, name):
        return getattr(self._cluster, name)

    def send_transaction(self, raw: bytes) -> str:
        self._during()
        return self._cluster.send_transaction(raw)


@pytest.mark.django_db
def test_the_lease_is_renewed_before_each_transaction_tracked(cluster):
    """Two live payouts, the lease taken over while the first is re-sent: the run stops before
    tracking the second."""
    pending_withdrawal(), pending_withdrawal()
    assert solana_payouts_run(source=cluster, signer=cluster.signer).sent == 2  # confirmed, not final

    def taken_over():
        PayoutRunLease.objects.filter(name="solana").update(holder="a newer run")

    report = solana_payouts_run(source=DuringResend(cluster, taken_over), signer=cluster.signer)
    assert report.lease_lost and (report.resent, report.signed) == (1, 0)


def test_the_payout_tasks_time_limit_is_the_one_the_lease_is_checked_against():
    assert evm_payouts_task.time_limit == solana_payouts_task.time_limit == PAYOUT_TASK_TIME_LIMIT == 300


@pytest.mark.parametrize("payouts", ["FORGE_EVM_PAYOUTS_ENABLED", "FORGE_SOLANA_PAYOUTS_ENABLED"])
def test_a_lease_shorter_than_the_payout_tasks_time_limit_is_refused_at_start_with_payouts_on(payouts):
    """A lease of 299 s under a task that may run 300 s: a second run could take the lease from a
    live one between two renewals. Refused before anything starts (the key check comes after)."""
    process = manage_process("check", env={"FORGE_PAYOUT_RUN_LEASE_SECONDS": "299", payouts: "true"}, text=True)
    output = process.communicate(timeout=120)[0]
    assert process.returncode != 0
    assert "FORGE_PAYOUT_RUN_LEASE_SECONDS must be at least the payout tasks' time limit (300 s)" in output
    assert "not 299" in output


def test_a_short_lease_is_accepted_while_payouts_are_off():
    """No payout run happens then (the tasks return at once): the lease governs nothing."""
    process = manage_process("check", env={"FORGE_PAYOUT_RUN_LEASE_SECONDS": "6"}, text=True)
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 0, output[-3000:]


@pytest.mark.parametrize("value", ["0", "-5"])
def test_a_lease_shorter_than_a_second_is_refused_at_start(value):
    process = manage_process("check", env={"FORGE_PAYOUT_RUN_LEASE_SECONDS": value}, text=True)
    output = process.communicate(timeout=120)[0]
    assert process.returncode != 0
    assert f"FORGE_PAYOUT_RUN_LEASE_SECONDS must be a whole number of seconds >= 1, not {value}" in output
