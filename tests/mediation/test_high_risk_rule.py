"""The alert model ``dispute_high_risk`` in the alert catalogue: its explanation, and each compound's
rule (on/off, severity, set on the alert settings page) governing the alert mediation raises."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.utils import translation

from alerts.catalogue import MODELS, explain
from alerts.models import AlertRule
from events.choices import Severity
from events.models import Alert
from tests.factories import RoleFactory

KIND = "dispute_high_risk"


def settings_body(**changes: Any) -> dict[str, Any]:
    """What the alert settings page posts with every model on, at its default severity and thresholds."""
    body: dict[str, Any] = {}
    for code, model in MODELS.items():
        body |= {f"{code}__enabled": "on", f"{code}__severity": ""}
        body |= {f"{code}__{name}": str(value) for name, value in model.params.items()}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def test_the_catalogue_has_the_model_with_its_explanation() -> None:
    model = MODELS[KIND]
    assert (model.severity, model.params, model.police_only, model.time_driven) == (Severity.HIGH, {}, False, False)
    detail = {"case": "TJ2026-00001", "reasons": ["abnormal_death", "violence", "not_a_reason"]}
    assert explain(KIND, detail) == (
        "Dispute case TJ2026-00001 was assessed at a high risk of escalating."
        " Reasons: Abnormal death, Threat of violence."
    )
    assert explain(KIND, {"case": "TJ2026-00002", "reasons": []}).endswith("high risk of escalating.")
    assert explain(KIND, {"reasons": "oops"}) == "Dispute case"  # a malformed row never breaks a page
    with translation.override("zh-hans"):
        assert explain(KIND, detail)  # whatever the merged translation reads, it renders


def test_on_by_default(in_a: Any, make_case: Any) -> None:
    make_case(risk="high", risk_reasons=["violence"])
    assert Alert.objects.get(kind=KIND, compound_id=in_a.pk).severity == Severity.HIGH


def test_switched_off_for_the_compound_no_alert(in_a: Any, compound_b: Any, make_case: Any, committing: Any) -> None:
    AlertRule.objects.create(compound=in_a, model=KIND, enabled=False)
    AlertRule.objects.create(compound=compound_b, model=KIND, enabled=True, severity=Severity.LOW)  # another's
    with committing() as sent:
        case = make_case(risk="high", risk_reasons=["group"])
    assert case.risk == "high"
    assert not Alert.objects.filter(kind=KIND).exists()
    assert not [p for _g, p in sent if p["type"].startswith("alert.")]


def test_the_compounds_severity_applies(in_a: Any, make_case: Any) -> None:
    AlertRule.objects.create(compound=in_a, model=KIND, enabled=True, severity=Severity.CRITICAL)
    make_case(risk="high")
    assert Alert.objects.get(kind=KIND).severity == Severity.CRITICAL


def test_raising_the_risk_later_honours_the_rule(in_a: Any, officer: Any, make_case: Any) -> None:
    from mediation.actions import do_update_case

    AlertRule.objects.create(compound=in_a, model=KIND, enabled=False)
    case = make_case()
    do_update_case(case, acting_user=officer, changes={"risk": "high", "risk_reasons": ["petition"]})
    assert not Alert.objects.filter(kind=KIND).exists()


def test_the_settings_page_switches_it_off(compound_a: Any, make_case: Any) -> None:
    # The beat officer's: property staff see the model but may not silence an escalation
    # (tests/alerts/test_police_settings.py).
    officer = RoleFactory(user__username="risk-officer-a", role="beat_officer", compound=compound_a).user
    client = Client()
    client.force_login(officer)
    page = client.get(f"/alerts/settings/{compound_a.pk}/").content.decode()
    assert "Dispute at high risk of escalating" in page
    response = client.post(f"/alerts/settings/{compound_a.pk}/", settings_body(**{f"{KIND}__enabled": None}))
    assert response.status_code == 302
    assert AlertRule.objects.get(compound=compound_a, model=KIND).enabled is False

    from django_tenants.utils import tenant_context

    with tenant_context(compound_a):
        make_case(risk="high", risk_reasons=["self_harm"])
    assert not Alert.objects.filter(kind=KIND).exists()
