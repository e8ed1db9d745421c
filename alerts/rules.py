"""Each compound's alert rules: the catalogue's defaults with its ``AlertRule`` overrides merged over them.

A compound may switch a model off, change its severity and change any of its thresholds
(``params``); what it does not override keeps the catalogue's default. Overrides are read
once per job or request — :func:`rules_for` for one compound, :func:`rules_for_compounds` for
a periodic sweep over many — and the :class:`Rules` object is passed down to every model, so
an evaluation reads ``alerts_alertrule`` once however many models it runs.

Stored params are checked again when read (:func:`stored_params`): a key the model does not
have is ignored and a value of the wrong type or out of bounds falls back to the default, so a
hand-edited row can never crash the engine or make a model fire on everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alerts.catalogue import MODELS, PARAM_BOUNDS
from alerts.models import AlertRule
from events.choices import Severity

__all__ = ["Rule", "Rules", "rules_for", "rules_for_compounds", "stored_params"]


@dataclass(frozen=True)
class Rule:
    """One model as a compound runs it: on or off, its severity and its thresholds."""

    model: str
    enabled: bool
    severity: str
    params: Mapping[str, int] = field(default_factory=dict)

    def __getitem__(self, name: str) -> int:
        return self.params[name]


class Rules:
    """A compound's rules for every model of the catalogue (``rules["stranger"]``)."""

    def __init__(self, compound_id: int, overrides: Iterable[AlertRule] = ()) -> None:
        self.compound_id = compound_id
        by_model = {row.model: row for row in overrides}
        self._rules: dict[str, Rule] = {}
        for code, model in MODELS.items():
            row = by_model.get(code)
            if row is None:
                self._rules[code] = Rule(code, True, model.severity, dict(model.params))
                continue
            severity = row.severity if row.severity in Severity.values else model.severity
            self._rules[code] = Rule(code, row.enabled, severity, stored_params(code, row.params))

    def __getitem__(self, code: str) -> Rule:
        return self._rules[code]

    def enabled(self, code: str) -> bool:
        return self._rules[code].enabled


def stored_params(code: str, raw: Any) -> dict[str, int]:
    """The thresholds of model ``code``: its defaults, overridden by the valid values of ``raw``.

    Saving a rule checks its values (``alerts.actions``); this checks them again on reading,
    against the same :data:`~alerts.catalogue.PARAM_BOUNDS`: an unknown name is ignored and a
    value that is not a whole number within bounds keeps the default.
    """
    params = dict(MODELS[code].params)
    if not isinstance(raw, Mapping):
        return params
    for name, value in raw.items():
        if name not in params:
            continue
        low, high = PARAM_BOUNDS.get(name, (0, 2**31 - 1))
        # bool is an int in Python; a threshold of "true" is a mistake, not 1.
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            params[name] = value
    return params


def rules_for(compound_id: int) -> Rules:
    """The rules of one compound (one query)."""
    return Rules(compound_id, AlertRule.objects.filter(compound_id=compound_id))


def rules_for_compounds(compound_ids: Iterable[int]) -> dict[int, Rules]:
    """The rules of many compounds (one query), for the periodic sweeps."""
    ids = list(compound_ids)
    rows: dict[int, list[AlertRule]] = {pk: [] for pk in ids}
    for row in AlertRule.objects.filter(compound_id__in=ids):
        rows[row.compound_id].append(row)
    return {pk: Rules(pk, found) for pk, found in rows.items()}
