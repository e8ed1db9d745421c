"""Pages of visitors and passages: visitor passes, remote opening, the event log, pass search.

Phone first (the lists become cards below the md breakpoint, ``templates/_cards.html``). The
event log (``access.view``) shows names masked and no snapshots; the pass search
(``access.search``, police) shows names whole and snapshot thumbnails, each fetched through
:class:`EventSnapshotView`, which audits every view. All reads are narrowed to the request's
compound by ``access.passes``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from access.models import AccessSettings, Device, VisitorPass
from access.passes import (
    AccessEventFilterSet,
    EventRow,
    describe_events,
    events_of,
    mask_name,
    page_of,
    request_sees_passages,
)
from access.visitors import (
    MAX_USES,
    NOTE_MAX_LENGTH,
    DenyReason,
    clock,
    do_issue_pass,
    do_remote_open,
    do_revoke_pass,
    pass_status,
    qr_data_uri,
    remote_devices,
)
from district.audit import do_record_audit, do_record_pii_view
from district.models import AuditAction
from district.permissions import ISSUE_PASSES, SEARCH_PASSAGES, VIEW_ACCESS, need
from events.choices import Decision, EventKind
from registry.filtersets import PersonFilterSet
from registry.masking import mask_phone
from registry.models import Person
from registry.views import CompoundView

__all__ = [
    "EventLogView",
    "EventSnapshotView",
    "PassSearchView",
    "RemoteOpenView",
    "RevokePassView",
    "VisitorPassesView",
]

ISSUE = need(ISSUE_PASSES)
PASSES_PER_PAGE = 25
SNAPSHOT_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png"}
LOCAL_INPUT = "%Y-%m-%dT%H:%M"


def _local_input(**attrs: Any) -> forms.DateTimeInput:
    return forms.DateTimeInput(attrs={"type": "datetime-local", "class": "form-control", **attrs}, format=LOCAL_INPUT)


class IssuePassForm(forms.Form):
    """The issue form: the visitor, the host resident (searched as in the registry), validity and uses."""

    visitor_name = forms.CharField(label=gettext_lazy("Visitor"), max_length=64)
    visitor_phone = forms.CharField(label=gettext_lazy("Visitor's phone"), max_length=20, required=False)
    host = forms.CharField(
        label=gettext_lazy("Host resident"),
        max_length=100,
        required=False,
        help_text=gettext_lazy("Name or room (3-2-501) of the resident who asked for the pass; empty for the compound"),
    )
    purpose = forms.CharField(label=gettext_lazy("Purpose"), max_length=128, required=False)
    valid_from = forms.DateTimeField(label=gettext_lazy("Valid from"), widget=_local_input())
    valid_until = forms.DateTimeField(label=gettext_lazy("Valid until"), widget=_local_input())
    max_uses = forms.IntegerField(label=gettext_lazy("Uses allowed"), min_value=1, max_value=MAX_USES, initial=2)

    def __init__(self, *args: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.host_person: Person | None = None
        for name, field in self.fields.items():
            field.widget.attrs.setdefault("class", "form-control")
            if name == "visitor_phone":
                field.widget.attrs.update(inputmode="tel", autocomplete="off")
        self.fields["max_uses"].widget.attrs["inputmode"] = "numeric"

    def clean_host(self) -> str:
        text = self.cleaned_data["host"].strip()
        if not text:
            return text
        # The registry's own search: a masked user's whole ID number or phone is a recorded lookup.
        current = Person.objects.filter(move_out_date__isnull=True)
        found = PersonFilterSet({"q": text}, queryset=current, request=self.request)
        matches = list(found.qs.order_by("pk")[:6]) if found.is_valid() else []
        if not matches:
            raise ValidationError(_("No current resident matches."))
        if len(matches) > 1:
            raise ValidationError(
                _("%(n)s residents match: give the whole name or the room.")
                % {"n": "5+" if len(matches) > 5 else len(matches)}
            )
        self.host_person = matches[0]
        return text


def _pass_rows(passes: list[VisitorPass], *, masked: bool) -> list[dict[str, Any]]:
    now = clock()
    reasons = dict(DenyReason.choices)
    rows = []
    for p in passes:
        status = pass_status(p, now)
        rows.append(
            {
                "obj": p,
                "phone": mask_phone(p.visitor_phone) if masked else p.visitor_phone,
                "host": p.host.name if p.host is not None else "",
                "status": status or "valid",
                "status_label": reasons.get(status, _("Valid")) if status else _("Valid"),
            }
        )
    return rows


class VisitorPassesView(CompoundView):
    """访客通行证: the compound's passes (live first) and the form that issues one.

    A successful issue answers with the pass's QR code and PIN on a page of its own, not a
    redirect: they exist only in this response (``Cache-Control: no-store``), never in the
    database, a session or a URL.
    """

    permissions = {"GET": ISSUE, "POST": ISSUE}

    def form_initial(self) -> dict[str, Any]:
        now = timezone.localtime(clock()).replace(second=0, microsecond=0)
        return {"valid_from": now, "valid_until": now + timedelta(hours=4), "max_uses": 2}

    def render_list(self, request: HttpRequest, form: IssuePassForm, status: int = 200) -> HttpResponse:
        show = request.GET.get("show", "live")
        passes = VisitorPass.objects.select_related("host", "issued_by").order_by("-created_at", "-id")
        if show != "all":
            passes = passes.filter(revoked_at__isnull=True, valid_until__gt=clock())
        page = Paginator(passes, PASSES_PER_PAGE).get_page(request.GET.get("page"))
        masked = not self.shows_pii(request)
        shown = list(page)
        if not masked:
            do_record_pii_view(request.user, self.compound, [p for p in shown if p.visitor_phone], request=request)
        rows = _pass_rows(shown, masked=masked)
        cards = [
            (
                f"{self.events_url()}?visitor_pass={row['obj'].pk}",
                row["obj"].visitor_name,
                [
                    (_("Status"), row["status_label"], False),
                    (_("Valid until"), f"{timezone.localtime(row['obj'].valid_until):%Y-%m-%d %H:%M}", False),
                    (_("Uses"), f"{row['obj'].uses}/{row['obj'].max_uses}", False),
                    (_("Host"), row["host"], False),
                    (_("Phone"), row["phone"], not masked),
                ],
            )
            for row in rows
        ]
        max_hours = AccessSettings.objects.filter(pk=1).values_list("pass_max_hours", flat=True).first() or 72
        context = {"form": form, "rows": rows, "cards": cards, "page": page, "show": show, "max_hours": max_hours}
        return render(request, "access/passes_list.html", context, status=status)

    def events_url(self) -> str:
        return reverse("access:event_log", kwargs={"compound": self.compound.code})

    @transaction.atomic  # the audit rows of unmasked phones commit with the page that shows them
    def get(self, request: HttpRequest) -> HttpResponse:
        return self.render_list(request, IssuePassForm(initial=self.form_initial(), request=request))

    @transaction.atomic
    def post(self, request: HttpRequest) -> HttpResponse:
        form = IssuePassForm(request.POST, request=request)
        if form.is_valid():
            data = form.cleaned_data
            try:
                issued = do_issue_pass(
                    self.compound,
                    visitor_name=data["visitor_name"],
                    visitor_phone=data["visitor_phone"],
                    purpose=data["purpose"],
                    host=form.host_person,
                    valid_from=data["valid_from"],
                    valid_until=data["valid_until"],
                    max_uses=data["max_uses"],
                    acting_user=request.user,
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                context = {
                    "visitor_pass": issued.visitor_pass,
                    "pin": issued.pin,
                    "qr": qr_data_uri(issued.token),
                    "host": form.host_person,
                }
                response = render(request, "access/passes_issued.html", context)
                response["Cache-Control"] = "no-store"
                return response
        return self.render_list(request, form, status=422)


def _add_errors(form: forms.Form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


class RevokePassView(CompoundView):
    """Revoke a pass: its PIN and QR code open nothing from now on."""

    permissions = {"POST": ISSUE}

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        visitor_pass = get_object_or_404(VisitorPass, pk=pk)
        try:
            do_revoke_pass(self.compound, visitor_pass, acting_user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Pass of %(name)s revoked.") % {"name": visitor_pass.visitor_name})
        return redirect(reverse("access:visitor_passes", kwargs={"compound": self.compound.code}))


class RemoteOpenForm(forms.Form):
    device = forms.CharField(max_length=32, widget=forms.HiddenInput)
    note = forms.CharField(
        label=gettext_lazy("Note"),
        max_length=NOTE_MAX_LENGTH,
        required=False,
        widget=forms.TextInput(
            attrs={"class": "form-control", "placeholder": gettext_lazy("e.g. delivery for 3-2-501")}
        ),
    )


class RemoteOpenView(CompoundView):
    """远程开门: open a gate or unit door for a caller; the device fetches the command within 60 s."""

    permissions = {"GET": ISSUE, "POST": ISSUE}

    def page(self, request: HttpRequest, form: RemoteOpenForm | None = None, status: int = 200) -> HttpResponse:
        now = clock()
        remote = events_of(self.compound).filter(kind=EventKind.REMOTE)
        recent = list(remote.filter(occurred_at__gte=now - timedelta(days=1), occurred_at__lte=now)[:10])
        context = {
            "devices": list(remote_devices()),
            "form": form or RemoteOpenForm(),
            "recent": describe_events(recent, whole_names=True),
        }
        return render(request, "access/passes_remote.html", context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.page(request)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = RemoteOpenForm(request.POST)
        if not form.is_valid():
            return self.page(request, form, status=422)
        device = Device.objects.filter(uid=form.cleaned_data["device"]).first()
        if device is None:
            form.add_error(None, _("No such device in this compound."))
            return self.page(request, form, status=422)
        try:
            do_remote_open(self.compound, device, acting_user=request.user, note=form.cleaned_data["note"])
        except ValidationError as exc:
            _add_errors(form, exc)
            return self.page(request, form, status=422)
        messages.success(
            request, _("Opening %(device)s: the device will open within seconds.") % {"device": device.name}
        )
        return redirect(reverse("access:remote_open", kwargs={"compound": self.compound.code}))


# --- The event log and pass search -------------------------------------------------------------


def _event_cards(rows: list[EventRow], base: str) -> list[tuple[str, str, list[tuple[str, str, bool]]]]:
    """Phone cards: tapping one searches that person's, plate's or device's other passages."""
    cards = []
    for row in rows:
        event = row.event
        if event.person_id:
            url = f"{base}?person={event.person_id}"
        elif event.plate:
            url = f"{base}?plate={event.plate}"
        elif row.device_uid:
            url = f"{base}?device={row.device_uid}"
        else:
            url = base
        row.link = url
        fields = [
            (_("Time"), f"{timezone.localtime(event.occurred_at):%Y-%m-%d %H:%M:%S}", False),
            (_("Device"), row.device_name, False),
            (_("Kind"), event.get_kind_display(), False),
            (_("Decision"), event.get_decision_display() + (f" ({event.reason})" if event.reason else ""), False),
        ]
        cards.append((url, row.who or "—", [f for f in fields if f[1]]))
    return cards


class EventListBase(CompoundView):
    """The filter form and one page of events; htmx requests get only the results."""

    template = "access/passes_events.html"
    url_name: str  # this page's URL name, for the links and the htmx target
    search = False  # the pass search: names whole and snapshot thumbnails

    @transaction.atomic  # a whole-ID-number search writes its audit row with the read
    def get(self, request: HttpRequest) -> HttpResponse:
        filterset = AccessEventFilterSet(request.GET, queryset=events_of(self.compound), request=request)
        valid = filterset.is_valid()
        rows: list[EventRow] = []
        next_cursor = None
        whole = self.search and request_sees_passages(request)
        person_label = ""
        if valid:
            page = page_of(filterset.qs, request.GET.get("cursor"))
            rows = describe_events(page.events, whole_names=whole)
            next_cursor = page.next_cursor
            if person_id := filterset.form.cleaned_data.get("person"):
                name = Person.objects.filter(pk=person_id).values_list("name", flat=True).first() or "—"
                person_label = name if whole else mask_name(name)
        base = reverse(self.url_name, kwargs={"compound": self.compound.code})
        query = request.GET.copy()
        query.pop("cursor", None)
        context = {
            "search": self.search,
            "filterset": filterset,
            "errors": [] if valid else [e for errors in filterset.errors.values() for e in errors],
            "rows": rows,
            "cards": _event_cards(rows, base),
            "window": filterset.window,
            "person_matches": filterset.person_matches,
            "person_label": person_label,
            "base_url": base,
            "query": query.urlencode(),
            "next_cursor": next_cursor,
            "first_page": not request.GET.get("cursor"),
            # Live only for the plain log: a search by ID number polled every 10 s would write an
            # audit row (and count a lookup) every 10 s.
            "live": valid and not any(request.GET.get(name) for name in ("cursor", "to", "q")),
            "devices": list(Device.objects.order_by("name").values_list("uid", "name")),
            "kinds": EventKind.choices,
            "decisions": Decision.choices,
            "values": request.GET,
        }
        if request.headers.get("HX-Request"):
            return render(request, "access/passes_events_results.html", context)
        return render(request, self.template, context, status=200 if valid else 400)


class EventLogView(EventListBase):
    """出入记录: the compound's passages, live (refreshed every 10 s), names masked, no snapshots."""

    permissions = {"GET": need(VIEW_ACCESS)}
    url_name = "access:event_log"


class PassSearchView(EventListBase):
    """案件研判: who passed which gates between two times, with names and snapshots (police)."""

    permissions = {"GET": need(SEARCH_PASSAGES)}
    search = True
    url_name = "access:pass_search"


class EventSnapshotView(CompoundView):
    """The snapshot of one of the compound's access events; every view is an audit row.

    Missing, foreign (another compound's event) and snapshot-less events answer alike (404).
    """

    permissions = {"GET": need(SEARCH_PASSAGES)}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        event = events_of(self.compound).filter(pk=pk).exclude(snapshot="").first()
        # The name must lie in this compound's own folder (save_snapshot puts it there).
        prefix = f"{settings.ACCESS_SNAPSHOT_DIR}/{self.compound.code}/"
        if event is None or not event.snapshot.startswith(prefix) or ".." in event.snapshot:
            raise Http404
        content_type = SNAPSHOT_TYPES.get(event.snapshot.rsplit(".", 1)[-1].lower())
        if content_type is None:
            raise Http404
        try:
            with default_storage.open(event.snapshot, "rb") as handle:
                data = handle.read()  # a capture of a few hundred kB at most (ACCESS_IMAGE_MAX_BYTES)
        except FileNotFoundError:
            raise Http404 from None  # removed by the retention job
        with transaction.atomic():
            do_record_audit(
                request.user,
                AuditAction.VIEW_PII,
                compound=self.compound,
                object_type="events.accessevent",
                object_ids=[event.pk],
                detail={"snapshot": True, "occurred_at": event.occurred_at.isoformat()},
                request=request,
            )
        response = HttpResponse(data, content_type=content_type)
        # Each view is audited: no cache may answer in its place.
        response["Cache-Control"] = "private, no-store"
        return response
