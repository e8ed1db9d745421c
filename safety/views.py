"""Safety pages (``/safety/``): incidents (list, new, import, unassigned), a compound's index
explained component by component, and the dashboard of an area (charts drawn by
``static/js/safety-dashboard.js`` from ``/api/safety/dashboard/``).

Public pages: each declares what it needs and narrows by scope (``safety.queries``, and
``safety.api.area_for_dashboard`` for dashboards). Writes go through ``safety.incidents``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from alerts.audience import alert_groups_for
from district.jobs import defer_in_compound
from district.models import Area
from district.params import whole_number
from district.permissions import MANAGE_INCIDENTS, SIGNED_IN, VIEW_DASHBOARD, need
from district.views import DeclaredView
from district.views import home as compound_cards
from safety import incidents as actions
from safety.api import area_for_dashboard
from safety.choices import COMPONENT_LABELS, IncidentStatus, IncidentType
from safety.formula import DEFAULT_WEIGHTS
from safety.models import CompoundIndexSnapshot, Incident
from safety.queries import (
    access_compound_for_index,
    access_incident_by_id,
    assignable_compounds,
    incident_cities,
    visible_incidents,
)
from safety.tasks import RECOMPUTE_TASK

MANAGE = need(MANAGE_INCIDENTS)
VIEW = need(VIEW_DASHBOARD)
PAGE_SIZE = 50


class IncidentForm(forms.Form):
    """A new incident, entered by hand."""

    type = forms.ChoiceField(label=gettext_lazy("type"), choices=IncidentType.choices)
    occurred_at = forms.DateTimeField(label=gettext_lazy("time"))
    place = forms.CharField(label=pgettext_lazy("incident", "place"), max_length=200)
    summary = forms.CharField(label=gettext_lazy("summary"), max_length=1000, required=False, widget=forms.Textarea)
    status = forms.ChoiceField(label=gettext_lazy("status"), choices=IncidentStatus.choices)
    external_id = forms.CharField(label=gettext_lazy("dispatch number"), max_length=40, required=False)
    compound = forms.CharField(label=gettext_lazy("compound code"), max_length=12, required=False)


class ImportForm(forms.Form):
    """A 110 dispatch export (.csv or .xlsx)."""

    file = forms.FileField(label=gettext_lazy("file"))


class AssignForm(forms.Form):
    """The compound an unmatched incident belongs to, by code."""

    compound = forms.RegexField(label=gettext_lazy("compound code"), regex=r"^\d{12}$", max_length=12)


class IncidentListView(DeclaredView):
    """Incidents of the user's scope, newest first; ``?compound=<id>`` for one compound's."""

    permissions = {"GET": MANAGE}

    def get(self, request: HttpRequest) -> HttpResponse:
        incidents = visible_incidents(request.user)
        compound = request.GET.get("compound", "")
        if (compound_id := whole_number(compound)) is not None:
            incidents = incidents.filter(compound_id=compound_id)
        page = Paginator(incidents, PAGE_SIZE).get_page(request.GET.get("page"))
        cards = [
            (
                "",
                f"{i.get_type_display()} · {i.place}",
                [
                    (_("time"), timezone.localtime(i.occurred_at).strftime("%Y-%m-%d %H:%M"), False),
                    (_("compound"), i.compound.name if i.compound else _("Unassigned"), False),
                ],
            )
            for i in page
        ]
        return render(request, "safety/incidents.html", {"page": page, "cards": cards})


class IncidentCreateView(DeclaredView):
    """Enter an incident by hand (police roles), in the city of the user's role."""

    permissions = {"GET": MANAGE, "POST": MANAGE}

    def get(self, request: HttpRequest) -> HttpResponse:
        initial = {"occurred_at": timezone.localtime().strftime("%Y-%m-%d %H:%M"), "status": IncidentStatus.OPEN}
        return render(request, "safety/incident_form.html", {"form": IncidentForm(initial=initial)})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = IncidentForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            city = incident_cities(request.user).first()
            compound = None
            if data["compound"]:
                compound = assignable_compounds(request.user).filter(code=data["compound"]).first()
                if compound is None:
                    form.add_error("compound", _("No such compound in your part of the city."))
            if city is None:
                form.add_error(None, _("Your roles are in no city."))
            if form.is_valid() and city is not None:
                incident = Incident(
                    city=city,
                    compound=compound,
                    type=data["type"],
                    occurred_at=data["occurred_at"],
                    place=data["place"],
                    summary=data["summary"],
                    status=data["status"],
                    external_id=data["external_id"],
                )
                try:
                    actions.do_save_incident(incident, acting_user=request.user)
                except ValidationError as exc:
                    for message in exc.messages:
                        form.add_error(None, message)
                else:
                    messages.success(request, _("Incident saved."))
                    return redirect("safety:incidents")
        return render(request, "safety/incident_form.html", {"form": form}, status=422)


class IncidentImportView(DeclaredView):
    """Import the city's 110 dispatch export; the answer is the row-by-row report."""

    permissions = {"GET": MANAGE, "POST": MANAGE}

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "safety/import.html", {"form": ImportForm(), "max_rows": actions.MAX_ROWS})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ImportForm(request.POST, request.FILES)
        city = incident_cities(request.user).first()
        report = None
        if form.is_valid() and city is not None:
            upload = form.cleaned_data["file"]
            if upload.size > actions.MAX_BYTES:
                form.add_error("file", _("The file is larger than %(mb)d MB.") % {"mb": actions.MAX_BYTES // 2**20})
            else:
                try:
                    report = actions.do_import_incidents(city, upload.name, upload.read(), acting_user=request.user)
                except actions.IncidentImportError as exc:
                    form.add_error("file", exc.message)
        elif city is None:
            form.add_error(None, _("Your roles are in no city."))
        context = {"form": form, "report": report, "max_rows": actions.MAX_ROWS}
        return render(request, "safety/import.html", context, status=200 if report is not None else 422)


class UnassignedView(DeclaredView):
    """Incidents no compound was found for, for a person to assign."""

    permissions = {"GET": MANAGE}

    def get(self, request: HttpRequest) -> HttpResponse:
        incidents = visible_incidents(request.user).filter(compound__isnull=True)
        page = Paginator(incidents, PAGE_SIZE).get_page(request.GET.get("page"))
        return render(request, "safety/unassigned.html", {"page": page, "form": AssignForm()})


class AssignView(DeclaredView):
    """Match one incident to a compound of the user's scope (by code)."""

    permissions = {"POST": MANAGE}

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        incident = access_incident_by_id(request.user, pk)
        form = AssignForm(request.POST)
        compound = None
        if form.is_valid():
            compound = assignable_compounds(request.user).filter(code=form.cleaned_data["compound"]).first()
        if compound is None:
            messages.error(request, _("No such compound in your part of the city."))
            return redirect("safety:unassigned")
        try:
            actions.do_assign_incident(incident, compound, acting_user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Incident assigned to %(name)s.") % {"name": compound.name})
        return redirect("safety:unassigned")


def record_links(compound: Any) -> dict[str, str]:
    """Where the records behind each component are listed."""
    return {
        "incidents": f"{reverse('safety:incidents')}?compound={compound.pk}",
        "alerts": f"{reverse('alerts:panel')}?compound={compound.code}",
        "disputes": reverse("mediation:case_list", kwargs={"compound": compound.code}),
        "prevention": reverse("access:devices", kwargs={"compound": compound.code}),
    }


class CompoundIndexView(DeclaredView):
    """One compound's index: score, band, stars, every component with its inputs, and the records behind."""

    permissions = {"GET": VIEW, "POST": MANAGE}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        compound = access_compound_for_index(request.user, pk)
        snapshot = CompoundIndexSnapshot.objects.filter(compound=compound).order_by("-day").first()
        links = record_links(compound)
        components = []
        if snapshot is not None:
            for name in DEFAULT_WEIGHTS:
                values = dict(snapshot.components.get(name, {}))
                components.append(
                    {
                        "name": name,
                        "label": COMPONENT_LABELS[name],
                        "score": values.pop("score", None),
                        "weight": values.pop("weight", None),
                        "inputs": sorted(values.items()),
                        "link": links[name],
                    }
                )
        history = list(
            CompoundIndexSnapshot.objects.filter(compound=compound).order_by("-day").values("day", "score", "band")[:30]
        )
        context = {"indexed": compound, "snapshot": snapshot, "components": components, "history": history}
        return render(request, "safety/compound_index.html", context)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Recompute today's index of the compound in the background (on demand)."""
        compound = access_compound_for_index(request.user, pk)
        with transaction.atomic():
            defer_in_compound(RECOMPUTE_TASK, compound, day=timezone.localdate().isoformat())
        messages.success(request, _("The index will be recomputed in a moment."))
        return redirect("safety:compound_index", pk=compound.pk)


def render_dashboard(request: HttpRequest, area: Area | None) -> HttpResponse:
    """The dashboard page of ``area`` (None: the user's compounds); its charts load their data themselves."""
    query = f"?area={area.pk}" if area is not None else ""
    context = {
        "area": area,
        "big_screen": request.GET.get("screen") == "1",
        "data_url": reverse("safety-api:dashboard") + query,
        "map_url": reverse("safety-api:map") + query,
        "live": bool(alert_groups_for(request.user)),  # live markers only for users who receive alerts
    }
    return render(request, "safety/dashboard.html", context)


class DashboardPageView(DeclaredView):
    """The dashboard of an area (``?area=<id>``; the user's highest by default); ``?screen=1``: big screen."""

    permissions = {"GET": VIEW}

    def get(self, request: HttpRequest) -> HttpResponse:
        raw = request.GET.get("area", "")
        area_id = whole_number(raw)
        return render_dashboard(request, area_for_dashboard(request.user, area_id))


class HomeView(DeclaredView):
    """The home page: the dashboard of the highest area a user's dashboard roles cover (city bureau,
    district branch, street office); the compound cards for everyone else (``district.views.home``).
    """

    permissions = {"GET": SIGNED_IN}

    def get(self, request: HttpRequest) -> HttpResponse:
        # The highest area of the user's dashboard roles; None without one held at an area.
        area = area_for_dashboard(request.user, None)
        return render_dashboard(request, area) if area is not None else compound_cards(request)
