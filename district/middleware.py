"""Login-required by default, except for the API, which answers 401/403 in JSON itself."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequiredMiddleware
from django.http import HttpRequest, HttpResponse

API_PATH = re.compile(r"^(/c/[\w-]+)?/api/")


class LoginRequiredMiddleware(DjangoLoginRequiredMiddleware):
    """Django's login-required default, but API clients get DRF's JSON answer, not a redirect."""

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        if API_PATH.match(request.path_info):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
