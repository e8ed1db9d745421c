"""Safety API routes, mounted under ``api/safety/`` (namespace ``safety-api``)."""

from django.urls import path

from safety import api

app_name = "safety-api"

urlpatterns = [
    path("dashboard/", api.DashboardView.as_view(), name="dashboard"),
    path("map/", api.MapView.as_view(), name="map"),
]
