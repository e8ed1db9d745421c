"""Devices authenticate with their own credential, and their requests run in their compound.

A gate sends ``Authorization: Device <uid>.<secret>``. :class:`DeviceAuthentication` finds the
device in the public index (``events.DeviceIndex``), refuses unknown, revoked and disabled
devices alike (401, nothing that tells which), then :class:`DeviceAPIView` switches the
connection to the device's compound schema for the rest of the request — the way the compound
middleware does for people (DESIGN.md §3). Any authenticated delivery is proof of life: it
moves ``last_seen_at``, at most once per :data:`SEEN_EVERY` to spare the row.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request
from rest_framework.views import APIView

from access.choices import DeviceStatus
from access.models import Device
from district.permissions import DEVICE
from events.credentials import secret_matches, split_token
from events.models import DeviceIndex
from tenants.connection import tenant_connection

__all__ = ["SCHEME", "SEEN_EVERY", "DeviceAPIView", "DeviceAuthentication", "mark_seen"]

SCHEME = "Device"
SEEN_EVERY = timedelta(seconds=15)
_REFUSED = _("Unknown, revoked or disabled device credential.")


def mark_seen(device: DeviceIndex) -> None:
    """Record that ``device`` delivered something now (at most one write per SEEN_EVERY)."""
    now = timezone.now()
    if device.last_seen_at is None or now - device.last_seen_at >= SEEN_EVERY:
        DeviceIndex.objects.filter(pk=device.pk).update(last_seen_at=now)
        device.last_seen_at = now


class DeviceAuthentication(BaseAuthentication):
    """``Authorization: Device <uid>.<secret>`` → the device's index row (as ``request.auth``)."""

    def authenticate(self, request: Request) -> tuple[AnonymousUser, DeviceIndex] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].decode(errors="replace") != SCHEME:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_REFUSED)
        token = split_token(parts[1].decode(errors="replace"))
        if token is None:
            raise exceptions.AuthenticationFailed(_REFUSED)
        uid, secret = token
        device = DeviceIndex.objects.select_related("compound__street__parent").filter(uid=uid).first()
        if device is None or device.revoked_at is not None or not secret_matches(secret, device.key_hash):
            raise exceptions.AuthenticationFailed(_REFUSED)
        return AnonymousUser(), device

    def authenticate_header(self, request: Request) -> str:
        return SCHEME


class DeviceAPIView(APIView):
    """Base of device endpoints: device credential only, run in the device's compound schema.

    ``self.device`` is the public index row, ``self.compound`` its compound and
    ``self.local_device`` the compound's own row (name, kind, place). The compound middleware
    resets the schema to public when the request ends.
    """

    authentication_classes = [DeviceAuthentication]
    permissions: dict[str, Any] = {"POST": DEVICE}
    device: DeviceIndex
    local_device: Device

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.perform_authentication(request)
        device = request.auth
        if isinstance(device, DeviceIndex):
            request._request.device = device  # type: ignore[attr-defined]  # read by DeclaredPermission
            tenant_connection().set_tenant(device.compound)
            request._request.tenant = device.compound  # type: ignore[attr-defined]
            local = Device.objects.filter(uid=device.uid).first()
            if local is None or local.status != DeviceStatus.ACTIVE:
                raise exceptions.AuthenticationFailed(_REFUSED)
            self.device, self.compound, self.local_device = device, device.compound, local
            mark_seen(device)
        super().initial(request, *args, **kwargs)
