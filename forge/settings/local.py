"""Local development and demo: debug on, deposits confirmed on receipt, eager tasks unless a
broker is configured."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="insecure-local-development-key-change-me")
FORGE_DEPOSITS_AUTOCONFIRM = env.bool("FORGE_DEPOSITS_AUTOCONFIRM", default=True)
