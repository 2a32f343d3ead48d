"""Benchmark 7: the quality agent's text path, per demonstration (issue 16: p50 <= 2 ms).

Grades every record of the shared labelled corpus (`../shared/corpus/miniwob-dev.jsonl`, or
BENCH_GRADING_CORPUS) through the production entry point, `pools.grading.grade`, as
`make grade-eval` does, `rounds` times over, and records the per-demonstration p50/p99 and the
label table of the last round. Every round starts with the grader's memo caches emptied: each
demonstration is graded as one seen for the first time (as in production), not as a repeat. One
process, one core; no database is read (grading is pure), so the load of the machine is the
only noise: the JSON records the load average.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.common import ROOT

CORPUS = Path(os.environ.get("BENCH_GRADING_CORPUS", ROOT.parent / "shared" / "corpus" / "miniwob-dev.jsonl"))
TARGET_P50_MS = 2.0


def run(*, quick: bool = False) -> dict:
    from bench.common import PG, django_setup

    django_setup(f"{PG}/postgres")  # settings want a DATABASE_URL; grading opens no connection

    from django.conf import settings

    from pools.grading.evaluation import corpus_grade, corpus_read, evaluation_report, percentile
    from pools.models import EconomicsConfig

    threshold = EconomicsConfig._meta.get_field("quality_threshold").default
    review_below = settings.FORGE_REVIEW_BELOW_CONFIDENCE
    records = corpus_read(CORPUS)
    rounds = 2 if quick else 6
    times: list[float] = []
    graded = []
    for _ in range(rounds):
        _grader_caches_clear()
        graded = list(corpus_grade(records, quality_threshold=threshold, review_below_confidence=review_below))
        times.extend(item.milliseconds for item in graded)
    times.sort()
    report = evaluation_report(graded)
    p50, p99 = percentile(times, 50), percentile(times, 99)
    return {
        "corpus": str(CORPUS.relative_to(ROOT.parent)) if CORPUS.is_relative_to(ROOT.parent) else str(CORPUS),
        "records": len(records),
        "timed_gradings": len(times),
        "p50_ms": round(p50, 3),
        "p99_ms": round(p99, 3),
        "labels": {
            label: {"n": s.n, "accepted": s.accepted, "accepted_share": round(s.accepted_share, 4)}
            for label, s in report.labels.items()
        },
        "auc": round(report.auc, 4) if report.auc is not None else None,
        "load_average": list(os.getloadavg()),
        "target_p50_ms": TARGET_P50_MS,
        "met": p50 <= TARGET_P50_MS,
    }


def _grader_caches_clear() -> None:
    """Empty every `functools.lru_cache` of the grading package (texts already read, checks
    already proposed), so a round measures first-time gradings."""
    import importlib
    import pkgutil

    import pools.grading as package

    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for value in vars(module).values():
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()
