"""The city watch-list's pages (under ``/watchlist/``): list, entry, form, photos, end.

Public pages (no compound in the URL): each declares the capability it needs anywhere in the
user's scope, and then shows only the cities the user's roles lie in (``access.watchlist``):
an entry of another city answers 404, like one that does not exist. Keepers
(``watchlist.manage``) see the buttons that change an entry; readers see the entry.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from access.faces import ImageRefusedError
from access.watchlist import (
    WatchEntryFilterSet,
    access_watch_entry_by_id,
    access_watch_face_by_id,
    city_ids,
    do_add_watch_face,
    do_end_watch_entry,
    do_record_watch_pii_view,
    do_record_watch_search,
    do_remove_watch_face,
    do_save_watch_entry,
    entry_status,
    shown_id_number,
    watch_cities,
    watch_entries_visible_to,
)
from district.form_fields import BootstrapMixin
from district.permissions import MANAGE_WATCHLIST, VIEW_PII, VIEW_WATCHLIST, need
from district.typing import AnyUser
from district.views import DeclaredView
from events.choices import WATCHED_PERSON_KINDS, WatchKind
from events.models import WatchlistEntry
from registry.masking import mask_id_number

PAGE_SIZE = 25
READ = need(VIEW_WATCHLIST)
KEEP = need(MANAGE_WATCHLIST)


def entry_title(entry: WatchlistEntry) -> str:
    """What an entry is called in lists: the person's name, else the plate, else its number."""
    return entry.name or entry.plate or f"#{entry.pk}"


class WatchEntryForm(BootstrapMixin, forms.ModelForm):
    """A watch-list entry as its keeper writes it; the action normalises and checks the numbers.

    The city is one of those whose list the user keeps, chosen once: an entry never moves.
    For a keeper who does not see the city's ID numbers whole, the input shows the recorded
    number masked, and sending the mask back keeps it.
    """

    class Meta:
        model = WatchlistEntry
        fields = ["city", "kind", "name", "id_number", "plate", "reason", "expires_at", "active"]
        widgets = {
            "reason": forms.Textarea(attrs={"rows": 3}),
            "expires_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        }
        labels = {"name": gettext_lazy("full name")}
        help_texts = {
            "id_number": gettext_lazy("18-character resident ID number; for wanted and key persons."),
            "plate": gettext_lazy("e.g. 鲁A12345; required for plate entries."),
            "expires_at": gettext_lazy("Optional: the entry stops matching after this time."),
        }

    def __init__(self, user: AnyUser, *args: Any, mask_id: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        city = self.fields["city"]
        assert isinstance(city, forms.ModelChoiceField)  # a foreign key's form field
        city.queryset = watch_cities(user, MANAGE_WATCHLIST).order_by("code")
        city.empty_label = None
        if self.instance.pk is not None:
            city.disabled = True
        else:
            del self.fields["active"]  # a new entry is active
        self._recorded_id = ""
        if mask_id and self.instance.pk is not None and self.instance.id_number:
            self._recorded_id = self.instance.id_number
            self.initial["id_number"] = mask_id_number(self._recorded_id)
            self.fields["id_number"].help_text = _(
                "Shown masked. Leave it as it is to keep the recorded value, or type a new one to replace it."
            )

    def clean_id_number(self) -> str:
        value: str = self.cleaned_data.get("id_number") or ""
        if self._recorded_id and value == mask_id_number(self._recorded_id):
            return self._recorded_id
        return value


class FaceUploadForm(BootstrapMixin, forms.Form):
    """One portrait of a watched person (taken with the phone's camera or chosen from its files)."""

    photo = forms.FileField(
        label=gettext_lazy("Photo"),
        widget=forms.ClearableFileInput(attrs={"accept": "image/*"}),
        help_text=gettext_lazy("A JPEG or PNG showing exactly one face, looking at the camera."),
    )

    def clean_photo(self) -> Any:
        upload = self.cleaned_data["photo"]
        if upload.size > settings.ACCESS_IMAGE_MAX_BYTES:
            # Not even read: the decoder's own limit would refuse it after reading it whole.
            raise forms.ValidationError(
                _("The photo is larger than %(mb)d MB.") % {"mb": settings.ACCESS_IMAGE_MAX_BYTES // (1024 * 1024)},
                code="too_large",
            )
        return upload


def add_errors(form: forms.BaseForm, exc: ValidationError) -> None:
    """An action's ValidationError onto the form, field by field where the form has the field."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for name, errors in exc.message_dict.items():
        form.add_error(name if name in form.fields else None, errors)


class WatchListView(DeclaredView):
    """The watch-list of the user's city (or cities): filter by kind and state, search; htmx swaps the table."""

    permissions = {"GET": READ}

    @transaction.atomic  # the audit rows commit with the reads they record, or not at all
    def get(self, request: HttpRequest) -> HttpResponse:
        entries = watch_entries_visible_to(request.user).annotate(face_count=Count("faces"))
        filterset = WatchEntryFilterSet(request.GET, queryset=entries, request=request)
        found = filterset.qs if filterset.is_valid() else entries.none()
        page = Paginator(found.order_by("-created_at", "-pk"), PAGE_SIZE).get_page(request.GET.get("page"))
        shown = list(page)
        pii = city_ids(request.user, VIEW_PII)
        do_record_watch_pii_view(request.user, shown, pii, request=request)
        q = request.GET.get("q", "")
        if filterset.is_valid():
            do_record_watch_search(request.user, q, found, request=request)
        headers = [_("Name or plate"), _("kind"), _("ID number"), _("plate number"), _("status"), _("Photos")]
        rows = []
        for entry in shown:
            cells = [
                entry_title(entry),
                entry.get_kind_display(),
                shown_id_number(entry, pii),
                entry.plate,
                entry_status(entry)[1],
                str(getattr(entry, "face_count", 0)) if entry.kind in WATCHED_PERSON_KINDS else "",
            ]
            rows.append((entry, cells))
        context = {
            "headers": headers,
            "rows": rows,
            "cards": [
                (
                    reverse("watchlist:entry", args=[entry.pk]),
                    cells[0],
                    [(h, v, False) for h, v in zip(headers[1:], cells[1:], strict=True) if v],
                )
                for entry, cells in rows
            ],
            "page": page,
            "q": q,
            "kind": request.GET.get("kind", ""),
            "active": request.GET.get("active", ""),
            "kinds": WatchKind.choices,
            "filter_errors": filterset.errors,
            "may_keep": bool(city_ids(request.user, MANAGE_WATCHLIST)),
        }
        if request.headers.get("HX-Request"):
            return render(request, "access/watchlist_table.html", context)
        return render(request, "access/watchlist_list.html", context)


class WatchEntryView(DeclaredView):
    """One entry: its fields (the ID number whole only with ``pii.view``, audited) and its photos."""

    permissions = {"GET": READ}

    @transaction.atomic
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        entry = access_watch_entry_by_id(request.user, pk)
        pii = city_ids(request.user, VIEW_PII)
        do_record_watch_pii_view(request.user, [entry], pii, request=request)
        status, status_label = entry_status(entry)
        fields = [
            (_("city"), entry.city.name),
            (_("kind"), entry.get_kind_display()),
            (_("full name"), entry.name),
            (_("ID number"), shown_id_number(entry, pii)),
            (_("plate number"), entry.plate),
            (_("reason"), entry.reason),
            (_("status"), status_label),
            (_("expires"), entry.expires_at),
            (_("created by"), entry.created_by.get_username() if entry.created_by else ""),
            (_("created at"), entry.created_at),
        ]
        context = {
            "entry": entry,
            "title": entry_title(entry),
            "fields": fields,
            "status": status,
            "faces": list(entry.faces.order_by("pk")),
            "has_faces": entry.kind in WATCHED_PERSON_KINDS,
            "may_keep": entry.city_id in city_ids(request.user, MANAGE_WATCHLIST),
        }
        return render(request, "access/watchlist_detail.html", context)


class WatchEntryCreateView(DeclaredView):
    """A new entry in a city whose list the user keeps."""

    permissions = {"GET": KEEP, "POST": KEEP}

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.show(request, WatchEntryForm(request.user))

    def post(self, request: HttpRequest) -> HttpResponse:
        form = WatchEntryForm(request.user, request.POST)
        if form.is_valid():
            try:
                entry = do_save_watch_entry(form.save(commit=False), acting_user=request.user)
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(request, _("Added to the watch-list."))
                return redirect("watchlist:entry", pk=entry.pk)
        return self.show(request, form, status=422)

    def show(self, request: HttpRequest, form: WatchEntryForm, *, status: int = 200) -> HttpResponse:
        return render(request, "access/watchlist_form.html", {"form": form, "entry": None}, status=status)


class WatchEntryEditView(DeclaredView):
    """Change an entry of a city whose list the user keeps (its city stays)."""

    permissions = {"GET": KEEP, "POST": KEEP}

    def form(self, request: HttpRequest, entry: WatchlistEntry, data: Any = None) -> WatchEntryForm:
        masked = entry.city_id not in city_ids(request.user, VIEW_PII)
        return WatchEntryForm(request.user, data, instance=entry, mask_id=masked)

    @transaction.atomic
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        entry = access_watch_entry_by_id(request.user, pk, manage=True)
        # The form shows the recorded number in its input: an unmasked view too.
        do_record_watch_pii_view(request.user, [entry], city_ids(request.user, VIEW_PII), request=request)
        return render(request, "access/watchlist_form.html", {"form": self.form(request, entry), "entry": entry})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        entry = access_watch_entry_by_id(request.user, pk, manage=True)
        form = self.form(request, entry, request.POST)
        if form.is_valid():
            try:
                do_save_watch_entry(form.save(commit=False), acting_user=request.user)
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(request, _("Saved."))
                return redirect("watchlist:entry", pk=entry.pk)
        return render(request, "access/watchlist_form.html", {"form": form, "entry": entry}, status=422)


class WatchFaceAddView(DeclaredView):
    """Upload a portrait (on a phone, straight from the camera) to a watched person."""

    permissions = {"GET": KEEP, "POST": KEEP}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        entry = access_watch_entry_by_id(request.user, pk, manage=True)
        return self.show(request, entry, FaceUploadForm())

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        entry = access_watch_entry_by_id(request.user, pk, manage=True)
        form = FaceUploadForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.show(request, entry, form, status=413 if form.has_error("photo", "too_large") else 422)
        try:
            do_add_watch_face(entry, form.cleaned_data["photo"].read(), acting_user=request.user)
        except ImageRefusedError as refused:
            form.add_error("photo", str(refused))
            return self.show(request, entry, form, status=413 if refused.code == "too_large" else 422)
        except ValidationError as exc:
            add_errors(form, exc)
            return self.show(request, entry, form, status=422)
        messages.success(request, _("Photo added."))
        return redirect("watchlist:entry", pk=entry.pk)

    def show(
        self, request: HttpRequest, entry: WatchlistEntry, form: FaceUploadForm, *, status: int = 200
    ) -> HttpResponse:
        context = {"entry": entry, "title": entry_title(entry), "form": form}
        return render(request, "access/watchlist_face_form.html", context, status=status)


class WatchFaceRemoveView(DeclaredView):
    """Remove one portrait (POST only): its encoding stops matching at once."""

    permissions = {"POST": KEEP}

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        face = access_watch_face_by_id(request.user, pk, manage=True)
        entry_id = face.entry_id
        do_remove_watch_face(face, acting_user=request.user)
        messages.success(request, _("Photo removed."))
        return redirect("watchlist:entry", pk=entry_id)


class WatchFacePhotoView(DeclaredView):
    """A portrait's thumbnail, for those who read its city's list (never a public media URL)."""

    permissions = {"GET": READ}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        face = access_watch_face_by_id(request.user, pk)
        if not face.photo or not default_storage.exists(face.photo):
            raise Http404("No such photo")
        # A thumbnail of a few kilobytes (access.faces.thumbnail_jpeg): read whole, not streamed.
        with default_storage.open(face.photo, "rb") as stored:
            response = HttpResponse(stored.read(), content_type="image/jpeg")
        response["Cache-Control"] = "private, max-age=3600"
        return response


class WatchEntryEndView(DeclaredView):
    """End an entry, after a confirmation page: it stops matching at every gate."""

    permissions = {"GET": KEEP, "POST": KEEP}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        entry = access_watch_entry_by_id(request.user, pk, manage=True)
        return render(request, "access/watchlist_end.html", {"entry": entry, "title": entry_title(entry)})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        entry = access_watch_entry_by_id(request.user, pk, manage=True)
        do_end_watch_entry(entry, acting_user=request.user)
        messages.success(request, _("The entry has ended; it no longer matches at the gates."))
        return redirect("watchlist:entry", pk=entry.pk)
