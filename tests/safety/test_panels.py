"""The dashboard's panels beside the index (alerts by model, mediation outcomes, the map) and the
home page of area users: content, and scope (what a street or a non-police role may not see)."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

import pytest
from django.contrib.staticfiles import finders
from django.utils import timezone

from district.models import Area
from events.models import Alert
from mediators.models import CaseFigures
from tests.conftest import CITY, DISTRICT, STREET_A
from tests.factories import RoleFactory
from tests.safety.helpers import snapshot, user_at

URL = "/api/safety/dashboard/"
NOW = timezone.now()
MAP = "/api/safety/map/"


def alert(compound, kind: str, *, hours_ago: float = 1, status: str = "new", count: int = 1) -> Alert:
    at = timezone.now() - datetime.timedelta(hours=hours_ago)
    street = compound.street
    return Alert.objects.create(
        compound=compound,
        street=street,
        district=street.parent,
        city=street.parent.parent,
        kind=kind,
        severity="high",
        status=status,
        occurred_at=at,
        last_seen_at=at,
        count=count,
    )


def figures(compound, status: str, cases: int, overdue: int = 0) -> None:
    CaseFigures.objects.create(
        compound=compound, category="neighbour", status=status, cases=cases, overdue=overdue, refreshed_at=NOW
    )


@pytest.fixture
def placed(compound_a, compound_b):
    """A and B on the map (B has no index yet)."""
    for compound, lat, lng in ((compound_a, "36.665210", "117.037450"), (compound_b, "36.643180", "117.039920")):
        compound.latitude, compound.longitude = Decimal(lat), Decimal(lng)
        compound.save(update_fields=["latitude", "longitude"])
    return compound_a, compound_b


def test_alert_counts_by_model_over_30_days(client, compound_a, compound_b):
    for _ in range(3):
        alert(compound_a, "stranger", count=2)
    alert(compound_b, "tailgating")
    alert(compound_a, "watchlist_hit")
    alert(compound_a, "stranger", hours_ago=31 * 24)  # outside the window
    client.force_login(user_at("city_bureau", CITY))
    rows = client.get(URL).json()["alerts"]
    assert [(r["kind"], r["alerts"], r["occurrences"]) for r in rows] == [
        ("stranger", 3, 6),
        ("tailgating", 1, 1),
        ("watchlist_hit", 1, 1),
    ]
    assert rows[0]["name"] == "Stranger at a gate"


def test_a_street_counts_its_own_alerts_without_police_only_ones(client, compound_a, compound_b):
    alert(compound_a, "stranger")
    alert(compound_a, "watchlist_hit")  # police only: street offices never see it
    alert(compound_b, "stranger")  # the neighbour street's
    client.force_login(user_at("street_office", STREET_A))
    assert [(r["kind"], r["alerts"]) for r in client.get(URL).json()["alerts"]] == [("stranger", 1)]


def test_mediation_success_rate_of_the_area(client, compound_a, compound_b):
    figures(compound_a, "agreement", 3)
    figures(compound_a, "failed", 1)
    figures(compound_a, "mediating", 2, overdue=1)
    figures(compound_b, "referred", 4)
    client.force_login(user_at("city_bureau", CITY))
    city = client.get(URL).json()["mediation"]
    # 3 agreements of 3 + 1 + 4 outcomes
    assert city == {"cases": 10, "open": 2, "overdue": 1, "agreements": 3, "outcomes": 8, "success_rate": 37.5}
    client.force_login(user_at("street_office", STREET_A))
    street = client.get(URL).json()["mediation"]
    assert street["cases"] == 6 and street["success_rate"] == 75.0


def test_map_places_the_areas_compounds_with_index_and_open_alerts(client, placed, compound_a, compound_b):
    snapshot(compound_a, datetime.date(2026, 11, 20), "91.5", "blue", 5)
    raised = alert(compound_a, "stranger")
    alert(compound_a, "tailgating", status="resolved")  # closed: no marker
    alert(compound_b, "stranger", hours_ago=30)  # older than a day: no marker
    client.force_login(user_at("city_bureau", CITY))
    data = client.get(MAP).json()
    assert data["outline"].endswith("/geo/370100.geojson")
    assert data["day"] == "2026-11-20"
    by_code = {c["code"]: c for c in data["compounds"]}
    assert by_code[compound_a.code] == {
        "id": compound_a.pk,
        "code": compound_a.code,
        "name": compound_a.name,
        "lng": 117.03745,
        "lat": 36.66521,
        "score": 91.5,
        "band": "blue",
    }
    assert by_code[compound_b.code]["band"] is None and by_code[compound_b.code]["score"] is None
    assert [(a["id"], a["compound_id"], a["name"]) for a in data["alerts"]] == [
        (raised.pk, compound_a.pk, "Stranger at a gate")
    ]


def test_a_streets_map_holds_only_its_compounds(client, placed, compound_a, compound_b):
    alert(compound_b, "stranger")
    client.force_login(user_at("street_office", STREET_A))
    data = client.get(MAP).json()
    assert [c["id"] for c in data["compounds"]] == [compound_a.pk]
    assert data["alerts"] == []
    assert compound_b.name not in str(data)
    assert client.get(MAP, {"area": Area.objects.get(code=CITY).pk}).status_code == 404


def test_the_shipped_outline_is_geojson_of_the_demo_districts():
    with open(finders.find("geo/370100.geojson"), encoding="utf-8") as file:
        shape = json.load(file)
    assert shape["type"] == "FeatureCollection"
    assert {f["properties"]["code"] for f in shape["features"]} == {"370102", "370103", "370104"}


def test_area_users_land_on_their_dashboard(client, compound_a):
    for role, code in (("city_bureau", CITY), ("district_branch", DISTRICT), ("street_office", STREET_A)):
        client.force_login(user_at(role, code))
        page = client.get("/")
        assert page.status_code == 200
        body = page.content.decode()
        assert 'data-testid="safety-dashboard"' in body, role
        assert f"?area={Area.objects.get(code=code).pk}" in body
        assert 'href="/compounds/"' in body  # the compound cards stay one click away
        cards = client.get("/compounds/").content.decode()
        assert f'data-code="{compound_a.code}"' in cards


def test_compound_users_keep_their_compound_cards(client, staff_a, compound_a):
    client.force_login(staff_a)
    body = client.get("/").content.decode()
    assert 'data-testid="safety-dashboard"' not in body
    assert f'data-code="{compound_a.code}"' in body


def test_live_markers_only_for_users_who_receive_alerts(client, compound_a):
    client.force_login(user_at("city_bureau", CITY))
    assert 'data-ws-path="/ws/live/"' in client.get("/safety/").content.decode()
    # A mediator holds no dashboard role at all: the home page is the compound list, without a socket.
    client.force_login(RoleFactory(user__username="m", role="mediator", compound=compound_a).user)
    assert "/ws/live/" not in client.get("/").content.decode()
