# Forge Pools. `make run` serves the demo; `make test` runs lint (ruff, import contracts) + the whole test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Every command that needs a database runs through scripts/devdb.py: with DATABASE_URL unset it
# starts the embedded PostgreSQL (data in .venv/pgdata, a free port on 127.0.0.1) and sets
# DATABASE_URL for the command; with DATABASE_URL set (CI, production) it changes nothing.
WITH_DB := $(BIN)/python scripts/devdb.py exec --

.PHONY: run test test-pgbouncer lint format worker beat bench bench-quick grade-eval migrate seed clean db-stop deploy solc hardhat

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

migrate: $(STAMP)
	$(WITH_DB) $(BIN)/python manage.py migrate --noinput

# A release: migrate, collectstatic, check --deploy (production settings unless overridden).
deploy: $(STAMP)
	DJANGO_SETTINGS_MODULE=$${DJANGO_SETTINGS_MODULE:-forge.settings.production} $(BIN)/python manage.py deploy

seed: migrate
	$(WITH_DB) $(BIN)/python manage.py seed_demo

# Serves on http://127.0.0.1:8000. With CELERY_BROKER_URL set, a worker and beat run too.
run: seed
	@$(WITH_DB) sh -c 'if [ -n "$$CELERY_BROKER_URL$$REDIS_URL" ]; then \
		$(BIN)/celery -A forge worker --beat -Q forge,reputation,evidence --loglevel=INFO --concurrency=2 & \
		trap "kill %1" EXIT; $(BIN)/python manage.py runserver 127.0.0.1:8000; \
	else \
		$(BIN)/python manage.py runserver 127.0.0.1:8000; \
	fi'

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint solc hardhat
	$(WITH_DB) $(BIN)/pytest $(PYTEST_ARGS)

# The money and integration tests through PgBouncer in transaction mode (docs/operations.md,
# "Connection pooling"): scripts/pgbouncer.sh starts it on 127.0.0.1:6432 in front of the
# PostgreSQL on 127.0.0.1:5432 (needs Debian's pgbouncer). The pooler's server connections to
# the test database are closed first, so that --create-db can drop it; the drop at the end is
# refused while the pooler holds connections (a warning: the database is left for next time).
PGBOUNCER_DB ?= forge_pgbouncer
PGBOUNCER_TESTS ?= tests/test_pgbouncer.py tests/test_money.py tests/ledger tests/integration \
	tests/accounts/test_withdrawals.py tests/referrals/test_commission_at_settlement.py \
	tests/referrals/test_self_referral_ring.py tests/referrals/test_account_link_ring.py \
	tests/pools/test_settlement.py tests/pools/test_batch.py tests/pools/test_claims_concurrency.py \
	tests/pools/test_mixed_load.py tests/pools/test_transaction_busy.py tests/pools/test_deposits.py \
	tests/pools/test_close.py tests/pools/test_review.py tests/chain/test_payout_run_lease.py
test-pgbouncer: $(STAMP)
	scripts/pgbouncer.sh start
	scripts/pgbouncer.sh kill test_$(PGBOUNCER_DB)
	DATABASE_URL=$$(scripts/pgbouncer.sh url $(PGBOUNCER_DB)) DATABASE_POOLER=pgbouncer \
		$(BIN)/pytest --create-db $(PGBOUNCER_TESTS)

# solc from the npm registry, for the `chain` tests' ERC-20 (tests/chain/evm.py pins the version;
# the tests install it themselves when missing).
solc: $(STAMP)
	$(BIN)/python -c "from tests.chain.evm import compiled_token; print('solc', compiled_token()['version'])"

# Hardhat Network from the npm registry: the JSON-RPC node of the payout tests (tests/chain/node.py
# pins the version; the tests install it themselves when missing).
hardhat: $(STAMP)
	$(BIN)/python -c "from tests.chain.node import hardhat_install; print(hardhat_install())"

worker: $(STAMP)
	$(WITH_DB) $(BIN)/celery -A forge worker -Q forge,reputation,evidence --loglevel=INFO

beat: $(STAMP)
	$(WITH_DB) $(BIN)/celery -A forge beat --loglevel=INFO

bench: $(STAMP)
	$(BIN)/python -m bench.run

bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick

# The quality agent on the shared labelled corpus (docs/quality-agent.md, issue 16). Grading
# reads no table, but Django's settings want a DATABASE_URL.
grade-eval: $(STAMP)
	$(WITH_DB) $(BIN)/python manage.py grade_eval ../shared/corpus/miniwob-dev.jsonl

# Stops the embedded PostgreSQL (its data stays in .venv/pgdata; the next command restarts it).
db-stop:
	@if [ -x $(BIN)/python ]; then $(BIN)/python scripts/devdb.py stop; fi

clean: db-stop
	rm -rf $(VENV) staticfiles test-artifacts tests/chain/.solc tests/chain/.hardhat
