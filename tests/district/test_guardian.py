"""Per-object grants (django-guardian) live in the compound's schema: proof and product use.

A grant on person #p of compound A is a row in A's own guardian table; compound B's person
with the same primary key shares nothing with it. Every permission check below uses a
freshly loaded user, so no per-instance cache can answer for the database.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import Http404
from django_tenants.utils import tenant_context
from guardian.models import UserObjectPermission
from guardian.shortcuts import get_perms

from district.actions import do_grant_object_permission, do_revoke_object_permission
from district.choices import Role
from district.models import CHANGE_ACTIONS, AuditAction, AuditEntry, RoleAssignment
from registry.actions import do_save_person
from registry.models import Person
from tests.conftest import CODE_A, CODE_B
from tests.factories import PersonFactory, make_id_number

pytestmark = pytest.mark.django_db


def fresh(user: Any) -> Any:
    """The user as a new request would load it: no scope or permission cache."""
    return get_user_model().objects.get(pk=user.pk)


def checks(user: Any, obj: Any) -> tuple[list[str], bool]:
    """What guardian's shortcut and Django's ``has_perm`` (through the backend) answer."""
    return get_perms(fresh(user), obj), fresh(user).has_perm("registry.change_person", obj)


@pytest.fixture
def mediator(compound_a, compound_b) -> Any:
    """A mediator (registry.view only) at both compounds, so B's records are in scope too."""
    user = get_user_model().objects.create(username="tiaojie")
    RoleAssignment.objects.create(user=user, role=Role.MEDIATOR, compound=compound_a)
    RoleAssignment.objects.create(user=user, role=Role.MEDIATOR, compound=compound_b)
    return user


@pytest.fixture
def twins(compound_a, compound_b) -> tuple[Person, Person]:
    """Person X in compound A, and a person in compound B forced onto X's primary key."""
    with tenant_context(compound_a):
        x = PersonFactory(name="甲区张三")
    with tenant_context(compound_b):
        twin = do_save_person(Person(pk=x.pk, name="乙区李四", id_number=make_id_number(seq=501)))
    assert twin.pk == x.pk
    return x, twin


def grant_rows(compound: Any | None) -> int:
    if compound is None:
        connection.set_schema_to_public()
        return UserObjectPermission.objects.count()
    with tenant_context(compound):
        return UserObjectPermission.objects.count()


def test_a_grant_is_confined_to_its_compound(admin_a, mediator, twins, compound_a, compound_b):
    x, twin = twins
    with tenant_context(compound_a):
        do_grant_object_permission(admin_a, mediator, "change_person", x, compound_a)
        assert checks(mediator, x) == (["change_person"], True)
    with tenant_context(compound_b):
        assert Person.objects.get(pk=x.pk).name == "乙区李四"
        assert checks(mediator, twin) == ([], False)
    # On public there is no registry and an empty guardian table: no error, no permission.
    connection.set_schema_to_public()
    assert checks(mediator, x) == ([], False)
    assert (grant_rows(compound_a), grant_rows(compound_b), grant_rows(None)) == (1, 0, 0)


def test_a_grant_from_public_lands_in_the_compound_schema(admin_a, mediator, twins, compound_a):
    x, _twin = twins
    connection.set_schema_to_public()
    do_grant_object_permission(admin_a, mediator, "registry.change_person", x, compound_a)
    assert connection.schema_name == "public"  # the action switched and switched back
    assert grant_rows(compound_a) == 1
    assert grant_rows(None) == 0


def test_grant_and_revoke_are_audited(admin_a, mediator, twins, compound_a, rf):
    x, _twin = twins
    request = rf.post("/", REMOTE_ADDR="10.0.0.5")
    with tenant_context(compound_a):
        do_grant_object_permission(admin_a, mediator, "change_person", x, compound_a, request=request)
        do_revoke_object_permission(admin_a, mediator, "change_person", x, compound_a, request=request)
        assert checks(mediator, x) == ([], False)
    entries = list(AuditEntry.objects.exclude(action__in=CHANGE_ACTIONS).order_by("id"))
    assert [e.action for e in entries] == [AuditAction.GRANT_OBJECT, AuditAction.REVOKE_OBJECT]
    for entry in entries:
        assert entry.user == admin_a
        assert entry.compound == compound_a
        assert entry.object_type == "registry.person"
        assert entry.object_ids == [x.pk]
        assert entry.detail == {"permission": "change_person", "user": "tiaojie", "user_id": mediator.pk}
        assert entry.ip == "10.0.0.5"


def test_who_may_grant(staff_a, mediator, twins, compound_a, compound_b):
    """``roles.assign`` at the compound: property staff edit records but hand out no rights."""
    x, _twin = twins
    officer = get_user_model().objects.create(username="street-b")
    RoleAssignment.objects.create(user=officer, role=Role.STREET_OFFICE, area=compound_b.street)
    with tenant_context(compound_a):
        with pytest.raises(PermissionDenied):
            do_grant_object_permission(staff_a, mediator, "change_person", x, compound_a)
        with pytest.raises(Http404):  # street B's office does not see compound A at all
            do_grant_object_permission(officer, mediator, "change_person", x, compound_a)
    assert grant_rows(compound_a) == 0
    assert not AuditEntry.objects.exclude(action__in=CHANGE_ACTIONS).exists()


@pytest.mark.parametrize("perm", ["delete_person", "change_house", "auth.change_person", "view_person"])
def test_only_change_of_the_records_own_model_is_grantable(admin_a, mediator, twins, compound_a, perm):
    x, _twin = twins
    with tenant_context(compound_a), pytest.raises(ValidationError):
        do_grant_object_permission(admin_a, mediator, perm, x, compound_a)


def test_grants_go_only_to_users_with_a_role_there(admin_a, twins, compound_a):
    x, _twin = twins
    stranger = get_user_model().objects.create(username="stranger")
    with tenant_context(compound_a), pytest.raises(ValidationError):
        do_grant_object_permission(admin_a, stranger, "change_person", x, compound_a)


def test_a_record_loaded_in_another_compound_is_refused(admin_a, mediator, twins, compound_a, compound_b):
    _x, twin = twins
    with tenant_context(compound_b), pytest.raises(ValueError):
        do_grant_object_permission(admin_a, mediator, "change_person", twin, compound_a)


def test_revoking_what_was_never_granted_is_refused(admin_a, mediator, twins, compound_a):
    x, _twin = twins
    with tenant_context(compound_a), pytest.raises(ValidationError):
        do_revoke_object_permission(admin_a, mediator, "change_person", x, compound_a)
    assert not AuditEntry.objects.exclude(action__in=CHANGE_ACTIONS).exists()


# --- The product: a mediator edits exactly the record granted to them ------------------------


def resubmit(form: Any, **changes: Any) -> dict[str, Any]:
    """The form's fields as a browser would send them back (masked values included)."""
    data: dict[str, Any] = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if value in (None, False):
            continue
        data[name] = field.widget.format_value(value) if hasattr(value, "isoformat") else value
    data.update(changes)
    return data


def test_mediator_edits_only_the_granted_person(client, admin_a, mediator, twins, compound_a, compound_b):
    x, twin = twins
    with tenant_context(compound_a):
        other = PersonFactory(name="甲区王五")
    page = f"/c/{CODE_A}/persons/{x.pk}/edit/"
    api = f"/c/{CODE_A}/api/registry/persons/{x.pk}/"
    client.force_login(mediator)

    def patch(url: str) -> int:
        return client.patch(url, {"phone": "13911110000"}, content_type="application/json").status_code

    assert client.get(page).status_code == 403
    assert patch(api) == 403

    with tenant_context(compound_a):
        do_grant_object_permission(admin_a, mediator, "change_person", x, compound_a)

    form_page = client.get(page)
    assert form_page.status_code == 200
    saved = client.post(page, resubmit(form_page.context["form"], phone="13922220000"))
    assert saved.status_code == 302, saved.content.decode()[:2000]
    assert patch(api) == 200
    with tenant_context(compound_a):
        assert Person.objects.get(pk=x.pk).phone == "13911110000"

    # Another person of A, and B's person with X's primary key, stay read-only.
    assert client.get(f"/c/{CODE_A}/persons/{other.pk}/edit/").status_code == 403
    assert patch(f"/c/{CODE_A}/api/registry/persons/{other.pk}/") == 403
    assert client.get(f"/c/{CODE_B}/persons/{twin.pk}/edit/").status_code == 403
    assert patch(f"/c/{CODE_B}/api/registry/persons/{twin.pk}/") == 403
    with tenant_context(compound_b):
        assert Person.objects.get(pk=twin.pk).phone == ""


def test_revoked_grant_closes_the_form_again(client, admin_a, mediator, twins, compound_a):
    x, _twin = twins
    with tenant_context(compound_a):
        do_grant_object_permission(admin_a, mediator, "change_person", x, compound_a)
    client.force_login(mediator)
    assert client.get(f"/c/{CODE_A}/persons/{x.pk}/edit/").status_code == 200
    with tenant_context(compound_a):
        do_revoke_object_permission(admin_a, mediator, "change_person", x, compound_a)
    assert client.get(f"/c/{CODE_A}/persons/{x.pk}/edit/").status_code == 403
