"""The 404 of a URL that matches no route: JSON under ``/api/`` (as the schema documents), the page elsewhere."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework.exceptions import NotFound

from district.middleware import API_PATH


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler404``: e.g. ``/api/audit/0.5/``, which no router pattern takes, answers like DRF's own 404."""
    if API_PATH.match(request.path_info):
        return JsonResponse({"detail": str(NotFound.default_detail)}, status=404)
    return defaults.page_not_found(request, exception)
