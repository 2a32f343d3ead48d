"""Writes for factories and pools, one module per topic:

- factories.py   factory_create, factory_update, factory_rate_change, factory_pause/resume/close
- deposits.py    deposit_create, deposit_confirm, deposit_reject
- claims.py      claim_create, claim_expire, claims_expire_due
- submissions.py submission_create, submission_score, submission_review
- settlement.py  submission_settle, settlement_adjust (the money of a demonstration)
"""
