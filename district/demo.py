"""The area tree of the demo city (济南市) and its demo logins; ``demo.seed_demo`` drives it.

Both are seeded idempotently: areas by code, users by username, roles by (user, role, node).
The logins are published (README.md, the command's summary), so they never change.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction

from district.actions import do_assign_role
from district.choices import AreaLevel, Role
from district.models import Area, RoleAssignment
from tenants.demo import COMPOUNDS
from tenants.models import Compound

if TYPE_CHECKING:
    from django.contrib.auth.models import User

DEMO_PASSWORD = "jinan-demo-2026"


# --- Places -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AreaSpec:
    """One node of the admin-area tree, with its GB/T 2260 (streets: 统计用区划代码) code."""

    level: str
    code: str
    name: str
    parent_code: str | None


# Parents come before their children, so the list can be created in order.
AREAS: tuple[AreaSpec, ...] = (
    AreaSpec(AreaLevel.CITY, "370100", "济南市", None),
    AreaSpec(AreaLevel.DISTRICT, "370102", "历下区", "370100"),
    AreaSpec(AreaLevel.DISTRICT, "370103", "市中区", "370100"),
    AreaSpec(AreaLevel.DISTRICT, "370104", "槐荫区", "370100"),
    AreaSpec(AreaLevel.STREET, "370102001", "解放路街道", "370102"),
    AreaSpec(AreaLevel.STREET, "370102002", "千佛山街道", "370102"),
    AreaSpec(AreaLevel.STREET, "370102004", "泉城路街道", "370102"),
    AreaSpec(AreaLevel.STREET, "370102005", "大明湖街道", "370102"),
    AreaSpec(AreaLevel.STREET, "370103010", "六里山街道", "370103"),
    AreaSpec(AreaLevel.STREET, "370103012", "舜玉路街道", "370103"),
    AreaSpec(AreaLevel.STREET, "370104004", "西市场街道", "370104"),
)


@transaction.atomic
def seed_areas(counts: Counter[str]) -> dict[str, Area]:
    """The city, its districts and streets, by code; missing ones are created, existing ones kept.

    Adds the number created to ``counts["areas"]``.
    """
    areas = {a.code: a for a in Area.objects.filter(code__in=[spec.code for spec in AREAS])}
    for spec in AREAS:
        if spec.code in areas:
            continue
        area = Area(level=spec.level, code=spec.code, name=spec.name, parent=areas.get(spec.parent_code or ""))
        area.full_clean()
        area.save()
        areas[spec.code] = area
        counts["areas"] += 1
    return areas


# --- Demo logins --------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoLogin:
    """One demo account: where it holds its role, for the README and the command's summary.

    ``node`` is an area code, or a compound code for the compound roles; the superuser
    holds no role (``role`` and ``node`` empty).
    """

    username: str
    role: str
    node: str
    node_name: str
    password: str = DEMO_PASSWORD


FIRST_JIEFANG_COMPOUND = COMPOUNDS[0]

DEMO_LOGINS: tuple[DemoLogin, ...] = (
    DemoLogin("admin", "", "", "（超级管理员 superuser）"),
    DemoLogin("city", Role.CITY_BUREAU, "370100", "济南市"),
    DemoLogin("lixia", Role.DISTRICT_BRANCH, "370102", "历下区"),
    DemoLogin("jiefang", Role.STREET_OFFICE, "370102001", "解放路街道"),
    DemoLogin("qianfo", Role.STREET_OFFICE, "370102002", "千佛山街道"),
    DemoLogin("wuye", Role.PROPERTY_STAFF, FIRST_JIEFANG_COMPOUND.code, FIRST_JIEFANG_COMPOUND.name),
    DemoLogin("minjing", Role.BEAT_OFFICER, FIRST_JIEFANG_COMPOUND.code, FIRST_JIEFANG_COMPOUND.name),
    DemoLogin("wangge", Role.GRID_WORKER, FIRST_JIEFANG_COMPOUND.code, FIRST_JIEFANG_COMPOUND.name),
    DemoLogin("tiaojie", Role.MEDIATOR, FIRST_JIEFANG_COMPOUND.code, FIRST_JIEFANG_COMPOUND.name),
)


def demo_logins_markdown() -> str:
    """The demo logins as a Markdown table (for the README)."""
    rows = ["| 用户名 username | 角色 role | 节点 node | 密码 password |", "|---|---|---|---|"]
    for login in DEMO_LOGINS:
        role = Role(login.role).label if login.role else "superuser"
        node = f"{login.node_name} ({login.node})" if login.node else login.node_name
        rows.append(f"| `{login.username}` | {role} | {node} | `{login.password}` |")
    return "\n".join(rows)


@transaction.atomic
def seed_logins(areas: dict[str, Area], counts: Counter[str]) -> list[DemoLogin]:
    """The demo users and their roles; passwords are set only when a user is created.

    ``areas`` maps area codes to the seeded areas (from ``seed_areas``); compound roles need
    their compound seeded first. Adds to ``counts["users"]`` and ``counts["roles"]``, and
    returns the logins whose compound is not seeded (they get their user but no role).
    """
    user_model = get_user_model()
    skipped: list[DemoLogin] = []

    def granter() -> User:
        admin = user_model.objects.filter(is_superuser=True).order_by("pk").first()
        if admin is None:  # DEMO_LOGINS lists the superuser first
            raise RuntimeError("the demo superuser must be seeded before the roles")
        return admin

    # One hash for every demo user: they share a published password, so separate salts
    # would protect nothing, and each PBKDF2 hash costs a third of a second.
    hashes: dict[str, str] = {}
    for login in DEMO_LOGINS:
        user = user_model.objects.filter(username=login.username).first()
        if user is None:
            user = user_model(username=login.username, is_superuser=not login.role, is_staff=not login.role)
            if login.password not in hashes:
                hashes[login.password] = make_password(login.password)
            user.password = hashes[login.password]
            user.full_clean()
            user.save()
            counts["users"] += 1
        if not login.role:
            continue
        area = areas.get(login.node)
        compound = None if area is not None else Compound.objects.filter(code=login.node).first()
        if area is None and compound is None:
            skipped.append(login)
            continue
        if not RoleAssignment.objects.filter(user=user, role=login.role, area=area, compound=compound).exists():
            # Staffed by the demo superuser through the role action, so each grant is audited
            # like one made on the role page.
            do_assign_role(granter(), user, login.role, area=area, compound=compound)
            counts["roles"] += 1
    return skipped
