"""Role assignment: the delegation rules, the audit rows, the role page and the API."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import translation

from district.actions import do_assign_role, do_revoke_role
from district.choices import ROLE_LEVEL, Role
from district.models import Area, AuditAction, AuditEntry, RoleAssignment
from district.permissions import (
    ASSIGN_ROLES,
    ASSIGNABLE_ROLES,
    ROLE_CAPABILITIES,
    access_node_by_code,
    assignable_roles,
    role_assignments_in_scope,
)
from district.scope import covers_compound
from tenants.models import Compound
from tests.conftest import CITY, CODE_A, CODE_B, DISTRICT, STREET_A, STREET_B

pytestmark = pytest.mark.django_db

ROLES_URL = "/roles/"
API = "/api/role-assignments/"


def user(username: str, **extra: Any) -> Any:
    # No password hashing: these users only ever log in with force_login.
    return get_user_model().objects.create(username=username, **extra)


def node(code: str) -> dict[str, Any]:
    """``{"area": …}`` or ``{"compound": …}`` for a code of the session's tree."""
    found = Compound.objects.filter(code=code).first()
    return {"compound": found} if found else {"area": Area.objects.get(code=code)}


def holder(role: str, code: str, username: str | None = None) -> Any:
    """A user holding ``role`` at the node ``code`` (set up directly, not through the action)."""
    u = user(username or f"{role}-{code}")
    RoleAssignment.objects.create(user=u, role=role, **node(code))
    return u


@pytest.fixture
def city() -> Any:
    return holder(Role.CITY_BUREAU, CITY)


@pytest.fixture
def branch() -> Any:
    return holder(Role.DISTRICT_BRANCH, DISTRICT)


@pytest.fixture
def office() -> Any:
    return holder(Role.STREET_OFFICE, STREET_A)


@pytest.fixture
def newcomer() -> Any:
    return user("newcomer")


# --- The delegation table --------------------------------------------------------------------


def test_delegation_table_matches_the_capability():
    """Exactly the roles with ``roles.assign`` have a row, and no row reaches above its own level."""
    assert set(ASSIGNABLE_ROLES) == {r for r, caps in ROLE_CAPABILITIES.items() if ASSIGN_ROLES in caps}
    order = [Role.CITY_BUREAU, Role.DISTRICT_BRANCH, Role.STREET_OFFICE]
    for role, grantable in ASSIGNABLE_ROLES.items():
        above = set(order[: order.index(role)])
        assert not grantable & above, role


# (actor role, actor node, role to assign, at node, outcome): "ok", 403, 404 or 400.
DELEGATION = [
    (Role.CITY_BUREAU, CITY, Role.CITY_BUREAU, CITY, "ok"),
    (Role.CITY_BUREAU, CITY, Role.DISTRICT_BRANCH, DISTRICT, "ok"),
    (Role.CITY_BUREAU, CITY, Role.BEAT_OFFICER, CODE_B, "ok"),
    (Role.DISTRICT_BRANCH, DISTRICT, Role.CITY_BUREAU, CITY, 404),  # the city is above it
    (Role.DISTRICT_BRANCH, DISTRICT, Role.DISTRICT_BRANCH, DISTRICT, "ok"),
    (Role.DISTRICT_BRANCH, DISTRICT, Role.STREET_OFFICE, STREET_B, "ok"),
    (Role.DISTRICT_BRANCH, DISTRICT, Role.BEAT_OFFICER, CODE_A, "ok"),
    (Role.DISTRICT_BRANCH, DISTRICT, Role.CITY_BUREAU, DISTRICT, 400),  # 市局 is held at a city
    (Role.STREET_OFFICE, STREET_A, Role.MEDIATOR, CODE_A, "ok"),
    (Role.STREET_OFFICE, STREET_A, Role.PROPERTY_STAFF, CODE_A, "ok"),
    (Role.STREET_OFFICE, STREET_A, Role.GRID_WORKER, CODE_A, "ok"),
    (Role.STREET_OFFICE, STREET_A, Role.BEAT_OFFICER, CODE_A, 403),  # police assign police
    (Role.STREET_OFFICE, STREET_A, Role.STREET_OFFICE, STREET_A, 403),  # not its own peers
    (Role.STREET_OFFICE, STREET_A, Role.MEDIATOR, CODE_B, 404),  # the other street's compound
    (Role.STREET_OFFICE, STREET_A, Role.STREET_OFFICE, STREET_B, 404),
    (Role.STREET_OFFICE, STREET_A, Role.MEDIATOR, STREET_A, 400),  # a mediator sits at a compound
    (Role.BEAT_OFFICER, CODE_A, Role.MEDIATOR, CODE_A, 403),  # no roles.assign at all
    (Role.MEDIATOR, CODE_A, Role.MEDIATOR, CODE_A, 403),
]
OUTCOME = {403: PermissionDenied, 404: Http404, 400: ValidationError}


@pytest.mark.parametrize(
    ("actor_role", "actor_at", "role", "at", "outcome"),
    DELEGATION,
    ids=[f"{a}@{n}-{r}@{at}" for a, n, r, at, _o in DELEGATION],
)
def test_delegation(actor_role, actor_at, role, at, outcome, newcomer):
    actor = holder(actor_role, actor_at)
    if outcome == "ok":
        assignment = do_assign_role(actor, newcomer, role, **node(at))
        assert RoleAssignment.objects.filter(pk=assignment.pk, user=newcomer, role=role).exists()
    else:
        with pytest.raises(OUTCOME[outcome]):
            do_assign_role(actor, newcomer, role, **node(at))
        assert not RoleAssignment.objects.filter(user=newcomer).exists()
        assert not AuditEntry.objects.filter(action=AuditAction.ASSIGN_ROLE).exists()


def test_superuser_assigns_anything(superuser, newcomer):
    assignment = do_assign_role(superuser, newcomer, Role.CITY_BUREAU, area=Area.objects.get(code=CITY))
    assert assignment.pk


def test_assignable_roles_for_the_form(city, branch, office, superuser):
    assert assignable_roles(city) == list(Role.values)
    assert Role.CITY_BUREAU not in assignable_roles(branch)
    assert assignable_roles(office) == [Role.PROPERTY_STAFF, Role.GRID_WORKER, Role.MEDIATOR]
    assert assignable_roles(holder(Role.MEDIATOR, CODE_A)) == []
    assert assignable_roles(superuser) == list(Role.values)


def test_assign_writes_an_audit_row_and_widens_the_scope(office, newcomer, compound_a, rf):
    request = rf.post("/roles/", REMOTE_ADDR="10.1.2.3")
    assignment = do_assign_role(office, newcomer, Role.MEDIATOR, compound=compound_a, request=request)
    entry = AuditEntry.objects.get(action=AuditAction.ASSIGN_ROLE)
    assert entry.user == office
    assert entry.compound == compound_a
    assert entry.object_type == "district.roleassignment"
    assert entry.object_ids == [assignment.pk]
    assert entry.ip == "10.1.2.3"
    assert entry.detail["role"] == Role.MEDIATOR
    assert entry.detail["node"] == CODE_A
    assert entry.detail["user"] == "newcomer"
    assert covers_compound(newcomer, compound_a)


def test_area_role_audit_names_the_area(branch, newcomer):
    do_assign_role(branch, newcomer, Role.STREET_OFFICE, area=Area.objects.get(code=STREET_B))
    entry = AuditEntry.objects.get(action=AuditAction.ASSIGN_ROLE)
    assert entry.compound is None
    assert entry.detail["node"] == STREET_B
    assert entry.detail["node_type"] == "area"


def test_duplicate_assignment_is_refused(office, newcomer, compound_a):
    do_assign_role(office, newcomer, Role.MEDIATOR, compound=compound_a)
    with pytest.raises(ValidationError):
        do_assign_role(office, newcomer, Role.MEDIATOR, compound=compound_a)
    assert RoleAssignment.objects.filter(user=newcomer).count() == 1


def test_nobody_changes_their_own_roles(branch, compound_a):
    # A district branch may not edit the registry; making itself beat officer would let it.
    with pytest.raises(PermissionDenied):
        do_assign_role(branch, branch, Role.BEAT_OFFICER, compound=compound_a)
    with pytest.raises(PermissionDenied):
        do_revoke_role(branch, branch.role_assignments.get())


def test_exactly_one_node(office, newcomer, compound_a, street_a):
    with pytest.raises(ValidationError):
        do_assign_role(office, newcomer, Role.MEDIATOR)
    with pytest.raises(ValidationError):
        do_assign_role(office, newcomer, Role.MEDIATOR, area=street_a, compound=compound_a)


def test_a_street_admin_who_is_also_a_mediator_manages_only_its_street(compound_b, newcomer):
    """Scope for handing out roles comes only from the roles that may hand them out."""
    actor = holder(Role.STREET_OFFICE, STREET_A, "mixed")
    RoleAssignment.objects.create(user=actor, role=Role.MEDIATOR, compound=compound_b)
    assert covers_compound(actor, compound_b)  # it may open B …
    with pytest.raises(Http404):  # … but not staff it
        do_assign_role(actor, newcomer, Role.MEDIATOR, compound=compound_b)
    codes = {ra.compound.code for ra in role_assignments_in_scope(actor) if ra.compound_id}
    assert CODE_B not in codes


def test_revoke(office, compound_a, rf):
    target = holder(Role.MEDIATOR, CODE_A, "leaving")
    assignment = target.role_assignments.get()
    pk = assignment.pk
    do_revoke_role(office, assignment, request=rf.post("/", REMOTE_ADDR="10.9.8.7"))
    assert not RoleAssignment.objects.filter(pk=pk).exists()
    entry = AuditEntry.objects.get(action=AuditAction.REVOKE_ROLE)
    assert entry.object_ids == [pk]
    assert entry.compound == compound_a
    assert entry.detail == {
        "role": Role.MEDIATOR,
        "node": CODE_A,
        "node_type": "compound",
        "node_name": compound_a.name,
        "user": "leaving",
        "user_id": target.pk,
    }
    assert entry.ip == "10.9.8.7"


@pytest.mark.parametrize(
    ("role", "at", "error"),
    [(Role.BEAT_OFFICER, CODE_A, PermissionDenied), (Role.MEDIATOR, CODE_B, Http404)],
)
def test_revoke_refusals(office, role, at, error):
    assignment = holder(role, at, "kept").role_assignments.get()
    with pytest.raises(error):
        do_revoke_role(office, assignment)
    assert RoleAssignment.objects.filter(pk=assignment.pk).exists()
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    ("code", "role", "expected"),
    [
        (CODE_A, Role.MEDIATOR, ("compound", CODE_A)),
        (STREET_A, Role.STREET_OFFICE, ("area", STREET_A)),
        (STREET_A, Role.MEDIATOR, ("area", STREET_A)),  # found; the model reports the level
        (CODE_B, Role.MEDIATOR, None),  # exists, but not managed
        ("370102009001", Role.MEDIATOR, None),  # does not exist: the same answer
    ],
)
def test_access_node_by_code(office, code, role, expected):
    if expected is None:
        with pytest.raises(Http404):
            access_node_by_code(office, code, role=role)
        return
    area, compound = access_node_by_code(office, code, role=role)
    found = ("area", area.code) if area else ("compound", compound.code)
    assert found == expected


def test_role_levels_match_the_model():
    """The form's node lookup relies on ROLE_LEVEL naming the kind of node."""
    assert {r for r, level in ROLE_LEVEL.items() if level is None} == {
        Role.PROPERTY_STAFF,
        Role.BEAT_OFFICER,
        Role.GRID_WORKER,
        Role.MEDIATOR,
    }


# --- The role page ---------------------------------------------------------------------------


def test_page_needs_roles_assign(client, staff_a):
    client.force_login(staff_a)
    assert client.get(ROLES_URL).status_code == 403
    assert client.post(ROLES_URL, {"username": "x", "role": "mediator", "node": CODE_A}).status_code == 403


def test_page_sends_anonymous_to_login(client):
    response = client.get(ROLES_URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_page_lists_the_managed_part_of_the_tree(client, office):
    holder(Role.MEDIATOR, CODE_A, "mediator-a")
    holder(Role.BEAT_OFFICER, CODE_A, "officer-a")
    holder(Role.MEDIATOR, CODE_B, "mediator-b")
    holder(Role.STREET_OFFICE, STREET_B, "office-b")
    client.force_login(office)
    response = client.get(ROLES_URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "mediator-a" in html
    assert "officer-a" in html
    assert "mediator-b" not in html
    assert "office-b" not in html
    rows = {ra.user.username: can for ra, can in response.context["rows"]}
    # The beat officer is listed (in its street) but only police may revoke it; nor its own role.
    assert rows == {"mediator-a": True, "officer-a": False, office.username: False}
    assert html.count('data-testid="revoke"') == 1
    assert [value for value, _label in response.context["form"].fields["role"].choices] == [
        Role.PROPERTY_STAFF,
        Role.GRID_WORKER,
        Role.MEDIATOR,
    ]


def test_page_search(client, office):
    holder(Role.MEDIATOR, CODE_A, "wang-tiaojie")
    holder(Role.GRID_WORKER, CODE_A, "li-wangge")
    client.force_login(office)
    names = [ra.user.username for ra, _c in client.get(ROLES_URL, {"q": "wang"}).context["rows"]]
    assert names == ["li-wangge", "wang-tiaojie"]


def test_nav_link_is_shown_to_those_who_assign(client, office, staff_a):
    client.force_login(office)
    assert 'href="/roles/"' in client.get("/").content.decode()
    client.force_login(staff_a)
    assert 'href="/roles/"' not in client.get("/").content.decode()


def test_page_assigns_a_role(client, office, newcomer, compound_a):
    client.force_login(office)
    response = client.post(ROLES_URL, {"username": "newcomer", "role": Role.MEDIATOR, "node": CODE_A})
    assert response.status_code == 302
    assert response["Location"] == ROLES_URL
    assert RoleAssignment.objects.filter(user=newcomer, role=Role.MEDIATOR, compound=compound_a).exists()
    assert AuditEntry.objects.filter(action=AuditAction.ASSIGN_ROLE, user=office).count() == 1


@pytest.mark.parametrize("code", [CODE_B, "370102009001"])
def test_page_answers_unknown_and_unmanaged_codes_alike(client, office, newcomer, code):
    client.force_login(office)
    response = client.post(
        ROLES_URL, {"username": "newcomer", "role": Role.MEDIATOR, "node": code}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 422
    assert response.context["form"].errors["node"] == ["No area or compound with this code in your part of the tree."]
    assert not RoleAssignment.objects.filter(user=newcomer).exists()


def test_page_refuses_roles_it_may_not_hand_out(client, office, newcomer):
    client.force_login(office)
    response = client.post(ROLES_URL, {"username": "newcomer", "role": Role.BEAT_OFFICER, "node": CODE_A})
    assert response.status_code == 422
    assert "role" in response.context["form"].errors
    assert not RoleAssignment.objects.filter(user=newcomer).exists()


def test_page_shows_model_and_delegation_refusals(client, branch, newcomer):
    client.force_login(branch)
    wrong_level = client.post(ROLES_URL, {"username": "newcomer", "role": Role.MEDIATOR, "node": STREET_A})
    assert wrong_level.status_code == 422
    assert wrong_level.context["form"].non_field_errors()
    own = client.post(ROLES_URL, {"username": branch.username, "role": Role.BEAT_OFFICER, "node": CODE_A})
    assert own.status_code == 403
    assert 'data-testid="form-error"' in own.content.decode()
    unknown = client.post(ROLES_URL, {"username": "nobody", "role": Role.MEDIATOR, "node": CODE_A})
    assert unknown.status_code == 422
    assert "username" in unknown.context["form"].errors
    assert not RoleAssignment.objects.filter(user=newcomer).exists()


def test_page_revokes(client, office):
    assignment = holder(Role.MEDIATOR, CODE_A, "leaving").role_assignments.get()
    client.force_login(office)
    response = client.post(f"/roles/{assignment.pk}/revoke/")
    assert response.status_code == 302
    assert not RoleAssignment.objects.filter(pk=assignment.pk).exists()
    assert AuditEntry.objects.filter(action=AuditAction.REVOKE_ROLE).count() == 1


def test_page_revoke_refusals(client, office):
    police = holder(Role.BEAT_OFFICER, CODE_A, "officer").role_assignments.get()
    elsewhere = holder(Role.MEDIATOR, CODE_B, "mediator-b").role_assignments.get()
    client.force_login(office)
    assert client.post(f"/roles/{police.pk}/revoke/").status_code == 403
    assert client.post(f"/roles/{elsewhere.pk}/revoke/").status_code == 404
    assert client.post("/roles/999999/revoke/").status_code == 404
    assert client.get(f"/roles/{police.pk}/revoke/").status_code == 405
    assert RoleAssignment.objects.filter(pk__in=[police.pk, elsewhere.pk]).count() == 2


def test_revoke_needs_csrf(office):
    from django.test import Client

    assignment = holder(Role.MEDIATOR, CODE_A, "leaving").role_assignments.get()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(office)
    assert strict.post(f"/roles/{assignment.pk}/revoke/").status_code == 403
    assert RoleAssignment.objects.filter(pk=assignment.pk).exists()


# --- The API ---------------------------------------------------------------------------------


def post_json(client, url: str, data: dict[str, Any]) -> Any:
    return client.post(url, data, content_type="application/json")


def test_api_lists_the_managed_assignments(client, office):
    holder(Role.MEDIATOR, CODE_A, "mediator-a")
    holder(Role.MEDIATOR, CODE_B, "mediator-b")
    client.force_login(office)
    body = client.get(API).json()
    assert {r["user"] for r in body["results"]} == {office.username, "mediator-a"}
    row = next(r for r in body["results"] if r["user"] == "mediator-a")
    assert row["compound"] == CODE_A
    assert row["area"] is None
    assert row["role"] == Role.MEDIATOR


def test_api_creates_through_the_action(client, office, newcomer, compound_a):
    client.force_login(office)
    response = post_json(client, API, {"user": "newcomer", "role": Role.GRID_WORKER, "node": CODE_A})
    assert response.status_code == 201, response.content
    assert response.json()["compound"] == CODE_A
    assert RoleAssignment.objects.filter(user=newcomer, role=Role.GRID_WORKER, compound=compound_a).exists()
    assert AuditEntry.objects.filter(action=AuditAction.ASSIGN_ROLE).count() == 1


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"role": Role.BEAT_OFFICER, "node": CODE_A}, 403),
        ({"role": Role.MEDIATOR, "node": CODE_B}, 404),
        ({"role": Role.MEDIATOR, "node": "370102009001"}, 404),
        ({"role": Role.MEDIATOR, "node": STREET_A}, 400),
        ({"role": "sheriff", "node": CODE_A}, 400),
    ],
)
def test_api_create_refusals(client, office, newcomer, data, status):
    client.force_login(office)
    response = post_json(client, API, {"user": "newcomer", **data})
    assert response.status_code == status, response.content
    assert not RoleAssignment.objects.filter(user=newcomer).exists()


def test_api_duplicate_is_400(client, office, newcomer):
    client.force_login(office)
    data = {"user": "newcomer", "role": Role.MEDIATOR, "node": CODE_A}
    assert post_json(client, API, data).status_code == 201
    again = post_json(client, API, data)
    assert again.status_code == 400
    assert again.json()["non_field_errors"]


def test_api_deletes_through_the_action(client, office):
    assignment = holder(Role.MEDIATOR, CODE_A, "leaving").role_assignments.get()
    police = holder(Role.BEAT_OFFICER, CODE_A, "officer").role_assignments.get()
    elsewhere = holder(Role.MEDIATOR, CODE_B, "mediator-b").role_assignments.get()
    client.force_login(office)
    assert client.delete(f"{API}{assignment.pk}/").status_code == 204
    assert client.delete(f"{API}{police.pk}/").status_code == 403
    assert client.delete(f"{API}{elsewhere.pk}/").status_code == 404
    assert list(AuditEntry.objects.values_list("action", flat=True)) == [AuditAction.REVOKE_ROLE]


def test_api_is_documented(client):
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    assert set(paths["/api/role-assignments/"]) >= {"get", "post"}
    assert set(paths["/api/role-assignments/{id}/"]) >= {"get", "delete"}


# --- Accounts within reach (issue #7): usernames cannot be probed, superusers not touched --------

NO_SUCH_USER = "No account with this username that you may give roles to."


@pytest.fixture
def out_of_reach(superuser) -> dict[str, Any]:
    """Accounts a street office of street A may not touch: a superuser, a beat officer of its own
    compound, another street's office, and a mediator who is also a district branch officer."""
    both = holder(Role.MEDIATOR, CODE_A, "mediator-and-branch")
    RoleAssignment.objects.create(user=both, role=Role.DISTRICT_BRANCH, area=Area.objects.get(code=DISTRICT))
    return {
        "root": superuser,
        "officer-a": holder(Role.BEAT_OFFICER, CODE_A, "officer-a"),
        "office-b": holder(Role.STREET_OFFICE, STREET_B, "office-b"),
        "mediator-and-branch": both,
    }


def test_users_within_reach(office, branch, city, superuser, out_of_reach, newcomer):
    from district.permissions import may_manage_user, users_within_reach

    mediator = holder(Role.MEDIATOR, CODE_B, "mediator-b")  # a mediator elsewhere: still staff
    reach = set(users_within_reach(office).values_list("username", flat=True))
    assert {"newcomer", "mediator-b"} <= reach and not reach & set(out_of_reach)
    assert may_manage_user(office, mediator) and not may_manage_user(office, out_of_reach["officer-a"])
    # The district branch reaches everyone below the city bureau; the city bureau all but superusers.
    assert may_manage_user(branch, out_of_reach["office-b"]) and not may_manage_user(branch, city)
    assert may_manage_user(city, branch) and not may_manage_user(city, superuser)
    assert may_manage_user(superuser, out_of_reach["root"])


def test_nobody_but_a_superuser_gives_a_superuser_roles(city, branch, office, superuser, compound_a):
    for actor in (city, branch, office):
        with pytest.raises(ValidationError) as refused, translation.override("en"):
            do_assign_role(actor, superuser, Role.MEDIATOR, compound=compound_a)
        assert refused.value.message_dict == {"user": [NO_SUCH_USER]}
    assert not RoleAssignment.objects.filter(user=superuser).exists()
    other_root = user("root-2", is_superuser=True)
    assert do_assign_role(superuser, other_root, Role.MEDIATOR, compound=compound_a).pk


def test_an_account_out_of_reach_keeps_its_roles(office, out_of_reach):
    officer = out_of_reach["officer-a"]
    extra = RoleAssignment.objects.create(user=officer, role=Role.MEDIATOR, compound=Compound.objects.get(code=CODE_A))
    with pytest.raises(PermissionDenied):  # a mediator role the office could hand out, on a police account
        do_revoke_role(office, extra)
    assert RoleAssignment.objects.filter(pk=extra.pk).exists()


@pytest.mark.parametrize("username", ["nobody", "root", "officer-a", "office-b", "mediator-and-branch"])
def test_api_answers_unknown_and_untouchable_accounts_alike(client, office, out_of_reach, username):
    client.force_login(office)
    response = client.post(
        API,
        {"user": username, "role": Role.MEDIATOR, "node": CODE_A},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert response.json() == {"user": [NO_SUCH_USER]}
    assert not AuditEntry.objects.filter(action=AuditAction.ASSIGN_ROLE).exists()


@pytest.mark.parametrize("username", ["nobody", "root", "officer-a", "office-b", "mediator-and-branch"])
def test_page_answers_unknown_and_untouchable_accounts_alike(client, office, out_of_reach, username):
    client.force_login(office)
    response = client.post(
        ROLES_URL, {"username": username, "role": Role.MEDIATOR, "node": CODE_A}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 422
    assert response.context["form"].errors == {
        "username": ["No account with this username that you may give roles to."]
    }
    assert not AuditEntry.objects.filter(action=AuditAction.ASSIGN_ROLE).exists()


def test_page_offers_no_revoke_for_accounts_out_of_reach(client, office, out_of_reach):
    client.force_login(office)
    rows = {ra.user.username: can for ra, can in client.get(ROLES_URL).context["rows"]}
    # The branch officer's mediator role sits in the office's compound: listed, not revocable.
    assert rows["mediator-and-branch"] is False and rows["officer-a"] is False


def test_revoking_asks_for_confirmation_first(client, office):
    """Issue 8, part 8: the revoke form carries a confirmation (static/js/app.js asks before it posts)."""
    holder(Role.MEDIATOR, CODE_A, "mediator-a")
    client.force_login(office)
    html = client.get(ROLES_URL).content.decode()
    assert 'data-confirm="确定撤销 mediator-a 的“' in html
    assert "onclick" not in html and "<script>" not in html  # no inline script: the CSP refuses it
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert 'data-confirm="Revoke the role ' in client.get(ROLES_URL).content.decode()
    assert "form[data-confirm]" in (settings.BASE_DIR / "static/js/app.js").read_text()
