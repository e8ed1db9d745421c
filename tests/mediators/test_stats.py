"""Mediation statistics (mediators/stats.py): sums of the public figures, the rates' definitions, scope, export."""

from __future__ import annotations

import datetime
import io
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from openpyxl import load_workbook

from district.models import Area
from mediators.models import CaseFigures
from mediators.stats import build_report, node_for
from tests.conftest import CITY, DISTRICT, STREET_A, STREET_B
from tests.factories import RoleFactory

URL = "/mediation-stats/"
NOW = timezone.now()


def figures(compound: Any, category: str, status: str, cases: int, **more: int) -> CaseFigures:
    return CaseFigures.objects.create(
        compound=compound, category=category, status=status, cases=cases, refreshed_at=NOW, **more
    )


@pytest.fixture
def rows(compound_a: Any, compound_b: Any) -> None:
    """Compound A: 7 cases; compound B: 5 (see each row)."""
    figures(compound_a, "neighbour", "registered", 2, overdue=1)
    figures(compound_a, "neighbour", "agreement", 3, concluded=3, days_to_conclude=30)
    figures(compound_a, "labour", "failed", 1, concluded=1, days_to_conclude=12)
    figures(compound_a, "labour", "closed", 1, concluded=1, days_to_conclude=8)
    figures(compound_b, "family", "mediating", 4, overdue=2)
    figures(compound_b, "family", "referred", 1, concluded=1, days_to_conclude=5)


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_city_totals_sum_every_compound_and_define_the_rates(rows: None, db: None) -> None:
    user = RoleFactory(role="city_bureau", area=Area.objects.get(code=CITY)).user
    report = build_report(user, None)
    t = report.total
    assert (t.cases, t.open, t.overdue, t.concluded) == (12, 6, 3, 6)
    # Success: agreements (3) ÷ cases now at agreement, failed or referred (3 + 1 + 1).
    assert (t.agreements, t.outcomes, str(t.success_rate)) == (3, 5, "60.0")
    assert str(t.average_days) == "9.2"  # (30 + 12 + 8 + 5) ÷ 6 concluded
    page = client_for(user).get(URL)
    assert page.status_code == 200
    text = page.content.decode()
    assert 'data-testid="stat-cases">12<' in text
    assert "60.0%" in text
    assert "÷" in text  # the definition is on the page


def test_drill_down_city_district_street_compound(rows: None, compound_a: Any, db: None) -> None:
    user = RoleFactory(role="city_bureau", area=Area.objects.get(code=CITY)).user
    city = build_report(user, node_for(user, area=CITY))
    assert [(n.area.code, f.cases) for n, f in city.rows] == [(DISTRICT, 12)]
    district = build_report(user, node_for(user, area=DISTRICT))
    assert [(n.area.code, f.cases) for n, f in district.rows] == [(STREET_A, 7), (STREET_B, 5)]
    street = build_report(user, node_for(user, area=STREET_A))
    assert [(n.compound.code, f.cases, f.overdue) for n, f in street.rows] == [(compound_a.code, 7, 1)]
    one = build_report(user, node_for(user, compound=compound_a.code))
    assert one.total.cases == 7
    assert [n.name for n in one.trail] == ["济南市", "历下区", "解放路街道"]
    matrix = {code: counts for code, _label, counts, _total in one.categories}
    statuses = [code for code, _label, _n in one.statuses]
    assert matrix["neighbour"][statuses.index("agreement")] == 3
    assert "family" not in matrix


def test_a_street_user_sees_only_its_compounds(rows: None, admin_a: Any, compound_b: Any) -> None:
    report = build_report(admin_a, None)
    assert report.total.cases == 7
    assert [n.area.code for n, _f in report.rows] == [STREET_A]
    client = client_for(admin_a)
    assert client.get(URL).status_code == 200
    assert client.get(URL, {"compound": compound_b.code}).status_code == 404
    assert client.get(URL, {"area": STREET_B}).status_code == 404
    assert client.get(URL, {"area": DISTRICT}).status_code == 404  # above its roles: not its figures
    assert client.get(URL, {"area": "999999"}).status_code == 404


def test_a_beat_officer_sees_its_compound_and_property_staff_none(
    rows: None, compound_a: Any, staff_a: Any, db: None
) -> None:
    officer = RoleFactory(role="beat_officer", compound=compound_a).user
    assert build_report(officer, None).total.cases == 7
    assert client_for(officer).get(URL, {"compound": compound_a.code}).status_code == 200
    assert client_for(staff_a).get(URL).status_code == 403
    assert Client().get(URL).status_code == 302


def test_export_holds_the_same_aggregates(rows: None, admin_a: Any) -> None:
    response = client_for(admin_a).get(URL + "export.xlsx", {"area": STREET_A})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(response.content))
    summary, by_area, matrix = wb.worksheets
    lines = list(summary.iter_rows(values_only=True))
    assert [line[1] for line in lines[2:6]] == [7, 2, 1, 5]  # cases, open, overdue, concluded
    assert by_area.max_row == 2  # the header and compound A
    assert matrix.cell(row=matrix.max_row, column=matrix.max_column).value == 7
    assert client_for(admin_a).get(URL + "export.xlsx", {"area": STREET_B}).status_code == 404


def test_figures_refreshed_from_a_compound_reach_the_statistics(in_a: Any, admin_a: Any) -> None:
    """do_refresh_figures copies the compound's cases into the rows the statistics sum."""
    from mediation.actions import PartyData, do_register_case, do_transition_case
    from mediation.figures import do_refresh_figures

    officer = RoleFactory(role="beat_officer", compound=in_a).user
    registered = datetime.datetime(2026, 3, 2, 2, 0, tzinfo=datetime.UTC)
    case, _ = do_register_case(
        acting_user=officer,
        source="walk_in",
        category="neighbour",
        title="统计测试",
        description="",
        parties=[PartyData(role="applicant", name="王统计")],
        now=registered,
    )
    for status, days in (("accepted", 1), ("mediating", 2), ("agreement", 4)):
        case = do_transition_case(case, status, acting_user=officer, now=registered + datetime.timedelta(days=days))
    do_refresh_figures(in_a, now=registered + datetime.timedelta(days=5))
    report = build_report(admin_a, None)
    assert (report.total.cases, report.total.agreements, report.total.concluded) == (1, 1, 1)
    assert str(report.total.average_days) == "4.0"
