"""The alert lifecycle (issue #10 part 2): every allowed and refused step, through the actions, the
pages and the API; who/when/note of each step; time-to-acknowledge measured with an injected clock;
dispatch only to people who handle the alert's compound; the snapshot served to those who see the
alert, audited; police-only alerts only to police.
"""

from __future__ import annotations

import datetime
import io
import itertools
import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import translation
from PIL import Image

from alerts import actions
from alerts.actions import ALLOWED_STEPS
from alerts.catalogue import MODELS, explain
from alerts.models import AlertStep
from alerts.queries import dispatch_candidates, time_to_acknowledge
from district.models import Area, AuditAction, AuditEntry, RoleAssignment
from events.actions import do_raise_alert
from events.choices import AlertStatus
from events.models import AccessEvent, Alert, AreaTagged
from events.partitions import ensure_partition
from tests.conftest import CITY, DISTRICT, STREET_B

T0 = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.UTC)
STATUSES = list(AlertStatus.values)
ACTIONS = {
    AlertStatus.ACKNOWLEDGED: "acknowledge",
    AlertStatus.DISPATCHED: "dispatch",
    AlertStatus.RESOLVED: "resolve",
    AlertStatus.FALSE_ALARM: "false_alarm",
}
PAGE_STEP = {"acknowledge": "acknowledge", "dispatch": "dispatch", "resolve": "resolve", "false_alarm": "false-alarm"}


def person(username: str, role: str, *, area: Area | None = None, compound: Any = None) -> Any:
    # No password: force_login signs in, and hashing one would cost more than the test.
    user = get_user_model().objects.create(username=username)
    RoleAssignment.objects.create(user=user, role=role, area=area, compound=compound)
    return user


@pytest.fixture
def staff(compound_a):
    return person("alert-staff-a", "property_staff", compound=compound_a)


@pytest.fixture
def officer(compound_a):
    return person("alert-officer-a", "beat_officer", compound=compound_a)


@pytest.fixture
def grid(compound_a):
    return person("alert-grid-a", "grid_worker", compound=compound_a)


@pytest.fixture
def alert(compound_a) -> Alert:
    return do_raise_alert(
        compound_a, kind="stranger", occurred_at=T0, severity="low", fold_key="t", detail={"device": "东门"}
    )


def step(alert: Alert, status: str, user: Any, assignee: Any, now: datetime.datetime) -> Alert:
    name = ACTIONS[status]
    if name == "dispatch":
        return actions.do_dispatch_alert(alert, acting_user=user, assignee=assignee, note=f"{name} note", now=now)
    do = {
        "acknowledge": actions.do_acknowledge_alert,
        "resolve": actions.do_resolve_alert,
        "false_alarm": actions.do_mark_false_alarm,
    }[name]
    return do(alert, acting_user=user, note=f"{name} note", now=now)


# One way to bring a new alert to each status.
PATH_TO = {
    AlertStatus.NEW: [],
    AlertStatus.ACKNOWLEDGED: [AlertStatus.ACKNOWLEDGED],
    AlertStatus.DISPATCHED: [AlertStatus.ACKNOWLEDGED, AlertStatus.DISPATCHED],
    AlertStatus.RESOLVED: [AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED],
    AlertStatus.FALSE_ALARM: [AlertStatus.FALSE_ALARM],
}
TRANSITIONS = [(src, dst) for src, dst in itertools.product(STATUSES, STATUSES) if dst != AlertStatus.NEW]


@pytest.mark.parametrize(("current", "target"), TRANSITIONS, ids=[f"{a}->{b}" for a, b in TRANSITIONS])
def test_every_step_is_allowed_or_refused_as_the_table_says(alert, staff, grid, current, target, committing):
    now = T0
    for status in PATH_TO[current]:
        now += datetime.timedelta(minutes=1)
        alert = step(alert, status, staff, grid, now)
    assert alert.status == current
    steps_before = AlertStep.objects.filter(alert=alert).count()
    audit_before = AuditEntry.objects.count()
    allowed = target in ALLOWED_STEPS[current]
    with committing() as sent:
        if allowed:
            moved = step(alert, target, staff, grid, now + datetime.timedelta(minutes=1))
        else:
            with pytest.raises(ValidationError) as refused:
                step(alert, target, staff, grid, now + datetime.timedelta(minutes=1))
    alert.refresh_from_db()
    if allowed:
        assert moved.status == alert.status == target
        last = AlertStep.objects.filter(alert=alert).last()
        assert last is not None
        assert (last.status, last.user, last.note, last.at) == (
            target,
            staff,
            f"{ACTIONS[target]} note",
            now + datetime.timedelta(minutes=1),
        )
        assert last.assignee == (grid if target == AlertStatus.DISPATCHED else None)
        assert AuditEntry.objects.count() == audit_before + 1
        [(groups, payload)] = sent
        assert payload["type"] == "alert.updated" and payload["status"] == target
        assert groups == [
            f"alerts.compound.{alert.compound_id}",
            f"alerts.street.{alert.street_id}",
            f"alerts.district.{alert.district_id}",
            f"alerts.city.{alert.city_id}",
        ]
        if target in (AlertStatus.RESOLVED, AlertStatus.FALSE_ALARM):
            assert alert.closed_at == now + datetime.timedelta(minutes=1)
    else:
        assert alert.status == current
        assert AlertStep.objects.filter(alert=alert).count() == steps_before
        assert AuditEntry.objects.count() == audit_before
        assert sent == []
        assert "cannot become" in str(refused.value) or "不能" in str(refused.value)


def test_time_to_acknowledge_stops_at_the_first_human_response(alert, staff, grid):
    """Measured with the actions' ``now``: 95 s after the alert, whatever the later steps."""
    acked = actions.do_acknowledge_alert(alert, acting_user=staff, now=T0 + datetime.timedelta(seconds=95))
    assert acked.acknowledged_at == T0 + datetime.timedelta(seconds=95)
    assert time_to_acknowledge(acked) == datetime.timedelta(seconds=95)
    later = actions.do_dispatch_alert(acked, acting_user=staff, assignee=grid, now=T0 + datetime.timedelta(hours=2))
    assert time_to_acknowledge(later) == datetime.timedelta(seconds=95)


def test_dispatching_an_unacknowledged_alert_acknowledges_it(alert, staff, grid):
    moved = actions.do_dispatch_alert(alert, acting_user=staff, assignee=grid, now=T0 + datetime.timedelta(minutes=7))
    assert time_to_acknowledge(moved) == datetime.timedelta(minutes=7)
    assert moved.assignee == grid


def test_time_to_acknowledge_is_shown_on_the_page_and_in_the_api(client, alert, staff):
    actions.do_acknowledge_alert(alert, acting_user=staff, note="我去看看", now=T0 + datetime.timedelta(seconds=95))
    client.force_login(staff)
    page = client.get(f"/alerts/{alert.pk}/", HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    html = page.content.decode()
    assert "1 min 35 s" in html
    assert "我去看看" in html
    body = client.get(f"/api/alerts/{alert.pk}/", HTTP_ACCEPT_LANGUAGE="en").json()
    assert body["time_to_acknowledge"] == 95.0
    assert body["steps"][0]["note"] == "我去看看"
    assert body["steps"][0]["username"] == staff.username
    assert body["explanation"] == "A face not enrolled in this compound was seen at 东门."


def test_the_explanation_is_in_the_readers_language(client, alert, staff):
    client.force_login(staff)
    zh = client.get(f"/alerts/{alert.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    en = client.get(f"/alerts/{alert.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "A face not enrolled in this compound was seen at 东门." in en
    # Whatever the catalogue's Chinese reads (its translation is merged with the catalogue's).
    with translation.override("zh-hans"):
        assert explain(alert.kind, alert.detail) in zh
        assert str(MODELS["stranger"].label) in zh


# --- Dispatch: only to people who handle the alert's compound ---------------------------------------


def test_dispatch_candidates_are_the_handlers_of_the_compound_and_above_nearest_first(
    alert, compound_a, compound_b, street_a, staff, officer, grid
):
    street_office = person("alert-street-a", "street_office", area=street_a)
    branch = person("alert-branch", "district_branch", area=Area.objects.get(code=DISTRICT))
    bureau = person("alert-bureau", "city_bureau", area=Area.objects.get(code=CITY))
    person("alert-mediator-a", "mediator", compound=compound_a)
    person("alert-staff-b", "property_staff", compound=compound_b)
    person("alert-street-b", "street_office", area=Area.objects.get(code=STREET_B))
    inactive = person("alert-gone-a", "grid_worker", compound=compound_a)
    inactive.is_active = False
    inactive.save(update_fields=["is_active"])
    names = [c.user.username for c in dispatch_candidates(alert)]
    assert set(names[:3]) == {staff.username, officer.username, grid.username}
    assert names[3:] == [street_office.username, branch.username, bureau.username]


def test_dispatch_to_someone_outside_the_compound_is_refused(alert, compound_b, staff):
    outsider = person("alert-staff-b", "property_staff", compound=compound_b)
    with pytest.raises(ValidationError):
        actions.do_dispatch_alert(alert, acting_user=staff, assignee=outsider)
    alert.refresh_from_db()
    assert alert.status == AlertStatus.NEW and alert.assignee is None


def test_the_dispatch_page_and_api_take_only_listed_candidates(client, alert, compound_b, staff, grid):
    outsider = person("alert-staff-b", "property_staff", compound=compound_b)
    client.force_login(staff)
    page = client.get(f"/alerts/{alert.pk}/").content.decode()
    assert grid.username in page and outsider.username not in page
    refused = client.post(f"/alerts/{alert.pk}/dispatch/", {"assignee": outsider.pk})
    assert refused.status_code == 422
    api = client.post(
        f"/api/alerts/{alert.pk}/dispatch/", json.dumps({"assignee": outsider.pk}), content_type="application/json"
    )
    assert api.status_code == 400 and "assignee" in api.json()
    listed = client.get(f"/api/alerts/{alert.pk}/assignees/").json()
    assert outsider.pk not in [a["id"] for a in listed] and grid.pk in [a["id"] for a in listed]
    done = client.post(
        f"/api/alerts/{alert.pk}/dispatch/",
        json.dumps({"assignee": grid.pk, "note": "请到东门"}),
        content_type="application/json",
    )
    assert done.status_code == 200
    assert done.json()["status"] == "dispatched" and done.json()["assignee"] == grid.pk


# --- Through the pages and the API -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["acknowledge", "resolve", "false_alarm"])
def test_each_step_through_the_page_and_the_api(client, compound_a, staff, name):
    client.force_login(staff)
    for via in ("page", "api"):
        alert = do_raise_alert(compound_a, kind="crowd", occurred_at=T0, detail={"count": 250, "device": "广场"})
        if via == "page":
            response = client.post(f"/alerts/{alert.pk}/{PAGE_STEP[name]}/", {"note": "已处理"})
            assert response.status_code == 302, response.content[:300]
            assert response["Location"] == f"/alerts/{alert.pk}/"
        else:
            response = client.post(
                f"/api/alerts/{alert.pk}/{PAGE_STEP[name]}/",
                json.dumps({"note": "已处理"}),
                content_type="application/json",
            )
            assert response.status_code == 200
        alert.refresh_from_db()
        status = {v: k for k, v in ACTIONS.items()}[name]
        assert alert.status == status
        assert alert.steps.get().note == "已处理"
        # Once closed, nothing more: the page answers 422 and the API 400, and nothing changes.
        if status != AlertStatus.ACKNOWLEDGED:
            again = client.post(f"/alerts/{alert.pk}/acknowledge/", {"note": ""})
            assert again.status_code == 422
            api = client.post(f"/api/alerts/{alert.pk}/acknowledge/", "{}", content_type="application/json")
            assert api.status_code == 400
            assert alert.steps.count() == 1


def test_a_note_longer_than_500_characters_is_refused(client, alert, staff):
    client.force_login(staff)
    assert client.post(f"/alerts/{alert.pk}/acknowledge/", {"note": "x" * 501}).status_code == 422
    api = client.post(
        f"/api/alerts/{alert.pk}/acknowledge/", json.dumps({"note": "x" * 501}), content_type="application/json"
    )
    assert api.status_code == 400 and "note" in api.json()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.NEW


def test_a_role_without_alerts_is_refused_and_another_compound_sees_nothing(client, alert, compound_a, compound_b):
    mediator = person("alert-mediator-a", "mediator", compound=compound_a)
    client.force_login(mediator)
    assert client.post(f"/alerts/{alert.pk}/acknowledge/").status_code == 403
    assert client.get(f"/alerts/{alert.pk}/").status_code == 403
    assert client.post(f"/api/alerts/{alert.pk}/acknowledge/", "{}", content_type="application/json").status_code == 403
    other = person("alert-staff-b", "property_staff", compound=compound_b)
    client.force_login(other)
    assert client.get(f"/alerts/{alert.pk}/").status_code == 404
    assert client.post(f"/alerts/{alert.pk}/acknowledge/").status_code == 404
    assert client.get(f"/api/alerts/{alert.pk}/").status_code == 404
    assert client.post(f"/api/alerts/{alert.pk}/acknowledge/", "{}", content_type="application/json").status_code == 404
    alert.refresh_from_db()
    assert alert.status == AlertStatus.NEW


# --- Police-only alerts and snapshots ---------------------------------------------------------------


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture
def media(settings, tmp_path):
    """Snapshots go to a temporary MEDIA_ROOT, never the project's."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def alert_with_snapshot(compound: Any, kind: str) -> Alert:
    ensure_partition(T0)
    name = default_storage.save("access/test/snapshots/alert.jpg", ContentFile(jpeg()))
    event = AccessEvent.objects.create(
        occurred_at=T0, kind="face", decision="hit", snapshot=name, **AreaTagged.tags_for(compound)
    )
    return do_raise_alert(compound, kind=kind, occurred_at=T0, access_event=event, detail={"device": "东门"})


def test_the_snapshot_is_served_to_those_who_see_the_alert_and_audited(client, media, compound_a, compound_b, staff):
    alert = alert_with_snapshot(compound_a, "stranger")
    client.force_login(staff)
    assert f"/alerts/{alert.pk}/snapshot.jpg" in client.get(f"/alerts/{alert.pk}/").content.decode()
    assert client.get(f"/api/alerts/{alert.pk}/").json()["snapshot_url"] == f"/alerts/{alert.pk}/snapshot.jpg"
    response = client.get(f"/alerts/{alert.pk}/snapshot.jpg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response.content == jpeg()
    audit = AuditEntry.objects.filter(action=AuditAction.VIEW_PII, user=staff).get()
    assert (audit.compound, audit.object_type, audit.object_ids) == (
        compound_a,
        "events.accessevent",
        [alert.access_event_id],
    )
    other = person("alert-staff-b", "property_staff", compound=compound_b)
    client.force_login(other)
    assert client.get(f"/alerts/{alert.pk}/snapshot.jpg").status_code == 404
    # An alert without a snapshot has none to show.
    plain = do_raise_alert(compound_a, kind="stranger", occurred_at=T0)
    client.force_login(staff)
    assert client.get(f"/alerts/{plain.pk}/snapshot.jpg").status_code == 404
    assert client.get(f"/api/alerts/{plain.pk}/").json()["snapshot_url"] is None


def test_police_only_alerts_and_their_snapshots_are_for_police_only(client, media, compound_a, staff, officer, grid):
    alert = alert_with_snapshot(compound_a, "watchlist_hit")
    for user in (staff, grid):
        client.force_login(user)
        assert client.get(f"/alerts/{alert.pk}/").status_code == 404
        assert client.get(f"/alerts/{alert.pk}/snapshot.jpg").status_code == 404
        assert client.get(f"/api/alerts/{alert.pk}/").status_code == 404
        assert alert.pk not in [a["id"] for a in client.get("/api/alerts/").json()["results"]]
    client.force_login(officer)
    assert client.get(f"/alerts/{alert.pk}/").status_code == 200
    assert client.get(f"/alerts/{alert.pk}/snapshot.jpg").status_code == 200
    assert alert.pk in [a["id"] for a in client.get("/api/alerts/").json()["results"]]


def test_a_street_office_handles_its_compounds_alerts(client, alert, street_a):
    office = person("alert-street-a", "street_office", area=street_a)
    client.force_login(office)
    assert client.post(f"/alerts/{alert.pk}/acknowledge/", {"note": "街道已知悉"}).status_code == 302
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED


def test_an_alert_id_beyond_64_bits_answers_404(client, staff):
    client.force_login(staff)
    assert client.get("/api/alerts/99999999999999999999/").status_code == 404
    assert client.get("/alerts/99999999999999999999/").status_code == 404
    assert Client().get("/api/alerts/1/").status_code == 403
