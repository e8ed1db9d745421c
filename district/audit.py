"""Writing audit rows: the one helper every unmasked view, ID search, export and grant calls."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models
from django.http import HttpRequest

from district.models import AuditEntry
from tenants.models import Compound


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address (REMOTE_ADDR; a proxy in front must set it, not X-Forwarded-For)."""
    return request.META.get("REMOTE_ADDR") if request is not None else None


def do_record_audit(
    user: AbstractBaseUser | AnonymousUser,
    action: str,
    *,
    compound: Compound | None = None,
    objects: Iterable[models.Model] = (),
    object_type: str = "",
    reason: str = "",
    detail: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEntry:
    """Insert one audit row. Runs inside the caller's transaction: no audit, no access."""
    objects = list(objects)
    if objects and not object_type:
        object_type = objects[0]._meta.label_lower
    return AuditEntry.objects.create(
        user=user if user.is_authenticated else None,
        username=user.get_username() if user.is_authenticated else "",
        action=action,
        compound=compound,
        object_type=object_type,
        object_ids=[o.pk for o in objects],
        reason=reason,
        detail=detail or {},
        ip=client_ip(request),
    )
