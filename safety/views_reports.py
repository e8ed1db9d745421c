"""Monthly report pages (``/safety/reports/``): ask for a report, watch it being built, download it.

- ``reports/``: the reports of the areas the user's report roles cover,
  and the request form: a street or district of theirs and a past month;
- ``reports/<id>/``: the report's progress while the job builds it (htmx polls the same URL for
  the fragment, no inline script), then its links;
- ``reports/<id>/download/``: the .xlsx;
- ``reports/<id>/print/``: the same tables as a page made for the browser's "print to PDF".

Every page declares ``safety.reports``; a report outside the user's scope answers 404 alike with
one that does not exist (``safety.reports.access_report_by_id``). Writes go through
``safety.reports.do_request_report``.
"""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from district.form_fields import BootstrapMixin
from district.models import Area
from district.permissions import REQUEST_REPORTS, need
from district.typing import AnyUser
from district.views import DeclaredView
from safety.choices import ReportStatus
from safety.models import Report
from safety.report_workbook import report_sheets, report_title
from safety.reports import access_report_by_id, check_report_month, do_request_report, reportable_areas, visible_reports

REPORTS = need(REQUEST_REPORTS)
LISTED = 50
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class AreaChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Area) -> str:
        return f"{obj.name} ({obj.get_level_display()})"


class ReportForm(BootstrapMixin, forms.Form):
    """Which area (a street or district of the user's) and which month."""

    area = AreaChoiceField(label=gettext_lazy("Street or district"), queryset=Area.objects.none())
    month = forms.DateField(
        label=gettext_lazy("Month"),
        input_formats=["%Y-%m"],
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
    )

    def __init__(self, *args: Any, user: AnyUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["area"]
        assert isinstance(field, AreaChoiceField)
        field.queryset = reportable_areas(user).order_by("path")

    def clean_month(self) -> datetime.date:
        month: datetime.date = self.cleaned_data["month"]
        return check_report_month(month)


def report_card(report: Report) -> tuple[str, str, list[tuple[str, str, bool]]]:
    """A report as a card of ``_cards.html``: area and month, status (with progress), who asked when."""
    status = str(report.get_status_display())
    if report.status == ReportStatus.RUNNING:
        status = f"{status} {report.progress}%"
    submitted = timezone.localtime(report.created_at).strftime("%Y-%m-%d %H:%M")
    if report.requested_by is not None:
        submitted = f"{submitted} · {report.requested_by.get_username()}"
    return (
        reverse("safety:report", args=[report.pk]),
        f"{report.area.name} · {report.month:%Y-%m}",
        [(_("status"), status, False), (_("submitted"), submitted, False)],
    )


class ReportListView(DeclaredView):
    """The user's reports, newest first, and the form to ask for one."""

    permissions = {"GET": REPORTS, "POST": REPORTS}

    def get(self, request: HttpRequest, form: ReportForm | None = None, *, status: int = 200) -> HttpResponse:
        last_month = (timezone.localdate().replace(day=1) - datetime.timedelta(days=1)).replace(day=1)
        context = {
            "form": form or ReportForm(user=request.user, initial={"month": last_month}),
            "cards": [report_card(report) for report in visible_reports(request.user).defer("content")[:LISTED]],
        }
        return render(request, "safety/reports.html", context, status=status)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ReportForm(request.POST, user=request.user)
        if not form.is_valid():
            return self.get(request, form, status=422)
        try:
            report, created = do_request_report(form.cleaned_data["area"], form.cleaned_data["month"], request.user)
        except ValidationError as exc:
            form.add_error(None, exc)
            return self.get(request, form, status=422)
        if created:
            messages.success(request, _("The report is being built."))
        else:
            messages.info(request, _("This report is already being built."))
        return redirect("safety:report", pk=report.pk)


class ReportView(DeclaredView):
    """One report: its progress while the job runs (htmx polls the fragment), then its links."""

    permissions = {"GET": REPORTS}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        report = access_report_by_id(request.user, pk)
        context = {
            "report": report,
            "title": report_title(report),
            "finished": report.status in (ReportStatus.DONE, ReportStatus.FAILED),
        }
        template = "safety/reports_progress.html" if request.headers.get("HX-Request") else "safety/reports_detail.html"
        return render(request, template, context)


def _done_report(request: HttpRequest, pk: int) -> Report:
    report = access_report_by_id(request.user, pk)
    if report.status != ReportStatus.DONE:
        raise Http404("The report is not ready")
    return report


class ReportDownloadView(DeclaredView):
    """The report's workbook (.xlsx), once built."""

    permissions = {"GET": REPORTS}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        report = _done_report(request, pk)
        data = bytes(Report.objects.filter(pk=report.pk).values_list("workbook", flat=True)[0])
        response = HttpResponse(data, content_type=XLSX)
        name = f"safety-report-{report.area.code}-{report.month:%Y-%m}.xlsx"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class ReportPrintView(DeclaredView):
    """The report's tables as a page to print or save as PDF (the same tables as the workbook)."""

    permissions = {"GET": REPORTS}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        report = _done_report(request, pk)
        context = {"report": report, "title": report_title(report), "sheets": report_sheets(report)}
        return render(request, "safety/reports_print.html", context)
