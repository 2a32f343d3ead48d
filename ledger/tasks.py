"""Periodic ledger audit (Celery beat). Logs loudly on any mismatch."""

import logging

from celery import shared_task

from .audit import ledger_audit

logger = logging.getLogger(__name__)


@shared_task(name="ledger.audit", time_limit=600, soft_time_limit=540)
def ledger_audit_task() -> bool:
    report = ledger_audit()
    if report.ok:
        logger.info("ledger audit clean: %s", report.tokens)
    else:
        logger.error("LEDGER AUDIT FAILED: %s", report.mismatches)
    return report.ok
