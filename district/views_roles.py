"""The role page: role assignments in the actor's part of the tree, assigning and revoking.

Scope and delegation are decided by ``district.permissions`` and the actions in
``district.actions``; this module only turns their answers into pages.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from district.actions import do_assign_role, do_revoke_role
from district.forms import RoleAssignForm
from district.models import RoleAssignment
from district.permissions import (
    ASSIGN_ROLES,
    may_assign_role,
    may_manage_user,
    need,
    role_assignments_in_scope,
    users_within_reach,
)
from district.typing import AnyUser
from district.views import DeclaredView

PAGE_SIZE = 50


def may_revoke(actor: AnyUser, assignment: RoleAssignment, within_reach: set[int] | None = None) -> bool:
    """Show a revoke button? The same rules as ``do_revoke_role`` (own roles are never revoked).

    ``within_reach``: ids of the page's accounts the actor may touch, read in one query
    (``users_within_reach``); without it the account's roles are read here.
    """
    if assignment.user_id == actor.pk and not actor.is_superuser:
        return False
    if within_reach is not None:
        if assignment.user_id not in within_reach:
            return False
    elif not may_manage_user(actor, assignment.user):
        return False
    return may_assign_role(actor, assignment.role, area=assignment.area, compound=assignment.compound)


class RoleView(DeclaredView):
    """Base of the role pages: 403 unless one of the user's roles may assign roles."""

    permissions = {"GET": need(ASSIGN_ROLES), "POST": need(ASSIGN_ROLES)}


class RoleListView(RoleView):
    """List the role assignments the user manages (searchable), and assign a role (POST)."""

    def get(self, request: HttpRequest, form: RoleAssignForm | None = None, status: int = 200) -> HttpResponse:
        q = request.GET.get("q", "").replace("\x00", "").strip()  # PostgreSQL refuses NUL in literals
        assignments = role_assignments_in_scope(request.user)
        if q:
            assignments = assignments.filter(
                Q(user__username__icontains=q)
                | Q(area__code__startswith=q)
                | Q(compound__code__startswith=q)
                | Q(area__name__icontains=q)
                | Q(compound__name__icontains=q)
            )
        # Area roles first (city → street by code), then compound roles by compound code.
        ordered = assignments.order_by("area__code", "compound__code", "role", "user__username")
        page = Paginator(ordered, PAGE_SIZE).get_page(request.GET.get("page"))
        users = {ra.user_id for ra in page}
        within = set(users_within_reach(request.user).filter(pk__in=users).values_list("pk", flat=True))
        rows = [(ra, may_revoke(request.user, ra, within)) for ra in page]
        context = {"rows": rows, "page": page, "q": q, "form": form or RoleAssignForm(actor=request.user)}
        return render(request, "district/roles.html", context, status=status)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = RoleAssignForm(request.POST, actor=request.user)
        if not form.is_valid():
            return self.get(request, form, status=422)
        data = form.cleaned_data
        try:
            assignment = do_assign_role(
                request.user,
                data["username"],
                data["role"],
                area=data["area"],
                compound=data["compound"],
                request=request,
            )
        except ValidationError as exc:
            form.add_error(None, exc.messages)
            return self.get(request, form, status=422)
        except PermissionDenied as exc:
            # A refusal of the delegation rules is shown at the form, still with the 403 status.
            form.add_error(None, str(exc) or _("Your roles may not assign this role here."))
            return self.get(request, form, status=403)
        messages.success(request, _("Assigned: %(assignment)s.") % {"assignment": assignment})
        return redirect("role-list")


class RoleRevokeView(RoleView):
    """Revoke one role assignment (POST only); assignments outside the user's part answer 404."""

    permissions = {"POST": need(ASSIGN_ROLES)}

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        assignment = get_object_or_404(role_assignments_in_scope(request.user), pk=pk)
        label = str(assignment)
        do_revoke_role(request.user, assignment, request=request)
        messages.success(request, _("Revoked: %(assignment)s.") % {"assignment": label})
        return redirect("role-list")
