"""Benchmarks (`make bench`): production-like (DEBUG off, real broker), quiet logs."""

from .base import *  # noqa: F403
from .base import LOGGING, env

DEBUG = False
SECRET_KEY = env("SECRET_KEY", default="bench-secret-key-not-for-production")
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
FORGE_DEPOSITS_AUTOCONFIRM = True
AXES_ENABLED = False
CONN_MAX_AGE = 600
DATABASES = {**DATABASES}
DATABASES["default"]["CONN_MAX_AGE"] = 600
LOGGING = {**LOGGING, "root": {**LOGGING["root"], "level": env("LOG_LEVEL", default="WARNING")}}
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": dict.fromkeys(REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "1000000/second"),
}
# Benchmark 4 compares the submission API with a bare JSON endpoint (forge/urls.py).
BENCH_BARE_ENDPOINT = True
