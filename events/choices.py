"""Choices of the public-schema event tables."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class EventKind(models.TextChoices):
    """How a passage (or a sensor reading) was made or reported."""

    FACE = "face", _("Face")
    CARD = "card", _("Card")
    PLATE = "plate", _("Plate")
    PIN = "pin", _("Visitor PIN")
    QR = "qr", _("Visitor QR code")
    REMOTE = "remote", _("Remote opening")
    ID_VERIFY = "id_verify", _("ID verification")
    SENSOR = "sensor", _("Sensor reading")


class Decision(models.TextChoices):
    """What the server answered the device (or what the device reported it did)."""

    OPEN = "open", _("Opened")
    DENY = "deny", _("Denied")
    HIT = "hit", _("Watch-list hit")
    REPORTED = "reported", _("Reported")


class Direction(models.TextChoices):
    IN = "in", _("In")
    OUT = "out", _("Out")
    BOTH = "both", _("Both ways")


class WatchKind(models.TextChoices):
    """布控: what the city bureau watches for."""

    WANTED = "wanted", _("Wanted person")
    KEY_PERSON = "key_person", _("Key person")
    KEY_AREA_PLATE = "key_area_plate", _("Key-area plate")
    BLOCKED_PLATE = "blocked_plate", _("Blocked plate")


WATCHED_PERSON_KINDS = frozenset({WatchKind.WANTED, WatchKind.KEY_PERSON})
WATCHED_PLATE_KINDS = frozenset({WatchKind.KEY_AREA_PLATE, WatchKind.BLOCKED_PLATE})


class Severity(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")
    CRITICAL = "critical", _("Critical")


# Alerts only police roles receive (they name watched persons and plates): sent to the police
# groups of each level (events.actions.alert_groups).
POLICE_ONLY_ALERT_KINDS = frozenset({"watchlist_hit", "screening_hit", "key_area_plate"})


class AlertStatus(models.TextChoices):
    NEW = "new", _("New")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    DISPATCHED = "dispatched", _("Dispatched")
    RESOLVED = "resolved", _("Resolved")
    FALSE_ALARM = "false_alarm", _("False alarm")
