"""`python manage.py audit_ledger`: per-token summary; exits 1 on any mismatch."""

from django.core.management.base import BaseCommand, CommandError

from ledger.audit import ledger_audit


class Command(BaseCommand):
    help = "Recompute every ledger balance from its entries and check the money invariants."

    def handle(self, *args, **options):
        report = ledger_audit()
        columns = ("deposited", "pools", "balances", "staked", "treasury", "withdrawn")
        self.stdout.write("token   " + "".join(f"{name:>28}" for name in columns))
        for symbol, totals in report.tokens.items():
            self.stdout.write(f"{symbol:<8}" + "".join(f"{totals[name]:>28}" for name in columns))
        if report.ok:
            self.stdout.write(self.style.SUCCESS("Ledger audit: OK"))
            return
        for mismatch in report.mismatches:
            self.stderr.write(self.style.ERROR(mismatch))
        raise CommandError(f"Ledger audit failed with {len(report.mismatches)} mismatch(es).")
