"""The dashboard data endpoint and pages: content and scope (a street sees only its compounds)."""

from __future__ import annotations

import datetime

import pytest

from district.models import Area
from safety.snapshots import do_roll_up
from tests.conftest import CITY, DISTRICT, STREET_A, STREET_B
from tests.safety.helpers import snapshot, user_at

DAY = datetime.date(2026, 11, 20)
NOW = datetime.datetime(2026, 11, 21, 0, 30, tzinfo=datetime.UTC)
URL = "/api/safety/dashboard/"


@pytest.fixture
def snapshots(compound_a, compound_b):
    """Three days of snapshots of A (better) and B (worse), rolled up."""
    city = Area.objects.get(code=CITY)
    for offset in range(3):
        day = DAY - datetime.timedelta(days=offset)
        for compound, score, band in ((compound_a, 92 - offset, "blue"), (compound_b, 58, "red")):
            snapshot(
                compound,
                day,
                score,
                band,
                5 if score >= 90 else 1,
                components={"incidents": {"score": 100.0}},
                computed_at=NOW,
            )
        do_roll_up(city, day, now=NOW)


def test_city_dashboard(client, snapshots, compound_a, compound_b):
    client.force_login(user_at("city_bureau", CITY))
    data = client.get(URL).json()
    assert data["area"]["code"] == CITY and data["day"] == "2026-11-20"
    # (92 × 1200 + 58 × 800) / 2000 = 78.4
    assert data["index"]["score"] == 78.4 and data["index"]["band"] == "yellow"
    assert [c["code"] for c in data["children"]] == [DISTRICT]
    assert [(c["code"], c["score"]) for c in data["streets"]] == [(STREET_A, 92.0), (STREET_B, 58.0)]
    assert [c["id"] for c in data["best"]] == [compound_a.pk, compound_b.pk]
    assert [c["id"] for c in data["worst"]] == [compound_b.pk, compound_a.pk]
    assert [p["day"] for p in data["trend"]] == ["2026-11-18", "2026-11-19", "2026-11-20"]
    assert data["bands"] == {"blue": 1, "yellow": 0, "orange": 0, "red": 1}


def test_a_street_sees_only_its_compounds(client, snapshots, compound_a, compound_b):
    client.force_login(user_at("street_office", STREET_A))
    data = client.get(URL).json()
    assert data["area"]["code"] == STREET_A
    assert [(c["kind"], c["id"]) for c in data["children"]] == [("compound", compound_a.pk)]
    shown = {c["id"] for key in ("children", "best", "worst") for c in data[key]}
    assert shown == {compound_a.pk}
    assert compound_b.name not in str(data)
    assert data["bands"]["red"] == 0 and data["index"]["score"] == 92.0
    for other in (STREET_B, DISTRICT, CITY):
        assert client.get(URL, {"area": Area.objects.get(code=other).pk}).status_code == 404


def test_a_district_sees_its_streets(client, snapshots):
    client.force_login(user_at("district_branch", DISTRICT))
    data = client.get(URL, {"area": Area.objects.get(code=DISTRICT).pk}).json()
    assert [c["code"] for c in data["children"]] == [STREET_A, STREET_B]
    assert data["streets"] == []  # the street list is the city's: a district's children are its streets


def test_compound_roles_see_their_compounds(client, snapshots, staff_a, compound_a, compound_b):
    client.force_login(staff_a)  # property staff of A: a dashboard role held at a compound
    data = client.get(URL).json()
    assert data["area"] is None and data["index"] is None and data["day"] == "2026-11-20"
    assert [c["id"] for c in data["children"]] == [compound_a.pk]
    assert compound_b.name not in str(data)
    assert client.get(URL, {"area": Area.objects.get(code=STREET_A).pk}).status_code == 404
    assert client.get("/safety/").status_code == 200


def test_bad_input(client, snapshots):
    client.force_login(user_at("city_bureau", CITY))
    assert client.get(URL, {"area": "abc"}).status_code == 400
    assert client.get(URL, {"area": 2**63}).status_code == 400
    assert client.get(URL, {"area": 999999}).status_code == 404


def test_before_the_first_snapshot(client, db):
    client.force_login(user_at("city_bureau", CITY))
    data = client.get(URL).json()
    assert data["index"] is None and data["children"] == [] and data["trend"] == []


def test_dashboard_queries_are_few(client, snapshots, django_assert_max_num_queries):
    client.force_login(user_at("city_bureau", CITY))
    client.get(URL)  # warm the session
    # Session, user and roles; the area; its index, children, streets, best, worst, trend, bands;
    # alerts by model; mediation figures. Constant whatever the number of compounds.
    with django_assert_max_num_queries(14):
        assert client.get(URL).status_code == 200


def test_pages(client, snapshots, compound_a, compound_b):
    client.force_login(user_at("street_office", STREET_A))
    page = client.get("/safety/").content.decode()
    assert 'data-testid="safety-dashboard"' in page and "echarts.min.js" in page
    breakdown = client.get(f"/safety/compounds/{compound_a.pk}/")
    html = breakdown.content.decode()
    assert breakdown.status_code == 200
    for name in ("incidents", "alerts", "disputes", "prevention"):
        assert f'data-testid="records-{name}"' in html
    assert client.get(f"/safety/compounds/{compound_b.pk}/").status_code == 404
