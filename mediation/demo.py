"""The demo city's mediation cases; ``demo.seed_demo`` drives it.

Each compound gets three disputes registered and moved along the workflow through the same
actions a beat officer's phone uses (so every step, audit row and figure is real): one ends in an
agreement, one is still being mediated, and in every third compound one fails. The public
figures are then refreshed, so the statistics and the dashboards' success rate have something to
show. Idempotent: each case carries a ``client_key`` of its own (``demo-<n>``), and a compound
that has it already is left alone.
"""

from __future__ import annotations

import datetime
from collections import Counter
from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from django_tenants.utils import tenant_context

from mediation.actions import PartyData, do_register_case, do_transition_case
from mediation.choices import CaseCategory, CaseSource, CaseStatus, PartyRole
from mediation.figures import do_refresh_figures
from tenants.models import Compound

__all__ = ["DEMO_CASES", "seed_cases"]


@dataclass(frozen=True)
class DemoCase:
    """A dispute of the demo and the statuses it goes through after registration."""

    key: str
    category: str
    source: str
    title: str
    parties: tuple[str, str]
    days_ago: int
    path: tuple[str, ...]
    every: int = 1  # only in every n-th compound


DEMO_CASES = (
    DemoCase(
        "demo-1",
        CaseCategory.NEIGHBOUR,
        CaseSource.WALK_IN,
        "楼上漏水引发邻里纠纷",
        ("张某", "李某"),
        20,
        (CaseStatus.ACCEPTED, CaseStatus.MEDIATING, CaseStatus.AGREEMENT),
    ),
    DemoCase(
        "demo-2",
        CaseCategory.PROPERTY_MANAGEMENT,
        CaseSource.GRID_SCREENING,
        "停车位收费争议",
        ("王某", "物业公司"),
        6,
        (CaseStatus.ACCEPTED, CaseStatus.MEDIATING),
    ),
    DemoCase(
        "demo-3",
        CaseCategory.RENTAL,
        CaseSource.REFERRAL_110,
        "租客押金退还纠纷",
        ("赵某", "刘某"),
        15,
        (CaseStatus.ACCEPTED, CaseStatus.MEDIATING, CaseStatus.FAILED),
        every=3,
    ),
)


def seed_cases(compounds: list[Compound], counts: Counter[str]) -> None:
    """Register the demo's cases in each of ``compounds`` that lacks them; refresh their figures."""
    system = AnonymousUser()  # audited as the system, like the rest of the seed
    now = timezone.now()
    for index, compound in enumerate(compounds):
        with tenant_context(compound):
            for spec in DEMO_CASES:
                if index % spec.every:
                    continue
                at = now - datetime.timedelta(days=spec.days_ago)
                case, created = do_register_case(
                    acting_user=system,
                    source=spec.source,
                    category=spec.category,
                    title=spec.title,
                    description="",
                    parties=[
                        PartyData(role=role, name=name)
                        for role, name in zip((PartyRole.APPLICANT, PartyRole.RESPONDENT), spec.parties, strict=True)
                    ],
                    client_key=f"{spec.key}-{compound.code}",
                    now=at,
                )
                if not created:
                    continue
                for step, status in enumerate(spec.path, start=1):
                    case = do_transition_case(case, status, acting_user=system, now=at + datetime.timedelta(days=step))
                counts["cases"] += 1
            do_refresh_figures(compound, now=now)
