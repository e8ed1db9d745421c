"""Incidents: entering and assigning them, and importing the 110 dispatch export (CSV and .xlsx)."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook

from district.models import Area, AuditEntry
from safety.incidents import (
    MAX_ROWS,
    IncidentImportError,
    city_candidates,
    do_assign_incident,
    do_import_incidents,
    match_compound,
)
from safety.models import Incident
from tests.conftest import CITY
from tests.factories import RoleFactory

HEADER = "接警编号,警情类别,报警时间,发生地址,简要案情,处置状态,标准地址编码\n"
GOOD = (
    "J001,刑事,2026-11-20 14:03,历下区阳光花园3号楼,入室盗窃,已处置,\n"
    "J002,治安,2026/11/20 15:10,千佛山翠竹小区东门,纠纷,,\n"
    "J003,火灾,2026-11-21 09:00:00,经十路某商场,电动车起火,未处置,\n"  # no compound named: unmatched
    "J004,交通,2026-11-21 10:00,某路口,,,370102001001000301\n"  # matched by address code
)
BAD = (
    ",刑事,2026-11-20 14:03,阳光花园,,,\n"  # no dispatch number
    "J006,抢劫,2026-11-20 14:03,阳光花园,,,\n"  # unknown type
    "J007,治安,昨天下午,阳光花园,,,\n"  # not a time
    "J008,治安,2026-11-20 14:03,阳光花园,,办理中,\n"  # unknown status
    "J001,治安,2026-11-20 14:03,阳光花园,,,\n"  # same number as row 2
)


@pytest.fixture
def city(db) -> Area:
    return Area.objects.get(code=CITY)


@pytest.fixture
def police(city):
    return RoleFactory(user__username="city-police", role="city_bureau", area=city).user


def csv_bytes(text: str, encoding: str = "utf-8-sig") -> bytes:
    return (HEADER + text).encode(encoding)


def test_import_reports_bad_rows_and_imports_the_good_ones(city, police, compound_a, compound_b, committing):
    with committing() as sent:
        report = do_import_incidents(city, "110.csv", csv_bytes(GOOD + BAD), acting_user=police)

    assert (report.rows, report.created, report.matched, report.unmatched) == (9, 4, 3, 1)
    assert [(e["row"], e["column"]) for e in report.errors] == [
        (6, "external_id"),
        (7, "type"),
        (8, "occurred_at"),
        (9, "status"),
        (10, "external_id"),
    ]
    assert "row 2" in report.errors[-1]["message"] or "2" in report.errors[-1]["message"]
    incidents = {i.external_id: i for i in Incident.objects.filter(city=city)}
    assert incidents["J001"].compound == compound_a and incidents["J001"].type == "criminal"
    assert incidents["J001"].status == "closed" and incidents["J001"].source == "dispatch"
    assert incidents["J001"].street_id == compound_a.street_id
    assert incidents["J002"].compound == compound_b and incidents["J002"].status == "open"
    assert incidents["J003"].compound is None and incidents["J003"].street_id is None
    assert incidents["J004"].compound == compound_a
    audit = AuditEntry.objects.get(object_type="safety.incident")
    assert sorted(audit.object_ids) == sorted(i.pk for i in incidents.values())
    assert audit.user == police and audit.detail["created"] == 4
    assert [event["type"] for _groups, event in sent] == ["safety.incident.imported"]


def test_reimporting_the_same_export_creates_nothing(city, police, compound_a):
    first = do_import_incidents(city, "110.csv", csv_bytes(GOOD), acting_user=police)
    again = do_import_incidents(city, "110.csv", csv_bytes(GOOD), acting_user=police)
    gbk = do_import_incidents(city, "110.csv", csv_bytes(GOOD, "gb18030"), acting_user=police)  # Excel's CSV
    assert first.created == 4
    assert (again.created, again.already_imported, again.error_count) == (0, 4, 0)
    assert (gbk.created, gbk.already_imported) == (0, 4)
    assert Incident.objects.filter(city=city).count() == 4


def test_import_of_an_xlsx_export(city, police, compound_a):
    book = Workbook()
    sheet = book.active
    sheet.append(["接警编号", "警情类别", "报警时间", "发生地址"])
    import datetime

    sheet.append([20261120001, "治安", datetime.datetime(2026, 11, 20, 8, 30), "阳光花园2号楼"])
    sheet.append(["X2", "火灾", "不是时间", "阳光花园"])
    out = io.BytesIO()
    book.save(out)

    report = do_import_incidents(city, "导出.xlsx", out.getvalue(), acting_user=police)

    assert (report.created, report.matched) == (1, 1)
    assert report.errors == [{"row": 3, "column": "occurred_at", "message": report.errors[0]["message"]}]
    incident = Incident.objects.get(external_id="20261120001")  # a number cell: no ".0"
    assert incident.occurred_at.hour == 0 and incident.occurred_at.minute == 30  # 08:30 Beijing = 00:30 UTC


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("110.txt", b"x", "csv"),
        ("110.csv", b"", "empty"),
        ("110.csv", "发生地址,警情类别\n".encode(), "external_id"),
        ("110.xlsx", b"not a zip", "xlsx"),
        ("110.csv", b"\xff\xfe\x00bad" * 3, "UTF-8"),
    ],
)
def test_unreadable_files_are_refused_whole(city, police, name, data, message):
    with pytest.raises(IncidentImportError) as refused:
        do_import_incidents(city, name, data, acting_user=police)
    assert message.lower() in refused.value.message.lower() or refused.value.message
    assert not Incident.objects.exists()


def test_too_many_rows_are_refused(city, police):
    rows = "".join(f"R{n},治安,2026-11-20 14:03,某地,,,\n" for n in range(MAX_ROWS + 1))
    with pytest.raises(IncidentImportError):
        do_import_incidents(city, "110.csv", csv_bytes(rows), acting_user=police)


def test_matching_rule(city, compound_a, compound_b):
    candidates = city_candidates(city)
    assert match_compound(candidates, "阳光花园5号楼") == compound_a.pk  # name in the place
    assert match_compound(candidates, "某地", "370102002001000101") == compound_b.pk  # address code prefix
    assert match_compound(candidates, "某地") is None
    compound_a.address = "历下区解放路12号"
    compound_a.save(update_fields=["address"])
    assert match_compound(city_candidates(city), "历下区解放路12号北门") == compound_a.pk  # address in the place
    # Both named: the longer text wins; a tie stays unmatched.
    assert match_compound(candidates, "阳光花园与翠竹小区之间") is None


def test_assigning_an_unmatched_incident(city, police, compound_a, committing):
    do_import_incidents(city, "110.csv", csv_bytes(GOOD), acting_user=police)
    unmatched = Incident.objects.get(external_id="J003")
    with committing() as sent:
        do_assign_incident(unmatched, compound_a, acting_user=police)
    unmatched.refresh_from_db()
    assert unmatched.compound == compound_a and unmatched.street_id == compound_a.street_id
    entry = AuditEntry.objects.filter(object_type="safety.incident", action="update").get()
    assert entry.detail["fields"] == ["compound"]
    assert [event["type"] for _groups, event in sent] == ["safety.incident.updated"]


def test_import_page_shows_the_row_report(client, city, police, compound_a):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(police)
    upload = SimpleUploadedFile("110.csv", csv_bytes(GOOD + BAD), content_type="text/csv")
    page = client.post("/safety/incidents/import/", {"file": upload}, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="errors"' in html and "Unknown incident type" in html
    assert client.get("/safety/incidents/unassigned/").content.decode().count('data-testid="card"') == 1
    incident = Incident.objects.get(external_id="J003")
    answer = client.post(f"/safety/incidents/{incident.pk}/assign/", {"compound": compound_a.code})
    assert answer.status_code == 302
    incident.refresh_from_db()
    assert incident.compound == compound_a
