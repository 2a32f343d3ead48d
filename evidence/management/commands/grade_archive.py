"""`python manage.py grade_archive ARCHIVE.zip --task TASK.json --json`: grade a recorder archive
through the evidence path (for support and tests); see evidence/services.py for the rule."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core.exceptions import ApplicationError
from evidence.services import archive_grade
from pools.grading import GraderUnavailable, ManualGradingOnly, TaskContext

from ._errors import refusal


class Command(BaseCommand):
    help = (
        "Convert a desktop recorder archive, check its video against its claims and grade it against a task "
        '({"title", "instructions", "expected_minutes", "success_checks"?}). Success checks are proposed from '
        "the instructions when the task gives none."
    )

    def add_arguments(self, parser):
        parser.add_argument("archive", help="the recorder's zip archive")
        parser.add_argument("--task", required=True, help="a JSON file with title, instructions, expected_minutes")
        parser.add_argument("--final-state", help="what the screen shows at the end (the farmer's claim)")
        parser.add_argument("--notes", help="free text from the farmer")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options):
        task, success_checks = _load_task(options["task"])
        try:
            with open(options["archive"], "rb") as source:
                graded = archive_grade(
                    source,
                    task=task,
                    success_checks=success_checks,
                    final_state=options["final_state"],
                    notes=options["notes"],
                )
        except OSError as error:
            raise CommandError(f"Cannot read {options['archive']}: {error.strerror or error}") from None
        except (ApplicationError, ValidationError) as error:
            raise refusal(error) from None
        except (GraderUnavailable, ManualGradingOnly) as error:
            raise CommandError(f"The grader did not answer: {error}") from None
        result = graded.as_dict()
        if options["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False, sort_keys=True))
            return
        evidence = result["breakdown"]["evidence"]
        self.stdout.write(
            f"score {result['score']}  paid {'yes' if result['paid'] else 'no'}"
            f"  held {'yes' if result['held'] else 'no'}"
            f"  (threshold {result['threshold']}, evidence {evidence['verdict']}, confidence {evidence['confidence']})"
        )
        for check in evidence["checks"]:
            self.stdout.write(f"  {check['result']:7} {check['name']}: {check['reason']}")
        for reason in result["reasons"]:
            self.stdout.write(f"  - {reason}")


def _load_task(path: str) -> tuple[TaskContext, list[str] | None]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as error:
        raise CommandError(f"Cannot read the task file {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise CommandError(f"The task file {path} is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise CommandError('The task file must be an object {"title", "instructions", "expected_minutes"}.')
    problems = []
    for field in ("title", "instructions"):
        if not isinstance(data.get(field), str) or not data[field].strip():
            problems.append(f"{field} must be a non-blank string")
    minutes = data.get("expected_minutes")
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1:
        problems.append("expected_minutes must be a whole number of minutes, at least 1")
    checks = data.get("success_checks")
    if checks is not None and (not isinstance(checks, list) or not all(isinstance(c, str) for c in checks)):
        problems.append("success_checks must be a list of strings")
    if problems:
        raise CommandError(f"The task file {path} is not a task: {'; '.join(problems)}.")
    return TaskContext(title=data["title"], instructions=data["instructions"], expected_minutes=minutes), checks
