"""The pages that work one case (POST from the case page, and two small pages of their own).

Each needs ``mediation.record`` or the ``change`` grant on the case (an assigned mediator),
except assigning mediators, which is the officer's decision (``mediation.record`` only). A
refused form is shown again on the case page with its errors (422; 413 for a file too large).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from district.params import whole_number
from mediation import actions
from mediation.attachments import AttachmentRefusedError, check_size, do_add_attachment, do_remove_attachment
from mediation.choices import CaseStatus
from mediation.forms import (
    AgreementForm,
    AttachmentForm,
    ExtendDeadlineForm,
    MediatorFilterForm,
    PartyForm,
    SessionForm,
    TransitionForm,
    roster,
)
from mediation.models import Agreement, Attachment, Case, MediationSession, Party
from mediation.views import RECORD, WRITE, CasePage, add_errors, case_for, render_case
from mediators.models import Mediator

__all__ = [
    "AgreementAddView",
    "AttachmentAddView",
    "AttachmentRemoveView",
    "CaseExtendView",
    "CaseTransitionView",
    "MediatorAssignView",
    "MediatorUnassignView",
    "PartyAddView",
    "PartyRemoveView",
    "SessionAddView",
    "SessionEditView",
]

ROSTER_SIZE = 50


def read_upload(upload: Any) -> bytes:
    """The bytes of an upload, refused from its declared size before they are read."""
    check_size(getattr(upload, "size", None))
    upload.seek(0)
    data: bytes = upload.read()
    return data


def refusal_status(exc: ValidationError) -> int:
    """A refused form answers 422 like every other page form; a file too large, 413."""
    return 413 if isinstance(exc, AttachmentRefusedError) and exc.status == 413 else 422


class CaseTransitionView(CasePage):
    """Move the case along the workflow (one button per status its current one allows)."""

    permissions = {"POST": WRITE}

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = get_object_or_404(Case, pk=pk)
        form = TransitionForm(request.POST, case=case)
        if form.is_valid():
            data = form.cleaned_data
            try:
                actions.do_transition_case(
                    case,
                    data["status"],
                    acting_user=request.user,
                    note=data.get("note") or "",
                    referred_to=data.get("referred_to") or "",
                )
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(
                    request, _("The case is now “%(status)s”.") % {"status": CaseStatus(data["status"]).label}
                )
                return redirect(self.case_url(case))
        return render_case(self, request, case, status=422, transition_form=form)


class CaseExtendView(CasePage):
    """Extend the statutory deadline of an open case, with a reason."""

    permissions = {"POST": WRITE}

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = get_object_or_404(Case, pk=pk)
        form = ExtendDeadlineForm(request.POST)
        if form.is_valid():
            try:
                case = actions.do_extend_deadline(
                    case, days=form.cleaned_data["days"], reason=form.cleaned_data["reason"], acting_user=request.user
                )
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(request, _("The deadline is now %(date)s.") % {"date": case.deadline.isoformat()})
                return redirect(self.case_url(case))
        return render_case(self, request, case, status=422, extend_form=form)


class PartyAddView(CasePage):
    """Add a party to the case."""

    permissions = {"POST": WRITE}

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = get_object_or_404(Case, pk=pk)
        form = PartyForm(request.POST, prefix="party")
        if form.is_valid() and form.is_blank():
            form.add_error("name", _("Give the party's name."))
        if form.is_valid():
            try:
                actions.do_add_party(case, form.party_data(), acting_user=request.user)
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(request, _("Party added."))
                return redirect(self.case_url(case))
        return render_case(self, request, case, status=422, party_form=form)


class PartyRemoveView(CasePage):
    """Remove a party (``pk`` is the party's; a case keeps at least one)."""

    permissions = {"POST": WRITE}

    def permission_object(self, **kwargs: Any) -> Any:
        return case_for(Party, kwargs["pk"])

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        party = get_object_or_404(Party.objects.select_related("case"), pk=pk)
        try:
            actions.do_remove_party(party, acting_user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Party removed."))
        return redirect(self.case_url(party.case))


def session_from(form: SessionForm, session: MediationSession) -> MediationSession:
    """``session`` with the form's values applied (not saved: the action saves it)."""
    data = form.cleaned_data
    session.scheduled_at = data["scheduled_at"]
    session.place = data.get("place") or ""
    session.video_link = data.get("video_link") or ""
    session.attendees = data.get("attendees") or ""
    session.minutes = data.get("minutes") or ""
    session.held = bool(data.get("held"))
    return session


class SessionAddView(CasePage):
    """Schedule a mediation session: when, and where or by which video link."""

    permissions = {"POST": WRITE}

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = get_object_or_404(Case, pk=pk)
        form = SessionForm(request.POST)
        if form.is_valid():
            try:
                actions.do_save_session(session_from(form, MediationSession(case=case)), acting_user=request.user)
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(request, _("Session scheduled."))
                return redirect(self.case_url(case))
        return render_case(self, request, case, status=422, session_form=form)


class SessionEditView(CasePage):
    """One session (``pk`` is the session's): change it, or record attendees, minutes, held."""

    permissions = {"GET": WRITE, "POST": WRITE}

    def permission_object(self, **kwargs: Any) -> Any:
        return case_for(MediationSession, kwargs["pk"])

    def page(
        self, request: HttpRequest, session: MediationSession, form: SessionForm, status: int = 200
    ) -> HttpResponse:
        context = {"case": session.case, "session": session, "form": form}
        return render(request, "mediation/session_form.html", context, status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        session = get_object_or_404(MediationSession.objects.select_related("case"), pk=pk)
        initial = {name: getattr(session, name) for name in SessionForm.base_fields}
        return self.page(request, session, SessionForm(initial=initial))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        session = get_object_or_404(MediationSession.objects.select_related("case"), pk=pk)
        form = SessionForm(request.POST)
        if form.is_valid():
            try:
                actions.do_save_session(session_from(form, session), acting_user=request.user)
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(request, _("Saved."))
                return redirect(self.case_url(session.case))
        return self.page(request, session, form, status=422)


class AgreementAddView(CasePage):
    """Record the signed agreement (moves a case being mediated to "agreement reached"), with its scan."""

    permissions = {"POST": WRITE}

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = get_object_or_404(Case, pk=pk)
        form = AgreementForm(request.POST, request.FILES)
        status = 422
        if form.is_valid():
            data = form.cleaned_data
            try:
                upload = data.get("file")
                scan = read_upload(upload) if upload is not None else None
                with transaction.atomic():
                    agreement = actions.do_record_agreement(
                        case,
                        terms=data["terms"],
                        signed_on=data["signed_on"],
                        amount=data.get("amount"),
                        acting_user=request.user,
                    )
                    if scan is not None and upload is not None:
                        do_add_attachment(
                            case, name=upload.name, data=scan, agreement=agreement, acting_user=request.user
                        )
            except ValidationError as exc:
                add_errors(form, exc)
                status = refusal_status(exc)
            else:
                messages.success(request, _("Agreement recorded."))
                return redirect(self.case_url(case))
        return render_case(self, request, case, status=status, agreement_form=form)


class AttachmentAddView(CasePage):
    """Upload a photo (thumbnailed) or a PDF for the case, or one of its sessions or agreements."""

    permissions = {"POST": WRITE}

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = get_object_or_404(Case, pk=pk)
        form = AttachmentForm(request.POST, request.FILES)
        status = 422
        if form.is_valid():
            data = form.cleaned_data
            session = (
                MediationSession.objects.filter(pk=data["session"], case=case).first() if data["session"] else None
            )
            agreement = Agreement.objects.filter(pk=data["agreement"], case=case).first() if data["agreement"] else None
            if data["session"] and session is None:
                form.add_error(None, _("This session belongs to another case."))
            elif data["agreement"] and agreement is None:
                form.add_error(None, _("This agreement belongs to another case."))
            else:
                try:
                    do_add_attachment(
                        case,
                        name=data["file"].name,
                        data=read_upload(data["file"]),
                        session=session,
                        agreement=agreement,
                        acting_user=request.user,
                    )
                except ValidationError as exc:
                    add_errors(form, exc)
                    status = refusal_status(exc)
                else:
                    messages.success(request, _("File attached."))
                    return redirect(self.case_url(case))
        return render_case(self, request, case, status=status, attachment_form=form)


class AttachmentRemoveView(CasePage):
    """Delete an attachment (``pk`` is the attachment's)."""

    permissions = {"POST": WRITE}

    def permission_object(self, **kwargs: Any) -> Any:
        return case_for(Attachment, kwargs["pk"])

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        attachment = get_object_or_404(Attachment.objects.select_related("case"), pk=pk)
        case = attachment.case
        do_remove_attachment(attachment, acting_user=request.user)
        messages.success(request, _("File removed."))
        return redirect(self.case_url(case))


def roster_for(case: Case, compound: Any, specialty: str = "", province: str = "") -> list[Mediator]:
    """Active mediators of the city: the one a party asked for first, then by specialty, province, name."""
    qs = roster(compound).exclude(pk__in=case.mediator_ids)
    if specialty:
        qs = qs.filter(specialties__contains=[specialty])
    if province:
        qs = qs.filter(home_province__icontains=province)
    requested = case.requested_mediator_id or 0
    rank = models.Case(models.When(pk=requested, then=models.Value(0)), default=models.Value(1))
    return list(qs.annotate(requested_rank=rank).order_by("requested_rank", "name", "id")[:ROSTER_SIZE])


class MediatorAssignView(CasePage):
    """The city's roster for this case (filter by specialty and home province); POST assigns one."""

    permissions = {"GET": RECORD, "POST": RECORD}

    def page(self, request: HttpRequest, case: Case, *, error: str = "", status: int = 200) -> HttpResponse:
        filters = MediatorFilterForm(request.GET)
        specialty = province = ""
        if filters.is_valid():
            specialty = filters.cleaned_data.get("specialty") or ""
            province = filters.cleaned_data.get("province") or ""
        context = {
            "case": case,
            "filters": filters,
            "mediators": roster_for(case, self.compound, specialty, province),
            "assigned": list(Mediator.objects.filter(pk__in=case.mediator_ids).order_by("name")),
            "error": error,
        }
        return render(request, "mediation/case_mediators.html", context, status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self.page(request, get_object_or_404(Case, pk=pk))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = get_object_or_404(Case, pk=pk)
        raw = request.POST.get("mediator", "")
        mediator_id = whole_number(raw, digits=10)
        mediator = roster(self.compound).filter(pk=mediator_id).first() if mediator_id is not None else None
        if mediator is None:
            return self.page(request, case, error=_("Choose a mediator of the city's roster."), status=422)
        try:
            actions.do_assign_mediator(case, mediator, acting_user=request.user)
        except ValidationError as exc:
            return self.page(request, case, error=" ".join(exc.messages), status=422)
        messages.success(request, _("%(name)s now mediates this case.") % {"name": mediator.name})
        return redirect(self.case_url(case))


class MediatorUnassignView(CasePage):
    """Take a mediator off the case (and their grant with it)."""

    permissions = {"POST": RECORD}

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = get_object_or_404(Case, pk=pk)
        raw = request.POST.get("mediator", "")
        mediator_id = whole_number(raw, digits=10)
        mediator = Mediator.objects.filter(pk=mediator_id).first() if mediator_id is not None else None
        if mediator is None:
            messages.error(request, _("This mediator is not on the case."))
            return redirect(self.case_url(case))
        try:
            actions.do_unassign_mediator(case, mediator, acting_user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("%(name)s no longer mediates this case.") % {"name": mediator.name})
        return redirect(self.case_url(case))
