"""Access-control pages of one compound, mounted under ``c/<compound>/access/``.

Staff pages (devices, consent, enrolment, cards) and passage pages (visitor passes, event log,
pass search) live in their own URL modules.
"""

from django.urls import include, path

app_name = "access"

urlpatterns = [
    path("", include("access.urls_staff")),
    path("", include("access.urls_passes")),
    path("", include("access.urls_screening")),
]
