"""Device endpoints (device credential, no session), mounted under ``api/device/v1/``."""

from django.urls import include, path

urlpatterns = [
    path("", include("access.urls_device")),
    path("", include("access.urls_device_passes")),
]
