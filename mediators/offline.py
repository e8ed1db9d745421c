"""The officer's installable web app (issue #11 part 5): the service worker and the web manifest.

Both are served from the site's root so the worker's scope (``/``) covers every officer page
(a worker served from ``/static/js/`` could only control ``/static/js/…``). The worker's
script is ``static/js/service-worker.js`` with two constants put in front of it: the list of
static files it keeps for offline use (vendored, no CDN) and a version made from their
contents, so any change to them installs a new worker that drops the old copies.

Nothing here is secret or per-user: both answer anonymous requests (declared PUBLIC). The
worker keeps the intake pages the signed-in officer opened, in that officer's browser only.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.templatetags.static import static
from django.utils.translation import gettext as _

from district.permissions import PUBLIC, declare

__all__ = ["PRECACHE", "manifest", "service_worker"]

# What the intake page needs to open without signal: styles, htmx, the page's own scripts, icons.
PRECACHE = (
    "vendor/bootstrap/bootstrap.min.css",
    "vendor/bootstrap/bootstrap.bundle.min.js",
    "vendor/htmx/htmx.min.js",
    "css/app.css",
    "js/app.js",
    "js/mediation-form.js",
    "js/offline-intake.js",
    "js/sw-register.js",
    "favicon.svg",
    "img/icon-192.png",
    "img/icon-512.png",
)
WORKER_SOURCE = "js/service-worker.js"
ICON_SIZES = (192, 512)
THEME_COLOUR = "#0d3b66"  # --brand in static/css/app.css


def _read_static(name: str) -> bytes:
    found = finders.find(name)
    if not found:
        raise FileNotFoundError(name)
    path = found[0] if isinstance(found, list) else found
    return Path(path).read_bytes()


@lru_cache(maxsize=1)
def worker_script() -> str:
    """The worker's source with its precache list and version in front (read once per process)."""
    source = _read_static(WORKER_SOURCE)
    digest = hashlib.sha256(source)
    for name in PRECACHE:
        digest.update(_read_static(name))
    urls = [static(name) for name in PRECACHE]
    head = f"const PRECACHE = {json.dumps(urls)};\nconst VERSION = {json.dumps(digest.hexdigest()[:12])};\n"
    return head + source.decode("utf-8")


@declare(GET=PUBLIC)
def service_worker(request: HttpRequest) -> HttpResponse:
    """``/sw.js``: the service worker, never cached by HTTP (the browser checks it for updates)."""
    response = HttpResponse(worker_script(), content_type="text/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    response["Cache-Control"] = "no-cache"
    return response


@declare(GET=PUBLIC)
def manifest(request: HttpRequest) -> JsonResponse:
    """``/manifest.webmanifest``: what a phone needs to install the officer pages as an app."""
    body = {
        "name": "智慧社区警务平台",
        "short_name": _("Community police"),
        "description": _("Record dispute cases, also without signal."),
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": THEME_COLOUR,
        "lang": request.LANGUAGE_CODE if hasattr(request, "LANGUAGE_CODE") else "zh-hans",
        "icons": [
            {"src": static(f"img/icon-{size}.png"), "sizes": f"{size}x{size}", "type": "image/png", "purpose": "any"}
            for size in ICON_SIZES
        ],
    }
    response = JsonResponse(body, json_dumps_params={"ensure_ascii": False})
    response["Content-Type"] = "application/manifest+json"
    return response
