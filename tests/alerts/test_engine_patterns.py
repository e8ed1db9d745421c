"""The alert models over days (issue #10 part 1): night entries, group renting, frequent visitors.

Plates by their number; faces by their encodings (``detail["encoding"]``, the gate's contract),
clustered within 0.5. History is written directly at given times; the last event of each
story goes through ``do_record_access_event`` and the evaluation, as the job runs it.
"""

from __future__ import annotations

import datetime

import pytest

from access.choices import DeviceKind
from alerts.catalogue import explain
from alerts.clusters import decode_encoding, encode_encoding, leader_clusters, load_strangers
from events.choices import AlertStatus, Decision, Direction, EventKind, Severity
from events.models import Alert
from tests.alerts.engine_support import (
    fire,
    history,
    local,
    make_device,
    person_face,
    same_face,
    set_rule,
    stranger_fields,
)
from tests.factories import AddressPathFactory

PLATE = "鲁A7Q123"
MINUTE = datetime.timedelta(minutes=1)


def only(alerts, kind):
    return [alert for alert in alerts if alert.kind == kind]


@pytest.fixture
def barrier(in_a):
    return make_device(in_a, DeviceKind.PLATE_BARRIER, name="地库入口", gate="地库入口")


@pytest.fixture
def gate(in_a):
    return make_device(in_a, DeviceKind.FACE_GATE, name="南门闸机", gate="南门")


def plate_fields(**extra):
    return {"kind": EventKind.PLATE, "decision": Decision.DENY, "reason": "unknown_plate", "plate": PLATE, **extra}


# --- Night entries by plate --------------------------------------------------------------------


class TestNightEntriesByPlate:
    def test_a_third_night_fires(self, in_a, barrier):
        history(in_a, barrier, local(2026, 12, 1, 23, 30), **plate_fields())
        history(in_a, barrier, local(2026, 12, 2, 23, 40), **plate_fields())
        history(in_a, barrier, local(2026, 12, 3, 1, 0), **plate_fields())  # the same night as 2 Dec 23:40
        [alert] = only(fire(in_a, barrier, local(2026, 12, 4, 23, 10), **plate_fields()), "night_entries")
        assert (alert.detail["count"], alert.detail["days"], alert.detail["by"]) == (3, 7, "plate")
        assert alert.fold_key == f"night_entries:plate:{PLATE}"
        assert (
            explain("night_entries", alert.detail)
            == f"Unregistered plate {PLATE} entered at night on 3 nights in 7 days."
        )

    def test_two_nights_days_exits_and_old_nights_do_not(self, in_a, barrier):
        history(in_a, barrier, local(2026, 11, 20, 23, 30), **plate_fields())  # more than 7 days ago
        history(in_a, barrier, local(2026, 12, 1, 23, 30), **plate_fields())
        history(in_a, barrier, local(2026, 12, 3, 14, 0), **plate_fields())  # by day
        history(in_a, barrier, local(2026, 12, 3, 23, 50), **plate_fields(direction=Direction.OUT))
        assert only(fire(in_a, barrier, local(2026, 12, 4, 23, 10), **plate_fields()), "night_entries") == []

    def test_a_day_entry_evaluates_nothing(self, in_a, barrier):
        for day in (1, 2, 3):
            history(in_a, barrier, local(2026, 12, day, 23, 30), **plate_fields())
        assert only(fire(in_a, barrier, local(2026, 12, 4, 12, 0), **plate_fields()), "night_entries") == []

    def test_registered_vehicles_and_visitors_are_not_counted(self, in_a, barrier):
        for day in (1, 2, 3):
            history(in_a, barrier, local(2026, 12, day, 23, 30), **plate_fields(person_id=9))
        assert only(fire(in_a, barrier, local(2026, 12, 4, 23, 30), **plate_fields(person_id=9)), "night_entries") == []
        assert (
            only(fire(in_a, barrier, local(2026, 12, 4, 23, 31), **plate_fields(visitor_pass_id=4)), "night_entries")
            == []
        )

    def test_the_compounds_count_and_night(self, in_a, barrier):
        history(in_a, barrier, local(2026, 12, 1, 21, 30), **plate_fields())
        set_rule(in_a, "night_entries", count=2, night_start=21, night_end=5)
        assert len(only(fire(in_a, barrier, local(2026, 12, 2, 21, 10), **plate_fields()), "night_entries")) == 1

    def test_switched_off(self, in_a, barrier):
        set_rule(in_a, "night_entries", enabled=False)
        for day in (1, 2, 3):
            history(in_a, barrier, local(2026, 12, day, 23, 30), **plate_fields())
        assert only(fire(in_a, barrier, local(2026, 12, 4, 23, 30), **plate_fields()), "night_entries") == []

    def test_while_open_repeats_fold_then_stop(self, in_a, barrier):
        for day in (1, 2):
            history(in_a, barrier, local(2026, 12, day, 23, 30), **plate_fields())
        [first] = only(fire(in_a, barrier, local(2026, 12, 3, 23, 30), **plate_fields()), "night_entries")
        [folded] = only(fire(in_a, barrier, local(2026, 12, 3, 23, 45), **plate_fields()), "night_entries")
        assert folded.pk == first.pk and folded.count == 2
        # The next night the alert is still open: it is someone's case already, not a new alert.
        assert only(fire(in_a, barrier, local(2026, 12, 4, 23, 30), **plate_fields()), "night_entries") == []
        Alert.objects.filter(pk=first.pk).update(status=AlertStatus.RESOLVED)
        [again] = only(fire(in_a, barrier, local(2026, 12, 5, 23, 30), **plate_fields()), "night_entries")
        assert again.pk != first.pk


# --- Night entries by face ---------------------------------------------------------------------


class TestNightEntriesByFace:
    def test_the_same_stranger_on_three_nights_fires(self, in_a, gate):
        face = person_face()
        history(in_a, gate, local(2026, 12, 1, 23, 30), **stranger_fields(face))
        history(in_a, gate, local(2026, 12, 3, 2, 0), **stranger_fields(face))
        alerts = fire(in_a, gate, local(2026, 12, 3, 23, 50), **stranger_fields(face))
        [alert] = only(alerts, "night_entries")
        assert (alert.detail["count"], alert.detail["by"]) == (3, "face")
        assert alert.fold_key == f"night_entries:face:{alert.access_event_id}"
        assert explain("night_entries", alert.detail).startswith("The same unregistered face entered at night on 3")

    def test_different_strangers_on_three_nights_do_not(self, in_a, gate):
        history(in_a, gate, local(2026, 12, 1, 23, 30), **stranger_fields(person_face()))
        history(in_a, gate, local(2026, 12, 2, 23, 30), **stranger_fields(person_face()))
        assert (
            only(fire(in_a, gate, local(2026, 12, 3, 23, 50), **stranger_fields(person_face())), "night_entries") == []
        )

    def test_a_face_without_its_encoding_takes_no_part(self, in_a, gate):
        face = person_face()
        history(in_a, gate, local(2026, 12, 1, 23, 30), **stranger_fields(face))
        history(in_a, gate, local(2026, 12, 2, 23, 30), **stranger_fields(face))
        assert only(fire(in_a, gate, local(2026, 12, 3, 23, 50), **stranger_fields()), "night_entries") == []

    def test_a_later_face_of_the_same_person_folds_into_its_alert(self, in_a, gate):
        face = person_face()
        for day in (1, 2):
            history(in_a, gate, local(2026, 12, day, 23, 30), **stranger_fields(face))
        [first] = only(fire(in_a, gate, local(2026, 12, 3, 23, 30), **stranger_fields(face)), "night_entries")
        [folded] = only(fire(in_a, gate, local(2026, 12, 3, 23, 40), **stranger_fields(face)), "night_entries")
        assert folded.pk == first.pk and folded.count == 2


# --- Frequent unregistered visitor ------------------------------------------------------------


class TestFrequentVisitor:
    def visit(self, compound, gate, face, days, hour=10):
        for day in days:
            history(compound, gate, local(2026, 12, day, hour, 0), **stranger_fields(face))

    def test_five_days_in_fourteen_prompt_to_register(self, in_a, gate):
        face = person_face()
        self.visit(in_a, gate, face, [1, 3, 3, 6, 9])  # two visits on the 3rd are one day
        [alert] = only(fire(in_a, gate, local(2026, 12, 12, 10, 0), **stranger_fields(face)), "frequent_visitor")
        assert (alert.severity, alert.detail["count"], alert.detail["days"]) == (Severity.LOW, 5, 14)
        assert explain("frequent_visitor", alert.detail) == (
            "An unregistered person was seen on 5 days out of 14: ask them to register."
        )

    def test_four_days_or_other_peoples_days_do_not(self, in_a, gate):
        face = person_face()
        self.visit(in_a, gate, face, [3, 6])
        self.visit(in_a, gate, person_face(), [4, 5, 7, 8])
        self.visit(in_a, gate, face, [2], hour=9)
        assert only(fire(in_a, gate, local(2026, 12, 12, 10, 0), **stranger_fields(face)), "frequent_visitor") == []

    def test_days_out_of_the_period_do_not_count(self, in_a, gate):
        face = person_face()
        self.visit(in_a, gate, face, [1, 2, 3, 4])
        assert only(fire(in_a, gate, local(2026, 12, 20, 10, 0), **stranger_fields(face)), "frequent_visitor") == []

    def test_the_compounds_count(self, in_a, gate):
        face = person_face()
        self.visit(in_a, gate, face, [1, 2])
        set_rule(in_a, "frequent_visitor", count=3)
        assert len(only(fire(in_a, gate, local(2026, 12, 3, 10, 0), **stranger_fields(face)), "frequent_visitor")) == 1

    def test_an_open_prompt_is_not_repeated_every_day(self, in_a, gate):
        face = person_face()
        self.visit(in_a, gate, face, [1, 2, 3, 4])
        assert only(fire(in_a, gate, local(2026, 12, 5, 10, 0), **stranger_fields(face)), "frequent_visitor")
        assert only(fire(in_a, gate, local(2026, 12, 6, 10, 0), **stranger_fields(face)), "frequent_visitor") == []
        assert Alert.objects.filter(compound_id=in_a.pk, kind="frequent_visitor").count() == 1


# --- Group renting -----------------------------------------------------------------------------


class TestGroupRenting:
    @pytest.fixture
    def door(self, in_a):
        return make_device(in_a, DeviceKind.UNIT_DOOR, name="5-2单元门", address=AddressPathFactory("5", "2"))

    def newcomer(self, compound, door):
        return fire(compound, door, local(2026, 12, 5, 19, 0), **stranger_fields(person_face()))

    def live_here(self, compound, door, faces, days=(1, 3)):
        for face in faces:
            for day in days:
                history(compound, door, local(2026, 12, day, 19, 0), **stranger_fields(face))

    def test_six_people_coming_back_through_one_unit_door_fire(self, in_a, door):
        faces = [person_face() for _ in range(6)]
        self.live_here(in_a, door, faces[:5])
        history(in_a, door, local(2026, 12, 2, 19, 0), **stranger_fields(faces[5]))
        [alert] = only(fire(in_a, door, local(2026, 12, 5, 19, 0), **stranger_fields(faces[5])), "group_renting")
        assert (alert.detail["count"], alert.detail["place"]) == (6, "阳光花园5号楼2单元")
        assert alert.fold_key.startswith("group_renting:address:")
        assert explain("group_renting", alert.detail) == (
            "6 different unregistered people entered 阳光花园5号楼2单元 in 7 days."
        )

    def test_couriers_seen_once_do_not(self, in_a, door):
        self.live_here(in_a, door, [person_face() for _ in range(4)])
        self.live_here(in_a, door, [person_face() for _ in range(10)], days=(2,))
        assert (
            only(fire(in_a, door, local(2026, 12, 5, 19, 0), **stranger_fields(person_face())), "group_renting") == []
        )

    def test_with_min_days_one_every_face_counts(self, in_a, door):
        set_rule(in_a, "group_renting", min_days=1)
        self.live_here(in_a, door, [person_face() for _ in range(5)], days=(2,))
        assert (
            len(only(fire(in_a, door, local(2026, 12, 5, 19, 0), **stranger_fields(person_face())), "group_renting"))
            == 1
        )

    def test_one_person_many_times_is_one_person(self, in_a, door):
        face = person_face()
        self.live_here(in_a, door, [face] * 10, days=(1, 2, 3))
        assert only(fire(in_a, door, local(2026, 12, 5, 19, 0), **stranger_fields(face)), "group_renting") == []

    def test_the_other_door_of_the_unit_counts_and_a_gate_does_not(self, in_a, door, gate):
        back = make_device(in_a, DeviceKind.UNIT_DOOR, name="5-2后门", address=door_address(in_a, door))
        faces = [person_face() for _ in range(6)]
        self.live_here(in_a, back, faces[:5])
        self.live_here(in_a, gate, faces)  # the compound's gate: not this unit
        history(in_a, door, local(2026, 12, 2, 19, 0), **stranger_fields(faces[5]))
        assert only(fire(in_a, gate, local(2026, 12, 5, 19, 0), **stranger_fields(faces[5])), "group_renting") == []
        assert len(only(fire(in_a, door, local(2026, 12, 5, 19, 1), **stranger_fields(faces[5])), "group_renting")) == 1

    def test_switched_off(self, in_a, door):
        set_rule(in_a, "group_renting", enabled=False, min_days=1)
        self.live_here(in_a, door, [person_face() for _ in range(8)], days=(2,))
        assert (
            only(fire(in_a, door, local(2026, 12, 5, 19, 0), **stranger_fields(person_face())), "group_renting") == []
        )


def door_address(compound, door):
    from access.models import Device

    return Device.objects.get(uid=door.uid).address


# --- The clustering itself -----------------------------------------------------------------------


def test_encodings_round_trip_and_bad_ones_are_refused():
    face = person_face()
    assert (decode_encoding(encode_encoding(face)) == face).all()
    for bad in (None, 5, "", "not base64!", encode_encoding(face[:64]), "A" * 2000):
        assert decode_encoding(bad) is None


def test_leader_clusters_tell_people_apart(in_a, gate):
    faces = [person_face() for _ in range(3)]
    for minute, face in enumerate(faces * 4):
        history(in_a, gate, local(2026, 12, 1, 10, 0) + minute * MINUTE, **stranger_fields(face))
    loaded = load_strangers(in_a.pk, since=local(2026, 12, 1), until=local(2026, 12, 2))
    assert len(loaded) == 12
    assert sorted(len(group) for group in leader_clusters(loaded)) == [4, 4, 4]
    assert len(loaded.near(decode_encoding(same_face(faces[0])))) == 4
