"""Settings shared by every environment. Values come from the environment (django-environ).

Every variable is documented in `.env.example`. Environment-specific modules (local, test,
production) import this one and change only what differs.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from core.observability import logging_config, sentry_configure

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_htmx",
    "axes",
    "forge",
    "core",
    "audit",
    "notifications",
    "accounts",
    "ledger",
    "pools",
    "reviews",
    "datasets",
    "referrals",
    "farmers",
    "evidence",
    "chain",
    "receipts",
]

MIDDLEWARE = [
    # First: every log record of the request carries its id (core/observability.py).
    "core.observability.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.middleware.ServiceAccountPagesMiddleware",
    "core.middleware.ServiceErrorPagesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "referrals.middleware.ReferralCodeMiddleware",
    # Last, as django-axes asks: it turns locked-out logins into a response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "forge.urls"
WSGI_APPLICATION = "forge.wsgi.application"
ASGI_APPLICATION = "forge.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.site",
                "notifications.context_processors.notifications",
            ],
        },
    },
]

# PostgreSQL only (money SQL has one dialect). `make run` and `make test` start an embedded
# PostgreSQL and set DATABASE_URL when it is unset (scripts/devdb.py); everything else sets it.
if not env("DATABASE_URL", default=""):
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. Run through `make` (run, test, migrate, worker), which starts the "
        "embedded PostgreSQL, or `export DATABASE_URL=$(.venv/bin/python scripts/devdb.py url)`, or "
        "point it at your PostgreSQL: postgres://USER@HOST:5432/NAME (see .env.example)."
    )
DATABASES = {"default": env.db("DATABASE_URL")}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured(
        f"DATABASE_URL must name a PostgreSQL database (postgres://...), not {DATABASES['default']['ENGINE']}."
    )
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Behind PgBouncer in transaction mode (docs/operations.md, "Connection pooling"): a server
# connection is ours for one transaction only, so nothing may outlive one. Server-side cursors
# (`.iterator()` outside a transaction uses WITH HOLD cursors) are off, and psycopg never
# prepares named statements (Django binds parameters client-side; prepare_threshold=None
# makes sure). Session settings Django makes (the time zone) PgBouncer re-applies itself.
DATABASE_POOLER = env("DATABASE_POOLER", default="")
if DATABASE_POOLER not in ("", "pgbouncer"):
    raise ImproperlyConfigured(f"DATABASE_POOLER must be empty or 'pgbouncer', not {DATABASE_POOLER!r}.")
if DATABASE_POOLER == "pgbouncer":
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Request bodies: demonstrations are JSON; recordings are attachments with their own limit.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=3 * 1024 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's token authentication with a leaner lookup (accounts/authentication.py).
        "accounts.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Signed in, and not the grading service unless the view allows it (core/api.py).
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "core.api.GraderOnlyWhereAllowed",
    ],
    # JSON with a nesting limit (core/api.py), forms, multipart (attachment uploads).
    "DEFAULT_PARSER_CLASSES": [
        "core.api.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.exceptions.api_exception_handler",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": [],
    "DEFAULT_THROTTLE_RATES": {
        "register": env("THROTTLE_REGISTER", default="20/hour"),
        "token": env("THROTTLE_TOKEN", default="30/minute"),
        "claims": env("THROTTLE_CLAIMS", default="120/minute"),
        "submissions": env("THROTTLE_SUBMISSIONS", default="120/minute"),
        # Dry-run scores (pools/apis/dry_run.py and the claim page): a farmer tries a few
        # versions, not thousands (probing the rubric).
        "dry_run": env("THROTTLE_DRY_RUN", default="30/hour"),
        "wallets": env("THROTTLE_WALLETS", default="30/minute"),
    },
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Forge Pools API",
    "DESCRIPTION": "Factory pools, demonstrations, quality scoring and settlement. "
    "Money is always a decimal string in the token's units.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI's assets from the installed sidecar package: no CDN at run time.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `kind` field with different choices: each gets its own name.
    "ENUM_NAME_OVERRIDES": {"NotificationKindEnum": "notifications.models.Kind"},
}

# Cache: Redis when configured (shared by throttles across processes), memory otherwise.
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: with no broker configured, tasks run in-process (eager) so `make run` needs nothing.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The worker logs through LOGGING (JSON lines with the request id), not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A busy worker reserves nothing more (on Redis it otherwise holds one extra message): the
# batch processor runs as one chain of tasks per free worker, and a chain's next message
# reserved behind a running task leaves the other worker idle (measured: half the time).
CELERY_WORKER_DISABLE_PREFETCH = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task not acknowledged within this window is redelivered: longer than any late-acknowledged
# task's hard time limit (tests/core/test_queue.py checks them all), or it would run twice at once.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    # A broker that drops packets must not hang a web request: publishing gives up quickly
    # (the durable status column and the sweeper make up for a lost message).
    "socket_timeout": 5,
    "socket_connect_timeout": 3,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
CELERY_TASK_DEFAULT_QUEUE = "forge"
# Reputation is recomputed downstream of money: its own queue keeps a burst of recomputation
# from delaying settlements. `make worker` consumes both; large deployments give it its own worker.
# Evidence examination (decoding, OCR) is CPU-heavy: its own queue keeps it from delaying
# settlements; deployments scale it with more worker processes (bench/evidence.py).
CELERY_TASK_ROUTES = {"farmers.*": {"queue": "reputation"}, "evidence.recording_examine": {"queue": "evidence"}}
FORGE_WORKER_QUEUES = "forge,reputation,evidence"
CELERY_BEAT_SCHEDULE = {
    "claims-expire": {"task": "pools.claims_expire", "schedule": 60.0},
    "submissions-sweep": {"task": "pools.submissions_sweep", "schedule": 60.0},
    "recordings-sweep": {"task": "evidence.recordings_sweep", "schedule": 60.0},
    "submissions-process-pending": {"task": "pools.submissions_process_pending", "schedule": 30.0},
    "reputation-refresh": {"task": "farmers.reputation_refresh", "schedule": 60.0},
    "ledger-audit": {"task": "ledger.audit", "schedule": 3600.0},
    "stakes-release": {"task": "referrals.unstakes_release", "schedule": 300.0},
    "alerts-check": {"task": "pools.alerts_check", "schedule": 300.0},
    "exports-sweep": {"task": "pools.exports_sweep", "schedule": 120.0},
    "evm-watch": {"task": "chain.evm_watch", "schedule": 15.0},
    "evm-payouts": {"task": "chain.evm_payouts", "schedule": 15.0},
    "solana-watch": {"task": "chain.solana_watch", "schedule": 20.0},
    "solana-payouts": {"task": "chain.solana_payouts", "schedule": 20.0},
    "receipts-publish": {"task": "receipts.publish", "schedule": 300.0},
    "uploads-expire": {"task": "evidence.uploads_expire", "schedule": 600.0},
    "notifications-emails-sweep": {"task": "notifications.emails_send", "schedule": 60.0},
    "webhooks-sweep": {"task": "notifications.webhooks_sweep", "schedule": 30.0},
    "appeals-sweep": {"task": "reviews.appeals_sweep", "schedule": 300.0},
    "signin-signals-purge": {"task": "accounts.signin_signals_purge", "schedule": 86400.0},
}

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Forge Pools <noreply@forge.invalid>")

# django-axes: lock a username+IP after repeated failed logins.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.5)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True

# ---- Forge settings named by the API contract and the economics -------------------------
# Confirm deposits on receipt (demo/local) or wait for staff/the payment service (production).
FORGE_DEPOSITS_AUTOCONFIRM = env.bool("FORGE_DEPOSITS_AUTOCONFIRM", default=False)
# rules (built-in agent) | http (outside grading service) | manual (review endpoint only)
# | judge (rules + a model judge as second opinion)
FORGE_GRADER = env("FORGE_GRADER", default="rules")
FORGE_GRADER_HTTP_URL = env("FORGE_GRADER_HTTP_URL", default="")
FORGE_GRADER_HTTP_KEY = env("FORGE_GRADER_HTTP_KEY", default="")
FORGE_GRADER_HTTP_TIMEOUT = env.float("FORGE_GRADER_HTTP_TIMEOUT", default=10.0)
FORGE_GRADER_HTTP_RETRIES = env.int("FORGE_GRADER_HTTP_RETRIES", default=2)
# FORGE_GRADER=judge: an OpenAI-compatible chat-completions endpoint (base URL or full path).
FORGE_GRADER_JUDGE_URL = env("FORGE_GRADER_JUDGE_URL", default="")
FORGE_GRADER_JUDGE_KEY = env("FORGE_GRADER_JUDGE_KEY", default="")
FORGE_GRADER_JUDGE_MODEL = env("FORGE_GRADER_JUDGE_MODEL", default="default")
FORGE_GRADER_JUDGE_TIMEOUT = env.float("FORGE_GRADER_JUDGE_TIMEOUT", default=60.0)
FORGE_GRADER_JUDGE_RETRIES = env.int("FORGE_GRADER_JUDGE_RETRIES", default=2)
# What farmers are told a staff review of a held submission takes (the submission page).
# Days after its settlement during which a creator may flag a paid demonstration (pools.Flag).
FORGE_FLAG_WINDOW_DAYS = env.int("FORGE_FLAG_WINDOW_DAYS", default=7)
FORGE_REVIEW_EXPECTED_HOURS = env.int("FORGE_REVIEW_EXPECTED_HOURS", default=48)
# Appeals (reviews/): a refused or held score may be appealed this many days after the decision.
# The model judge (FORGE_GRADER_JUDGE_URL) answers first when configured, signing its score
# changes as this service account (created on first use, role grader, no password).
FORGE_APPEAL_WINDOW_DAYS = env.int("FORGE_APPEAL_WINDOW_DAYS", default=7)
FORGE_APPEAL_JUDGE_ACCOUNT = env("FORGE_APPEAL_JUDGE_ACCOUNT", default="appeal-judge")
# The agent checks the recording against the server's claim window (claim creation to
# submission; docs/quality-agent.md, `outside_claim_window`). Off only in the unit-test settings,
# whose fixture recordings carry fixed dates (tests/pools/test_claim_window.py turns it on).
FORGE_GRADE_CLAIM_WINDOW = env.bool("FORGE_GRADE_CLAIM_WINDOW", default=True)
# Scores whose confidence is below this go to staff review instead of being paid automatically.
# 0.4: a grade the agent could not back with evidence (docs/quality-agent.md) waits for a person.
FORGE_REVIEW_BELOW_CONFIDENCE = env.float("FORGE_REVIEW_BELOW_CONFIDENCE", default=0.4)
# A submission left in submitted/scoring longer than this is re-enqueued by the sweeper.
FORGE_SWEEP_AFTER_SECONDS = env.int("FORGE_SWEEP_AFTER_SECONDS", default=120)
# A recording still waiting for its evidence this long after submission has lost its task
# (examination takes seconds to a few minutes): the evidence sweeper sends it again.
FORGE_EVIDENCE_SWEEP_AFTER_SECONDS = env.int("FORGE_EVIDENCE_SWEEP_AFTER_SECONDS", default=900)
# The sweeper sends a lost examination again at most this many times (SWEEP_AFTER_SECONDS apart);
# then the submission is marked "failed" and held for staff review with the reason.
FORGE_EVIDENCE_SWEEP_MAX_ATTEMPTS = env.int("FORGE_EVIDENCE_SWEEP_MAX_ATTEMPTS", default=8)
# The batch processor takes this many waiting submissions at a time (rules grader); an outside
# (http) grader gets smaller batches so a task stays short.
FORGE_BATCH_SIZE = env.int("FORGE_BATCH_SIZE", default=500)
FORGE_HTTP_BATCH_SIZE = env.int("FORGE_HTTP_BATCH_SIZE", default=10)
# One processing run takes full batches back to back for up to this long (rules grader), then
# passes the baton to a new message (pools/tasks.py); well inside the task's soft time limit (100 s).
FORGE_BATCH_DRAIN_SECONDS = env.float("FORGE_BATCH_DRAIN_SECONDS", default=10.0)
# Under a steady stream (the last batch was not full, more has arrived) the run takes its next
# batch this much later, so rows gather into one batch instead of paying a batch's fixed cost
# for every few (docs/performance.md, benchmark 6). Adds up to this much to submit-to-paid;
# 0 passes the baton at once instead.
FORGE_BATCH_GATHER_SECONDS = env.float("FORGE_BATCH_GATHER_SECONDS", default=0.5)
# A scored submission still unsettled after this long (its worker died) is settled by another.
FORGE_RESETTLE_AFTER_SECONDS = env.int("FORGE_RESETTLE_AFTER_SECONDS", default=30)
# API request bodies nesting lists/objects deeper than this are refused (400).
FORGE_JSON_MAX_DEPTH = env.int("FORGE_JSON_MAX_DEPTH", default=64)
FORGE_DEMONSTRATION_MAX_BYTES = env.int("FORGE_DEMONSTRATION_MAX_BYTES", default=2 * 1024 * 1024)
FORGE_ATTACHMENT_MAX_BYTES = env.int("FORGE_ATTACHMENT_MAX_BYTES", default=200 * 1024 * 1024)
# Resumable uploads of recorder archives (tus, evidence/uploads.py): per farmer, at most this
# many unfinished uploads and this many declared bytes across uploads not yet expired or used;
# at most this many bytes per PATCH; an upload untouched this long expires (the beat task
# evidence.uploads_expire deletes it and its chunks).
FORGE_UPLOAD_MAX_CONCURRENT = env.int("FORGE_UPLOAD_MAX_CONCURRENT", default=3)
FORGE_UPLOAD_MAX_BYTES_PER_FARMER = env.int("FORGE_UPLOAD_MAX_BYTES_PER_FARMER", default=1024 * 1024 * 1024)
FORGE_UPLOAD_CHUNK_MAX_BYTES = env.int("FORGE_UPLOAD_CHUNK_MAX_BYTES", default=32 * 1024 * 1024)
FORGE_UPLOAD_EXPIRY_HOURS = env.int("FORGE_UPLOAD_EXPIRY_HOURS", default=24)
FORGE_SITE_NAME = "Forge Pools"
# Reputation ignores work paying less than this per demonstration (docs/reputation.md): a
# near-free factory of one's own must not buy a premium reputation.
FORGE_REPUTATION_MIN_REWARD = {"USDC": "0.01", "SOL": "0.0001", "ETH": "0.000005", "CLONES": "1"}
# No one creator's work is more than this share of the evidence behind a reputation (0 < share
# <= 1; 1 turns the limit off): one creator, even a sock puppet we cannot link, lifts a farmer
# at most 50 x share points above the newcomer's 50 (docs/reputation.md, "One creator's share").
FORGE_REPUTATION_MAX_CREATOR_SHARE = env.float("FORGE_REPUTATION_MAX_CREATOR_SHARE", default=0.25)
if not 0 < FORGE_REPUTATION_MAX_CREATOR_SHARE <= 1:
    raise ImproperlyConfigured(
        f"FORGE_REPUTATION_MAX_CREATOR_SHARE must be above 0 and at most 1, not {FORGE_REPUTATION_MAX_CREATOR_SHARE}."
    )

# ---- Account links (docs/security.md, "Account links") -----------------------------------
# Key of the salted hashes of sign-in networks and user agents; empty means SECRET_KEY.
FORGE_SIGNAL_SALT = env("FORGE_SIGNAL_SALT", default="")
# Sign-in signals older than this are deleted (daily, accounts.signin_signals_purge).
FORGE_SIGNIN_SIGNAL_RETENTION_DAYS = env.int("FORGE_SIGNIN_SIGNAL_RETENTION_DAYS", default=90)
# Where the client's address is read: REMOTE_ADDR, or behind a proxy a header it overwrites
# (e.g. HTTP_X_REAL_IP); never a header the client can set.
FORGE_CLIENT_IP_HEADER = env("FORGE_CLIENT_IP_HEADER", default="REMOTE_ADDR")
# A network and browser seen with more accounts than this in the window links none of them.
FORGE_DEVICE_LINK_MAX_ACCOUNTS = env.int("FORGE_DEVICE_LINK_MAX_ACCOUNTS", default=10)
# How far links are followed: A-B and B-C link A and C at depth 2.
FORGE_LINK_DEPTH = env.int("FORGE_LINK_DEPTH", default=3)

# ---- Datasets, attachments and alerts (docs/datasets.md) ---------------------------------
# Attachment uploads must be one of these types (and the one the demonstration declared).
FORGE_ATTACHMENT_CONTENT_TYPES = env.list(
    "FORGE_ATTACHMENT_CONTENT_TYPES",
    default=["video/mp4", "video/webm", "image/png", "image/jpeg", "application/json"],
)
# Key of the farmer pseudonyms in datasets; empty means SECRET_KEY. Changing it changes every
# pseudonym, so set it once and keep it when SECRET_KEY is rotated.
FORGE_PSEUDONYM_SECRET = env("FORGE_PSEUDONYM_SECRET", default="")
# Rows fetched per database round trip while exporting, and how often progress is saved.
FORGE_EXPORT_CHUNK_SIZE = env.int("FORGE_EXPORT_CHUNK_SIZE", default=500)
FORGE_EXPORT_PROGRESS_EVERY = env.int("FORGE_EXPORT_PROGRESS_EVERY", default=500)
# A running export whose progress has not moved for this long lost its worker: run it again.
FORGE_EXPORT_STALE_SECONDS = env.int("FORGE_EXPORT_STALE_SECONDS", default=600)
FORGE_EXPORT_TIME_LIMIT = env.int("FORGE_EXPORT_TIME_LIMIT", default=4 * 3600)
# Creators are alerted when the pool cannot pay this many more rewards.
FORGE_ALERT_POOL_LOW_REWARDS = env.int("FORGE_ALERT_POOL_LOW_REWARDS", default=3)
# Links in alert emails start with this (e.g. https://forge.example.com).
FORGE_SITE_URL = env("FORGE_SITE_URL", default="http://127.0.0.1:8000")

# Webhooks (notifications/, Standard Webhooks). Seconds before each retry after a failed
# attempt (the spec's reference schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), then give up.
WEBHOOK_RETRY_SECONDS = env.list(
    "FORGE_WEBHOOK_RETRY_SECONDS", cast=int, default=[5, 300, 1800, 7200, 18000, 36000, 36000]
)
WEBHOOK_TIMEOUT_SECONDS = env.float("FORGE_WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_MAX_ENDPOINTS = env.int("FORGE_WEBHOOK_MAX_ENDPOINTS", default=10)
# Plain-http endpoints only for local development and tests.
WEBHOOKS_ALLOW_HTTP = env.bool("FORGE_WEBHOOKS_ALLOW_HTTP", default=DEBUG)

# Logs (docs/operations.md, "Logs and request ids"): JSON lines with LOG_FORMAT=json (the
# production default), plain text otherwise; every record carries the request id.
LOG_FORMAT = env("LOG_FORMAT", default="plain")
LOGGING = logging_config(json_logs=LOG_FORMAT == "json", level=env("LOG_LEVEL", default="INFO"))

# Error reporting (Sentry) only when SENTRY_DSN is set; nothing is sent otherwise.
SENTRY_DSN = env("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env("SENTRY_ENVIRONMENT", default="development")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
SENTRY_CONFIGURED = sentry_configure(
    dsn=SENTRY_DSN, environment=SENTRY_ENVIRONMENT, traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE
)

# The Prometheus endpoint /metrics (docs/operations.md, "Metrics"): staff, a client whose
# REMOTE_ADDR is in one of these networks (CIDR, comma-separated; none by default: behind a
# proxy on the same host every request would come from 127.0.0.1), or this bearer token.
FORGE_METRICS_ALLOWED_NETWORKS = env.list("FORGE_METRICS_ALLOWED_NETWORKS", default=[])
FORGE_METRICS_TOKEN = env("FORGE_METRICS_TOKEN", default="")

FORGE_CLONES_DECIMALS = env.int("FORGE_CLONES_DECIMALS", default=9)

# Wallets and the chain (docs/chain.md). A newly linked wallet receives withdrawals only after
# the cooldown; a sign-in nonce is valid for its TTL and once.
FORGE_WALLET_COOLDOWN_HOURS = env.float("FORGE_WALLET_COOLDOWN_HOURS", default=24.0)
FORGE_WALLET_NONCE_TTL_SECONDS = env.int("FORGE_WALLET_NONCE_TTL_SECONDS", default=600)
# EIP-155 chain id in Sign-In with Ethereum messages (1 mainnet, 8453 Base, 11155111 Sepolia).
FORGE_EVM_CHAIN_ID = env.int("FORGE_EVM_CHAIN_ID", default=1)
# Solana cluster in Sign-In with Solana messages: mainnet | devnet | testnet | localnet.
FORGE_SOLANA_CLUSTER = env("FORGE_SOLANA_CLUSTER", default="mainnet")
# The EVM deposit watcher (chain.evm_watch, beat): off while FORGE_EVM_RPC_URL is empty.
FORGE_EVM_RPC_URL = env("FORGE_EVM_RPC_URL", default="")
FORGE_EVM_NETWORK_NAME = env("FORGE_EVM_NETWORK_NAME", default="Ethereum mainnet")
FORGE_EVM_TREASURY_ADDRESS = env("FORGE_EVM_TREASURY_ADDRESS", default="")
# A transfer is credited once its block has this many confirmations (itself included).
FORGE_EVM_CONFIRMATIONS = env.int("FORGE_EVM_CONFIRMATIONS", default=12)
# Block hashes kept to notice a reorg; a reorg deeper than this stops the watcher for staff.
FORGE_EVM_REORG_DEPTH = env.int("FORGE_EVM_REORG_DEPTH", default=64)
FORGE_EVM_BLOCKS_PER_RUN = env.int("FORGE_EVM_BLOCKS_PER_RUN", default=200)
# Where a new cursor starts (empty: the current head, minus the confirmation depth).
FORGE_EVM_START_BLOCK = env.int("FORGE_EVM_START_BLOCK", default=None)
# Payouts sent by the system (chain/services/payouts.py, docs/chain.md "Payouts"). Off by default:
# withdrawals wait for staff to mark them sent. On: the hot wallet's key must come from a file
# (preferred) or the environment, never the database, or no process starts.
FORGE_EVM_PAYOUTS_ENABLED = env.bool("FORGE_EVM_PAYOUTS_ENABLED", default=False)
FORGE_EVM_HOT_WALLET_KEY_FILE = env("FORGE_EVM_HOT_WALLET_KEY_FILE", default="")
FORGE_EVM_HOT_WALLET_KEY = env("FORGE_EVM_HOT_WALLET_KEY", default="")
# Withdrawals signed per payout run (beat, every 15 s), one transaction each.
FORGE_EVM_PAYOUTS_PER_RUN = env.int("FORGE_EVM_PAYOUTS_PER_RUN", default=20)
# How long a payout run's lease (chain.locks.payout_run_lease) lasts past its last renewal: at
# least the payout tasks' hard time limit (chain.services.runs.PAYOUT_TASK_TIME_LIMIT, 300 s),
# so a live run never outlives it; the chain app refuses to start with payouts on and less (its
# ready(): settings import no app). A killed run blocks the next one at most this long.
FORGE_PAYOUT_RUN_LEASE_SECONDS = env.int("FORGE_PAYOUT_RUN_LEASE_SECONDS", default=300)
if FORGE_PAYOUT_RUN_LEASE_SECONDS < 1:
    raise ImproperlyConfigured(
        f"FORGE_PAYOUT_RUN_LEASE_SECONDS must be a whole number of seconds >= 1, not {FORGE_PAYOUT_RUN_LEASE_SECONDS}."
    )
# Gas price ceiling in gwei: above it the run waits (signs nothing new) rather than overpay.
FORGE_EVM_MAX_GAS_PRICE_GWEI = env.int("FORGE_EVM_MAX_GAS_PRICE_GWEI", default=200)
# Staff approve a withdrawal above this amount, or one taking the user's total of the last
# 24 h above the daily limit, per token symbol ("USDC=1000,ETH=0.5"; a token not named: none).
FORGE_WITHDRAWAL_APPROVAL_ABOVE = env.dict("FORGE_WITHDRAWAL_APPROVAL_ABOVE", default={})
FORGE_WITHDRAWAL_DAILY_LIMIT = env.dict("FORGE_WITHDRAWAL_DAILY_LIMIT", default={})
# The admin index warns when the hot wallet holds less than this of a token ("ETH=0.1,USDC=500").
FORGE_EVM_HOT_WALLET_LOW = env.dict("FORGE_EVM_HOT_WALLET_LOW", default={})
# The Solana deposit watcher (chain.solana_watch, beat): off while FORGE_SOLANA_RPC_URL is empty.
# It credits at `finalized` commitment. Mints: "USDC=<mint>,CLONES=<mint>" (SOL is native).
FORGE_SOLANA_RPC_URL = env("FORGE_SOLANA_RPC_URL", default="")
FORGE_SOLANA_TREASURY_ADDRESS = env("FORGE_SOLANA_TREASURY_ADDRESS", default="")
FORGE_SOLANA_MINTS = env.dict("FORGE_SOLANA_MINTS", default={})
FORGE_SOLANA_SIGNATURES_PER_PAGE = env.int("FORGE_SOLANA_SIGNATURES_PER_PAGE", default=1000)
# A pending transfer whose signature the cluster forgot this long after it was seen is dropped.
FORGE_SOLANA_DROP_AFTER_SECONDS = env.int("FORGE_SOLANA_DROP_AFTER_SECONDS", default=600)
# Solana payouts sent by the system (chain/services/solana_payouts.py). Off by default. On: the
# hot wallet's key comes from a file (a Solana CLI keypair JSON, 64 bytes) or the environment
# (the same JSON or base58 of the 64 bytes), never the database, or no process starts.
FORGE_SOLANA_PAYOUTS_ENABLED = env.bool("FORGE_SOLANA_PAYOUTS_ENABLED", default=False)
FORGE_SOLANA_HOT_WALLET_KEY_FILE = env("FORGE_SOLANA_HOT_WALLET_KEY_FILE", default="")
FORGE_SOLANA_HOT_WALLET_KEY = env("FORGE_SOLANA_HOT_WALLET_KEY", default="")
FORGE_SOLANA_PAYOUTS_PER_RUN = env.int("FORGE_SOLANA_PAYOUTS_PER_RUN", default=20)
# The admin index warns when the Solana hot wallet holds less than this ("SOL=1,USDC=500").
FORGE_SOLANA_HOT_WALLET_LOW = env.dict("FORGE_SOLANA_HOT_WALLET_LOW", default={})
# Signed settlement receipts (docs/receipts.md): the platform's ed25519 key, from a file (a
# 64-hex seed or a Solana CLI keypair JSON) or the environment (the hex seed); never the DB.
# Without one, no receipt is written.
FORGE_RECEIPT_KEY_FILE = env("FORGE_RECEIPT_KEY_FILE", default="")
FORGE_RECEIPT_SIGNING_KEY = env("FORGE_RECEIPT_SIGNING_KEY", default="")
LEDGER_AUDIT_CHECKS = [
    "pools.selectors.audit_pools",
    "referrals.selectors.audit_commission_rollup",
    "chain.selectors.audit_chain_deposits",
    "chain.selectors.audit_solana_payouts",
]
# Lower apps that need a higher app's data name the function here instead of importing it
# (imports run one way: pools above farmers and referrals; docs/architecture.md).
FARMERS_WORK_RECORDS = "pools.selectors.farmer_work_records"
REFERRALS_ECONOMICS_CONFIG = "pools.selectors.economics_config"
REFERRALS_ROLLUP_SOURCE = "pools.selectors.commission_rollup_expected"
# Withdrawals go only to a wallet the user linked by signature (chain sits above accounts).
ACCOUNTS_WITHDRAWAL_WALLET = "chain.selectors.wallet_for_withdrawal"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
