"""Periodic ledger audit (Celery beat). Logs loudly on any mismatch."""

import logging
import time

from celery import shared_task

from core.metrics import values_set

from .audit import ledger_audit

logger = logging.getLogger(__name__)


@shared_task(name="ledger.audit", time_limit=600, soft_time_limit=540)
def ledger_audit_task() -> bool:
    report = ledger_audit()
    # For the metrics endpoint: the last result and when (forge/metrics.py).
    values_set(
        {
            "ledger_audit_ok": int(report.ok),
            "ledger_audit_mismatches": len(report.mismatches),
            "ledger_audit_at": time.time(),
        }
    )
    if report.ok:
        logger.info("ledger audit clean: %s", report.tokens)
    else:
        logger.error("LEDGER AUDIT FAILED: %s", report.mismatches)
    return report.ok
