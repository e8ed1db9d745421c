"""Choices of the registry, with Chinese labels through gettext."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class AddressLevel(models.TextChoices):
    """Levels of a standard address below the compound."""

    BUILDING = "building", _("Building")
    UNIT = "unit", _("Unit")
    FLOOR = "floor", _("Floor")
    ROOM = "room", _("Room")


class IdType(models.TextChoices):
    """Kinds of identity document."""

    RESIDENT_ID = "resident_id", _("Resident ID card")
    PASSPORT = "passport", _("Passport")
    HK_MACAO = "hk_macao", _("Mainland travel permit for HK/Macao residents")
    TAIWAN = "taiwan", _("Mainland travel permit for Taiwan residents")
    FOREIGN_PR = "foreign_pr", _("Foreign permanent resident ID card")


class Sex(models.TextChoices):
    """Sex as recorded on the identity document."""

    MALE = "M", _("Male")
    FEMALE = "F", _("Female")


class ResidenceType(models.TextChoices):
    """户籍/常住/流动/境外."""

    REGISTERED = "registered", _("Registered (户籍)")
    PERMANENT = "permanent", _("Permanent (常住)")
    FLOATING = "floating", _("Floating (流动)")
    OVERSEAS = "overseas", _("Overseas (境外)")


class RelationToHouse(models.TextChoices):
    """How a person relates to the house they live in."""

    OWNER = "owner", _("Owner")
    FAMILY = "family", _("Family member")
    TENANT = "tenant", _("Tenant")
    OTHER = "other", _("Other")


class PersonTag(models.TextChoices):
    """Care and attention tags of a person."""

    ELDERLY_ALONE = "elderly_alone", _("Elderly living alone")
    KEY_PERSON = "key_person", _("Key person")
    DISABLED = "disabled", _("Disabled")
    LEFT_BEHIND_CHILD = "left_behind_child", _("Left-behind child")
    VETERAN = "veteran", _("Veteran")
    LOW_INCOME = "low_income", _("Low income")


# Tags that only police roles may set (enforced once roles exist, issue #3).
POLICE_ONLY_TAGS = frozenset({PersonTag.KEY_PERSON})


class HouseUse(models.TextChoices):
    """自住/出租/空置/群租/商用."""

    OWNER_OCCUPIED = "owner_occupied", _("Owner-occupied")
    RENTED = "rented", _("Rented")
    VACANT = "vacant", _("Vacant")
    GROUP_RENTAL = "group_rental", _("Group rental")
    COMMERCIAL = "commercial", _("Commercial")


class OrganisationKind(models.TextChoices):
    """Kinds of organisation in a compound."""

    SHOP = "shop", _("Shop")
    ENTERPRISE = "enterprise", _("Enterprise")
    NINE_SMALL = "nine_small", _("Small premises (九小场所)")
    INSTITUTION = "institution", _("Public institution")
    OTHER = "other", _("Other")


class PlateKind(models.TextChoices):
    """Plate families."""

    ORDINARY = "ordinary", _("Ordinary")
    NEW_ENERGY = "new_energy", _("New energy")


class VehicleType(models.TextChoices):
    """Kinds of vehicle."""

    CAR = "car", _("Car")
    SUV = "suv", _("SUV")
    VAN = "van", _("Van")
    TRUCK = "truck", _("Truck")
    MOTORCYCLE = "motorcycle", _("Motorcycle")
