"""Chooses the compound schema from the URL path (``/c/<route>/…``) and enforces scope.

We do not use django-tenants' ``TenantSubfolderMiddleware``: it needs a "public" tenant row,
swaps the urlconf and clears the URL caches on every request (see its issues #612, #1030,
#1161). One urlconf with a ``c/<compound>/`` prefix keeps ``reverse()`` and the OpenAPI
schema ordinary.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse

from district.scope import covers_compound
from tenants.models import Domain

COMPOUND_PATH = re.compile(r"^/c/(?P<route>[\w-]{1,63})/")


class CompoundMiddleware:
    """Set ``request.tenant`` and the connection's schema for compound URLs; 404 out of scope.

    Missing and forbidden compounds answer alike (404), so compound codes cannot be probed.
    Anonymous requests get no schema at all: login-required views redirect them and the
    API answers 401/403 before touching a compound table.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The connection outlives the request: never inherit the previous request's schema.
        connection.set_schema_to_public()
        request.tenant = None
        match = COMPOUND_PATH.match(request.path_info)
        if match and request.user.is_authenticated:
            domain = Domain.objects.select_related("tenant__street").filter(domain=match["route"]).first()
            if domain is None or not covers_compound(request.user, domain.tenant):
                raise Http404("No such compound")
            request.tenant = domain.tenant
            connection.set_tenant(domain.tenant)
        try:
            return self.get_response(request)
        finally:
            connection.set_schema_to_public()
