"""Imports in batches (issue #8, part 4): rows checked one by one, written together, reported on their own row.

A batch's rows are looked up and written through the bulk actions; each row still gets its own
outcome or its own errors, in file order, and the audit log gets one row per kind, verb and
batch (naming the import job), not one per record. The reader that streams the workbook gives
the values openpyxl gives.
"""

from __future__ import annotations

import datetime
import io
import zipfile

import openpyxl
import pytest
from django.test import override_settings
from django.utils import translation
from django_tenants.utils import tenant_context

from district.models import AuditAction, AuditEntry, IdentifierProbe
from registry.excel import ImportRefusedError, import_workbook, run_import, template_workbook
from registry.excel.reader import DataSheet
from registry.models import Address, House, ImportJob, Organisation, Person
from tests.factories import make_id_number, make_uscc
from tests.registry.test_excel import BAD_ID, errors_by_row, person_row, workbook
from tests.registry.test_import_bombs import MAIN, sheet, xlsx

pytestmark = pytest.mark.django_db

ROOM = {"楼栋": "6", "单元": "1", "楼层": "2", "房号": "201"}


@pytest.fixture
def english():
    with translation.override("en"):
        yield


def ids(*seqs: int) -> list[str]:
    return [make_id_number(birth=datetime.date(1975, 3, 3), seq=seq) for seq in seqs]


def test_a_batch_of_new_changed_unchanged_repeated_and_bad_rows(in_a, english):
    a, b, c, d, e, f = ids(1, 2, 3, 4, 5, 6)
    import_workbook(
        "persons", workbook("persons", [person_row(姓名="甲", 证件号码=a), person_row(姓名="乙", 证件号码=b)]), in_a
    )
    rows = [
        person_row(姓名="甲", 证件号码=a, 联系电话="13900001111"),  # row 2: changed
        person_row(姓名="乙", 证件号码=b),  # row 3: as stored
        person_row(姓名="丙", 证件号码=c),  # row 4: new
        person_row(姓名="丁", 证件号码=d, **ROOM),  # row 5: new, at a room not yet stored
        person_row(姓名="戊", 证件号码=BAD_ID),  # row 6: bad check digit
        person_row(姓名="丙二", 证件号码=c),  # row 7: the record of row 4 again
        person_row(姓名="己", 证件号码=f, 联系电话="12345"),  # row 8: bad phone…
        person_row(姓名="己", 证件号码=f, **ROOM),  # row 9: …so this row with its number is saved
        person_row(姓名="庚", 证件号码=e, 楼栋="6", 单元="1", 房号="202"),  # row 10: no floor
        person_row(姓名="己三", 证件号码=f),  # row 11: the record of row 9 again
    ]

    result = import_workbook("persons", workbook("persons", rows), in_a)

    assert (result.total, result.created, result.updated, result.unchanged) == (10, 3, 1, 1)
    errors = errors_by_row(result)
    assert [(row, [column for column, _m in errors[row]]) for row in errors] == [
        (6, ["证件号码"]),
        (7, ["证件号码"]),
        (8, ["联系电话"]),
        (10, ["楼层"]),
        (11, ["证件号码"]),
    ]
    assert "row 4" in errors[7][0][1] and "row 9" in errors[11][0][1]
    assert [e["row"] for e in result.errors] == sorted(e["row"] for e in result.errors)  # in row order
    assert Person.objects.get(id_number=a).phone == "13900001111"
    assert Person.objects.get(id_number=c).name == "丙" and Person.objects.get(id_number=f).name == "己"
    house = House.objects.get()
    assert house.address.full_name == "阳光花园6号楼1单元2层201室"
    assert set(Person.objects.filter(house=house).values_list("id_number", flat=True)) == {d, f}
    assert not Person.objects.filter(id_number=e).exists()
    assert not Address.objects.filter(number="202").exists()  # the refused row left no address behind


def test_a_job_writes_one_audit_row_per_kind_verb_and_batch_naming_the_job(in_a, superuser):
    people = [person_row(姓名=f"居民{n}", 证件号码=id_, **ROOM) for n, id_ in enumerate(ids(*range(20, 45)))]
    data = workbook("persons", people)
    job = ImportJob.objects.create(kind="persons", filename="人口.xlsx", file=data, created_by_id=superuser.pk)

    run_import(job, in_a, batch_rows=10)

    assert (job.status, job.created_count) == (ImportJob.Status.DONE, 25)
    entries = AuditEntry.objects.filter(detail__import_job=job.pk).order_by("id")
    # Batch 1 creates the room's four addresses, its house and ten persons; batches 2 and 3 ten and five persons.
    assert [(e.object_type, e.action, e.detail["count"], e.detail["rows"]) for e in entries] == [
        ("registry.address", AuditAction.CREATE, 4, "2-11"),
        ("registry.house", AuditAction.CREATE, 1, "2-11"),
        ("registry.person", AuditAction.CREATE, 10, "2-11"),
        ("registry.person", AuditAction.CREATE, 10, "12-21"),
        ("registry.person", AuditAction.CREATE, 5, "22-26"),
    ]
    persons = entries.filter(object_type="registry.person")
    assert sorted(pk for e in persons for pk in e.object_ids) == sorted(Person.objects.values_list("pk", flat=True))
    assert all(e.user == superuser and "id_number" in e.detail["fields"] for e in persons)

    # The same file again: nothing written, nothing audited. With two rows changed: one row for both.
    again = ImportJob.objects.create(kind="persons", filename="人口.xlsx", file=data, created_by_id=superuser.pk)
    run_import(again, in_a)
    assert again.unchanged_count == 25 and not AuditEntry.objects.filter(detail__import_job=again.pk).exists()
    people[3]["备注"] = people[17]["备注"] = "已走访"
    changed = ImportJob.objects.create(
        kind="persons", filename="人口.xlsx", file=workbook("persons", people), created_by_id=superuser.pk
    )
    run_import(changed, in_a)
    [entry] = AuditEntry.objects.filter(detail__import_job=changed.pk)
    assert (entry.action, entry.detail["fields"], entry.detail["count"]) == (AuditAction.UPDATE, ["notes"], 2)
    assert entry.detail["rows"] == "2-26" and len(entry.object_ids) == 2


def test_rows_naming_one_organisation_two_ways_are_saved_in_file_order(in_a):
    code_a, code_b = make_uscc(seq=31), make_uscc(seq=32)
    import_workbook("organisations", workbook("organisations", [{"单位名称": "便民超市", "楼栋": "7"}]), in_a)
    rows = [
        {"单位名称": "便民超市", "楼栋": "7", "统一社会信用代码": code_a},  # completes the code-less record
        {"单位名称": "便民超市", "楼栋": "7", "统一社会信用代码": code_b},  # then finds no code-less one: new
        {"单位名称": "便民超市", "楼栋": "7"},  # nor does this one
    ]
    result = import_workbook("organisations", workbook("organisations", rows), in_a)
    assert (result.created, result.updated, result.errors) == (2, 1, [])
    assert sorted(Organisation.objects.values_list("uscc", flat=True), key=str) == sorted(
        [code_a, code_b, None], key=str
    )


@override_settings(IDENTIFIER_PROBE_LIMIT=2)
def test_a_masked_users_lookups_in_a_batch_are_counted_in_row_order(in_a, staff_a, clock, english):
    known = ids(51, 52, 53)
    new = ids(61, 62)
    import_workbook("persons", workbook("persons", [person_row(证件号码=n) for n in known]), in_a)
    rows = [person_row(证件号码=n) for n in (known[0], new[0], known[1], new[1], known[2])]

    result = import_workbook("persons", workbook("persons", rows), in_a, acting_user=staff_a)

    # Rows 2 and 4 are lookups (registered numbers): the second reaches the limit, and every
    # registration after it is refused before its number is looked up, as the single saves do.
    assert (result.unchanged, result.created) == (2, 1)
    assert [(e["row"], e["column"]) for e in result.errors] == [(5, "证件号码"), (6, "证件号码")]
    assert all("Too many lookups" in e["message"] for e in result.errors)
    assert IdentifierProbe.objects.filter(user_id=staff_a.pk).count() == 2
    assert Person.objects.filter(id_number=new[0]).exists() and not Person.objects.filter(id_number=new[1]).exists()


# --- The reader --------------------------------------------------------------------------------


def openpyxl_lines(data: bytes) -> list[tuple[int, dict[int, object]]]:
    """The rows below the header as openpyxl's read-only mode reads them (empty cells left out)."""
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    lines = []
    for number, values in enumerate(book.worksheets[0].iter_rows(values_only=True), start=1):
        line = {index: value for index, value in enumerate(values) if value is not None}
        if number > 1 and line:
            lines.append((number, line))
    book.close()
    return lines


def reader_lines(data: bytes) -> list[tuple[int, dict[int, object]]]:
    with DataSheet("persons", data) as source:
        return [(number, line) for number, line in source.lines() if line]


def template_with(rows: list[dict[str, object] | None], *, epoch: datetime.datetime | None = None) -> bytes:
    """The persons template filled in by openpyxl (as ``workbook`` does), in the 1900 or the 1904 calendar."""
    book = openpyxl.load_workbook(io.BytesIO(template_workbook("persons")))
    if epoch is not None:
        book.epoch = epoch
    sheet = book["实有人口"]
    headers = [cell.value for cell in sheet[1]]
    for number, row in enumerate(rows, start=2):
        for column, header in enumerate(headers, start=1):
            sheet.cell(row=number, column=column, value=(row or {}).get(header))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("epoch", [None, openpyxl.utils.datetime.CALENDAR_MAC_1904], ids=["1900", "1904"])
def test_the_reader_gives_the_values_openpyxl_gives(epoch):
    rows = [
        person_row(
            入住日期=datetime.date(2020, 1, 2), 迁出日期=datetime.datetime(2024, 6, 30, 8, 30), 备注=" 前后空格 "
        ),
        person_row(楼栋=3, 单元=2.0, 楼层=1.5, 房号="0502", 标签=True, 联系电话=13912345678),
        None,
        person_row(姓名="=A1", 备注="_x005F_x000D_ 多行\n备注"),
    ]
    data = template_with(rows, epoch=epoch)
    if epoch is not None:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert b"date1904" in archive.read("xl/workbook.xml")
    assert reader_lines(data) == openpyxl_lines(data)
    dated = reader_lines(data)[0][1]
    assert dated[10] == datetime.datetime(2020, 1, 2) and dated[11] == datetime.datetime(2024, 6, 30, 8, 30)


def test_the_reader_reads_shared_strings_and_rich_text():
    strings = (
        b'<sst xmlns="' + MAIN + b'"><si><t>\xe5\xbc\xa0\xe4\xb8\x89</t></si>'  # 张三
        b'<si><r><t>3701</t></r><r><t>02198005171232</t></r><rPh sb="0" eb="1"><t>ignored</t></rPh></si></sst>'
    )
    body = [
        b'<row r="3"><c r="A3" t="s"><v>0</v></c><c r="C3" t="s"><v>1</v></c>'
        b'<c r="D3" t="str"><f>B1</f><v>13800001111</v></c><c r="E3" t="b"><v>1</v></c>'
        b'<c r="F3" t="e"><v>#N/A</v></c><c r="G3"><v>12.5</v></c><c r="H3"><v>7</v></c></row>'
    ]
    data = xlsx(sheet(body), [strings])
    assert reader_lines(data) == [
        (3, {0: "张三", 2: "370102198005171232", 3: "13800001111", 4: True, 5: "#N/A", 6: 12.5, 7: 7})
    ]
    assert reader_lines(data) == openpyxl_lines(data)


def test_the_reader_refuses_a_cell_that_is_not_what_its_type_says(english):
    data = xlsx(sheet([b'<row r="2"><c r="A2" t="s"><v>5</v></c></row>']), [b'<sst xmlns="' + MAIN + b'"/>'])
    with pytest.raises(ImportRefusedError, match="not an Excel workbook"):
        reader_lines(data)


def test_rows_of_another_compound_are_not_touched(in_a, compound_b):
    data = workbook("persons", [person_row(证件号码=ids(90)[0], **ROOM)])
    assert import_workbook("persons", data, in_a).created == 1
    with tenant_context(compound_b):
        assert import_workbook("persons", data, compound_b).created == 1
        assert Address.objects.count() == 4 and House.objects.count() == 1
    assert Address.objects.count() == 4 and Person.objects.count() == 1
