"""The alert models: what each watches for, its default thresholds, severity and audience.

One entry per model; per-compound overrides (on/off, severity, thresholds) are
``alerts.AlertRule`` rows, read through ``alerts.rules.rules_for``. ``explain`` turns an alert's
``detail`` into a sentence in the active language, so the same row reads in Chinese and English.
Police-only models (watch-list hits, key-area plates, screening hits) reach police roles only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from events.choices import Severity
from mediation.choices import RiskReason

__all__ = ["MODELS", "PARAM_BOUNDS", "AlertModel", "explain"]

# The range each threshold may take (inclusive, whole numbers); hours of the day are local.
# Wide enough for any real site, narrow enough that no value disables a model by accident.
PARAM_BOUNDS: dict[str, tuple[int, int]] = {
    "window_seconds": (1, 600),
    "hours": (1, 72),
    "quiet_start": (0, 23),
    "quiet_end": (0, 23),
    "minutes": (1, 1440),
    "threshold": (1, 100_000),
    "count": (1, 1000),
    "days": (1, 90),
    "min_days": (1, 90),
    "night_start": (0, 23),
    "night_end": (0, 23),
}


def _fmt(template: str) -> Callable[[dict[str, Any]], str]:
    """An explanation from ``template`` (marked by ``gettext_noop`` for makemessages), translated when shown."""

    def render(detail: dict[str, Any]) -> str:
        try:
            return _(template) % detail
        except (KeyError, TypeError, ValueError):
            return _(template).split("%(")[0].strip()

    return render


def _choose(key: str, variants: dict[str, Callable[[dict[str, Any]], str]]) -> Callable[[dict[str, Any]], str]:
    """The explanation of the variant ``detail[key]`` names (the first one if it names none)."""
    fallback = next(iter(variants.values()))

    def render(detail: dict[str, Any]) -> str:
        return variants.get(str(detail.get(key, "")), fallback)(detail)

    return render


def _dispute_risk(detail: dict[str, Any]) -> str:
    """The case's number and the reasons of its risk, by their labels in the active language."""
    text = _fmt(gettext_noop("Dispute case %(case)s was assessed at a high risk of escalating."))(detail)
    raw = detail.get("reasons")
    codes = [str(code) for code in raw][: len(RiskReason.values)] if isinstance(raw, list) else []
    reasons = [str(RiskReason(code).label) for code in codes if code in RiskReason.values]
    if reasons:
        text += " " + _("Reasons: %(reasons)s.") % {"reasons": ", ".join(reasons)}
    return text


@dataclass(frozen=True)
class AlertModel:
    """One alert model of the catalogue."""

    code: str
    label: Any  # lazy translation
    severity: str
    explain: Callable[[dict[str, Any]], str]
    params: dict[str, Any] = field(default_factory=dict)
    police_only: bool = False
    time_driven: bool = False
    # Set only by police roles (those that see the watch-list): a compound's property staff must not
    # be able to silence what is raised for the police, nor the escalation of a dispute.
    police_setting: bool = False

    @property
    def set_by_police(self) -> bool:
        return self.police_only or self.police_setting


_MODELS = [
    AlertModel(
        "stranger",
        gettext_lazy("Stranger at a gate"),
        Severity.LOW,
        _fmt(gettext_noop("A face not enrolled in this compound was seen at %(device)s.")),
    ),
    AlertModel(
        "watchlist_hit",
        gettext_lazy("Watch-list hit"),
        Severity.CRITICAL,
        _fmt(gettext_noop("%(device)s matched a watch-list entry (%(watch_kind)s) with similarity %(similarity)s.")),
        police_only=True,
    ),
    AlertModel(
        "screening_hit",
        gettext_lazy("Screening hit"),
        Severity.HIGH,
        _fmt(gettext_noop("An ID number screened in batch %(batch)s is on the watch-list (%(watch_kind)s).")),
        police_only=True,
    ),
    AlertModel(
        "key_area_plate",
        gettext_lazy("Key-area plate"),
        Severity.HIGH,
        _fmt(gettext_noop("Plate %(plate)s on the watch-list (%(watch_kind)s) was read at %(device)s.")),
        police_only=True,
    ),
    AlertModel(
        "tailgating",
        gettext_lazy("Tailgating"),
        Severity.MEDIUM,
        _choose(
            "via",
            {
                "capture": _fmt(
                    gettext_noop("%(passed)s faces in one capture at %(device)s; %(authorised)s were authorised.")
                ),
                "counter": _fmt(
                    gettext_noop(
                        "%(passed)s people passed %(device)s within %(seconds)s seconds; "
                        "%(authorised)s were authorised."
                    )
                ),
            },
        ),
        params={"window_seconds": 5},
    ),
    AlertModel(
        "elderly_inactive",
        gettext_lazy("Elderly resident inactive"),
        Severity.HIGH,
        _fmt(
            gettext_noop(
                "No activity at the home of an elderly resident living alone for %(hours)s hours, "
                "not counting quiet hours."
            )
        ),
        params={"hours": 3, "quiet_start": 22, "quiet_end": 7},
        time_driven=True,
    ),
    AlertModel(
        "ebike_in_building",
        gettext_lazy("E-bike entering a building"),
        Severity.MEDIUM,
        _fmt(gettext_noop("An e-bike was detected entering at %(device)s.")),
    ),
    AlertModel(
        "fire_lane",
        gettext_lazy("Fire lane occupied"),
        Severity.HIGH,
        _fmt(gettext_noop("The fire lane at %(device)s has been occupied for %(minutes)s minutes.")),
        params={"minutes": 10},
        time_driven=True,
    ),
    AlertModel(
        "crowd",
        gettext_lazy("Crowd flow"),
        Severity.MEDIUM,
        _fmt(
            gettext_noop("%(count)s people counted at %(device)s within %(minutes)s minutes (threshold %(threshold)s).")
        ),
        params={"threshold": 200, "minutes": 5},
    ),
    AlertModel(
        "device_offline",
        gettext_lazy("Device offline"),
        Severity.LOW,
        _fmt(gettext_noop("%(device)s has sent nothing for %(minutes)s minutes.")),
        params={"minutes": 10},
        time_driven=True,
    ),
    AlertModel(
        "night_entries",
        gettext_lazy("Repeated night entries by a non-resident"),
        Severity.MEDIUM,
        _choose(
            "by",
            {
                "plate": _fmt(
                    gettext_noop("Unregistered plate %(plate)s entered at night on %(count)s nights in %(days)s days.")
                ),
                "face": _fmt(
                    gettext_noop("The same unregistered face entered at night on %(count)s nights in %(days)s days.")
                ),
            },
        ),
        params={"count": 3, "days": 7, "night_start": 23, "night_end": 5},
    ),
    AlertModel(
        "group_renting",
        gettext_lazy("Possible group renting"),
        Severity.MEDIUM,
        _fmt(gettext_noop("%(count)s different unregistered people entered %(place)s in %(days)s days.")),
        params={"count": 6, "days": 7, "min_days": 2},
    ),
    AlertModel(
        "frequent_visitor",
        gettext_lazy("Frequent unregistered visitor"),
        Severity.LOW,
        _fmt(gettext_noop("An unregistered person was seen on %(count)s days out of %(days)s: ask them to register.")),
        params={"count": 5, "days": 14},
    ),
    # Raised by mediation when a case's escalation risk is assessed high (``mediation.actions``);
    # no threshold: the assessment is a person's (风险研判), not a count.
    AlertModel(
        "dispute_high_risk",
        gettext_lazy("Dispute at high risk of escalating"),
        Severity.HIGH,
        _dispute_risk,
        police_setting=True,
    ),
]
MODELS: dict[str, AlertModel] = {m.code: m for m in _MODELS}


def explain(kind: str, detail: dict[str, Any]) -> str:
    """Why an alert of ``kind`` fired, in the active language."""
    model = MODELS.get(kind)
    if model is None:
        return kind
    return model.explain(detail)
