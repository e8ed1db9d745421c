"""Access staff pages of one compound (under ``/c/<compound>/access/``): devices, consent, faces, cards.

Reading devices needs ``access.view``; adding, editing, disabling, revoking a device and issuing
its credential need ``access.devices``. A person's consent, enrolled photos and cards — reading
them too, as they are biometric data — need ``access.enrol``. The middleware has chosen the
compound's schema and checked the user's scope; writes go through ``access.actions``.

A device's credential is shown once, in the answer to the POST that issued it (never stored,
never redirected through a session), with ``Cache-Control: no-store``. Face thumbnails and
consent scans are served by permission-checked views, never from a public ``/media/`` URL.
"""

from __future__ import annotations

import mimetypes
from typing import Any

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
from django.utils.translation import gettext_lazy, pgettext_lazy

from access import actions
from access.choices import DeviceStatus
from access.forms import CardForm, ConsentForm, DeviceForm, DeviceStatusForm, FaceForm, read_upload
from access.models import BiometricConsent, Card, Device, FaceTemplate
from district.audit import do_record_pii_view
from district.permissions import ENROL_FACES, MANAGE_DEVICES, VIEW_ACCESS, need
from events.models import DeviceIndex
from registry.models import Person
from registry.views import CompoundView

__all__ = [
    "CardAddView",
    "CardRemoveView",
    "ConsentDocumentView",
    "ConsentRecordView",
    "ConsentWithdrawView",
    "DeviceCreateView",
    "DeviceDetailView",
    "DeviceEditView",
    "DeviceListView",
    "DeviceRevokeView",
    "DeviceRotateView",
    "DeviceStateView",
    "DeviceStatusView",
    "FaceEnrolView",
    "FacePhotoView",
    "FaceRemoveView",
    "PersonAccessView",
]

READ = need(VIEW_ACCESS)
DEVICES = need(MANAGE_DEVICES)
ENROL = need(ENROL_FACES)
PAGE_SIZE = 50
# How often the device list asks for its devices' online state (the fragment polled by htmx).
POLL_SECONDS = 15
HEADER_SCHEME = "Device"

# "Disabled" alone is already a person's tag (残疾人) in the catalogue: device states carry a context.
STATUS_LABELS = {
    DeviceStatus.ACTIVE: pgettext_lazy("device status", "Active"),
    DeviceStatus.DISABLED: pgettext_lazy("device status", "Disabled"),
    DeviceStatus.REVOKED: pgettext_lazy("device status", "Revoked"),
}
ONLINE, OFFLINE = gettext_lazy("Online"), gettext_lazy("Offline")
NO_STORE = "no-store, private"


class AccessView(CompoundView):
    """Base of the access staff pages: URLs of this app for the current compound."""

    def access_url(self, name: str, **kwargs: Any) -> str:
        return reverse(f"access:{name}", kwargs={"compound": self.compound.code, **kwargs})


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = NO_STORE
    return response


def _form_errors(form: Any, exc: ValidationError) -> None:
    """A model or action ValidationError onto the form: by field where the form has it, else the form's."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


# --- Devices --------------------------------------------------------------------------------------


def device_state(device: Device, index: DeviceIndex | None, now: Any) -> dict[str, Any]:
    """What a page shows of a device's state: status label, online, last seen."""
    return {
        "device": device,
        "status_label": STATUS_LABELS.get(DeviceStatus(device.status), device.status),
        "online": index is not None and index.is_online(now),
        "last_seen_at": index.last_seen_at if index is not None else None,
        "index": index,
    }


class DeviceListView(AccessView):
    """The compound's devices with their live online state (the state fragment refreshes itself)."""

    permissions = {"GET": READ}
    template_name = "access/staff_devices.html"

    def context(self, request: HttpRequest) -> dict[str, Any]:
        page = Paginator(Device.objects.select_related("address").order_by("name", "id"), PAGE_SIZE).get_page(
            request.GET.get("page")
        )
        devices = list(page)
        indexes = {i.uid: i for i in DeviceIndex.objects.filter(uid__in=[d.uid for d in devices])}
        now = timezone.now()
        rows = [device_state(d, indexes.get(d.uid), now) for d in devices]
        cards = [
            (
                self.access_url("device", pk=row["device"].pk),
                row["device"].name,
                [
                    (_("state"), ONLINE if row["online"] else OFFLINE, False),
                    (_("status"), row["status_label"], False),
                    (_("device type"), row["device"].get_kind_display(), False),
                    (_("place"), self.place(row["device"]), False),
                ],
            )
            for row in rows
        ]
        online = sum(1 for row in rows if row["online"])
        state_url = self.access_url("device_state")
        if page.number > 1:
            state_url += f"?page={page.number}"
        return {
            "page": page,
            "rows": rows,
            "cards": cards,
            "online_count": online,
            "poll_seconds": POLL_SECONDS,
            "state_url": state_url,
            "checked_at": now,
        }

    @staticmethod
    def place(device: Device) -> str:
        parts = [device.gate, device.address.full_name if device.address_id and device.address else ""]
        return " · ".join(p for p in parts if p) or "—"

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, self.template_name, self.context(request))


class DeviceStateView(DeviceListView):
    """The device list's state fragment, polled by the list page every 15 seconds."""

    template_name = "access/staff_devices_state.html"


class DeviceCreateView(AccessView):
    """Add a device; the answer shows its credential once."""

    permissions = {"GET": DEVICES, "POST": DEVICES}

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "access/staff_device_form.html", {"form": DeviceForm()})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = DeviceForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                device, secret = actions.do_create_device(
                    self.compound,
                    name=data["name"],
                    kind=data["kind"],
                    direction=data["direction"],
                    gate=data["gate"],
                    address=data["address"],
                    acting_user=request.user,
                )
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                return credential_page(request, device, secret, created=True)
        return render(request, "access/staff_device_form.html", {"form": form}, status=422)


def credential_page(request: HttpRequest, device: Device, secret: str, *, created: bool) -> HttpResponse:
    """The one page that ever shows a device's secret (not cached, not stored)."""
    token = f"{device.uid}.{secret}"
    context = {
        "device": device,
        "secret": secret,
        "token": token,
        "header": f"Authorization: {HEADER_SCHEME} {token}",
        "created": created,
    }
    return _no_store(render(request, "access/staff_device_credential.html", context))


class DeviceDetailView(AccessView):
    """One device: its place, status, online state, and what may be done with it."""

    permissions = {"GET": READ}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        device = get_object_or_404(Device.objects.select_related("address"), pk=pk)
        index = DeviceIndex.objects.filter(uid=device.uid).first()
        context = device_state(device, index, timezone.now())
        context["place"] = DeviceListView.place(device)
        context["revoked_at"] = index.revoked_at if index is not None else None
        return render(request, "access/staff_device_detail.html", context)


class DeviceEditView(AccessView):
    """Change a device's name, type, direction or place."""

    permissions = {"GET": DEVICES, "POST": DEVICES}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        device = get_object_or_404(Device, pk=pk)
        return render(request, "access/staff_device_form.html", {"form": DeviceForm(instance=device), "obj": device})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        device = get_object_or_404(Device, pk=pk)
        form = DeviceForm(request.POST, instance=device)
        if form.is_valid():
            try:
                actions.do_update_device(form.save(commit=False), acting_user=request.user)
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, _("Saved."))
                return redirect(self.access_url("device", pk=pk))
        return render(request, "access/staff_device_form.html", {"form": form, "obj": device}, status=422)


class DeviceStatusView(AccessView):
    """Disable or enable a device (POST ``status=disabled|active``)."""

    permissions = {"POST": DEVICES}

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        device = get_object_or_404(Device, pk=pk)
        form = DeviceStatusForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Choose whether to enable or disable the device."))
            return redirect(self.access_url("device", pk=pk))
        try:
            actions.do_set_device_status(device, form.cleaned_data["status"], acting_user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            if device.status == DeviceStatus.DISABLED:
                messages.success(request, _("The device is disabled: its credential is refused until enabled."))
            else:
                messages.success(request, _("The device is enabled."))
        return redirect(self.access_url("device", pk=pk))


class DeviceRevokeView(AccessView):
    """Revoke a device for good, after a confirmation page."""

    permissions = {"GET": DEVICES, "POST": DEVICES}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        device = get_object_or_404(Device, pk=pk)
        return render(request, "access/staff_device_confirm.html", {"device": device, "what": "revoke"})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        device = get_object_or_404(Device, pk=pk)
        actions.do_revoke_device(device, acting_user=request.user)
        messages.success(request, _("The device is revoked: its credential is refused from now on."))
        return redirect(self.access_url("device", pk=pk))


class DeviceRotateView(AccessView):
    """Issue a new secret for a device (the old one stops working), after a confirmation page."""

    permissions = {"GET": DEVICES, "POST": DEVICES}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        device = get_object_or_404(Device, pk=pk)
        if device.status == DeviceStatus.REVOKED:
            raise Http404
        return render(request, "access/staff_device_confirm.html", {"device": device, "what": "rotate"})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        device = get_object_or_404(Device, pk=pk)
        try:
            secret = actions.do_rotate_device_secret(device, acting_user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect(self.access_url("device", pk=pk))
        return credential_page(request, device, secret, created=False)


# --- A person's consent, faces and cards ---------------------------------------------------------------


class PersonPage(AccessView):
    """Base of a person's "face & card" page and of the forms posted from it."""

    def person(self, pk: int) -> Person:
        return get_object_or_404(Person, pk=pk)

    @transaction.atomic  # the audit row of the photos shown commits with the read, or not at all
    def page(self, request: HttpRequest, person: Person, status: int = 200, **forms: Any) -> HttpResponse:
        consent = actions.active_consent(person)
        faces = list(FaceTemplate.objects.filter(person=person).order_by("id"))
        # Face photos are biometric data: showing them is recorded like an unmasked view.
        do_record_pii_view(request.user, self.compound, faces, request=request)
        context = {
            "person": person,
            "consent": consent,
            "past_consents": BiometricConsent.objects.filter(person=person, withdrawn_at__isnull=False)
            .select_related("recorded_by", "withdrawn_by")
            .order_by("-withdrawn_at")[:10],
            "faces": faces,
            "max_faces": actions.MAX_FACES_PER_PERSON,
            "cards": Card.objects.filter(person=person).order_by("number"),
            "consent_form": forms.get("consent_form") or ConsentForm(initial={"given_on": timezone.localdate()}),
            "face_form": forms.get("face_form") or FaceForm(),
            "card_form": forms.get("card_form") or CardForm(),
        }
        return render(request, "access/staff_person.html", context, status=status)


class PersonAccessView(PersonPage):
    """A person's "face & card" page: consent, enrolled photos, IC cards (``access.enrol``)."""

    permissions = {"GET": ENROL}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self.page(request, self.person(pk))


class ConsentRecordView(PersonPage):
    """Record the person's consent (method, date, optional scan of the signed form)."""

    permissions = {"POST": ENROL}

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        person = self.person(pk)
        form = ConsentForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                actions.do_record_consent(
                    person,
                    method=form.cleaned_data["method"],
                    given_at=form.given_at(),
                    document_bytes=read_upload(form.cleaned_data.get("document")),
                    acting_user=request.user,
                )
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, _("Consent recorded. Photos of the face may now be enrolled."))
                return redirect(self.access_url("person", pk=pk))
        return self.page(request, person, status=422, consent_form=form)


class ConsentWithdrawView(PersonPage):
    """Withdraw the person's consent, after a confirmation page: their enrolled photos are deleted."""

    permissions = {"GET": ENROL, "POST": ENROL}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        person = self.person(pk)
        consent = actions.active_consent(person)
        if consent is None:
            raise Http404
        context = {"person": person, "consent": consent, "faces": FaceTemplate.objects.filter(person=person).count()}
        return render(request, "access/staff_consent_withdraw.html", context)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        person = self.person(pk)
        consent = actions.active_consent(person)
        if consent is None:
            raise Http404
        try:
            actions.do_withdraw_consent(consent, acting_user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Consent withdrawn; the person's enrolled photos are deleted."))
        return redirect(self.access_url("person", pk=pk))


def stored_file(name: str, *, attachment: bool = False) -> HttpResponse:
    """A file of the access folder, privately (404 when it is gone).

    Read whole: thumbnails are a few kilobytes and scans at most 5 MB.
    """
    if not name or not default_storage.exists(name):
        raise Http404
    with default_storage.open(name, "rb") as stored:
        content = stored.read()
    response = HttpResponse(content, content_type=mimetypes.guess_type(name)[0] or "application/octet-stream")
    if attachment:
        response["Content-Disposition"] = f'attachment; filename="{name.rsplit("/", 1)[-1]}"'
    response["Cache-Control"] = NO_STORE
    return response


class ConsentDocumentView(AccessView):
    """The scan of a signed consent form (PDFs are downloaded, images shown)."""

    permissions = {"GET": ENROL}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        consent = get_object_or_404(BiometricConsent, pk=pk)
        return stored_file(consent.document, attachment=consent.document.endswith(".pdf"))


class FaceEnrolView(PersonPage):
    """Enrol one photo of the person's face (camera on a phone); refused without consent."""

    permissions = {"POST": ENROL}

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        person = self.person(pk)
        form = FaceForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                actions.do_enrol_face(person, read_upload(form.cleaned_data["image"]) or b"", acting_user=request.user)
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, _("Photo enrolled."))
                return redirect(self.access_url("person", pk=pk))
        return self.page(request, person, status=422, face_form=form)


class FacePhotoView(AccessView):
    """The thumbnail of an enrolled face."""

    permissions = {"GET": ENROL}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        face = get_object_or_404(FaceTemplate, pk=pk)
        return stored_file(face.photo)


class FaceRemoveView(AccessView):
    """Remove one enrolled photo and its encoding."""

    permissions = {"POST": ENROL}

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        face = get_object_or_404(FaceTemplate, pk=pk)
        person_id = face.person_id
        actions.do_remove_face(face, acting_user=request.user)
        messages.success(request, _("Photo removed."))
        return redirect(self.access_url("person", pk=person_id))


class CardAddView(PersonPage):
    """Add an IC card for the person."""

    permissions = {"POST": ENROL}

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        person = self.person(pk)
        form = CardForm(request.POST)
        if form.is_valid():
            card = Card(person=person, number=form.cleaned_data["number"], valid_until=form.valid_until())
            try:
                actions.do_save_card(card, acting_user=request.user)
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, _("Card added."))
                return redirect(self.access_url("person", pk=pk))
        return self.page(request, person, status=422, card_form=form)


class CardRemoveView(AccessView):
    """Remove an IC card."""

    permissions = {"POST": ENROL}

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        card = get_object_or_404(Card, pk=pk)
        person_id = card.person_id
        actions.do_delete_card(card, acting_user=request.user)
        messages.success(request, _("Card removed."))
        return redirect(self.access_url("person", pk=person_id))
