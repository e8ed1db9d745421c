"""Public API: the admin-area tree and compounds, narrowed to the user's scope."""

from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet
from django.http import JsonResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from psycopg_pool import PoolTimeout
from rest_framework import viewsets
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request

from district.api.serializers import AreaSerializer, CompoundSerializer
from district.models import Area
from district.permissions import PUBLIC, SIGNED_IN, declare
from district.scope import areas_in_scope, compounds_in_scope
from tenants.models import Compound


class AreaViewSet(viewsets.ReadOnlyModelViewSet):
    """Areas (city, district, street) at or beneath the user's roles."""

    serializer_class = AreaSerializer
    queryset = Area.objects.none()
    # Any signed-in user; the queryset narrows to the user's scope.
    permissions = {"list": SIGNED_IN, "retrieve": SIGNED_IN, "metadata": SIGNED_IN}

    def get_queryset(self) -> QuerySet[Area]:
        return areas_in_scope(self.request.user).order_by("code")


class CompoundViewSet(viewsets.ReadOnlyModelViewSet):
    """Compounds the user's roles cover."""

    serializer_class = CompoundSerializer
    queryset = Compound.objects.none()
    permissions = {"list": SIGNED_IN, "retrieve": SIGNED_IN, "metadata": SIGNED_IN}
    search_fields = ["name", "code", "address"]

    def get_queryset(self) -> QuerySet[Compound]:
        return compounds_in_scope(self.request.user).order_by("code")


# A load balancer asks often and needs a quick answer, also while every pooled connection is
# busy: /healthz waits at most this long (seconds) for the database, then answers 503 (issue #7).
HEALTHZ_DATABASE_TIMEOUT = 2.0


def ping_database() -> str:
    """``"ok"`` if PostgreSQL answers ``SELECT 1``; else ``"busy"`` or ``"error: <exception>"``.

    With the connection pool (settings.DATABASES) the connection comes straight from the pool,
    with a short wait: Django's wrapper would wait the pool's full timeout, and ``SELECT 1``
    needs no compound schema (search_path). The connection goes back to the pool at once.
    """
    pool = getattr(connection, "pool", None)
    try:
        if pool is None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        else:
            pool.open()  # Django opens the pool on first use; /healthz may be that first use.
            with pool.connection(timeout=HEALTHZ_DATABASE_TIMEOUT) as conn:
                conn.execute("SELECT 1")
    except PoolTimeout:
        return "busy"
    except Exception as exc:
        return f"error: {exc.__class__.__name__}"
    return "ok"


@declare(GET=PUBLIC)
@extend_schema(responses={200: dict, 503: dict}, description="Liveness and database check.")
@api_view(["GET"])
@permission_classes([AllowAny])
def healthz(request: Request) -> JsonResponse:
    """``{"status": "ok", "database": "ok"}``, or 503 when PostgreSQL does not answer in time.

    Under daphne, ``district.asgi`` answers ``GET /healthz`` itself, before Django, with the
    same payload; this view serves the test client, WSGI and the OpenAPI schema.
    """
    status, payload = healthz_payload(ping_database())
    return JsonResponse(payload, status=status)


def healthz_payload(database: str) -> tuple[int, dict[str, str]]:
    """The status code and body of /healthz, given what the database check answered."""
    status = 200 if database == "ok" else 503
    return status, {
        "status": "ok" if status == 200 else "unavailable",
        "database": database,
        "time": timezone.now().isoformat(),
    }
