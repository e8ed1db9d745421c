"""Device credentials at the device API: who is refused, and what a device can reach (issue #9).

A device is known by ``Authorization: Device <uid>.<secret>`` alone: no session, not even a
superuser's, passes. Unknown, revoked and disabled credentials answer alike (401); a device of
the wrong kind for an endpoint gets 403; a device works in its own compound only, and the URLs
name no compound to aim at another.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import get_resolver
from django_tenants.utils import tenant_context
from rest_framework.test import APIClient

from access.actions import do_revoke_device, do_rotate_device_secret, do_save_card, do_set_device_status
from access.choices import DeviceKind, DeviceStatus
from access.models import Card
from events.models import AccessEvent
from tests.access.gate_support import (
    API,
    CARD_URL,
    FACE_URL,
    HEARTBEAT_URL,
    IDENTITY_URL,
    PLATE_URL,
    READINGS_URL,
    SYSTEM,
    make_device,
)
from tests.factories import PersonFactory

pytestmark = pytest.mark.django_db

DEVICE_URLS = [HEARTBEAT_URL, FACE_URL, CARD_URL, PLATE_URL, IDENTITY_URL, READINGS_URL]


@pytest.fixture
def reader(compound_a: Any) -> Any:
    return make_device(compound_a, DeviceKind.CARD_READER)


def heartbeat(client: APIClient) -> Any:
    return client.post(HEARTBEAT_URL, {}, format="json")


def with_token(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token)
    return client


@pytest.mark.parametrize("url", DEVICE_URLS)
def test_without_a_credential_every_endpoint_answers_401_in_json(url):
    response = APIClient().post(url, {}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Device"
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize("url", DEVICE_URLS)
def test_a_signed_in_superuser_is_no_device(superuser, url):
    client = APIClient()
    client.force_login(superuser)
    response = client.post(url, {}, format="json")
    assert response.status_code == 401


@pytest.mark.parametrize(
    "make_token",
    [
        lambda d: f"Device {d.local.uid}.wrong-secret",
        lambda d: f"Device DFFFFFFFFFFFFFFFF.{d.token.split('.', 1)[1]}",
        lambda d: f"Device {d.local.uid}",
        lambda d: f"Device {d.token} extra",
        lambda d: f"Bearer {d.token}",
    ],
    ids=["wrong-secret", "unknown-device", "no-secret", "extra-part", "other-scheme"],
)
def test_a_wrong_credential_is_refused(reader, make_token):
    response = heartbeat(with_token(make_token(reader)))
    assert response.status_code == 401
    assert response.json()["code"] in {"authentication_failed", "not_authenticated"}


def test_a_revoked_device_is_refused(reader, compound_a):
    assert heartbeat(reader.client()).status_code == 200
    with tenant_context(compound_a):
        do_revoke_device(reader.local, acting_user=SYSTEM)
    response = heartbeat(reader.client())
    assert response.status_code == 401
    assert response.json() == {"code": "authentication_failed", "detail": response.json()["detail"]}


def test_a_disabled_device_is_refused_until_enabled_again(reader, compound_a):
    with tenant_context(compound_a):
        do_set_device_status(reader.local, DeviceStatus.DISABLED, acting_user=SYSTEM)
    assert heartbeat(reader.client()).status_code == 401
    with tenant_context(compound_a):
        do_set_device_status(reader.local, DeviceStatus.ACTIVE, acting_user=SYSTEM)
    assert heartbeat(reader.client()).status_code == 200


def test_a_rotated_secret_refuses_the_old_one(reader, compound_a):
    with tenant_context(compound_a):
        secret = do_rotate_device_secret(reader.local, acting_user=SYSTEM)
    assert heartbeat(reader.client()).status_code == 401
    assert heartbeat(with_token(f"Device {reader.local.uid}.{secret}")).status_code == 200


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        (DeviceKind.CROWD_COUNTER, FACE_URL),
        (DeviceKind.CARD_READER, FACE_URL),
        (DeviceKind.FACE_GATE, PLATE_URL),
        (DeviceKind.PLATE_BARRIER, CARD_URL),
        (DeviceKind.FACE_GATE, IDENTITY_URL),
        (DeviceKind.FACE_GATE, READINGS_URL),
        (DeviceKind.ID_GATE, READINGS_URL),
    ],
)
def test_an_endpoint_serves_only_its_kinds_of_device(compound_a, kind, url):
    device = make_device(compound_a, kind)
    response = device.client().post(url, {}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "wrong_device_type"
    assert heartbeat(device.client()).status_code == 200  # every kind sends heartbeats


def test_a_device_works_in_its_own_compound_only(reader, compound_a, compound_b):
    """A card of compound B opens nothing at A's reader, and A's events are tagged with A."""
    with tenant_context(compound_b):
        do_save_card(Card(number="B0B0B0B0", person=PersonFactory(name="乙住户")), acting_user=SYSTEM)
    body = reader.client().post(CARD_URL, {"card_no": "B0B0B0B0"}, format="json").json()

    assert (body["decision"], body["reason"], body["person_id"]) == ("deny", "unknown_card", None)
    assert AccessEvent.objects.get().compound_id == compound_a.pk


def test_device_urls_name_no_compound():
    """The device's credential is the only thing that chooses the compound."""
    resolver = get_resolver()
    for entry in resolver.url_patterns:
        if str(entry.pattern) == API.lstrip("/"):
            routes = [str(p.pattern) for inc in entry.url_patterns for p in getattr(inc, "url_patterns", [inc])]
            break
    else:
        pytest.fail("the device API is not mounted")
    assert routes and not [route for route in routes if "<" in route]


def test_a_heartbeat_and_any_delivery_mark_the_device_seen(reader):
    assert reader.index.last_seen_at is None
    reader.client().post(CARD_URL, {"card_no": "12345678"}, format="json")
    reader.index.refresh_from_db()
    assert reader.index.is_online()
