"""A compound's alert settings (``/alerts/settings/``): each model of the catalogue on or off, its
severity and its thresholds, for holders of ``alerts.configure`` at the compound.

The page writes one ``AlertRule`` per model through ``alerts.actions.do_save_alert_rule`` (audit
row and event included), all in one transaction: a refused threshold saves nothing.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from alerts.actions import do_save_alert_rule
from alerts.catalogue import MODELS
from alerts.forms import CODE_PREFIX, AlertRulesForm
from alerts.models import AlertRule
from alerts.queries import configurable_compounds
from district.permissions import CONFIGURE_ALERTS, VIEW_WATCHLIST, has_capability, need
from district.views import DeclaredView
from tenants.models import Compound

CONFIGURE = need(CONFIGURE_ALERTS)
PAGE_SIZE = 50


class AlertSettingsIndexView(DeclaredView):
    """The compounds whose alert settings the user may change (filter by code prefix)."""

    permissions = {"GET": CONFIGURE}

    def get(self, request: HttpRequest) -> HttpResponse:
        compounds = configurable_compounds(request.user).order_by("code")
        code = (request.GET.get("code") or "").strip()
        error = ""
        if code:
            try:
                CODE_PREFIX(code)
            except ValidationError as exc:
                error = " ".join(exc.messages)
                compounds = compounds.none()
            else:
                compounds = compounds.filter(code__startswith=code[:32])
        page = Paginator(compounds, PAGE_SIZE).get_page(request.GET.get("page"))
        overridden = set(
            AlertRule.objects.filter(compound__in=[c.pk for c in page]).values_list("compound_id", flat=True)
        )
        context = {"page": page, "code": code, "error": error, "overridden": overridden}
        return render(request, "alerts/settings_index.html", context)


def access_configurable_compound(request: HttpRequest, pk: int) -> Compound:
    """The compound ``pk`` if the user may configure its alerts; 404 alike for missing and out of reach."""
    compound = configurable_compounds(request.user).filter(pk=pk).first()
    if compound is None:
        raise Http404("No such compound")
    return compound


def police_at(request: HttpRequest, compound: Compound) -> bool:
    """May the user set the models set by the police here (they see the watch-list at the compound)?"""
    return has_capability(request.user, VIEW_WATCHLIST, compound)


class AlertSettingsView(DeclaredView):
    """One compound's alert models: on/off, severity (or the catalogue's) and thresholds within range."""

    permissions = {"GET": CONFIGURE, "POST": CONFIGURE}

    def rules(self, compound: Compound) -> dict[str, AlertRule]:
        return {rule.model: rule for rule in AlertRule.objects.filter(compound=compound)}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        compound = access_configurable_compound(request, pk)
        form = AlertRulesForm(rules=self.rules(compound), police=police_at(request, compound))
        return self.show(request, compound, form)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        compound = access_configurable_compound(request, pk)
        form = AlertRulesForm(request.POST, rules=self.rules(compound), police=police_at(request, compound))
        if form.is_valid():
            try:
                with transaction.atomic():
                    for code in MODELS:
                        do_save_alert_rule(compound, code, acting_user=request.user, **form.rule(code))
            except ValidationError as exc:
                self.add_errors(form, code, exc)
            else:
                messages.success(request, _("Alert settings saved."))
                return redirect("alerts:settings", pk=compound.pk)
        return self.show(request, compound, form, status=422)

    def add_errors(self, form: AlertRulesForm, code: str, exc: ValidationError) -> None:
        if not hasattr(exc, "error_dict"):
            form.add_error(None, exc.messages)
            return
        for name, errors in exc.message_dict.items():
            field = f"{code}__{name}"
            form.add_error(field if field in form.fields else None, errors)

    def show(
        self, request: HttpRequest, compound: Compound, form: AlertRulesForm, *, status: int = 200
    ) -> HttpResponse:
        # Not ``compound``: in a template that name turns base.html's navigation into the compound's.
        context: dict[str, Any] = {"configured": compound, "form": form, "models": form.models()}
        return render(request, "alerts/settings.html", context, status=status)
