"""The city's index weights (``/safety/settings/``, issue #12), for holders of ``safety.configure``.

GET shows the weights of the user's city (``?city=<id>`` when they hold the capability in
several; any other city answers 404 alike, missing or not theirs), each one's share of the
index after normalisation, the defaults and how the weights act. POST saves through
``safety.config`` (or resets to the defaults with ``reset``), optionally queueing today's
recompute of the whole city; invalid input shows the form again with its errors (422).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from district.form_fields import BootstrapMixin
from district.models import Area
from district.params import whole_number
from district.permissions import CONFIGURE_INDEX, cities_with, need
from district.views import DeclaredView
from safety.choices import COMPONENT_LABELS
from safety.config import MAX_WEIGHT, WEIGHT_KEYS, default_weights, do_configure_index, do_reset_index, weights_of
from safety.formula import normalised

CONFIGURE = need(CONFIGURE_INDEX)

# What each component measures, in one line (docs/safety-index.md has the formulas).
EXPLANATIONS = {
    "incidents": gettext_lazy(
        "110 incidents per 1,000 residents over 30 days, weighted by type (criminal 3, fire 2, public order 1, "
        "traffic and other 0.5)."
    ),
    "alerts": gettext_lazy(
        "Alerts per 1,000 residents weighted by severity (false alarms excluded), and the share acknowledged "
        "within 15 minutes."
    ),
    "disputes": gettext_lazy(
        "Disputes registered per 1,000 residents, overdue cases, and the share of concluded cases that reached "
        "an agreement."
    ),
    "prevention": gettext_lazy(
        "Devices online, completeness of the population register, and elderly residents living alone whose "
        "home has a sensor."
    ),
}


class IndexWeightsForm(BootstrapMixin, forms.Form):
    """The four weights (0–100, two decimals) and whether to recompute today's index at once."""

    recompute = forms.BooleanField(label=gettext_lazy("Recompute today's index of the whole city now"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for key in WEIGHT_KEYS:
            self.fields[key] = forms.DecimalField(
                label=COMPONENT_LABELS[key], min_value=0, max_value=MAX_WEIGHT, max_digits=5, decimal_places=2
            )
        self.order_fields([*WEIGHT_KEYS, "recompute"])
        self.fields["recompute"].widget.attrs["class"] = "form-check-input"

    def weights(self) -> dict[str, Any]:
        return {key: self.cleaned_data[key] for key in WEIGHT_KEYS}


def configurable_cities(request: HttpRequest) -> QuerySet[Area]:
    return cities_with(request.user, CONFIGURE_INDEX).order_by("code")


def access_city(request: HttpRequest) -> Area:
    """The city asked for (``city`` in the query or the form), or the user's first; 404 if not theirs."""
    cities = configurable_cities(request)
    raw = request.POST.get("city") or request.GET.get("city") or ""
    city_id = whole_number(raw)
    if not raw:
        city = cities.first()
    elif city_id is not None:
        city = cities.filter(pk=city_id).first()
    else:
        city = None
    if city is None:
        raise Http404("No such city")
    return city


class IndexSettingsView(DeclaredView):
    """A city's weights of the safety index: show, change, reset to the defaults."""

    permissions = {"GET": CONFIGURE, "POST": CONFIGURE}

    def get(self, request: HttpRequest) -> HttpResponse:
        city = access_city(request)
        weights, _own = weights_of(city)
        form = IndexWeightsForm(initial={key: _plain(value) for key, value in weights.items()})
        return self.show(request, city, form)

    def post(self, request: HttpRequest) -> HttpResponse:
        city = access_city(request)
        recompute = request.POST.get("recompute") in ("on", "1", "true")
        if "reset" in request.POST:
            do_reset_index(city, acting_user=request.user, recompute=recompute)
            messages.success(request, _("The weights of %(city)s are the defaults again.") % {"city": city.name})
            return self.done(request, city, recompute)
        form = IndexWeightsForm(request.POST)
        if form.is_valid():
            try:
                do_configure_index(city, form.weights(), acting_user=request.user, recompute=recompute)
            except ValidationError as exc:
                for name, errors in exc.message_dict.items():
                    form.add_error(name if name in form.fields else None, errors)
            else:
                messages.success(request, _("The weights of %(city)s are saved.") % {"city": city.name})
                return self.done(request, city, recompute)
        return self.show(request, city, form, status=422)

    def done(self, request: HttpRequest, city: Area, recompute: bool) -> HttpResponse:
        if recompute:
            messages.info(request, _("Today's index of the city will be recomputed in a moment."))
        return redirect(f"{reverse('safety:index_settings')}?city={city.pk}")

    def show(self, request: HttpRequest, city: Area, form: IndexWeightsForm, *, status: int = 200) -> HttpResponse:
        weights, own = weights_of(city)
        shares = normalised(weights)
        defaults = default_weights()
        default_shares = normalised(defaults)
        rows = [
            {
                "key": key,
                "label": COMPONENT_LABELS[key],
                "explanation": EXPLANATIONS[key],
                "field": form[key],
                "weight": _plain(weights[key]),
                "share": round(100 * shares[key], 1),
                "default": _plain(defaults[key]),
                "default_share": round(100 * default_shares[key], 1),
            }
            for key in WEIGHT_KEYS
        ]
        context = {
            "city": city,
            "cities": configurable_cities(request),
            "form": form,
            "rows": rows,
            "own": own,
            "total": _plain(sum(weights.values())),
        }
        return render(request, "safety/index_settings.html", context, status=status)


def _plain(value: float) -> str:
    """40.0 → "40", 12.5 → "12.5": how a person writes a weight."""
    return f"{value:.2f}".rstrip("0").rstrip(".")
