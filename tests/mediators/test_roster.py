"""The mediator roster (mediators/actions.py, views.py, api.py): scope by city, keepers, masking, audit, events."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from district.models import Area, AuditEntry
from district.realtime import capture_events
from mediators.actions import do_deactivate_mediator, do_save_mediator, mediators_visible_to
from mediators.models import Mediator
from tests.conftest import CITY
from tests.factories import RoleFactory

API = "/api/mediators/"


@pytest.fixture
def city(db: None) -> Area:
    return Area.objects.get(code=CITY)


@pytest.fixture
def far_city(db: None) -> Area:
    return Area.objects.create(level="city", code="370200", name="青岛市")


@pytest.fixture
def lawyer(city: Area) -> Mediator:
    return do_save_mediator(
        Mediator(
            city=city, name="律师甲", kind="lawyer", specialties=["labour"], home_province="浙江", phone="13800001234"
        ),
        acting_user=None,
    )


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_keeper_adds_a_mediator_audited_and_announced(
    admin_a: Any, city: Area, django_capture_on_commit_callbacks: Any
) -> None:
    with capture_events() as sent, django_capture_on_commit_callbacks(execute=True):
        mediator = do_save_mediator(
            Mediator(city=city, name=" 商会陈 ", kind="chamber_of_commerce", specialties=["commercial"]),
            acting_user=admin_a,
        )
    assert mediator.name == "商会陈"
    entry = AuditEntry.objects.filter(object_type="mediators.mediator").latest("pk")
    assert entry.action == "create" and "name" in entry.detail["fields"]
    assert sent == [
        ([f"mediators.city.{city.pk}"], {"type": "mediators.mediator.created", "id": mediator.pk, "city_id": city.pk})
    ]


def test_writes_are_checked(admin_a: Any, city: Area, far_city: Area, lawyer: Mediator) -> None:
    with pytest.raises(PermissionDenied):
        do_save_mediator(Mediator(city=far_city, name="外市", kind="lawyer"), acting_user=admin_a)
    with pytest.raises(ValidationError) as refused:
        do_save_mediator(
            Mediator(city=city, name="x", kind="lawyer", specialties=["astrology"], phone="12"), acting_user=admin_a
        )
    assert set(refused.value.message_dict) == {"specialties", "phone"}
    lawyer.city = far_city
    with pytest.raises((ValidationError, PermissionDenied)):
        do_save_mediator(lawyer, acting_user=None)


def test_deactivate_is_idempotent(admin_a: Any, lawyer: Mediator) -> None:
    first = do_deactivate_mediator(lawyer, acting_user=admin_a)
    second = do_deactivate_mediator(first, acting_user=admin_a)
    assert (first.active, second.active) == (False, False)
    assert AuditEntry.objects.filter(object_type="mediators.mediator", action="update").count() == 1


def test_readers_see_their_citys_roster_with_phones_masked(
    compound_a: Any, lawyer: Mediator, far_city: Area, admin_a: Any, staff_a: Any
) -> None:
    Mediator.objects.create(city=far_city, name="外市调解员", kind="lawyer")
    grid = RoleFactory(role="grid_worker", compound=compound_a).user
    assert list(mediators_visible_to(grid)) == [lawyer]
    page = client_for(grid).get("/mediators/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "律师甲" in text and "外市调解员" not in text
    assert "13800001234" not in text and "138****1234" in text
    # The street office keeps the roster: it sees the phone whole (audited).
    before = AuditEntry.objects.filter(action="view_pii").count()
    assert "13800001234" in client_for(admin_a).get("/mediators/").content.decode()
    assert AuditEntry.objects.filter(action="view_pii").count() == before + 1
    assert client_for(staff_a).get("/mediators/").status_code == 403


def test_list_filters(compound_a: Any, city: Area, lawyer: Mediator) -> None:
    Mediator.objects.create(city=city, name="老乡会王", kind="hometown_association", home_province="河南", remote=True)
    grid = RoleFactory(role="grid_worker", compound=compound_a).user
    client = client_for(grid)

    def names(**params: str) -> list[str]:
        return [m["name"] for m in client.get(API, params).json()["results"]]

    assert names() == ["律师甲", "老乡会王"] or sorted(names()) == ["律师甲", "老乡会王"]
    assert names(kind="lawyer") == ["律师甲"]
    assert names(specialty="labour") == ["律师甲"]
    assert names(province="河南") == ["老乡会王"]
    assert names(remote="true") == ["老乡会王"]
    assert client.get(API, {"remote": "maybe"}).status_code == 400
    assert client.get("/mediators/", {"specialty": "labour"}).content.decode().count("老乡会王") == 0


def test_api_create_edit_and_scope(admin_a: Any, city: Area, far_city: Area, lawyer: Mediator, compound_a: Any) -> None:
    client = client_for(admin_a)
    made = client.post(
        API,
        {"city": CITY, "name": "新调解员", "kind": "lawyer", "specialties": ["family"]},
        content_type="application/json",
    )
    assert made.status_code == 201, made.json()
    assert (
        client.post(
            API, {"city": "370200", "name": "外", "kind": "lawyer"}, content_type="application/json"
        ).status_code
        == 400
    )
    changed = client.patch(f"{API}{made.json()['id']}/", {"remote": True}, content_type="application/json")
    assert changed.status_code == 200 and changed.json()["remote"] is True
    ended = client.post(f"{API}{made.json()['id']}/deactivate/")
    assert ended.status_code == 200 and ended.json()["active"] is False
    far = Mediator.objects.create(city=far_city, name="外市", kind="lawyer")
    assert client.get(f"{API}{far.pk}/").status_code == 404
    grid = RoleFactory(role="grid_worker", compound=compound_a).user
    assert (
        client_for(grid)
        .post(API, {"city": CITY, "name": "x", "kind": "lawyer"}, content_type="application/json")
        .status_code
        == 403
    )
    assert client_for(grid).get(f"{API}{lawyer.pk}/").json()["phone"] == "138****1234"


def test_pages_create_and_deactivate(admin_a: Any, city: Area, lawyer: Mediator) -> None:
    client = client_for(admin_a)
    assert client.get("/mediators/new/").status_code == 200
    response = client.post(
        "/mediators/new/",
        {"city": city.pk, "name": "页面调解员", "kind": "peoples_mediator", "specialties": ["neighbour"]},
    )
    assert response.status_code == 302
    assert Mediator.objects.filter(name="页面调解员", specialties=["neighbour"]).exists()
    assert client.post("/mediators/new/", {"city": city.pk, "name": "", "kind": "lawyer"}).status_code == 422
    assert client.post(f"/mediators/{lawyer.pk}/deactivate/").status_code == 302
    lawyer.refresh_from_db()
    assert lawyer.active is False
