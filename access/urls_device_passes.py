"""Device endpoints of visitors (mounted under ``api/device/v1/`` by access/device_urls.py)."""

from django.urls import path

from access.device_passes import CommandsView, PassDecisionView

urlpatterns = [
    path("decisions/pass/", PassDecisionView.as_view(), name="device-pass-decision"),
    path("commands/", CommandsView.as_view(), name="device-commands"),
]
