"""Registry pages of one compound (under ``/c/<compound>/``).

The middleware has already chosen the compound's schema and checked the user's scope; views
here never check scope themselves (STYLE.md §3).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, ProtectedError, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from district.audit import do_record_id_number_search, do_record_pii_view
from district.permissions import SET_KEY_PERSON, has_capability
from district.probes import ProbeLimitError
from district.views import DeclaredView
from registry import actions
from registry.address_tree import MAX_QUERY_LENGTH, build_address_tree
from registry.doorplates import plate_png, plate_svg
from registry.filtersets import request_shows_pii, request_shows_police_tags
from registry.forms import AddressForm
from registry.kinds import KINDS, Kind
from registry.masking import full_id_number
from registry.models import Address, House, Organisation, Person, Vehicle
from registry.permissions import READ, RECORD_PERMISSIONS
from tenants.models import Compound

PAGE_SIZE = 25


class CompoundView(DeclaredView):
    """Base of compound pages: ``self.compound`` is the compound the middleware resolved.

    Each page declares ``permissions`` per HTTP method (``registry.permissions`` holds the
    needs shared with the API); a method without a declaration is refused. A need that a
    per-object grant may satisfy is checked against :meth:`permission_object`, with the
    capability asked at this compound.
    """

    compound: Compound

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # Scope was checked by the middleware (404 out of scope); the declared need is checked
        # by DeclaredView (403).
        compound: Compound | None = getattr(request, "tenant", None)
        if compound is None:
            raise Http404
        self.compound = compound
        kwargs.pop("compound", None)
        try:
            return super().dispatch(request, *args, **kwargs)
        except ProbeLimitError as refused:
            # A whole-identifier lookup refused (district.probes): a search in an export, a
            # page without a place of its own for the message.
            return render(request, "registry/probe_refused.html", {"refusal": refused.message}, status=429)

    def url(self, name: str, **kwargs: Any) -> str:
        return reverse(f"registry:{name}", kwargs={"compound": self.compound.code, **kwargs})

    def shows_pii(self, request: HttpRequest) -> bool:
        """Does the user see ID numbers and phones unmasked here (``pii.view`` at this compound)?"""
        return request_shows_pii(request)

    def shows_police_tags(self, request: HttpRequest) -> bool:
        """Does the user see police-only tags (重点人员) here (``registry.key_person`` at this compound)?"""
        return request_shows_police_tags(request)

    def audit_id_number_search(self, request: HttpRequest, q: str, found: QuerySet) -> None:
        """A search by a whole ID number is audited, masked or not: it singles out one person."""
        if number := full_id_number(q):
            do_record_id_number_search(request.user, self.compound, number, found=found, request=request)


def filtered(k: Kind, request: HttpRequest, data: Any) -> tuple[Any, QuerySet]:
    """The kind's filterset over ``data`` and what it finds (nothing when the filters are invalid)."""
    filterset = k.filterset(data, queryset=k.model._default_manager.all(), request=request)
    found = filterset.qs if filterset.is_valid() else k.model._default_manager.none()
    return filterset, found


def kind_or_404(slug: str) -> Kind:
    try:
        return KINDS[slug]
    except KeyError:
        raise Http404 from None


class OverviewView(CompoundView):
    """The compound's home: counts of each record kind and the address tree."""

    permissions = {"GET": READ}

    def get(self, request: HttpRequest) -> HttpResponse:
        counts = {
            "persons": Person.objects.filter(move_out_date__isnull=True).count(),
            "houses": House.objects.count(),
            "organisations": Organisation.objects.count(),
            "vehicles": Vehicle.objects.count(),
        }
        tags = Person.objects.filter(move_out_date__isnull=True).aggregate(
            elderly_alone=Count("pk", filter=Q(tags__contains=["elderly_alone"])),
            floating=Count("pk", filter=Q(residence_type="floating")),
        )
        cards = [(KINDS[slug], n) for slug, n in counts.items()]
        return render(request, "registry/overview.html", {"cards": cards, "tags": tags})


class RecordListView(CompoundView):
    """Searchable list of one record kind; htmx requests get only the table."""

    permissions = {"GET": RECORD_PERMISSIONS["list"]}

    @transaction.atomic  # the audit rows commit with the reads they record, or not at all
    def get(self, request: HttpRequest, kind: str) -> HttpResponse:
        k = kind_or_404(kind)
        masked = not self.shows_pii(request)
        police = self.shows_police_tags(request)
        refusal, filter_errors = "", {}
        q, tag = request.GET.get("q", ""), request.GET.get("tag", "")
        try:
            filterset, found = filtered(k, request, request.GET)
            filter_errors = filterset.errors
        except ProbeLimitError as refused:
            # A whole ID number or phone searched by a user over the lookup limit: no rows, and why.
            refusal, found = refused.message, k.model._default_manager.none()
        page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
        shown = list(page)
        if k.pii and not masked:
            do_record_pii_view(request.user, self.compound, shown, request=request)
        if not refusal:
            self.audit_id_number_search(request, q, found)
        headers = [k.header(c) for c in k.columns]
        rows = [(obj, [k.cell(obj, c, masked=masked, police=police) for c in k.columns]) for obj in shown]
        # Phones are tel: links on the phone cards only where the cell shows the whole number.
        tel = [not masked and k.pii.get(c) == "phone" for c in k.columns]
        context = {
            "kind": k,
            "tag_choices": k.tag_choices(police=police),
            "headers": headers,
            "rows": rows,
            # The same cell texts as the table, as cards for small screens (templates/_cards.html).
            "cards": [
                (
                    self.url("record", kind=k.slug, pk=obj.pk),
                    cells[0],
                    [(h, v, t) for h, v, t in zip(headers[1:], cells[1:], tel[1:], strict=True) if v],
                )
                for obj, cells in rows
            ],
            "page": page,
            "q": q,
            "tag": tag,
            "filter_errors": filter_errors,
            "refusal": refusal,
        }
        if request.headers.get("HX-Request"):
            # htmx swaps only 2xx answers into the page: the live search must still show why.
            return render(request, "registry/_table.html", context)
        return render(request, "registry/list.html", context, status=429 if refusal else 200)


class RecordDetailView(CompoundView):
    """All fields of one record, with its related records."""

    permissions = {"GET": RECORD_PERMISSIONS["retrieve"]}

    @transaction.atomic
    def get(self, request: HttpRequest, kind: str, pk: int) -> HttpResponse:
        k = kind_or_404(kind)
        obj = get_object_or_404(k.model, pk=pk)
        masked = not self.shows_pii(request)
        police = self.shows_police_tags(request)
        if k.pii and not masked:
            do_record_pii_view(request.user, self.compound, [obj], request=request)
        fields = [
            (k.header(name), k.cell(obj, name, masked=masked, police=police)) for name in k.form._meta.fields or ()
        ]
        related: list[tuple[Kind, list]] = []
        if isinstance(obj, Person):
            fields[2:2] = [
                (k.header("birth_date"), k.cell(obj, "birth_date", masked=masked)),
                (k.header("sex"), k.cell(obj, "sex")),
            ]
            related = [(KINDS["leases"], list(obj.leases.all())), (KINDS["vehicles"], list(obj.vehicles.all()))]
        elif isinstance(obj, House):
            related = [
                (KINDS["persons"], list(obj.residents.filter(move_out_date__isnull=True))),
                (KINDS["leases"], list(obj.leases.select_related("tenant"))),
            ]
        return render(request, "registry/detail.html", {"kind": k, "obj": obj, "fields": fields, "related": related})


class RecordFormView(CompoundView):
    """Create (no ``pk``) or edit a record; field-level errors come from the model's validation.

    The URLs declare its permissions: ``create`` for the new-record form, ``partial_update``
    (the role's capability, or a per-object grant on the record) for the edit form. The form
    itself is only for those who may save it.
    """

    def permission_object(self, **kwargs: Any) -> Any:
        return get_object_or_404(kind_or_404(kwargs["kind"]).model, pk=kwargs["pk"])

    def _form(self, request: HttpRequest, k: Kind, obj: Any, data: Any = None) -> Any:
        extra: dict[str, Any] = {}
        if k.slug == "persons":
            extra["can_set_police_tags"] = has_capability(request.user, SET_KEY_PERSON, self.compound)
        if k.pii:
            # Users without pii.view get masked inputs; the mask sent back keeps the real value.
            extra["mask_pii"] = not self.shows_pii(request)
        return k.form(data, instance=obj, **extra)

    @transaction.atomic
    def get(self, request: HttpRequest, kind: str, pk: int | None = None) -> HttpResponse:
        k = kind_or_404(kind)
        obj = get_object_or_404(k.model, pk=pk) if pk else None
        if obj is not None and k.pii and self.shows_pii(request):
            # The edit form shows the recorded values in its inputs: an unmasked view too.
            do_record_pii_view(request.user, self.compound, [obj], request=request)
        return render(request, "registry/form.html", {"kind": k, "obj": obj, "form": self._form(request, k, obj)})

    def post(self, request: HttpRequest, kind: str, pk: int | None = None) -> HttpResponse:
        k = kind_or_404(kind)
        obj = get_object_or_404(k.model, pk=pk) if pk else None
        form = self._form(request, k, obj, request.POST)
        status = 422
        if form.is_valid():
            try:
                saved = k.save(form.save(commit=False), acting_user=request.user)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            except ProbeLimitError as refused:
                # Registering an ID number is a lookup for a user who sees them masked (issue #7).
                form.add_error(None, refused.message)
                status = 429
            else:
                messages.success(request, _("Saved."))
                return redirect(self.url("record", kind=k.slug, pk=saved.pk))
        return render(request, "registry/form.html", {"kind": k, "obj": obj, "form": form}, status=status)


class RecordDeleteView(CompoundView):
    """Delete a record (POST only)."""

    permissions = {"POST": RECORD_PERMISSIONS["destroy"]}

    def post(self, request: HttpRequest, kind: str, pk: int) -> HttpResponse:
        k = kind_or_404(kind)
        obj = get_object_or_404(k.model, pk=pk)
        try:
            actions.do_delete(obj, acting_user=request.user)
        except ProtectedError:
            messages.error(request, _("This record is still referenced and cannot be deleted."))
            return redirect(self.url("record", kind=k.slug, pk=pk))
        messages.success(request, _("Deleted."))
        return redirect(self.url("list", kind=k.slug))


class AddressTreeView(CompoundView):
    """The standard-address tree; POST adds a building, unit, floor or room."""

    permissions = {"GET": RECORD_PERMISSIONS["list"], "POST": RECORD_PERMISSIONS["create"]}

    def get(self, request: HttpRequest, form: AddressForm | None = None) -> HttpResponse:
        query = request.GET.get("q", "").strip()[:MAX_QUERY_LENGTH]
        context = {"tree": build_address_tree(query), "q": query, "form": form or AddressForm()}
        return render(request, "registry/addresses.html", context)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = AddressForm(request.POST)
        if form.is_valid():
            try:
                address = actions.do_create_address(
                    self.compound,
                    parent=form.cleaned_data["parent"],
                    number=form.cleaned_data["number"],
                    acting_user=request.user,
                )
            except ValidationError as exc:
                form.add_error("number", exc.messages)
            else:
                messages.success(request, _("Added %(name)s.") % {"name": address.full_name})
                return redirect(self.url("address", pk=address.parent_id or address.pk))
        response = self.get(request, form)
        response.status_code = 422
        return response


class AddressDetailView(CompoundView):
    """One standard address: what is there (house, residents, organisations) and its door plate.

    This is the page a door plate's QR code opens.
    """

    permissions = {"GET": RECORD_PERMISSIONS["retrieve"]}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        address = get_object_or_404(Address, pk=pk)
        house = House.objects.filter(address=address).first()
        context = {
            "address": address,
            "ancestors": Address.objects.filter(
                code__in=[address.code[:n] for n in range(len(self.compound.code), len(address.code))]
            ).order_by("code"),
            "children": address.children.order_by("code"),
            "house": house,
            "residents": house.residents.filter(move_out_date__isnull=True) if house else [],
            "organisations": address.organisations.all(),
            "form": AddressForm(initial={"parent": address}),
        }
        return render(request, "registry/address.html", context)


class DoorPlateView(CompoundView):
    """A door plate as SVG or PNG."""

    permissions = {"GET": RECORD_PERMISSIONS["retrieve"]}

    def get(self, request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
        if fmt not in ("svg", "png"):
            raise Http404
        address = get_object_or_404(Address, pk=pk)
        url = request.build_absolute_uri(self.url("address", pk=address.pk))
        if fmt == "png":
            return HttpResponse(plate_png(address, url, self.compound.name), content_type="image/png")
        return HttpResponse(plate_svg(address, url, self.compound.name), content_type="image/svg+xml")


class DoorPlatePrintView(CompoundView):
    """A print-ready sheet of the plates of an address and every room beneath it."""

    permissions = {"GET": RECORD_PERMISSIONS["retrieve"]}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        address = get_object_or_404(Address, pk=pk)
        nodes = Address.objects.filter(code__startswith=address.code).filter(Q(pk=address.pk) | Q(level="room"))
        plates = [
            plate_svg(n, request.build_absolute_uri(self.url("address", pk=n.pk)), self.compound.name)
            for n in nodes.order_by("code")
        ]
        return render(request, "registry/plates_print.html", {"address": address, "plates": plates})
