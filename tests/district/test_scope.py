"""The one scope rule, in Python and as a filter, and the fail-closed defaults built on it."""

from __future__ import annotations

import itertools

import pytest
from django.db.models import CharField, Value
from django.test import RequestFactory

from district.choices import Role
from district.models import Area, RoleAssignment
from district.scope import (
    assignments_of,
    beneath,
    beneath_q,
    compounds_in_scope,
    covers,
    held_path,
    node_path,
    role_assignments_beneath,
)
from registry.filtersets import PersonFilterSet
from tenants.models import Compound
from tests.factories import PersonFactory, UserFactory

pytestmark = pytest.mark.django_db

PATHS = ["370100", "370100/370102", "370100/370102/370102001", "370100/3701021", "370100/370102/370102001/370102001001"]


@pytest.mark.parametrize(("node", "held"), list(itertools.product(PATHS, PATHS)))
def test_the_rule_and_its_filter_agree(node: str, held: str) -> None:
    """``beneath`` and ``beneath_q`` give the same answer for every pair of nodes (a sibling
    whose code merely starts with another's, ``3701021``, is not beneath ``370102``)."""
    # Evaluate the filter in PostgreSQL against the literal path (conftest made the area rows).
    matched = Area.objects.annotate(p=Value(node, output_field=CharField())).filter(beneath_q(held, "p")).exists()
    assert matched == beneath(node, held)


def test_every_assignment_kind_covers_what_compounds_in_scope_lists(compound_a, compound_b, street_a) -> None:
    """``covers`` (Python) and ``compounds_in_scope`` (SQL) agree for area and compound roles."""
    city = Area.objects.get(code="370100")
    for role, node in [
        (Role.CITY_BUREAU, {"area": city}),
        (Role.STREET_OFFICE, {"area": street_a}),
        (Role.PROPERTY_STAFF, {"compound": compound_a}),
    ]:
        user = UserFactory(username=f"scope-{role}")
        RoleAssignment.objects.create(user=user, role=role, **node)
        listed = set(compounds_in_scope(user))
        for compound in Compound.objects.exclude(schema_name="public"):
            assert covers(user, compound=compound) == (compound in listed), (role, compound)
        held = [held_path(ra) for ra in assignments_of(user)]
        assert RoleAssignment.objects.filter(user=user).first() in set(role_assignments_beneath(held))


def test_a_compound_role_covers_only_its_compound(compound_a, compound_b) -> None:
    user = UserFactory(username="scope-one")
    RoleAssignment.objects.create(user=user, role=Role.MEDIATOR, compound=compound_a)
    assert node_path(compound=compound_a).endswith(f"/{compound_a.code}")
    assert covers(user, compound=compound_a) and not covers(user, compound=compound_b)
    assert not covers(user, area=compound_a.street)


def test_filtersets_mask_unless_the_request_proves_pii_view(in_a, compound_a) -> None:
    """Without a request (or with a user lacking pii.view) identifiers match only whole."""
    person = PersonFactory(phone="13912346209")
    fragment = {"q": "6209"}
    assert not PersonFilterSet(fragment, queryset=type(person).objects.all()).qs.exists()
    request = RequestFactory().get("/")
    request.tenant = compound_a
    request.user = UserFactory(username="scope-staff")
    RoleAssignment.objects.create(user=request.user, role=Role.PROPERTY_STAFF, compound=compound_a)
    assert not PersonFilterSet(fragment, queryset=type(person).objects.all(), request=request).qs.exists()
    assert PersonFilterSet({"q": "13912346209"}, queryset=type(person).objects.all(), request=request).qs.exists()
    officer = UserFactory(username="scope-officer")
    RoleAssignment.objects.create(user=officer, role=Role.BEAT_OFFICER, compound=compound_a)
    request.user = officer
    assert PersonFilterSet(fragment, queryset=type(person).objects.all(), request=request).qs.exists()
