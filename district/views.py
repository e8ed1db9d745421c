"""Public pages: the base of every declared page view, and the home page."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.views import View

from district.permissions import SIGNED_IN, Need, check_need, declare
from district.scope import compounds_in_scope


class DeclaredView(View):
    """A page that checks its declared ``permissions`` (HTTP method → need) before it runs.

    A method without a declaration is refused (403), as the middleware already does for the
    whole view. A need that a per-object grant may satisfy is checked against
    :meth:`permission_object`; the capability is asked at the request's compound, or anywhere
    in the user's scope on public pages (which then narrow what they show by scope).
    """

    permissions: dict[str, Need] = {}

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        method = "GET" if request.method == "HEAD" else (request.method or "")
        if not hasattr(self, method.lower()):
            return self.http_method_not_allowed(request, *args, **kwargs)
        required = self.permissions.get(method)
        if required is None:
            raise PermissionDenied
        obj = self.permission_object(**kwargs) if required.grant else None
        if not check_need(request.user, required, getattr(request, "tenant", None), obj):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def permission_object(self, **kwargs: Any) -> Any:
        """The record a per-object grant would have to be on (404 if it does not exist)."""
        return None


@declare(GET=SIGNED_IN)
def home(request: HttpRequest) -> HttpResponse:
    """Compounds in scope, grouped by street (with district and street names)."""
    compounds = compounds_in_scope(request.user).select_related("street__parent").order_by("street__code", "code")
    streets = [(street, list(items)) for street, items in groupby(compounds, key=lambda c: c.street)]
    totals = {"compounds": sum(len(items) for _, items in streets), "population": sum(c.population for c in compounds)}
    return render(request, "district/home.html", {"streets": streets, "totals": totals})
