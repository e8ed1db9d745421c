"""The alert pages and API (issue #10 part 5): the panel and its filters, the live row fragment, the
"dispatched to me" view, a compound's alert settings, and joint-defence broadcasts with photos.
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from alerts import actions
from alerts.catalogue import MODELS
from alerts.models import AlertRule, Broadcast
from district.models import Area, AuditAction, AuditEntry, RoleAssignment
from district.realtime import capture_events
from events.actions import do_raise_alert
from events.choices import AlertStatus
from tests.conftest import DISTRICT

T0 = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.UTC)
FACES = Path(__file__).resolve().parents[2].parent / "shared" / "faces"


def person(username: str, role: str, *, area: Area | None = None, compound: Any = None) -> Any:
    user = get_user_model().objects.create(username=username)
    RoleAssignment.objects.create(user=user, role=role, area=area, compound=compound)
    return user


@pytest.fixture
def staff(compound_a):
    return person("pages-staff-a", "property_staff", compound=compound_a)


@pytest.fixture
def officer(compound_a):
    return person("pages-officer-a", "beat_officer", compound=compound_a)


@pytest.fixture
def media(settings, tmp_path):
    """Photos go to a temporary MEDIA_ROOT, never the project's."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def raise_alert(compound: Any, kind: str = "stranger", severity: str = "low", **detail: Any) -> Any:
    return do_raise_alert(compound, kind=kind, occurred_at=T0, severity=severity, detail=detail or {"device": "东门"})


# --- The panel ---------------------------------------------------------------------------------------


def test_the_panel_lists_the_scope_and_filters(client, compound_a, compound_b, staff):
    mine = raise_alert(compound_a)
    crowd = raise_alert(compound_a, "crowd", "medium", count=300, threshold=200, device="广场", minutes=5)
    theirs = raise_alert(compound_b)
    client.force_login(staff)
    page = client.get("/alerts/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-alert-id="{mine.pk}"' in html and f'data-alert-id="{crowd.pk}"' in html
    assert f'data-alert-id="{theirs.pk}"' not in html
    assert f'data-last-id="{crowd.pk}"' in html  # the live script's replay starts here
    # No inline script (CSP): only <script src=…>.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "/static/js/live-alerts.js" in html
    filtered = client.get("/alerts/", {"kind": "crowd"}, HTTP_HX_REQUEST="true").content.decode()
    assert f'data-alert-id="{crowd.pk}"' in filtered and f'data-alert-id="{mine.pk}"' not in filtered
    assert "<html" not in filtered  # htmx gets the results only
    assert f'data-alert-id="{mine.pk}"' in client.get("/alerts/", {"severity": "low"}).content.decode()
    assert f'data-alert-id="{mine.pk}"' not in client.get("/alerts/", {"status": "resolved"}).content.decode()
    assert f'data-alert-id="{mine.pk}"' in client.get("/alerts/", {"status": "open"}).content.decode()
    assert f'data-alert-id="{mine.pk}"' in client.get("/alerts/", {"compound": compound_a.code}).content.decode()
    assert f'data-alert-id="{mine.pk}"' not in client.get("/alerts/", {"compound": compound_b.code}).content.decode()


@pytest.mark.parametrize(
    ("query", "lang", "text"), [({"compound": "abc"}, "en", "digits"), ({"kind": "x"}, "zh-hans", "选择")]
)
def test_a_bad_filter_says_what_is_wrong(client, compound_a, staff, query, lang, text):
    raise_alert(compound_a)
    client.force_login(staff)
    page = client.get("/alerts/", query, HTTP_ACCEPT_LANGUAGE=lang)
    assert page.status_code == 200
    assert 'data-testid="filter-errors"' in page.content.decode() and text in page.content.decode()
    api = client.get("/api/alerts/", query, HTTP_ACCEPT_LANGUAGE=lang)
    assert api.status_code == 400 and list(api.json()) == list(query)


def test_a_district_sees_every_street_and_a_street_only_its_own(client, compound_a, compound_b, street_a):
    a, b = raise_alert(compound_a), raise_alert(compound_b)
    branch = person("pages-branch", "district_branch", area=Area.objects.get(code=DISTRICT))
    client.force_login(branch)
    ids = [x["id"] for x in client.get("/api/alerts/").json()["results"]]
    assert a.pk in ids and b.pk in ids
    client.force_login(person("pages-street-a", "street_office", area=street_a))
    ids = [x["id"] for x in client.get("/api/alerts/").json()["results"]]
    assert a.pk in ids and b.pk not in ids


def test_the_row_fragment_follows_the_panels_filters(client, compound_a, compound_b, staff):
    alert = raise_alert(compound_a)
    client.force_login(staff)
    row = client.get(f"/alerts/rows/{alert.pk}/")
    assert row.status_code == 200
    html = row.content.decode()
    assert f'<tr data-alert-id="{alert.pk}"' in html and 'data-testid="card"' in html
    assert client.get(f"/alerts/rows/{alert.pk}/", {"kind": "crowd"}).status_code == 204
    assert client.get(f"/alerts/rows/{alert.pk}/", {"kind": "stranger"}).status_code == 200
    other = raise_alert(compound_b)
    assert client.get(f"/alerts/rows/{other.pk}/").status_code == 404


def test_dispatched_to_me_lists_only_my_open_alerts(client, compound_a, staff, officer):
    mine = raise_alert(compound_a)
    other = raise_alert(compound_a, "crowd", "medium")
    actions.do_dispatch_alert(mine, acting_user=staff, assignee=officer)
    client.force_login(officer)
    html = client.get("/alerts/mine/").content.decode()
    assert f'data-alert-id="{mine.pk}"' in html and f'data-alert-id="{other.pk}"' not in html
    assert "assigned=me" in html  # the live script fetches rows with the page's own filters
    assert client.get(f"/alerts/rows/{mine.pk}/", {"assigned": "me", "status": "dispatched"}).status_code == 200
    actions.do_resolve_alert(mine, acting_user=officer, note="已处置")
    assert f'data-alert-id="{mine.pk}"' not in client.get("/alerts/mine/").content.decode()
    # Resolved: the live script is told to take the row off the page.
    assert client.get(f"/alerts/rows/{mine.pk}/", {"assigned": "me", "status": "dispatched"}).status_code == 204
    assert [a["id"] for a in client.get("/api/alerts/", {"assigned": "me"}).json()["results"]] == [mine.pk]
    assert "1 alert dispatched to you" not in client.get("/alerts/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_the_api_lists_what_a_client_missed(client, compound_a, staff):
    first = raise_alert(compound_a)
    second = raise_alert(compound_a, "crowd", "medium")
    client.force_login(staff)
    body = client.get("/api/alerts/", {"after": first.pk}).json()
    assert [a["id"] for a in body["results"]] == [second.pk]
    assert body["results"][0]["status"] == AlertStatus.NEW and body["results"][0]["compound_code"] == compound_a.code


# --- Alert settings -----------------------------------------------------------------------------------


def settings_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for code, model in MODELS.items():
        body[f"{code}__enabled"] = "on"
        body[f"{code}__severity"] = ""
        for name, value in model.params.items():
            body[f"{code}__{name}"] = str(value)
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def test_settings_are_saved_as_overrides_with_audit_and_event(client, compound_a, staff, committing):
    client.force_login(staff)
    page = client.get(f"/alerts/settings/{compound_a.pk}/")
    assert page.status_code == 200
    assert str(MODELS["crowd"].label) in page.content.decode()
    # Unchanged defaults need no rows.
    assert client.post(f"/alerts/settings/{compound_a.pk}/", settings_body()).status_code == 302
    assert not AlertRule.objects.filter(compound=compound_a).exists()
    body = settings_body(crowd__threshold="350", crowd__severity="high", stranger__enabled=None)
    with committing() as sent:
        response = client.post(f"/alerts/settings/{compound_a.pk}/", body)
    assert response.status_code == 302
    rules = {r.model: r for r in AlertRule.objects.filter(compound=compound_a)}
    assert set(rules) == {"crowd", "stranger"}
    assert (rules["crowd"].params, rules["crowd"].severity, rules["crowd"].enabled) == (
        {"threshold": 350},
        "high",
        True,
    )
    assert rules["stranger"].enabled is False and rules["stranger"].params == {}
    audit = AuditEntry.objects.filter(object_type="alerts.alertrule", action=AuditAction.CREATE)
    assert sorted(tuple(e.detail["fields"]) for e in audit) == [("enabled",), ("params", "severity")]
    assert sorted(p["model"] for _g, p in sent) == ["crowd", "stranger"]
    assert all(g == [f"alerts.compound.{compound_a.pk}"] and p["type"] == "alert_rule.saved" for g, p in sent)


@pytest.mark.parametrize(
    ("field", "value", "lang", "message"),
    [
        ("crowd__threshold", "0", "en", "greater than or equal to 1"),
        ("tailgating__window_seconds", "601", "en", "less than or equal to 600"),
        ("elderly_inactive__quiet_start", "24", "zh-hans", "23"),
        ("crowd__threshold", "many", "en", "whole number"),
        ("crowd__severity", "extreme", "en", "Select a valid choice"),
    ],
)
def test_settings_refuse_values_out_of_range(client, compound_a, staff, field, value, lang, message):
    client.force_login(staff)
    response = client.post(
        f"/alerts/settings/{compound_a.pk}/", settings_body(**{field: value}), HTTP_ACCEPT_LANGUAGE=lang
    )
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not AlertRule.objects.filter(compound=compound_a).exists()


def test_the_action_refuses_what_a_form_could_not_send(compound_a, staff):
    from django.core.exceptions import ValidationError

    for params in ({"threshold": True}, {"threshold": 2.5}, {"unknown": 1}, {"threshold": 10**9}):
        with pytest.raises(ValidationError):
            actions.do_save_alert_rule(compound_a, "crowd", acting_user=staff, params=params)
    with pytest.raises(ValidationError):
        actions.do_save_alert_rule(compound_a, "no_such_model", acting_user=staff)
    assert not AlertRule.objects.exists()


def test_settings_only_for_compounds_the_user_configures(client, compound_a, compound_b, staff, street_a):
    client.force_login(staff)
    assert client.get(f"/alerts/settings/{compound_b.pk}/").status_code == 404
    index = client.get("/alerts/settings/").content.decode()
    assert compound_a.name in index and compound_b.name not in index
    client.force_login(person("pages-street-a", "street_office", area=street_a))  # sees alerts, configures none
    assert client.get(f"/alerts/settings/{compound_a.pk}/").status_code == 403


# --- Broadcasts ----------------------------------------------------------------------------------------


def png(size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, format="PNG")
    return out.getvalue()


def photo_bytes() -> bytes:
    portrait = FACES / "enroll" / "obama.jpg"
    return portrait.read_bytes() if portrait.exists() else png()


def test_a_broadcast_with_a_photo_is_sent_stored_and_read(client, media, compound_a, officer, staff):
    client.force_login(officer)
    form = client.get("/alerts/broadcasts/new/").content.decode()
    assert compound_a.name in form
    upload = SimpleUploadedFile("suspect.jpg", photo_bytes(), content_type="image/jpeg")
    with capture_events() as sent:
        response = client.post(
            "/alerts/broadcasts/new/",
            {"target": f"compound:{compound_a.pk}", "text": "协查：灰色外套男子", "photo": upload},
        )
    assert response.status_code == 302, response.content[:500]
    broadcast = Broadcast.objects.get()
    assert broadcast.photo.startswith("broadcasts/") and broadcast.photo.endswith(".jpg")
    assert default_storage.exists(broadcast.photo)
    stored = Image.open(default_storage.open(broadcast.photo))
    assert stored.format == "JPEG" and max(stored.size) <= 1600 and not stored.getexif()
    assert AuditEntry.objects.filter(object_type="alerts.broadcast", action=AuditAction.CREATE).exists()
    client.force_login(staff)
    card = client.get(f"/alerts/broadcasts/{broadcast.pk}/", {"fragment": "1"})
    assert card.status_code == 200 and "协查：灰色外套男子" in card.content.decode()
    assert "<html" not in card.content.decode()
    assert client.get(f"/alerts/broadcasts/{broadcast.pk}/photo.jpg").status_code == 200
    assert "协查" in client.get("/alerts/broadcasts/").content.decode()
    api = client.get(f"/api/alerts/broadcasts/{broadcast.pk}/").json()
    assert api["photo_url"] == f"/alerts/broadcasts/{broadcast.pk}/photo.jpg" and api["compound"] == compound_a.pk
    assert sent == []  # outside a transaction the event leaves at once: captured in test_broadcast


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"not an image", 422, "not a readable JPEG or PNG"),
        (b"", 422, "empty"),
    ],
)
def test_a_bad_photo_is_refused_and_nothing_is_sent(client, media, compound_a, officer, data, status, message):
    client.force_login(officer)
    upload = SimpleUploadedFile("x.jpg", data, content_type="image/jpeg")
    response = client.post(
        "/alerts/broadcasts/new/",
        {"target": f"compound:{compound_a.pk}", "text": "看这张", "photo": upload},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == status
    assert message in response.content.decode()
    assert not Broadcast.objects.exists()
    assert not list(Path(media).rglob("*.jpg"))


def test_a_photo_over_the_limit_is_refused_unread(client, media, settings, compound_a, officer):
    settings.ACCESS_IMAGE_MAX_BYTES = 1000
    client.force_login(officer)
    upload = SimpleUploadedFile("big.png", png((400, 400)), content_type="image/png")
    response = client.post(
        "/alerts/broadcasts/new/", {"target": f"compound:{compound_a.pk}", "text": "大图", "photo": upload}
    )
    assert response.status_code == 413
    assert not Broadcast.objects.exists()


def test_a_broadcast_goes_only_where_the_sender_covers(client, compound_a, compound_b, officer, staff, street_a):
    client.force_login(officer)
    refused = client.post("/alerts/broadcasts/new/", {"target": f"compound:{compound_b.pk}", "text": "越界"})
    assert refused.status_code == 422
    # A beat officer covers the compound, not its street.
    assert (
        client.post("/alerts/broadcasts/new/", {"target": f"street:{street_a.pk}", "text": "街道"}).status_code == 422
    )
    api = client.post(
        "/api/alerts/broadcasts/",
        json.dumps({"text": "越界", "compound": compound_b.pk}),
        content_type="application/json",
    )
    assert api.status_code == 400 and "compound" in api.json()
    both = client.post(
        "/api/alerts/broadcasts/",
        json.dumps({"text": "两处", "compound": compound_a.pk, "street": street_a.pk}),
        content_type="application/json",
    )
    assert both.status_code == 400
    assert not Broadcast.objects.exists()
    client.force_login(staff)  # property staff do not send broadcasts
    assert client.get("/alerts/broadcasts/new/").status_code == 403
    assert client.post("/api/alerts/broadcasts/", "{}", content_type="application/json").status_code == 403


def test_the_api_sends_a_broadcast_with_a_base64_photo(client, media, compound_a, street_a, officer):
    office = person("pages-street-a", "street_office", area=street_a)
    client.force_login(office)
    body = {"text": "请留意可疑车辆", "street": street_a.pk, "photo": base64.b64encode(png()).decode()}
    response = client.post("/api/alerts/broadcasts/", json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["street"] == street_a.pk and created["compound"] is None and created["photo_url"]
    bad = client.post("/api/alerts/broadcasts/", json.dumps({**body, "photo": "@@@"}), content_type="application/json")
    assert bad.status_code == 400 and "photo" in bad.json()
    # The officer of a compound of that street receives it.
    client.force_login(officer)
    assert created["id"] in [b["id"] for b in client.get("/api/alerts/broadcasts/").json()["results"]]


def test_receivers_of_another_street_do_not_read_a_broadcast(client, compound_a, compound_b, officer):
    broadcast = actions.do_send_broadcast(acting_user=officer, text="只给本小区", compound=compound_a)
    client.force_login(person("pages-staff-b", "property_staff", compound=compound_b))
    assert client.get(f"/alerts/broadcasts/{broadcast.pk}/").status_code == 404
    assert client.get(f"/api/alerts/broadcasts/{broadcast.pk}/").status_code == 404
    assert "只给本小区" not in client.get("/alerts/broadcasts/").content.decode()
    client.force_login(person("pages-mediator-a", "mediator", compound=compound_a))
    assert client.get("/alerts/broadcasts/").status_code == 403
