"""Monthly reports: requesting (scope, duplicates, bounds), the job's steps and progress, the
workbook's cells for hand-made snapshots, the download and the print view.

The snapshots: October 2026 is the report's month, September the month before.

- compound A (street A, 1,200 residents): 80.00 on 30 Sep; 70.00 on 15 Oct; 85.50 on 31 Oct
  (its month-end) with alerts (60) its weakest component → +5.50;
- compound B (street B, 800 residents): 70.00 on 30 Sep; 58.00 on 30 Oct (its month-end: B has
  no snapshot on the 31st), prevention (20) its weakest → −12.00;
- incidents in October: two public-order in A (one closed), one criminal in B; one each just
  before and just after October (Beijing time), which the report leaves out.
"""

from __future__ import annotations

import datetime
import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from openpyxl import load_workbook

from district.models import Area, AuditAction, AuditEntry, RoleAssignment
from safety.choices import ReportStatus
from safety.models import AreaIndexSnapshot, CompoundIndexSnapshot, Incident, Report
from safety.reports import ReportInterruptedError, do_request_report, run_report
from safety.snapshots import do_roll_up
from tenants.models import Compound
from tests.conftest import CITY, CODE_A, CODE_B, DISTRICT, STREET_A, STREET_B
from tests.factories import RoleFactory

MONTH = datetime.date(2026, 10, 1)
NOW = datetime.datetime(2026, 11, 1, 0, 30, tzinfo=datetime.UTC)
BEIJING = datetime.timezone(datetime.timedelta(hours=8))
LIST = "/safety/reports/"
COMPONENTS_A = {
    "incidents": {"score": 90.0, "weight": 0.4, "weighted_incidents": 2.0, "rate_per_1000": 1.67},
    "alerts": {"score": 60.0, "weight": 0.2, "weighted_alerts": 4.0, "acknowledged_in_time": 0.5},
    "disputes": {"score": 100.0, "weight": 0.15, "overdue": 0},
    "prevention": {"score": 80.0, "weight": 0.25, "devices_online": 0.9},
}
COMPONENTS_B = {
    "incidents": {"score": 85.0},
    "alerts": {"score": 100.0},
    "disputes": {"score": 100.0},
    "prevention": {"score": 20.0, "devices_online": 0.0, "registry_complete": 0.5},
}


def make_snapshots() -> None:
    """The snapshots and incidents of the module docstring, rolled up."""
    city, district = Area.objects.get(code=CITY), Area.objects.get(code=DISTRICT)
    a, b = Compound.objects.get(code=CODE_A), Compound.objects.get(code=CODE_B)
    rows = [
        (a, datetime.date(2026, 9, 30), "80.00", "yellow", 4, {}),
        (a, datetime.date(2026, 10, 15), "70.00", "orange", 3, {}),
        (a, datetime.date(2026, 10, 31), "85.50", "yellow", 4, COMPONENTS_A),
        (b, datetime.date(2026, 9, 30), "70.00", "orange", 3, {}),
        (b, datetime.date(2026, 10, 30), "58.00", "red", 1, COMPONENTS_B),
    ]
    for compound, day, score, band, stars, components in rows:
        CompoundIndexSnapshot.objects.create(
            compound=compound,
            street_id=compound.street_id,
            district_id=district.pk,
            city_id=city.pk,
            day=day,
            score=Decimal(score),
            band=band,
            stars=stars,
            population=compound.population,
            components=components,
            computed_at=NOW,
        )
    for day in sorted({row[1] for row in rows}):
        do_roll_up(city, day, now=NOW)
    incidents = [
        (a, "public_order", datetime.datetime(2026, 10, 1, 0, 10, tzinfo=BEIJING), "open"),
        (a, "public_order", datetime.datetime(2026, 10, 20, 12, tzinfo=BEIJING), "closed"),
        (b, "criminal", datetime.datetime(2026, 10, 31, 23, 50, tzinfo=BEIJING), "open"),
        (a, "fire", datetime.datetime(2026, 9, 30, 23, 50, tzinfo=BEIJING), "open"),
        (a, "fire", datetime.datetime(2026, 11, 1, 0, 5, tzinfo=BEIJING), "open"),
    ]
    for compound, kind, at, status in incidents:
        Incident.objects.create(
            city=city,
            district=district,
            street_id=compound.street_id,
            compound=compound,
            type=kind,
            occurred_at=at,
            place="报告路1号",
            status=status,
        )


def user_at(role: str, code: str) -> Any:
    return RoleFactory(user__username=f"rep-{role}-{code}", role=role, area=Area.objects.get(code=code)).user


def workbook_of(data: bytes) -> Any:
    return load_workbook(io.BytesIO(data))


def rows_of(sheet: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in sheet.iter_rows(values_only=True)]


# --- Through a real worker (committed data) -----------------------------------------------------


class TestJob:
    @pytest.fixture
    def db(self, committed_db: None) -> None:
        """Here ``db`` commits, so the worker's connections see the reports and their jobs."""

    @pytest.fixture
    def world(self, committed_db: None) -> Iterator[dict[str, Any]]:
        make_snapshots()
        users = {"street": user_at("street_office", STREET_A), "district": user_at("district_branch", DISTRICT)}
        try:
            yield users
        finally:
            connection.set_schema_to_public()
            Report.objects.all().delete()
            Incident.objects.filter(place="报告路1号").delete()
            CompoundIndexSnapshot.objects.filter(day__year=2026).delete()
            AreaIndexSnapshot.objects.filter(day__year=2026).delete()
            for user in users.values():
                AuditEntry.objects.filter(user=user).delete()
                RoleAssignment.objects.filter(user=user).delete()
                user.delete()

    def test_reports_built_by_a_worker(self, client, world, run_jobs):
        client.force_login(world["street"])
        response = client.post(LIST, {"area": Area.objects.get(code=STREET_A).pk, "month": "2026-10"})
        assert response.status_code == 302
        street_report = Report.objects.get(area__code=STREET_A)
        assert response["Location"] == f"/safety/reports/{street_report.pk}/"
        assert (street_report.status, street_report.progress, street_report.language) == ("queued", 0, "en")
        audit = AuditEntry.objects.get(user=world["street"], object_type="safety.report")
        assert audit.action == AuditAction.CREATE and audit.detail["month"] == "2026-10"
        district_report, created = do_request_report(Area.objects.get(code=DISTRICT), MONTH, world["district"])
        assert created

        run_jobs()

        street_report.refresh_from_db()
        district_report.refresh_from_db()
        for report in (street_report, district_report):
            assert (report.status, report.progress, report.error) == (ReportStatus.DONE, 100, "")
            assert report.finished_at is not None
        assert street_report.content["index"]["children"][0]["change"] == 5.5

        # The street's workbook, downloaded by its requester.
        response = client.get(f"/safety/reports/{street_report.pk}/download/")
        assert response.status_code == 200
        assert response["Content-Disposition"] == f'attachment; filename="safety-report-{STREET_A}-2026-10.xlsx"'
        book = workbook_of(response.content)
        assert book.sheetnames == ["Index table", "Changes", "Top issues"]
        index = book["Index table"]
        assert index["A1"].value == "解放路街道 · 2026-10 · Safety index monthly report"
        assert index["A2"].value == "Month-end: 2026-10-31; compared with 2026-09-30."
        assert rows_of(index)[4] == ("Name", "Code", "Month-end", "Score", "Band", "Stars", "Change", "Population")
        assert rows_of(index)[5] == ("阳光花园", CODE_A, "2026-10-31", 85.5, "Yellow", 4, 5.5, 1200)
        assert rows_of(index)[6] == ("解放路街道 (total)", None, "2026-10-31", 85.5, "Yellow", 4, 5.5, 1200)
        assert index["G6"].number_format == "+0.00;-0.00;0.00"
        changes = rows_of(book["Changes"])
        assert changes[3] == ("Biggest rises", None, None, None, None)
        assert changes[5] == ("阳光花园", CODE_A, 80.0, 85.5, 5.5)
        assert changes[7] == ("Biggest falls", None, None, None, None)
        assert changes[9] == ("No compound has a snapshot in both months.", None, None, None, None)
        issues = rows_of(book["Top issues"])
        assert issues[5][:6] == ("阳光花园", CODE_A, 85.5, "Yellow", "Alerts", 60)
        assert issues[5][6] == "acknowledged in time 0.5; weighted alerts 4.0"
        assert issues[5][7] == 2  # A's two October incidents; the fires of 30 Sep and 1 Nov are outside

        # The district's: its streets at their own month-ends, B's fall, B's weakest first.
        book = workbook_of(bytes(Report.objects.get(pk=district_report.pk).workbook))
        index = rows_of(book["Index table"])
        assert index[5] == ("解放路街道", STREET_A, "2026-10-31", 85.5, "Yellow", 4, 5.5, 1200)
        assert index[6] == ("千佛山街道", STREET_B, "2026-10-30", 58.0, "Red", 1, -12.0, 800)
        changes = rows_of(book["Changes"])
        assert changes[5] == ("阳光花园", CODE_A, 80.0, 85.5, 5.5)
        assert changes[9] == ("翠竹小区", CODE_B, 70.0, 58.0, -12.0)
        issues = rows_of(book["Top issues"])
        assert [row[0] for row in issues[5:7]] == ["翠竹小区", "阳光花园"]
        assert issues[5][4:6] == ("Prevention", 20)
        counted = {row[0]: row[1] for row in issues[10:18]}
        assert counted == {
            "Criminal": 1,
            "Public order": 2,
            "Fire": 0,
            "Traffic": 0,
            "Other": 0,
            "Open": 2,
            "Closed": 1,
            "Total": 3,
        }

        # The street office may not open the district's report (its area is not theirs): 404.
        assert client.get(f"/safety/reports/{district_report.pk}/download/").status_code == 404


# --- In the test's transaction ------------------------------------------------------------------


@pytest.fixture
def snapshots(db: None) -> None:
    make_snapshots()


def test_each_step_commits_its_progress_and_a_rerun_resumes(snapshots, admin_a, street_a):
    report, _ = do_request_report(street_a, MONTH, admin_a)
    asked = []

    def stop_after_first_step() -> bool:
        asked.append(1)
        return len(asked) > 1

    with pytest.raises(ReportInterruptedError):
        run_report(report.pk, should_stop=stop_after_first_step)
    report.refresh_from_db()
    assert (report.status, report.progress, list(report.content)) == ("running", 30, ["index"])
    done = run_report(report.pk)
    assert (done.status, done.progress) == ("done", 100)
    assert sorted(Report.objects.get(pk=report.pk).content) == ["changes", "incidents", "index", "issues"]


def test_a_month_without_snapshots_says_so(db, admin_a, street_a):
    report, _ = do_request_report(street_a, datetime.date(2003, 5, 1), admin_a)
    done = run_report(report.pk)
    assert done.status == "done"
    book = workbook_of(bytes(Report.objects.get(pk=report.pk).workbook))
    sheet = book["Index table"]
    assert sheet["A1"].value == "解放路街道 · 2003-05 · Safety index monthly report"
    assert sheet["A2"].value == "No index snapshot in this month: the index is computed every night."
    assert sheet["A6"].value == "No snapshot."


def test_asking_again_while_queued_returns_the_same_report(client, snapshots, admin_a, street_a):
    client.force_login(admin_a)
    first = client.post(LIST, {"area": street_a.pk, "month": "2026-10"})
    second = client.post(LIST, {"area": street_a.pk, "month": "2026-10"}, follow=True)
    assert first["Location"] == second.redirect_chain[0][0]
    assert Report.objects.count() == 1
    assert b"This report is already being built." in second.content
    assert AuditEntry.objects.filter(object_type="safety.report").count() == 1
    # Once built, asking again makes a new report (fresh figures).
    run_report(Report.objects.get().pk)
    assert client.post(LIST, {"area": street_a.pk, "month": "2026-10"}).status_code == 302
    assert Report.objects.count() == 2


@pytest.mark.parametrize(
    ("month", "message"),
    [("2999-01", b"The month has not begun yet."), ("1999-12", b"Reports start in January 2000."), ("10/2026", b"")],
)
def test_months_out_of_bounds_are_refused(client, admin_a, street_a, month, message):
    client.force_login(admin_a)
    response = client.post(LIST, {"area": street_a.pk, "month": month})
    assert response.status_code == 422
    assert b'data-testid="error-month"' in response.content and message in response.content
    assert not Report.objects.exists()


def test_a_street_cannot_ask_for_or_open_another_streets_report(client, snapshots, admin_a):
    street_b = Area.objects.get(code=STREET_B)
    other = user_at("street_office", STREET_B)
    report_b, _ = do_request_report(street_b, MONTH, other)
    run_report(report_b.pk)
    client.force_login(admin_a)
    response = client.post(LIST, {"area": street_b.pk, "month": "2026-10"})
    assert response.status_code == 422 and b'data-testid="error-area"' in response.content
    page = client.get(LIST)
    assert "千佛山街道" not in page.content.decode()  # neither a choice nor a listed report
    for suffix in ("", "download/", "print/"):
        assert client.get(f"/safety/reports/{report_b.pk}/{suffix}").status_code == 404
    assert client.get("/safety/reports/999999/").status_code == 404
    # The district above both streets sees B's report.
    client.force_login(user_at("district_branch", DISTRICT))
    assert client.get(f"/safety/reports/{report_b.pk}/download/").status_code == 200


def test_a_city_or_compound_is_not_a_report_area(snapshots, superuser):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        do_request_report(Area.objects.get(code=CITY), MONTH, superuser)


def test_progress_fragment_and_print_view(client, snapshots, admin_a, street_a):
    client.force_login(admin_a)
    report, _ = do_request_report(street_a, MONTH, admin_a)
    url = f"/safety/reports/{report.pk}/"
    fragment = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert 'data-status="queued"' in fragment and f'hx-get="{url}"' in fragment and "<html" not in fragment
    assert client.get(f"{url}print/").status_code == 404  # not built yet
    run_report(report.pk)
    fragment = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert 'data-status="done"' in fragment and "hx-get" not in fragment and "download/" in fragment
    page = client.get(f"{url}print/").content.decode()
    assert "解放路街道 · 2026-10 · Safety index monthly report" in page
    assert "Month-end: 2026-10-31; compared with 2026-09-30." in page
    assert "<td>85.50</td>" in page and "<td>+5.50</td>" in page
    assert "css/reports.css" in page and "style=" not in page
