"""The columns of the registry's Excel sheets, and the one table of their Chinese choice labels.

The workbook is a file format shared with property-management staff, so its headers and
choice words are fixed Chinese strings, whatever the interface language: a file written
under the English interface must import under the Chinese one. The model choices'
labels are gettext msgids (English), hence the explicit Chinese tables below.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils.translation import gettext_lazy as _

from registry.choices import HouseUse, IdType, OrganisationKind, PersonTag, RelationToHouse, ResidenceType
from registry.models import House, Lease, Organisation, Person, Vehicle

__all__ = [
    "ADDRESS_FIELDS",
    "EXPORT_SPECS",
    "HEADER_ALIASES",
    "SPECS",
    "CellKind",
    "ChoiceTable",
    "Column",
    "SheetKind",
    "SheetSpec",
    "spec_for",
]


class SheetKind(models.TextChoices):
    """What one workbook holds; the value is stored in ``ImportJob.kind``."""

    PERSONS = "persons", _("Persons")
    HOUSES = "houses", _("Houses")
    ORGANISATIONS = "organisations", _("Organisations")


class ChoiceTable:
    """Chinese words for the values of one ``TextChoices``, both ways.

    ``labels`` must name every value (checked when this module is imported, so a choice
    added to ``registry/choices.py`` without a Chinese word fails loudly, not at upload time).
    ``aliases`` are further words accepted on import but never written.
    """

    def __init__(
        self, choices: type[models.TextChoices], labels: Mapping[str, str], aliases: Mapping[str, str] | None = None
    ) -> None:
        missing = set(choices.values) - set(labels)
        extra = set(labels) - set(choices.values)
        if missing or extra:
            raise ImproperlyConfigured(f"Chinese labels of {choices.__name__}: missing {missing}, unknown {extra}")
        self.choices = choices
        self._label_of = {str(value): label for value, label in labels.items()}
        self._value_of: dict[str, str] = {}
        for word, value in [*(aliases or {}).items(), *((label, value) for value, label in labels.items())]:
            self._value_of[word] = str(value)
        for value in choices.values:
            self._value_of[value.lower()] = value

    @property
    def labels(self) -> list[str]:
        """The Chinese words, in the order of the choices."""
        return [self._label_of[value] for value in self.choices.values]

    def label(self, value: str) -> str:
        """The Chinese word of ``value`` (unknown values are written as they are)."""
        return self._label_of.get(value, value)

    def parse(self, text: str) -> str | None:
        """The choice value for a Chinese word, an alias or the value itself; ``None`` if unknown."""
        word = unicodedata.normalize("NFKC", text).strip()
        return self._value_of.get(word) or self._value_of.get(word.lower())


# --- The one place where choice values get their Chinese words ------------------------------
ID_TYPES = ChoiceTable(
    IdType,
    {
        IdType.RESIDENT_ID: "居民身份证",
        IdType.PASSPORT: "护照",
        IdType.HK_MACAO: "港澳居民来往内地通行证",
        IdType.TAIWAN: "台湾居民来往大陆通行证",
        IdType.FOREIGN_PR: "外国人永久居留身份证",
    },
    aliases={"身份证": IdType.RESIDENT_ID, "港澳通行证": IdType.HK_MACAO, "台胞证": IdType.TAIWAN},
)
RESIDENCE_TYPES = ChoiceTable(
    ResidenceType,
    {
        ResidenceType.REGISTERED: "户籍",
        ResidenceType.PERMANENT: "常住",
        ResidenceType.FLOATING: "流动",
        ResidenceType.OVERSEAS: "境外",
    },
    aliases={
        "户籍人口": ResidenceType.REGISTERED,
        "流动人口": ResidenceType.FLOATING,
        "境外人员": ResidenceType.OVERSEAS,
    },
)
RELATIONS = ChoiceTable(
    RelationToHouse,
    {
        RelationToHouse.OWNER: "房主",
        RelationToHouse.FAMILY: "家庭成员",
        RelationToHouse.TENANT: "租户",
        RelationToHouse.OTHER: "其他",
    },
    aliases={
        "户主": RelationToHouse.OWNER,
        "业主": RelationToHouse.OWNER,
        "家属": RelationToHouse.FAMILY,
        "租客": RelationToHouse.TENANT,
    },
)
TAGS = ChoiceTable(
    PersonTag,
    {
        PersonTag.ELDERLY_ALONE: "独居老人",
        PersonTag.KEY_PERSON: "重点人员",
        PersonTag.DISABLED: "残疾人",
        PersonTag.LEFT_BEHIND_CHILD: "留守儿童",
        PersonTag.VETERAN: "退役军人",
        PersonTag.LOW_INCOME: "低收入",
    },
    aliases={"低保": PersonTag.LOW_INCOME, "低保户": PersonTag.LOW_INCOME, "空巢老人": PersonTag.ELDERLY_ALONE},
)
HOUSE_USES = ChoiceTable(
    HouseUse,
    {
        HouseUse.OWNER_OCCUPIED: "自住",
        HouseUse.RENTED: "出租",
        HouseUse.VACANT: "空置",
        HouseUse.GROUP_RENTAL: "群租",
        HouseUse.COMMERCIAL: "商用",
    },
)
ORGANISATION_KINDS = ChoiceTable(
    OrganisationKind,
    {
        OrganisationKind.SHOP: "商铺",
        OrganisationKind.ENTERPRISE: "企业",
        OrganisationKind.NINE_SMALL: "九小场所",
        OrganisationKind.INSTITUTION: "事业单位",
        OrganisationKind.OTHER: "其他",
    },
    aliases={
        "商户": OrganisationKind.SHOP,
        "店铺": OrganisationKind.SHOP,
        "机关事业单位": OrganisationKind.INSTITUTION,
    },
)


class CellKind(StrEnum):
    """How a cell is read and written."""

    TEXT = "text"
    IDENTIFIER = "identifier"  # ID numbers, credit codes: normalised like the validators do
    PHONE = "phone"
    CHOICE = "choice"
    TAGS = "tags"
    DATE = "date"
    INTEGER = "integer"
    DECIMAL = "decimal"
    ADDRESS = "address"  # one level of the standard address: building, unit, floor or room


@dataclass(frozen=True)
class Column:
    """One column: its Chinese header, the model field (or address level) it fills, how to read it."""

    header: str
    field: str
    kind: CellKind = CellKind.TEXT
    required: bool = False
    choices: ChoiceTable | None = None
    default: object = ""  # the value of an empty cell
    help: str = ""  # shown on the 说明 sheet
    width: int = 14
    pii: str = ""  # "id" or "phone": masked in exports with mask_pii

    @property
    def is_text_cell(self) -> bool:
        """Cells Excel must keep as text: long digit strings lose digits, "0502" loses its zero."""
        return self.kind in (CellKind.IDENTIFIER, CellKind.PHONE, CellKind.ADDRESS)


# Address levels, top down, as the pseudo-fields of the address columns.
ADDRESS_FIELDS = ("building", "unit", "floor", "room")


def _address_columns(required: bool, help_suffix: str) -> tuple[Column, ...]:
    words = {
        "building": ("楼栋", "楼号，如 3（可写作 3号楼）"),
        "unit": ("单元", "单元号，如 2"),
        "floor": ("楼层", "楼层号，如 5"),
        "room": ("房号", "房间号，如 502"),
    }
    return tuple(
        Column(header, level, CellKind.ADDRESS, required=required, help=f"{text}。{help_suffix}", width=8)
        for level, (header, text) in words.items()
    )


# Older words for a header, accepted on import so files made with older templates (or with the
# interface's former words) still import. The interface and the templates use one word each:
# 房主 (not 户主/产权人), 居住类型 (not 人口类型), 入住日期 (not 迁入日期).
HEADER_ALIASES: Mapping[str, str] = {
    "人口类型": "居住类型",
    "迁入日期": "入住日期",
    "户主姓名": "房主姓名",
    "户主证件号码": "房主证件号码",
    "户主电话": "房主电话",
    "产权人姓名": "房主姓名",
    "产权人证件号码": "房主证件号码",
    "产权人电话": "房主电话",
}

NAME_HELP = "必填。"
PHONE_HELP = "11 位手机号，或带区号的固定电话。"
DATE_HELP = "Excel 日期，或 YYYY-MM-DD 格式的文本，如 2024-03-01。"


@dataclass(frozen=True)
class SheetSpec:
    """The columns of one kind of workbook and how its errors map back to them."""

    kind: str
    title: str  # the data sheet's name
    model: type[models.Model]
    columns: tuple[Column, ...]
    key_header: str  # where errors about the whole row (unique constraints, …) are reported
    extra_field_headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def headers(self) -> list[str]:
        """The headers, in template order."""
        return [column.header for column in self.columns]

    def header_for_field(self, field_name: str) -> str:
        """The header of the column a model field's error belongs to."""
        for column in self.columns:
            if column.field == field_name:
                return column.header
        return self.extra_field_headers.get(field_name, self.key_header)


PERSONS = SheetSpec(
    kind=SheetKind.PERSONS,
    title="实有人口",
    model=Person,
    columns=(
        Column("姓名", "name", required=True, help=NAME_HELP, width=12),
        Column(
            "证件类型",
            "id_type",
            CellKind.CHOICE,
            choices=ID_TYPES,
            default=IdType.RESIDENT_ID,
            help="下拉选择；留空即为居民身份证。",
            width=22,
        ),
        Column(
            "证件号码",
            "id_number",
            CellKind.IDENTIFIER,
            required=True,
            pii="id",
            width=22,
            help="必填。居民身份证为 18 位，按 GB 11643 校验，出生日期和性别由号码得出。",
        ),
        Column("联系电话", "phone", CellKind.PHONE, help=PHONE_HELP, pii="phone"),
        Column(
            "居住类型",
            "residence_type",
            CellKind.CHOICE,
            choices=RESIDENCE_TYPES,
            default=ResidenceType.PERMANENT,
            help="下拉选择；留空即为常住。",
            width=10,
        ),
        *_address_columns(
            False, "楼栋、单元、楼层、房号四项同填或同空；填写后人员关联到该房屋（房屋不存在时自动建立）。"
        ),
        Column("与房屋关系", "relation", CellKind.CHOICE, choices=RELATIONS, help="下拉选择，可留空。", width=12),
        Column("入住日期", "move_in_date", CellKind.DATE, default=None, help=DATE_HELP, width=12),
        Column(
            "迁出日期", "move_out_date", CellKind.DATE, default=None, help=DATE_HELP + "不得早于入住日期。", width=12
        ),
        Column(
            "标签",
            "tags",
            CellKind.TAGS,
            choices=TAGS,
            default=(),
            width=20,
            help="可填多个，用顿号（、）、逗号或分号分隔，如：独居老人、残疾人。",
        ),
        Column("备注", "notes", width=24),
    ),
    key_header="证件号码",
    # Birth date, sex and nationality are derived from the ID number; a house error is a room error.
    extra_field_headers={"birth_date": "证件号码", "sex": "证件号码", "nationality": "证件号码", "house": "房号"},
)

HOUSES = SheetSpec(
    kind=SheetKind.HOUSES,
    title="实有房屋",
    model=House,
    columns=(
        *_address_columns(True, "必填；四项确定一套房屋，重复导入按此更新而不会新增。"),
        Column(
            "房屋用途",
            "use",
            CellKind.CHOICE,
            choices=HOUSE_USES,
            default=HouseUse.OWNER_OCCUPIED,
            help="下拉选择；留空即为自住。",
            width=10,
        ),
        Column(
            "面积", "area_sqm", CellKind.DECIMAL, default=None, help="建筑面积，单位平方米，最多两位小数。", width=10
        ),
        Column("房主姓名", "owner_name", width=12),
        Column(
            "房主证件号码",
            "owner_id_number",
            CellKind.IDENTIFIER,
            pii="id",
            width=22,
            help="18 位居民身份证号码，按 GB 11643 校验。",
        ),
        Column("房主电话", "owner_phone", CellKind.PHONE, help=PHONE_HELP, pii="phone"),
        Column("备注", "notes", width=24),
    ),
    key_header="房号",
    extra_field_headers={"address": "房号"},
)

ORGANISATIONS = SheetSpec(
    kind=SheetKind.ORGANISATIONS,
    title="实有单位",
    model=Organisation,
    columns=(
        Column("单位名称", "name", required=True, help=NAME_HELP, width=24),
        Column(
            "统一社会信用代码",
            "uscc",
            CellKind.IDENTIFIER,
            width=22,
            help="18 位，按 GB 32100 校验；有代码的单位按代码识别，无代码的按名称和地址识别。",
        ),
        Column(
            "单位类型",
            "kind",
            CellKind.CHOICE,
            choices=ORGANISATION_KINDS,
            default=OrganisationKind.SHOP,
            help="下拉选择；留空即为商铺。",
            width=12,
        ),
        *_address_columns(False, "可选；可只填到楼栋或单元，但不能跳过上一级。"),
        Column("详细地址", "address_detail", width=24, help="不在楼内的单位填写，如：小区东门沿街 12 号。"),
        Column("法定代表人", "legal_representative", width=12),
        Column("联系人", "contact_name", width=12),
        Column("联系电话", "contact_phone", CellKind.PHONE, help=PHONE_HELP, pii="phone"),
        Column("从业人数", "staff_count", CellKind.INTEGER, default=0, help="整数，留空即为 0。", width=10),
    ),
    key_header="单位名称",
    extra_field_headers={"address": "房号"},
)

SPECS: dict[str, SheetSpec] = {spec.kind: spec for spec in (PERSONS, HOUSES, ORGANISATIONS)}

# Registers that are exported but not imported (issue 8, part 8): no SheetKind, no import
# template. A column's field may follow a relation ("owner.name"); a callable is called.
VEHICLES = SheetSpec(
    kind="vehicles",
    title="车辆",
    model=Vehicle,
    columns=(
        Column("号牌号码", "plate", CellKind.IDENTIFIER, required=True, width=12),
        Column("号牌种类", "get_plate_kind_display", width=12),
        Column("车辆类型", "get_vehicle_type_display", width=10),
        Column("品牌", "brand", width=12),
        Column("颜色", "colour", width=8),
        Column("车主姓名", "owner.name", width=12),
        Column("车主证件号码", "owner.id_number", CellKind.IDENTIFIER, width=22, pii="id"),
        Column("车主电话", "owner.phone", CellKind.PHONE, pii="phone"),
    ),
    key_header="号牌号码",
)

LEASES = SheetSpec(
    kind="leases",
    title="租赁",
    model=Lease,
    columns=(
        Column("租户姓名", "tenant.name", required=True, width=12),
        Column("租户证件号码", "tenant.id_number", CellKind.IDENTIFIER, width=22, pii="id"),
        Column("租户电话", "tenant.phone", CellKind.PHONE, pii="phone"),
        *_address_columns(True, ""),
        Column("起租日期", "start_date", CellKind.DATE, required=True, help=DATE_HELP),
        Column("止租日期", "end_date", CellKind.DATE, help=DATE_HELP),
    ),
    key_header="房号",
)

EXPORT_SPECS: dict[str, SheetSpec] = {**SPECS, VEHICLES.kind: VEHICLES, LEASES.kind: LEASES}


def spec_for(kind: str) -> SheetSpec:
    """The sheet of ``kind``: an import kind ("persons", "houses", "organisations") or an export-only one."""
    try:
        return EXPORT_SPECS[kind]
    except KeyError:
        raise ValueError(f"unknown registry workbook kind {kind!r}; expected one of {sorted(SPECS)}")
