"""Uploaded files are deleted a retention period after their import ended; the report stays (issue #7).

The clock is injected: ``now`` for the action, the scheduled ``timestamp`` for the daily task.
"""

from __future__ import annotations

import datetime

from django.db import connection
from django.test import override_settings
from django_tenants.utils import tenant_context

from district.jobs import app
from registry.excel import do_purge_import_files
from registry.models import ImportJob
from registry.tasks import PURGE_IMPORT_FILES, purge_import_files

NOW = datetime.datetime(2026, 12, 1, 19, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)
UPLOAD = b"PK\x03\x04 an uploaded workbook"
ERRORS = [{"row": 3, "column": "证件号码", "message": "校验位错误"}]


def make_job(status: str, ended: datetime.datetime | None) -> ImportJob:
    return ImportJob.objects.create(
        kind="persons",
        filename="人口.xlsx",
        file=UPLOAD,
        status=status,
        finished_at=ended,
        total_rows=4,
        processed_rows=4,
        created_count=3,
        errors=ERRORS,
        message="",
    )


def stored_file(job: ImportJob) -> bytes:
    return bytes(ImportJob.objects.values_list("file", flat=True).get(pk=job.pk))


def test_files_of_imports_that_ended_a_retention_period_ago_are_deleted_and_reports_kept(in_a):
    done_long_ago = make_job(ImportJob.Status.DONE, NOW - 8 * DAY)
    failed_just_now_old = make_job(ImportJob.Status.FAILED, NOW - 7 * DAY)
    done_recently = make_job(ImportJob.Status.DONE, NOW - 7 * DAY + datetime.timedelta(minutes=1))
    # Still needed by the worker, however old.
    running = make_job(ImportJob.Status.RUNNING, None)
    pending = make_job(ImportJob.Status.PENDING, None)

    assert do_purge_import_files(now=NOW) == 2

    assert stored_file(done_long_ago) == stored_file(failed_just_now_old) == b""
    for job in (done_recently, running, pending):
        assert stored_file(job) == UPLOAD
    kept = ImportJob.objects.get(pk=done_long_ago.pk)
    assert (kept.filename, kept.status, kept.created_count, kept.errors) == ("人口.xlsx", "done", 3, ERRORS)

    assert do_purge_import_files(now=NOW) == 0  # nothing left to delete
    assert do_purge_import_files(now=NOW + DAY) == 1  # a day later the recent one has aged
    assert stored_file(done_recently) == b""


@override_settings(REGISTRY_IMPORT_FILE_RETENTION=datetime.timedelta(days=30))
def test_the_retention_period_is_a_setting(in_a):
    job = make_job(ImportJob.Status.DONE, NOW - 8 * DAY)
    assert do_purge_import_files(now=NOW) == 0
    assert do_purge_import_files(now=NOW + 22 * DAY) == 1
    assert stored_file(job) == b""


def test_the_daily_task_purges_every_compound_as_of_its_scheduled_time(compound_a, compound_b):
    jobs = {}
    for compound in (compound_a, compound_b):
        with tenant_context(compound):
            jobs[compound] = make_job(ImportJob.Status.FAILED, NOW - 8 * DAY)

    assert purge_import_files(timestamp=int((NOW - 2 * DAY).timestamp())) == 0  # not yet, at that time
    assert purge_import_files(timestamp=int(NOW.timestamp())) == 2

    for compound, job in jobs.items():
        with tenant_context(compound):
            assert stored_file(job) == b""
    assert connection.schema_name == "public"


def test_the_task_is_scheduled_daily():
    [periodic] = [p for p in app.periodic_registry.periodic_tasks.values() if p.task.name == PURGE_IMPORT_FILES]
    assert periodic.cron == "0 19 * * *"  # 03:00 in Beijing


def test_the_status_page_says_the_file_was_deleted(client, superuser, compound_a):
    client.force_login(superuser)
    with tenant_context(compound_a):
        job = make_job(ImportJob.Status.DONE, NOW - 8 * DAY)
    url = f"/c/{compound_a.code}/import/{job.pk}/"
    assert 'data-testid="file-deleted"' not in client.get(url).content.decode()

    with tenant_context(compound_a):
        do_purge_import_files(now=NOW)

    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-testid="file-deleted"' in page and "every upload is 7 days after its import ended" in page
    assert "校验位错误" in page  # the report stays
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans", HTTP_HX_REQUEST="true").content.decode()
    assert "上传的文件已删除（每个上传文件在导入结束 7 天后删除）" in page
