"""Measure the quality agent on a labelled corpus (what `manage.py grade_eval` prints).

A corpus is JSON Lines, one record a line: `{"id", "task": {"title", "instructions",
"expected_minutes"}, "demonstration": {...}, "label", ...}` (the format of
`../shared/corpus/`, see its README). Every record is graded through the production entry
point `pools.grading.grade` with only the task and the demonstration; the label and every
other key are for scoring the agent, never shown to it.

A record counts as **accepted** (paid automatically) when its score reaches the quality
threshold and nothing holds it for review: neither a hold the grader asks for
(`GradeResult.hold_reasons`) nor a confidence under FORGE_REVIEW_BELOW_CONFIDENCE.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from . import TaskContext, grade

GENUINE = "genuine"


class CorpusError(ValueError):
    """A corpus that cannot be read: the message names the file and line."""


@dataclass(frozen=True)
class CorpusRecord:
    line: int
    id: str
    label: str
    task: TaskContext
    demonstration: dict
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class GradedRecord:
    record: CorpusRecord
    score: Decimal
    accepted: bool
    milliseconds: float


@dataclass(frozen=True)
class LabelSummary:
    n: int
    accepted: int
    accepted_share: float
    mean_score: float


@dataclass(frozen=True)
class EvaluationReport:
    labels: dict[str, LabelSummary]
    auc: float | None  # genuine against every other label; None without both kinds
    p50_ms: float
    p99_ms: float
    groups: dict[str, dict[str, LabelSummary]] | None = None

    def as_json(self) -> dict:
        data = {
            "labels": _labels_json(self.labels),
            "auc": None if self.auc is None else round(self.auc, 4),
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
        }
        if self.groups is not None:
            data["groups"] = {name: _labels_json(labels) for name, labels in self.groups.items()}
        return data


def _labels_json(labels: dict[str, LabelSummary]) -> dict:
    return {
        label: {
            "n": summary.n,
            "accepted": summary.accepted,
            "accepted_share": round(summary.accepted_share, 4),
            "mean_score": round(summary.mean_score, 4),
        }
        for label, summary in labels.items()
    }


def corpus_read(path: str | Path) -> list[CorpusRecord]:
    """Every record of a JSONL corpus; CorpusError names the first bad line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise CorpusError(f"Cannot read {path}: {error.strerror or error}.") from None
    except UnicodeDecodeError:
        raise CorpusError(f"{path} is not UTF-8 text.") from None
    records = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.strip():
            records.append(_parse_record(raw, path=path, line=number))
    if not records:
        raise CorpusError(f"{path} holds no records.")
    return records


def _parse_record(raw: str, *, path: Path, line: int) -> CorpusRecord:
    where = f"{path} line {line}"
    try:
        data = json.loads(raw)
    except ValueError as error:
        raise CorpusError(f"{where}: not JSON ({error}).") from None
    if not isinstance(data, dict):
        raise CorpusError(f"{where}: a record must be a JSON object.")
    task, demonstration, label = data.get("task"), data.get("demonstration"), data.get("label")
    if not isinstance(label, str) or not label:
        raise CorpusError(f"{where}: 'label' must be a non-empty string.")
    if not isinstance(demonstration, dict):
        raise CorpusError(f"{where}: 'demonstration' must be an object.")
    if not isinstance(task, dict):
        raise CorpusError(f"{where}: 'task' must be an object.")
    try:
        context = TaskContext(
            title=_string(task, "title"),
            instructions=_string(task, "instructions"),
            expected_minutes=task.get("expected_minutes"),
        )
    except (TypeError, ValueError) as error:
        raise CorpusError(f"{where}: task: {error}.") from None
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    return CorpusRecord(
        line=line, id=str(data.get("id", line)), label=label, task=context, demonstration=demonstration, meta=meta
    )


def _string(task: dict, key: str) -> str:
    value = task.get(key)
    if not isinstance(value, str):
        raise ValueError(f"'{key}' must be a string")
    return value


def corpus_grade(
    records: Iterable[CorpusRecord], *, quality_threshold: Decimal, review_below_confidence: Decimal
) -> Iterator[GradedRecord]:
    """Grade each record as production would and say whether it would be paid automatically."""
    for record in records:
        started = time.perf_counter()
        try:
            result = grade(record.demonstration, task=record.task)
        except Exception as error:  # a grader crash on one record is a finding, not a stack trace
            raise CorpusError(f"line {record.line} ({record.id}): the grader failed: {error!r}") from error
        elapsed_ms = (time.perf_counter() - started) * 1000
        held = bool(getattr(result, "hold_reasons", ())) or (
            review_below_confidence > 0 and result.confidence < review_below_confidence
        )
        yield GradedRecord(
            record=record,
            score=result.score,
            accepted=result.score >= quality_threshold and not held,
            milliseconds=elapsed_ms,
        )


def evaluation_report(graded: Iterable[GradedRecord], *, group_by: str | None = None) -> EvaluationReport:
    """Per-label summary, AUC and timing; with `group_by` (a `meta` key such as "family") also
    the per-label summary of each group, to see where the agent fails."""
    graded = list(graded)
    positives = [item.score for item in graded if item.record.label == GENUINE]
    negatives = [item.score for item in graded if item.record.label != GENUINE]
    times = sorted(item.milliseconds for item in graded)
    groups = None
    if group_by:
        members: dict[str, list[GradedRecord]] = {}
        for item in graded:
            members.setdefault(str(item.record.meta.get(group_by, "-")), []).append(item)
        groups = {name: _label_summaries(members[name]) for name in sorted(members)}
    return EvaluationReport(
        labels=_label_summaries(graded),
        auc=auc(positives, negatives),
        p50_ms=percentile(times, 50),
        p99_ms=percentile(times, 99),
        groups=groups,
    )


def _label_summaries(graded: list[GradedRecord]) -> dict[str, LabelSummary]:
    by_label: dict[str, list[GradedRecord]] = {}
    for item in graded:
        by_label.setdefault(item.record.label, []).append(item)
    labels = {}
    for label in sorted(by_label, key=lambda name: (name != GENUINE, name)):
        items = by_label[label]
        accepted = sum(item.accepted for item in items)
        labels[label] = LabelSummary(
            n=len(items),
            accepted=accepted,
            accepted_share=accepted / len(items),
            mean_score=float(sum(item.score for item in items) / len(items)),
        )
    return labels


def auc(positives: list, negatives: list) -> float | None:
    """P(a random positive scores above a random negative), ties counting half (Mann-Whitney)."""
    if not positives or not negatives:
        return None
    ordered = sorted([(score, 1) for score in positives] + [(score, 0) for score in negatives])
    rank_sum = 0.0  # sum of the positives' ranks, tied scores sharing their mean rank
    index = 0
    while index < len(ordered):
        end = index
        while end < len(ordered) and ordered[end][0] == ordered[index][0]:
            end += 1
        mean_rank = (index + 1 + end) / 2
        rank_sum += mean_rank * sum(kind for _, kind in ordered[index:end])
        index = end
    n_pos, n_neg = len(positives), len(negatives)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def percentile(ordered: list[float], percent: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when empty)."""
    if not ordered:
        return 0.0
    rank = max(1, -(-len(ordered) * percent // 100))
    return ordered[int(rank) - 1]
