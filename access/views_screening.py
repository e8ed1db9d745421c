"""Batch ID screening pages of a compound (under ``/c/<compound>/access/screening/``).

Police at the compound (its beat officer, the district branch, the city bureau) paste a list
of ID numbers or upload a one-column .csv/.xlsx; a job screens them against the city's
watch-list while the status page shows its progress (htmx polls it, no inline script).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Func, IntegerField
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from access.models import ScreeningBatch
from access.screening import (
    MAX_LINE_CHARS,
    UPLOAD_MAX_BYTES,
    ParsedIds,
    do_create_screening_batch,
    parse_id_lines,
    read_id_file,
)
from district.audit import do_record_pii_view
from district.form_fields import BootstrapMixin
from district.permissions import SCREEN_IDS, need
from events.choices import WatchKind
from events.models import WatchlistEntry
from registry.filtersets import request_shows_pii
from registry.masking import mask_id_number
from registry.views import CompoundView

SCREEN = need(SCREEN_IDS)
RECENT_BATCHES = 10
# Bad lines listed by number after an upload; the rest are counted.
LISTED_BAD_LINES = 20


class ScreeningForm(BootstrapMixin, forms.Form):
    """The numbers to screen: pasted one per line, or a one-column .csv/.xlsx (not both)."""

    label = forms.CharField(
        label=gettext_lazy("Batch name"),
        max_length=128,
        required=False,
        help_text=gettext_lazy("e.g. the employer and the date, to find the batch again"),
    )
    ids = forms.CharField(
        label=gettext_lazy("ID numbers, one per line"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8, "autocomplete": "off", "spellcheck": "false"}),
    )
    file = forms.FileField(
        label=gettext_lazy("Or a file (.csv or .xlsx, ID numbers in the first column)"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx,text/csv"}),
    )

    parsed: ParsedIds

    def clean_ids(self) -> str:
        text: str = self.cleaned_data.get("ids") or ""
        # Bounded before it is split: every line of a full batch, with room for blanks and spaces.
        if len(text) > settings.ACCESS_SCREENING_MAX_IDS * MAX_LINE_CHARS:
            raise forms.ValidationError(
                _("A batch holds at most %(n)d ID numbers; split the list.") % {"n": settings.ACCESS_SCREENING_MAX_IDS}
            )
        return text

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data  # what Form.clean() returns
        text, upload = cleaned.get("ids") or "", cleaned.get("file")
        if self.errors:
            return cleaned
        if text.strip() and upload is not None:
            raise forms.ValidationError(_("Paste the numbers or upload a file, not both."))
        try:
            if upload is not None:
                # Not read at all beyond the cap (read_id_file refuses it by its length).
                lines = read_id_file(upload.name, upload.read(UPLOAD_MAX_BYTES + 1))
            else:
                lines = text.splitlines()
            self.parsed = parse_id_lines(lines)
        except ValidationError as exc:
            self.add_error("file" if upload is not None else "ids", exc)
            return cleaned
        if not self.parsed.numbers:
            message = _("There is no valid ID number to screen.")
            if self.parsed.invalid:
                message = f"{message} {bad_lines_report(self.parsed)}"
            self.add_error("file" if upload is not None else "ids", message)
        return cleaned


def bad_lines_report(parsed: ParsedIds) -> str:
    """The lines left out and why, by line number (never their contents, which may be numbers)."""
    listed = "; ".join(
        _("line %(line)d: %(reason)s") % {"line": line, "reason": reason}
        for line, reason in parsed.invalid[:LISTED_BAD_LINES]
    )
    report = ngettext(
        "%(n)d line was not screened: %(lines)s",
        "%(n)d lines were not screened: %(lines)s",
        len(parsed.invalid),
    ) % {"n": len(parsed.invalid), "lines": listed}
    if len(parsed.invalid) > LISTED_BAD_LINES:
        report += " " + _("… and %(n)d more.") % {"n": len(parsed.invalid) - LISTED_BAD_LINES}
    return report


class ScreeningView(CompoundView):
    """The screening form and the compound's recent batches."""

    permissions = {"GET": SCREEN, "POST": SCREEN}

    def get(self, request: HttpRequest, form: ScreeningForm | None = None, *, status: int = 200) -> HttpResponse:
        batches = (
            ScreeningBatch.objects.defer("id_numbers", "hits")
            .annotate(hit_count=Func(F("hits"), function="jsonb_array_length", output_field=IntegerField()))
            .select_related("created_by")
            .order_by("-created_at", "-pk")[:RECENT_BATCHES]
        )
        context = {
            "form": form or ScreeningForm(),
            "batches": batches,
            "max_ids": settings.ACCESS_SCREENING_MAX_IDS,
        }
        return render(request, "access/screening_form.html", context, status=status)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ScreeningForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.get(request, form, status=422)
        parsed = form.parsed
        try:
            batch = do_create_screening_batch(
                self.compound, parsed.numbers, label=form.cleaned_data["label"], acting_user=request.user
            )
        except ValidationError as exc:
            form.add_error(None, exc)
            return self.get(request, form, status=422)
        messages.success(
            request,
            ngettext("%(n)d ID number is being screened.", "%(n)d ID numbers are being screened.", len(parsed.numbers))
            % {"n": len(parsed.numbers)},
        )
        if parsed.duplicates:
            messages.info(
                request,
                ngettext(
                    "%(n)d repeated number was screened once.",
                    "%(n)d repeated numbers were screened once.",
                    parsed.duplicates,
                )
                % {"n": parsed.duplicates},
            )
        if parsed.invalid:
            messages.warning(request, bad_lines_report(parsed))
        return redirect(reverse("access:screening_status", kwargs={"compound": self.compound.code, "pk": batch.pk}))


class ScreeningStatusView(CompoundView):
    """One batch: its progress while the job runs (htmx polls the partial), then its hits.

    Hits show the watched person's ID number whole only to users with ``pii.view`` here, and
    such a view is audited.
    """

    permissions = {"GET": SCREEN}

    @transaction.atomic  # the audit row commits with the read it records
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        batch = get_object_or_404(ScreeningBatch.objects.defer("id_numbers").select_related("created_by"), pk=pk)
        masked = not request_shows_pii(request)
        finished = batch.finished_at is not None
        rows = []
        if finished and batch.hits:
            entries = WatchlistEntry.objects.in_bulk([hit["entry_id"] for hit in batch.hits])
            kinds = dict(WatchKind.choices)
            for hit in batch.hits:
                entry = entries.get(hit["entry_id"])
                rows.append(
                    {
                        "line": hit["index"] + 1,
                        "id_number": mask_id_number(hit["id_number"]) if masked else hit["id_number"],
                        "kind": kinds.get(hit["kind"], hit["kind"]),
                        "name": entry.name if entry is not None else "",
                        "entry_id": hit["entry_id"],
                        "alert_id": hit.get("alert_id"),
                    }
                )
            if not masked:
                do_record_pii_view(request.user, self.compound, [batch], request=request)
        context = {
            "batch": batch,
            "finished": finished,
            "percent": batch.done * 100 // batch.total if batch.total else 100,
            "hit_count": len(batch.hits),
            "rows": rows,
        }
        template = (
            "access/screening_progress.html" if request.headers.get("HX-Request") else "access/screening_status.html"
        )
        return render(request, template, context)
