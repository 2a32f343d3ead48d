"""`python manage.py deploy`: what a release runs before it serves traffic, in order.

1. `migrate --noinput`: the schema the code expects.
2. `collectstatic --noinput`: production stores static files with whitenoise's manifest
   storage, and every page links its CSS and scripts through that manifest; until it exists,
   every page is a 500 ("Missing staticfiles manifest entry").
3. `check --deploy --fail-level WARNING`: the security settings (HTTPS, HSTS, cookies).

Stops at the first step that fails, with a non-zero exit status. Idempotent: run it on every
release (docs/operations.md, "Deploying").
"""

from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Migrate, collect static files and run the deployment checks (run on every release)."

    def add_arguments(self, parser):
        parser.add_argument("--skip-migrate", action="store_true", help="Leave the database schema alone.")

    def handle(self, *args, skip_migrate: bool = False, **options):
        verbosity = options["verbosity"]
        if not skip_migrate:
            self.stdout.write("deploy: migrate")
            call_command("migrate", interactive=False, verbosity=verbosity)
        self.stdout.write("deploy: collectstatic")
        call_command("collectstatic", interactive=False, verbosity=verbosity)
        self.stdout.write("deploy: check --deploy")
        call_command("check", deploy=True, fail_level="WARNING")
        self.stdout.write(self.style.SUCCESS("deploy: ready to serve"))
