"""Test settings: the database and broker come from the environment (CI: PostgreSQL + Redis)."""

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = "test-secret-key-not-for-production"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
FORGE_DEPOSITS_AUTOCONFIRM = env.bool("FORGE_DEPOSITS_AUTOCONFIRM", default=True)
# Unit tests run tasks in-process; integration tests start a real worker on Redis instead.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
# The fixture recordings (tests/factories.py demonstration) carry fixed dates and are submitted
# at once after claiming; the claim-window tests turn this on (tests/pools/test_claim_window.py).
FORGE_GRADE_CLAIM_WINDOW = env.bool("FORGE_GRADE_CLAIM_WINDOW", default=False)
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Webhook tests post to a local plain-http server and retry within seconds.
WEBHOOKS_ALLOW_HTTP = True
WEBHOOK_RETRY_SECONDS = env.list("FORGE_WEBHOOK_RETRY_SECONDS", cast=int, default=[1, 1, 1])
WEBHOOK_TIMEOUT_SECONDS = 5.0
