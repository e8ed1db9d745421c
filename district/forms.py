"""Browser forms of the public pages: assigning a role."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from district.actions import no_such_user_message
from district.choices import Role
from district.form_fields import BootstrapMixin
from district.permissions import access_node_by_code, assignable_roles, users_within_reach
from district.typing import AnyUser

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class RoleAssignForm(BootstrapMixin, forms.Form):
    """User, role and node (an area or compound code); the action decides whether it may be done.

    The role choices are the ones the actor may hand out somewhere; whether they may hand it
    out at this node is the action's question. An unknown code and a code outside the actor's
    part of the tree get the same message, so codes cannot be probed from this form; so do an
    unknown username and an account out of the actor's reach.
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
        # An account the actor may not touch (a superuser's, one holding a role above its
        # reach) is answered like one that does not exist, so usernames cannot be probed.
        user = users_within_reach(self.actor).filter(username=username).first()
        if user is None:
            raise forms.ValidationError(no_such_user_message())
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
