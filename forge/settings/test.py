"""Test settings: the database and broker come from the environment (CI: PostgreSQL + Redis)."""

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = "test-secret-key-not-for-production"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
FORGE_DEPOSITS_AUTOCONFIRM = env.bool("FORGE_DEPOSITS_AUTOCONFIRM", default=True)
# Unit tests run tasks in-process; integration tests start a real worker on Redis instead.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
# FORGE_GRADE_CLAIM_WINDOW stays on (base.py): tests grade as production does. The fixture
# recordings are recorded "just now" inside claims dated earlier (tests/conftest.py CLAIM_LEAD).
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Webhook tests post to a local plain-http server and retry within seconds.
WEBHOOKS_ALLOW_HTTP = True
WEBHOOK_RETRY_SECONDS = env.list("FORGE_WEBHOOK_RETRY_SECONDS", cast=int, default=[1, 1, 1])
WEBHOOK_TIMEOUT_SECONDS = 5.0
