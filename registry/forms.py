"""Browser forms of the registry. Validation is the model's (``full_clean``), as for the API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from district.form_fields import BootstrapMixin, export_reason_field
from registry.choices import POLICE_ONLY_TAGS, PersonTag
from registry.excel import ImportRefusedError, check_workbook_file
from registry.excel.limits import too_large_message
from registry.masking import is_masked_copy, mask_value, pii_fields
from registry.models import Address, House, Lease, Organisation, Person, Vehicle

if TYPE_CHECKING:
    # The mixin sees the model form it is mixed into; at run time it stays a plain class.
    _ModelFormBase = forms.BaseModelForm
else:
    _ModelFormBase = object

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class MaskedPiiMixin(_ModelFormBase):
    """Edit forms for users without ``pii.view``: recorded ID numbers and phones stay masked.

    The input shows the masked value (``3701**********123X``), never the real one, not even
    in the page's HTML. Sending it back unchanged keeps the recorded value; typing a new
    number replaces it. Without this, saving any other field would either fail (a masked
    number is invalid) or, worse, tempt a form to store the mask.
    """

    def __init__(self, *args: Any, mask_pii: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._masked_pii: dict[str, tuple[str, str]] = {}  # field → (kind, recorded value)
        if not mask_pii or self.instance.pk is None:
            return
        for name, kind in pii_fields(self._meta.model).items():
            recorded = getattr(self.instance, name)
            if name not in self.fields or not recorded:
                continue
            self._masked_pii[name] = (kind, recorded)
            self.initial[name] = mask_value(kind, recorded)
            self.fields[name].help_text = _(
                "Shown masked. Leave it as it is to keep the recorded value, or type a new one to replace it."
            )

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data  # what ModelForm.clean() returns
        # Before the model's validation (_post_clean) sees it: the mask means "unchanged".
        for name, (kind, recorded) in self._masked_pii.items():
            if is_masked_copy(kind, cleaned.get(name), recorded):
                cleaned[name] = recorded
        return cleaned


class HouseChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: House) -> str:
        return obj.address.full_name


class PersonForm(MaskedPiiMixin, BootstrapMixin, forms.ModelForm):
    """实有人口 form; the key-person tag is offered only to police roles."""

    tags = forms.MultipleChoiceField(
        label=_("tags"), choices=PersonTag.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    house = HouseChoiceField(label=_("house"), queryset=House.objects.select_related("address"), required=False)

    class Meta:
        model = Person
        fields = [
            "name",
            "id_type",
            "id_number",
            "phone",
            "residence_type",
            "house",
            "relation",
            "move_in_date",
            "move_out_date",
            "tags",
            "notes",
        ]
        widgets = {"move_in_date": DATE, "move_out_date": DATE, "notes": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args: Any, can_set_police_tags: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not can_set_police_tags:
            # Declared above as a MultipleChoiceField (self.fields holds copies of the declared fields).
            cast(forms.MultipleChoiceField, self.fields["tags"]).choices = [
                (v, label) for v, label in PersonTag.choices if v not in POLICE_ONLY_TAGS
            ]
            self._hidden_police_tags = [t for t in (self.instance.tags or []) if t in POLICE_ONLY_TAGS]
        else:
            self._hidden_police_tags = []

    def clean_tags(self) -> list[str]:
        # Tags the user cannot see stay as they were: a grid worker editing a phone number
        # must not silently clear a key-person tag set by the police.
        return sorted(set(self.cleaned_data["tags"]) | set(self._hidden_police_tags))


class HouseForm(MaskedPiiMixin, BootstrapMixin, forms.ModelForm):
    """实有房屋 form."""

    class Meta:
        model = House
        fields = ["address", "use", "area_sqm", "owner_name", "owner_id_number", "owner_phone", "notes"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rooms = Address.objects.filter(level="room")
        if self.instance.pk is None:
            rooms = rooms.filter(house__isnull=True)
        # The form field of a ForeignKey is a ModelChoiceField.
        cast(forms.ModelChoiceField, self.fields["address"]).queryset = rooms


class LeaseForm(BootstrapMixin, forms.ModelForm):
    """租赁 form."""

    class Meta:
        model = Lease
        fields = ["house", "tenant", "start_date", "end_date"]
        widgets = {"start_date": DATE, "end_date": DATE}


class OrganisationForm(MaskedPiiMixin, BootstrapMixin, forms.ModelForm):
    """实有单位 form."""

    class Meta:
        model = Organisation
        fields = [
            "name",
            "uscc",
            "kind",
            "address",
            "address_detail",
            "legal_representative",
            "contact_name",
            "contact_phone",
            "staff_count",
        ]


class VehicleForm(BootstrapMixin, forms.ModelForm):
    """车辆 form."""

    class Meta:
        model = Vehicle
        fields = ["plate", "vehicle_type", "brand", "colour", "owner"]


class AddressForm(BootstrapMixin, forms.Form):
    """Add a node to the address tree under ``parent`` (a building when there is none)."""

    parent = forms.ModelChoiceField(
        queryset=Address.objects.exclude(level="room"), required=False, widget=forms.HiddenInput
    )
    number = forms.CharField(label=_("number"), max_length=16)


class ImportForm(BootstrapMixin, forms.Form):
    """Upload of a registry spreadsheet."""

    kind = forms.ChoiceField(
        label=_("kind"),
        choices=[("persons", _("persons")), ("houses", _("houses")), ("organisations", _("organisations"))],
    )
    file = forms.FileField(label=_("Excel file (.xlsx)"))

    def clean_file(self) -> Any:
        """The upload, refused here, before anything is stored, unless it passes the cheap checks.

        Its size, and what its zip directory declares (registry.excel.limits): a file refused
        here never reaches the job worker. The worker checks it again, streaming, as it reads.
        """
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(".xlsx"):
            raise forms.ValidationError(_("Please upload an .xlsx file made from the template."))
        if upload.size > settings.REGISTRY_IMPORT_MAX_UPLOAD_BYTES:
            # Not even read: it may be far larger than the memory an upload is allowed.
            raise forms.ValidationError(too_large_message(), code="too_large")
        try:
            check_workbook_file(upload.read())
        except ImportRefusedError as exc:
            raise forms.ValidationError(exc.message, code="refused")
        upload.seek(0)
        return upload


class ExportForm(forms.Form):
    """Why records are exported: required, and kept in the audit log with the export.

    ``q`` and ``tag`` narrow the export like the list page's search.
    """

    reason = export_reason_field()
    q = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)
    tag = forms.CharField(required=False, max_length=32, widget=forms.HiddenInput)
