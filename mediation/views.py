"""Mediation pages of one compound (under ``/c/<compound>/mediation/``): the case list, the intake, a case.

Who may do what (``district.permissions``): ``mediation.view`` reads cases (parties' ID numbers
and phones masked without ``pii.view``); ``mediation.record`` registers cases and works them;
a mediator assigned to a case works that case through their object grant (``change`` on the
case), every other mediator of the compound only reads it. Other compounds see nothing: the
compound middleware answers 404 before any of this runs. Writes go through
``mediation.actions`` (and ``mediation.attachments``); the POST-only pages of a case are in
``mediation.views_case``, the attachments' files in ``mediation.views_files``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import select_template
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from district.audit import do_record_pii_view
from district.params import whole_number
from district.permissions import RECORD_CASES, VIEW_CASES, check_need, need
from district.probes import ProbeLimitError
from mediation import actions
from mediation.actions import OPEN_STATUSES, TRANSITIONS, is_overdue
from mediation.choices import CaseStatus, PartyRole, ReferredTo, Risk, RiskReason
from mediation.forms import (
    AgreementForm,
    AttachmentForm,
    CaseEditForm,
    CaseFilterForm,
    CaseIntakeForm,
    ExtendDeadlineForm,
    PartyForm,
    SessionForm,
    TransitionForm,
)
from mediation.models import Case, Party
from mediation.queries import open_first
from mediators.models import Mediator
from registry.filtersets import PersonFilterSet
from registry.masking import mask_id_number, mask_phone
from registry.models import Person
from registry.views import CompoundView

__all__ = [
    "READ",
    "RECORD",
    "WRITE",
    "CaseDetailView",
    "CaseEditView",
    "CaseIntakeView",
    "CaseListView",
    "CasePage",
    "PartyFieldsetView",
    "PersonSearchView",
    "add_errors",
    "case_for",
    "render_case",
]

READ = need(VIEW_CASES)
RECORD = need(RECORD_CASES)
# Working a case: the role's capability, or the object grant an assigned mediator holds.
WRITE = need(RECORD_CASES, grant="change")
PAGE_SIZE = 25
# The statuses in which an agreement may be recorded (``do_record_agreement``).
AGREEMENT_STATUSES = (CaseStatus.MEDIATING, CaseStatus.AGREEMENT, CaseStatus.FOLLOW_UP)
PERSON_RESULTS = 8
# The offline intake (another part of the issue) adds its script and its "still waiting" list
# through these templates, when they exist.
OFFLINE_INTAKE = "mediation/_offline_intake.html"
OFFLINE_QUEUE = "mediation/_offline_queue.html"

RISK_BADGES = {Risk.LOW: "text-bg-secondary", Risk.MEDIUM: "text-bg-warning", Risk.HIGH: "text-bg-danger"}
STATUS_BADGES = {
    CaseStatus.REGISTERED: "text-bg-light border",
    CaseStatus.ACCEPTED: "text-bg-info",
    CaseStatus.MEDIATING: "text-bg-primary",
    CaseStatus.AGREEMENT: "text-bg-success",
    CaseStatus.FAILED: "text-bg-dark",
    CaseStatus.FOLLOW_UP: "text-bg-info",
    CaseStatus.CLOSED: "text-bg-secondary",
    CaseStatus.REFERRED: "text-bg-warning",
}


def optional_template(name: str) -> str:
    """``name`` if that template exists, else "" (the template then includes nothing)."""
    try:
        select_template([name])
    except Exception:
        return ""
    return name


def case_for(model: type[models.Model], pk: int) -> Case:
    """The case a record of ``model`` (a session, party or attachment) belongs to; 404 if missing."""
    obj = get_object_or_404(model._default_manager.select_related("case"), pk=pk)
    case: Case = obj.case  # type: ignore[attr-defined]  # each of these models has its ``case``
    return case


class CasePage(CompoundView):
    """Base of the mediation pages: URLs of this app, the case a URL names, the masking of parties."""

    def mediation_url(self, name: str, **kwargs: Any) -> str:
        return reverse(f"mediation:{name}", kwargs={"compound": self.compound.code, **kwargs})

    def case_url(self, case: Case) -> str:
        return self.mediation_url("case", pk=case.pk)

    def permission_object(self, **kwargs: Any) -> Any:
        return get_object_or_404(Case, pk=kwargs["pk"])

    def may_write(self, request: HttpRequest, case: Case) -> bool:
        """May the user work this case (capability, or the grant of an assigned mediator)?"""
        return check_need(request.user, WRITE, self.compound, case)

    def party_rows(self, request: HttpRequest, parties: list[Party]) -> list[dict[str, Any]]:
        """Parties as shown: ID number and phone masked without ``pii.view`` (unmasked views audited)."""
        masked = not self.shows_pii(request)
        rows = []
        for party in parties:
            id_number = party.id_number or (party.person.id_number if party.person_id and party.person else "")
            phone = party.phone or (party.person.phone if party.person_id and party.person else "")
            rows.append(
                {
                    "party": party,
                    "id_number": mask_id_number(id_number) if masked else id_number,
                    "phone": mask_phone(phone) if masked else phone,
                    "tel": not masked and bool(phone),
                }
            )
        shown: list[Party] = [
            party for party, row in zip(parties, rows, strict=True) if row["id_number"] or row["phone"]
        ]
        if not masked and shown:
            do_record_pii_view(request.user, self.compound, shown, request=request)
        return rows


# --- The list --------------------------------------------------------------------------------------


def filter_cases(qs: QuerySet[Case], form: CaseFilterForm, today: Any) -> QuerySet[Case]:
    """The list's filters: status, category, risk, overdue, and a search of number, title and parties."""
    data = form.cleaned_data
    for name in ("status", "category", "risk"):
        if data.get(name):
            qs = qs.filter(**{name: data[name]})
    if data.get("overdue"):
        qs = qs.filter(status__in=OPEN_STATUSES, deadline__lt=today)
    if q := data.get("q"):
        # Names only: a party's ID number or phone is not searchable here (it would peel masks).
        qs = qs.filter(Q(number__icontains=q) | Q(title__icontains=q) | Q(parties__name__icontains=q)).distinct()
    return qs


class CaseListView(CasePage):
    """The compound's cases: filters, overdue ones highlighted, open ones by deadline; cards on a phone."""

    permissions = {"GET": READ}

    def get(self, request: HttpRequest) -> HttpResponse:
        form = CaseFilterForm(request.GET)
        today = timezone.localdate()
        qs = Case.objects.all()
        qs = filter_cases(qs, form, today) if form.is_valid() else qs.none()
        page = Paginator(open_first(qs), PAGE_SIZE).get_page(request.GET.get("page"))
        rows = [
            {
                "case": case,
                "url": self.case_url(case),
                "overdue": is_overdue(case, today),
                "status_badge": STATUS_BADGES.get(CaseStatus(case.status), ""),
                "risk_badge": RISK_BADGES.get(Risk(case.risk), ""),
            }
            for case in page
        ]
        context = {
            "form": form,
            "rows": rows,
            "page": page,
            "overdue_count": Case.objects.filter(status__in=OPEN_STATUSES, deadline__lt=today).count(),
            "may_record": check_need(request.user, RECORD, self.compound),
            "offline_queue": optional_template(OFFLINE_QUEUE),
        }
        if request.headers.get("HX-Request"):
            return render(request, "mediation/_case_results.html", context)
        return render(request, "mediation/case_list.html", context)


# --- The intake ------------------------------------------------------------------------------------


def add_errors(form: Any, exc: ValidationError) -> None:
    """An action's ValidationError onto the form: by field where the form has it, else the form's."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


class CaseIntakeView(CasePage):
    """A new case with its parties: one page, no script needed (the offline intake builds on it).

    The form carries a fresh ``client_key``: sent twice (a double tap, a retry on a slow
    connection) it still makes one case, and the second answer leads to it.
    """

    permissions = {"GET": RECORD, "POST": RECORD}

    def page(self, request: HttpRequest, form: CaseIntakeForm, status: int = 200) -> HttpResponse:
        context = {
            "form": form,
            "parties": form.parties,
            "spare_party": PartyForm(prefix="parties-__N__", initial={"role": "other"}),
            "api_url": reverse("mediation-api:case-list", kwargs={"compound": self.compound.code}),
            "offline_intake": optional_template(OFFLINE_INTAKE),
        }
        return render(request, "mediation/case_new.html", context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.page(request, CaseIntakeForm(compound=self.compound))

    def post(self, request: HttpRequest) -> HttpResponse:
        form = CaseIntakeForm(request.POST, compound=self.compound)
        if form.is_valid():
            try:
                case, created = actions.do_register_case(acting_user=request.user, **form.registration())
            except ValidationError as exc:
                add_errors(form, exc)
            except ProbeLimitError as refused:
                form.add_error(None, refused.message)
            else:
                if created:
                    messages.success(request, _("Case %(number)s registered.") % {"number": case.number})
                else:
                    messages.info(request, _("This case was already recorded as %(number)s.") % {"number": case.number})
                return redirect(self.case_url(case))
        return self.page(request, form, status=422)


class PartyFieldsetView(CasePage):
    """One party fieldset of the intake (htmx): ``?n=<number>`` and, once picked, ``&person=<id>``."""

    permissions = {"GET": RECORD}

    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            n = int(request.GET.get("n", "0"))
        except ValueError:
            n = -1
        if not 0 <= n < actions.MAX_PARTIES:
            return HttpResponse(_("No such party fieldset."), status=400)
        person = None
        raw = request.GET.get("person", "")
        if (person_id := whole_number(raw, digits=10)) is not None:
            person = Person.objects.filter(pk=person_id).first()
        role = request.GET.get("role") or request.GET.get(f"parties-{n}-role", "")
        if role not in PartyRole.values:
            role = PartyRole.APPLICANT if n == 0 else PartyRole.RESPONDENT
        initial: dict[str, Any] = {"role": role}
        if person is not None:
            initial |= {"person_id": person.pk, "name": person.name}
        form = PartyForm(prefix=f"parties-{n}", initial=initial)
        masked = not self.shows_pii(request)
        shown_id = ""
        if person is not None:
            shown_id = mask_id_number(person.id_number) if masked else person.id_number
            if not masked:
                do_record_pii_view(request.user, self.compound, [person], request=request)
        context = {"party": form, "n": n, "number": n + 1, "person": person, "person_id_shown": shown_id}
        return render(request, "mediation/_party_fieldset.html", context)


class PersonSearchView(CasePage):
    """Residents matching a name (pinyin too), an address shorthand or a whole identifier (htmx).

    The registry's own search: a user who sees identifiers masked finds people by a whole ID
    number or phone only, and such lookups are counted and limited (``district.probes``).
    """

    permissions = {"GET": RECORD}

    @transaction.atomic  # the audit rows commit with the reads they record
    def get(self, request: HttpRequest) -> HttpResponse:
        q = (request.GET.get("q") or "").strip()[:100]
        try:
            n = int(request.GET.get("n", "0"))
        except ValueError:
            n = 0
        n = n if 0 <= n < actions.MAX_PARTIES else 0
        people: list[Person] = []
        refusal = ""
        if len(q) >= 1:
            try:
                filterset = PersonFilterSet(
                    {"q": q}, queryset=Person.objects.select_related("house__address"), request=request
                )
                found = filterset.qs if filterset.is_valid() else Person.objects.none()
                people = list(found.filter(move_out_date__isnull=True)[:PERSON_RESULTS])
                self.audit_id_number_search(request, q, found)
            except ProbeLimitError as refused:
                refusal = refused.message
        masked = not self.shows_pii(request)
        if not masked and people:
            do_record_pii_view(request.user, self.compound, people, request=request)
        results = [
            {
                "person": p,
                "id_number": mask_id_number(p.id_number) if masked else p.id_number,
                "address": p.house.address.full_name if p.house_id and p.house and p.house.address_id else "",
            }
            for p in people
        ]
        context = {"results": results, "q": q, "n": n, "refusal": refusal}
        return render(request, "mediation/_person_results.html", context, status=429 if refusal else 200)


# --- A case ----------------------------------------------------------------------------------------


class CaseDetailView(CasePage):
    """One case: parties, steps, deadline, workflow, mediators, sessions, agreements, attachments."""

    permissions = {"GET": READ}

    @transaction.atomic  # an unmasked view's audit row commits with the read
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = get_object_or_404(Case, pk=pk)
        return render_case(self, request, case)


def render_case(view: CasePage, request: HttpRequest, case: Case, *, status: int = 200, **forms: Any) -> HttpResponse:
    """The case page, with any bound form that was refused shown again with its errors (422)."""
    today = timezone.localdate()
    may_write = view.may_write(request, case)
    parties = list(case.parties.select_related("person"))
    mediators = {m.pk: m for m in Mediator.objects.filter(pk__in=case.mediator_ids)}
    requested = Mediator.objects.filter(pk=case.requested_mediator_id).first() if case.requested_mediator_id else None
    sessions = list(case.sessions.all())
    agreements = list(case.agreements.all())
    attachments = list(case.attachments.all())
    allowed = [s for s in CaseStatus if s in TRANSITIONS.get(case.status, frozenset())]
    context = {
        "case": case,
        "overdue": is_overdue(case, today),
        "is_open": case.status in OPEN_STATUSES,
        "days_left": (case.deadline - today).days,
        "days_late": (today - case.deadline).days,
        "risk_reasons": [RiskReason(r).label for r in case.risk_reasons if r in RiskReason.values],
        "agreement_possible": case.status in AGREEMENT_STATUSES,
        "status_badge": STATUS_BADGES.get(CaseStatus(case.status), ""),
        "risk_badge": RISK_BADGES.get(Risk(case.risk), ""),
        "may_write": may_write,
        "may_record": check_need(request.user, RECORD, view.compound),
        "parties": view.party_rows(request, parties),
        "steps": list(case.steps.select_related("user")),
        "mediators": [mediators[pk] for pk in case.mediator_ids if pk in mediators],
        "requested_mediator": requested,
        "sessions": sessions,
        "agreements": agreements,
        "attachments": attachments,
        "case_attachments": [a for a in attachments if a.session_id is None and a.agreement_id is None],
        "allowed_statuses": allowed,
        "referred_choices": ReferredTo.choices,
        "transition_form": forms.get("transition_form") or TransitionForm(case=case),
        "extend_form": forms.get("extend_form") or ExtendDeadlineForm(),
        "party_form": forms.get("party_form") or PartyForm(prefix="party", initial={"role": "other"}),
        "session_form": forms.get("session_form") or SessionForm(),
        "agreement_form": forms.get("agreement_form") or AgreementForm(),
        "attachment_form": forms.get("attachment_form") or AttachmentForm(),
        "open_form": next((name for name, form in forms.items() if form is not None), ""),
    }
    return render(request, "mediation/case_detail.html", context, status=status)


class CaseEditView(CasePage):
    """Change a case's description, category, risk, place, address, amount and date."""

    permissions = {"GET": WRITE, "POST": WRITE}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = get_object_or_404(Case, pk=pk)
        return render(request, "mediation/case_edit.html", {"case": case, "form": CaseEditForm(case=case)})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = get_object_or_404(Case, pk=pk)
        form = CaseEditForm(request.POST, case=case)
        if form.is_valid():
            try:
                actions.do_update_case(case, acting_user=request.user, changes=form.changes())
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(request, _("Saved."))
                return redirect(self.case_url(case))
        return render(request, "mediation/case_edit.html", {"case": case, "form": form}, status=422)
