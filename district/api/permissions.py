"""DRF's side of the permission declaration: the default permission class of every endpoint.

Kept apart from ``district.api.base``: DRF reads ``DEFAULT_PERMISSION_CLASSES`` while its own
views module is still loading, so this module may import nothing of DRF but its permissions.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from district.permissions import Need, check_device_need, check_need


class DeclaredPermission(BasePermission):
    """The API's one permission check: the view's declaration for the action (STYLE.md §3).

    Every viewset declares ``permissions = {"list": need(...), ...}`` (``district.permissions``);
    an action without a declaration is refused. The capability is asked at the request's
    compound (compound endpoints) or anywhere in the user's scope (public endpoints, whose
    querysets then narrow by scope). A need that a per-object grant may satisfy is decided
    per record, in ``has_object_permission``.
    """

    def _need(self, request: Request, view: Any) -> Need | None:
        declared = getattr(view, "permissions", None)
        if declared is None:
            return None
        key = getattr(view, "action", None) or request.method
        return declared.get(key)

    def has_permission(self, request: Request, view: Any) -> bool:
        required = self._need(request, view)
        if required is None:
            return False
        if required.device:
            # Set by the device authentication of device endpoints (access.device_auth).
            return check_device_need(required, getattr(request._request, "device", None))
        if required.grant is not None:
            return bool(request.user and request.user.is_authenticated)
        return check_need(request.user, required, getattr(request._request, "tenant", None))

    def has_object_permission(self, request: Request, view: Any, obj: models.Model) -> bool:
        required = self._need(request, view)
        if required is None:
            return False
        if required.device:
            return check_device_need(required, getattr(request._request, "device", None))
        return check_need(request.user, required, getattr(request._request, "tenant", None), obj)
