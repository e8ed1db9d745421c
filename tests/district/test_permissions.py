"""The generated permission matrix: every API endpoint × every role × in and out of scope.

Nothing here is written case by case (STYLE.md §5). The endpoints come from the routers
(a new viewset joins the matrix by itself, and fails until it has a seed below); the
expected status of every case comes from ONE table, ``EXPECTED``, computed from
``district.permissions.ROLE_CAPABILITIES``:

- anonymous → 403 (DRF session authentication answers 403, not 401);
- compound endpoints (``/c/<code>/api/registry/…``): out of scope → 404 from the compound
  middleware, before any capability is asked; in scope → the role's capability decides;
- public endpoints (``/api/…``): the capability first (403), then scope: an object outside
  the user's part of the tree → 404, a list simply leaves it out.

Every case also asserts that the response carries no data of a compound it must not see:
each compound gets a resident with a distinctive name and ID number, and neither the
foreign resident nor (out of scope) the foreign compound and street may appear.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.urls import Resolver404, resolve
from django_tenants.utils import tenant_context

from district.choices import ROLE_LEVEL, Role
from district.models import Area, RoleAssignment
from district.permissions import (
    ALL_CAPABILITIES,
    ASSIGN_ROLES,
    CHANGE_REGISTRY,
    ROLE_CAPABILITIES,
    VIEW_AUDIT,
    VIEW_REGISTRY,
)
from district.scope import covers_compound
from registry import actions
from registry.models import Lease, Person
from tenants.models import Compound
from tests.conftest import CITY, CODE_A, CODE_B, DISTRICT, STREET_A
from tests.factories import (
    AddressPathFactory,
    HouseFactory,
    OrganisationFactory,
    VehicleFactory,
    make_id_number,
    make_uscc,
)

pytestmark = pytest.mark.django_db

ANONYMOUS, SUPERUSER = "anonymous", "superuser"
IN, OUT = "in", "out"

# Where each role is held in the matrix.
ROLE_NODES: dict[str, str] = {
    Role.CITY_BUREAU: CITY,
    Role.DISTRICT_BRANCH: DISTRICT,
    Role.STREET_OFFICE: STREET_A,
    Role.PROPERTY_STAFF: CODE_A,
    Role.BEAT_OFFICER: CODE_A,
    Role.GRID_WORKER: CODE_A,
    Role.MEDIATOR: CODE_A,
}

# The nearest compound outside each actor's scope. Compound B (the sibling street) is inside
# the district and the city, so those roles are tested against a compound of another district
# and of another city, created per test inside its rolled-back transaction.
OTHER_DISTRICT = {"district": ("370103", "槐荫区"), "street": ("370103010", "矩阵外区街道"), "compound": "370103010001"}
OTHER_CITY = {
    "city": ("370200", "青岛市"),
    "district": ("370202", "市南区"),
    "street": ("370202001", "矩阵外市街道"),
    "compound": "370202001001",
}
OUTSIDE: dict[str, str] = {Role.CITY_BUREAU: OTHER_CITY["compound"], Role.DISTRICT_BRANCH: OTHER_DISTRICT["compound"]}
COMPOUND_NAMES = {OTHER_DISTRICT["compound"]: "矩阵外区小区", OTHER_CITY["compound"]: "矩阵外市小区"}

# A distinctive resident per compound: neither may show up where the compound is foreign.
RESIDENTS: dict[str, tuple[str, str]] = {
    CODE_A: ("甲矩阵居民", make_id_number(seq=601)),
    CODE_B: ("乙矩阵居民", make_id_number(seq=602)),
    OTHER_DISTRICT["compound"]: ("丙矩阵居民", make_id_number(seq=603)),
    OTHER_CITY["compound"]: ("丁矩阵居民", make_id_number(seq=604)),
}


def outside(actor: str) -> str:
    """The compound code out of the actor's scope (compound B unless it is inside)."""
    return OUTSIDE.get(actor, CODE_B)


# --- Endpoints --------------------------------------------------------------------------------

METHOD = {"list": "get", "retrieve": "get", "create": "post", "update": "patch", "delete": "delete"}
SUCCESS = {"list": 200, "retrieve": 200, "create": 201, "update": 200, "delete": 204}
REGISTRY_NEEDS = {
    "list": VIEW_REGISTRY,
    "retrieve": VIEW_REGISTRY,
    "create": CHANGE_REGISTRY,
    "update": CHANGE_REGISTRY,
    "delete": CHANGE_REGISTRY,
}


@dataclass(frozen=True)
class Endpoint:
    resource: str
    action: str
    in_compound: bool  # under /c/<code>/ (the middleware decides scope)
    capability: str | None  # None: any signed-in user (the queryset narrows)

    def __str__(self) -> str:
        return f"{self.resource}-{self.action}"


def compound_endpoints() -> list[Endpoint]:
    """Every registry viewset × every action its HTTP methods allow."""
    from registry.api.urls import router

    return [
        Endpoint(prefix, action, True, REGISTRY_NEEDS[action])
        for prefix, viewset, _basename in router.registry
        for action, method in METHOD.items()
        if method in viewset.http_method_names
    ]


def public_endpoints() -> list[Endpoint]:
    from district.urls import router

    endpoints = [
        Endpoint(prefix, action, False, None) for prefix, _vs, _b in router.registry for action in ("list", "retrieve")
    ]
    endpoints += [
        Endpoint("role-assignments", a, False, ASSIGN_ROLES) for a in ("list", "retrieve", "create", "delete")
    ]
    try:  # the audit API arrives with its own issue; join the matrix when it is there
        resolve("/api/audit/")
    except Resolver404:
        pass
    else:
        endpoints.append(Endpoint("audit", "list", False, VIEW_AUDIT))
    return endpoints


ENDPOINTS = compound_endpoints() + public_endpoints()
ACTORS: list[tuple[str, str]] = [(role, scope) for role in ROLE_NODES for scope in (IN, OUT)]
ACTORS += [(ANONYMOUS, IN), (ANONYMOUS, OUT), (SUPERUSER, IN)]  # a superuser has no "outside"


def expected_status(endpoint: Endpoint, actor: str, scope: str) -> int:
    """The rule of the module docstring, from the roles' capabilities."""
    if actor == ANONYMOUS:
        return 403
    caps = ALL_CAPABILITIES if actor == SUPERUSER else ROLE_CAPABILITIES[actor]
    if endpoint.in_compound:
        if scope == OUT:
            return 404
        return SUCCESS[endpoint.action] if endpoint.capability in caps else 403
    if endpoint.capability is not None and endpoint.capability not in caps:
        return 403
    if scope == OUT and endpoint.action != "list":
        return 404
    return SUCCESS[endpoint.action]


EXPECTED: dict[tuple[Endpoint, str, str], int] = {
    (endpoint, actor, scope): expected_status(endpoint, actor, scope)
    for endpoint in ENDPOINTS
    for actor, scope in ACTORS
}


# --- Fixtures built per case (inside the test's transaction) ---------------------------------


def make_user(username: str, **extra: Any) -> Any:
    # No password: hashing one (PBKDF2) would cost more than the whole request under test.
    return get_user_model().objects.create(username=username, **extra)


def _create_far_compound(code: str, made_areas: list[Area]) -> Compound:
    from tenants.actions import do_create_compound

    tree = OTHER_CITY if code == OTHER_CITY["compound"] else OTHER_DISTRICT
    parent = None if "city" in tree else Area.objects.get(code=CITY)
    for level in ("city", "district", "street"):
        if level in tree:
            area_code, name = tree[level]
            parent = Area.objects.create(level=level, code=area_code, name=name, parent=parent)
            made_areas.append(parent)
    return do_create_compound(street=parent, name=COMPOUND_NAMES[code], code=code)


@pytest.fixture(scope="module")
def far_compounds(django_db_setup, django_db_blocker) -> Iterator[None]:
    """The other district's and the other city's compounds, for this module only.

    Provisioning a schema and dropping it again in each case's rollback would cost ~0.45 s
    in 78 cases; made once, outside the cases' transactions, and removed after the module.
    """
    from tenants.actions import do_delete_compound

    made_areas: list[Area] = []
    with django_db_blocker.unblock():
        made = [_create_far_compound(code, made_areas) for code in COMPOUND_NAMES]
    try:
        yield
    finally:
        with django_db_blocker.unblock():
            connection.set_schema_to_public()
            for far in made:
                do_delete_compound(far)
            for area in reversed(made_areas):  # streets before districts before the city
                area.delete()


def compound(code: str) -> Compound:
    return Compound.objects.select_related("street").get(code=code)


def seed_resident(where: Compound) -> Person:
    name, number = RESIDENTS[where.code]
    with tenant_context(where):
        return actions.do_save_person(Person(name=name, id_number=number))


def make_actor(actor: str) -> Any:
    if actor == ANONYMOUS:
        return None
    if actor == SUPERUSER:
        return make_user("matrix-root", is_superuser=True)
    code = ROLE_NODES[actor]
    node = (
        {"compound": Compound.objects.get(code=code)}
        if ROLE_LEVEL[actor] is None
        else {"area": Area.objects.get(code=code)}
    )
    user = make_user(f"matrix-{actor}")
    RoleAssignment.objects.create(user=user, role=actor, **node)
    return user


Seed = tuple[int | None, dict[str, Any] | None, dict[str, Any] | None]  # (pk, create body, update body)


def _persons(resident: Person) -> Seed:
    return resident.pk, {"name": "新登记居民", "id_number": make_id_number(seq=610)}, {"phone": "13900000001"}


def _houses(resident: Person) -> Seed:
    house = HouseFactory()
    spare = actions.do_create_address(connection.tenant, parent=house.address.parent, number="999")
    return house.pk, {"address": spare.pk}, {"notes": "矩阵"}


def _leases(resident: Person) -> Seed:
    house = HouseFactory()
    lease = actions.do_save_lease(Lease(house=house, tenant=resident, start_date=datetime.date(2025, 1, 1)))
    return lease.pk, {"house": house.pk, "tenant": resident.pk, "start_date": "2025-06-01"}, {"end_date": "2026-05-31"}


def _organisations(resident: Person) -> Seed:
    return OrganisationFactory().pk, {"name": "矩阵便利店", "uscc": make_uscc(seq=99991)}, {"staff_count": 3}


def _vehicles(resident: Person) -> Seed:
    return VehicleFactory().pk, {"plate": "鲁B54321"}, {"colour": "白色"}


def _addresses(resident: Person) -> Seed:
    return AddressPathFactory("7").pk, {"parent": None, "number": "77"}, None


REGISTRY_SEEDS: dict[str, Callable[[Person], Seed]] = {
    "persons": _persons,
    "houses": _houses,
    "leases": _leases,
    "organisations": _organisations,
    "vehicles": _vehicles,
    "addresses": _addresses,
}


def seed_public(resource: str, target: Compound) -> Seed:
    if resource == "areas":
        return target.street_id, None, None
    if resource == "compounds":
        return target.pk, None, None
    if resource == "role-assignments":
        held = RoleAssignment.objects.create(user=make_user("matrix-held"), role=Role.MEDIATOR, compound=target)
        newcomer = make_user("matrix-newcomer")
        return held.pk, {"user": newcomer.username, "role": Role.MEDIATOR, "node": target.code}, None
    return None, None, None  # audit: a list only


# --- The matrix ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "actor", "scope", "status"),
    [(*key, status) for key, status in EXPECTED.items()],
    ids=[f"{e}-{actor}-{scope}" for e, actor, scope in EXPECTED],
)
@pytest.mark.usefixtures("far_compounds")
def test_permission_matrix(client, endpoint: Endpoint, actor: str, scope: str, status: int) -> None:
    target = compound(CODE_A if scope == IN else outside(actor))
    # The compound whose data must never appear: the target itself when it is out of scope,
    # else compound B (from compound A's endpoints, B's rows are foreign even to the city).
    foreign = target if scope == OUT else compound(CODE_B)
    resident = seed_resident(target)
    if foreign != target:
        seed_resident(foreign)
    if endpoint.in_compound:
        with tenant_context(target):
            pk, create_body, update_body = REGISTRY_SEEDS[endpoint.resource](resident)
        url = f"/c/{target.code}/api/registry/{endpoint.resource}/"
    else:
        pk, create_body, update_body = seed_public(endpoint.resource, target)
        url = f"/api/{endpoint.resource}/"
    if endpoint.action in ("retrieve", "update", "delete"):
        url += f"{pk}/"
    body = {"create": create_body, "update": update_body}.get(endpoint.action)

    user = make_actor(actor)
    if user is not None:
        client.force_login(user)
    response = client.generic(
        METHOD[endpoint.action].upper(),
        url,
        json.dumps(body) if body is not None else "",
        content_type="application/json",
    )

    assert response.status_code == status, response.content[:500]
    content = response.content.decode()
    forbidden = list(RESIDENTS[foreign.code])
    if scope == OUT and actor != ANONYMOUS:
        forbidden += [foreign.name, foreign.street.name]
    leaked = [text for text in forbidden if text in content]
    assert not leaked, f"{url} leaked {leaked}"


@pytest.mark.parametrize("role", list(ROLE_NODES))
@pytest.mark.usefixtures("far_compounds")
def test_matrix_scopes_are_what_they_claim(role: str) -> None:
    """The matrix's "in" compound is covered by each role, its "out" compound is not."""
    user = make_actor(role)
    assert covers_compound(user, compound(CODE_A))
    assert not covers_compound(user, compound(outside(role)))


def test_matrix_covers_every_registry_endpoint() -> None:
    """Each registry viewset is in the matrix with a seed, and the matrix is as large as claimed."""
    from registry.api.urls import router

    assert {prefix for prefix, _vs, _b in router.registry} == set(REGISTRY_SEEDS)
    assert len(EXPECTED) == len(ENDPOINTS) * len(ACTORS)
