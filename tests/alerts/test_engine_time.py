"""The time-driven alert models (issue #10 part 1): elderly inactivity, offline devices, fire lanes.

Each sweep takes ``now``: the tests move it instead of sleeping. An episode (silent since,
offline since, occupied since) is reported once however often the sweep runs.
"""

from __future__ import annotations

import datetime

import pytest
from django_tenants.utils import tenant_context

from access.choices import DeviceKind
from alerts.catalogue import explain
from alerts.detect_time import (
    do_check_elderly_inactive,
    do_sweep_elderly_inactive,
    do_sweep_fire_lanes,
    do_sweep_offline_devices,
)
from alerts.hours import awake_between, in_hours, night_of, quiet_between
from alerts.rules import rules_for
from events.choices import Decision, EventKind, Severity
from events.models import Alert, DeviceIndex
from registry.choices import PersonTag
from tests.alerts.engine_support import history, local, make_device, set_rule
from tests.factories import AddressPathFactory, HouseFactory, PersonFactory

HOUR = datetime.timedelta(hours=1)
MINUTE = datetime.timedelta(minutes=1)


# --- Local hours -------------------------------------------------------------------------------


def test_hour_windows_wrap_past_midnight_and_may_be_empty():
    assert in_hours(local(2026, 12, 3, 23, 0), 23, 5) and in_hours(local(2026, 12, 3, 4, 59), 23, 5)
    assert not in_hours(local(2026, 12, 3, 5, 0), 23, 5) and not in_hours(local(2026, 12, 3, 22, 59), 23, 5)
    assert in_hours(local(2026, 12, 3, 1, 0), 0, 5) and not in_hours(local(2026, 12, 3, 5, 0), 0, 5)
    assert not in_hours(local(2026, 12, 3, 1, 0), 3, 3)
    # UTC instants are read in local time: 15:30 UTC is 23:30 in Shanghai.
    assert in_hours(datetime.datetime(2026, 12, 3, 15, 30, tzinfo=datetime.UTC), 23, 5)


def test_a_night_is_named_by_its_evening():
    assert (
        night_of(local(2026, 12, 3, 23, 30), 5) == night_of(local(2026, 12, 4, 3, 0), 5) == datetime.date(2026, 12, 3)
    )
    assert night_of(local(2026, 12, 4, 23, 30), 5) == datetime.date(2026, 12, 4)


def test_quiet_hours_do_not_count_as_awake_time():
    start = local(2026, 12, 3, 21, 0)
    assert awake_between(start, local(2026, 12, 4, 8, 0), 22, 7) == 2 * HOUR  # 21–22 and 7–8
    assert awake_between(start, local(2026, 12, 4, 9, 0), 22, 7) == 3 * HOUR
    assert quiet_between(start, local(2026, 12, 5, 9, 0), 22, 7) == 18 * HOUR  # two nights
    assert awake_between(start, local(2026, 12, 3, 23, 0), 22, 22) == 2 * HOUR  # no quiet hours
    assert awake_between(local(2026, 12, 3, 13, 0), local(2026, 12, 3, 15, 0), 1, 5) == 2 * HOUR


# --- Elderly living alone ----------------------------------------------------------------------


class TestElderlyInactive:
    @pytest.fixture
    def home(self, in_a):
        """An elderly resident living alone at 6-1-301, an IR sensor at the unit (since 1 Dec)."""
        room = AddressPathFactory("6", "1", "3", "301")
        person = PersonFactory(house=HouseFactory(address=room), tags=[PersonTag.ELDERLY_ALONE])
        sensor = make_device(
            in_a, DeviceKind.IR_MOTION, address=AddressPathFactory("6", "1"), created_at=local(2026, 12, 1, 8, 0)
        )
        return person, sensor

    def check(self, compound, now):
        return do_check_elderly_inactive(compound, rules_for(compound.pk), now)

    def motion(self, compound, sensor, at, **detail):
        history(compound, sensor, at, kind=EventKind.SENSOR, detail=detail or {"motion": True})

    def test_three_hours_without_motion_fire_once(self, in_a, home):
        person, sensor = home
        self.motion(in_a, sensor, local(2026, 12, 3, 10, 0))
        assert self.check(in_a, local(2026, 12, 3, 12, 59)) == []
        [alert] = self.check(in_a, local(2026, 12, 3, 13, 0))
        assert (alert.kind, alert.severity, alert.person_id) == ("elderly_inactive", Severity.HIGH, person.pk)
        assert alert.detail["since"] == local(2026, 12, 3, 10, 0).isoformat() and alert.detail["hours"] == 3
        assert alert.detail["place"].endswith("6号楼1单元3层301室")
        assert explain("elderly_inactive", alert.detail) == (
            "No activity at the home of an elderly resident living alone for 3 hours, not counting quiet hours."
        )
        assert self.check(in_a, local(2026, 12, 3, 13, 5)) == []  # the same silence: reported already
        assert self.check(in_a, local(2026, 12, 3, 15, 0)) == []

    def test_motion_after_the_alert_starts_a_new_silence(self, in_a, home):
        _person, sensor = home
        self.motion(in_a, sensor, local(2026, 12, 3, 10, 0))
        [first] = self.check(in_a, local(2026, 12, 3, 13, 0))
        self.motion(in_a, sensor, local(2026, 12, 3, 13, 10))
        assert self.check(in_a, local(2026, 12, 3, 16, 0)) == []
        [second] = self.check(in_a, local(2026, 12, 3, 16, 10))
        assert second.pk != first.pk and second.detail["since"] == local(2026, 12, 3, 13, 10).isoformat()

    def test_the_night_does_not_count_and_no_alert_comes_in_quiet_hours(self, in_a, home):
        _person, sensor = home
        self.motion(in_a, sensor, local(2026, 12, 3, 21, 0))
        assert self.check(in_a, local(2026, 12, 4, 0, 30)) == []  # quiet hours
        assert self.check(in_a, local(2026, 12, 4, 8, 0)) == []  # 21–22 and 7–8: two hours awake
        [alert] = self.check(in_a, local(2026, 12, 4, 9, 0))
        assert alert.detail["hours"] == 3

    def test_the_compounds_quiet_hours_and_hours(self, in_a, home):
        _person, sensor = home
        set_rule(in_a, "elderly_inactive", hours=1, quiet_start=0, quiet_end=0)
        self.motion(in_a, sensor, local(2026, 12, 3, 22, 0))
        assert len(self.check(in_a, local(2026, 12, 3, 23, 0))) == 1

    def test_a_gate_passage_of_the_person_is_a_sign_of_life(self, in_a, home):
        person, sensor = home
        self.motion(in_a, sensor, local(2026, 12, 3, 9, 0))
        history(in_a, None, local(2026, 12, 3, 11, 0), kind=EventKind.FACE, decision=Decision.OPEN, person_id=person.pk)
        assert self.check(in_a, local(2026, 12, 3, 13, 30)) == []
        assert len(self.check(in_a, local(2026, 12, 3, 14, 0))) == 1

    def test_a_closed_door_report_is_not_activity_an_opened_door_is(self, in_a, home):
        _person, _ir = home
        door = make_device(
            in_a, DeviceKind.DOOR_CONTACT, address=AddressPathFactory("6", "1"), created_at=local(2026, 12, 1, 8, 0)
        )
        self.motion(in_a, door, local(2026, 12, 3, 10, 0), door="open")
        self.motion(in_a, door, local(2026, 12, 3, 11, 0), door="closed")
        self.motion(in_a, door, local(2026, 12, 3, 11, 30), motion=False)
        [alert] = self.check(in_a, local(2026, 12, 3, 13, 0))
        assert alert.detail["since"] == local(2026, 12, 3, 10, 0).isoformat()

    def test_a_new_sensor_has_nothing_to_report_yet(self, in_a):
        room = AddressPathFactory("7", "1", "1", "101")
        PersonFactory(house=HouseFactory(address=room), tags=[PersonTag.ELDERLY_ALONE])
        make_device(in_a, DeviceKind.IR_MOTION, address=room, created_at=local(2026, 12, 3, 8, 0))  # in the room
        assert self.check(in_a, local(2026, 12, 3, 10, 59)) == []
        assert len(self.check(in_a, local(2026, 12, 3, 11, 0))) == 1

    def test_people_without_a_sensor_at_home_the_untagged_and_the_moved_out_are_not_watched(self, in_a):
        make_device(in_a, DeviceKind.IR_MOTION, address=AddressPathFactory("8", "1"), created_at=local(2026, 12, 1))
        elsewhere = AddressPathFactory("8", "2", "1", "101")
        PersonFactory(house=HouseFactory(address=elsewhere), tags=[PersonTag.ELDERLY_ALONE])
        here = AddressPathFactory("8", "1", "1", "101")
        PersonFactory(house=HouseFactory(address=here), tags=[PersonTag.VETERAN])
        PersonFactory(
            house=HouseFactory(address=AddressPathFactory("8", "1", "1", "102")),
            tags=[PersonTag.ELDERLY_ALONE],
            move_in_date=datetime.date(2020, 1, 1),
            move_out_date=datetime.date(2026, 1, 1),
        )
        assert self.check(in_a, local(2026, 12, 3, 13, 0)) == []

    def test_switched_off(self, in_a, home):
        set_rule(in_a, "elderly_inactive", enabled=False)
        assert self.check(in_a, local(2026, 12, 3, 13, 0)) == []

    def test_the_sweep_enters_compounds_with_home_sensors_outside_their_quiet_hours(self, in_a, home):
        person, sensor = home
        self.motion(in_a, sensor, local(2026, 12, 3, 10, 0))
        assert do_sweep_elderly_inactive(local(2026, 12, 3, 23, 0)) == []  # quiet hours: not even entered
        ids = do_sweep_elderly_inactive(local(2026, 12, 3, 13, 0))
        assert [Alert.objects.get(pk=pk).person_id for pk in ids] == [person.pk]
        assert do_sweep_elderly_inactive(local(2026, 12, 3, 13, 5)) == []


# --- Device offline ----------------------------------------------------------------------------

NOW = local(2026, 12, 3, 10, 0)


class TestDeviceOffline:
    def device(self, compound, *, seen=None, created=NOW - 2 * HOUR, kind=DeviceKind.FACE_GATE):
        return make_device(compound, kind, created_at=created, last_seen_at=seen)

    def test_silent_and_never_seen_devices_fire_once(self, in_a):
        silent = self.device(in_a, seen=NOW - 11 * MINUTE)
        self.device(in_a, seen=NOW - 9 * MINUTE)
        never = self.device(in_a, created=NOW - 20 * MINUTE)
        self.device(in_a, created=NOW - 5 * MINUTE)
        revoked = self.device(in_a, seen=NOW - HOUR)
        DeviceIndex.objects.filter(pk=revoked.pk).update(revoked_at=NOW - HOUR)
        alerts = Alert.objects.filter(pk__in=do_sweep_offline_devices(NOW)).order_by("device_id")
        assert [(a.kind, a.device_id) for a in alerts] == sorted(
            [("device_offline", silent.pk), ("device_offline", never.pk)], key=lambda x: x[1]
        )
        first = alerts.get(device_id=silent.pk)
        assert (first.detail["minutes"], first.detail["since"]) == (11, (NOW - 11 * MINUTE).isoformat())
        assert explain("device_offline", first.detail) == f"{silent.uid} has sent nothing for 11 minutes."
        assert do_sweep_offline_devices(NOW + MINUTE) == []

    def test_back_and_gone_again_folds_into_the_open_alert(self, in_a):
        device = self.device(in_a, seen=NOW - 11 * MINUTE)
        [pk] = do_sweep_offline_devices(NOW)
        DeviceIndex.objects.filter(pk=device.pk).update(last_seen_at=NOW + 5 * MINUTE)
        assert do_sweep_offline_devices(NOW + 10 * MINUTE) == []
        assert do_sweep_offline_devices(NOW + 20 * MINUTE) == [pk]
        assert Alert.objects.get(pk=pk).count == 2

    def test_the_compounds_minutes_and_switch(self, in_a, compound_b):
        self.device(in_a, seen=NOW - 20 * MINUTE)
        other = DeviceIndex.objects.create(
            uid="b-gate", compound=compound_b, kind="face_gate", key_hash="0" * 64, last_seen_at=NOW - 20 * MINUTE
        )
        set_rule(in_a, "device_offline", minutes=30)
        assert [Alert.objects.get(pk=pk).device_id for pk in do_sweep_offline_devices(NOW)] == [other.pk]
        set_rule(in_a, "device_offline", minutes=15, severity=Severity.HIGH)
        [pk] = do_sweep_offline_devices(NOW)
        assert Alert.objects.get(pk=pk).severity == Severity.HIGH
        set_rule(in_a, "device_offline", enabled=False)
        self.device(in_a, seen=NOW - 3 * HOUR)
        assert do_sweep_offline_devices(NOW) == []


# --- Fire lane ---------------------------------------------------------------------------------


class TestFireLane:
    @pytest.fixture
    def camera(self, in_a):
        return make_device(in_a, DeviceKind.FIRE_LANE_CAMERA, name="5号楼消防通道")

    def reading(self, compound, camera, at, occupied):
        detail = {"occupied": occupied, "plate": "鲁A00001"} if occupied else {"occupied": False}
        history(compound, camera, at, kind=EventKind.SENSOR, detail=detail)

    def test_occupied_for_ten_minutes_fires_once(self, in_a, camera):
        self.reading(in_a, camera, NOW - 30 * MINUTE, False)
        for minutes in (20, 15, 5):
            self.reading(in_a, camera, NOW - minutes * MINUTE, True)
        [pk] = do_sweep_fire_lanes(NOW)
        alert = Alert.objects.get(pk=pk)
        assert (alert.kind, alert.severity, alert.device_id) == ("fire_lane", Severity.HIGH, camera.pk)
        assert (alert.detail["minutes"], alert.detail["since"]) == (20, (NOW - 20 * MINUTE).isoformat())
        assert explain("fire_lane", alert.detail) == "The fire lane at 5号楼消防通道 has been occupied for 20 minutes."
        assert do_sweep_fire_lanes(NOW + MINUTE) == []

    def test_a_short_stay_or_a_lane_freed_since_does_not(self, in_a, camera):
        self.reading(in_a, camera, NOW - 40 * MINUTE, True)
        self.reading(in_a, camera, NOW - 25 * MINUTE, False)
        self.reading(in_a, camera, NOW - 8 * MINUTE, True)
        assert do_sweep_fire_lanes(NOW) == []
        self.reading(in_a, camera, NOW - MINUTE, False)
        assert do_sweep_fire_lanes(NOW + 5 * MINUTE) == []

    def test_the_compounds_minutes_and_switch(self, in_a, camera):
        self.reading(in_a, camera, NOW - 8 * MINUTE, True)
        set_rule(in_a, "fire_lane", minutes=5)
        assert len(do_sweep_fire_lanes(NOW)) == 1
        with tenant_context(in_a):
            other = make_device(in_a, DeviceKind.FIRE_LANE_CAMERA)
        self.reading(in_a, other, NOW - 8 * MINUTE, True)
        set_rule(in_a, "fire_lane", enabled=False, minutes=5)
        assert do_sweep_fire_lanes(NOW) == []
