"""ASGI entry point (the site is served with WSGI; this is here for ASGI servers)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kling_site.settings")
application = get_asgi_application()
