"""Realtime events of the registry: their types, groups and payloads.

A change to a registry record is announced to the compound's ``registry`` group as
``registry.<model>.<verb>`` (``registry.person.created``, ``registry.house.updated``,
``registry.vehicle.deleted``, ``registry.person.bulk_created``, ``registry.person.bulk_updated``).
Payloads name the record (or, for many at once, how many) and the changed fields, never their
values: a page that wants the values reads them through the permission-checked views.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from district.realtime import Event, compound_group
from tenants.models import Compound

TOPIC = "registry"
CREATED, UPDATED, DELETED = "created", "updated", "deleted"
# Many records of one kind at once (a seed, a large import): the payload has a count, not ids
# (and, for updates, the names of the fields written).
BULK_CREATED, BULK_UPDATED = "bulk_created", "bulk_updated"


def registry_group(compound: Compound) -> str:
    """The group that hears of every registry change in ``compound``."""
    return compound_group(TOPIC, compound.pk)


def event_type(obj: models.Model | type[models.Model], verb: str) -> str:
    """``registry.person.created`` and the like."""
    return f"{TOPIC}.{obj._meta.model_name}.{verb}"


def record_payload(obj: models.Model, verb: str, compound: Compound, fields: list[str], pk: Any = None) -> Event:
    """The message of one registry change (``pk`` for a deleted record, whose own pk is gone)."""
    return {
        "type": event_type(obj, verb),
        "compound": compound.code,
        "id": obj.pk if pk is None else pk,
        "fields": sorted(fields),
    }
