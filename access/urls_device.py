"""Device endpoints of gates and sensors, under ``api/device/v1/`` (see access/device_urls.py)."""

from django.urls import URLPattern, URLResolver, path

from access import device_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("heartbeat/", device_views.HeartbeatView.as_view(), name="device-heartbeat"),
    path("decisions/face/", device_views.FaceDecisionView.as_view(), name="device-decide-face"),
    path("decisions/card/", device_views.CardDecisionView.as_view(), name="device-decide-card"),
    path("decisions/plate/", device_views.PlateDecisionView.as_view(), name="device-decide-plate"),
    path("verify/identity/", device_views.IdentityView.as_view(), name="device-verify-identity"),
    path("readings/", device_views.ReadingsView.as_view(), name="device-readings"),
]
