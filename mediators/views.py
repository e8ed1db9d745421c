"""The city's mediator roster pages (public, under ``mediators/``), narrowed to the user's cities.

``mediation.view`` reads the roster of the cities the user's roles lie in (phones masked
unless the user keeps the roster or holds ``pii.view`` there; unmasked reads audited);
``mediators.manage`` adds, changes and deactivates mediators of the cities it keeps. A
mediator of another city answers 404, like a missing one. Writes go through
``mediators.actions``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from district.permissions import MANAGE_MEDIATORS, VIEW_CASES, need
from district.views import DeclaredView
from mediators.actions import (
    access_mediator_by_id,
    category_choices,
    city_ids,
    do_deactivate_mediator,
    do_record_mediator_pii_view,
    do_save_mediator,
    mediator_cities,
    mediators_visible_to,
    phone_cities,
    shown_phone,
)
from mediators.forms import MediatorFilterForm, MediatorForm
from mediators.models import Mediator

__all__ = ["MediatorDeactivateView", "MediatorEditView", "MediatorListView", "filter_mediators"]

READ = need(VIEW_CASES)
KEEP = need(MANAGE_MEDIATORS)
PAGE_SIZE = 50


def filter_mediators(qs: QuerySet[Mediator], data: dict[str, Any]) -> QuerySet[Mediator]:
    """Kind, specialty, home province, remote video, active, and a search of name and organisation."""
    if data.get("kind"):
        qs = qs.filter(kind=data["kind"])
    if data.get("specialty"):
        qs = qs.filter(specialties__contains=[data["specialty"]])
    if data.get("province"):
        qs = qs.filter(home_province__icontains=data["province"])
    if data.get("remote"):
        qs = qs.filter(remote=True)
    if not data.get("inactive"):
        qs = qs.filter(active=True)
    if q := data.get("q"):
        qs = qs.filter(Q(name__icontains=q) | Q(organisation__icontains=q))
    return qs


class MediatorListView(DeclaredView):
    """The roster of the user's cities: filters; a card per mediator on a phone."""

    permissions = {"GET": READ}

    @transaction.atomic  # the audit rows of unmasked phones commit with the read
    def get(self, request: HttpRequest) -> HttpResponse:
        form = MediatorFilterForm(request.GET)
        qs = mediators_visible_to(request.user)
        qs = filter_mediators(qs, form.cleaned_data) if form.is_valid() else qs.none()
        page = Paginator(qs.order_by("name", "pk"), PAGE_SIZE).get_page(request.GET.get("page"))
        whole = phone_cities(request.user)
        labels = dict(category_choices())
        keeps = city_ids(request.user, MANAGE_MEDIATORS)
        rows: list[dict[str, Any]] = [
            {
                "mediator": m,
                "phone": shown_phone(m, whole),
                "tel": bool(m.phone) and m.city_id in whole,
                "specialties": [labels.get(s, s) for s in m.specialties],
                "edit_url": reverse("mediators:edit", args=[m.pk]) if m.city_id in keeps else "",
            }
            for m in page
        ]
        do_record_mediator_pii_view(request.user, list(page), whole, request=request)
        cards = []
        for row in rows:
            mediator: Mediator = row["mediator"]
            fields = [
                (_("kind"), mediator.get_kind_display(), False),
                (_("specialties"), "、".join(row["specialties"]) or "—", False),
                (_("home province"), mediator.home_province or "—", False),
                (_("phone"), row["phone"] or "—", row["tel"]),
            ]
            cards.append((row["edit_url"] or f"#mediator-{mediator.pk}", mediator.name, fields))
        context = {"form": form, "rows": rows, "cards": cards, "page": page, "may_keep": bool(keeps)}
        return render(request, "mediators/list.html", context)


class MediatorEditView(DeclaredView):
    """Add a mediator to a roster the user keeps (no ``pk``), or change one."""

    permissions = {"GET": KEEP, "POST": KEEP}

    def form(self, request: HttpRequest, pk: int | None, data: Any = None) -> MediatorForm:
        instance = access_mediator_by_id(request.user, pk, manage=True) if pk is not None else Mediator()
        return MediatorForm(data, instance=instance, cities=mediator_cities(request.user, MANAGE_MEDIATORS))

    def get(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        return render(request, "mediators/form.html", {"form": self.form(request, pk)})

    def post(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        form = self.form(request, pk, request.POST)
        if form.is_valid():
            mediator = form.save(commit=False)
            user = form.cleaned_data.get("username")
            mediator.user_id = user.pk if user is not None else None
            try:
                do_save_mediator(mediator, acting_user=request.user)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else ("username" if field == "user" else None), errors)
            except PermissionDenied as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("Mediator %(name)s saved.") % {"name": mediator.name})
                return redirect("mediators:list")
        return render(request, "mediators/form.html", {"form": form}, status=422)


class MediatorDeactivateView(DeclaredView):
    """Take a mediator off the active roster (POST)."""

    permissions = {"POST": KEEP}

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        mediator = access_mediator_by_id(request.user, pk, manage=True)
        do_deactivate_mediator(mediator, acting_user=request.user)
        messages.success(request, _("Mediator %(name)s deactivated.") % {"name": mediator.name})
        return redirect("mediators:list")
