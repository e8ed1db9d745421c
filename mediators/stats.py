"""Mediation statistics of a user's scope (issue #11 part 6), from the public ``CaseFigures`` rows only.

Every number here is a sum of ``mediators.CaseFigures`` rows — one per compound, category and
status, copied from the compound's schema by the job ``mediation.refresh_figures`` — over the
compounds the user's statistics roles cover (``district.scope.compounds_in_scope``). No
compound schema is ever queried, so a city page costs one grouped query whatever the number of
compounds.

Definitions (shown on the page and in the export):

- *open*: registered, accepted or mediating;
- *overdue*: open with its deadline passed (as of the figures' last refresh);
- *concluded*: agreement reached, mediation failed or referred at some point (``concluded_at``);
- *average days to conclude*: the concluded cases' days from registration to conclusion, summed,
  ÷ the number of concluded cases;
- *success rate*: cases now at "agreement reached" ÷ cases now at "agreement reached",
  "mediation failed" or "referred". A concluded case that went on to follow-up or closed no
  longer shows its outcome in the figures (they are kept by current status), so it counts in
  neither number; the rate is that of the cases whose outcome is still their status.

Who sees what: ``mediation.stats`` (beat officers, grid workers, street offices, district
branches, the city bureau). A node (area or compound) outside the user's statistics roles
answers 404, like one that does not exist.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.apps import apps
from django.db.models import QuerySet, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from district.choices import AreaLevel
from district.models import Area
from district.permissions import VIEW_CASE_STATS, need, roles_with
from district.scope import COMPOUND_PATH, assignments_of, beneath, compounds_in_scope, held_path
from district.typing import AnyUser
from district.views import DeclaredView
from mediators.models import CaseFigures
from tenants.models import Compound

__all__ = ["Figures", "Node", "StatsExportView", "StatsView", "figures_of", "node_for", "stats_compounds"]

STATS = need(VIEW_CASE_STATS)
OPEN = ("registered", "accepted", "mediating")
OUTCOMES = ("agreement", "failed", "referred")
DEFINITIONS = [
    gettext_lazy("Open: registered, accepted or mediating."),
    gettext_lazy("Overdue: open with the deadline passed, as of the figures' last refresh."),
    gettext_lazy("Concluded: reached an agreement, failed or was referred (at any time)."),
    gettext_lazy(
        "Average days to conclude: days from registration to conclusion of the concluded cases ÷ their number."
    ),
    gettext_lazy(
        "Success rate: cases now at “agreement reached” ÷ cases now at “agreement reached”, “mediation failed” "
        "or “referred”. Cases that went on to follow-up or were closed no longer show their outcome in the "
        "figures and count in neither number."
    ),
]


def case_labels(name: str) -> dict[str, str]:
    """Labels of the case model's ``category`` or ``status`` codes.

    Read from the installed model rather than imported: the roster and the figures sit below
    the case app in the layers (pyproject's import contract), and these are its choices.
    """
    field = apps.get_model("mediation", "Case")._meta.get_field(name)
    return {str(value): str(label) for value, label in getattr(field, "choices", None) or []}


# --- Figures ------------------------------------------------------------------------------------


@dataclass
class Figures:
    """Sums of figure rows, with the derived rates."""

    cases: int = 0
    open: int = 0
    overdue: int = 0
    concluded: int = 0
    days: int = 0
    agreements: int = 0
    outcomes: int = 0

    def add(self, status: str, cases: int, overdue: int, concluded: int, days: int) -> None:
        self.cases += cases
        self.overdue += overdue
        self.concluded += concluded
        self.days += days
        if status in OPEN:
            self.open += cases
        if status in OUTCOMES:
            self.outcomes += cases
        if status == "agreement":
            self.agreements += cases

    @property
    def success_rate(self) -> Decimal | None:
        """Agreements ÷ outcomes still shown (percent, one decimal); None without any."""
        if not self.outcomes:
            return None
        return (Decimal(100 * self.agreements) / self.outcomes).quantize(Decimal("0.1"), ROUND_HALF_UP)

    @property
    def average_days(self) -> Decimal | None:
        if not self.concluded:
            return None
        return (Decimal(self.days) / self.concluded).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass
class Node:
    """An area (city, district, street) or a compound the statistics are shown for."""

    name: str
    path: str
    area: Area | None = None
    compound: Compound | None = None
    children: list[Node] = field(default_factory=list)

    @property
    def query(self) -> str:
        if self.compound is not None:
            return f"compound={self.compound.code}"
        assert self.area is not None
        return f"area={self.area.code}"

    @property
    def level_label(self) -> str:
        if self.compound is not None:
            return _("Compound")
        assert self.area is not None
        return str(self.area.get_level_display())


def stats_compounds(user: AnyUser) -> QuerySet[Compound]:
    """The compounds the user's statistics roles cover, with their tree path as ``node_path``."""
    ids = compounds_in_scope(user, roles=roles_with(VIEW_CASE_STATS)).values("pk")
    return Compound.objects.filter(pk__in=ids).select_related("street").annotate(node_path=COMPOUND_PATH)


def held_roots(user: AnyUser) -> list[Node]:
    """The nodes the user's statistics roles are held at (every city for a superuser), outermost only."""
    if user.is_superuser:
        return [Node(name=a.name, path=a.path, area=a) for a in Area.objects.filter(level=AreaLevel.CITY)]
    wanted = set(roles_with(VIEW_CASE_STATS))
    held = [ra for ra in assignments_of(user) if ra.role in wanted]
    roots: dict[str, Node] = {}
    for ra in held:
        path = held_path(ra)
        if ra.area is not None:
            roots[path] = Node(name=ra.area.name, path=path, area=ra.area)
        elif ra.compound is not None:
            roots[path] = Node(name=ra.compound.name, path=path, compound=ra.compound)
    paths = sorted(roots)
    return [roots[p] for p in paths if not any(p != q and beneath(p, q) for q in paths)]


def node_for(user: AnyUser, *, area: str = "", compound: str = "") -> Node | None:
    """The node named by an area or compound code, if the user's statistics roles reach it; else 404.

    No code: None (the page shows the user's roots).
    """
    held = [root.path for root in held_roots(user)]
    if compound:
        found = Compound.objects.select_related("street").filter(code=compound[:32]).first()
        if found is not None:
            path = f"{found.street.path}/{found.code}"
            if any(beneath(path, h) for h in held):
                return Node(name=found.name, path=path, compound=found)
        raise Http404("No such compound")
    if area:
        found_area = Area.objects.filter(code=area[:32]).first()
        if found_area is not None and any(beneath(found_area.path, h) for h in held):
            return Node(name=found_area.name, path=found_area.path, area=found_area)
        raise Http404("No such area")
    return None


def children_of(node: Node, compounds: list[Compound]) -> list[Node]:
    """The node's children that hold compounds in scope: areas beneath an area, compounds of a street."""
    if node.compound is not None:
        return []
    assert node.area is not None
    if node.area.level == AreaLevel.STREET:
        return [Node(name=c.name, path=c.node_path, compound=c) for c in compounds if c.street_id == node.area.pk]
    kids = list(Area.objects.filter(parent=node.area).order_by("code"))
    return [
        Node(name=a.name, path=a.path, area=a) for a in kids if any(beneath(c.node_path, a.path) for c in compounds)
    ]


def figures_of(compound_ids: list[int]) -> tuple[Figures, dict[tuple[str, str], int], dict[int, Figures]]:
    """Totals, cases by (category, status), and figures per compound, of these compounds' rows."""
    rows = CaseFigures.objects.filter(compound_id__in=compound_ids)
    total = Figures()
    matrix: dict[tuple[str, str], int] = defaultdict(int)
    per_compound: dict[int, Figures] = defaultdict(Figures)
    grouped = rows.values("compound_id", "category", "status").annotate(
        n=Sum("cases"), late=Sum("overdue"), done=Sum("concluded"), days=Sum("days_to_conclude")
    )
    for row in grouped.order_by():
        args = (row["status"], row["n"] or 0, row["late"] or 0, row["done"] or 0, row["days"] or 0)
        total.add(*args)
        per_compound[row["compound_id"]].add(*args)
        matrix[(row["category"], row["status"])] += row["n"] or 0
    return total, dict(matrix), dict(per_compound)


def summed(figures: list[Figures]) -> Figures:
    out = Figures()
    for f in figures:
        for name in ("cases", "open", "overdue", "concluded", "days", "agreements", "outcomes"):
            setattr(out, name, getattr(out, name) + getattr(f, name))
    return out


@dataclass
class Report:
    """Everything one statistics page (or its export) shows."""

    node: Node | None
    total: Figures
    rows: list[tuple[Node, Figures]]
    categories: list[tuple[str, str, list[int], int]]  # code, label, cases per status, row total
    statuses: list[tuple[str, str, int]]  # code, label, column total
    refreshed_at: Any
    trail: list[Node]


def build_report(user: AnyUser, node: Node | None) -> Report:
    """Sum the figures of the node (or of the user's roots) and of each of its children."""
    scope = list(stats_compounds(user))
    if node is None:
        children = held_roots(user)
        members = scope
    else:
        children = children_of(node, scope)
        members = [c for c in scope if beneath(c.node_path, node.path)]
    total, matrix, per_compound = figures_of([c.pk for c in members])
    rows = []
    for child in children:
        inside = [c for c in members if beneath(c.node_path, child.path)]
        rows.append((child, summed([per_compound[c.pk] for c in inside if c.pk in per_compound])))
    category_labels, status_labels = case_labels("category"), case_labels("status")
    statuses = [
        (code, label, sum(n for (_c, s), n in matrix.items() if s == code)) for code, label in status_labels.items()
    ]
    categories = []
    for code, label in category_labels.items():
        counts = [matrix.get((code, s), 0) for s, _label, _n in statuses]
        if any(counts):
            categories.append((code, label, counts, sum(counts)))
    refreshed = (
        CaseFigures.objects.filter(compound_id__in=[c.pk for c in members])
        .order_by("-refreshed_at")
        .values_list("refreshed_at", flat=True)
        .first()
    )
    trail: list[Node] = []
    if node is not None:
        roots = [r.path for r in held_roots(user)]
        trail = [n for n in ancestors(node) if any(beneath(n.path, r) for r in roots)]
    return Report(node, total, rows, categories, statuses, refreshed, trail)


def ancestors(node: Node) -> list[Node]:
    """The areas above the node, outermost first."""
    chain: list[Node] = []
    area = node.compound.street if node.compound is not None else (node.area.parent if node.area else None)
    while area is not None:
        chain.insert(0, Node(name=area.name, path=area.path, area=area))
        area = area.parent
    return chain


# --- Pages --------------------------------------------------------------------------------------


class StatsView(DeclaredView):
    """Mediation statistics of the user's scope, drilled down city → district → street → compound."""

    permissions = {"GET": STATS}

    def get(self, request: HttpRequest) -> HttpResponse:
        node = node_for(
            request.user, area=request.GET.get("area", "").strip(), compound=request.GET.get("compound", "").strip()
        )
        report = build_report(request.user, node)
        export = reverse("mediation-stats:export") + (f"?{node.query}" if node else "")
        context = {"report": report, "definitions": DEFINITIONS, "export_url": export}
        return render(request, "mediation/stats.html", context)


class StatsExportView(DeclaredView):
    """The same statistics as an Excel workbook (aggregates only: no case, no person)."""

    permissions = {"GET": STATS}

    def get(self, request: HttpRequest) -> HttpResponse:
        node = node_for(
            request.user, area=request.GET.get("area", "").strip(), compound=request.GET.get("compound", "").strip()
        )
        report = build_report(request.user, node)
        body = workbook(report)
        stamp = timezone.localtime().strftime("%Y%m%d")
        code = node.compound.code if node and node.compound else (node.area.code if node and node.area else "scope")
        response = HttpResponse(body, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        response["Content-Disposition"] = f'attachment; filename="mediation-stats-{code}-{stamp}.xlsx"'
        return response


def _rate(value: Decimal | None) -> Any:
    return float(value) if value is not None else None


def workbook(report: Report) -> bytes:
    """Three sheets: the totals with the definitions, the figures per child node, cases by category × status."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    summary = wb.active
    assert summary is not None
    summary.title = _("Summary")[:31]
    title = report.node.name if report.node else _("Your scope")
    summary.append([_("Mediation statistics"), title])
    summary["A1"].font = Font(bold=True)
    if report.refreshed_at:
        summary.append([_("Figures refreshed at"), timezone.localtime(report.refreshed_at).strftime("%Y-%m-%d %H:%M")])
    t = report.total
    for label, number in (
        (_("Cases"), t.cases),
        (_("Open"), t.open),
        (_("Overdue"), t.overdue),
        (_("Concluded"), t.concluded),
        (_("Success rate (%)"), _rate(t.success_rate)),
        (_("Average days to conclude"), _rate(t.average_days)),
    ):
        summary.append([label, number])
    summary.append([])
    for definition in DEFINITIONS:
        summary.append([str(definition)])
    nodes = wb.create_sheet(_("By area")[:31])
    header = [_("Name"), _("Level"), _("Cases"), _("Open"), _("Overdue"), _("Concluded")]
    nodes.append([*header, _("Success rate (%)"), _("Average days to conclude")])
    for child, f in report.rows:
        row = [child.name, child.level_label, f.cases, f.open, f.overdue, f.concluded]
        nodes.append([*row, _rate(f.success_rate), _rate(f.average_days)])
    matrix = wb.create_sheet(_("By category and status")[:31])
    matrix.append([_("Category"), *[label for _c, label, _n in report.statuses], _("Total")])
    for _code, label, counts, row_total in report.categories:
        matrix.append([label, *counts, row_total])
    matrix.append([_("Total"), *[n for _c, _l, n in report.statuses], report.total.cases])
    for sheet in (summary, nodes, matrix):
        for cell in sheet[1]:
            cell.font = Font(bold=True)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
