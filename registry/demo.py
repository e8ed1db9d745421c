"""The 一标三实 registry of each demo compound: addresses, houses, persons, leases, organisations
and vehicles, generated from a fixed seed and written into the compound's schema.

``plan_registry`` is pure: it turns a compound code and a ``random.Random`` stream into a
``CompoundPlan`` (names, GB 11643 ID numbers, GB 32100 credit codes, plates, mobile numbers).
Each generator checks its result with the project's own validator, so the demo can never hold
a value a user could not have typed in. ``seed_registry`` writes a plan into its compound's
schema, creating only what is missing. ``demo.seed_demo`` drives both.
"""

from __future__ import annotations

import datetime
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar

from django.db import models
from django_tenants.utils import tenant_context

from registry.actions import do_bulk_create, do_create_address, do_save_organisation
from registry.choices import HouseUse
from registry.models import Address, House, Lease, Organisation, Person, Vehicle
from registry.validators import (
    USCC_CHARS,
    check_id_number,
    check_phone,
    check_plate,
    check_uscc,
    id_check_char,
    uscc_check_char,
)
from tenants.models import Compound

M = TypeVar("M", bound=models.Model)

# The seed of the demo: the same persons and plates on every machine and every run.
DEMO_SEED = 20261122
# "Today" inside the demo, so move-in dates and ages do not drift with the wall clock.
REFERENCE_DATE = datetime.date(2026, 11, 1)

DEFAULT_PERSONS_PER_COMPOUND = 240

# Address tree of a building: units × floors × rooms per floor (a 6-storey walk-up).
UNITS_PER_BUILDING = 2
FLOORS_PER_UNIT = 6
ROOMS_PER_FLOOR = 2
ROOMS_PER_BUILDING = UNITS_PER_BUILDING * FLOORS_PER_UNIT * ROOMS_PER_FLOOR
# Persons a building holds on average (≈ 85 % occupied × 2.5 persons), to size the tree.
PERSONS_PER_BUILDING = 50


# --- Names --------------------------------------------------------------------------------

# Common surnames, the most frequent (in Shandong: 王 张 李 刘) repeated so they are drawn
# more often, as in a real register.
SURNAMES = (
    "王王王王张张张张李李李李刘刘刘陈陈杨杨赵赵黄周吴徐孙孙胡朱高高林何郭马马罗梁宋郑谢韩唐冯"
    "于于董程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜姜范方石姚谭廖邹熊金陆"
    "郝孔孔白崔康毛邱秦江史顾侯邵孟孟龙万段雷钱汤尹易常武乔贺赖龚文庞牛房隋鞠"
)
# Given-name characters by generation: names follow the fashion of the birth decade.
GIVEN_OLD_MALE = "建国军明华德文志永福海国庆洪伟春生金宝成胜利兴振东山忠民"
GIVEN_OLD_FEMALE = "秀英桂兰淑珍玉兰凤芝秀兰玉珍桂英素珍凤英秀云翠华美荣丽华淑芳"
GIVEN_MID_MALE = "伟强磊军勇杰涛斌超刚鹏辉波明亮峰浩健平宁东晓立新"
GIVEN_MID_FEMALE = "静丽娜敏燕艳芳婷霞丹红晶玲倩雪琳颖慧莉萍红梅娟"
GIVEN_YOUNG_MALE = "浩然子轩宇航梓睿博文一鸣俊熙皓轩明哲思远嘉懿天佑泽宇铭"
GIVEN_YOUNG_FEMALE = "欣怡梓涵可馨雨桐子萱诗涵一诺语嫣思琪若汐梦瑶佳怡雅琪"

# Foreign residents (境外人员): nationality, name as registered, passport prefix.
FOREIGNERS = (
    ("KOR", ("金敏俊", "朴智贤", "李秀妍", "崔东旭"), "M"),
    ("JPN", ("佐藤健", "铃木美纪", "高桥翔"), "TR"),
    ("USA", ("John Miller", "Emily Carter", "David Brown"), "5"),
    ("RUS", ("Ivan Petrov", "Olga Smirnova"), "75"),
)


def given_name(rng: random.Random, birth_year: int, male: bool) -> str:
    """One or two given-name characters in the fashion of the birth decade."""
    if birth_year < 1965:
        pool = GIVEN_OLD_MALE if male else GIVEN_OLD_FEMALE
    elif birth_year < 1995:
        pool = GIVEN_MID_MALE if male else GIVEN_MID_FEMALE
    else:
        pool = GIVEN_YOUNG_MALE if male else GIVEN_YOUNG_FEMALE
    length = 1 if rng.random() < 0.3 else 2
    return "".join(rng.choice(pool) for _ in range(length))


def person_name(rng: random.Random, birth_year: int, male: bool, surname: str | None = None) -> str:
    """A plausible Chinese name: a common surname and a given name of the birth decade."""
    return (surname or rng.choice(SURNAMES)) + given_name(rng, birth_year, male)


# --- GB 11643 ID numbers ------------------------------------------------------------------

# County-level GB/T 2260 codes where residents were born: Jinan first (most residents are
# local), then the rest of Shandong, then other provinces (migrant workers, students).
JINAN_REGIONS = ("370102", "370103", "370104", "370105", "370112", "370113", "370124", "370126", "370181")
SHANDONG_REGIONS = (
    "370202", "370203", "370211", "370302", "370303", "370402", "370502", "370602", "370702",
    "370811", "370902", "371002", "371102", "371302", "371402", "371502", "371602", "371702",
)  # fmt: skip
OTHER_REGIONS = (
    "110105", "120101", "130102", "140105", "210102", "220102", "230102", "310104", "320102",
    "320311", "330106", "340102", "350102", "360102", "410105", "411302", "420106", "430104",
    "440106", "450103", "500103", "510107", "520102", "530102", "610113", "620102", "650102",
)  # fmt: skip


def birth_region(rng: random.Random, *, local_bias: float = 0.6) -> str:
    """Where a person was born: mostly Jinan, else Shandong, else another province."""
    roll = rng.random()
    if roll < local_bias:
        return rng.choice(JINAN_REGIONS)
    if roll < local_bias + (1 - local_bias) * 0.6:
        return rng.choice(SHANDONG_REGIONS)
    return rng.choice(OTHER_REGIONS)


def random_birth_date(rng: random.Random, min_age: int, max_age: int) -> datetime.date:
    """A birth date giving an age in [min_age, max_age] on the reference date, within 1935–2020."""
    latest = min(add_years(REFERENCE_DATE, -min_age), datetime.date(2020, 12, 31))
    earliest = max(add_years(REFERENCE_DATE, -max_age - 1), datetime.date(1935, 1, 1))
    if earliest > latest:
        earliest = latest
    return earliest + datetime.timedelta(days=rng.randint(0, (latest - earliest).days))


def age_on(birth: datetime.date, day: datetime.date = REFERENCE_DATE) -> int:
    """Completed years of age on ``day``."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def add_years(day: datetime.date, years: int) -> datetime.date:
    """The same day ``years`` later (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def make_id_number(rng: random.Random, region: str, birth: datetime.date, male: bool, taken: set[str]) -> str:
    """A GB 11643-valid ID number not in ``taken`` (which it joins); the sex digit matches."""
    for _attempt in range(1000):
        order = rng.randint(0, 99) * 10 + rng.choice((1, 3, 5, 7, 9) if male else (0, 2, 4, 6, 8))
        first17 = f"{region}{birth:%Y%m%d}{order:03d}"
        number = first17 + id_check_char(first17)
        if number not in taken:
            facts = check_id_number(number, today=REFERENCE_DATE)
            assert facts.sex == ("M" if male else "F") and facts.birth_date == birth
            taken.add(number)
            return number
    raise RuntimeError(f"no free ID number for {region} {birth}")


# --- Phones ---------------------------------------------------------------------------------

# Mobile number segments in service (China Mobile, Unicom, Telecom).
MOBILE_SEGMENTS = (*range(130, 140), 150, 151, 152, 153, 155, 156, 157, 158, 159, 166, 173, 175, 176, 177, 178)
MOBILE_PREFIXES = tuple(str(n) for n in (*MOBILE_SEGMENTS, *range(180, 190), 198, 199))


def mobile_number(rng: random.Random) -> str:
    """A valid mainland mobile number."""
    return check_phone(rng.choice(MOBILE_PREFIXES) + f"{rng.randint(0, 99_999_999):08d}")


def jinan_landline(rng: random.Random) -> str:
    """A Jinan landline (area code 0531, 8 digits)."""
    return check_phone(f"0531{rng.randint(5, 8)}{rng.randint(0, 9_999_999):07d}")


# --- Plates -----------------------------------------------------------------------------------

PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O (GA 36)
# Issuing offices seen in a Jinan compound: 鲁A (济南) far ahead, then other Shandong cities
# and a few from other provinces.
PLATE_OFFICES = ("鲁A",) * 14 + ("鲁B", "鲁B", "鲁C", "鲁D", "鲁F", "鲁H", "鲁Q", "京A", "冀A", "豫A", "苏C")
CAR_BRANDS = ("大众", "丰田", "本田", "别克", "日产", "吉利", "长安", "哈弗", "奥迪", "宝马", "奔驰", "现代", "五菱")
EV_BRANDS = ("比亚迪", "特斯拉", "蔚来", "理想", "小鹏", "埃安", "五菱")
COLOURS = ("白色", "白色", "黑色", "黑色", "银色", "灰色", "红色", "蓝色")


def make_plate(rng: random.Random, *, new_energy: bool, taken: set[str]) -> str:
    """A valid plate (ordinary: 鲁A·5 characters; new energy: 鲁A·D + 5) not in ``taken``."""
    for _attempt in range(1000):
        office = rng.choice(PLATE_OFFICES)
        if new_energy:
            tail = rng.choice("DF") + rng.choice(PLATE_LETTERS + "0123456789") + f"{rng.randint(0, 9999):04d}"
        else:
            shape = rng.random()
            if shape < 0.45:
                tail = rng.choice(PLATE_LETTERS) + f"{rng.randint(0, 9999):04d}"
            elif shape < 0.75:
                tail = rng.choice(PLATE_LETTERS) + rng.choice(PLATE_LETTERS) + f"{rng.randint(0, 999):03d}"
            else:
                tail = f"{rng.randint(0, 99999):05d}"
        plate, kind = check_plate(office + tail)
        assert kind == ("new_energy" if new_energy else "ordinary")
        if plate not in taken:
            taken.add(plate)
            return plate
    raise RuntimeError("no free plate")


# --- GB 32100 unified social credit codes ---------------------------------------------------

# GB 11714 organisation-code weights (characters 9–17 of a credit code are such a code).
ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def org_code_check_char(body: str) -> str:
    """The GB 11714 check character of an 8-character organisation-code body."""
    total = sum(int(c, 36) * w for c, w in zip(body, ORG_CODE_WEIGHTS, strict=True))
    value = 11 - total % 11
    return "X" if value == 10 else "0" if value == 11 else str(value)


def make_uscc(rng: random.Random, *, authority: str, region: str, taken: set[str]) -> str:
    """A GB 32100-valid credit code: authority+kind (e.g. "91" enterprise, "92" sole trader,
    "52" private non-profit), the registering district, an organisation code, the check char."""
    for _attempt in range(1000):
        body = "".join(rng.choice("0123456789" if i else "0123456789MAL") for i in range(8))
        first17 = authority + region + body + org_code_check_char(body)
        code = check_uscc(first17 + uscc_check_char(first17))
        assert all(c in USCC_CHARS for c in code)
        if code not in taken:
            taken.add(code)
            return code
    raise RuntimeError("no free credit code")


# --- Organisations --------------------------------------------------------------------------

# (kind, credit-code authority+type, name pattern, staff range). ``{p}`` is a shop-name prefix.
ORGANISATION_TEMPLATES = (
    ("shop", "92", "{p}便利店", (1, 4)),
    ("shop", "92", "{p}水果店", (1, 3)),
    ("shop", "92", "{p}大药房", (2, 6)),
    ("shop", "92", "{p}美发店", (2, 5)),
    ("nine_small", "92", "{p}快餐店", (3, 8)),
    ("nine_small", "92", "{p}小旅馆", (2, 5)),
    ("nine_small", "92", "{p}网吧", (2, 4)),
    ("nine_small", "92", "{p}足疗保健", (3, 8)),
    ("nine_small", "92", "{p}五金建材店", (1, 3)),
    ("nine_small", "52", "{p}培训学校", (4, 12)),
    ("nine_small", "52", "{p}诊所", (2, 6)),
    ("enterprise", "91", "济南{p}科技有限公司", (5, 40)),
    ("enterprise", "91", "山东{p}商贸有限公司", (3, 20)),
    ("institution", "52", "{p}幼儿园", (8, 25)),
)
SHOP_PREFIXES = (
    "佳乐", "鑫源", "惠民", "泉城", "和顺", "福满", "盛达", "康宁", "聚福", "明泉", "齐鲁", "万家",
    "兴隆", "金泉", "如意", "安康", "百佳", "宏远", "嘉禾", "舜耕",
)  # fmt: skip
PROPERTY_MANAGERS = ("济南{p}物业服务有限公司", "山东{p}物业管理有限公司")


# --- The plan of one compound -----------------------------------------------------------------

RoomPath = tuple[str, str, str, str]  # building, unit, floor, room numbers


@dataclass
class PlannedHouse:
    """A house to seed at a room address; owners who do not live there exist only here."""

    path: RoomPath
    use: str
    area_sqm: Decimal
    owner_name: str
    owner_id_number: str
    owner_phone: str


@dataclass
class PlannedPerson:
    """A person to seed; ``house`` is None for nobody (every demo person lives or lived somewhere)."""

    name: str
    id_number: str
    birth_date: datetime.date
    male: bool
    house: RoomPath
    relation: str
    residence_type: str
    move_in_date: datetime.date
    id_type: str = "resident_id"
    nationality: str = "CHN"
    phone: str = ""
    move_out_date: datetime.date | None = None
    tags: list[str] = field(default_factory=list)

    @property
    def is_current(self) -> bool:
        return self.move_out_date is None


@dataclass
class PlannedLease:
    house: RoomPath
    tenant_id_number: str
    start_date: datetime.date
    end_date: datetime.date


@dataclass
class PlannedOrganisation:
    name: str
    uscc: str
    kind: str
    address: RoomPath | None
    address_detail: str
    legal_representative: str
    contact_name: str
    contact_phone: str
    staff_count: int


@dataclass
class PlannedVehicle:
    plate: str
    vehicle_type: str
    brand: str
    colour: str
    owner_id_number: str


@dataclass
class CompoundPlan:
    """Everything one compound's schema receives, generated before anything is written."""

    rooms: list[RoomPath]
    houses: list[PlannedHouse]
    persons: list[PlannedPerson]
    leases: list[PlannedLease]
    organisations: list[PlannedOrganisation]
    vehicles: list[PlannedVehicle]

    @property
    def population(self) -> int:
        """Current residents (former tenants who moved out are not counted)."""
        return sum(1 for p in self.persons if p.is_current)


def room_paths(buildings: int) -> list[RoomPath]:
    """Every room of ``buildings`` six-storey buildings: rooms 101, 102, …, 602 in each unit."""
    return [
        (str(b), str(u), str(f), f"{f}{r:02d}")
        for b in range(1, buildings + 1)
        for u in range(1, UNITS_PER_BUILDING + 1)
        for f in range(1, FLOORS_PER_UNIT + 1)
        for r in range(1, ROOMS_PER_FLOOR + 1)
    ]


class _Planner:
    """Builds one compound's plan from its own random stream (independent of the others)."""

    def __init__(self, compound_code: str, persons_target: int, seed: int) -> None:
        # A compound code is its street's code (which starts with the district's) plus a
        # sequence: organisations register in, and children are born in, that district.
        self.district_code = compound_code[:6]
        self.target = persons_target
        # A string seed is hashed with SHA-512 by ``random``: stable across runs and machines.
        self.rng = random.Random(f"{seed}:{compound_code}")
        self.ids: set[str] = set()
        self.plates: set[str] = set()
        self.usccs: set[str] = set()
        self.organisation_names: set[str] = set()
        self.persons: list[PlannedPerson] = []
        self.leases: list[PlannedLease] = []
        self.vehicles: list[PlannedVehicle] = []

    # -- people ---------------------------------------------------------------------------

    def _date_between(self, start: datetime.date, end: datetime.date) -> datetime.date:
        if end <= start:
            return start
        return start + datetime.timedelta(days=self.rng.randint(0, (end - start).days))

    def _phone(self, age: int) -> str:
        rng = self.rng
        if age < 14:
            return ""
        if age >= 80:
            roll = rng.random()
            return mobile_number(rng) if roll < 0.5 else jinan_landline(rng) if roll < 0.8 else ""
        return mobile_number(rng) if rng.random() < 0.95 else ""

    def _person(
        self,
        house: RoomPath,
        relation: str,
        min_age: int,
        max_age: int,
        *,
        male: bool | None = None,
        surname: str | None = None,
        local_bias: float = 0.6,
        moved_in: datetime.date,
        residence_type: str | None = None,
        region: str | None = None,
    ) -> PlannedPerson:
        rng = self.rng
        male = rng.random() < 0.5 if male is None else male
        birth = random_birth_date(rng, min_age, max_age)
        region = region or birth_region(rng, local_bias=local_bias)
        number = make_id_number(rng, region, birth, male, self.ids)
        age = age_on(birth)
        if residence_type is None:
            local = region in JINAN_REGIONS
            residence_type = "registered" if local and rng.random() < 0.85 else "permanent"
        tags: list[str] = []
        if rng.random() < 0.02:
            tags.append("disabled")
        if male and age >= 45 and rng.random() < 0.04:
            tags.append("veteran")
        person = PlannedPerson(
            name=person_name(rng, birth.year, male, surname),
            id_number=number,
            birth_date=birth,
            male=male,
            house=house,
            relation=relation,
            residence_type=residence_type,
            move_in_date=max(moved_in, birth),
            phone=self._phone(age),
            tags=tags,
        )
        self.persons.append(person)
        return person

    def _spouse(
        self, house: RoomPath, partner: PlannedPerson, moved_in: datetime.date, local_bias: float = 0.6
    ) -> PlannedPerson:
        """The wife of ``partner``, a few years younger or older."""
        age = age_on(partner.birth_date)
        return self._person(
            house, "family", max(20, age - 8), age + 3, male=False, moved_in=moved_in, local_bias=local_bias
        )

    def _children(
        self, house: RoomPath, parent: PlannedPerson, count: int, moved_in: datetime.date, max_age: int = 17
    ) -> list[PlannedPerson]:
        """Children born in the compound's district, carrying the parent's surname."""
        parent_age = age_on(parent.birth_date)
        oldest = max(0, min(max_age, parent_age - 20))
        surname = parent.name[0]
        return [
            self._person(
                house,
                "family",
                0,
                oldest,
                surname=surname,
                moved_in=moved_in,
                region=self.district_code,
                residence_type="registered",
            )
            for _ in range(count)
        ]

    def _owner_household(self, house: RoomPath) -> PlannedPerson:
        """An owner-occupied household; returns the owner (head of household)."""
        rng = self.rng
        moved_in = self._date_between(datetime.date(1998, 1, 1), REFERENCE_DATE - datetime.timedelta(days=60))
        kind = rng.choices(
            ("elderly_alone", "elderly_couple", "single", "couple", "family", "three_generations", "left_behind"),
            weights=(10, 12, 10, 18, 30, 12, 8),
        )[0]
        if kind == "elderly_alone":
            head = self._person(house, "owner", 70, 91, moved_in=moved_in, local_bias=0.85)
            head.tags = [*head.tags, "elderly_alone", *(["low_income"] if rng.random() < 0.2 else [])]
            return head
        if kind in ("elderly_couple", "left_behind"):
            head = self._person(house, "owner", 58, 88, male=True, moved_in=moved_in, local_bias=0.85)
            if kind == "elderly_couple" or rng.random() < 0.7:
                self._spouse(house, head, moved_in, local_bias=0.85)
            if kind == "left_behind":
                # Grandchildren whose parents work in another city (留守儿童).
                for child in self._children(house, head, rng.randint(1, 2), moved_in, max_age=15):
                    child.tags = [*child.tags, "left_behind_child"]
            return head
        if kind == "single":
            return self._person(house, "owner", 22, 60, moved_in=moved_in)
        head = self._person(house, "owner", 26, 55, male=True, moved_in=moved_in)
        self._spouse(house, head, moved_in)
        if kind in ("family", "three_generations"):
            self._children(house, head, rng.choice((1, 1, 2)), moved_in)
        if kind == "three_generations":
            elder_age = age_on(head.birth_date) + 22
            grandpa = self._person(
                house,
                "family",
                elder_age,
                elder_age + 12,
                male=True,
                surname=head.name[0],
                moved_in=moved_in,
                local_bias=0.8,
            )
            if rng.random() < 0.7:
                self._spouse(house, grandpa, moved_in, local_bias=0.8)
        if rng.random() < 0.03:
            head.tags = [*head.tags, "low_income"]
        return head

    def _tenants(self, house: RoomPath, count: int, *, min_age: int, max_age: int) -> PlannedPerson:
        """Current tenants with their leases; returns the first tenant."""
        rng = self.rng
        start = self._date_between(REFERENCE_DATE - datetime.timedelta(days=700), REFERENCE_DATE)
        start -= datetime.timedelta(days=15)
        end = add_years(start, 1 if start > REFERENCE_DATE - datetime.timedelta(days=330) else 2)
        first = None
        for _ in range(count):
            tenant = self._person(
                house,
                "tenant",
                min_age,
                max_age,
                moved_in=start,
                local_bias=0.25,
                residence_type="floating" if rng.random() < 0.8 else "permanent",
            )
            self.leases.append(PlannedLease(house, tenant.id_number, start, end))
            first = first or tenant
        assert first is not None
        return first

    def _foreign_tenant(self, house: RoomPath) -> None:
        """A resident from abroad (境外人员), registered by passport."""
        rng = self.rng
        nationality, names, prefix = rng.choice(FOREIGNERS)
        start = REFERENCE_DATE - datetime.timedelta(days=rng.randint(30, 600))
        number = f"{prefix}{rng.randint(0, 10 ** (9 - len(prefix)) - 1):0{9 - len(prefix)}d}"
        if number in self.ids:
            return
        self.ids.add(number)
        birth = random_birth_date(rng, 22, 55)
        self.persons.append(
            PlannedPerson(
                name=rng.choice(names),
                id_number=number,
                birth_date=birth,
                male=rng.random() < 0.5,
                house=house,
                relation="tenant",
                residence_type="overseas",
                move_in_date=start,
                id_type="passport",
                nationality=nationality,
                phone=mobile_number(rng),
                tags=[],
            )
        )
        self.leases.append(PlannedLease(house, number, start, add_years(start, 2)))

    def _former_tenant(self, house: RoomPath) -> None:
        """A tenant who has moved out: kept on record with an ended lease, not in the population."""
        start = self._date_between(REFERENCE_DATE - datetime.timedelta(days=1800), REFERENCE_DATE)
        start = min(start, REFERENCE_DATE - datetime.timedelta(days=1200))
        end = start + datetime.timedelta(days=365)
        tenant = self._person(house, "tenant", 20, 45, moved_in=start, local_bias=0.25, residence_type="floating")
        tenant.move_out_date = end
        self.leases.append(PlannedLease(house, tenant.id_number, start, end))

    def _maybe_vehicle(self, owner: PlannedPerson) -> None:
        rng = self.rng
        if not 22 <= age_on(owner.birth_date) <= 72 or owner.id_type != "resident_id":
            return
        for _ in range(2 if rng.random() < 0.08 else 1):
            new_energy = rng.random() < 0.25
            kind = rng.choices(("car", "suv", "van", "motorcycle"), weights=(60, 30, 6, 4))[0]
            self.vehicles.append(
                PlannedVehicle(
                    plate=make_plate(rng, new_energy=new_energy and kind != "motorcycle", taken=self.plates),
                    vehicle_type=kind,
                    brand=rng.choice(EV_BRANDS if new_energy else CAR_BRANDS),
                    colour=rng.choice(COLOURS),
                    owner_id_number=owner.id_number,
                )
            )

    # -- houses and organisations ---------------------------------------------------------

    def _owner_identity(self) -> tuple[str, str, str]:
        """Name, ID number and phone of an owner who does not live in the house."""
        rng = self.rng
        male = rng.random() < 0.55
        birth = random_birth_date(rng, 30, 80)
        number = make_id_number(rng, birth_region(rng, local_bias=0.7), birth, male, self.ids)
        return person_name(rng, birth.year, male), number, mobile_number(rng)

    def _organisation(self, address: RoomPath | None, detail: str, template: tuple) -> PlannedOrganisation:
        rng = self.rng
        kind, authority, pattern, (low, high) = template
        boss_birth = random_birth_date(rng, 25, 65)
        boss = person_name(rng, boss_birth.year, rng.random() < 0.6)
        contact = boss if rng.random() < 0.6 else person_name(rng, 1990, rng.random() < 0.5)
        name = pattern.format(p=rng.choice(SHOP_PREFIXES))
        while name in self.organisation_names:
            name = pattern.format(p=rng.choice(SHOP_PREFIXES))
        self.organisation_names.add(name)
        return PlannedOrganisation(
            name=name,
            uscc=make_uscc(rng, authority=authority, region=self.district_code, taken=self.usccs),
            kind=kind,
            address=address,
            address_detail=detail,
            legal_representative=boss,
            contact_name=contact,
            contact_phone=mobile_number(rng),
            staff_count=rng.randint(low, high),
        )

    def plan(self) -> CompoundPlan:
        rng = self.rng
        buildings = max(1, -(-self.target // PERSONS_PER_BUILDING))
        rooms = room_paths(buildings)
        houses: list[PlannedHouse] = []
        organisations: list[PlannedOrganisation] = []
        # Rooms are filled in a shuffled order, so the empty ones left once the target is
        # reached are spread over the buildings rather than all at the top of the last one.
        order = rooms[:]
        rng.shuffle(order)
        for path in order:
            ground_floor = path[2] == "1"
            if ground_floor and rng.random() < 0.08:
                use = "commercial"
            elif len(self.persons) >= self.target:
                use = "vacant"
            else:
                use = rng.choices(("owner_occupied", "rented", "group_rental", "vacant"), weights=(64, 20, 3, 13))[0]
            size = Decimal(rng.randint(4500, 14000)) / 100
            if use == "owner_occupied":
                head = self._owner_household(path)
                owner = (head.name, head.id_number, head.phone or mobile_number(rng))
                if rng.random() < 0.4:
                    self._maybe_vehicle(head)
            else:
                owner = self._owner_identity()
            if use == "rented":
                if rng.random() < 0.25:
                    self._former_tenant(path)
                if rng.random() < 0.05:
                    self._foreign_tenant(path)
                else:
                    first = self._tenants(path, rng.choice((1, 2, 2, 3)), min_age=20, max_age=50)
                    if rng.random() < 0.25:
                        self._maybe_vehicle(first)
            elif use == "group_rental":
                size = Decimal(rng.randint(9000, 14000)) / 100
                self._tenants(path, rng.randint(4, 8), min_age=18, max_age=40)
            elif use == "commercial":
                template = rng.choice([t for t in ORGANISATION_TEMPLATES if t[0] in ("shop", "nine_small")])
                organisations.append(self._organisation(path, "", template))
            houses.append(PlannedHouse(path, use, size, *owner))
        # The property manager and a few premises on the street front of the compound.
        manager = ("enterprise", "91", rng.choice(PROPERTY_MANAGERS), (8, 30))
        organisations.append(self._organisation(None, "物业服务中心", manager))
        for n in range(rng.randint(2, 4)):
            template = rng.choice(ORGANISATION_TEMPLATES)
            gate = rng.choice(("东门", "南门", "西门", "北门"))
            organisations.append(self._organisation(None, f"{gate}沿街商铺{n + 1}号", template))
        houses.sort(key=lambda h: h.path)
        return CompoundPlan(rooms, houses, self.persons, self.leases, organisations, self.vehicles)


def plan_registry(compound_code: str, persons_target: int, seed: int = DEMO_SEED) -> CompoundPlan:
    """The deterministic registry of one demo compound: same code, target and seed → same plan.

    Each compound draws from its own stream (seeded by ``seed`` and its code), so seeding
    fewer compounds, or in another order, leaves every compound's content unchanged.
    """
    return _Planner(compound_code, persons_target, seed).plan()


# --- Writing a plan -------------------------------------------------------------------------

# Uses under which do_save_lease leaves a house as it is.
LEASED_USES = frozenset({HouseUse.RENTED, HouseUse.GROUP_RENTAL})


def _bulk_create_validated(model: type[M], objects: list[M]) -> int:
    """Insert the seed's new records of one kind through the registry's bulk action (a system write)."""
    return len(do_bulk_create(model, objects, acting_user=None))


class _RegistrySeeder:
    """Writes one compound's plan into its schema (already selected), creating only what is missing."""

    def __init__(self, compound: Compound, plan: CompoundPlan, counts: Counter[str]) -> None:
        self.compound, self.plan, self.counts = compound, plan, counts

    def run(self) -> int:
        """Seed the schema; returns the number of current residents."""
        rooms = self.ensure_addresses([*self.plan.rooms])
        houses = self.ensure_houses(rooms)
        persons = self.ensure_persons(houses)
        self.ensure_leases(houses, persons)
        self.ensure_organisations(rooms)
        self.ensure_vehicles(persons)
        return Person.objects.filter(house__isnull=False, move_out_date__isnull=True).count()

    def ensure_addresses(self, paths: Iterable[RoomPath]) -> dict[RoomPath, Address]:
        """The room address of every path, creating missing nodes through the registry action."""
        nodes = {(a.parent_id, a.number): a for a in Address.objects.all()}
        rooms: dict[RoomPath, Address] = {}
        for path in paths:
            parent: Address | None = None
            for number in path:
                node = nodes.get((parent.pk if parent else None, number))
                if node is None:
                    # No acting user: the seed is a system write (audited as such).
                    node = do_create_address(self.compound, parent=parent, number=number, acting_user=None)
                    nodes[(node.parent_id, number)] = node
                    self.counts["addresses"] += 1
                parent = node
            assert parent is not None
            rooms[path] = parent
        return rooms

    def ensure_houses(self, rooms: dict[RoomPath, Address]) -> dict[RoomPath, House]:
        existing = {h.address_id: h for h in House.objects.all()}
        missing = [
            House(
                address=rooms[h.path],
                use=h.use,
                area_sqm=h.area_sqm,
                owner_name=h.owner_name,
                owner_id_number=h.owner_id_number,
                owner_phone=h.owner_phone,
            )
            for h in self.plan.houses
            if rooms[h.path].pk not in existing
        ]
        self.counts["houses"] += _bulk_create_validated(House, missing)
        by_address = {h.address_id: h for h in House.objects.all()}
        return {path: by_address[address.pk] for path, address in rooms.items() if address.pk in by_address}

    def ensure_persons(self, houses: dict[RoomPath, House]) -> dict[str, Person]:
        existing = set(Person.objects.values_list("id_type", "id_number"))
        missing = [
            Person(
                name=p.name,
                id_type=p.id_type,
                id_number=p.id_number,
                nationality=p.nationality,
                phone=p.phone,
                residence_type=p.residence_type,
                house=houses[p.house],
                relation=p.relation,
                move_in_date=p.move_in_date,
                move_out_date=p.move_out_date,
                tags=list(p.tags),
            )
            for p in self.plan.persons
            if (p.id_type, p.id_number) not in existing
        ]
        self.counts["persons"] += _bulk_create_validated(Person, missing)
        wanted = {p.id_number for p in self.plan.persons}
        return {p.id_number: p for p in Person.objects.filter(id_number__in=wanted)}

    def ensure_leases(self, houses: dict[RoomPath, House], persons: dict[str, Person]) -> None:
        existing = set(Lease.objects.values_list("house_id", "tenant_id", "start_date"))
        missing = []
        for lease in self.plan.leases:
            house, tenant = houses[lease.house], persons[lease.tenant_id_number]
            # do_save_lease would also mark the house as rented; planned leases are only ever
            # on houses seeded as rented or group rentals, so inserting them directly is the same.
            assert house.use in LEASED_USES, (house, house.use)
            if (house.pk, tenant.pk, lease.start_date) not in existing:
                missing.append(Lease(house=house, tenant=tenant, start_date=lease.start_date, end_date=lease.end_date))
        self.counts["leases"] += _bulk_create_validated(Lease, missing)

    def ensure_organisations(self, rooms: dict[RoomPath, Address]) -> None:
        existing = set(Organisation.objects.exclude(uscc=None).values_list("uscc", flat=True))
        for org in self.plan.organisations:
            if org.uscc in existing:
                continue
            do_save_organisation(
                Organisation(
                    name=org.name,
                    uscc=org.uscc,
                    kind=org.kind,
                    address=rooms[org.address] if org.address else None,
                    address_detail=org.address_detail,
                    legal_representative=org.legal_representative,
                    contact_name=org.contact_name,
                    contact_phone=org.contact_phone,
                    staff_count=org.staff_count,
                ),
                acting_user=None,
            )
            self.counts["organisations"] += 1

    def ensure_vehicles(self, persons: dict[str, Person]) -> None:
        existing = set(Vehicle.objects.values_list("plate", flat=True))
        missing = [
            Vehicle(
                plate=v.plate,
                vehicle_type=v.vehicle_type,
                brand=v.brand,
                colour=v.colour,
                owner=persons[v.owner_id_number],
            )
            for v in self.plan.vehicles
            if v.plate not in existing
        ]
        self.counts["vehicles"] += _bulk_create_validated(Vehicle, missing)


def seed_registry(compound: Compound, plan: CompoundPlan, counts: Counter[str]) -> int:
    """Write ``plan`` into ``compound``'s schema, creating only the rows it lacks.

    Every row is looked up by its natural key (address path, ID number, credit code, plate),
    so a second run writes nothing. Addresses and organisations go through the registry's
    ``do_*`` actions; persons, houses, leases and vehicles are validated as the actions do and
    bulk-inserted (see ``_bulk_create_validated``). Adds what it creates to ``counts`` (keys
    "addresses", "houses", "persons", "leases", "organisations", "vehicles") and returns the
    compound's current residents, for its population. Call it inside a transaction: the
    caller decides how much an interrupted seed leaves behind.
    """
    with tenant_context(compound):
        return _RegistrySeeder(compound, plan, counts).run()
