"""The demo seed: idempotent, valid identifiers everywhere, and demo logins with the right scope.

A small city is enough (3 compounds of 30 persons): the first two compounds of the demo have
the codes of the session's compounds A and B (tests/conftest.py), so the seed also proves it
fills pre-existing compounds instead of duplicating them, and the third is created anew.
"""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.test import RequestFactory
from django_tenants.utils import tenant_context

from district.demo import DEMO_LOGINS, DEMO_PASSWORD, demo_logins_markdown
from district.models import Area, RoleAssignment
from district.scope import compounds_in_scope
from registry.demo import age_on
from registry.models import Address, House, Lease, Organisation, Person, Vehicle
from registry.validators import check_id_number, check_phone, check_plate, check_uscc
from tenants.demo import COMPOUNDS
from tenants.models import Compound

pytestmark = pytest.mark.django_db

SMALL = {"compounds": 3, "persons_per_compound": 30}
SEEDED_CODES = [spec.code for spec in COMPOUNDS[:3]]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def seed(**options: Any) -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, stderr=StringIO(), **{**SMALL, **options})
    return out.getvalue()


def snapshot() -> dict[str, Any]:
    """Every seeded row with its update time, so a rewrite would show even if counts stayed."""
    user_model = get_user_model()
    state: dict[str, Any] = {
        "areas": sorted(Area.objects.values_list("code", "name", "path")),
        "compounds": sorted(Compound.objects.values_list("code", "name", "population", "plan", "street__code")),
        "users": sorted(user_model.objects.values_list("username", "password", "is_superuser")),
        "roles": sorted(RoleAssignment.objects.values_list("user__username", "role", "area_id", "compound_id")),
    }
    for code in SEEDED_CODES:
        with tenant_context(Compound.objects.get(code=code)):
            state[code] = {
                "addresses": sorted(Address.objects.values_list("code", "full_name")),
                "houses": sorted(House.objects.values_list("address__code", "use", "updated_at")),
                "persons": sorted(Person.objects.values_list("id_number", "house_id", "tags", "updated_at")),
                "leases": sorted(Lease.objects.values_list("house_id", "tenant_id", "start_date", "end_date")),
                "organisations": sorted(Organisation.objects.values_list("uscc", "updated_at")),
                "vehicles": sorted(Vehicle.objects.values_list("plate", "owner_id", "updated_at")),
            }
    return state


def test_seed_twice_changes_nothing():
    compounds_before = Compound.objects.count()

    first = seed()
    state = snapshot()
    second = seed()

    assert snapshot() == state
    assert "Created: areas 0, compounds 0, addresses 0, houses 0, persons 0, leases 0" in second
    assert "organisations 0, vehicles 0, users 0, roles 0" in second
    # The two pre-existing compounds were filled in place; only the third is new.
    assert Compound.objects.count() == compounds_before + 1
    assert "100% 3/3 compounds" in first
    for login in DEMO_LOGINS:
        assert login.username in first


def test_seed_builds_the_city_tree_once():
    seed()

    assert Area.objects.get(code="370100").name == "济南市"
    assert set(Area.objects.filter(parent__code="370100").values_list("code", flat=True)) >= {"370102", "370103"}
    streets = Area.objects.filter(level="street", code__startswith="3701")
    assert streets.count() >= 4
    assert all(s.code.startswith(s.parent.code) and len(s.code) == 9 for s in streets)
    assert not Area.objects.values("code").annotate(n=Count("id")).filter(n__gt=1).exists()


def test_seeded_identifiers_pass_the_project_checks():
    seed()

    for code in SEEDED_CODES:
        compound = Compound.objects.get(code=code)
        with tenant_context(compound):
            residents = Person.objects.filter(house__isnull=False, move_out_date__isnull=True)
            assert compound.population == residents.count() > 0
            for person in Person.objects.filter(id_type="resident_id"):
                facts = check_id_number(person.id_number)
                assert (facts.birth_date, facts.sex) == (person.birth_date, person.sex)
                assert 1935 <= person.birth_date.year <= 2020
            for phone in Person.objects.exclude(phone="").values_list("phone", flat=True):
                assert check_phone(phone) == phone
            for owner_id in House.objects.exclude(owner_id_number="").values_list("owner_id_number", flat=True):
                check_id_number(owner_id)
            usccs = list(Organisation.objects.values_list("uscc", flat=True))
            assert usccs and all(check_uscc(u) == u for u in usccs)
            for plate, kind in Vehicle.objects.values_list("plate", "plate_kind"):
                assert check_plate(plate) == (plate, kind)
            assert Lease.objects.filter(house__use__in=["rented", "group_rental"]).count() == Lease.objects.count()


def test_elderly_alone_tag_marks_old_people_living_alone():
    seed(compounds=1, persons_per_compound=120)

    with tenant_context(Compound.objects.get(code=SEEDED_CODES[0])):
        residents = Person.objects.filter(house__isnull=False, move_out_date__isnull=True)
        tagged = residents.filter(tags__contains=["elderly_alone"])
        assert tagged.exists()
        for person in tagged:
            assert age_on(person.birth_date) >= 70
            assert residents.filter(house=person.house_id).count() == 1


def test_demo_street_admin_sees_exactly_the_compounds_of_its_street():
    seed()
    user_model = get_user_model()

    jiefang = user_model.objects.get(username="jiefang")
    street = Area.objects.get(code="370102001")
    assert set(compounds_in_scope(jiefang)) == set(Compound.objects.filter(street=street))
    assert Compound.objects.get(code=SEEDED_CODES[0]) in compounds_in_scope(jiefang)
    assert Compound.objects.get(code=SEEDED_CODES[1]) not in compounds_in_scope(jiefang)

    wuye = user_model.objects.get(username="wuye")
    assert list(compounds_in_scope(wuye)) == [Compound.objects.get(code=SEEDED_CODES[0])]
    lixia = user_model.objects.get(username="lixia")
    assert set(compounds_in_scope(lixia)) == set(Compound.objects.filter(street__parent__code="370102"))
    # axes' backend wants the request (it locks out by username and address).
    login_request = RequestFactory().post("/login/")
    assert authenticate(login_request, username="jiefang", password=DEMO_PASSWORD) == jiefang
    assert user_model.objects.get(username="admin").is_superuser


def test_demo_logins_render_for_the_readme():
    table = demo_logins_markdown()

    assert all(f"`{login.username}`" in table for login in DEMO_LOGINS)
    assert DEMO_PASSWORD in table


def test_too_many_compounds_is_refused():
    with pytest.raises(CommandError):
        seed(compounds=len(COMPOUNDS) + 1)


def test_the_demo_dashboards_have_incidents_and_a_month_of_index():
    from safety.demo import DEMO_INCIDENTS_PER_COMPOUND, DEMO_INDEX_DAYS
    from safety.models import AreaIndexSnapshot, CompoundIndexSnapshot, Incident

    first = seed()
    city = Area.objects.get(code="370100")
    incidents = 3 * DEMO_INCIDENTS_PER_COMPOUND
    assert Incident.objects.filter(city=city, external_id__startswith="DEMO-").count() == incidents
    assert AreaIndexSnapshot.objects.filter(area=city).count() == DEMO_INDEX_DAYS
    seeded = Compound.objects.filter(code__in=SEEDED_CODES)
    assert CompoundIndexSnapshot.objects.filter(compound__in=seeded).count() == 3 * DEMO_INDEX_DAYS
    assert f"incidents {incidents}, index days {DEMO_INDEX_DAYS}" in first
    assert "cases 0, incidents 0, index days 0" in seed()  # a second run adds none


def test_the_demo_has_mediation_cases_with_outcomes_in_the_public_figures():
    from mediators.models import CaseFigures

    first = seed()
    # 2 cases in each of the 3 compounds, and the failed one in the first (every third compound).
    assert "cases 7," in first
    seeded = Compound.objects.filter(code__in=SEEDED_CODES)
    by_status = dict(
        CaseFigures.objects.filter(compound__in=seeded)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    assert by_status == {"agreement": 3, "mediating": 3, "failed": 1}
