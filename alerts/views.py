"""The alert pages (under ``/alerts/``): the live panel, one alert with its lifecycle, the snapshot,
and an officer's "dispatched to me" list.

Public pages (no compound in the URL): each declares the capability it needs anywhere in the
user's scope and then reads only what ``alerts.audience.visible_alerts`` lets the user see; an
alert outside it answers 404 like one that does not exist. Lifecycle buttons post to one view
per step, which checks ``alerts.handle`` at the alert's own compound and calls its action.
The panel opens the live endpoint (``/ws/live/``) from ``static/js/live-alerts.js``.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Max
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from alerts import actions
from alerts.audience import visible_alerts
from alerts.catalogue import MODELS, explain
from alerts.forms import AlertFilterForm, DispatchForm, StepForm, filter_alerts
from alerts.queries import (
    access_alert_by_id,
    alert_compound,
    alert_snapshot,
    dispatch_candidates,
    time_to_acknowledge,
)
from district.audit import do_record_pii_view
from district.permissions import HANDLE_ALERTS, VIEW_ALERTS, has_capability, need
from district.typing import AnyUser
from district.views import DeclaredView
from events.choices import AlertStatus
from events.models import Alert
from tenants.models import Compound

PAGE_SIZE = 25
VIEW = need(VIEW_ALERTS)
HANDLE = need(HANDLE_ALERTS)
SEVERITY_BADGE = {
    "low": "text-bg-secondary",
    "medium": "text-bg-warning",
    "high": "text-bg-danger",
    "critical": "text-bg-dark",
}
STATUS_BADGE = {
    "new": "text-bg-danger",
    "acknowledged": "text-bg-warning",
    "dispatched": "text-bg-info",
    "resolved": "text-bg-success",
    "false_alarm": "text-bg-secondary",
}
# The lifecycle buttons: (url name, status it moves to, label), in the order shown.
STEPS = [
    ("alerts:acknowledge", AlertStatus.ACKNOWLEDGED, gettext_lazy("Acknowledge")),
    ("alerts:resolve", AlertStatus.RESOLVED, gettext_lazy("Resolve")),
    ("alerts:false_alarm", AlertStatus.FALSE_ALARM, gettext_lazy("Mark as a false alarm")),
]


def kind_label(kind: str) -> str:
    model = MODELS.get(kind)
    return str(model.label) if model is not None else kind


def duration_text(delta: datetime.timedelta | None) -> str:
    """A duration for people: "45 s", "3 min 20 s", "2 h 5 min"."""
    if delta is None:
        return ""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return _("%(s)d s") % {"s": seconds}
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return _("%(m)d min %(s)d s") % {"m": minutes, "s": seconds}
    hours, minutes = divmod(minutes, 60)
    return _("%(h)d h %(m)d min") % {"h": hours, "m": minutes}


def local_time(value: datetime.datetime | None) -> str:
    return formats.date_format(timezone.localtime(value), "Y-m-d H:i:s") if value else ""


def compound_names(alerts: list[Alert]) -> dict[int, Compound]:
    ids = {a.compound_id for a in alerts}
    return {c.pk: c for c in Compound.objects.filter(pk__in=ids)}


def alert_cells(alert: Alert, compound: Compound | None) -> list[str]:
    """The texts of one alert's row (the table and the phone card show the same)."""
    return [
        local_time(alert.occurred_at),
        kind_label(alert.kind),
        alert.get_severity_display(),
        alert.get_status_display(),
        compound.name if compound is not None else "",
        str(alert.count),
        alert.assignee.get_username() if alert.assignee_id and alert.assignee else "",
    ]


def alert_headers() -> list[str]:
    return [_("time"), _("Alert type"), _("severity"), _("status"), _("compound"), _("occurrences"), _("dispatched to")]


def alert_rows(alerts: list[Alert]) -> tuple[list[dict[str, Any]], list[tuple[str, str, list[Any]]]]:
    """Table rows and phone cards (``templates/_cards.html``) of a page of alerts."""
    compounds = compound_names(alerts)
    headers = alert_headers()
    rows: list[dict[str, Any]] = [
        {
            "alert": alert,
            "cells": alert_cells(alert, compounds.get(alert.compound_id)),
            "severity_class": SEVERITY_BADGE.get(alert.severity, ""),
            "status_class": STATUS_BADGE.get(alert.status, ""),
        }
        for alert in alerts
    ]
    cards = [
        (
            reverse("alerts:alert", args=[row["alert"].pk]),
            f"{row['cells'][1]} · {row['cells'][2]}",
            [(h, v, False) for h, v in zip(headers, row["cells"], strict=True) if v and h not in headers[1:3]],
        )
        for row in rows
    ]
    return rows, cards


class AlertPanelView(DeclaredView):
    """The live alert panel of the user's scope: filter by type, severity, status and compound.

    New alerts appear without reload: the page's script listens on ``/ws/live/`` and fetches
    each new alert's row from :class:`AlertRowView` (with the same filters).
    """

    permissions = {"GET": VIEW}
    template = "alerts/panel.html"
    title = ""
    # Filters the page always applies (also to the rows the live script fetches).
    fixed_filters: dict[str, str] = {}

    def get(self, request: HttpRequest) -> HttpResponse:
        query = request.GET.copy()
        query.update(self.fixed_filters)
        form = AlertFilterForm(query)
        filters = form.cleaned_data if form.is_valid() else {}
        mine = visible_alerts(request.user)
        found = filter_alerts(mine, filters, request.user) if form.is_valid() else mine.none()
        page = Paginator(found.select_related("assignee").order_by("-pk"), PAGE_SIZE).get_page(request.GET.get("page"))
        rows, cards = alert_rows(list(page))
        context = {
            "title": self.title or _("Live alerts"),
            "form": form,
            "filter_errors": form.errors,
            "headers": alert_headers(),
            "rows": rows,
            "cards": cards,
            "page": page,
            "query": form.query_string(),
            "last_id": visible_alerts(request.user).aggregate(last=Max("pk"))["last"] or 0,
            "row_url": reverse("alerts:row", args=[0]),
            "broadcast_url": reverse("alerts:broadcast", args=[0]),
            "pending": "" if self.fixed_filters else pending_text(request.user),
        }
        if request.headers.get("HX-Request"):
            return render(request, "alerts/panel_results.html", context)
        return render(request, self.template, context)


class DispatchedToMeView(AlertPanelView):
    """An officer's phone view: the open alerts dispatched to them, newest first, live."""

    permissions = {"GET": HANDLE}
    template = "alerts/mine.html"
    fixed_filters = {"assigned": "me", "status": AlertStatus.DISPATCHED}

    def get(self, request: HttpRequest) -> HttpResponse:
        self.title = _("Dispatched to me")
        return super().get(request)


class AlertRowView(DeclaredView):
    """One alert's table row and phone card, for the live panel (204 if the panel's filters hide it)."""

    permissions = {"GET": VIEW}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        alert = access_alert_by_id(request.user, pk)
        form = AlertFilterForm(request.GET)
        if not form.is_valid():
            return HttpResponse(status=204)
        filters = form.cleaned_data
        # The panel's own filters decide whether the new alert belongs on it ("after" is the client's).
        if not filter_alerts(Alert.objects.filter(pk=alert.pk), filters | {"after": None}, request.user).exists():
            return HttpResponse(status=204)
        rows, cards = alert_rows([alert])
        context = {"rows": rows, "cards": cards}
        return render(request, "alerts/row.html", context)


def alert_detail_context(request: HttpRequest, alert: Alert, **forms: Any) -> dict[str, Any]:
    """What the alert page shows: fields, explanation, steps, snapshot, and the step forms the user may use."""
    compound = alert_compound(alert)
    may_handle = compound is not None and has_capability(request.user, HANDLE_ALERTS, compound)
    allowed = actions.ALLOWED_STEPS[alert.status]
    tta = time_to_acknowledge(alert)
    steps = list(alert.steps.select_related("user", "assignee"))
    fields = [
        (_("Alert type"), kind_label(alert.kind)),
        (_("severity"), alert.get_severity_display()),
        (_("status"), alert.get_status_display()),
        (_("compound"), f"{compound.name} ({compound.code})" if compound else ""),
        (_("street"), compound.street.name if compound else ""),
        (_("time"), local_time(alert.occurred_at)),
        (_("last occurred"), local_time(alert.last_seen_at)),
        (_("occurrences"), str(alert.count)),
        (_("acknowledged at"), local_time(alert.acknowledged_at)),
        (_("Time to acknowledge"), duration_text(tta)),
        (_("dispatched to"), alert.assignee.get_username() if alert.assignee else ""),
        (_("closed at"), local_time(alert.closed_at)),
    ]
    candidates = dispatch_candidates(alert) if may_handle and AlertStatus.DISPATCHED in allowed else []
    return {
        "alert": alert,
        "title": kind_label(alert.kind),
        "explanation": explain(alert.kind, alert.detail or {}),
        "fields": fields,
        "steps": steps,
        "has_snapshot": alert_snapshot(alert) is not None,
        "may_handle": may_handle,
        "step_buttons": [(name, label) for name, status, label in STEPS if may_handle and status in allowed],
        "step_form": forms.get("step_form") or StepForm(),
        "dispatch_form": (forms.get("dispatch_form") or DispatchForm(candidates)) if candidates else None,
        "severity_badge": SEVERITY_BADGE.get(alert.severity, ""),
        "status_badge": STATUS_BADGE.get(alert.status, ""),
    }


class AlertDetailView(DeclaredView):
    """One alert: why it fired (in the reader's language), its steps, snapshot and lifecycle buttons."""

    permissions = {"GET": VIEW}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        alert = access_alert_by_id(request.user, pk)
        return render(request, "alerts/detail.html", alert_detail_context(request, alert))


class AlertStepView(DeclaredView):
    """POST one lifecycle step (with an optional note) to an alert the user handles."""

    permissions = {"POST": HANDLE}
    action: Any = None
    done = ""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        alert = access_alert_by_id(request.user, pk, capability=HANDLE_ALERTS)
        form = StepForm(request.POST)
        if form.is_valid():
            try:
                type(self).action(alert, acting_user=request.user, note=form.cleaned_data["note"])
            except ValidationError as exc:
                form.add_error(None, exc.messages)
            else:
                messages.success(request, self.done_message())
                return redirect("alerts:alert", pk=alert.pk)
        context = alert_detail_context(request, alert, step_form=form)
        return render(request, "alerts/detail.html", context, status=422)

    def done_message(self) -> str:
        return self.done


class AcknowledgeView(AlertStepView):
    """确认: the user has seen the alert and takes it on."""

    action = actions.do_acknowledge_alert

    def done_message(self) -> str:
        return _("Alert acknowledged.")


class ResolveView(AlertStepView):
    """处置完毕: the situation was dealt with."""

    action = actions.do_resolve_alert

    def done_message(self) -> str:
        return _("Alert resolved.")


class FalseAlarmView(AlertStepView):
    """误报: nothing was wrong (the note says why)."""

    action = actions.do_mark_false_alarm

    def done_message(self) -> str:
        return _("Marked as a false alarm.")


class DispatchView(DeclaredView):
    """派单: send someone who handles alerts of the alert's compound (chosen from the server's list)."""

    permissions = {"POST": HANDLE}

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        alert = access_alert_by_id(request.user, pk, capability=HANDLE_ALERTS)
        form = DispatchForm(dispatch_candidates(alert), request.POST)
        if form.is_valid():
            try:
                actions.do_dispatch_alert(
                    alert, acting_user=request.user, assignee=form.chosen(), note=form.cleaned_data["note"]
                )
            except ValidationError as exc:
                form.add_error(None, exc.messages)
            else:
                messages.success(request, _("Alert dispatched to %(name)s.") % {"name": form.chosen().get_username()})
                return redirect("alerts:alert", pk=alert.pk)
        context = alert_detail_context(request, alert, dispatch_form=form)
        if context["dispatch_form"] is None:
            context["dispatch_form"] = form  # the errors say why it cannot be dispatched now
        return render(request, "alerts/detail.html", context, status=422)


class AlertSnapshotView(DeclaredView):
    """The capture of the alert's access event, for those who see the alert; every view is audited.

    A face in a capture is personal information: the response and its ``view_pii`` audit row
    commit together. Police-only alerts (watch-list hits) are not visible to other roles at all.
    """

    permissions = {"GET": VIEW}

    @transaction.atomic
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        alert = access_alert_by_id(request.user, pk)
        event = alert_snapshot(alert)
        if event is None or not default_storage.exists(event.snapshot):
            raise Http404("No snapshot")
        compound = alert_compound(alert)
        if compound is not None:
            do_record_pii_view(request.user, compound, [event], request=request)
        # A gate capture of some kilobytes: read whole (and closed), not streamed.
        with default_storage.open(event.snapshot, "rb") as stored:
            response = HttpResponse(stored.read(), content_type="image/jpeg")
        response["Cache-Control"] = "private, no-store"
        return response


def pending_text(user: AnyUser) -> str:
    """ "3 open alerts dispatched to you" (for the panel's header)."""
    n = visible_alerts(user).filter(assignee_id=user.pk, status=AlertStatus.DISPATCHED).count() if user.pk else 0
    return ngettext("%(n)d alert dispatched to you", "%(n)d alerts dispatched to you", n) % {"n": n} if n else ""
