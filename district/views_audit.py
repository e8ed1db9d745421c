"""The audit log, searchable by the city bureau."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.views import View


class AuditLogView(View):
    """Search the audit log (being built in issue #3)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        raise PermissionDenied
