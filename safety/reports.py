"""月度报告: monthly reports of the safety index of a street or district (issue #12).

A street office, district branch or city bureau (``safety.reports``) asks for the report of a
street or district its roles cover and a past month (:func:`do_request_report`); the job
``safety.build_report`` (``safety.tasks``) builds it in steps, each committed with its
``progress`` so the report's page (htmx polling) shows it moving:

1. ``index`` — the index table: each child (the streets of a district, the compounds of a
   street) at its month-end (the last day of the month with a snapshot), with its score, band,
   stars, population and the change since the previous month-end; the area's own row;
2. ``changes`` — the compounds of the area that rose and fell most since the previous month-end;
3. ``issues`` — per compound, its weakest component and that component's inputs, and the
   compound's incidents of the month;
4. ``incidents`` — the incidents of the month in the area, by type and by status;
5. the workbook (.xlsx, three sheets), in the requester's language.

Each step stores its result in ``Report.content``; a job run again (the worker stopped, or was
killed and its job requeued) skips the steps already stored. Only the public snapshot and
incident tables are read, never a compound schema. A month without snapshots gives a report
saying so. The print view (``safety.views_reports``) renders the same ``content``.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from district.audit import do_record_change
from district.jobs import defer_in_transaction
from district.models import Area, AuditAction
from district.permissions import REQUEST_REPORTS, roles_with
from district.scope import assignments_of, beneath_q
from district.typing import AnyUser
from safety.choices import Band, IncidentStatus, IncidentType, ReportStatus
from safety.models import AreaIndexSnapshot, CompoundIndexSnapshot, Incident, Report
from safety.report_workbook import render_workbook

__all__ = [
    "BUILD_REPORT_TASK",
    "EARLIEST_MONTH",
    "ReportError",
    "ReportInterruptedError",
    "access_report_by_id",
    "check_report_month",
    "do_request_report",
    "reportable_areas",
    "run_report",
    "visible_reports",
]

logger = logging.getLogger(__name__)

# The job's name (safety.tasks registers it; this module sits below the tasks and queues by name).
BUILD_REPORT_TASK = "safety.build_report"
EARLIEST_MONTH = datetime.date(2000, 1, 1)
LEVELS = ("street", "district")
LEVEL_FIELD = {"district": "district_id", "street": "street_id"}
# A district of the largest cities has a few hundred compounds; far more means a wrong area.
MAX_COMPOUNDS = 5000
RANKED = 10  # rises and falls listed
COMPONENTS = ("incidents", "alerts", "disputes", "prevention")


class ReportError(ValueError):
    """The report cannot be built; ``message`` is fit to show on the report's page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ReportInterruptedError(Exception):
    """The worker is stopping: the job is queued again and resumes at its first step not stored."""


# --- Scope ------------------------------------------------------------------------------------


def reportable_areas(user: AnyUser) -> QuerySet[Area]:
    """The streets and districts the user's report roles cover (the request form's choices)."""
    qs = Area.objects.filter(level__in=LEVELS)
    if not user.is_authenticated:
        return qs.none()
    if user.is_superuser:
        return qs
    roles = set(roles_with(REQUEST_REPORTS))
    q = Q(pk__in=[])
    for ra in assignments_of(user):
        if ra.role in roles and ra.area is not None:
            q |= beneath_q(ra.area.path)
    return qs.filter(q)


def visible_reports(user: AnyUser) -> QuerySet[Report]:
    """Reports of the areas the user's report roles cover (now: a report outlives nobody's role)."""
    if not user.is_authenticated:
        return Report.objects.none()
    qs = Report.objects.select_related("area", "requested_by").defer("workbook")
    if user.is_superuser:
        return qs
    return qs.filter(area__in=reportable_areas(user))


def access_report_by_id(user: AnyUser, pk: int) -> Report:
    """A report the user may see; 404 alike for one that does not exist and one out of scope."""
    report = visible_reports(user).filter(pk=pk).first()
    if report is None:
        raise Http404("No such report")
    return report


# --- Requesting -------------------------------------------------------------------------------


def check_report_month(month: datetime.date, *, today: datetime.date | None = None) -> datetime.date:
    """The first day of ``month``; ``ValidationError`` before 2000 or after the current month."""
    first = month.replace(day=1)
    today = today or timezone.localdate()
    if first < EARLIEST_MONTH:
        raise ValidationError(_("Reports start in January 2000."), code="too_early")
    if first > today.replace(day=1):
        raise ValidationError(_("The month has not begun yet."), code="future")
    return first


STALE_AFTER = datetime.timedelta(minutes=30)


def _defer_build(report: Report) -> int:
    # In the caller's transaction: no worker sees a report that is not committed.
    return defer_in_transaction(BUILD_REPORT_TASK, report_id=report.pk)


def do_request_report(
    area: Area,
    month: datetime.date,
    acting_user: AnyUser,
    *,
    today: datetime.date | None = None,
    now: datetime.datetime | None = None,
) -> tuple[Report, bool]:
    """Queue the report of ``area`` for ``month``; (the report, whether it is new).

    ``area`` must be a street or district the caller has checked the user covers
    (:func:`reportable_areas`); checked again here (``ValidationError``), as is the month
    (:func:`check_report_month`). A report of the same area and month still queued or running
    is returned as it is instead of a second one, unless it has been pending for longer than
    ``STALE_AFTER`` (then it is marked failed and a new one queued). A new report, its job and its audit row
    commit together; the workbook is written in the language active now.
    """
    if area.level not in LEVELS:
        raise ValidationError(_("Reports are made for a street or a district."), code="level")
    if not reportable_areas(acting_user).filter(pk=area.pk).exists():
        raise ValidationError(_("This area is not in your part of the city."), code="scope")
    first = check_report_month(month, today=today)
    pending = Q(area=area, month=first, status__in=[ReportStatus.QUEUED, ReportStatus.RUNNING])
    with transaction.atomic():
        existing = Report.objects.filter(pending).defer("workbook").first()
        if existing is not None:
            if existing.created_at > (now or timezone.now()) - STALE_AFTER:
                return existing, False
            # A report takes seconds: one pending this long lost its job (cancelled, or its worker
            # died while failing it). Give it up, so the area and month are not blocked for good;
            # its job, should it still run, finds it failed and builds nothing.
            do_fail_report(existing.pk, _("The report was not finished in time; it was asked for again."))
        try:
            with transaction.atomic():
                report = Report.objects.create(
                    area=area,
                    month=first,
                    language=translation.get_language() or "zh-hans",
                    requested_by_id=acting_user.pk if acting_user.is_authenticated else None,
                )
        except IntegrityError:
            # Asked twice at once: the other request's report stands (report_one_pending).
            return Report.objects.defer("workbook").get(pending), False
        _defer_build(report)
        do_record_change(
            acting_user,
            AuditAction.CREATE,
            report,
            fields=["area", "month"],
            detail={"month": f"{first:%Y-%m}", "area": area.code},
        )
    return report, True


# --- The steps --------------------------------------------------------------------------------


def _months(first: datetime.date) -> tuple[datetime.date, datetime.date, datetime.date, datetime.date]:
    """(first, last) day of the month and of the month before."""
    following = (first + datetime.timedelta(days=32)).replace(day=1)
    previous_last = first - datetime.timedelta(days=1)
    return first, following - datetime.timedelta(days=1), previous_last.replace(day=1), previous_last


def _score(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _change(now: Decimal | None, before: Decimal | None) -> float | None:
    return None if now is None or before is None else float(now - before)


def _month_end_compounds(area: Area, first: datetime.date, last: datetime.date) -> list[dict[str, Any]]:
    """Each compound of the area at its last snapshot of the month (one index scan per compound)."""
    rows = [
        dict(row)
        for row in CompoundIndexSnapshot.objects.filter(
            **{LEVEL_FIELD[area.level]: area.pk}, day__gte=first, day__lte=last
        )
        .order_by("compound_id", "-day")
        .distinct("compound_id")
        .values(
            "compound_id",
            "compound__name",
            "compound__code",
            "street_id",
            "day",
            "score",
            "band",
            "stars",
            "population",
            "components",
        )[: MAX_COMPOUNDS + 1]
    ]
    if len(rows) > MAX_COMPOUNDS:
        raise ReportError(_("The area has more than %(n)d compounds.") % {"n": MAX_COMPOUNDS})
    return rows


def _month_end_areas(parent: Area, first: datetime.date, last: datetime.date) -> list[dict[str, Any]]:
    return [
        dict(row)
        for row in AreaIndexSnapshot.objects.filter(parent_id=parent.pk, day__gte=first, day__lte=last)
        .order_by("area_id", "-day")
        .distinct("area_id")
        .values("area_id", "area__name", "area__code", "day", "score", "band", "stars", "population")
    ]


def _own(area: Area, first: datetime.date, last: datetime.date) -> dict[str, Any] | None:
    row = (
        AreaIndexSnapshot.objects.filter(area=area, day__gte=first, day__lte=last)
        .order_by("-day")
        .values("day", "score", "band", "stars", "population", "compounds")
        .first()
    )
    return dict(row) if row is not None else None


def index_step(area: Area, month: datetime.date) -> dict[str, Any]:
    """Step 1: the area's and each child's month-end index, and the change since last month."""
    first, last, previous_first, previous_last = _months(month)
    own, before = _own(area, first, last), _own(area, previous_first, previous_last)
    if area.level == "district":
        now_rows = _month_end_areas(area, first, last)
        old_rows = _month_end_areas(area, previous_first, previous_last)
        key, prefix = "area_id", "area__"
    else:
        now_rows = _month_end_compounds(area, first, last)
        old_rows = _month_end_compounds(area, previous_first, previous_last)
        key, prefix = "compound_id", "compound__"
    old = {r[key]: r["score"] for r in old_rows}
    children = [
        {
            "id": r[key],
            "name": r[f"{prefix}name"],
            "code": r[f"{prefix}code"],
            "day": r["day"].isoformat(),
            "score": _score(r["score"]),
            "band": r["band"],
            "stars": r["stars"],
            "population": r["population"],
            "previous": _score(old.get(r[key])),
            "change": _change(r["score"], old.get(r[key])),
        }
        for r in now_rows
    ]
    children.sort(key=lambda c: c["code"])
    total = None
    if own is not None:
        total = {
            "day": own["day"].isoformat(),
            "score": _score(own["score"]),
            "band": own["band"],
            "stars": own["stars"],
            "population": own["population"],
            "compounds": own["compounds"],
            "previous": _score(before["score"]) if before else None,
            "change": _change(own["score"], before["score"] if before else None),
        }
    return {"total": total, "previous_day": before["day"].isoformat() if before else None, "children": children}


def changes_step(area: Area, month: datetime.date) -> dict[str, Any]:
    """Step 2: the compounds of the area that rose and fell most since the previous month-end."""
    first, last, previous_first, previous_last = _months(month)
    old = {r["compound_id"]: r["score"] for r in _month_end_compounds(area, previous_first, previous_last)}
    moved = []
    for r in _month_end_compounds(area, first, last):
        if r["compound_id"] in old:
            moved.append(
                {
                    "name": r["compound__name"],
                    "code": r["compound__code"],
                    "previous": _score(old[r["compound_id"]]),
                    "score": _score(r["score"]),
                    "change": _change(r["score"], old[r["compound_id"]]),
                }
            )
    rises = sorted((m for m in moved if m["change"] > 0), key=lambda m: (-m["change"], m["code"]))
    falls = sorted((m for m in moved if m["change"] < 0), key=lambda m: (m["change"], m["code"]))
    return {"rises": rises[:RANKED], "falls": falls[:RANKED], "compared": len(moved)}


def _month_span(month: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """The month in local time (Asia/Shanghai), as aware datetimes [start, end)."""
    first, last, _pf, _pl = _months(month)
    start = timezone.make_aware(datetime.datetime.combine(first, datetime.time()))
    end = timezone.make_aware(datetime.datetime.combine(last + datetime.timedelta(days=1), datetime.time()))
    return start, end


def _incidents(area: Area, month: datetime.date) -> QuerySet[Incident]:
    start, end = _month_span(month)
    return Incident.objects.filter(**{LEVEL_FIELD[area.level]: area.pk}, occurred_at__gte=start, occurred_at__lt=end)


def _order(component: str) -> int:
    return COMPONENTS.index(component) if component in COMPONENTS else len(COMPONENTS)


def issues_step(area: Area, month: datetime.date) -> dict[str, Any]:
    """Step 3: per compound its weakest component with that component's inputs, weakest first."""
    first, last, _pf, _pl = _months(month)
    counts = dict(
        _incidents(area, month)
        .exclude(compound__isnull=True)
        .values("compound_id")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("compound_id", "n")
    )
    rows = []
    for r in _month_end_compounds(area, first, last):
        scored = [
            (name, values)
            for name, values in (r["components"] or {}).items()
            if isinstance(values, dict) and isinstance(values.get("score"), int | float)
        ]
        # Ties go to the component listed first (incidents before alerts…): the same every run.
        name, values = min(scored, key=lambda item: (item[1]["score"], _order(item[0]))) if scored else ("", {})
        rows.append(
            {
                "name": r["compound__name"],
                "code": r["compound__code"],
                "score": _score(r["score"]),
                "band": r["band"],
                "component": name,
                "component_score": values.get("score"),
                "inputs": {k: v for k, v in sorted(values.items()) if k not in ("score", "weight")},
                "incidents": counts.get(r["compound_id"], 0),
            }
        )
    rows.sort(key=lambda row: (row["component_score"] if row["component_score"] is not None else 101, row["code"]))
    return {"compounds": rows}


def incidents_step(area: Area, month: datetime.date) -> dict[str, Any]:
    """Step 4: the month's incidents of the area by type and by status, and the compounds by band."""
    incidents = _incidents(area, month)
    by_type = dict(incidents.values("type").annotate(n=Count("pk")).order_by().values_list("type", "n"))
    by_status = dict(incidents.values("status").annotate(n=Count("pk")).order_by().values_list("status", "n"))
    first, last, _pf, _pl = _months(month)
    bands = {band: 0 for band in Band.values}
    for r in _month_end_compounds(area, first, last):
        bands[r["band"]] = bands.get(r["band"], 0) + 1
    return {
        "by_type": {kind: by_type.get(kind, 0) for kind in IncidentType.values},
        "by_status": {status: by_status.get(status, 0) for status in IncidentStatus.values},
        "total": sum(by_type.values()),
        "bands": bands,
    }


# (content key, progress once stored, step)
STEPS: tuple[tuple[str, int, Callable[[Area, datetime.date], dict[str, Any]]], ...] = (
    ("index", 30, index_step),
    ("changes", 50, changes_step),
    ("issues", 70, issues_step),
    ("incidents", 85, incidents_step),
)


# --- Running the job --------------------------------------------------------------------------


@transaction.atomic
def _start(report_id: int) -> Report | None:
    report = Report.objects.select_for_update().select_related("area").defer("workbook").filter(pk=report_id).first()
    if report is None:
        return None  # deleted with its area since it was queued: nothing to build
    if report.status in (ReportStatus.QUEUED, ReportStatus.RUNNING):
        report.status = ReportStatus.RUNNING
        report.progress = max(report.progress, 5)
        report.save(update_fields=["status", "progress"])
    return report


@transaction.atomic
def _store_step(report_id: int, key: str, value: dict[str, Any], progress: int) -> Report:
    """Store one step's result and its progress in one commit (what a poller and a rerun see)."""
    report = Report.objects.select_for_update().select_related("area").defer("workbook").get(pk=report_id)
    report.content = {**report.content, key: value}
    report.progress = progress
    report.save(update_fields=["content", "progress"])
    return report


@transaction.atomic
def _finish(report_id: int, workbook: bytes) -> Report:
    report = Report.objects.select_for_update().defer("workbook").get(pk=report_id)
    report.workbook = workbook
    report.status = ReportStatus.DONE
    report.progress = 100
    report.error = ""
    report.finished_at = timezone.now()
    report.save(update_fields=["workbook", "status", "progress", "error", "finished_at"])
    return report


@transaction.atomic
def do_fail_report(report_id: int, message: str) -> None:
    """Mark the report failed with ``message`` (shown on its page); a new request may be made."""
    Report.objects.filter(pk=report_id).exclude(status=ReportStatus.DONE).update(
        status=ReportStatus.FAILED, error=message[:500], finished_at=timezone.now()
    )


def run_report(report_id: int, *, should_stop: Callable[[], bool] | None = None) -> Report | None:
    """Build the report from wherever it stands (the job's body); a finished report is returned as is.

    ``should_stop`` is asked before each step: when it says so, :class:`ReportInterruptedError`
    leaves the report at its last stored step for the next run. A :class:`ReportError` marks
    the report failed with its message; any other error marks it failed with a general one
    and is raised again (the job fails, and its log has the traceback).
    """
    report = _start(report_id)
    if report is None or report.status not in (ReportStatus.QUEUED, ReportStatus.RUNNING):
        return report
    try:
        with translation.override(report.language):
            for key, progress, step in STEPS:
                if key in report.content:
                    continue
                if should_stop is not None and should_stop():
                    raise ReportInterruptedError
                report = _store_step(report_id, key, step(report.area, report.month), progress)
            data = render_workbook(report)
    except ReportInterruptedError:
        raise
    except ReportError as exc:
        do_fail_report(report_id, exc.message)
        return Report.objects.defer("workbook").get(pk=report_id)
    except Exception:
        logger.exception("report %s failed", report_id)
        with translation.override(report.language):
            do_fail_report(report_id, _("The report could not be built. Ask for it again later."))
        raise
    return _finish(report_id, data)
