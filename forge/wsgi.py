"""WSGI entry point (gunicorn forge.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "forge.settings.production")

application = get_wsgi_application()
