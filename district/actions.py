"""Writes of permissions: role assignments and per-object grants, each with its audit row.

Every change to who may do what goes through a ``do_*`` function here (STYLE.md §2), so the
role page, the API and any later command refuse and record alike. Refusals:

- ``PermissionDenied`` (403): the actor's roles may not do this (no ``roles.assign``, a role
  above what the delegation table in ``district.permissions`` allows, or their own account);
- ``Http404``: the node, compound or record lies outside what the actor manages, answered
  exactly as if it did not exist (STYLE.md §3);
- ``ValidationError`` (400): the input is wrong (role held at the wrong level of node, a
  duplicate assignment, a permission that cannot be granted on that record).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, models, transaction
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from django_tenants.utils import tenant_context
from guardian.shortcuts import assign_perm, remove_perm

from district.audit import do_record_audit
from district.models import Area, AuditAction, RoleAssignment
from district.permissions import (
    ASSIGN_ROLES,
    GRANTABLE_OBJECT_ACTIONS,
    has_capability,
    manages_node,
    may_assign_role,
    may_manage_user,
)
from district.scope import covers_compound, forget_assignments
from tenants.models import Compound

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from district.typing import AnyUser


def _check_not_self(actor: AnyUser, user: User) -> None:
    # Nobody widens (or quietly narrows) their own rights: a district branch, which may not
    # edit the registry, could otherwise make itself beat officer of a compound. Another
    # account's change is a second person's act and leaves its own audit row.
    if actor.pk == user.pk and not actor.is_superuser:
        raise PermissionDenied(_("You cannot change your own roles or permissions."))


def no_such_user_message() -> str:
    """The one answer for a username that does not exist and for an account out of the actor's reach."""
    return _("No account with this username that you may give roles to.")


def _check_within_reach(actor: AnyUser, user: User) -> None:
    # Superusers, and accounts holding a role the actor may not hand out, are answered as if
    # they did not exist (district.permissions.users_within_reach): the role page and the API
    # refuse them before this with the same words; this is the one place that enforces it.
    if not may_manage_user(actor, user):
        raise ValidationError({"user": no_such_user_message()})


def role_audit_detail(assignment: RoleAssignment) -> dict[str, Any]:
    """What an audit row of a role change keeps: the role, the node and the target user.

    Codes and the username are copied, so the row still reads after the node or user is gone.
    """
    node = assignment.area or assignment.compound
    assert node is not None, "held at exactly one node (constraint role_at_exactly_one_node)"
    return {
        "role": assignment.role,
        "node": node.code,
        "node_type": "area" if assignment.area_id else "compound",
        "node_name": node.name,
        "user": assignment.user.get_username(),
        "user_id": assignment.user_id,
    }


@transaction.atomic
def do_assign_role(
    actor: AnyUser,
    user: User,
    role: str,
    *,
    area: Area | None = None,
    compound: Compound | None = None,
    request: HttpRequest | None = None,
) -> RoleAssignment:
    """Give ``user`` the ``role`` at one node (an area or a compound) and audit it.

    The actor needs ``roles.assign``, must manage the node, and the delegation table
    (``district.permissions.ASSIGNABLE_ROLES``) must let their role hand out this one there.
    The user must be within the actor's reach (``district.permissions.users_within_reach``):
    a superuser is given roles only by a superuser, and an account holding a role the actor
    may not hand out is refused like a username that does not exist (``ValidationError``).
    """
    if not has_capability(actor, ASSIGN_ROLES):
        raise PermissionDenied(_("Your roles may not assign roles."))
    if (area is None) == (compound is None):
        raise ValidationError(_("Choose exactly one area or compound."))
    if not manages_node(actor, area=area, compound=compound):
        raise Http404("No such area or compound")
    assignment = RoleAssignment(user=user, role=role, area=area, compound=compound)
    # The role ↔ node-level rule and the choice of role. Its unique constraint cannot catch a
    # duplicate (one of area/compound is always NULL, and NULLs are distinct): checked below.
    assignment.full_clean()
    if not may_assign_role(actor, role, area=area, compound=compound):
        raise PermissionDenied(_("Your roles may not assign this role here."))
    _check_not_self(actor, user)
    _check_within_reach(actor, user)
    # Serialise assignments to one user, so two concurrent requests cannot both pass the
    # duplicate check below.
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    if RoleAssignment.objects.filter(user=user, role=role, area=area, compound=compound).exists():
        raise ValidationError(_("This user already holds this role here."))
    assignment.save()
    forget_assignments(user)
    do_record_audit(
        actor,
        AuditAction.ASSIGN_ROLE,
        compound=compound,
        objects=[assignment],
        detail=role_audit_detail(assignment),
        request=request,
    )
    return assignment


@transaction.atomic
def do_revoke_role(actor: AnyUser, assignment: RoleAssignment, request: HttpRequest | None = None) -> None:
    """Take a role away again; the actor must be one who could have assigned it, to this account.

    An account out of the actor's reach (a superuser's, or one holding a role the actor may
    not hand out) keeps its roles: ``PermissionDenied``, since the assignment itself was shown.
    """
    if not has_capability(actor, ASSIGN_ROLES):
        raise PermissionDenied(_("Your roles may not assign roles."))
    area, compound = assignment.area, assignment.compound
    if not manages_node(actor, area=area, compound=compound):
        raise Http404("No such role assignment")
    if not may_assign_role(actor, assignment.role, area=area, compound=compound):
        raise PermissionDenied(_("Your roles may not revoke this role."))
    _check_not_self(actor, assignment.user)
    if not may_manage_user(actor, assignment.user):
        raise PermissionDenied(_("Your roles may not change this account's roles."))
    # The row is written before the delete: afterwards the assignment has no primary key.
    do_record_audit(
        actor,
        AuditAction.REVOKE_ROLE,
        compound=compound,
        objects=[assignment],
        detail=role_audit_detail(assignment),
        request=request,
    )
    assignment.delete()
    forget_assignments(assignment.user)


# --- Per-object grants (django-guardian, in the compound's schema) ----------------------------
#
# Who may grant: holders of ``roles.assign`` at the compound (街道办, 分局, 市局, superusers):
# a grant is a change of who may do what, the same act as staffing the compound, and it is
# audited as one. Holding ``registry.change`` alone (物业, 网格员, 社区民警) is not enough:
# those roles edit records, they do not hand out rights to others.


def _is_compound_model(model: type[models.Model]) -> bool:
    """Does the model's table live in each compound's schema (and not in public)?"""
    name = apps.get_app_config(model._meta.app_label).name
    return name in settings.TENANT_APPS and name not in settings.SHARED_APPS


def _grantable_codename(perm_codename: str, obj: models.Model) -> str:
    """The bare codename (``change_person``) if it may be granted on ``obj``, else ValidationError."""
    app_label, _dot, codename = perm_codename.rpartition(".")
    model_name = obj._meta.model_name
    allowed = {f"{action}_{model_name}" for action in GRANTABLE_OBJECT_ACTIONS}
    if codename not in allowed or app_label not in ("", obj._meta.app_label):
        raise ValidationError(
            _("Only %(perms)s can be granted on this record.") % {"perms": ", ".join(sorted(allowed))}
        )
    return codename


@contextmanager
def _compound_schema(compound: Compound) -> Iterator[None]:
    """Run inside the compound's schema, where its guardian tables are.

    From public (a command, a test) we switch; from another compound's schema we refuse:
    the record was then almost certainly loaded there, and a grant on its primary key in
    ``compound`` would land on a different record.
    """
    current = getattr(connection, "schema_name", None)
    if current not in (compound.schema_name, settings.PUBLIC_SCHEMA_NAME):
        raise ValueError(f"connection is on schema {current!r}, not on {compound.schema_name!r}")
    with tenant_context(compound):
        yield


def _check_object_grant(actor: AnyUser, user: User, perm_codename: str, obj: models.Model, compound: Compound) -> str:
    """Refuse what the actor may not grant or revoke; return the bare codename."""
    if not covers_compound(actor, compound):
        raise Http404("No such compound")
    if not has_capability(actor, ASSIGN_ROLES, compound):
        raise PermissionDenied(_("Your roles may not grant permissions in this compound."))
    if obj.pk is None or not _is_compound_model(type(obj)):
        raise ValidationError(_("Permissions can be granted only on saved records of a compound."))
    codename = _grantable_codename(perm_codename, obj)
    _check_not_self(actor, user)
    return codename


def _grant_detail(user: User, codename: str) -> dict[str, Any]:
    return {"permission": codename, "user": user.get_username(), "user_id": user.pk}


@transaction.atomic
def do_grant_object_permission(
    actor: AnyUser,
    user: User,
    perm_codename: str,
    obj: models.Model,
    compound: Compound,
    request: HttpRequest | None = None,
) -> None:
    """Let ``user`` do ``perm_codename`` (e.g. ``change_person``) on one record of ``compound``.

    The grant is a guardian row in the compound's own schema, so it can never apply to the
    record with the same primary key in another compound. The user must already have a role
    covering the compound: a grant to someone who cannot open it would lie dormant and wake
    up unnoticed with a later role.
    """
    codename = _check_object_grant(actor, user, perm_codename, obj, compound)
    if not covers_compound(user, compound):
        raise ValidationError(_("This user has no role covering this compound."))
    with _compound_schema(compound):
        if not type(obj)._default_manager.filter(pk=obj.pk).exists():
            raise Http404("No such record")
        assign_perm(codename, user, obj)
        do_record_audit(
            actor,
            AuditAction.GRANT_OBJECT,
            compound=compound,
            objects=[obj],
            detail=_grant_detail(user, codename),
            request=request,
        )


@transaction.atomic
def do_revoke_object_permission(
    actor: AnyUser,
    user: User,
    perm_codename: str,
    obj: models.Model,
    compound: Compound,
    request: HttpRequest | None = None,
) -> None:
    """Withdraw a per-object grant (the user need not still hold a role there)."""
    codename = _check_object_grant(actor, user, perm_codename, obj, compound)
    with _compound_schema(compound):
        # None only for bulk or global removals; one user and one record give delete()'s (count, per model).
        removed = remove_perm(codename, user, obj)
        if removed is None or not removed[0]:
            raise ValidationError(_("This user holds no such permission on this record."))
        do_record_audit(
            actor,
            AuditAction.REVOKE_OBJECT,
            compound=compound,
            objects=[obj],
            detail=_grant_detail(user, codename),
            request=request,
        )
