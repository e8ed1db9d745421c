"""Forms of the mediation pages: they bound and validate input; the actions write (STYLE.md §2).

The intake form is built for a phone and a minute's work: a category, a title and one party's
name are all it needs; the source defaults to a walk-in and the date to today. Its parties
are repeated fieldsets named ``parties-N-<field>`` (N = 0, 1, …), the contract the offline
intake's script and the API share (``POST /c/<code>/api/mediation/cases/``).
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, RegexValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from mediation.actions import MAX_DEADLINE_DAYS, MAX_PARTIES, TRANSITIONS, PartyData, check_party_id_number
from mediation.choices import CaseCategory, CaseSource, CaseStatus, PartyRole, ReferredTo, Risk, RiskReason
from mediation.models import TEXT_MAX, Case
from mediators.models import Mediator
from registry.choices import AddressLevel
from registry.filtersets import SHORTHAND
from registry.models import Address

__all__ = [
    "AgreementForm",
    "AttachmentForm",
    "CaseEditForm",
    "CaseFilterForm",
    "CaseIntakeForm",
    "ExtendDeadlineForm",
    "MediatorFilterForm",
    "PartyForm",
    "SessionForm",
    "TransitionForm",
    "party_forms",
]

CLIENT_KEY = RegexValidator(r"^[A-Za-z0-9-]{8,64}$", _("A draft key has 8 to 64 letters, digits or dashes."))
PARTY_KEY = re.compile(r"^parties-(\d{1,3})-")
NOTE_MAX = 500
AMOUNT_MAX = Decimal("999999999999.99")
DEFAULT_PARTY_FIELDSETS = 2


class StyledForm(forms.Form):
    """Bootstrap classes on every widget (the templates render fields one by one)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxSelectMultiple | forms.CheckboxInput):
                # Toggle buttons (Bootstrap's btn-check): a whole label is the tap target on a phone.
                widget.attrs.setdefault("class", "btn-check")
                widget.attrs.setdefault("autocomplete", "off")
                continue
            css = "form-select" if isinstance(widget, forms.Select) else "form-control"
            widget.attrs.setdefault("class", css)


def choices_with_blank(choices: Any, label: Any = "—") -> list[tuple[str, Any]]:
    return [("", label), *choices]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


def amount_field(label: Any) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=False,
        min_value=0,
        max_value=AMOUNT_MAX,
        max_digits=14,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"inputmode": "decimal", "step": "0.01"}),
    )


def roster(compound: Any) -> Any:
    """Active mediators of the compound's city (the roster is city-wide)."""
    city_code = compound.street.path.split("/")[0]
    return Mediator.objects.filter(active=True, city__code=city_code)


class CaseFieldsMixin(forms.Form):
    """The case's own fields, shared by the intake and the edit form."""

    source = forms.ChoiceField(label=_("source"), choices=CaseSource.choices, initial=CaseSource.WALK_IN)
    category = forms.ChoiceField(label=_("category"), choices=choices_with_blank(CaseCategory.choices))
    title = forms.CharField(
        label=_("title"),
        max_length=120,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text=_("A few words, e.g. “water leaking into the flat below”."),
    )
    description = forms.CharField(
        label=_("description"),
        required=False,
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    risk = forms.ChoiceField(label=_("escalation risk"), choices=Risk.choices, initial=Risk.LOW)
    risk_reasons = forms.MultipleChoiceField(
        label=_("risk reasons"),
        choices=RiskReason.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Any reason makes the risk at least medium; a high risk alerts the police at once."),
    )
    place = forms.CharField(label=pgettext_lazy("mediation", "place"), max_length=128, required=False)
    amount = amount_field(_("amount in dispute (yuan)"))
    occurred_on = forms.DateField(label=_("dispute arose on"), required=False, widget=DateInput())

    def clean_occurred_on(self) -> datetime.date | None:
        value: datetime.date | None = self.cleaned_data.get("occurred_on")
        if value is not None and value > timezone.localdate():
            raise forms.ValidationError(_("The date cannot be in the future."))
        return value


class PartyForm(StyledForm):
    """One party of a case: a resident of the compound (``person_id``) or someone from outside."""

    role = forms.ChoiceField(label=_("role"), choices=PartyRole.choices, initial=PartyRole.APPLICANT)
    name = forms.CharField(label=_("full name"), max_length=64, required=False)
    id_number = forms.CharField(label=_("ID number"), max_length=32, required=False)
    phone = forms.CharField(
        label=_("phone"), max_length=20, required=False, widget=forms.TextInput(attrs={"inputmode": "tel"})
    )
    home_province = forms.CharField(label=_("home province"), max_length=16, required=False)
    person_id = forms.IntegerField(required=False, min_value=1, max_value=2**31 - 1, widget=forms.HiddenInput)

    def clean_id_number(self) -> str:
        value: str = self.cleaned_data.get("id_number") or ""
        if not value:
            return value
        try:
            return check_party_id_number(value)
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from None

    def is_blank(self) -> bool:
        """Nothing typed in this fieldset (a spare one): it is not a party."""
        data = self.cleaned_data
        return not any(data.get(name) for name in ("name", "id_number", "phone", "home_province", "person_id"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors and not self.is_blank() and not data.get("name") and not data.get("person_id"):
            self.add_error("name", _("Give the party's name."))
        return data

    def party_data(self) -> PartyData:
        data = self.cleaned_data
        return PartyData(
            role=data["role"],
            name=data.get("name") or "",
            person_id=data.get("person_id"),
            id_number=data.get("id_number") or "",
            phone=data.get("phone") or "",
            home_province=data.get("home_province") or "",
        )


def party_indexes(data: Mapping[str, Any] | None) -> list[int]:
    """The fieldset numbers present in a POST (at most :data:`MAX_PARTIES` of them, in order)."""
    if not data:
        return list(range(DEFAULT_PARTY_FIELDSETS))
    found = sorted({int(m.group(1)) for key in data if (m := PARTY_KEY.match(key))})
    return found[:MAX_PARTIES] or list(range(DEFAULT_PARTY_FIELDSETS))


def party_forms(data: Mapping[str, Any] | None = None) -> list[PartyForm]:
    """The party fieldsets of the intake form: two empty ones (applicant, respondent), or those posted."""
    forms_: list[PartyForm] = []
    for n in party_indexes(data):
        initial = {"role": PartyRole.APPLICANT if n == 0 else PartyRole.RESPONDENT}
        forms_.append(PartyForm(data, prefix=f"parties-{n}", initial=initial))
    return forms_


class CaseIntakeForm(StyledForm, CaseFieldsMixin):
    """A new case with its parties, in under a minute on a phone (see the module docstring)."""

    client_key = forms.CharField(required=False, validators=[CLIENT_KEY], widget=forms.HiddenInput)
    requested_mediator = forms.TypedChoiceField(
        label=_("mediator requested by a party"), required=False, coerce=int, empty_value=None
    )

    def __init__(self, data: Any = None, *, compound: Any, **kwargs: Any) -> None:
        initial = {"client_key": str(uuid.uuid4()), "occurred_on": timezone.localdate(), **kwargs.pop("initial", {})}
        super().__init__(data, initial=initial, **kwargs)
        mediators = roster(compound).order_by("name")[:500]
        field = self.fields["requested_mediator"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices_with_blank([(m.pk, f"{m.name} · {m.get_kind_display()}") for m in mediators], _("none"))
        self.parties = party_forms(data)

    def is_valid(self) -> bool:
        valid = super().is_valid()
        parties_valid = all(p.is_valid() for p in self.parties)
        if valid and parties_valid and not self.party_data():
            self.add_error(None, _("A case needs at least one party."))
            return False
        return valid and parties_valid

    def party_data(self) -> list[PartyData]:
        return [p.party_data() for p in self.parties if not p.is_blank()]

    def registration(self) -> dict[str, Any]:
        """Keyword arguments of ``do_register_case``."""
        data = self.cleaned_data
        return {
            "source": data["source"],
            "category": data["category"],
            "title": data["title"],
            "description": data.get("description") or "",
            "risk": data["risk"],
            "risk_reasons": data.get("risk_reasons") or [],
            "place": data.get("place") or "",
            "amount": data.get("amount"),
            "occurred_on": data.get("occurred_on"),
            "requested_mediator_id": data.get("requested_mediator"),
            "client_key": data.get("client_key") or None,
            "parties": self.party_data(),
        }


def resolve_address(text: str) -> Address | None:
    """A standard address by its code (``370102001001001``) or the room shorthand ``3-2-501`` / ``3-501``."""
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        found = list(Address.objects.filter(code=text)[:1])
    elif match := SHORTHAND.fullmatch(text):
        building, middle, room = match.groups()
        unit = middle if room is not None else None
        room = room if room is not None else middle
        qs = Address.objects.filter(level=AddressLevel.ROOM, number=room, parent__parent__parent__number=building)
        if unit is not None:
            qs = qs.filter(parent__parent__number=unit)
        found = list(qs[:2])
        if len(found) > 1:
            raise forms.ValidationError(_("Several rooms match: give the unit too (3-2-501) or the address code."))
    else:
        found = []
    if not found:
        raise forms.ValidationError(_("No such address in this compound."))
    return found[0]


class CaseEditForm(StyledForm, CaseFieldsMixin):
    """The case's description fields (its status moves only through the workflow buttons)."""

    address = forms.CharField(
        label=_("standard address"),
        required=False,
        max_length=32,
        help_text=_("Room shorthand such as 3-2-501, or the standard-address code."),
    )

    def __init__(self, data: Any = None, *, case: Case, **kwargs: Any) -> None:
        initial = {
            name: getattr(case, name)
            for name in (
                "source",
                "category",
                "title",
                "description",
                "risk",
                "risk_reasons",
                "place",
                "amount",
                "occurred_on",
            )
        }
        initial["address"] = case.address.code if case.address_id and case.address else ""
        super().__init__(data, initial=initial, **kwargs)

    def clean_address(self) -> Address | None:
        return resolve_address(self.cleaned_data.get("address") or "")

    def changes(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        address = data.pop("address", None)
        data["address_id"] = address.pk if address is not None else None
        data["description"] = data.get("description") or ""
        data["place"] = data.get("place") or ""
        data["risk_reasons"] = data.get("risk_reasons") or []
        return data


class CaseFilterForm(forms.Form):
    """The case list's filters (every one optional)."""

    status = forms.ChoiceField(required=False, choices=choices_with_blank(CaseStatus.choices, _("all statuses")))
    category = forms.ChoiceField(required=False, choices=choices_with_blank(CaseCategory.choices, _("all categories")))
    risk = forms.ChoiceField(required=False, choices=choices_with_blank(Risk.choices, _("any risk")))
    overdue = forms.BooleanField(required=False, label=_("overdue only"))
    q = forms.CharField(required=False, max_length=100, strip=True)


class TransitionForm(StyledForm):
    """Move a case to one of the statuses its current one allows."""

    status = forms.ChoiceField(label=_("new status"), choices=CaseStatus.choices)
    note = forms.CharField(label=_("note"), required=False, max_length=NOTE_MAX)
    referred_to = forms.ChoiceField(
        label=_("referred to"), required=False, choices=choices_with_blank(ReferredTo.choices)
    )

    def __init__(self, data: Any = None, *, case: Case, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        allowed = TRANSITIONS.get(case.status, frozenset())
        field = self.fields["status"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(v, label) for v, label in CaseStatus.choices if v in allowed]


class ExtendDeadlineForm(StyledForm):
    """Extend an open case's statutory deadline, with the reason."""

    days = forms.IntegerField(
        label=_("extend by (days)"),
        min_value=1,
        max_value=MAX_DEADLINE_DAYS,
        initial=15,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    reason = forms.CharField(label=_("reason"), max_length=NOTE_MAX)


class SessionForm(StyledForm):
    """Schedule a session (date, place or remote-video link), or record how it went."""

    scheduled_at = forms.DateTimeField(label=_("date and time"), widget=DateTimeInput())
    place = forms.CharField(label=pgettext_lazy("mediation", "place"), max_length=128, required=False)
    video_link = forms.URLField(label=_("remote video link"), max_length=300, required=False, assume_scheme="https")
    attendees = forms.CharField(label=_("attendees"), max_length=500, required=False)
    minutes = forms.CharField(
        label=_("minutes"), max_length=TEXT_MAX, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    held = forms.BooleanField(label=_("held"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors and not data.get("place") and not data.get("video_link"):
            self.add_error("place", _("Give a place or a remote-video link."))
        return data


class AgreementForm(StyledForm):
    """The agreement the parties signed, with the amount and an optional scan of the signatures."""

    terms = forms.CharField(label=_("terms"), max_length=TEXT_MAX, widget=forms.Textarea(attrs={"rows": 4}))
    amount = amount_field(_("amount agreed (yuan)"))
    signed_on = forms.DateField(label=_("signed on"), widget=DateInput())
    file = forms.FileField(label=_("signature scan (photo or PDF)"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"signed_on": timezone.localdate()})
        super().__init__(*args, **kwargs)


class AttachmentForm(StyledForm):
    """A photo (JPEG/PNG) or PDF for the case, or for one of its sessions or agreements."""

    file = forms.FileField(label=_("photo or PDF"))
    session = forms.IntegerField(required=False, min_value=1, max_value=2**31 - 1, widget=forms.HiddenInput)
    agreement = forms.IntegerField(required=False, min_value=1, max_value=2**31 - 1, widget=forms.HiddenInput)


class MediatorFilterForm(forms.Form):
    """Narrow the roster shown for assignment: by specialty (a case category) and home province."""

    specialty = forms.ChoiceField(required=False, choices=choices_with_blank(CaseCategory.choices, _("any specialty")))
    province = forms.CharField(required=False, max_length=16, validators=[MaxLengthValidator(16)])
