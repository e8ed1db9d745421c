"""The city's mediator roster (issue #11 part 3): who reads and keeps it, and every write to it.

The roster lives in the public schema, one per city (``mediators.Mediator``). ``mediators.manage``
(street offices, district branches, the city bureau) keeps the roster of the city its role lies
in; ``mediation.view`` (everyone who reads cases: those roles, beat officers, grid workers and
mediators) reads it, because a party may ask for any mediator of the city. A role held anywhere
in a city reaches that city's roster; a superuser every city's.

A mediator's phone is personal information: shown whole to the roster's keepers and to users
holding ``pii.view`` in the city, masked to everyone else; unmasked reads are audited (no
compound: the roster belongs to a city). Writes audit field names and announce
``mediators.mediator.<verb>`` to the city's group on commit, with ids only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _

from district.audit import changed_fields, do_record_audit, do_record_change, stored_values
from district.models import Area, AuditAction
from district.permissions import MANAGE_MEDIATORS, VIEW_CASES, VIEW_PII, cities_with, city_ids_with
from district.realtime import send_event_on_commit
from district.scope import assignments_of, beneath, held_path
from district.typing import AnyUser
from mediators.models import Mediator
from registry.masking import mask_phone
from registry.validators import check_phone

__all__ = [
    "access_mediator_by_id",
    "category_choices",
    "city_ids",
    "do_deactivate_mediator",
    "do_record_mediator_pii_view",
    "do_save_mediator",
    "mediator_cities",
    "mediators_visible_to",
    "roster_group",
    "shown_phone",
]


def roster_group(city_id: int) -> str:
    """The group that hears of every change to one city's roster."""
    return f"mediators.city.{city_id}"


def category_choices() -> list[tuple[str, str]]:
    """The case categories a mediator may specialise in (the case model's own choices).

    Read from the installed model: the roster sits below the case app in the layers.
    """
    field = apps.get_model("mediation", "Case")._meta.get_field("category")
    return [(str(value), str(label)) for value, label in getattr(field, "choices", None) or []]


# --- Who reads and keeps which city's roster ----------------------------------------------------


def mediator_cities(user: AnyUser, capability: str = VIEW_CASES) -> QuerySet[Area]:
    """The cities whose roster ``user`` reads or keeps: ``district.permissions.cities_with``."""
    return cities_with(user, capability)


def city_ids(user: AnyUser, capability: str) -> set[int]:
    return city_ids_with(user, capability)


def mediators_visible_to(user: AnyUser) -> QuerySet[Mediator]:
    """The mediators of the cities whose roster ``user`` reads."""
    return Mediator.objects.filter(city__in=mediator_cities(user, VIEW_CASES)).select_related("city", "user")


def access_mediator_by_id(user: AnyUser, pk: Any, *, manage: bool = False) -> Mediator:
    """The mediator ``pk`` if ``user`` reads (or, with ``manage``, keeps) its city's roster; else 404 alike."""
    capability = MANAGE_MEDIATORS if manage else VIEW_CASES
    mediator = (
        Mediator.objects.select_related("city", "user")
        .filter(pk=pk, city__in=mediator_cities(user, capability))
        .first()
    )
    if mediator is None:
        raise Http404("No such mediator")
    return mediator


def phone_cities(user: AnyUser) -> set[int]:
    """Cities whose mediators' phones ``user`` sees whole: it keeps the roster or holds ``pii.view``."""
    return city_ids(user, MANAGE_MEDIATORS) | city_ids(user, VIEW_PII)


def shown_phone(mediator: Mediator, whole_in: set[int]) -> str:
    return mediator.phone if mediator.city_id in whole_in else mask_phone(mediator.phone)


def do_record_mediator_pii_view(
    user: AnyUser, mediators: Iterable[Mediator], whole_in: set[int], *, request: HttpRequest | None = None
) -> None:
    """Audit the mediators whose phone ``user`` was just shown whole (none: no row)."""
    shown = [m for m in mediators if m.phone and m.city_id in whole_in]
    if shown:
        do_record_audit(user, AuditAction.VIEW_PII, objects=shown, request=request)


# --- Writes ---------------------------------------------------------------------------------------


def _check_may_manage(user: AnyUser | None, city_id: int | None) -> None:
    """Only a keeper of the city's roster writes to it (``None``: a system write, e.g. seeding)."""
    if user is None:
        return
    if city_id is None or city_id not in city_ids(user, MANAGE_MEDIATORS):
        raise PermissionDenied(_("You do not keep the mediator roster of this city."))


def _normalise_and_check(mediator: Mediator, before: dict[str, Any] | None) -> None:
    errors: dict[str, list[str]] = {}
    mediator.name = (mediator.name or "").strip()
    mediator.organisation = (mediator.organisation or "").strip()
    mediator.home_province = (mediator.home_province or "").strip()
    if not mediator.name:
        errors["name"] = [_("Give the mediator's name.")]
    if mediator.phone:
        try:
            mediator.phone = check_phone(mediator.phone)
        except ValidationError as exc:
            errors["phone"] = exc.messages
    known = {code for code, _label in category_choices()}
    specialties = list(dict.fromkeys(mediator.specialties or []))
    if unknown := [s for s in specialties if s not in known]:
        errors["specialties"] = [_("Unknown specialties: %(codes)s.") % {"codes": ", ".join(unknown)}]
    mediator.specialties = specialties
    if before is not None and before["city_id"] != mediator.city_id:
        errors["city"] = [_("A mediator stays in the city whose roster they are on.")]
    if mediator.user_id is not None:
        user = get_user_model()._default_manager.filter(pk=mediator.user_id).first()
        in_city = mediator.city is not None and any(
            beneath(held_path(ra), mediator.city.path) for ra in (assignments_of(user) if user else [])
        )
        if user is None or not (in_city or user.is_superuser):
            errors["user"] = [_("The sign-in must belong to someone with a role in this city.")]
        elif Mediator.objects.filter(user_id=mediator.user_id).exclude(pk=mediator.pk).exists():
            errors["user"] = [_("This sign-in already belongs to another mediator.")]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def do_save_mediator(mediator: Mediator, *, acting_user: AnyUser | None) -> Mediator:
    """Add a mediator to a city's roster, or change one, as a keeper of that city's roster.

    Phones are checked and stored normalised, specialties must be case categories, a mediator
    never moves to another city, and a linked sign-in must hold a role in the city (assigning
    the mediator to a case grants that user the case). An edit that changes nothing writes
    nothing; any other write is audited (field names) and announced on commit.
    """
    before = stored_values(mediator)
    _check_may_manage(acting_user, before["city_id"] if before is not None else mediator.city_id)
    if before is not None:
        Mediator.objects.select_for_update().filter(pk=mediator.pk).first()  # keepers write one after the other
    _normalise_and_check(mediator, before)
    mediator.full_clean()
    fields = changed_fields(before, mediator)
    if before is not None and not fields:
        return mediator
    mediator.save()
    verb = AuditAction.CREATE if before is None else AuditAction.UPDATE
    do_record_change(acting_user, verb, mediator, fields=fields)
    send_event_on_commit(
        [roster_group(mediator.city_id)],
        {
            "type": f"mediators.mediator.{'created' if before is None else 'updated'}",
            "id": mediator.pk,
            "city_id": mediator.city_id,
        },
    )
    return mediator


@transaction.atomic
def do_deactivate_mediator(mediator: Mediator, *, acting_user: AnyUser | None) -> Mediator:
    """Take a mediator off the active roster (the record stays: past cases name them).

    They can no longer be requested or assigned; cases they already hold keep them. Doing it
    again changes nothing.
    """
    _check_may_manage(acting_user, mediator.city_id)
    locked = Mediator.objects.select_for_update().get(pk=mediator.pk)
    if not locked.active:
        return locked
    locked.active = False
    locked.save(update_fields=["active"])
    do_record_change(acting_user, AuditAction.UPDATE, locked, fields=["active"])
    send_event_on_commit(
        [roster_group(locked.city_id)],
        {"type": "mediators.mediator.deactivated", "id": locked.pk, "city_id": locked.city_id},
    )
    return locked
