"""`python manage.py receipt_verify FILE.json --public-key KEY`: the same check as
scripts/receipt_verify.py (receipts/proof.py), which needs no database."""

import json

from django.core.management.base import BaseCommand, CommandError

from receipts import proof


class Command(BaseCommand):
    help = "Verify a downloaded settlement receipt (signature, Merkle path, signed hourly root) offline."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--public-key", required=True, help="the platform's receipt key (base58)")

    def handle(self, *args, file, public_key, **options):
        try:
            with open(file, encoding="utf-8") as handle:
                document = json.load(handle)
        except (OSError, ValueError) as error:
            raise CommandError(f"cannot read {file}: {error}") from None
        errors = proof.verify_receipt_document(document, public_key)
        if errors:
            raise CommandError("INVALID: " + "; ".join(errors))
        body = document["receipt"]
        self.stdout.write(
            f"VALID: submission {body['submission']} ({body['status']}, quality {body['quality_score']}), "
            f"farmer reward {body['shares']['farmer_reward']} base units of {body['token']}, "
            f"in the hour {document['batch']['hour']} (root {document['batch']['root']})"
        )
