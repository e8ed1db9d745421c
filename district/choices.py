"""Choices of the public admin-area tree and roles."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class AreaLevel(models.TextChoices):
    """Levels of the admin-area tree above a compound."""

    CITY = "city", _("City")
    DISTRICT = "district", _("District")
    STREET = "street", _("Street")


class Role(models.TextChoices):
    """Roles held at a node of the tree; a role at a node covers everything beneath it."""

    CITY_BUREAU = "city_bureau", _("City public-security bureau")
    DISTRICT_BRANCH = "district_branch", _("District branch")
    STREET_OFFICE = "street_office", _("Street office")
    PROPERTY_STAFF = "property_staff", _("Property staff")
    BEAT_OFFICER = "beat_officer", _("Beat officer")
    GRID_WORKER = "grid_worker", _("Grid worker")
    MEDIATOR = "mediator", _("Mediator")


# Which node a role is held at: area roles name an Area of that level, the rest a compound.
ROLE_LEVEL: dict[str, str | None] = {
    Role.CITY_BUREAU: AreaLevel.CITY,
    Role.DISTRICT_BRANCH: AreaLevel.DISTRICT,
    Role.STREET_OFFICE: AreaLevel.STREET,
    Role.PROPERTY_STAFF: None,
    Role.BEAT_OFFICER: None,
    Role.GRID_WORKER: None,
    Role.MEDIATOR: None,
}
