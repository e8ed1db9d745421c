"""Figures gathered from their sources, daily snapshots by the periodic job (injected clock), roll-ups."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django_tenants.utils import tenant_context

from district.jobs import app
from district.models import Area
from events.models import Alert, AreaTagged, DeviceIndex
from safety.choices import IncidentType
from safety.figures import gather_figures, window_for
from safety.formula import compute
from safety.models import AreaIndexSnapshot, CompoundIndexSnapshot, Incident, IndexConfig
from safety.snapshots import do_roll_up, do_snapshot_compound
from safety.tasks import SNAPSHOT_DAY_TASK, snapshot_day, snapshot_day_for
from tests.conftest import CITY, DISTRICT, STREET_A, STREET_B

TZ = datetime.timezone(datetime.timedelta(hours=8))
DAY = datetime.date(2026, 11, 20)
# The periodic run after DAY: 00:30 in Beijing on the 21st (16:30 UTC on the 20th).
RUN_AT = datetime.datetime(2026, 11, 21, 0, 30, tzinfo=TZ)


def at(day: datetime.date, hour: int = 12, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)


def incident(compound, kind: str, when: datetime.datetime) -> Incident:
    tags = AreaTagged.tags_for(compound)
    return Incident.objects.create(
        city_id=tags["city_id"],
        compound=compound,
        street_id=tags["street_id"],
        district_id=tags["district_id"],
        type=kind,
        occurred_at=when,
        place="测试路1号",
    )


def alert(compound, severity: str, when: datetime.datetime, *, ack_after: int | None, status: str = "new") -> Alert:
    return Alert.objects.create(
        **AreaTagged.tags_for(compound),
        kind="stranger",
        severity=severity,
        status=status,
        occurred_at=when,
        last_seen_at=when,
        acknowledged_at=when + datetime.timedelta(minutes=ack_after) if ack_after is not None else None,
    )


def schema_records(compound) -> None:
    """In compound A: 3 residents (2 complete), 2 elderly living alone (1 with a door sensor), 3 cases."""
    from access.models import Device
    from mediation.models import Case
    from registry.models import Person
    from tests.factories import HouseFactory, PersonFactory

    with tenant_context(compound):
        sensor_home = HouseFactory()
        other_home = HouseFactory()
        PersonFactory(house=sensor_home, tags=["elderly_alone"])
        PersonFactory(house=other_home, tags=["elderly_alone"])
        PersonFactory(house=None)  # no address: incomplete
        Person.objects.filter(house__isnull=True).update(residence_type="")
        Device.objects.create(uid="SENSOR1", name="门磁", kind="door_contact", address=sensor_home.address)
        common = {"source": "walk_in", "category": "neighbour", "title": "噪音"}
        Case.objects.create(number="C1", registered_at=at(DAY, 9), deadline=DAY - datetime.timedelta(days=1), **common)
        Case.objects.create(
            number="C2",
            registered_at=at(DAY - datetime.timedelta(days=5)),
            deadline=DAY,
            status="agreement",
            concluded_at=at(DAY, 10),
            **common,
        )
        Case.objects.create(
            number="C3",
            registered_at=at(DAY - datetime.timedelta(days=40)),
            deadline=DAY,
            status="failed",
            concluded_at=at(DAY - datetime.timedelta(days=2)),
            **common,
        )


def test_window_is_the_30_local_days_ending_with_the_day():
    w = window_for(DAY, RUN_AT)
    assert w.start == at(DAY - datetime.timedelta(days=29), 0)
    assert w.end == at(DAY + datetime.timedelta(days=1), 0)
    assert w.at == w.end  # taken after the day ended: state as at its end


def test_figures_come_from_every_source(compound_a, compound_b):
    inside, before = at(DAY - datetime.timedelta(days=29), 0, 1), at(DAY - datetime.timedelta(days=30), 23, 59)
    incident(compound_a, IncidentType.CRIMINAL, inside)
    incident(compound_a, IncidentType.CRIMINAL, at(DAY))
    incident(compound_a, IncidentType.FIRE, before)  # outside the window
    incident(compound_b, IncidentType.FIRE, at(DAY))  # another compound
    alert(compound_a, "high", at(DAY), ack_after=10)  # in time
    alert(compound_a, "high", at(DAY), ack_after=20)  # late
    alert(compound_a, "low", at(DAY), ack_after=None)  # never acknowledged
    alert(compound_a, "critical", at(DAY), ack_after=1, status="false_alarm")  # excluded
    end = at(DAY + datetime.timedelta(days=1), 0)
    DeviceIndex.objects.create(
        uid="GATE1",
        compound=compound_a,
        kind="face_gate",
        key_hash="0" * 64,
        last_seen_at=end - datetime.timedelta(seconds=60),
    )
    DeviceIndex.objects.create(
        uid="GATE2",
        compound=compound_a,
        kind="face_gate",
        key_hash="0" * 64,
        last_seen_at=end - datetime.timedelta(hours=2),
    )
    DeviceIndex.objects.create(
        uid="GATE3", compound=compound_a, kind="face_gate", key_hash="0" * 64, last_seen_at=end, revoked_at=end
    )  # revoked: not counted
    schema_records(compound_a)

    f = gather_figures(compound_a, DAY, now=RUN_AT)

    compound_a.refresh_from_db()
    assert f.population == compound_a.population  # the registry keeps it (1,200 + the 2 housed residents)
    assert f.incidents == {"criminal": 2}
    assert f.alerts == {"high": 2, "low": 1}
    assert (f.alerts_total, f.alerts_acknowledged_in_time) == (3, 1)
    assert (f.devices, f.devices_online) == (2, 1)
    assert (f.persons, f.persons_complete) == (3, 2)
    assert (f.elderly_alone, f.elderly_with_sensor) == (2, 1)
    # C1 and C2 registered in the window; C2 and C3 concluded in it, C2 with an agreement; C1 overdue.
    assert (f.cases_registered, f.cases_concluded, f.cases_agreed, f.cases_overdue) == (2, 2, 1, 1)


def test_snapshot_stores_the_formula_with_the_city_weights(compound_a):
    incident(compound_a, IncidentType.PUBLIC_ORDER, at(DAY))
    city = Area.objects.get(code=CITY)
    IndexConfig.objects.create(city=city, weights={"incidents": 1, "alerts": 0, "disputes": 0, "prevention": 0})

    snapshot = do_snapshot_compound(compound_a, DAY, now=RUN_AT)

    # Only incidents count: 1 per 1,200 residents → 100 − 5 × 0.8333 = 95.83
    assert snapshot.score == Decimal("95.83")
    assert (snapshot.band, snapshot.stars, snapshot.population) == ("blue", 5, 1200)
    assert snapshot.components["incidents"]["weight"] == 1.0
    assert snapshot.components["alerts"]["weight"] == 0.0
    assert snapshot.street_id == Area.objects.get(code=STREET_A).pk
    assert snapshot.city_id == city.pk
    # Again for the same day: replaced, not duplicated.
    do_snapshot_compound(compound_a, DAY, now=RUN_AT)
    assert CompoundIndexSnapshot.objects.filter(compound=compound_a, day=DAY).count() == 1


def test_roll_up_weights_by_population(compound_a, compound_b):
    city, district = Area.objects.get(code=CITY), Area.objects.get(code=DISTRICT)
    street_a, street_b = Area.objects.get(code=STREET_A), Area.objects.get(code=STREET_B)
    for compound, street, score in ((compound_a, street_a, "90.00"), (compound_b, street_b, "60.00")):
        CompoundIndexSnapshot.objects.create(
            compound=compound,
            street_id=street.pk,
            district_id=district.pk,
            city_id=city.pk,
            day=DAY,
            score=Decimal(score),
            band="blue",
            stars=5,
            population=compound.population,
            components={"incidents": {"score": float(score)}},
            computed_at=RUN_AT,
        )

    assert do_roll_up(city, DAY, now=RUN_AT) == 4  # two streets, the district, the city

    rows = {r.area_id: r for r in AreaIndexSnapshot.objects.filter(day=DAY)}
    # (90 × 1200 + 60 × 800) / 2000 = 78, not the plain mean 75
    assert rows[city.pk].score == Decimal("78.00")
    assert rows[district.pk].score == Decimal("78.00")
    assert (rows[city.pk].population, rows[city.pk].compounds) == (2000, 2)
    assert (rows[city.pk].band, rows[city.pk].stars) == ("yellow", 3)
    assert rows[city.pk].components["incidents"]["score"] == 78.0
    assert rows[street_a.pk].score == Decimal("90.00") and rows[street_a.pk].parent_id == district.pk
    assert rows[street_b.pk].score == Decimal("60.00")
    assert rows[district.pk].parent_id == city.pk and rows[city.pk].parent_id is None


def test_the_periodic_job_snapshots_the_day_that_ended(compound_a, compound_b, committing):
    incident(compound_a, IncidentType.CRIMINAL, at(DAY, 23, 59))
    incident(compound_a, IncidentType.CRIMINAL, at(DAY + datetime.timedelta(days=1), 0, 10))  # tomorrow: not yet

    assert snapshot_day_for(int(RUN_AT.timestamp())) == DAY
    with committing() as sent:
        assert snapshot_day(timestamp=int(RUN_AT.timestamp())) == 2

    a = CompoundIndexSnapshot.objects.get(compound=compound_a, day=DAY)
    b = CompoundIndexSnapshot.objects.get(compound=compound_b, day=DAY)
    assert a.components["incidents"]["weighted_incidents"] == 3.0
    assert a.computed_at == RUN_AT
    expected_a = compute(gather_figures(compound_a, DAY, now=RUN_AT))["score"]
    assert float(a.score) == expected_a
    city = AreaIndexSnapshot.objects.get(area__code=CITY, day=DAY)
    assert float(city.score) == round((float(a.score) * 1200 + float(b.score) * 800) / 2000, 2)
    assert AreaIndexSnapshot.objects.filter(day=DAY).count() == 4
    assert [(groups, event["type"]) for groups, event in sent] == [
        ([f"safety.city.{city.area_id}"], "safety.index.updated")
    ]


def test_the_job_is_scheduled_nightly_after_midnight_in_beijing():
    [periodic] = [p for p in app.periodic_registry.periodic_tasks.values() if p.task.name == SNAPSHOT_DAY_TASK]
    assert periodic.cron == "30 16 * * *"
    assert periodic.task.queueing_lock == SNAPSHOT_DAY_TASK
