"""A city's index weights (issue #12): checking and saving them, their audit row, their effect on
a recomputed snapshot, the settings page, its scope and the reset to the defaults."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from district.models import Area, AuditEntry
from safety.choices import IncidentType
from safety.config import check_index_weights, default_weights, do_configure_index, do_reset_index
from safety.models import CompoundIndexSnapshot, IndexConfig
from safety.snapshots import do_snapshot_compound
from safety.tasks import RECOMPUTE_CITY_TASK, recompute_city
from tests.conftest import CITY, STREET_A
from tests.factories import RoleFactory
from tests.safety.test_snapshots import DAY, RUN_AT, at, incident

URL = "/safety/settings/"
GOOD = {"incidents": 30, "alerts": 30, "disputes": 15.5, "prevention": 24.5}


@pytest.fixture
def city(db) -> Area:
    return Area.objects.get(code=CITY)


@pytest.fixture
def bureau(city):
    return RoleFactory(user__username="bureau-weights", role="city_bureau", area=city).user


def queued(task: str) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT args, queueing_lock FROM procrastinate_jobs WHERE task_name = %s", [task])
        rows = cursor.fetchall()
    return [{"args": json.loads(args) if isinstance(args, str) else args, "lock": lock} for args, lock in rows]


# --- The action -------------------------------------------------------------------------------------


def test_saving_weights_stores_them_and_audits_before_and_after(city, bureau):
    first = do_configure_index(city, GOOD, acting_user=bureau)
    assert first.weights == {"incidents": 30.0, "alerts": 30.0, "disputes": 15.5, "prevention": 24.5}
    created = AuditEntry.objects.filter(object_type="safety.indexconfig").latest("pk")
    assert (created.action, created.user, created.object_ids) == ("create", bureau, [first.pk])
    assert created.detail["before"] is None and created.detail["after"] == first.weights
    assert created.detail["normalised"]["incidents"] == 0.3

    second = do_configure_index(city, {**GOOD, "alerts": Decimal("10.25")}, acting_user=bureau)
    assert second.pk == first.pk and IndexConfig.objects.count() == 1
    changed = AuditEntry.objects.filter(object_type="safety.indexconfig").latest("pk")
    assert changed.action == "update" and changed.detail["fields"] == ["weights"]
    assert changed.detail["before"]["alerts"] == 30.0 and changed.detail["after"]["alerts"] == 10.25


@pytest.mark.parametrize(
    ("weights", "field"),
    [
        ({**GOOD, "alerts": -1}, "alerts"),
        ({**GOOD, "alerts": 100.01}, "alerts"),
        ({**GOOD, "alerts": 12.345}, "alerts"),
        ({**GOOD, "alerts": "20"}, "alerts"),  # a string is no number
        ({**GOOD, "alerts": True}, "alerts"),
        ({**GOOD, "alerts": float("nan")}, "alerts"),
        ({**GOOD, "alerts": None}, "alerts"),
        ({k: v for k, v in GOOD.items() if k != "alerts"}, "alerts"),  # missing
        ({**GOOD, "weather": 5}, "__all__"),  # unknown key
        ({"incidents": 0, "alerts": 0, "disputes": 0, "prevention": 0}, "__all__"),
    ],
)
def test_invalid_weights_are_refused_and_nothing_is_saved(city, bureau, weights, field):
    with pytest.raises(ValidationError) as refused:
        do_configure_index(city, weights, acting_user=bureau)
    assert field in refused.value.message_dict
    assert not IndexConfig.objects.exists()
    assert not AuditEntry.objects.filter(object_type="safety.indexconfig").exists()


def test_bounds_are_inclusive():
    assert check_index_weights({"incidents": 100, "alerts": 0, "disputes": 0, "prevention": 0.01})["incidents"] == 100


def test_weights_belong_to_a_city(bureau):
    with pytest.raises(ValueError):
        do_configure_index(Area.objects.get(code=STREET_A), GOOD, acting_user=bureau)


def test_reset_deletes_the_row_with_an_audit_row(city, bureau):
    do_configure_index(city, GOOD, acting_user=bureau)
    do_reset_index(city, acting_user=bureau)
    assert not IndexConfig.objects.exists()
    row = AuditEntry.objects.filter(object_type="safety.indexconfig").latest("pk")
    assert row.action == "delete" and row.detail["before"]["disputes"] == 15.5 and row.detail["after"] is None
    # Already on the defaults: nothing to record.
    do_reset_index(city, acting_user=bureau)
    assert AuditEntry.objects.filter(object_type="safety.indexconfig").count() == 2


def test_new_weights_change_a_recomputed_snapshot(city, bureau, compound_a, compound_b):
    """One public-order incident in compound A (1,200 residents): incidents 95.83; no alerts, no disputes
    (100 each); no devices, no persons: prevention 20 (the elderly share is 1 when there are none)."""
    incident(compound_a, IncidentType.PUBLIC_ORDER, at(DAY))
    default = do_snapshot_compound(compound_a, DAY, now=RUN_AT)
    # 0.40 × 95.83 + 0.20 × 100 + 0.15 × 100 + 0.25 × 20 = 78.33
    assert default.score == Decimal("78.33")

    do_configure_index(city, {"incidents": 50, "alerts": 0, "disputes": 0, "prevention": 50}, acting_user=bureau)
    changed = do_snapshot_compound(compound_a, DAY, now=RUN_AT)
    # (95.83 + 20) / 2 = 57.92: the same figures, scored with the city's weights (normalised to 0.5 / 0.5)
    assert changed.score == Decimal("57.92") and changed.band == "red"
    assert changed.components["incidents"]["weight"] == 0.5 and changed.components["alerts"]["weight"] == 0.0

    # 8/4/3/5 is 40/20/15/25: the defaults again.
    do_configure_index(city, {"incidents": 8, "alerts": 4, "disputes": 3, "prevention": 5}, acting_user=bureau)
    assert do_snapshot_compound(compound_a, DAY, now=RUN_AT).score == Decimal("78.33")


def test_recompute_queues_one_job_per_city_and_the_job_recomputes_every_compound(city, bureau, compound_a, compound_b):
    do_configure_index(city, GOOD, acting_user=bureau, recompute=True, today=DAY)
    # Saved again before a worker took the job: still one job, and the save went through.
    do_configure_index(city, {**GOOD, "alerts": 5}, acting_user=bureau, recompute=True, today=DAY)
    assert IndexConfig.objects.get(city=city).weights["alerts"] == 5.0
    [job] = queued(RECOMPUTE_CITY_TASK)
    assert job["args"] == {"city_id": city.pk, "day": DAY.isoformat()}
    assert job["lock"] == f"{RECOMPUTE_CITY_TASK}.{city.pk}"

    assert recompute_city(city_id=city.pk, day=DAY.isoformat()) == 2
    assert set(CompoundIndexSnapshot.objects.filter(day=DAY).values_list("compound_id", flat=True)) == {
        compound_a.pk,
        compound_b.pk,
    }
    snapshot = CompoundIndexSnapshot.objects.get(compound=compound_a, day=DAY)
    assert snapshot.components["alerts"]["weight"] == round(5 / 75, 2)


# --- The page -----------------------------------------------------------------------------------------


def test_the_page_shows_weights_shares_defaults_and_the_explanation(client, city, bureau):
    do_configure_index(city, GOOD, acting_user=bureau)
    client.force_login(bureau)
    response = client.get(URL)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="15.5"' in html and 'data-testid="share-disputes">15.5 %' in html
    assert 'data-testid="share-incidents">30.0 %' in html
    assert "40 (40.0 %)" in html  # the default of incidents
    assert "only the proportions matter" in html
    assert "This city has its own weights." in html


def test_the_dashboard_links_to_the_page_for_holders_only(client, bureau, admin_a):
    client.force_login(bureau)
    assert 'data-testid="index-settings"' in client.get("/safety/").content.decode()
    client.force_login(admin_a)
    assert 'data-testid="index-settings"' not in client.get("/safety/").content.decode()


def test_posting_saves_and_redirects_with_a_message(client, city, bureau):
    client.force_login(bureau)
    body = {"city": city.pk, "incidents": "35", "alerts": "25", "disputes": "15", "prevention": "25"}
    response = client.post(URL, body, follow=True)
    assert response.redirect_chain[-1] == (f"{URL}?city={city.pk}", 302)
    assert "The weights of 济南市 are saved." in response.content.decode()
    assert IndexConfig.objects.get(city=city).weights == {
        "incidents": 35.0,
        "alerts": 25.0,
        "disputes": 15.0,
        "prevention": 25.0,
    }
    assert not queued(RECOMPUTE_CITY_TASK)
    client.post(URL, {**body, "recompute": "on"})
    assert len(queued(RECOMPUTE_CITY_TASK)) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"alerts": "-5"}, "Ensure this value is greater than or equal to 0."),
        ({"alerts": "101"}, "Ensure this value is less than or equal to 100."),
        ({"alerts": "1.234"}, "Ensure that there are no more than 2 decimal places."),
        ({"alerts": "abc"}, "Enter a number."),
        ({"incidents": "0", "alerts": "0", "disputes": "0", "prevention": "0"}, "At least one weight must be above"),
    ],
)
def test_invalid_input_shows_the_form_again_with_errors(client, city, bureau, change, message):
    client.force_login(bureau)
    body = {"city": city.pk, "incidents": "40", "alerts": "20", "disputes": "15", "prevention": "25", **change}
    response = client.post(URL, body)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not IndexConfig.objects.exists()


def test_reset_from_the_page(client, city, bureau):
    do_configure_index(city, GOOD, acting_user=bureau)
    client.force_login(bureau)
    response = client.post(URL, {"city": city.pk, "reset": "1"}, follow=True)
    assert "are the defaults again" in response.content.decode()
    assert not IndexConfig.objects.exists()
    assert "This city uses the default weights." in response.content.decode()
    assert default_weights() == {"incidents": 40.0, "alerts": 20.0, "disputes": 15.0, "prevention": 25.0}


def test_another_city_is_not_found(client, city, bureau):
    other = Area.objects.create(level="city", code="370200", name="青岛市")
    client.force_login(bureau)
    assert client.get(URL, {"city": other.pk}).status_code == 404
    assert client.get(URL, {"city": "x"}).status_code == 404
    body = {"city": other.pk, **{k: str(v) for k, v in GOOD.items()}}
    assert client.post(URL, body).status_code == 404
    assert not IndexConfig.objects.exists()


def test_a_superuser_chooses_among_the_cities(client, city, superuser):
    other = Area.objects.create(level="city", code="370200", name="青岛市")
    client.force_login(superuser)
    html = client.get(URL, {"city": other.pk}).content.decode()
    assert "青岛市" in html and 'name="city"' in html and "济南市" in html  # the city choice


def test_roles_without_the_capability_are_refused(client, admin_a, city):
    """A street office (and a district branch) do not set the city's weights (the matrix covers every role)."""
    client.force_login(admin_a)
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"city": city.pk, **GOOD}).status_code == 403
    assert not IndexConfig.objects.exists()
