"""Batch ID screening (part 4): a list of ID numbers against the city's watch-list, as a job with progress.

The pages and the chunked action run in the usual rolled-back transaction; the end-to-end
run with a real procrastinate worker commits (``TestWithAWorker``: its own ``db``).
"""

from __future__ import annotations

import datetime
import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.utils import timezone, translation
from django_tenants.utils import tenant_context
from openpyxl import Workbook
from procrastinate.contrib.django.models import ProcrastinateJob

from access.models import ScreeningBatch
from access.screening import (
    ALERT_KIND,
    SCREEN_IDS_TASK,
    ScreeningInterruptedError,
    do_create_screening_batch,
    do_screen_next_chunk,
    parse_id_lines,
    read_id_file,
    run_screening,
)
from access.watchlist import do_end_watch_entry, do_save_watch_entry
from district.models import Area, AuditAction, AuditEntry
from events.models import Alert, WatchlistEntry, WatchlistState
from tests.conftest import CITY
from tests.factories import RoleFactory, UserFactory, make_id_number

WANTED_ID = make_id_number(seq=331)
ENDED_ID = make_id_number(seq=332)
EXPIRED_ID = make_id_number(seq=333)
BAD_CHECK_DIGIT = WANTED_ID[:17] + ("0" if WANTED_ID[17] != "0" else "1")


def numbers(count: int) -> list[str]:
    """``count`` distinct valid ID numbers (none of the watched ones: born 1950 and after)."""
    return [
        make_id_number(birth=datetime.date(1950, 1, 1) + datetime.timedelta(days=n // 400), seq=n % 400)
        for n in range(count)
    ]


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


def signed_in(user: Any) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def watch(user: Any) -> dict[str, WatchlistEntry]:
    """A wanted person in force, an ended entry and an expired one, in compound A's city."""
    city = Area.objects.get(code=CITY)
    made = {
        label: do_save_watch_entry(
            WatchlistEntry(city=city, kind="wanted", name=f"{label}某", id_number=number), acting_user=user
        )
        for label, number in (("wanted", WANTED_ID), ("ended", ENDED_ID), ("expired", EXPIRED_ID))
    }
    do_end_watch_entry(made["ended"], acting_user=user)
    # Expired since: set in the row, as time passing would (the action refuses a past expiry).
    WatchlistEntry.objects.filter(pk=made["expired"].pk).update(expires_at=timezone.now() - datetime.timedelta(days=1))
    return made


@pytest.fixture
def beat_officer(compound_a: Any) -> Any:
    return RoleFactory(user__username="beat-a", role="beat_officer", compound=compound_a).user


# --- Reading the list -----------------------------------------------------------------------------


def test_each_line_is_checked_and_bad_lines_are_reported_by_number():
    parsed = parse_id_lines(["身份证号", WANTED_ID, "", " " + ENDED_ID.lower(), "12345", BAD_CHECK_DIGIT, WANTED_ID])
    assert parsed.numbers == [WANTED_ID, ENDED_ID]  # header skipped, normalised, each once
    assert [line for line, _why in parsed.invalid] == [5, 6]
    assert "18 characters" in parsed.invalid[0][1] and "check digit" in parsed.invalid[1][1]
    assert parsed.duplicates == 1


def test_a_list_longer_than_a_batch_is_refused(settings):
    settings.ACCESS_SCREENING_MAX_IDS = 3
    with pytest.raises(ValidationError, match="at most 3"):
        parse_id_lines(numbers(4))
    assert len(parse_id_lines(["", *numbers(3), ""]).numbers) == 3


def test_csv_and_xlsx_files_give_their_first_column():
    gbk = "\r\n".join(["身份证号,姓名", f"{WANTED_ID},张三", f"{ENDED_ID},李四"]).encode("gb18030")
    assert read_id_file("新员工.csv", gbk) == ["身份证号", WANTED_ID, ENDED_ID]
    book = Workbook()
    sheet = book.active
    for row in (["身份证号"], [WANTED_ID], [370102198005170013], [None]):
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    lines = read_id_file("新员工.xlsx", out.getvalue())
    # A number typed into Excel keeps 15 significant digits: its check digit then says so.
    assert lines[:2] == ["身份证号", WANTED_ID] and lines[2].isdigit() and lines[2] != "370102198005170013"
    assert [line for line, _why in parse_id_lines(lines).invalid] == [3]
    with pytest.raises(ValidationError, match=r"\.csv or \.xlsx"):
        read_id_file("list.pdf", b"%PDF")
    with pytest.raises(ValidationError, match="Excel"):
        read_id_file("broken.xlsx", b"PK\x03\x04 not a zip")
    with pytest.raises(ValidationError, match="larger than"):
        read_id_file("big.csv", b"1" * (1024 * 1024 + 1))


# --- The chunked screening ------------------------------------------------------------------------


def test_the_batch_is_screened_chunk_by_chunk_and_a_hit_raises_an_alert(in_a, superuser, committing):
    watched = watch(superuser)
    ids = numbers(1197)
    ids[700:700] = [ENDED_ID, WANTED_ID, EXPIRED_ID]
    batch = do_create_screening_batch(in_a, ids, label="某公司新员工", acting_user=superuser)
    assert (batch.total, batch.done, batch.finished_at) == (1200, 0, None)
    assert ProcrastinateJob.objects.filter(task_name=SCREEN_IDS_TASK, args__batch_id=batch.pk).count() == 1
    row = AuditEntry.objects.filter(action=AuditAction.CREATE, object_type="access.screeningbatch").get()
    assert row.compound == in_a and row.detail == {"fields": ["id_numbers", "label", "total"], "count": 1200}

    client = signed_in(superuser)
    url = f"/c/{in_a.code}/access/screening/{batch.pk}/"

    def next_chunk() -> ScreeningBatch:
        # A request leaves the connection in the public schema: the action runs in the compound's.
        with tenant_context(in_a):
            return do_screen_next_chunk(batch.pk, in_a)

    with committing() as sent:
        first = next_chunk()
    assert (first.done, first.hits, first.finished_at) == (500, [], None)
    assert sent[-1][1] == {"type": "access.screening.progress", "id": batch.pk, "done": 500, "total": 1200, "hits": 0}
    partial = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "500 of 1200 screened" in partial and 'data-progress="41"' in partial and "hx-get" in partial

    second = next_chunk()
    assert second.done == 1000
    assert [(hit["index"], hit["entry_id"]) for hit in second.hits] == [(701, watched["wanted"].pk)]
    alert = Alert.objects.get(kind=ALERT_KIND)
    assert (alert.compound_id, alert.severity, alert.watch_entry_id) == (in_a.pk, "high", watched["wanted"].pk)
    assert alert.fold_key == f"screening:{batch.pk}:{watched['wanted'].pk}"
    assert WANTED_ID not in str(alert.detail)

    with committing() as sent:
        last = next_chunk()
    assert last.done == 1200 and last.finished_at is not None
    assert sent[-1][1]["type"] == "access.screening.finished"
    assert next_chunk().hits == last.hits  # finished: nothing more

    page = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "hx-get" not in page  # stops polling
    assert WANTED_ID in page and "wanted某" in page and ENDED_ID not in page and EXPIRED_ID not in page
    assert AuditEntry.objects.filter(action=AuditAction.VIEW_PII, object_type="access.screeningbatch").exists()


def test_a_stopped_run_resumes_where_it_stood_without_a_second_alert(in_a, superuser):
    watch(superuser)
    ids = numbers(998)
    ids[100:100] = [WANTED_ID]
    ids.append(WANTED_ID.lower())  # the same person again, written otherwise: screened once
    ids = parse_id_lines(ids).numbers
    batch = do_create_screening_batch(in_a, ids, acting_user=superuser)
    asked = iter([False, True])
    with pytest.raises(ScreeningInterruptedError):
        run_screening(batch.pk, in_a, should_stop=lambda: next(asked))
    assert ScreeningBatch.objects.get(pk=batch.pk).done == 500
    finished = run_screening(batch.pk, in_a)
    assert finished.done == finished.total == 999
    assert len(finished.hits) == 1 and Alert.objects.filter(kind=ALERT_KIND).count() == 1


def test_a_watched_number_in_another_city_is_no_hit(in_a, superuser):
    other = Area.objects.create(level="city", code="370200", name="青岛市")
    do_save_watch_entry(WatchlistEntry(city=other, kind="wanted", id_number=WANTED_ID), acting_user=superuser)
    batch = do_create_screening_batch(in_a, [WANTED_ID], acting_user=superuser)
    assert run_screening(batch.pk, in_a).hits == []


# --- The pages -------------------------------------------------------------------------------------


def test_the_form_screens_good_lines_and_reports_bad_ones(compound_a, beat_officer):
    client = signed_in(beat_officer)
    url = f"/c/{compound_a.code}/access/screening/"
    assert client.get(url).status_code == 200
    text = "\n".join([WANTED_ID, "not a number", ENDED_ID, BAD_CHECK_DIGIT, ""])
    response = client.post(url, {"label": "新员工", "ids": text})
    assert response.status_code == 302
    with tenant_context(compound_a):
        batch = ScreeningBatch.objects.get()
    assert response["Location"] == f"{url}{batch.pk}/"
    assert batch.id_numbers == [WANTED_ID, ENDED_ID] and batch.total == 2 and batch.created_by == beat_officer
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert "2 ID numbers are being screened." in said
    [report] = [m for m in said if "not screened" in m]
    assert report.startswith("2 lines were not screened: line 2:") and "line 4:" in report
    assert BAD_CHECK_DIGIT not in report  # by line number, never the contents
    page = client.get(f"{url}{batch.pk}/").content.decode()
    assert "0 of 2 screened" in page and 'hx-trigger="every 1s"' in page
    assert "<script>" not in page


def test_a_list_without_a_valid_number_or_too_long_is_refused(compound_a, beat_officer, settings):
    client = signed_in(beat_officer)
    url = f"/c/{compound_a.code}/access/screening/"
    response = client.post(url, {"ids": "abc\n123"})
    assert response.status_code == 422
    assert "There is no valid ID number to screen." in response.content.decode()
    settings.ACCESS_SCREENING_MAX_IDS = 2
    response = client.post(url, {"ids": "\n".join(numbers(3))})
    assert response.status_code == 422 and "at most 2" in response.content.decode()
    upload = SimpleUploadedFile("ids.csv", WANTED_ID.encode())
    response = client.post(url, {"ids": ENDED_ID, "file": upload})
    assert response.status_code == 422 and "not both" in response.content.decode()
    with tenant_context(compound_a):
        assert not ScreeningBatch.objects.exists()


def test_an_uploaded_file_is_screened(compound_a, beat_officer):
    client = signed_in(beat_officer)
    upload = SimpleUploadedFile("新员工.csv", f"身份证号\r\n{WANTED_ID}\r\n{ENDED_ID}\r\n".encode("utf-8-sig"))
    response = client.post(f"/c/{compound_a.code}/access/screening/", {"file": upload})
    assert response.status_code == 302
    with tenant_context(compound_a):
        assert ScreeningBatch.objects.get().id_numbers == [WANTED_ID, ENDED_ID]


@pytest.mark.parametrize("who", ["staff_a", "admin_a"])
def test_only_police_screen(who, request, compound_a):
    client = signed_in(request.getfixturevalue(who))
    assert client.get(f"/c/{compound_a.code}/access/screening/").status_code == 403
    assert client.post(f"/c/{compound_a.code}/access/screening/", {"ids": WANTED_ID}).status_code == 403


def test_the_beat_officer_of_another_compound_cannot_open_these_batches(compound_a, compound_b, superuser):
    with tenant_context(compound_a):
        batch = do_create_screening_batch(compound_a, [WANTED_ID], acting_user=superuser)
    officer_b = RoleFactory(user__username="beat-b", role="beat_officer", compound=compound_b).user
    client = signed_in(officer_b)
    assert client.get(f"/c/{compound_a.code}/access/screening/{batch.pk}/").status_code == 404
    assert client.get(f"/c/{compound_b.code}/access/screening/{batch.pk}/").status_code == 404


# --- With a real worker (committed) ----------------------------------------------------------------


class TestWithAWorker:
    """The job as a worker runs it: the batch stored and queued by the page, screened to its end."""

    @pytest.fixture
    def db(self, committed_db: None) -> None:
        """Here ``db`` commits (a worker's connection must see the rows): see ``committed_db``."""

    @pytest.fixture
    def screener(self, fresh_compound: Any) -> Iterator[Any]:
        """A committed superuser, deleted with its audit rows after the test.

        Not ``committed_superuser``: deleting a user from the public schema fails while
        compound tables (access consents, batches) hold foreign keys to users, which the
        deletion must null in the schema that has them: here, the fresh compound's.
        """
        user = UserFactory(username="screening-root", is_superuser=True, is_staff=True)
        try:
            yield user
        finally:
            connection.set_schema_to_public()
            AuditEntry.objects.filter(user=user).delete()
            with tenant_context(fresh_compound):
                user.delete()

    @pytest.fixture
    def watched(self, screener: Any, fresh_compound: Any) -> Iterator[dict[str, WatchlistEntry]]:
        made = watch(screener)
        try:
            yield made
        finally:
            connection.set_schema_to_public()
            Alert.objects.filter(compound_id=fresh_compound.pk).delete()
            WatchlistEntry.objects.filter(pk__in=[e.pk for e in made.values()]).delete()
            WatchlistState.objects.filter(city__code=CITY).delete()

    def test_a_worker_screens_the_batch_and_the_page_shows_the_hit(self, fresh_compound, screener, watched, run_jobs):
        client = signed_in(screener)
        ids = numbers(1200)
        ids[900:900] = [WANTED_ID, ENDED_ID, EXPIRED_ID, "12345"]
        response = client.post(f"/c/{fresh_compound.code}/access/screening/", {"ids": "\n".join(ids)})
        assert response.status_code == 302
        with tenant_context(fresh_compound):
            batch = ScreeningBatch.objects.get()
        assert batch.total == 1203 and batch.done == 0  # nothing ran inline; the bad line left out

        run_jobs()

        with tenant_context(fresh_compound):
            batch = ScreeningBatch.objects.get()
        assert batch.done == 1203 and batch.finished_at is not None
        assert [(hit["index"], hit["id_number"]) for hit in batch.hits] == [(900, WANTED_ID)]
        alert = Alert.objects.get(compound_id=fresh_compound.pk, kind=ALERT_KIND)
        assert alert.severity == "high" and alert.watch_entry_id == watched["wanted"].pk
        assert not ProcrastinateJob.objects.filter(task_name=SCREEN_IDS_TASK).exists()
        page = client.get(f"/c/{fresh_compound.code}/access/screening/{batch.pk}/").content.decode()
        assert 'data-finished="yes"' in page and "1203 of 1203 screened" in page and WANTED_ID in page
        client.logout()
