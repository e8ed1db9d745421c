"""Login security and browser hardening (issue #3): the lockout page and the Content-Security-Policy.

django-axes counts failed logins and decides when a client is locked out (settings ``AXES_*``);
this module only shapes what the locked-out user sees. django-csp sends the site-wide policy;
the middleware here adds the single exception Swagger UI's page needs, on that page only.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from axes.helpers import get_cool_off, get_failure_limit
from csp.middleware import CSPMiddleware as DjangoCSPMiddleware
from csp.middleware import PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.template.loader import get_template
from django.utils import timezone
from django.utils.timesince import timeuntil

if TYPE_CHECKING:
    from django.template.backends.django import Template as DjangoTemplate

# The URL name of drf-spectacular's Swagger UI page (district/urls.py) and the template it renders.
SWAGGER_UI_VIEW = "api-docs"
SWAGGER_UI_TEMPLATE = "drf_spectacular/swagger_ui.html"
_STYLE_BLOCK = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """The page a locked-out client gets instead of the login form (``AXES_LOCKOUT_CALLABLE``).

    Axes' own template context has the cool-off only as a timedelta and an ISO 8601 duration;
    the page says it in the user's language ("30 分钟", "30 minutes", worded by Django's own
    translations of ``timeuntil``) with the local time the lockout ends. ``original_response``
    and ``credentials`` are unused: axes' ASGI path passes the credentials in the second
    position, so nothing here may depend on either.
    """
    cool_off = get_cool_off(request)
    context: dict[str, Any] = {"failure_limit": get_failure_limit(request, None)}
    if cool_off is not None:
        # Each attempt during a lockout restarts the cool-off (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT),
        # so it ends one full cool-off from now.
        now = timezone.now()
        context["locked_until"] = now + cool_off
        context["lockout_duration"] = timeuntil(now + cool_off, now)
    return render(request, settings.AXES_LOCKOUT_TEMPLATE, context, status=settings.AXES_HTTP_RESPONSE_CODE)


@cache
def swagger_ui_style_sources() -> tuple[str, ...]:
    """CSP hash sources (``'sha256-…'``) for the inline ``<style>`` blocks of the Swagger UI page.

    Hashed from the template actually in use, so an upgrade of drf-spectacular that edits the
    block keeps its styles instead of breaking the page until someone recomputes a constant.
    The blocks contain no template tags, so the rendered text is the template's text.
    """
    # TEMPLATES has one backend, DjangoTemplates, whose templates wrap the parsed one in .template.
    source = cast("DjangoTemplate", get_template(SWAGGER_UI_TEMPLATE)).template.source
    return tuple(
        f"'sha256-{base64.b64encode(hashlib.sha256(block.encode()).digest()).decode('ascii')}'"
        for block in _STYLE_BLOCK.findall(source)
    )


class CSPMiddleware(DjangoCSPMiddleware):
    """django-csp's middleware, plus the hashes of Swagger UI's inline styles on that page only.

    Allowing that one block by hash, and only where it is served, keeps ``'unsafe-inline'`` out
    of every policy without copying drf-spectacular's template into ours. Done here rather than
    with ``csp_update`` on the URL pattern so the whole policy is decided in one module.
    """

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        """The parts django-csp would use, with Swagger UI's style hashes added on its page."""
        parts = super().get_policy_parts(request, response, report_only)
        match = getattr(request, "resolver_match", None)
        if match is not None and match.view_name == SWAGGER_UI_VIEW:
            update = dict(parts.update or {})
            update["style-src"] = [*update.get("style-src", []), *swagger_ui_style_sources()]
            parts.update = update
        return parts
