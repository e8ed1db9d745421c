"""The default database connection as django-tenants' backend makes it, typed for its callers.

``settings.DATABASES["default"]["ENGINE"]`` is ``django_tenants.postgresql_backend``, whose
wrapper adds the schema switches below; django-tenants ships no types and ``django.db``
types ``connection`` as Django's base wrapper, so mypy knows them only through this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

from django.db import connection

if TYPE_CHECKING:
    from tenants.models import Compound


class TenantConnection(Protocol):
    """The schema switches of django-tenants' ``DatabaseWrapper``."""

    schema_name: str
    tenant: Any  # a Compound, or django-tenants' FakeTenant after set_schema()

    def set_tenant(self, tenant: Compound, include_public: bool = True) -> None: ...

    def set_schema(self, schema_name: str, include_public: bool = True, tenant_type: str | None = None) -> None: ...

    def set_schema_to_public(self) -> None: ...


def tenant_connection() -> TenantConnection:
    """``django.db.connection`` (the proxy to this thread's connection), as django-tenants' wrapper."""
    return cast(TenantConnection, connection)
