"""The request's compound (scope: 404) and the permission declaration (fail closed: 403).

``CompoundMiddleware`` chooses the compound schema from the URL and refuses compounds outside
the user's scope; ``DeclaredPermissionMiddleware`` refuses every view and method that has no
permission declaration (``district.permissions``), and sends anonymous visitors of pages that
need a sign-in to the login page. The views then check the declared need itself, with the
record they act on for per-object grants.

Both live here, in the roles layer, because both ask ``district.scope``/``district.permissions``:
``tenants`` below knows compounds and schemas, not who may open them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from rest_framework.exceptions import NotFound

from district.permissions import declared_need, handles_method
from district.scope import covers_compound
from district.typing import CompoundRequest
from tenants.connection import tenant_connection
from tenants.models import Domain

COMPOUND_PATH = re.compile(r"^/c/(?P<route>[\w-]{1,63})/")
API_PATH = re.compile(r"^(/c/[\w-]+)?/api/")


class CompoundMiddleware:
    """Set ``request.tenant`` and the connection's schema for compound URLs; 404 out of scope.

    We do not use django-tenants' ``TenantSubfolderMiddleware``: it needs a "public" tenant
    row, swaps the urlconf and clears the URL caches on every request (its issues #612, #1030,
    #1161). One urlconf with a ``c/<compound>/`` prefix keeps ``reverse()`` and the OpenAPI
    schema ordinary.

    Missing and forbidden compounds answer alike (404), so compound codes cannot be probed.
    Anonymous requests get no schema at all: pages redirect them to the login page and the
    API answers 403 before touching a compound table.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: CompoundRequest) -> HttpResponse:
        connection = tenant_connection()
        # The connection outlives the request: never inherit the previous request's schema.
        connection.set_schema_to_public()
        request.tenant = None
        match = COMPOUND_PATH.match(request.path_info)
        if match and request.user.is_authenticated:
            domain = Domain.objects.select_related("tenant__street").filter(domain=match["route"]).first()
            if domain is None or not covers_compound(request.user, domain.tenant):
                if API_PATH.match(request.path_info):
                    # The API's own 404 body, whatever DEBUG says: an API client never gets a page.
                    return JsonResponse({"detail": str(NotFound.default_detail)}, status=404)
                raise Http404("No such compound")
            request.tenant = domain.tenant
            connection.set_tenant(domain.tenant)
        try:
            return self.get_response(request)
        finally:
            connection.set_schema_to_public()


class DeclaredPermissionMiddleware:
    """Refuse what is not declared; send anonymous page visitors to the login page.

    An undeclared view or method answers 403 whoever asks (a superuser too): a new page or
    endpoint is closed until its author says who may use it. API paths answer in JSON and
    leave the anonymous case to DRF's own 403.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        required = declared_need(view_func, request.method or "GET")
        is_api = bool(API_PATH.match(request.path_info))
        if required is None and not handles_method(view_func, request.method or "GET"):
            return None  # the view answers 405 itself
        if required is None:
            message = _("This page or method has no permission declaration and is refused.")
            if is_api:
                return JsonResponse({"detail": message}, status=403)
            return render(request, "403.html", {"reason": message}, status=403)
        if not required.anonymous and not request.user.is_authenticated and not is_api:
            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        return None
