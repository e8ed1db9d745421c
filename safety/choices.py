"""Choices of incidents and the safety index."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class IncidentType(models.TextChoices):
    CRIMINAL = "criminal", _("Criminal")
    PUBLIC_ORDER = "public_order", _("Public order")
    FIRE = "fire", _("Fire")
    TRAFFIC = "traffic", _("Traffic")
    OTHER = "other", _("Other")


class IncidentStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("incident status", "Open")
    CLOSED = "closed", _("Closed")


class IncidentSource(models.TextChoices):
    MANUAL = "manual", _("Entered")
    DISPATCH = "dispatch", _("110 dispatch import")


class Band(models.TextChoices):
    """Colour bands of the index (Zhuhai's red/orange/yellow/blue, best to worst reversed)."""

    BLUE = "blue", _("Blue (safe)")
    YELLOW = "yellow", _("Yellow")
    ORANGE = "orange", _("Orange")
    RED = "red", _("Red")


class ReportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


# The four components of the index (safety.formula.DEFAULT_WEIGHTS), as pages and reports name them.
COMPONENT_LABELS = {
    "incidents": _("Incidents"),
    "alerts": _("Alerts"),
    "disputes": _("Disputes"),
    "prevention": _("Prevention"),
}
