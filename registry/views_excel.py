"""Excel template download, import (with progress) and export pages of a compound."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Length
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from district.audit import do_record_audit
from district.models import AuditAction
from district.permissions import CHANGE_REGISTRY, has_capability
from registry import actions
from registry.excel import (
    ImportRefusedError,
    SheetKind,
    error_filename,
    error_workbook,
    export_filename,
    export_workbook,
    template_filename,
    template_workbook,
)
from registry.excel.columns import EXPORT_SPECS
from registry.filtersets import request_shows_police_tags
from registry.forms import ExportForm, ImportForm
from registry.kinds import KINDS
from registry.models import ImportJob
from registry.permissions import RECORD_PERMISSIONS
from registry.views import CompoundView, filtered

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_response(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=XLSX)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return response


def excel_kind_or_404(kind: str) -> str:
    if kind not in SheetKind.values:
        raise Http404
    return kind


def export_kind_or_404(kind: str) -> str:
    """A kind that exports: the import kinds, vehicles and leases."""
    if kind not in EXPORT_SPECS:
        raise Http404
    return kind


class TemplateDownloadView(CompoundView):
    """The empty template workbook of one kind, with Chinese headers and instructions."""

    permissions = {"GET": RECORD_PERMISSIONS["list"]}

    def get(self, request: HttpRequest, kind: str) -> HttpResponse:
        kind = excel_kind_or_404(kind)
        return xlsx_response(template_workbook(kind), template_filename(kind))


class ExportView(CompoundView):
    """All records of one kind (filtered like the list page) as a workbook, for a stated reason.

    The reason is required (400 without one, and nothing is exported or recorded); the
    export is audited with every record id it holds. ID numbers and phones are masked unless
    the user holds ``pii.view`` here: a masked export cannot be imported back over the real
    values, an unmasked one re-imports as it is. Only a POST exports (CSRF-protected, and
    the reason stays out of URLs and server logs); a GET shows the form.
    """

    # Exporting is reading: a POST here needs what the list needs, not registry.change.
    permissions = {"GET": RECORD_PERMISSIONS["list"], "POST": RECORD_PERMISSIONS["list"]}

    def get(self, request: HttpRequest, kind: str) -> HttpResponse:
        # No export on GET: a link on another site must not make a browser export (and put a
        # made-up reason in the audit log).
        k = KINDS[export_kind_or_404(kind)]
        q, tag = request.GET.get("q", ""), request.GET.get("tag", "")
        form = ExportForm(initial={"q": q, "tag": tag})
        return render(request, "registry/export.html", {"kind": k, "form": form, "q": q, "tag": tag})

    def post(self, request: HttpRequest, kind: str) -> HttpResponse:
        return self._export(request, kind, request.POST)

    def _export(self, request: HttpRequest, kind: str, data: Any) -> HttpResponse:
        kind = export_kind_or_404(kind)
        k = KINDS[kind]
        form = ExportForm(data)
        if not form.is_valid():
            context = {"kind": k, "form": form, "q": data.get("q", ""), "tag": data.get("tag", "")}
            return render(request, "registry/export.html", context, status=400)
        q, tag = form.cleaned_data["q"], form.cleaned_data["tag"]
        masked = not self.shows_pii(request)
        exported: list[int] = []
        with transaction.atomic():  # no audit row, no file
            _filterset, found = filtered(k, request, {"q": q, "tag": tag})
            police_tags = request_shows_police_tags(request)
            content = export_workbook(kind, found, mask_pii=masked, police_tags=police_tags, exported_ids=exported)
            do_record_audit(
                request.user,
                AuditAction.EXPORT,
                compound=self.compound,
                object_ids=exported,
                object_type=k.model._meta.label_lower,
                reason=form.cleaned_data["reason"],
                detail={"kind": kind, "q": q, "tag": tag, "masked": masked},
                request=request,
            )
            self.audit_id_number_search(request, q, found)
        today = timezone.localdate().isoformat()
        return xlsx_response(content, f"{self.compound.name}-{export_filename(kind, today)}")


class ImportView(CompoundView):
    """Upload a workbook; the job worker imports it while the status page shows its progress."""

    permissions = {"GET": RECORD_PERMISSIONS["list"], "POST": RECORD_PERMISSIONS["create"]}

    def get(self, request: HttpRequest, form: ImportForm | None = None, *, status: int = 200) -> HttpResponse:
        # Import reports can echo cell contents: only those who may import see past jobs.
        may_import = has_capability(request.user, CHANGE_REGISTRY, self.compound)
        jobs = ImportJob.objects.defer("file")[:10] if may_import else []
        return render(
            request,
            "registry/import.html",
            {"form": form or ImportForm(), "jobs": jobs, "kinds": dict(SheetKind.choices)},
            status=status,
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ImportForm(request.POST, request.FILES)
        if not form.is_valid():
            # Too large (413), not a workbook or an import bomb (422; registry.excel.limits): the
            # file is refused before anything of it is stored or queued.
            return self.get(request, form, status=413 if form.has_error("file", "too_large") else 422)
        upload = form.cleaned_data["file"]
        # Stored and queued in one transaction; a worker imports it (registry.tasks), resuming
        # after a restart, and the status page polls its progress.
        job = actions.do_create_import_job(
            kind=form.cleaned_data["kind"],
            filename=upload.name,
            content=upload.read(),
            acting_user=request.user,
            compound=self.compound,
        )
        return redirect(self.url("import_status", pk=job.pk))


class ImportStatusView(CompoundView):
    """Progress and the per-row error report of one import; htmx polls the partial."""

    # The error report can echo cell contents: only those who may import may read it.
    permissions = {"GET": RECORD_PERMISSIONS["create"]}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        # file_bytes 0: the file was deleted after the retention period (do_purge_import_files).
        job = get_object_or_404(ImportJob.objects.defer("file").annotate(file_bytes=Length("file")), pk=pk)
        template = (
            "registry/_import_status.html" if request.headers.get("HX-Request") else "registry/import_status.html"
        )
        retention_days = settings.REGISTRY_IMPORT_FILE_RETENTION.days
        return render(request, template, {"job": job, "title": _("Import"), "retention_days": retention_days})


class ImportErrorFileView(CompoundView):
    """The failed rows of an import as a workbook to fix and import again (registry.excel.error_file).

    Built from the uploaded file, so only while it is kept: after the retention period the
    answer is 410 with the reason.
    """

    # Like the error report it is built from: only those who may import may read it.
    permissions = {"GET": RECORD_PERMISSIONS["create"]}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        job = get_object_or_404(ImportJob.objects.defer("file").annotate(file_bytes=Length("file")), pk=pk)
        if not job.errors:
            raise Http404
        gone = _("The uploaded file was deleted after its retention period: the error file can no longer be made.")
        if not getattr(job, "file_bytes", 0):
            return HttpResponse(gone, status=410, content_type="text/plain; charset=utf-8")
        content = bytes(ImportJob.objects.filter(pk=job.pk).values_list("file", flat=True).get())
        try:
            workbook = error_workbook(job.kind, content, job.errors)
        except ImportRefusedError as exc:
            return HttpResponse(exc.message, status=410, content_type="text/plain; charset=utf-8")
        return xlsx_response(workbook, error_filename(job.filename))
