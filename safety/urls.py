"""The safety pages, mounted under ``safety/`` (namespace ``safety``)."""

from django.urls import path

from safety import views

app_name = "safety"

urlpatterns = [
    path("", views.DashboardPageView.as_view(), name="dashboard"),
    path("compounds/<int:pk>/", views.CompoundIndexView.as_view(), name="compound_index"),
    path("incidents/", views.IncidentListView.as_view(), name="incidents"),
    path("incidents/new/", views.IncidentCreateView.as_view(), name="incident_create"),
    path("incidents/import/", views.IncidentImportView.as_view(), name="incident_import"),
    path("incidents/unassigned/", views.UnassignedView.as_view(), name="unassigned"),
    path("incidents/<int:pk>/assign/", views.AssignView.as_view(), name="assign"),
]
