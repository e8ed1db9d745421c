"""The permission declarations themselves: complete, public only where meant, closed when missing.

The matrix (``matrix.py``) checks that every declared endpoint behaves as declared; these
tests check the declarations: every URL has one (and a matrix seed), exactly the anonymous
URLs are ``PUBLIC``, a view without one is refused at run time (a superuser too), and a
per-object grant opens exactly what its need says.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from district.actions import do_grant_object_permission
from district.choices import Role
from district.models import RoleAssignment
from district.permissions import PUBLIC, declaration_of
from registry.forms import PersonForm
from tests.conftest import CODE_A
from tests.district import urls_undeclared
from tests.district.matrix import (
    ACTORS,
    API_CASES,
    CASES,
    PAGE_CASES,
    SEEDS,
    build,
    form_values,
    make_user,
    operations,
    walk,
)
from tests.factories import PersonFactory

pytestmark = pytest.mark.django_db

# The URLs anonymous visitors may use: each of these methods must be declared PUBLIC, and
# nothing else may be.
ANONYMOUS_URLS: dict[str, set[str]] = {
    "login": {"GET", "POST"},
    "logout": {"POST"},
    "set_language": {"GET", "POST"},
    "healthz": {"GET"},
    "schema": {"GET"},
    "api-docs": {"GET"},
    # The officer's installable app (issue #11): the service worker and the web manifest hold nothing per user.
    "service-worker": {"GET"},
    "web-manifest": {"GET"},
}


# --- Every endpoint is declared, seeded and in the matrix -----------------------------------


def test_every_endpoint_has_a_declaration_and_a_matrix_seed() -> None:
    """A new URL fails here, by name, until it declares its permissions and has a seed."""
    _cases, problems = build()
    assert not problems, "\n".join(problems)


def test_every_seed_names_an_endpoint() -> None:
    names = {route.name for route in walk()}
    assert not set(SEEDS) - names, f"seeds for URLs that no longer exist: {sorted(set(SEEDS) - names)}"


def test_the_matrix_covers_every_endpoint_and_method() -> None:
    """Each URL pattern is in the matrix with every method (pages) or action (API) it handles."""
    covered = {(case.route.label, case.key) for case in CASES}
    routes = walk()
    for route in routes:
        if route.name in SEEDS:  # unseeded ones fail the test above, by name
            in_matrix = {(case.method, case.action) for case in CASES if case.route == route}
            assert in_matrix == set(operations(route)), route.route
    pages = {case.route.name: set() for case in PAGE_CASES}
    for case in PAGE_CASES:
        pages[case.route.name].add(case.method)
    # The pages that take a form are in the matrix with both methods.
    for name in ("login", "role-list", "registry:addresses", "registry:import", "registry:create", "registry:edit"):
        assert pages[name] == {"GET", "POST"}, name
    for action in ("retrieve", "update", "partial_update", "destroy"):
        assert ("registry-api:person-detail", action) in covered
        assert ("registry-api:person-detail.json", action) in covered
    print(
        f"\npermission matrix: {len(PAGE_CASES) * len(ACTORS)} page cases + {len(API_CASES) * len(ACTORS)} API cases"
        f" = {len(CASES) * len(ACTORS)} ({len(CASES)} methods of {len(routes)} URL patterns × {len(ACTORS)} actors)"
    )


def test_only_the_anonymous_urls_are_public_and_they_say_so() -> None:
    """login, logout, set_language, healthz and the API schema/docs: PUBLIC, declared on the view."""
    public: dict[str, set[str]] = {}
    for route in walk():
        declared, _actions = declaration_of(route.callback)
        for key, need in (declared or {}).items():
            if need.anonymous:
                assert need == PUBLIC, f"{route.name} {key}: {need!r}"
                public.setdefault(route.name, set()).add(key)
    assert public == ANONYMOUS_URLS


# --- Fail closed at run time --------------------------------------------------------------------


UNDECLARED = [
    ("/undeclared/function/", "GET"),
    ("/undeclared/function/", "POST"),
    ("/undeclared/class/", "GET"),
    ("/undeclared/class/", "POST"),
    ("/undeclared/half/", "POST"),
    (f"/c/{CODE_A}/undeclared/", "GET"),
    (f"/c/{CODE_A}/undeclared/", "POST"),
    ("/api/undeclared/", "GET"),
    ("/api/undeclared/", "POST"),
    ("/api/undeclared-half/", "POST"),
    (f"/c/{CODE_A}/api/undeclared/", "GET"),
    (f"/c/{CODE_A}/api/undeclared/", "POST"),
]


@pytest.mark.urls("tests.district.urls_undeclared")
@pytest.mark.parametrize(("path", "method"), UNDECLARED)
def test_an_undeclared_view_or_method_is_refused_even_to_a_superuser(client, path: str, method: str) -> None:
    client.force_login(make_user("undeclared-root", is_superuser=True))
    urls_undeclared.RAN.clear()
    response = client.generic(method, path, json.dumps({}), content_type="application/json")
    assert response.status_code == 403
    assert urls_undeclared.RAN == [], "the undeclared view ran"


@pytest.mark.urls("tests.district.urls_undeclared")
def test_the_declared_half_still_answers(client) -> None:
    client.force_login(make_user("undeclared-root", is_superuser=True))
    assert client.get("/undeclared/half/").status_code == 200
    assert client.get("/api/undeclared-half/").status_code == 200


@pytest.mark.urls("tests.district.urls_undeclared")
def test_a_new_endpoint_without_a_declaration_fails_the_matrix() -> None:
    """What ``test_every_endpoint_has_a_declaration_and_a_matrix_seed`` reports for them."""
    _cases, problems = build()
    for name in ("undeclared-function", "undeclared-class", "undeclared-api", "undeclared-compound-api"):
        assert any(p.startswith(f"new endpoint {name} ") and "no permission declaration" in p for p in problems), name
        assert any(p.startswith(f"no matrix seed for {name} ") for p in problems), name
    # Declared, if only in part: no declaration problem, but still no seed.
    assert not any(p.startswith("new endpoint undeclared-half ") for p in problems)
    assert any(p.startswith("no matrix seed for undeclared-half ") for p in problems)


# --- Per-object grants ----------------------------------------------------------------------------


def test_a_grant_opens_the_edit_page_and_patch_of_one_record_not_delete(client, compound_a) -> None:
    """A mediator (registry.view) with ``change_person`` on one person: edits it, page and API alike.

    The edit need is ``registry.change`` or a ``change`` grant on the record; delete needs
    the capability itself, and other records stay closed.
    """
    officer = make_user("grant-street-office")
    RoleAssignment.objects.create(user=officer, role=Role.STREET_OFFICE, area=compound_a.street)
    mediator = make_user("grant-mediator")
    RoleAssignment.objects.create(user=mediator, role=Role.MEDIATOR, compound=compound_a)
    with tenant_context(compound_a):
        granted, other = PersonFactory(name="授权居民"), PersonFactory(name="未授权居民")
        do_grant_object_permission(officer, mediator, "change_person", granted, compound_a)
        forms = {p.pk: form_values(PersonForm(instance=p)) | {"phone": "13900000002"} for p in (granted, other)}
        puts = {p.pk: {"name": p.name, "id_number": p.id_number, "notes": "调解记录"} for p in (granted, other)}
    client.force_login(mediator)

    def statuses(person: Any) -> dict[str, int]:
        page, api = f"/c/{CODE_A}/persons/{person.pk}", f"/c/{CODE_A}/api/registry/persons/{person.pk}/"
        patch = json.dumps({"notes": "调解记录"})
        return {
            "edit GET": client.get(f"{page}/edit/").status_code,
            "edit POST": client.post(f"{page}/edit/", forms[person.pk]).status_code,
            "PATCH": client.patch(api, patch, content_type="application/json").status_code,
            "PUT": client.put(api, json.dumps(puts[person.pk]), content_type="application/json").status_code,
            "delete POST": client.post(f"{page}/delete/").status_code,
            "DELETE": client.delete(api).status_code,
        }

    assert statuses(granted) == {
        "edit GET": 200,
        "edit POST": 302,
        "PATCH": 200,
        "PUT": 200,
        "delete POST": 403,
        "DELETE": 403,
    }
    assert statuses(other) == {
        "edit GET": 403,
        "edit POST": 403,
        "PATCH": 403,
        "PUT": 403,
        "delete POST": 403,
        "DELETE": 403,
    }
    with tenant_context(compound_a):
        granted.refresh_from_db()
        other.refresh_from_db()
    assert (granted.phone, granted.notes) == ("13900000002", "调解记录")
    assert other.notes == ""
    # Creating is never granted per object.
    assert client.get(f"/c/{CODE_A}/persons/new/").status_code == 403
