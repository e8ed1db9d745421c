"""Browser forms of the public pages: assigning a role."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from district.choices import Role
from district.permissions import access_node_by_code, assignable_roles
from registry.forms import BootstrapMixin


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

    def __init__(self, *args: Any, actor: AbstractBaseUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actor = actor
        self.fields["role"].choices = [(r, Role(r).label) for r in assignable_roles(actor)]

    def clean_username(self) -> AbstractBaseUser:
        username = self.cleaned_data["username"].strip()
        user = get_user_model()._default_manager.filter(username=username).first()
        if user is None:
            raise forms.ValidationError(_("No user with this username."))
        return user

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "node" in data:
            try:
                data["area"], data["compound"] = access_node_by_code(self.actor, data["node"], role=data.get("role"))
            except Http404:
                self.add_error("node", _("No area or compound with this code in your part of the tree."))
        return data
