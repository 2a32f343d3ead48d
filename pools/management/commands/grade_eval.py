"""`python manage.py grade_eval PATH.jsonl [--json]`: how well the quality agent pays only for work done."""

import json
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from pools.grading.evaluation import CorpusError, corpus_grade, corpus_read, evaluation_report
from pools.models import EconomicsConfig


class Command(BaseCommand):
    help = "Grade a labelled corpus (JSONL) through the production grader; print accept rates, AUC and timing."

    def add_arguments(self, parser):
        parser.add_argument("path", help="JSON Lines corpus: {id, task, demonstration, label} per line")
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
        parser.add_argument(
            "--by", metavar="META_KEY", help='also summarise per value of meta[META_KEY], e.g. "family"'
        )

    def handle(self, *args, path, json: bool = False, by: str | None = None, **options):
        # The platform default, not a second copy of 0.5: staff may change the live row, but the
        # measure is of the agent against the documented default.
        threshold = EconomicsConfig._meta.get_field("quality_threshold").default
        review_below = Decimal(str(getattr(settings, "FORGE_REVIEW_BELOW_CONFIDENCE", 0) or 0))
        try:
            records = corpus_read(path)
            report = evaluation_report(
                corpus_grade(records, quality_threshold=threshold, review_below_confidence=review_below),
                group_by=by,
            )
        except CorpusError as error:
            raise CommandError(str(error)) from None
        if json:
            self.stdout.write(_dumps(report.as_json()))
            return
        self.stdout.write(f"threshold {threshold}, review below confidence {review_below}")
        self._table(report.labels)
        for name, labels in (report.groups or {}).items():
            self.stdout.write(f"\n{by} = {name}")
            self._table(labels)
        auc = "n/a" if report.auc is None else f"{report.auc:.4f}"
        self.stdout.write(f"AUC genuine vs rest: {auc}")
        self.stdout.write(f"grading time: p50 {report.p50_ms:.3f} ms, p99 {report.p99_ms:.3f} ms")

    def _table(self, labels) -> None:
        self.stdout.write(f"{'label':<12}{'n':>6}{'accepted':>10}{'share':>9}{'mean score':>12}")
        for label, summary in labels.items():
            self.stdout.write(
                f"{label:<12}{summary.n:>6}{summary.accepted:>10}{summary.accepted_share:>9.1%}"
                f"{summary.mean_score:>12.4f}"
            )


def _dumps(data) -> str:
    return json.dumps(data, sort_keys=True)
