"""Forms of the alert pages and API: list filters, lifecycle steps, a compound's alert settings, broadcasts.

Forms validate input and say what is wrong in the user's language; the writes are the
actions' (``alerts.actions``), which check again whatever a form cannot know.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.validators import RegexValidator
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from alerts.actions import NOTE_MAX
from alerts.catalogue import MODELS, PARAM_BOUNDS
from alerts.queries import Candidate, broadcast_compounds, broadcast_streets
from district.form_fields import BootstrapMixin
from district.models import Area
from district.typing import AnyUser
from events.choices import AlertStatus, Severity
from events.models import Alert
from tenants.models import Compound

__all__ = [
    "BROADCAST_TEXT_MAX",
    "AlertFilterForm",
    "AlertRulesForm",
    "BroadcastForm",
    "DispatchForm",
    "StepForm",
    "filter_alerts",
]

BROADCAST_TEXT_MAX = 2000
CODE_PREFIX = RegexValidator(r"^[0-9]{1,32}$", gettext_lazy("Enter a compound's code, or the start of one (digits)."))
# What each threshold of the catalogue is called on the settings page.
PARAM_LABELS: dict[str, Any] = {
    "window_seconds": gettext_lazy("Window (seconds)"),
    "hours": gettext_lazy("Hours without activity"),
    "quiet_start": gettext_lazy("Quiet hours start (hour)"),
    "quiet_end": gettext_lazy("Quiet hours end (hour)"),
    "minutes": gettext_lazy("Minutes"),
    "threshold": gettext_lazy("Threshold (people)"),
    "count": gettext_lazy("Count"),
    "days": gettext_lazy("Days"),
    "min_days": gettext_lazy("On at least (days)"),
    "night_start": gettext_lazy("Night starts (hour)"),
    "night_end": gettext_lazy("Night ends (hour)"),
}


def kind_choices() -> list[tuple[str, Any]]:
    return [(code, model.label) for code, model in MODELS.items()]


class AlertFilterForm(forms.Form):
    """The alert list's filters, validated alike for the panel and the API (``?kind=&severity=…``)."""

    kind = forms.ChoiceField(
        label=gettext_lazy("Alert type"), required=False, choices=[("", gettext_lazy("All types")), *kind_choices()]
    )
    severity = forms.ChoiceField(
        label=gettext_lazy("severity"),
        required=False,
        choices=[("", gettext_lazy("All severities")), *Severity.choices],
    )
    status = forms.ChoiceField(
        label=gettext_lazy("status"),
        required=False,
        choices=[
            ("", gettext_lazy("All statuses")),
            ("open", pgettext_lazy("alert status", "Open")),
            *AlertStatus.choices,
        ],
    )
    compound = forms.CharField(
        label=gettext_lazy("compound code"),
        required=False,
        max_length=32,
        validators=[CODE_PREFIX],
        help_text=gettext_lazy("A compound's code, or the start of one (a street's code)"),
    )
    assigned = forms.ChoiceField(
        label=gettext_lazy("dispatched to"),
        required=False,
        choices=[("", "—"), ("me", gettext_lazy("Me"))],
    )
    after = forms.IntegerField(
        label=gettext_lazy("after alert id"),
        required=False,
        min_value=0,
        max_value=2**63 - 1,
        help_text=gettext_lazy("Only alerts with a greater id (what a client missed)."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs.setdefault("class", css)
            field.widget.attrs.setdefault("aria-label", str(field.label))

    def query_string(self) -> str:
        """The filters as a query string, for the live panel's row requests and paging links."""
        if not self.is_valid():
            return ""
        from urllib.parse import urlencode

        return urlencode({k: v for k, v in self.cleaned_data.items() if v not in (None, "")})


def filter_alerts(alerts: QuerySet[Alert], filters: dict[str, Any], user: AnyUser) -> QuerySet[Alert]:
    """``alerts`` narrowed by the cleaned data of an :class:`AlertFilterForm`."""
    if kind := filters.get("kind"):
        alerts = alerts.filter(kind=kind)
    if severity := filters.get("severity"):
        alerts = alerts.filter(severity=severity)
    status = filters.get("status")
    if status == "open":
        alerts = alerts.filter(status__in=[AlertStatus.NEW, AlertStatus.ACKNOWLEDGED, AlertStatus.DISPATCHED])
    elif status:
        alerts = alerts.filter(status=status)
    if code := filters.get("compound"):
        alerts = alerts.filter(compound_id__in=Compound.objects.filter(code__startswith=code).values("pk"))
    if filters.get("assigned") == "me":
        alerts = alerts.filter(assignee_id=user.pk if user.is_authenticated else None)
    after = filters.get("after")
    if after is not None:
        alerts = alerts.filter(pk__gt=after)
    return alerts


class StepForm(BootstrapMixin, forms.Form):
    """A lifecycle step's note (optional; a false alarm's note says why, to tune the model)."""

    note = forms.CharField(
        label=gettext_lazy("note"),
        required=False,
        max_length=NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class DispatchForm(StepForm):
    """Dispatch to one of the people who handle alerts of the alert's compound (listed by the server)."""

    assignee = forms.TypedChoiceField(label=gettext_lazy("dispatch to"), coerce=int)

    field_order = ["assignee", "note"]

    def __init__(self, candidates: list[Candidate], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.candidates = {c.user.pk: c.user for c in candidates}
        field = self.fields["assignee"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [("", "—"), *((c.user.pk, c.label) for c in candidates)]

    def chosen(self) -> Any:
        """The chosen account (after ``is_valid``)."""
        return self.candidates[self.cleaned_data["assignee"]]


class AlertRulesForm(forms.Form):
    """Every alert model of the catalogue for one compound: on/off, severity and thresholds.

    Field names are ``<model>__enabled``, ``<model>__severity`` and ``<model>__<threshold>``;
    thresholds are whole numbers within ``alerts.actions.PARAM_BOUNDS``. Without ``police``, the
    models set by the police are disabled fields: shown, never taken from the post.
    """

    def __init__(self, *args: Any, rules: dict[str, Any], police: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for code, model in MODELS.items():
            rule = rules.get(code)
            locked = model.set_by_police and not police  # shown as they stand; posted values ignored
            self.fields[f"{code}__enabled"] = forms.BooleanField(
                label=gettext_lazy("enabled"),
                required=False,
                initial=rule.enabled if rule is not None else True,
                widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
            )
            default = Severity(model.severity).label
            self.fields[f"{code}__severity"] = forms.ChoiceField(
                label=gettext_lazy("severity"),
                required=False,
                choices=[("", _("Default (%(severity)s)") % {"severity": default}), *Severity.choices],
                initial=rule.severity if rule is not None else "",
                widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
            )
            stored = rule.params if rule is not None else {}
            for name, value in model.params.items():
                low, high = PARAM_BOUNDS.get(name, (0, 2**31 - 1))
                self.fields[f"{code}__{name}"] = forms.IntegerField(
                    label=PARAM_LABELS.get(name, name),
                    min_value=low,
                    max_value=high,
                    initial=stored.get(name, value),
                    widget=forms.NumberInput(attrs={"class": "form-control form-control-sm", "inputmode": "numeric"}),
                )
            if locked:
                for name in ("enabled", "severity", *model.params):
                    self.fields[f"{code}__{name}"].disabled = True

    def models(self) -> list[tuple[str, Any, Any, Any, list[Any]]]:
        """Per model: code, label, its enabled and severity fields, and its threshold fields (bound)."""
        rows = []
        for code, model in MODELS.items():
            rows.append(
                (
                    code,
                    model,
                    self[f"{code}__enabled"],
                    self[f"{code}__severity"],
                    [self[f"{code}__{name}"] for name in model.params],
                )
            )
        return rows

    def rule(self, code: str) -> dict[str, Any]:
        """The cleaned settings of one model, as ``do_save_alert_rule`` takes them."""
        data = self.cleaned_data
        return {
            "enabled": bool(data.get(f"{code}__enabled")),
            "severity": data.get(f"{code}__severity") or "",
            "params": {name: data[f"{code}__{name}"] for name in MODELS[code].params},
        }


class BroadcastForm(BootstrapMixin, forms.Form):
    """一呼百应: a message and an optional photo to a street or a compound the sender covers.

    ``target`` is ``street:<id>`` or ``compound:<id>``, among those the sender may send to.
    """

    target = forms.ChoiceField(label=gettext_lazy("Send to"))
    text = forms.CharField(
        label=gettext_lazy("message"),
        max_length=BROADCAST_TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    photo = forms.FileField(
        label=gettext_lazy("Photo"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": "image/*"}),
        help_text=gettext_lazy("Optional: a JPEG or PNG, e.g. a picture of the person sought."),
    )

    def __init__(self, user: AnyUser, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        streets = list(broadcast_streets(user).order_by("code"))
        compounds = list(broadcast_compounds(user).order_by("code"))
        self.targets: dict[str, Area | Compound] = {f"street:{s.pk}": s for s in streets}
        self.targets |= {f"compound:{c.pk}": c for c in compounds}
        choices: list[Any] = []
        if streets:
            choices.append((_("Streets"), [(f"street:{s.pk}", s.name) for s in streets]))
        if compounds:
            choices.append((_("Compounds"), [(f"compound:{c.pk}", f"{c.name} ({c.code})") for c in compounds]))
        field = self.fields["target"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices

    def clean_photo(self) -> Any:
        upload = self.cleaned_data.get("photo")
        if upload and upload.size > settings.ACCESS_IMAGE_MAX_BYTES:
            # Not even read: the decoder's own limit would refuse it after reading it whole.
            raise forms.ValidationError(
                _("The photo is larger than %(mb)d MB.") % {"mb": settings.ACCESS_IMAGE_MAX_BYTES // (1024 * 1024)},
                code="too_large",
            )
        return upload

    def destination(self) -> dict[str, Any]:
        """``{"area": street}`` or ``{"compound": compound}``, as ``do_send_broadcast`` takes it."""
        chosen = self.targets[self.cleaned_data["target"]]
        return {"compound": chosen} if isinstance(chosen, Compound) else {"area": chosen}
