"""The audit log in words (issue #6): the page, the API's summary, the verb and record-type
filters, and the CSV/Excel exports (reason required, audit.view, the reader's scope only, and
an audit row of their own). Rows come from the real actions, as in production."""

from __future__ import annotations

import csv
import io
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import tenant_context
from openpyxl import load_workbook

from district.actions import do_assign_role
from district.audit import AuditFilterForm, do_record_audit
from district.audit_display import present
from district.models import Area, AuditAction, AuditEntry
from registry.actions import do_delete, do_save_person
from registry.models import Person
from tenants.models import Compound
from tests.factories import RoleFactory, make_id_number

User = get_user_model()

PAGE = "/audit/"
API = "/api/audit/"
CSV = "/audit/export.csv"
XLSX = "/audit/export.xlsx"
BOM = b"\xef\xbb\xbf"


@pytest.fixture
def bureau(db):
    """市局 of 济南市 (370100): compounds A and B are in its scope."""
    return RoleFactory(user__username="shiju", role="city_bureau", area=Area.objects.get(code="370100")).user


@pytest.fixture
def changes(compound_a, staff_a):
    """Property staff of A creates, edits and deletes persons; one more is created by the system."""
    with tenant_context(compound_a):
        person = do_save_person(
            Person(name="唐僧", id_number=make_id_number(seq=901), phone="13800000901"), acting_user=staff_a
        )
        person.name, person.phone = "唐三藏", "13800000902"
        do_save_person(person, acting_user=staff_a)
        gone = do_save_person(Person(name="白骨精", id_number=make_id_number(seq=902)), acting_user=staff_a)
        gone_pk = gone.pk
        do_delete(gone, acting_user=staff_a)
        seeded = do_save_person(Person(name="沙僧", id_number=make_id_number(seq=903)))

    def row(action: str, pk: int) -> AuditEntry:
        return AuditEntry.objects.get(action=action, object_type="registry.person", object_ids=[pk])

    return SimpleNamespace(
        person=person,
        gone_pk=gone_pk,
        create=row("create", person.pk),
        update=row("update", person.pk),
        delete=row("delete", gone_pk),
        create_gone=row("create", gone_pk),
        system=row("create", seeded.pk),
    )


@pytest.fixture
def role_row(bureau, compound_a) -> AuditEntry:
    """The bureau makes 王网格 grid worker of compound A."""
    target = User.objects.create(username="wangge")
    assignment = do_assign_role(bureau, target, "grid_worker", compound=compound_a)
    return AuditEntry.objects.get(action="assign_role", object_ids=[assignment.pk])


@pytest.fixture
def elsewhere_row(db) -> AuditEntry:
    """A row of a compound of 青岛市, outside the bureau's scope (a row; no schema needed)."""
    city = Area.objects.create(level="city", code="370200", name="青岛市")
    district = Area.objects.create(level="district", code="370202", name="市南区", parent=city)
    street = Area.objects.create(level="street", code="370202001", name="八大峡街道", parent=district)
    compound = Compound.objects.create(schema_name="c370202001001", street=street, code="370202001001", name="海景花园")
    return do_record_audit(User.objects.create(username="qingdao"), AuditAction.VIEW_PII, compound=compound)


def entries_table(html: str) -> str:
    """The rows' table of the audit page (the filter form's option values are codes, by design)."""
    return html[html.index('data-testid="audit-entries"') : html.index("</table>")]


def page_ids(client, **params) -> set[int]:
    response = client.get(PAGE, params)
    assert response.status_code == 200
    return {row.entry.pk for row in response.context["rows"]}


# --- The page and the API in words ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "words"),
    [
        (
            "zh-hans",
            ["新建记录", "修改记录", "删除记录", "人员 #", "姓名、联系电话", "出生日期、证件号码", "staff-a", "系统"],
        ),
        (
            "en",
            ["Created a record", "Changed a record", "Deleted a record", "Person #", "full name, phone", "System"],
        ),
    ],
)
def test_page_shows_registry_changes_in_words(client, bureau, changes, language, words):
    client.force_login(bureau)
    html = client.get(PAGE, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    table = entries_table(html)
    for word in words:
        assert word in table, word
    assert "registry.person" not in table and "{" not in table and "'fields'" not in table
    assert " style=" not in html and "<script>" not in html  # the content security policy forbids them


def test_records_link_to_their_page_unless_deleted(client, bureau, changes, compound_a):
    client.force_login(bureau)
    rows = {row.entry.pk: row for row in client.get(PAGE).context["rows"]}
    link = f"/c/{compound_a.code}/persons/{changes.person.pk}/"
    assert rows[changes.create.pk].record_url == link and rows[changes.update.pk].record_url == link
    assert rows[changes.delete.pk].record_url is None
    assert rows[changes.create_gone.pk].record_url is None  # its record was deleted since
    assert f'href="{link}"' in client.get(PAGE).content.decode()


def test_role_rows_name_role_node_and_user(client, bureau, role_row):
    client.force_login(bureau)
    row = present(role_row)
    assert row.record.startswith("角色分配 #") and row.record_url is None
    assert row.details == "角色：网格员；所在节点：阳光花园（370102001001）；目标用户：wangge"
    assert row.summary.startswith("shiju — 授予角色：角色分配 #")
    assert "wangge" in entries_table(client.get(PAGE).content.decode())


def test_unknown_record_types_and_empty_rows_never_show_codes(db):
    odd = do_record_audit(User.objects.create(username="x"), AuditAction.EXPORT, object_type="gone.model")
    assert present(odd).record == "记录：0 条记录"
    searched = do_record_audit(
        User.objects.create(username="y"),
        AuditAction.SEARCH_ID_NUMBER,
        object_type="registry.person",
        object_ids=[1, 2, 3],
        detail={"q": "37010219800517001X", "unexpected": {"a": 1}},
    )
    row = present(searched)
    assert (row.record, row.details) == ("人员：3 条记录", "搜索：37010219800517001X")


def test_api_rows_carry_a_summary_in_the_requests_language(client, bureau, changes):
    client.force_login(bureau)
    pk = changes.person.pk
    (zh,) = client.get(API, {"action": "update"}).json()["results"]
    assert zh["summary"] == f"staff-a — 修改记录：人员 #{pk}（姓名、联系电话）"
    assert zh["object_type"] == "registry.person" and zh["detail"] == {"fields": ["name", "phone"]}  # kept
    (en,) = client.get(API, {"action": "update"}, HTTP_ACCEPT_LANGUAGE="en").json()["results"]
    assert en["summary"] == f"staff-a — Changed a record: Person #{pk} (full name, phone)"


# --- Filters -------------------------------------------------------------------------------------


def test_the_verb_filter_lists_every_verb_with_its_label():
    choices = dict(AuditFilterForm().fields["action"].choices)
    assert set(AuditAction.values) <= set(choices)
    assert choices["update"] == AuditAction.UPDATE.label


def test_verb_and_record_type_filters_narrow(client, bureau, changes, role_row):
    client.force_login(bureau)
    assert page_ids(client, action="update") == {changes.update.pk}
    assert page_ids(client, action="delete") == {changes.delete.pk}
    assert page_ids(client, record_type="district.roleassignment") == {role_row.pk}
    person_rows = {changes.create.pk, changes.update.pk, changes.create_gone.pk, changes.delete.pk, changes.system.pk}
    assert page_ids(client, record_type="registry.person") == person_rows
    created = {changes.create.pk, changes.create_gone.pk, changes.system.pk}
    assert page_ids(client, record_type="registry.person", action="create") == created
    assert client.get(API, {"record_type": "registry.house"}).json()["results"] == []
    assert client.get(API, {"record_type": "nonsense"}).status_code == 400


# --- Exports -------------------------------------------------------------------------------------


def csv_rows(content: bytes) -> list[list[str]]:
    assert content.startswith(BOM)  # Excel reads UTF-8 CSV as UTF-8 only with it
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def xlsx_rows(content: bytes) -> list[list[object]]:
    sheet = load_workbook(io.BytesIO(content)).worksheets[0]
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def test_csv_export_holds_the_filtered_rows_in_words_and_is_audited(client, bureau, changes):
    client.force_login(bureau)
    response = client.post(CSV, {"reason": "专项核查", "action": "update"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment; filename*=UTF-8''" in response["Content-Disposition"]
    header, *rows = csv_rows(response.content)
    assert header[:6] == ["时间", "用户", "操作", "小区", "记录类型", "记录"]
    (row,) = rows
    cells = dict(zip(header, row, strict=True))
    assert (cells["用户"], cells["操作"], cells["记录"]) == ("staff-a", "修改记录", f"人员 #{changes.person.pk}")
    assert (cells["变更字段"], cells["审计记录编号"]) == ("姓名、联系电话", str(changes.update.pk))
    assert "registry.person" not in response.content.decode("utf-8-sig")
    export = AuditEntry.objects.get(action="export", object_type="district.auditentry")
    assert (export.user, export.username, export.compound, export.reason) == (bureau, "shiju", None, "专项核查")
    assert export.object_ids == [changes.update.pk]
    assert export.detail == {"format": "csv", "filters": {"action": "update"}, "rows": 1}
    assert present(export).details == "格式：CSV；筛选条件：操作：修改记录"


def test_xlsx_export_holds_the_rows_in_words(client, bureau, changes):
    client.force_login(bureau)
    response = client.post(XLSX, {"reason": "专项核查", "record_type": "registry.person"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    header, *rows = xlsx_rows(response.content)
    assert header[:3] == ["time", "user", "action"]
    by_id = {row[header.index("audit entry id")]: row for row in rows}
    assert set(by_id) == {getattr(changes, name).pk for name in ("create", "update", "create_gone", "delete", "system")}
    deleted = by_id[changes.delete.pk]
    assert (deleted[header.index("action")], deleted[header.index("record")]) == (
        "Deleted a record",
        f"Person #{changes.gone_pk}",
    )
    assert by_id[changes.system.pk][header.index("user")] == "System"
    export = AuditEntry.objects.get(action="export", object_type="district.auditentry")
    assert sorted(export.object_ids) == sorted(by_id)
    assert export.detail["format"] == "xlsx" and export.detail["filters"] == {"record_type": "registry.person"}


@pytest.mark.parametrize(("language", "message"), [("zh-hans", "请填写导出原因"), ("en", "Please give the reason")])
@pytest.mark.parametrize("url", [CSV, XLSX])
def test_an_export_without_a_reason_is_refused(client, bureau, changes, url, language, message):
    client.force_login(bureau)
    response = client.post(url, {"reason": "", "action": "update"}, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not AuditEntry.objects.filter(action="export").exists()


@pytest.mark.parametrize("who", ["admin_a", "staff_a"])
def test_an_export_needs_audit_view(client, request, changes, who):
    client.force_login(request.getfixturevalue(who))
    assert client.post(CSV, {"reason": "专项核查"}).status_code == 403
    assert client.post(XLSX, {"reason": "专项核查"}).status_code == 403
    assert not AuditEntry.objects.filter(action="export").exists()


def test_an_export_is_a_post(client, bureau, changes):
    client.force_login(bureau)
    assert client.get(CSV, {"reason": "专项核查"}).status_code == 405
    assert client.post("/audit/export.pdf", {"reason": "专项核查"}).status_code == 404
    assert not AuditEntry.objects.filter(action="export").exists()


def test_an_export_holds_only_rows_of_the_readers_scope(client, bureau, changes, compound_b, elsewhere_row):
    in_b = do_record_audit(User.objects.create(username="bob"), AuditAction.VIEW_PII, compound=compound_b)
    no_compound = do_record_audit(User.objects.create(username="carol"), AuditAction.ASSIGN_ROLE)
    client.force_login(bureau)
    header, *rows = csv_rows(client.post(CSV, {"reason": "全市核查"}).content)
    exported = {int(row[header.index("审计记录编号")]) for row in rows}
    assert in_b.pk in exported and changes.update.pk in exported
    assert elsewhere_row.pk not in exported and no_compound.pk not in exported
    assert exported == set(AuditEntry.objects.filter(compound__code__startswith="370102").values_list("pk", flat=True))
    export = AuditEntry.objects.get(action="export", object_type="district.auditentry")
    assert set(export.object_ids) == exported


def test_a_cut_export_says_so(client, bureau, changes, monkeypatch):
    monkeypatch.setattr("district.views_audit.MAX_EXPORT_ROWS", 2)
    client.force_login(bureau)
    _header, *rows = csv_rows(client.post(CSV, {"reason": "专项核查"}).content)
    *data, note = rows
    assert len(data) == 2 and "仅含最新的 2 条记录" in note[0]
    export = AuditEntry.objects.get(action="export", object_type="district.auditentry")
    assert len(export.object_ids) == 2 and export.detail["truncated"] is True
    assert "截至 2 行" in present(export).details


def test_typed_text_never_becomes_a_formula(client, bureau, compound_a):
    formula = '=HYPERLINK("http://example.com","x")'
    do_record_audit(User.objects.create(username="z"), AuditAction.EXPORT, compound=compound_a, reason=formula)
    client.force_login(bureau)
    header, *rows = csv_rows(client.post(CSV, {"reason": "专项核查"}).content)
    assert rows[0][header.index("原因")] == "'" + formula
    sheet = load_workbook(io.BytesIO(client.post(XLSX, {"reason": "专项核查"}).content)).worksheets[0]
    reason_column = [c.value for c in sheet[1]].index("原因") + 1
    cell = sheet.cell(row=2, column=reason_column)
    assert (cell.value, cell.data_type) == (formula, "s")


def test_the_page_offers_the_export_with_its_filters(client, bureau, changes):
    client.force_login(bureau)
    html = client.get(PAGE, {"action": "update", "user": "staff"}).content.decode()
    form = html[html.index('data-testid="audit-export"') :]
    form = form[: form.index("</form>")]
    assert 'name="csrfmiddlewaretoken"' in form and 'name="reason"' in form
    assert '<input type="hidden" name="action" value="update">' in form
    assert '<input type="hidden" name="user" value="staff">' in form
    assert 'formaction="/audit/export.xlsx"' in form
