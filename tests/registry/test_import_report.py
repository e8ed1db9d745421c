"""The import report tells everything (issue #8): every error of a row, the error file, masked copies."""

from __future__ import annotations

import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation
from django_tenants.utils import tenant_context

from registry.excel import export_workbook, import_workbook, run_import
from registry.excel.error_file import REASON_HEADER
from registry.models import ImportJob, Person
from tests.factories import PersonFactory, make_id_number
from tests.registry.test_excel import BAD_ID, ID_1, ID_2, errors_by_row, person_row, workbook


def test_a_row_with_four_problems_reports_four(in_a):
    rows = [
        person_row(证件号码=BAD_ID, 联系电话="12345", 居住类型="临时", 入住日期="2024-13-01"),
        person_row(证件号码=ID_2),
    ]
    result = import_workbook("persons", workbook("persons", rows), in_a)
    errors = errors_by_row(result)
    assert sorted(column for column, _message in errors[2]) == ["入住日期", "居住类型", "联系电话", "证件号码"]
    assert result.failed == 1 and len(result.errors) == 4 and result.created == 1


def test_a_masked_export_is_refused_with_one_message(in_a):
    for seq in range(15):
        PersonFactory(id_number=make_id_number(seq=seq), phone=f"138{seq:08d}")
    masked = export_workbook("persons", Person.objects.all(), mask_pii=True)
    job = ImportJob.objects.create(kind="persons", filename="导出.xlsx", file=masked)
    with translation.override("zh-hans"):
        run_import(job, in_a)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED and job.errors == []
    assert job.message.startswith("这是脱敏导出的文件")
    # An unmasked export of the same records imports as it is.
    plain = ImportJob.objects.create(
        kind="persons", filename="导出.xlsx", file=export_workbook("persons", Person.objects.all())
    )
    run_import(plain, in_a)
    assert (plain.status, plain.unchanged_count, plain.errors) == (ImportJob.Status.DONE, 15, [])


class TestErrorFile:
    """Through the pages and a real worker: these commit (see ``committed_db``)."""

    @pytest.fixture
    def db(self, committed_db: None) -> None:
        """Here ``db`` commits, so the worker's connection sees the upload."""

    def test_fixed_and_imported_again_imports_its_rows(self, fresh_compound, committed_superuser, run_jobs):
        error_file_round_trip(fresh_compound, committed_superuser, run_jobs)


def error_file_round_trip(fresh_compound, committed_superuser, run_jobs) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(committed_superuser)
    base = f"/c/{fresh_compound.code}/import/"
    rows = [
        person_row(证件号码=ID_1),
        person_row(姓名="李四", 证件号码=BAD_ID, 联系电话="12345"),
        person_row(姓名="王五", 证件号码=ID_2, 居住类型="临时"),
    ]
    client.post(base, {"kind": "persons", "file": SimpleUploadedFile("人口.xlsx", workbook("persons", rows))})
    run_jobs()
    with tenant_context(fresh_compound):
        job = ImportJob.objects.defer("file").get()
    assert (job.created_count, job.failed_rows, len(job.errors)) == (1, 2, 3)
    status = client.get(f"{base}{job.pk}/").content.decode()
    assert f"{base}{job.pk}/errors.xlsx" in status and 'data-testid="failed-rows">2<' in status

    response = client.get(f"{base}{job.pk}/errors.xlsx")
    assert response.status_code == 200 and "errors" not in response["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    sheet = book.active
    header = [cell.value for cell in sheet[1]]
    assert header[-1] == REASON_HEADER and sheet.max_row == 3  # the header and the two failed rows
    col = {name: index for index, name in enumerate(header)}
    li, wang = sheet[2], sheet[3]
    assert li[col["姓名"]].value == "李四" and wang[col["姓名"]].value == "王五"
    assert li[col["证件号码"]].fill.fill_type == "solid" and li[col["联系电话"]].fill.fill_type == "solid"
    assert li[col["姓名"]].fill.fill_type is None
    assert "证件号码" in li[col[REASON_HEADER]].value and "联系电话" in li[col[REASON_HEADER]].value
    assert "居住类型" in wang[col[REASON_HEADER]].value

    li[col["证件号码"]].value = make_id_number(seq=7)
    li[col["联系电话"]].value = "13912345678"
    wang[col["居住类型"]].value = "流动"
    fixed = io.BytesIO()
    book.save(fixed)
    client.post(base, {"kind": "persons", "file": SimpleUploadedFile("人口-错误.xlsx", fixed.getvalue())})
    run_jobs()
    with tenant_context(fresh_compound):
        again = ImportJob.objects.defer("file").exclude(pk=job.pk).get()
        assert (again.status, again.created_count, again.errors) == (ImportJob.Status.DONE, 2, [])
        assert Person.objects.count() == 3
        assert Person.objects.get(id_number=ID_2).residence_type == "floating"

        ImportJob.objects.filter(pk=job.pk).update(file=b"")  # purged after the retention period
    assert client.get(f"{base}{job.pk}/errors.xlsx").status_code == 410
    assert 'data-testid="error-file-gone"' in client.get(f"{base}{job.pk}/").content.decode()
    client.logout()


def test_header_words_are_the_form_labels_and_old_words_still_import(in_a):
    from registry.choices import RelationToHouse
    from registry.excel.columns import RELATIONS, SPECS
    from registry.kinds import KINDS

    with translation.override("zh-hans"):
        for spec in SPECS.values():
            # Every column that is a field of the form carries the form's label as its header
            # (房屋用途, 面积, 单位名称, 单位类型 come from contexts where the plain msgid says 用途 …).
            form = KINDS[spec.kind].form()
            pairs = [(c.header, str(form.fields[c.field].label)) for c in spec.columns if c.field in form.fields]
            assert [header for header, label in pairs if header != label] == [], pairs
            assert len(pairs) >= 6, pairs
        assert str(KINDS["houses"].filter_label) == "房屋用途"
        assert str(KINDS["organisations"].filter_label) == "单位类型"
        assert str(RelationToHouse.OWNER.label) == RELATIONS.label(RelationToHouse.OWNER) == "房主"
        words = "".join(str(f.verbose_name) for spec in SPECS.values() for f in spec.model._meta.concrete_fields)
        assert not [word for word in ("户主", "人口类型", "迁入日期", "产权人") if word in words]

    # An old template's header words still import.
    book = openpyxl.load_workbook(io.BytesIO(workbook("persons", [person_row(居住类型="流动", 入住日期="2020-01-02")])))
    sheet = book.active
    for cell in sheet[1]:
        cell.value = {"居住类型": "人口类型", "入住日期": "迁入日期"}.get(cell.value, cell.value)
    old = io.BytesIO()
    book.save(old)
    result = import_workbook("persons", old.getvalue(), in_a)
    assert result.created == 1 and not result.errors
    person = Person.objects.get()
    assert person.residence_type == "floating" and str(person.move_in_date) == "2020-01-02"
