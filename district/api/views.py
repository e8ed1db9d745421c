"""Public API: the admin-area tree and compounds, narrowed to the user's scope."""

from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet
from django.http import JsonResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
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


@declare(GET=PUBLIC)
@extend_schema(responses={200: dict, 503: dict}, description="Liveness and database check.")
@api_view(["GET"])
@permission_classes([AllowAny])
def healthz(request: Request) -> JsonResponse:
    """``{"status": "ok", "database": "ok"}``, or 503 when PostgreSQL does not answer."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        db = "ok"
    except Exception as exc:
        db = f"error: {exc.__class__.__name__}"
    status = 200 if db == "ok" else 503
    return JsonResponse(
        {"status": "ok" if status == 200 else "unavailable", "database": db, "time": timezone.now().isoformat()},
        status=status,
    )
