"""WSGI entry point (management tools; the product is served over ASGI)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "district.settings")
application = get_wsgi_application()
