"""Audit log pages and API (city bureau)."""

from django.urls import path

from district import views_audit

urlpatterns = [
    path("audit/", views_audit.AuditLogView.as_view(), name="audit-log"),
]
