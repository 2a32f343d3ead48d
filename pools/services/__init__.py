"""Writes for factories and pools, one module per topic:

- factories.py   factory_create, factory_update, factory_rate_change, factory_pause/resume/close
- deposits.py    deposit_create, deposit_confirm, deposit_reject
- claims.py      claim_create, claim_expire, claims_expire_due
- submissions.py submission_create, submission_score (a batch of one), submission_review
- scoring.py     submissions_grade, submissions_score: the one scoring service and its holds
- batch.py       process_batch (take, score, settle a batch)
- settlement.py  submission_settle, settlement_adjust (the money of a demonstration)
- controls.py    a creator's allow/block lists, flags on paid demonstrations (decided by staff), bonuses
- factory_tasks.py factory_task_add, factory_task_remove (factories claimed task by task)
- dry_run.py     demonstration_dry_run: a score before submitting, stored nowhere
"""
