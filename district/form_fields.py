"""Form building blocks every app's forms share (no project imports: any layer may use them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    # Mixins see the form they are mixed into; at run time they stay plain classes.
    _FormBase = forms.BaseForm
else:
    _FormBase = object


def export_reason_field() -> forms.CharField:
    """The required reason of every export of records (kept in the export's audit row)."""
    message = _("Please give the reason for this export (at least 4 characters).")
    return forms.CharField(
        label=_("Reason for the export"),
        min_length=4,
        max_length=500,
        error_messages={"required": message, "min_length": message},
    )


class BootstrapMixin(_FormBase):
    """Adds Bootstrap classes so every form renders alike on a phone and a desktop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxSelectMultiple):
                continue
            css = "form-select" if isinstance(widget, forms.Select) else "form-control"
            widget.attrs.setdefault("class", css)

    def full_clean(self) -> None:
        super().full_clean()
        # Mark invalid inputs so the error is visible at the field, not only below it.
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                widget.attrs["class"] = f"{widget.attrs.get('class', '')} is-invalid".strip()
