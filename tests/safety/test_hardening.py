"""What a second read of the safety pages found, each pinned by a test: non-ASCII digits in ids,
mediation figures only for mediation-statistics roles, report access by scope only (not by who
asked), a report pending for good, a report or city deleted under its job, and names that look
like spreadsheet formulas."""

from __future__ import annotations

import datetime
import io

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from district.models import Area, RoleAssignment
from mediators.models import CaseFigures
from safety.choices import ReportStatus
from safety.models import Report
from safety.report_workbook import render_workbook
from safety.reports import STALE_AFTER, do_request_report, run_report
from safety.tasks import recompute_city
from tests.conftest import CITY, STREET_A, STREET_B
from tests.factories import RoleFactory
from tests.safety.helpers import snapshot, user_at

MONTH = datetime.date(2026, 10, 1)
TODAY = datetime.date(2026, 11, 15)


@pytest.mark.parametrize(
    ("url", "status"),
    [("/safety/?area=²", 200), ("/safety/settings/?city=²", 404), ("/safety/incidents/?compound=²", 200)],
)
def test_superscript_digits_are_not_ids(client, url, status):
    client.force_login(user_at("city_bureau", CITY))
    assert client.get(url).status_code == status


def test_mediation_figures_only_for_mediation_statistics_roles(client, compound_a, staff_a):
    CaseFigures.objects.create(
        compound=compound_a, category="neighbour", status="mediating", cases=7, overdue=2, refreshed_at=timezone.now()
    )
    client.force_login(staff_a)  # property staff: the index, not the cases
    assert client.get("/api/safety/dashboard/").json()["mediation"] is None
    officer = RoleFactory(user__username="officer-a", role="beat_officer", compound=compound_a).user
    client.force_login(officer)
    assert client.get("/api/safety/dashboard/").json()["mediation"]["cases"] == 7


def test_a_report_is_seen_by_scope_not_by_who_asked_for_it(client, compound_a):
    office = user_at("street_office", STREET_A)
    report, _ = do_request_report(Area.objects.get(code=STREET_A), MONTH, office, today=TODAY)
    client.force_login(office)
    assert client.get(f"/safety/reports/{report.pk}/").status_code == 200
    RoleAssignment.objects.filter(user=office).update(area=Area.objects.get(code=STREET_B))  # moved street
    for suffix in ("", "download/", "print/"):
        assert client.get(f"/safety/reports/{report.pk}/{suffix}").status_code == 404


def test_a_report_pending_for_too_long_is_given_up_and_asked_again(compound_a):
    office = user_at("street_office", STREET_A)
    street = Area.objects.get(code=STREET_A)
    first, created = do_request_report(street, MONTH, office, today=TODAY)
    assert created
    again, created = do_request_report(street, MONTH, office, today=TODAY)
    assert (again.pk, created) == (first.pk, False)
    later = timezone.now() + STALE_AFTER + datetime.timedelta(minutes=1)
    fresh, created = do_request_report(street, MONTH, office, today=TODAY, now=later)
    assert created and fresh.pk != first.pk
    first.refresh_from_db()
    assert first.status == ReportStatus.FAILED and first.error
    assert run_report(first.pk).status == ReportStatus.FAILED  # its job, if it still runs, builds nothing


def test_jobs_of_deleted_rows_end_quietly(compound_a):
    office = user_at("street_office", STREET_A)
    report, _ = do_request_report(Area.objects.get(code=STREET_A), MONTH, office, today=TODAY)
    Report.objects.filter(pk=report.pk).delete()
    assert run_report(report.pk) is None
    assert recompute_city(2**40, "2026-11-14") == 0


def test_names_that_look_like_formulas_stay_text(compound_a):
    compound_a.name = '=HYPERLINK("http://x","y")'
    compound_a.save(update_fields=["name"])
    street = Area.objects.get(code=STREET_A)
    snapshot(compound_a, datetime.date(2026, 10, 31), 80, "yellow", 4, components={"incidents": {"score": 80.0}})
    office = user_at("street_office", STREET_A)
    report, _ = do_request_report(street, MONTH, office, today=TODAY)
    run_report(report.pk)
    report.refresh_from_db()
    book = load_workbook(io.BytesIO(render_workbook(report)))
    cells = [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]
    named = [cell for cell in cells if isinstance(cell.value, str) and cell.value.startswith("=HYPERLINK")]
    assert named and all(cell.data_type == "s" for cell in named)
