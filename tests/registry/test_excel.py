"""Excel templates, import (per-row errors, no duplicates on re-import) and export of the registry."""

from __future__ import annotations

import datetime
import io
import zipfile
from decimal import Decimal

import openpyxl
import pytest
from django.test import override_settings
from django.utils import translation
from django_tenants.utils import tenant_context

from registry.excel import (
    ImportInterruptedError,
    ImportRefusedError,
    export_workbook,
    import_workbook,
    read_rows,
    run_import,
    spec_for,
    template_workbook,
)
from registry.excel.columns import ID_TYPES, RESIDENCE_TYPES, TAGS
from registry.masking import mask_id_number, mask_phone
from registry.models import Address, House, ImportJob, Organisation, Person
from tests.factories import (
    AddressPathFactory,
    HouseFactory,
    OrganisationFactory,
    PersonFactory,
    make_id_number,
    make_uscc,
)

ID_1, ID_2, ID_3 = make_id_number(seq=1), make_id_number(seq=2, male=False), make_id_number(seq=3)
BAD_ID = ID_1[:17] + ("0" if ID_1[17] != "0" else "1")  # right shape, wrong check digit
USCC_1, USCC_2 = make_uscc(seq=1), make_uscc(seq=2)
BAD_USCC = USCC_1[:17] + ("0" if USCC_1[17] != "0" else "1")


def workbook(kind: str, rows: list[dict[str, object] | None]) -> bytes:
    """The template of ``kind`` with ``rows`` filled in by header (``None`` leaves a row blank)."""
    book = openpyxl.load_workbook(io.BytesIO(template_workbook(kind)))
    spec = spec_for(kind)
    sheet = book[spec.title]
    for number, row in enumerate(rows, start=2):
        for column, header in enumerate(spec.headers, start=1):
            sheet.cell(row=number, column=column, value=(row or {}).get(header))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def errors_by_row(result) -> dict[int, list[tuple[str, str]]]:
    found: dict[int, list[tuple[str, str]]] = {}
    for error in result.errors:
        found.setdefault(error["row"], []).append((error["column"], error["message"]))
    return found


def person_row(**cells: object) -> dict[str, object]:
    return {"姓名": "张三", "证件类型": "居民身份证", "证件号码": ID_1, "居住类型": "常住", **cells}


PERSON_ROWS: list[dict[str, object] | None] = [
    person_row(  # row 2: good, at a room that does not exist yet
        联系电话="138-1234-5678",
        楼栋="1号楼",
        单元=1,
        楼层=3,
        房号="301",
        与房屋关系="房主",
        入住日期="2020-01-02",
        迁出日期=datetime.date(2024, 6, 30),
        标签="独居老人、残疾人",
        备注="老人独居，需每周走访",
    ),
    person_row(姓名="李四", 证件号码=BAD_ID),  # row 3: bad check digit
    person_row(姓名="王五", 证件号码=ID_2, 联系电话="12345"),  # row 4: bad phone
    person_row(姓名="赵六", 证件号码=ID_3, 居住类型="临时"),  # row 5: unknown choice
    person_row(姓名=None, 证件号码=make_id_number(seq=4)),  # row 6: no name
    person_row(姓名="张三（重复）"),  # row 7: same ID as row 2
    None,  # row 8: empty, skipped
    person_row(  # row 9: good, a passport holder, no address
        姓名="John Smith",
        证件类型="护照",
        证件号码="e1234567",
        居住类型="境外",
        联系电话=13912345678,
        标签="退役军人,低收入；低保",
    ),
]


@pytest.fixture
def english():
    with translation.override("en"):
        yield


# --- Template -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["persons", "houses", "organisations"])
def test_template_has_chinese_headers_dropdowns_and_instructions(kind):
    spec = spec_for(kind)
    book = openpyxl.load_workbook(io.BytesIO(template_workbook(kind)))
    assert book.sheetnames == [spec.title, "说明"]
    sheet = book[spec.title]
    assert [cell.value for cell in sheet[1]] == spec.headers
    dropdowns = {v.formula1 for v in sheet.data_validations.dataValidation}
    choice_columns = [c for c in spec.columns if c.kind == "choice"]
    assert len(dropdowns) == len(choice_columns) > 0
    instructions = " ".join(str(c.value) for row in book["说明"].iter_rows() for c in row if c.value)
    for header in spec.headers:
        assert header in instructions


def test_person_template_columns_and_dropdown_words():
    spec = spec_for("persons")
    for header in ["姓名", "证件类型", "证件号码", "联系电话", "居住类型", "楼栋", "单元", "楼层", "房号"]:
        assert header in spec.headers
    book = openpyxl.load_workbook(io.BytesIO(template_workbook("persons")))
    dropdowns = {v.formula1 for v in book["实有人口"].data_validations.dataValidation}
    assert '"户籍,常住,流动,境外"' in dropdowns
    assert any("居民身份证" in d and "护照" in d for d in dropdowns)


def test_choice_words_accept_chinese_aliases_and_the_value_itself():
    assert RESIDENCE_TYPES.parse("流动") == "floating"
    assert RESIDENCE_TYPES.parse(" floating ") == "floating"
    assert ID_TYPES.parse("身份证") == "resident_id"
    assert TAGS.parse("低保户") == "low_income"
    assert RESIDENCE_TYPES.parse("临时") is None


# --- Import: persons ------------------------------------------------------------------------


def test_person_import_saves_good_rows_and_reports_each_bad_one(in_a, english):
    result = import_workbook("persons", workbook("persons", PERSON_ROWS), in_a)

    assert (result.total, result.created, result.updated, result.unchanged) == (7, 2, 0, 0)
    assert Person.objects.count() == 2
    errors = errors_by_row(result)
    assert sorted(errors) == [3, 4, 5, 6, 7]
    assert errors[3] == [("证件号码", "The ID number's check digit is wrong (GB 11643): please check every digit.")]
    assert errors[4][0][0] == "联系电话" and "Not a valid phone number" in errors[4][0][1]
    assert errors[5][0][0] == "居住类型" and "“临时” is not an accepted value" in errors[5][0][1]
    assert "常住" in errors[5][0][1]
    assert errors[6] == [("姓名", "This column is required.")]
    assert errors[7][0][0] == "证件号码" and "row 2" in errors[7][0][1]

    zhang = Person.objects.get(id_number=ID_1)
    assert zhang.name == "张三" and zhang.phone == "13812345678"
    assert zhang.birth_date == datetime.date(1980, 5, 17) and zhang.sex == "M"
    assert zhang.relation == "owner" and zhang.residence_type == "permanent"
    assert (zhang.move_in_date, zhang.move_out_date) == (datetime.date(2020, 1, 2), datetime.date(2024, 6, 30))
    assert zhang.tags == ["disabled", "elderly_alone"]
    # The room did not exist: the row created the address path and a house with the default use.
    assert zhang.house.address.full_name == "阳光花园1号楼1单元3层301室"
    assert zhang.house.use == "owner_occupied"

    smith = Person.objects.get(id_type="passport")
    assert smith.id_number == "E1234567" and smith.phone == "13912345678" and smith.house is None
    assert smith.residence_type == "overseas" and smith.tags == ["low_income", "veteran"]


def test_error_report_under_chinese_names_row_and_column(in_a):
    with translation.override("zh-hans"):
        result = import_workbook("persons", workbook("persons", PERSON_ROWS), in_a)
    # Only the row and column parts of the new import messages are asserted (their Chinese
    # arrives with the next makemessages); the validators' messages are already translated.
    assert {(e["row"], e["column"]) for e in result.errors} == {
        (3, "证件号码"),
        (4, "联系电话"),
        (5, "居住类型"),
        (6, "姓名"),
        (7, "证件号码"),
    }
    assert all(isinstance(e["message"], str) and e["message"] for e in result.errors)
    checksum = next(e["message"] for e in result.errors if e["row"] == 3)
    assert "GB 11643" in checksum and "check digit" not in checksum and any("\u4e00" <= c <= "\u9fff" for c in checksum)


def test_person_row_links_to_an_existing_house(in_a):
    house = HouseFactory(address=AddressPathFactory("2", "1", "5", "502"), use="rented")
    rows = [person_row(楼栋="2", 单元="1", 楼层="5", 房号="502室", 与房屋关系="租户")]
    result = import_workbook("persons", workbook("persons", rows), in_a)
    assert result.created == 1 and not result.errors
    person = Person.objects.get(id_number=ID_1)
    assert person.house == house and person.relation == "tenant"
    assert House.objects.count() == 1 and House.objects.get().use == "rented"


def test_partial_room_address_and_move_dates_are_reported(in_a, english):
    rows = [
        person_row(楼栋="1", 单元="1", 房号="301"),  # no floor
        person_row(证件号码=ID_2, 入住日期="2024-05-01", 迁出日期="2024-04-01"),
        person_row(证件号码=ID_3, 入住日期="2024-13-01"),
        person_row(证件号码=BAD_ID, 楼栋="1", 单元="1", 楼层="1", 房号="101"),  # fails after creating its room
    ]
    result = import_workbook("persons", workbook("persons", rows), in_a)
    errors = errors_by_row(result)
    assert errors[2][0][0] == "楼层" and "together" in errors[2][0][1]
    assert errors[3] == [("迁出日期", "The move-out date is before the move-in date.")]
    assert errors[4][0][0] == "入住日期" and "YYYY-MM-DD" in errors[4][0][1]
    assert errors[5][0][0] == "证件号码"
    assert result.created == 0 and not Address.objects.exists()  # the failed row's savepoint took its addresses


def test_a_room_created_by_a_failed_row_is_created_again_by_the_next_row(in_a):
    room = {"楼栋": "4", "单元": "1", "楼层": "1", "房号": "101"}
    rows = [person_row(证件号码=BAD_ID, **room), person_row(**room), person_row(证件号码=ID_2, **room)]
    result = import_workbook("persons", workbook("persons", rows), in_a)
    assert result.created == 2 and [e["row"] for e in result.errors] == [2]
    # Foreign keys are only checked at commit: look the rows up to be sure they exist.
    house = House.objects.get()
    assert Address.objects.filter(pk=house.address_id, level="room").exists()
    assert set(Person.objects.values_list("house_id", flat=True)) == {house.pk}


def test_reimporting_the_same_file_creates_no_duplicates(in_a):
    data = workbook("persons", PERSON_ROWS)
    import_workbook("persons", data, in_a)
    counts = (Person.objects.count(), House.objects.count(), Address.objects.count())

    again = import_workbook("persons", data, in_a)

    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert (Person.objects.count(), House.objects.count(), Address.objects.count()) == counts
    assert len(again.errors) == 5  # the bad rows are still bad


def test_reimport_with_a_changed_value_updates_the_row(in_a):
    import_workbook("persons", workbook("persons", [person_row(联系电话="13812345678")]), in_a)
    result = import_workbook(
        "persons", workbook("persons", [person_row(联系电话="13987654321", 标签="重点人员")]), in_a
    )
    assert (result.created, result.updated, result.unchanged) == (0, 1, 0)
    person = Person.objects.get()
    assert person.phone == "13987654321" and person.tags == ["key_person"]


# --- Import: houses and organisations -------------------------------------------------------


def test_house_import(in_a, english):
    room = {"楼栋": "3", "单元": "2", "楼层": "1", "房号": "101"}
    rows = [
        {
            **room,
            "房屋用途": "出租",
            "面积": 89.5,
            "房主姓名": "孙七",
            "房主证件号码": ID_2,
            "房主电话": "053188886666",
        },
        {**room, "房号": "102", "房屋用途": "群租", "面积": "120.25㎡"},
        {**room, "房号": "103", "房主证件号码": BAD_ID},
        {**room, "房号": "104", "房主电话": "88886666"},
        {**room, "房号": "105", "房屋用途": "仓库"},
        {**room, "房屋用途": "自住"},  # same room as row 2
        {**room, "单元": None, "房号": "106"},
        {**room, "房号": "107", "面积": "很大"},
    ]
    data = workbook("houses", rows)
    result = import_workbook("houses", data, in_a)

    assert result.created == 2
    errors = errors_by_row(result)
    assert [(row, [c for c, _m in errors[row]]) for row in sorted(errors)] == [
        (4, ["房主证件号码"]),
        (5, ["房主电话"]),
        (6, ["房屋用途"]),
        (7, ["房号"]),
        (8, ["单元"]),
        (9, ["面积"]),
    ]
    assert "check digit" in errors[4][0][1] and "row 2" in errors[7][0][1]
    assert errors[8][0][1] == "This column is required."
    house = House.objects.get(address__number="101")
    assert house.use == "rented" and house.area_sqm == Decimal("89.50") and house.owner_phone == "053188886666"
    assert House.objects.get(address__number="102").area_sqm == Decimal("120.25")

    again = import_workbook("houses", data, in_a)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert House.objects.count() == 2


def test_organisation_import(in_a, english):
    rows = [
        {
            "单位名称": "阳光便利店",
            "统一社会信用代码": USCC_1.lower(),
            "单位类型": "商铺",
            "楼栋": "5",
            "联系电话": "13800001111",
        },
        {"单位名称": "老王修鞋铺", "单位类型": "九小场所", "详细地址": "东门沿街 12 号", "从业人数": 2},
        {"单位名称": "坏代码公司", "统一社会信用代码": BAD_USCC},
        {"单位名称": "跳级单位", "单元": "1"},
        {"单位名称": "人数不明", "从业人数": "若干"},
        {"单位名称": "阳光便利店（重复）", "统一社会信用代码": USCC_1},
        {"单位名称": None, "联系人": "某人"},
    ]
    data = workbook("organisations", rows)
    result = import_workbook("organisations", data, in_a)

    assert result.created == 2
    errors = errors_by_row(result)
    assert [(row, [c for c, _m in errors[row]]) for row in sorted(errors)] == [
        (4, ["统一社会信用代码"]),
        (5, ["楼栋"]),
        (6, ["从业人数"]),
        (7, ["统一社会信用代码"]),
        (8, ["单位名称"]),
    ]
    assert "check character" in errors[4][0][1]
    shop = Organisation.objects.get(uscc=USCC_1)
    assert shop.address.full_name == "阳光花园5号楼" and shop.kind == "shop"
    cobbler = Organisation.objects.get(name="老王修鞋铺")
    assert cobbler.uscc is None and cobbler.address is None and cobbler.staff_count == 2

    again = import_workbook("organisations", data, in_a)
    assert (again.created, again.unchanged) == (0, 2)
    assert Organisation.objects.count() == 2


def test_organisation_without_code_gets_its_code_on_a_later_import(in_a):
    import_workbook("organisations", workbook("organisations", [{"单位名称": "便民超市", "楼栋": "7"}]), in_a)
    rows = [{"单位名称": "便民超市", "楼栋": "7", "统一社会信用代码": USCC_2}]
    result = import_workbook("organisations", workbook("organisations", rows), in_a)
    assert (result.created, result.updated) == (0, 1)
    assert Organisation.objects.get().uscc == USCC_2


def test_only_police_may_set_or_clear_the_key_person_tag(in_a, staff_a, superuser, english):
    rows = [person_row(标签="重点人员"), person_row(证件号码=ID_2, 标签="独居老人")]
    data = workbook("persons", rows)

    as_staff = import_workbook("persons", data, in_a, acting_user=staff_a)
    assert as_staff.created == 1
    assert as_staff.errors == [
        {"row": 2, "column": "标签", "message": "Only police roles may set or clear the key-person tag."}
    ]

    as_superuser = import_workbook("persons", data, in_a, acting_user=superuser)
    assert (as_superuser.created, as_superuser.unchanged) == (1, 1)
    # Staff may still update a key person, as long as the tag stays.
    changed = workbook("persons", [person_row(标签="重点人员", 联系电话="13700000000")])
    assert import_workbook("persons", changed, in_a, acting_user=staff_a).updated == 1


def test_run_import_applies_the_uploaders_rights(in_a, staff_a):
    data = workbook("persons", [person_row(标签="重点人员")])
    job = ImportJob.objects.create(kind="persons", filename="p.xlsx", file=data, created_by_id=staff_a.pk)
    run_import(job, in_a)
    assert job.status == ImportJob.Status.DONE and job.created_count == 0
    assert [(e["row"], e["column"]) for e in job.errors] == [(2, "标签")]


# --- Refused files --------------------------------------------------------------------------


def test_not_an_xlsx_is_refused_with_a_clear_message(in_a, english):
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    for data in (b"name,id\n", zipped.getvalue(), b""):
        with pytest.raises(ImportRefusedError) as refused:
            import_workbook("persons", data, in_a)
        assert ".xlsx" in refused.value.message


def test_missing_header_is_named(in_a, english):
    book = openpyxl.load_workbook(io.BytesIO(workbook("persons", [person_row()])))
    book["实有人口"]["C1"] = "证件号"  # a typo of 证件号码
    buffer = io.BytesIO()
    book.save(buffer)
    with pytest.raises(ImportRefusedError) as refused:
        read_rows("persons", buffer.getvalue())
    assert "missing" in refused.value.message and "证件号码" in refused.value.message
    assert not Person.objects.exists()


def test_a_file_of_another_kind_is_refused(in_a):
    with pytest.raises(ImportRefusedError) as refused:
        import_workbook("persons", template_workbook("houses"), in_a)
    assert "姓名" in refused.value.message


@override_settings(REGISTRY_IMPORT_MAX_ROWS=3)
def test_too_many_rows_are_refused(in_a, english):
    rows = [person_row(证件号码=make_id_number(seq=n)) for n in range(4)]
    with pytest.raises(ImportRefusedError) as refused:
        import_workbook("persons", workbook("persons", rows), in_a)
    assert "more than 3 rows" in refused.value.message
    assert not Person.objects.exists()


# --- Export ---------------------------------------------------------------------------------


def test_export_then_import_round_trip_creates_nothing(in_a):
    house = HouseFactory(address=AddressPathFactory("1", "2", "3", "0302"), use="group_rental", area_sqm="66.60")
    HouseFactory(owner_name="周八", owner_id_number=ID_3, owner_phone="13700001111", notes="=SUM(A1:A2)")
    PersonFactory(house=house, relation="tenant", tags=["veteran", "disabled"], move_in_date=datetime.date(2021, 3, 4))
    PersonFactory(id_type="passport", id_number="G12345678", residence_type="overseas", phone="")
    PersonFactory(notes="多行\n备注")
    OrganisationFactory(address=AddressPathFactory("1", "2"), kind="enterprise", staff_count=30)
    OrganisationFactory(uscc=None, address_detail="南门外", contact_phone="053188886666")
    models = {"persons": Person, "houses": House, "organisations": Organisation}
    before = {kind: model.objects.count() for kind, model in models.items()} | {"addresses": Address.objects.count()}

    for kind, model in models.items():
        exported = export_workbook(kind, model.objects.all())
        result = import_workbook(kind, exported, in_a)
        assert not result.errors, result.errors
        assert (result.created, result.updated, result.unchanged) == (0, 0, model.objects.count())

    after = {kind: model.objects.count() for kind, model in models.items()} | {"addresses": Address.objects.count()}
    assert after == before
    formula_note = openpyxl.load_workbook(io.BytesIO(export_workbook("houses", House.objects.all())))["实有房屋"]
    assert "=SUM(A1:A2)" in [cell.value for cell in formula_note["J"]]


def test_export_writes_chinese_words_and_address_columns(in_a):
    house = HouseFactory(address=AddressPathFactory("8", "1", "2", "201"))
    PersonFactory(name="吴九", id_number=ID_1, house=house, residence_type="floating", tags=["elderly_alone"])
    sheet = openpyxl.load_workbook(io.BytesIO(export_workbook("persons", Person.objects.all())))["实有人口"]
    row = dict(zip([c.value for c in sheet[1]], [c.value for c in sheet[2]], strict=True))
    assert row["姓名"] == "吴九" and row["证件类型"] == "居民身份证" and row["证件号码"] == ID_1
    assert row["居住类型"] == "流动" and row["标签"] == "独居老人"
    assert (row["楼栋"], row["单元"], row["楼层"], row["房号"]) == ("8", "1", "2", "201")


def test_masked_export_hides_id_numbers_and_phones_and_cannot_be_imported_back(in_a):
    PersonFactory(id_number=ID_1, phone="13812345678")
    HouseFactory(owner_id_number=ID_2, owner_phone="13912345678")
    sheet = openpyxl.load_workbook(io.BytesIO(export_workbook("persons", Person.objects.all(), mask_pii=True)))
    row = [c.value for c in sheet["实有人口"][2]]
    assert ID_1 not in row and mask_id_number(ID_1) in row and "138****5678" in row

    masked = export_workbook("houses", House.objects.all(), mask_pii=True)
    house_row = [c.value for c in openpyxl.load_workbook(io.BytesIO(masked))["实有房屋"][2]]
    assert mask_id_number(ID_2) in house_row and "139****5678" in house_row
    with pytest.raises(ImportRefusedError):
        import_workbook("houses", masked, in_a)
    assert House.objects.get().owner_id_number == ID_2


def test_masking_functions():
    assert mask_id_number("37010219800517123X") == "3701**********123X"
    assert mask_id_number("E1234567") == "E******7"
    assert mask_id_number("") == "" and mask_id_number(None) == ""
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("053188886666") == "0531****6666"  # the area code stays (registry.masking)
    assert mask_phone("12") == "**"


def test_export_refuses_a_queryset_of_another_model(in_a):
    with pytest.raises(ValueError, match="Person queryset"):
        export_workbook("persons", House.objects.all())


# --- Tenancy and jobs -----------------------------------------------------------------------


def test_rows_imported_in_a_are_not_visible_in_b(in_a, compound_b):
    data = workbook("persons", [person_row(楼栋="1", 单元="1", 楼层="1", 房号="101")])
    assert import_workbook("persons", data, in_a).created == 1

    with tenant_context(compound_b):
        assert not Person.objects.filter(id_number=ID_1).exists()
        assert not House.objects.exists()
        # B may hold the same person independently.
        assert import_workbook("persons", data, compound_b).created == 1
        assert Address.objects.get(number="101").code.startswith(compound_b.code)
    assert Person.objects.filter(id_number=ID_1).count() == 1


def test_progress_is_reported_after_each_batch(in_a):
    rows = [person_row(姓名=f"居民{n}", 证件号码=make_id_number(seq=n)) for n in range(120)]
    calls: list[tuple[int, int]] = []
    data = workbook("persons", rows)
    result = import_workbook("persons", data, in_a, progress=lambda *a: calls.append(a), batch_rows=50)
    assert result.created == 120
    assert calls == [(0, 120), (50, 120), (100, 120), (120, 120)]


def test_run_import_records_progress_counts_and_errors_on_the_job(in_a, english):
    rows = [person_row(姓名=f"居民{n}", 证件号码=make_id_number(seq=n)) for n in range(60)]
    rows.append(person_row(证件号码=BAD_ID))
    job = ImportJob.objects.create(kind="persons", filename="人口.xlsx", file=workbook("persons", rows))

    run_import(job, in_a)

    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and job.finished_at is not None
    assert job.total_rows == job.processed_rows == 61 and job.percent == 100
    assert (job.created_count, job.updated_count, job.unchanged_count) == (60, 0, 0)
    assert job.errors == [
        {
            "row": 62,
            "column": "证件号码",
            "message": "The ID number's check digit is wrong (GB 11643): please check every digit.",
        }
    ]
    assert job.message == ""


def test_run_import_of_a_bad_file_fails_the_job_with_its_reason(in_a, english):
    job = ImportJob.objects.create(kind="houses", filename="x.xls", file=b"\xd0\xcf\x11\xe0 old excel")
    run_import(job, in_a)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED and ".xlsx" in job.message and job.finished_at


def test_run_import_stops_at_a_checkpoint_and_resumes_with_the_counts_of_one_run(in_a, compound_b, english):
    rows = [person_row(姓名=f"居民{n}", 证件号码=make_id_number(seq=n)) for n in range(25)]
    rows[3] = person_row(证件号码=BAD_ID)  # sheet row 5, in the first batch
    rows[22] = person_row(姓名="又一个", 证件号码=make_id_number(seq=1))  # row 24 repeats row 3, after the checkpoint
    data = workbook("persons", rows)
    job = ImportJob.objects.create(kind="persons", filename="p.xlsx", file=data)
    asked = iter([False, False, True])  # go on, go on, stop: after two batches of 10

    with pytest.raises(ImportInterruptedError):
        run_import(job, in_a, should_stop=lambda: next(asked), batch_rows=10)

    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.total_rows) == (ImportJob.Status.RUNNING, 20, 25)
    assert (job.created_count, [e["row"] for e in job.errors]) == (19, [5])
    assert Person.objects.count() == 19 and job.finished_at is None

    run_import(ImportJob.objects.get(pk=job.pk), in_a, batch_rows=10)

    job.refresh_from_db()
    assert (job.status, job.processed_rows) == (ImportJob.Status.DONE, 25)
    assert (job.created_count, job.updated_count, job.unchanged_count) == (23, 0, 0)
    assert [e["row"] for e in job.errors] == [5, 24] and "row 3" in job.errors[1]["message"]
    assert Person.objects.count() == 23
    # The same file in one run (in compound B): the same counts and the same report.
    with tenant_context(compound_b):
        once = ImportJob.objects.create(kind="persons", filename="p.xlsx", file=data)
        run_import(once, compound_b)
    assert (once.created_count, once.updated_count, once.unchanged_count, once.errors) == (
        job.created_count,
        job.updated_count,
        job.unchanged_count,
        job.errors,
    )

    finished_at = job.finished_at
    run_import(job, in_a)  # a finished job is left as it is (e.g. a job retried after its last commit)
    job.refresh_from_db()
    assert (job.status, job.finished_at, job.created_count) == (ImportJob.Status.DONE, finished_at, 23)
