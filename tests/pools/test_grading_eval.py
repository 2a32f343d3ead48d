"""`manage.py grade_eval`: grades a labelled corpus through the production grader and reports honestly."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from pools.grading.evaluation import auc, percentile
from tests.pools.demonstrations import recording_data

START = datetime(2026, 1, 12, 9, 30, tzinfo=UTC)

TASK = {
    "title": "Rename a spreadsheet",
    "instructions": 'Open the spreadsheet and rename it to "Budget 2026".',
    "expected_minutes": 2,
}


def good_demonstration() -> dict:
    return recording_data(
        [
            {"t": 1.2, "action": "navigate", "url": "https://sheets.example.com/d/1"},
            {"t": 9.8, "action": "click", "target": "Document title"},
            {"t": 14.1, "action": "type", "target": "Document title", "text": "Budget 2026"},
            {"t": 15.9, "action": "key", "key": "Enter"},
        ],
        seconds=70,
        final_state='Spreadsheet title: "Budget 2026"',
        start=START,
    )


def waiting_demonstration() -> dict:
    return recording_data([{"t": 0, "action": "wait"}, {"t": 10, "action": "wait"}], seconds=20, start=START)


def write_corpus(path, records) -> str:
    path.write_text("\n".join(json.dumps(record) for record in records) + "\n")
    return str(path)


def record(label: str, demonstration: dict, number: int) -> dict:
    return {"id": f"r{number}", "task": TASK, "demonstration": demonstration, "label": label, "meta": {}}


@pytest.fixture
def corpus(tmp_path):
    return write_corpus(
        tmp_path / "corpus.jsonl",
        [
            record("genuine", good_demonstration(), 1),
            record("genuine", good_demonstration(), 2),
            record("junk", waiting_demonstration(), 3),
        ],
    )


def run(*args) -> str:
    out = StringIO()
    call_command("grade_eval", *args, stdout=out)
    return out.getvalue()


def test_json_output_has_counts_shares_auc_and_timing_per_label(corpus):
    report = json.loads(run(corpus, "--json"))
    assert set(report) == {"labels", "auc", "p50_ms", "p99_ms"}
    assert report["labels"]["genuine"]["n"] == 2
    assert report["labels"]["genuine"]["accepted"] == 2
    assert report["labels"]["genuine"]["accepted_share"] == 1.0
    assert (report["labels"]["junk"]["n"], report["labels"]["junk"]["accepted"]) == (1, 0)
    assert report["labels"]["junk"]["accepted_share"] == 0.0
    assert report["labels"]["junk"]["mean_score"] < 0.5 <= report["labels"]["genuine"]["mean_score"]
    assert report["auc"] == 1.0
    assert 0 < report["p50_ms"] <= report["p99_ms"]


def test_the_table_names_every_label_and_the_auc(corpus):
    text = run(corpus)
    assert "genuine" in text and "junk" in text
    assert "AUC genuine vs rest: 1.0000" in text
    assert "threshold 0.5" in text


def test_a_record_held_for_low_confidence_is_not_counted_as_paid(corpus, settings):
    settings.FORGE_REVIEW_BELOW_CONFIDENCE = 1.0001  # every grade is below: everything is held
    report = json.loads(run(corpus, "--json"))
    assert report["labels"]["genuine"]["accepted"] == 0


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        run(str(tmp_path / "nope.jsonl"))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not JSON"),
        ("[1, 2]", "line 2: a record must be a JSON object"),
        (json.dumps({"task": TASK, "demonstration": {}}), "line 2: 'label'"),
        (json.dumps({"task": TASK, "label": "junk"}), "line 2: 'demonstration'"),
        (json.dumps({"task": {**TASK, "expected_minutes": 0}, "demonstration": {}, "label": "x"}), "line 2: task"),
        (json.dumps({"task": {**TASK, "title": 5}, "demonstration": {}, "label": "x"}), "line 2: task: 'title'"),
    ],
)
def test_a_bad_line_is_a_clear_error_naming_the_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(record("genuine", good_demonstration(), 1)) + "\n" + line + "\n")
    with pytest.raises(CommandError, match=message):
        run(str(path))


def test_an_empty_corpus_is_an_error(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    with pytest.raises(CommandError, match="no records"):
        run(str(path))


def test_auc_counts_ties_as_half():
    assert auc([Decimal(1)], [Decimal(0)]) == 1.0
    assert auc([Decimal(0)], [Decimal(1)]) == 0.0
    assert auc([Decimal("0.5")], [Decimal("0.5")]) == 0.5
    assert auc([3, 1], [2, 2]) == 0.5
    assert auc([], [1]) is None


def test_percentile_is_nearest_rank():
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([float(n) for n in range(1, 101)], 99) == 99.0
    assert percentile([], 50) == 0.0


def test_by_groups_the_summary_by_a_meta_key(tmp_path):
    records = [
        {**record("genuine", good_demonstration(), 1), "meta": {"family": "sheets"}},
        {**record("junk", waiting_demonstration(), 2), "meta": {"family": "calendar"}},
        record("junk", waiting_demonstration(), 3),
    ]
    path = write_corpus(tmp_path / "grouped.jsonl", records)
    report = json.loads(run(path, "--json", "--by", "family"))
    assert set(report["groups"]) == {"calendar", "sheets", "-"}
    assert report["groups"]["sheets"]["genuine"]["accepted"] == 1
    assert report["groups"]["calendar"]["junk"]["n"] == 1
    assert "family = sheets" in run(path, "--by", "family")


def test_without_by_the_json_has_exactly_the_contract_keys(corpus):
    assert "groups" not in json.loads(run(corpus, "--json"))
