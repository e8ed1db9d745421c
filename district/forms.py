"""Browser forms of the public pages: assigning a role."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib.auth import get_user_model
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from district.choices import Role
from district.permissions import access_node_by_code, assignable_roles
from district.typing import AnyUser

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    # Mixins see the form they are mixed into; at run time they stay plain classes.
    _FormBase = forms.BaseForm
else:
    _FormBase = object


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


class RoleAssignForm(BootstrapMixin, forms.Form):
    """User, role and node (an area or compound code); the action decides whether it may be done.

    The role choices are the ones the actor may hand out somewhere; whether they may hand it
    out at this node is the action's question. An unknown code and a code outside the actor's
    part of the tree get the same message, so codes cannot be probed from this form.
    """

    username = forms.CharField(label=_("Username"), max_length=150)
    role = forms.ChoiceField(label=_("Role"))
    node = forms.CharField(
        label=_("Area or compound code"),
        max_length=15,
        help_text=_("A street, district or city division code for area roles; a compound code for compound roles."),
    )

    def __init__(self, *args: Any, actor: AnyUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actor = actor
        # Declared above as a ChoiceField; self.fields holds copies of the declared fields.
        cast(forms.ChoiceField, self.fields["role"]).choices = [(r, Role(r).label) for r in assignable_roles(actor)]

    def clean_username(self) -> User:
        username = self.cleaned_data["username"].strip()
        user = get_user_model()._default_manager.filter(username=username).first()
        if user is None:
            raise forms.ValidationError(_("No user with this username."))
        return user

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # what Form.clean() returns
        if "node" in data:
            try:
                data["area"], data["compound"] = access_node_by_code(self.actor, data["node"], role=data.get("role"))
            except Http404:
                self.add_error("node", _("No area or compound with this code in your part of the tree."))
        return data
