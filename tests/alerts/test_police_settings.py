"""Models set by the police: property staff see them on the settings page but cannot switch them off,
neither through the page (disabled fields: a crafted post is ignored) nor through the action."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from alerts.actions import do_save_alert_rule
from alerts.catalogue import MODELS
from alerts.models import AlertRule
from tests.alerts.test_pages import person, settings_body

POLICE_SET = sorted(code for code, model in MODELS.items() if model.set_by_police)


@pytest.fixture
def staff(compound_a):
    return person("police-settings-staff", "property_staff", compound=compound_a)


@pytest.fixture
def officer(compound_a):
    return person("police-settings-officer", "beat_officer", compound=compound_a)


def test_the_police_set_the_watch_list_and_escalation_models():
    assert {"watchlist_hit", "screening_hit", "key_area_plate", "dispute_high_risk"} <= set(POLICE_SET)


def test_property_staff_see_them_locked_and_a_crafted_post_changes_nothing(client, compound_a, staff):
    client.force_login(staff)
    page = client.get(f"/alerts/settings/{compound_a.pk}/").content.decode()
    assert page.count('data-testid="set-by-police"') == len(POLICE_SET)
    off = {f"{code}__enabled": None for code in POLICE_SET}
    body = settings_body(**off, dispute_high_risk__severity="low", crowd__threshold="350")
    assert client.post(f"/alerts/settings/{compound_a.pk}/", body).status_code == 302
    rules = {r.model: r for r in AlertRule.objects.filter(compound=compound_a)}
    assert set(rules) == {"crowd"}  # their own models saved; the police ones untouched


def test_the_action_refuses_them_to_property_staff(compound_a, staff):
    with pytest.raises(PermissionDenied):
        do_save_alert_rule(compound_a, "watchlist_hit", acting_user=staff, enabled=False)
    assert not AlertRule.objects.filter(compound=compound_a).exists()


def test_the_beat_officer_sets_them(client, compound_a, officer):
    client.force_login(officer)
    page = client.get(f"/alerts/settings/{compound_a.pk}/").content.decode()
    assert 'data-testid="set-by-police"' not in page
    body = settings_body(dispute_high_risk__enabled=None)
    assert client.post(f"/alerts/settings/{compound_a.pk}/", body).status_code == 302
    assert AlertRule.objects.get(compound=compound_a, model="dispute_high_risk").enabled is False
