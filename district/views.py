"""Public pages: the home page lists the compounds the user's roles cover, grouped by street."""

from __future__ import annotations

from itertools import groupby

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from district.scope import compounds_in_scope


def home(request: HttpRequest) -> HttpResponse:
    """Compounds in scope, grouped by street (with district and street names)."""
    compounds = compounds_in_scope(request.user).select_related("street__parent").order_by("street__code", "code")
    streets = [(street, list(items)) for street, items in groupby(compounds, key=lambda c: c.street)]
    totals = {"compounds": sum(len(items) for _, items in streets), "population": sum(c.population for c in compounds)}
    return render(request, "district/home.html", {"streets": streets, "totals": totals})
