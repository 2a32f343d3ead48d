"""`python manage.py demonstration_import ARCHIVE.zip`: print a recorder archive as a demonstration."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core.exceptions import ApplicationError
from evidence.services import archive_import

from ._errors import refusal


class Command(BaseCommand):
    help = (
        "Convert a desktop recorder archive (meta.json, input_log.jsonl, recording.mp4 in a zip) into the "
        "demonstration format and print it as JSON (docs/recorder-archive.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("archive", help="the recorder's zip archive")
        parser.add_argument("--final-state", help="what the screen shows at the end (the farmer's claim)")
        parser.add_argument("--notes", help="free text from the farmer")

    def handle(self, *args, **options):
        try:
            with open(options["archive"], "rb") as source:
                imported = archive_import(source, final_state=options["final_state"], notes=options["notes"])
        except OSError as error:
            raise CommandError(f"Cannot read {options['archive']}: {error.strerror or error}") from None
        except (ApplicationError, ValidationError) as error:
            raise refusal(error) from None
        self.stdout.write(json.dumps(imported.demonstration, indent=2, ensure_ascii=False))
