"""Choices of the compound's access-control tables."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class DeviceKind(models.TextChoices):
    FACE_GATE = "face_gate", _("Face gate")
    CARD_READER = "card_reader", _("Card reader")
    PLATE_BARRIER = "plate_barrier", _("Plate barrier")
    UNIT_DOOR = "unit_door", _("Unit door")
    ID_GATE = "id_gate", _("Real-name gate (ID + face)")
    IR_MOTION = "ir_motion", _("IR motion sensor")
    DOOR_CONTACT = "door_contact", _("Door contact sensor")
    EBIKE_CAMERA = "ebike_camera", _("E-bike camera")
    FIRE_LANE_CAMERA = "fire_lane_camera", _("Fire-lane camera")
    CROWD_COUNTER = "crowd_counter", _("Crowd counter")


# Devices whose deliveries are passages the server decides (the rest report readings).
GATE_KINDS = frozenset(
    {DeviceKind.FACE_GATE, DeviceKind.CARD_READER, DeviceKind.PLATE_BARRIER, DeviceKind.UNIT_DOOR, DeviceKind.ID_GATE}
)


class DeviceStatus(models.TextChoices):
    # "Disabled" alone is the registry's person tag (残疾人): a context keeps the two apart.
    ACTIVE = "active", pgettext_lazy("device status", "Active")
    DISABLED = "disabled", pgettext_lazy("device status", "Disabled")
    REVOKED = "revoked", pgettext_lazy("device status", "Revoked")


class ConsentMethod(models.TextChoices):
    """How the person gave their separate consent to biometric processing (PIPL art. 29)."""

    WRITTEN = "written", _("Signed paper form")
    ELECTRONIC = "electronic", _("Electronic signature")
    GUARDIAN = "guardian", _("Signed by guardian (minor under 14)")
