"""Access-control API of one compound, mounted under ``c/<compound>/api/access/``."""

from django.urls import include, path

urlpatterns = [
    path("", include("access.api_staff_urls")),
    path("", include("access.api_passes_urls")),
]
