"""The safety pages, mounted under ``safety/`` (namespace ``safety``)."""

from django.urls import path

from safety import views, views_config, views_reports

app_name = "safety"

urlpatterns = [
    path("", views.DashboardPageView.as_view(), name="dashboard"),
    path("compounds/<int:pk>/", views.CompoundIndexView.as_view(), name="compound_index"),
    path("incidents/", views.IncidentListView.as_view(), name="incidents"),
    path("incidents/new/", views.IncidentCreateView.as_view(), name="incident_create"),
    path("incidents/import/", views.IncidentImportView.as_view(), name="incident_import"),
    path("incidents/unassigned/", views.UnassignedView.as_view(), name="unassigned"),
    path("incidents/<int:pk>/assign/", views.AssignView.as_view(), name="assign"),
    path("settings/", views_config.IndexSettingsView.as_view(), name="index_settings"),
    path("reports/", views_reports.ReportListView.as_view(), name="reports"),
    path("reports/<int:pk>/", views_reports.ReportView.as_view(), name="report"),
    path("reports/<int:pk>/download/", views_reports.ReportDownloadView.as_view(), name="report_download"),
    path("reports/<int:pk>/print/", views_reports.ReportPrintView.as_view(), name="report_print"),
]
