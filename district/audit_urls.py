"""Audit log page, its exports and API (city bureau). Included before the generic ``api/`` router."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from district import views_audit
from district.api import audit as audit_api

# SimpleRouter: no API root view, which would claim this include's empty prefix ("/").
router = SimpleRouter()
router.register("api/audit", audit_api.AuditEntryViewSet, basename="audit-entry")

urlpatterns = [
    path("audit/", views_audit.AuditLogView.as_view(), name="audit-log"),
    path("audit/export.<str:fmt>", views_audit.AuditExportView.as_view(), name="audit-export"),
    path("", include(router.urls)),
]
