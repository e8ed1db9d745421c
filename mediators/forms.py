"""Forms of the roster pages: they bound and validate input; ``mediators.actions`` writes."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from mediators.actions import category_choices
from mediators.models import Mediator, MediatorKind

__all__ = ["MediatorFilterForm", "MediatorForm"]


class MediatorFilterForm(forms.Form):
    """The roster list's filters (every one optional)."""

    kind = forms.ChoiceField(required=False, choices=[("", _("all kinds")), *MediatorKind.choices])
    specialty = forms.ChoiceField(required=False)
    province = forms.CharField(required=False, max_length=16, strip=True)
    remote = forms.BooleanField(required=False, label=_("remote video only"))
    inactive = forms.BooleanField(required=False, label=_("include inactive"))
    q = forms.CharField(required=False, max_length=64, strip=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["specialty"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("any specialty")), *category_choices()]


class MediatorForm(forms.ModelForm):
    """A mediator of a city's roster; ``username`` links their sign-in (optional)."""

    specialties = forms.MultipleChoiceField(label=_("specialties"), required=False, widget=forms.CheckboxSelectMultiple)
    username = forms.CharField(
        label=_("sign-in (username)"),
        required=False,
        max_length=150,
        help_text=_("Optional: assigning the mediator to a case then lets this user work the case."),
    )

    class Meta:
        model = Mediator
        fields = ["city", "name", "kind", "organisation", "specialties", "home_province", "phone", "remote"]

    def __init__(self, *args: Any, cities: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        specialties = self.fields["specialties"]
        assert isinstance(specialties, forms.MultipleChoiceField)
        specialties.choices = category_choices()
        city = self.fields["city"]
        assert isinstance(city, forms.ModelChoiceField)
        city.queryset = cities
        if self.instance.pk is not None:
            city.disabled = True  # a mediator stays in their city
            self.initial["username"] = self.instance.user.get_username() if self.instance.user_id else ""
        elif cities.count() == 1:
            self.initial.setdefault("city", cities.first())
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxSelectMultiple | forms.CheckboxInput):
                widget.attrs.setdefault("class", "form-check-input")
            else:
                widget.attrs.setdefault("class", "form-select" if isinstance(widget, forms.Select) else "form-control")

    def clean_username(self) -> Any:
        username = (self.cleaned_data.get("username") or "").strip()
        if not username:
            return None
        user = get_user_model()._default_manager.filter(username=username).first()
        if user is None:
            raise forms.ValidationError(_("No such user."))
        return user
