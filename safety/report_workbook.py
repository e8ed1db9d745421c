"""The monthly report's tables, and the .xlsx made of them (``safety.reports`` stores both).

:func:`report_sheets` turns a report's stored ``content`` into sheets of titled tables, in the
active language; :func:`render_workbook` writes them with openpyxl, and the print view
(``templates/safety/reports_print.html``) renders the very same sheets, so the workbook and the
printed (PDF) report cannot disagree. Layout of every sheet: row 1 the title (area, month),
row 2 a note (the month-end day, or that there is no snapshot), then per table its title row,
its header row, its rows (or a row saying there are none) and a blank row.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from safety.choices import COMPONENT_LABELS, Band, IncidentStatus, IncidentType

if TYPE_CHECKING:
    from safety.models import Report

__all__ = ["Sheet", "Table", "render_workbook", "report_sheets", "report_title"]

INPUT_LABELS = {
    "weighted_incidents": gettext_lazy("weighted incidents"),
    "weighted_alerts": gettext_lazy("weighted alerts"),
    "rate_per_1000": gettext_lazy("per 1,000 residents"),
    "acknowledged_in_time": gettext_lazy("acknowledged in time"),
    "success_rate": gettext_lazy("success rate"),
    "overdue": gettext_lazy("overdue cases"),
    "devices_online": gettext_lazy("devices online"),
    "registry_complete": gettext_lazy("registry complete"),
    "elderly_with_sensor": gettext_lazy("elderly living alone with a sensor"),
}
# Excel's own limit on a sheet's name.
SHEET_NAME_CHARS = 31


@dataclass
class Table:
    """A titled table: its header, its rows (cells: text, numbers or None) and what to say when empty."""

    title: str
    headers: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    empty: str = ""
    # Columns (0-based) holding a change: written with a sign (+1.50 / −2.00).
    change_columns: tuple[int, ...] = ()

    def display_rows(self) -> list[list[str]]:
        """The rows as the print view shows them: two decimals, a sign on changes, "—" for nothing."""
        shown = []
        for row in self.rows:
            cells = []
            for number, value in enumerate(row):
                if value is None:
                    cells.append("—")
                elif isinstance(value, float):
                    cells.append(f"{value:+.2f}" if number in self.change_columns else f"{value:.2f}")
                else:
                    cells.append(str(value))
            shown.append(cells)
        return shown


@dataclass
class Sheet:
    name: str
    note: str
    tables: list[Table]


def band_label(value: str) -> str:
    return str(Band(value).label) if value in Band.values else value


def component_label(name: str) -> str:
    return str(COMPONENT_LABELS.get(name, name)) if name else ""


def inputs_text(inputs: dict[str, Any]) -> str:
    """A component's inputs on one line, labels in the active language."""
    return "; ".join(f"{INPUT_LABELS.get(k, k)} {v}" for k, v in sorted(inputs.items()))


def report_title(report: Report) -> str:
    return _("%(area)s · %(month)s · Safety index monthly report") % {
        "area": report.area.name,
        "month": f"{report.month:%Y-%m}",
    }


def _index_sheet(content: dict[str, Any], area_name: str) -> Sheet:
    index = content.get("index") or {}
    total, children = index.get("total"), index.get("children") or []
    if total is None and not children:
        note = _("No index snapshot in this month: the index is computed every night.")
    else:
        day = total["day"] if total else max(c["day"] for c in children)
        note = _("Month-end: %(day)s; compared with %(previous)s.") % {
            "day": day,
            "previous": index.get("previous_day") or _("no snapshot in the previous month"),
        }
    headers = [
        _("Name"),
        _("Code"),
        _("Month-end"),
        _("Score"),
        _("Band"),
        _("Stars"),
        _("Change"),
        _("Population"),
    ]
    rows = [
        [c["name"], c["code"], c["day"], c["score"], band_label(c["band"]), c["stars"], c["change"], c["population"]]
        for c in children
    ]
    if total is not None:
        rows.append(
            [
                _("%(area)s (total)") % {"area": area_name},
                "",
                total["day"],
                total["score"],
                band_label(total["band"]),
                total["stars"],
                total["change"],
                total["population"],
            ]
        )
    table = Table(_("Index table"), headers, rows, _("No snapshot."), change_columns=(6,))
    return Sheet(_("Index table"), note, [table])


def _changes_sheet(content: dict[str, Any]) -> Sheet:
    changes = content.get("changes") or {}
    headers = [_("Compound"), _("Code"), _("Previous month-end"), _("Month-end"), _("Change")]
    empty = _("No compound has a snapshot in both months.")

    def rows(key: str) -> list[list[Any]]:
        return [[m["name"], m["code"], m["previous"], m["score"], m["change"]] for m in changes.get(key) or []]

    return Sheet(
        _("Changes"),
        _("%(n)d compounds compared with the previous month-end.") % {"n": changes.get("compared", 0)},
        [
            Table(_("Biggest rises"), headers, rows("rises"), empty, change_columns=(4,)),
            Table(_("Biggest falls"), headers, rows("falls"), empty, change_columns=(4,)),
        ],
    )


def _issues_sheet(content: dict[str, Any]) -> Sheet:
    issues = (content.get("issues") or {}).get("compounds") or []
    incidents = content.get("incidents") or {}
    weakest = Table(
        _("Weakest component of each compound"),
        [
            _("Compound"),
            _("Code"),
            _("Score"),
            _("Band"),
            _("Weakest component"),
            _("Component score"),
            _("Inputs"),
            _("Incidents this month"),
        ],
        [
            [
                r["name"],
                r["code"],
                r["score"],
                band_label(r["band"]),
                component_label(r["component"]),
                r["component_score"],
                inputs_text(r["inputs"]),
                r["incidents"],
            ]
            for r in issues
        ],
        _("No snapshot."),
    )
    types = dict(IncidentType.choices)
    statuses = dict(IncidentStatus.choices)
    by_type = Table(
        _("Incidents of the month by type"),
        [_("Type"), _("Count")],
        [[str(types.get(k, k)), n] for k, n in (incidents.get("by_type") or {}).items()]
        + [[str(statuses.get(k, k)), n] for k, n in (incidents.get("by_status") or {}).items()]
        + [[_("Total"), incidents.get("total", 0)]],
    )
    bands = Table(
        _("Compounds by band"),
        [_("Band"), _("Count")],
        [[band_label(k), n] for k, n in (incidents.get("bands") or {}).items()],
    )
    return Sheet(_("Top issues"), "", [weakest, by_type, bands])


def report_sheets(report: Report) -> list[Sheet]:
    """The report's three sheets, in the active language, from its stored content."""
    content = report.content or {}
    return [_index_sheet(content, report.area.name), _changes_sheet(content), _issues_sheet(content)]


def _append(ws: Any, values: list[Any]) -> None:
    """Append a row; a text that starts like a formula (``=``) stays text (names are typed by users)."""
    ws.append(values)
    for cell in ws[ws.max_row]:
        if isinstance(cell.value, str) and cell.value.startswith("="):
            cell.data_type = "s"


def render_workbook(report: Report) -> bytes:
    """The report as an .xlsx (see the module docstring for the layout)."""
    from openpyxl import Workbook  # only the job worker pays for openpyxl
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    title = report_title(report)
    bold, big = Font(bold=True), Font(bold=True, size=14)
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for sheet in report_sheets(report):
        ws = book.create_sheet(sheet.name[:SHEET_NAME_CHARS])
        _append(ws, [title])
        ws["A1"].font = big
        _append(ws, [sheet.note])
        _append(ws, [])
        widths: dict[int, int] = {}
        for table in sheet.tables:
            _append(ws, [table.title])
            ws.cell(row=ws.max_row, column=1).font = bold
            _append(ws, table.headers)
            for cell in ws[ws.max_row]:
                cell.font = bold
            for row in table.rows or [[table.empty]]:
                _append(ws, row)
                for column in table.change_columns:
                    if column < len(row):
                        ws.cell(row=ws.max_row, column=column + 1).number_format = "+0.00;-0.00;0.00"
            _append(ws, [])
            for row in [table.headers, *table.rows]:
                for number, value in enumerate(row):
                    widths[number] = max(widths.get(number, 8), min(len(str(value or "")) * 2 + 2, 60))
        for number, width in widths.items():
            ws.column_dimensions[get_column_letter(number + 1)].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
