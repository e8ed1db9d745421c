"""Role assignments within the user's scope."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.views import View


class RoleListView(View):
    """List and assign roles (being built in issue #3)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        raise PermissionDenied
