"""The event-driven alert models on gates and sensors (issue #10 part 1): each fires and does not.

Strangers, tailgating (in one capture and counted at a door), e-bikes, crowd flow; folding
of an ongoing situation into one row with a count; per-compound rules (off, severity,
thresholds); the realtime message of a raised and a folded alert. Events are written by
``events.actions.do_record_access_event`` and evaluated as the job does, with given times.
"""

from __future__ import annotations

import datetime

import pytest

from access.choices import DeviceKind
from alerts.catalogue import explain
from events.choices import Decision, Direction, EventKind, Severity
from events.models import Alert, WatchlistEntry
from tests.alerts.engine_support import fire, kinds, local, make_device, record, set_rule, stranger_fields
from tests.conftest import CITY
from tests.factories import AddressPathFactory

T = local(2026, 12, 3, 10, 0)
SECOND = datetime.timedelta(seconds=1)


@pytest.fixture
def gate(in_a):
    return make_device(in_a, DeviceKind.FACE_GATE, name="南门闸机", gate="南门")


# --- Stranger ----------------------------------------------------------------------------------


class TestStranger:
    def test_an_unknown_face_fires_with_the_gate_in_its_explanation(self, in_a, gate, committing):
        with committing() as sent:
            [alert] = fire(in_a, gate, T, **stranger_fields())
        assert (alert.kind, alert.severity, alert.count, alert.device_id) == ("stranger", Severity.LOW, 1, gate.pk)
        assert alert.fold_key == f"stranger:{gate.uid}" and alert.access_event_id is not None
        assert explain("stranger", alert.detail) == "A face not enrolled in this compound was seen at 南门闸机."
        raised = [(groups, payload) for groups, payload in sent if payload["type"] == "alert.raised"]
        assert len(raised) == 1
        groups, payload = raised[0]
        assert groups[0] == f"alerts.compound.{in_a.pk}" and len(groups) == 4
        assert payload["id"] == alert.pk and payload["kind"] == "stranger"

    def test_repeats_fold_into_one_row_whose_count_grows(self, in_a, gate, committing):
        first = fire(in_a, gate, T, **stranger_fields())[0]
        with committing() as sent:
            again = fire(in_a, gate, T + 10 * 60 * SECOND, **stranger_fields())[0]
            third = fire(in_a, gate, T + 35 * 60 * SECOND, **stranger_fields())[0]
        assert again.pk == third.pk == first.pk and third.count == 3
        assert third.last_seen_at == T + 35 * 60 * SECOND and third.occurred_at == T
        assert Alert.objects.filter(kind="stranger", compound_id=in_a.pk).count() == 1
        assert [p["type"] for _g, p in sent if p["type"].startswith("alert.")] == ["alert.folded", "alert.folded"]

    def test_folding_is_per_device_and_ends_after_thirty_quiet_minutes(self, in_a, gate):
        other = make_device(in_a, DeviceKind.UNIT_DOOR, name="1单元门")
        a = fire(in_a, gate, T, **stranger_fields())[0]
        b = fire(in_a, other, T + SECOND, **stranger_fields())[0]
        c = fire(in_a, gate, T + 31 * 60 * SECOND, **stranger_fields())[0]
        assert len({a.pk, b.pk, c.pk}) == 3

    @pytest.mark.parametrize(
        "fields",
        [
            {"decision": Decision.OPEN, "reason": "resident"},
            {"reason": "liveness_failed"},
            {"reason": "ambiguous"},
        ],
        ids=["resident", "spoof", "ambiguous"],
    )
    def test_residents_spoofs_and_ambiguous_faces_are_not_strangers(self, in_a, gate, fields):
        person_id = 7 if fields.get("decision") == Decision.OPEN else None
        assert fire(in_a, gate, T, **{**stranger_fields(), **fields, "person_id": person_id}) == []

    def test_a_watch_list_hit_is_not_raised_again_as_a_stranger(self, in_a, gate):
        entry = WatchlistEntry.objects.create(city_id=in_a.street.parent.parent_id, kind="wanted", name="x")
        assert entry.city.code == CITY
        fields = {**stranger_fields(), "decision": Decision.HIT, "reason": "watchlist", "watch_entry_id": entry.pk}
        assert fire(in_a, gate, T, **fields) == []

    def test_cards_and_plates_are_not_faces(self, in_a, gate):
        assert fire(in_a, gate, T, kind=EventKind.CARD, decision=Decision.DENY, reason="unknown_card") == []

    def test_a_compound_that_switched_it_off_gets_nothing(self, in_a, gate):
        set_rule(in_a, "stranger", enabled=False)
        assert fire(in_a, gate, T, **stranger_fields()) == []

    def test_the_compounds_severity_applies(self, in_a, gate):
        set_rule(in_a, "stranger", severity=Severity.HIGH)
        assert fire(in_a, gate, T, **stranger_fields())[0].severity == Severity.HIGH


# --- Tailgating in one capture -----------------------------------------------------------------


def capture(compound, device, at, decisions, faces=None):
    """The events of one capture, as the gate writes them: one per face, one time, one snapshot."""
    events = []
    for index, decision in enumerate(decisions):
        events.append(
            record(
                compound,
                device,
                at,
                kind=EventKind.FACE,
                decision=decision,
                reason="resident" if decision == Decision.OPEN else "unknown_face",
                person_id=100 + index if decision == Decision.OPEN else None,
                face_index=index,
                faces_in_capture=faces or len(decisions),
                snapshot="access/x/snapshots/2026/12/03/abc.jpg",
            )
        )
    return events


class TestTailgatingInCapture:
    def evaluate_all(self, compound, events):
        from tests.alerts.engine_support import evaluate

        return [alert for event in events for alert in evaluate(compound, event)]

    def test_a_stranger_behind_a_resident_fires_once_per_capture(self, in_a, gate):
        alerts = self.evaluate_all(in_a, capture(in_a, gate, T, [Decision.OPEN, Decision.DENY]))
        assert kinds(alerts) == ["stranger", "tailgating"]
        [tail] = [a for a in alerts if a.kind == "tailgating"]
        assert (tail.detail["passed"], tail.detail["authorised"], tail.detail["via"]) == (2, 1, "capture")
        assert explain("tailgating", tail.detail) == "2 faces in one capture at 南门闸机; 1 were authorised."

    def test_faces_the_gate_did_not_decide_count_too(self, in_a, gate):
        alerts = self.evaluate_all(in_a, capture(in_a, gate, T, [Decision.OPEN], faces=3))
        assert kinds(alerts) == ["tailgating"] and alerts[0].detail["passed"] == 3

    @pytest.mark.parametrize(
        "decisions",
        [
            [Decision.OPEN, Decision.OPEN],
            [Decision.DENY, Decision.DENY],
            [Decision.OPEN],
            [Decision.OPEN, Decision.HIT],
        ],
        ids=["all-admitted", "door-shut", "alone", "hit-keeps-door-shut"],
    )
    def test_no_tailgating(self, in_a, gate, decisions):
        assert "tailgating" not in kinds(self.evaluate_all(in_a, capture(in_a, gate, T, decisions)))

    def test_another_capture_in_the_same_second_is_another_capture(self, in_a, gate):
        [resident] = capture(in_a, gate, T, [Decision.OPEN], faces=1)
        record(
            in_a, gate, T, kind=EventKind.FACE, decision=Decision.DENY, reason="unknown_face", face_index=1,
            faces_in_capture=1, snapshot="access/x/snapshots/2026/12/03/other.jpg",
        )  # fmt: skip
        assert "tailgating" not in kinds(self.evaluate_all(in_a, [resident]))

    def test_switched_off(self, in_a, gate):
        set_rule(in_a, "tailgating", enabled=False)
        assert "tailgating" not in kinds(
            self.evaluate_all(in_a, capture(in_a, gate, T, [Decision.OPEN, Decision.DENY]))
        )


# --- Tailgating counted at a door --------------------------------------------------------------


class TestTailgatingAtCounter:
    @pytest.fixture
    def counter(self, in_a):
        return make_device(in_a, DeviceKind.CROWD_COUNTER, name="南门计数", gate="南门")

    def opened(self, compound, gate, at):
        return record(compound, gate, at, kind=EventKind.CARD, decision=Decision.OPEN, reason="card", person_id=5)

    def count(self, compound, counter, at, n):
        return fire(compound, counter, at, kind=EventKind.SENSOR, decision=Decision.REPORTED, detail={"count": n})

    def test_two_people_through_one_opening_fire(self, in_a, gate, counter):
        self.opened(in_a, gate, T)
        [alert] = self.count(in_a, counter, T + 2 * SECOND, 2)
        assert alert.kind == "tailgating" and alert.fold_key == f"tailgating:{counter.uid}"
        assert (alert.detail["passed"], alert.detail["authorised"], alert.detail["seconds"]) == (2, 1, 5)
        assert explain("tailgating", alert.detail) == "2 people passed 南门计数 within 5 seconds; 1 were authorised."

    def test_as_many_people_as_openings_do_not(self, in_a, gate, counter):
        self.opened(in_a, gate, T)
        self.opened(in_a, gate, T + SECOND)
        assert self.count(in_a, counter, T + 2 * SECOND, 2) == []

    def test_people_counted_with_no_opening_are_not_tailgating(self, in_a, gate, counter):
        assert self.count(in_a, counter, T, 3) == []

    def test_the_window_is_the_compounds(self, in_a, gate, counter):
        self.opened(in_a, gate, T)
        assert self.count(in_a, counter, T + 10 * SECOND, 2) == []  # outside the default 5 s
        set_rule(in_a, "tailgating", window_seconds=15)
        assert kinds(self.count(in_a, counter, T + 11 * SECOND, 2)) == ["tailgating"]

    def test_a_counter_at_no_door_only_counts_crowds(self, in_a, gate):
        square = make_device(in_a, DeviceKind.CROWD_COUNTER, name="广场计数")
        self.opened(in_a, gate, T)
        assert self.count(in_a, square, T + SECOND, 5) == []

    def test_a_counter_at_a_unit_watches_that_units_door(self, in_a):
        unit = AddressPathFactory("2", "1")
        door = make_device(in_a, DeviceKind.UNIT_DOOR, name="2-1单元门", address=unit)
        counter = make_device(in_a, DeviceKind.CROWD_COUNTER, name="2-1计数", address=unit)
        self.opened(in_a, door, T)
        assert kinds(self.count(in_a, counter, T + SECOND, 3)) == ["tailgating"]


# --- E-bike ------------------------------------------------------------------------------------


class TestEbike:
    @pytest.fixture
    def camera(self, in_a):
        return make_device(in_a, DeviceKind.EBIKE_CAMERA, name="3号楼电梯", address=AddressPathFactory("3", "1"))

    def reading(self, compound, camera, at, detail, **fields):
        return fire(compound, camera, at, kind=EventKind.SENSOR, decision=Decision.REPORTED, detail=detail, **fields)

    def test_an_ebike_coming_in_fires_and_names_the_place(self, in_a, camera):
        [alert] = self.reading(in_a, camera, T, {"ebike": True})
        assert alert.kind == "ebike_in_building" and alert.severity == Severity.MEDIUM
        assert alert.detail["place"] == "阳光花园3号楼1单元"
        assert explain("ebike_in_building", alert.detail) == "An e-bike was detected entering at 3号楼电梯."
        again = self.reading(in_a, camera, T + 60 * SECOND, {"ebike": True})[0]
        assert again.pk == alert.pk and again.count == 2

    def test_no_ebike_or_an_ebike_going_out_does_not(self, in_a, camera):
        assert self.reading(in_a, camera, T, {"ebike": False}) == []
        assert self.reading(in_a, camera, T, {"ebike": True}, direction=Direction.OUT) == []

    def test_only_ebike_cameras_see_ebikes(self, in_a):
        motion = make_device(in_a, DeviceKind.IR_MOTION)
        assert self.reading(in_a, motion, T, {"ebike": True}) == []

    def test_switched_off(self, in_a, camera):
        set_rule(in_a, "ebike_in_building", enabled=False)
        assert self.reading(in_a, camera, T, {"ebike": True}) == []


# --- Crowd -------------------------------------------------------------------------------------


class TestCrowd:
    @pytest.fixture
    def counter(self, in_a):
        return make_device(in_a, DeviceKind.CROWD_COUNTER, name="广场计数")

    def count(self, compound, counter, at, n):
        return fire(compound, counter, at, kind=EventKind.SENSOR, decision=Decision.REPORTED, detail={"count": n})

    def test_counts_within_five_minutes_add_up_past_the_threshold(self, in_a, counter):
        assert self.count(in_a, counter, T - 10 * 60 * SECOND, 150) == []  # falls out of the window
        assert self.count(in_a, counter, T - 4 * 60 * SECOND, 120) == []
        [alert] = self.count(in_a, counter, T, 90)
        assert (alert.kind, alert.detail["count"], alert.detail["threshold"]) == ("crowd", 210, 200)
        assert explain("crowd", alert.detail) == "210 people counted at 广场计数 within 5 minutes (threshold 200)."

    def test_under_the_threshold_it_does_not(self, in_a, counter):
        assert self.count(in_a, counter, T - 60 * SECOND, 100) == []
        assert self.count(in_a, counter, T, 100) == []  # 200 is not above 200

    def test_the_threshold_is_the_compounds(self, in_a, counter):
        set_rule(in_a, "crowd", threshold=50)
        assert kinds(self.count(in_a, counter, T, 60)) == ["crowd"]

    def test_a_reading_that_counted_nobody_does_not_re_evaluate(self, in_a, counter):
        set_rule(in_a, "crowd", threshold=50)
        self.count(in_a, counter, T, 60)
        assert self.count(in_a, counter, T + SECOND, 0) == []

    def test_bad_counts_count_nothing(self, in_a, counter):
        set_rule(in_a, "crowd", threshold=1)
        for bad in ("many", True, -5, None):
            assert self.count(in_a, counter, T, bad) == []
