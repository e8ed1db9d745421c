"""The compounds of the demo city (济南市) and their creation; ``demo.seed_demo`` drives it.

Compounds are created through ``tenants.actions``, so each gets its schema exactly as a
compound registered by a user would. What fills the schema is seeded by ``registry.demo``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from district.models import Area
from tenants.actions import do_create_compound
from tenants.models import Compound


@dataclass(frozen=True)
class CompoundSpec:
    """A demo compound: its street, sequence under the street, and what the map shows."""

    street_code: str
    seq: int
    name: str
    address: str
    latitude: Decimal
    longitude: Decimal
    plan: str  # tenants.choices.PlanTier value

    @property
    def code(self) -> str:
        return f"{self.street_code}{self.seq:03d}"


def _c(street: str, seq: int, name: str, address: str, lat: str, lng: str, plan: str = "basic") -> CompoundSpec:
    return CompoundSpec(street, seq, name, address, Decimal(lat), Decimal(lng), plan)


# Ordered round-robin over the streets: ``--compounds N`` takes the first N and still
# spreads them over streets (the first two are the first compounds of 解放路 and 千佛山).
COMPOUNDS: tuple[CompoundSpec, ...] = (
    _c("370102001", 1, "阳光花园", "济南市历下区解放路112号", "36.665210", "117.037450", "enhanced"),
    _c("370102002", 1, "翠竹苑", "济南市历下区千佛山东路21号", "36.643180", "117.039920"),
    _c("370102004", 1, "芙蓉里小区", "济南市历下区芙蓉街58号", "36.667540", "117.018830"),
    _c("370102005", 1, "鹊华苑", "济南市历下区明湖东路9号", "36.677920", "117.027260", "enhanced"),
    _c("370103010", 1, "六里山南苑", "济南市市中区六里山南路16号", "36.639410", "116.996310"),
    _c("370103012", 1, "舜玉花园", "济南市市中区舜玉路7号", "36.636850", "117.012940", "enhanced"),
    _c("370104004", 1, "经纬嘉园", "济南市槐荫区经四路501号", "36.658730", "116.982150"),
    _c("370102001", 2, "泉景家园", "济南市历下区文化东路35号", "36.660470", "117.048610"),
    _c("370102002", 2, "千佛山南苑", "济南市历下区千佛山南路8号", "36.638290", "117.034170", "enhanced"),
    _c("370102004", 2, "泉城花园", "济南市历下区泉城路216号", "36.665180", "117.024560"),
    _c("370102005", 2, "明湖小区", "济南市历下区明湖路77号", "36.679340", "117.019470"),
    _c("370103010", 2, "玉函小区", "济南市市中区玉函路66号", "36.643720", "116.999880"),
    _c("370103012", 2, "舜耕家园", "济南市市中区舜耕路29号", "36.632560", "117.018740"),
    _c("370104004", 2, "西市场小区", "济南市槐荫区经二路620号", "36.663840", "116.975390"),
    _c("370102001", 3, "历山名郡", "济南市历下区历山路150号", "36.659360", "117.041880", "enhanced"),
    _c("370103012", 3, "翠微苑", "济南市市中区舜玉南路12号", "36.630970", "117.009650"),
)


def seed_compound(spec: CompoundSpec, street: Area, *, population: int, counts: Counter[str]) -> Compound:
    """The compound with the code of ``spec``, created under ``street`` if the code is new.

    An existing compound (one made by hand, or by an earlier run) is returned as it is, so a
    second run writes nothing here. ``population`` is recorded only on creation; the caller
    recounts it once the registry is seeded. Adds 1 to ``counts["compounds"]`` per creation.
    """
    compound = Compound.objects.filter(code=spec.code).first()
    if compound is None:
        compound = do_create_compound(
            street=street,
            name=spec.name,
            address=spec.address,
            latitude=spec.latitude,
            longitude=spec.longitude,
            plan=spec.plan,
            population=population,
            code=spec.code,
        )
        counts["compounds"] += 1
    return compound
