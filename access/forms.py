"""Forms of the access staff pages: devices, consent, enrolment photos, cards.

Forms bound what they read (lengths, file sizes before a byte is read, choices); the actions in
``access.actions`` decide everything else, so the pages and the API refuse the same things with
the same messages.
"""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from access.actions import CARD_NUMBER_MAX, CONSENT_DOCUMENT_MAX_BYTES, DEVICE_ADDRESS_LEVELS
from access.choices import ConsentMethod, DeviceStatus
from access.models import Device
from registry.models import Address

__all__ = ["CardForm", "ConsentForm", "DeviceForm", "DeviceStatusForm", "FaceForm", "read_upload"]

MB = 1024 * 1024


def read_upload(upload: UploadedFile | None) -> bytes | None:
    """The bytes of an upload the form has already bounded in size."""
    if upload is None:
        return None
    upload.seek(0)
    return upload.read()


def _bounded_file(upload: UploadedFile | None, limit: int, message: Any) -> UploadedFile | None:
    """Refuse an upload larger than ``limit`` from its declared size, before reading it."""
    if upload is not None and (upload.size or 0) > limit:
        raise forms.ValidationError(message % {"mb": limit // MB})
    return upload


class StyledForm(forms.Form):
    """Bootstrap classes on every widget (the templates render fields one by one)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs.setdefault("class", css)


class AddressChoiceField(forms.ModelChoiceField):
    """A building or unit of the compound, named by its full address."""

    def label_from_instance(self, obj: Any) -> str:
        return str(obj.full_name)


class DeviceForm(forms.ModelForm):
    """A device's name, type, direction and place (the gate's name, or a building or unit)."""

    address = AddressChoiceField(
        label=_("building or unit"),
        queryset=Address.objects.none(),
        required=False,
        help_text=_("For unit doors and sensors inside a building; leave empty for a compound gate."),
    )

    class Meta:
        model = Device
        fields = ["name", "kind", "direction", "gate", "address"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        address = self.fields["address"]
        assert isinstance(address, forms.ModelChoiceField)
        address.queryset = Address.objects.filter(level__in=DEVICE_ADDRESS_LEVELS).order_by("code")
        for field in self.fields.values():
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs.setdefault("class", css)


class DeviceStatusForm(forms.Form):
    """Enable or disable a device (revoking has its own confirmation page)."""

    status = forms.ChoiceField(choices=[(s.value, s.label) for s in (DeviceStatus.ACTIVE, DeviceStatus.DISABLED)])


class ConsentForm(StyledForm):
    """The separate consent to face enrolment: how it was given, on which day, and the signed form."""

    method = forms.ChoiceField(label=_("how consent was given"), choices=ConsentMethod.choices)
    given_on = forms.DateField(
        label=_("date of consent"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    document = forms.FileField(
        label=_("scan of the signed form"),
        required=False,
        help_text=_("JPEG, PNG or PDF, at most 5 MB."),
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,application/pdf"}),
    )

    def clean_given_on(self) -> datetime.date:
        given: datetime.date = self.cleaned_data["given_on"]
        if given > timezone.localdate():
            raise forms.ValidationError(_("Consent cannot be given in the future."))
        if given.year < 2000:
            raise forms.ValidationError(_("Give the date the form was signed."))
        return given

    def clean_document(self) -> UploadedFile | None:
        return _bounded_file(
            self.cleaned_data.get("document"),
            CONSENT_DOCUMENT_MAX_BYTES,
            _("The scan of the consent form is larger than %(mb)d MB."),
        )

    def given_at(self) -> datetime.datetime:
        """The day of consent as the start of that day in the compound's time zone."""
        day: datetime.date = self.cleaned_data["given_on"]
        return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


class FaceForm(StyledForm):
    """One enrolment photo; on a phone ``capture="user"`` opens the front camera."""

    image = forms.FileField(
        label=_("photo of the face"),
        help_text=_("One face, looking at the camera, in good light. JPEG or PNG."),
        widget=forms.FileInput(attrs={"accept": "image/*", "capture": "user"}),
    )

    def clean_image(self) -> UploadedFile | None:
        return _bounded_file(
            self.cleaned_data.get("image"), settings.ACCESS_IMAGE_MAX_BYTES, _("The photo is larger than %(mb)d MB.")
        )


class CardForm(StyledForm):
    """An IC card's number (spaces and dashes are ignored) and, optionally, the last day it opens gates.

    Normalising, the number's form and its uniqueness are the action's (``do_save_card``).
    """

    number = forms.CharField(
        label=_("card number"),
        max_length=CARD_NUMBER_MAX * 2,  # room for separators, which the action removes
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    valid_on = forms.DateField(
        label=_("valid until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def valid_until(self) -> datetime.datetime | None:
        """The end of the chosen day in the compound's time zone."""
        day: datetime.date | None = self.cleaned_data.get("valid_on")
        if day is None:
            return None
        return timezone.make_aware(datetime.datetime.combine(day, datetime.time.max))
