"""The demo city's incidents and index history; ``demo.seed_demo`` drives it.

A fresh demo would otherwise show empty dashboards until the first nightly snapshot. The seed
files one 110 incident per compound over the last weeks (a fixed random seed, so every machine gets
the same ones, with dispatch numbers ``DEMO-…`` so a second run adds none) and then takes the
snapshots of the days that have none yet, through the same functions as the nightly job: every
figure on the demo's dashboards is computed, none is invented.
"""

from __future__ import annotations

import datetime
import random
from collections import Counter
from collections.abc import Sequence

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from district.models import Area
from safety.choices import IncidentSource, IncidentStatus, IncidentType
from safety.incidents import do_save_incident
from safety.models import AreaIndexSnapshot, Incident
from safety.snapshots import do_snapshot_day
from tenants.models import Compound

__all__ = ["DEMO_INCIDENTS_PER_COMPOUND", "DEMO_INDEX_DAYS", "seed_incidents", "seed_index_history"]

# One incident per compound over 45 days, about what a quiet compound of a few hundred residents
# sees; more would colour the whole small demo city red (each costs 5 points per 1,000 residents).
DEMO_INCIDENTS_PER_COMPOUND = 1
DEMO_INDEX_DAYS = 30
SEED = 20261130
# Most 110 calls are disputes and public order; criminal and fire ones are rare.
TYPE_WEIGHTS = {
    IncidentType.PUBLIC_ORDER: 10,
    IncidentType.OTHER: 6,
    IncidentType.TRAFFIC: 4,
    IncidentType.CRIMINAL: 2,
    IncidentType.FIRE: 1,
}
SUMMARIES = {
    IncidentType.PUBLIC_ORDER: "邻里噪音纠纷，民警到场调解",
    IncidentType.OTHER: "老人走失求助，已找回",
    IncidentType.TRAFFIC: "小区门口两车剐蹭",
    IncidentType.CRIMINAL: "电动车电瓶被盗",
    IncidentType.FIRE: "楼道杂物起火，已扑灭",
}


def seed_incidents(city: Area, compounds: Sequence[Compound], counts: Counter[str], *, today: datetime.date) -> None:
    """File the demo's incidents of the 45 days before ``today`` in ``compounds`` (missing ones only).

    Compounds are weighted unevenly (the first ones busier), so the ranking has a top and a bottom.
    """
    if not compounds:
        return
    rng = random.Random(SEED)
    types, type_weights = list(TYPE_WEIGHTS), list(TYPE_WEIGHTS.values())
    existing = set(
        Incident.objects.filter(city=city, external_id__startswith="DEMO-").values_list("external_id", flat=True)
    )
    busy = [len(compounds) - i for i in range(len(compounds))]
    for n in range(1, DEMO_INCIDENTS_PER_COMPOUND * len(compounds) + 1):
        kind = rng.choices(types, type_weights)[0]
        compound = rng.choices(list(compounds), busy)[0]
        day = today - datetime.timedelta(days=rng.randint(1, 45))
        at = timezone.make_aware(datetime.datetime.combine(day, datetime.time(rng.randint(0, 23), rng.randint(0, 59))))
        external_id = f"DEMO-{n:04d}"
        if external_id in existing:
            continue
        incident = Incident(
            city=city,
            compound=compound,
            external_id=external_id,
            type=kind,
            occurred_at=at,
            place=compound.address or compound.name,
            summary=SUMMARIES[kind],
            status=IncidentStatus.CLOSED if day < today - datetime.timedelta(days=3) else IncidentStatus.OPEN,
            source=IncidentSource.DISPATCH,
        )
        do_save_incident(incident, acting_user=AnonymousUser())  # audited as the system
        counts["incidents"] += 1


def seed_index_history(city: Area, counts: Counter[str], *, today: datetime.date) -> None:
    """Snapshot the index of each of the last ``DEMO_INDEX_DAYS`` days the city has no roll-up of."""
    first = today - datetime.timedelta(days=DEMO_INDEX_DAYS)
    done = set(AreaIndexSnapshot.objects.filter(area=city, day__gte=first).values_list("day", flat=True))
    for back in range(DEMO_INDEX_DAYS, 0, -1):
        day = today - datetime.timedelta(days=back)
        if day not in done:
            do_snapshot_day(day)
            counts["index days"] += 1
