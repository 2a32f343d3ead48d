"""Production: refuses to start without a SECRET_KEY; secure cookies and HSTS; static files
collected and served by whitenoise; optional S3-compatible media storage."""

from django.core.exceptions import ImproperlyConfigured

from core.observability import logging_config

from .base import *  # noqa: F403
from .base import STORAGES, env

# JSON log lines unless LOG_FORMAT says otherwise (docs/operations.md, "Logs and request ids").
LOG_FORMAT = env("LOG_FORMAT", default="json")
LOGGING = logging_config(json_logs=LOG_FORMAT == "json", level=env("LOG_LEVEL", default="INFO"))

DEBUG = False
SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY or len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("SECRET_KEY must be set (50+ random characters) in production.")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if env("AWS_STORAGE_BUCKET_NAME", default=""):
    # Any S3-compatible store (AWS, MinIO, R2...) through django-storages; credentials from env.
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env("AWS_S3_ENDPOINT_URL", default=None),
            "querystring_auth": True,
        },
    }
