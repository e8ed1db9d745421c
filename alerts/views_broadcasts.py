"""Joint-defence broadcasts (群防群治, under ``/alerts/broadcasts/``): send, receive, read.

Holders of ``alerts.broadcast`` send a message (and a photo) to a street or compound they
cover; the people on patrol there receive a ``broadcast.sent`` event on the live endpoint and
fetch the message itself from :class:`BroadcastView`, which checks that it was sent to them.
Photos are served by :class:`BroadcastPhotoView` under the same check, never from a media URL.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from access.faces import ImageRefusedError
from alerts.actions import do_send_broadcast
from alerts.forms import BroadcastForm
from alerts.models import Broadcast
from alerts.photos import discard_broadcast_photo, store_broadcast_photo
from alerts.queries import access_broadcast_by_id, visible_broadcasts
from district.permissions import SEND_BROADCASTS, VIEW_ALERTS, has_capability, need
from district.views import DeclaredView

READ = need(VIEW_ALERTS)
SEND = need(SEND_BROADCASTS)
PAGE_SIZE = 20


def broadcast_destination(broadcast: Broadcast) -> str:
    if broadcast.compound is not None:
        return broadcast.compound.name
    return broadcast.area.name if broadcast.area is not None else ""


class BroadcastListView(DeclaredView):
    """Broadcasts to the user's compounds and streets (and those they sent), newest first; live."""

    permissions = {"GET": READ}

    def get(self, request: HttpRequest) -> HttpResponse:
        page = Paginator(visible_broadcasts(request.user).order_by("-sent_at", "-pk"), PAGE_SIZE).get_page(
            request.GET.get("page")
        )
        context = {
            "page": page,
            "items": [(b, broadcast_destination(b)) for b in page],
            "may_send": has_capability(request.user, SEND_BROADCASTS),
        }
        return render(request, "alerts/broadcasts.html", context)


class BroadcastView(DeclaredView):
    """One broadcast; with ``HX-Request`` (or ``?fragment=1``) only its card, for the live inbox."""

    permissions = {"GET": READ}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        broadcast = access_broadcast_by_id(request.user, pk)
        context = {"broadcast": broadcast, "destination": broadcast_destination(broadcast)}
        if request.headers.get("HX-Request") or request.GET.get("fragment") == "1":
            return render(request, "alerts/broadcast_card.html", context)
        return render(request, "alerts/broadcast.html", context)


class BroadcastPhotoView(DeclaredView):
    """A broadcast's photo, for those who receive the broadcast."""

    permissions = {"GET": READ}

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        broadcast = access_broadcast_by_id(request.user, pk)
        if not broadcast.photo or not default_storage.exists(broadcast.photo):
            raise Http404("No photo")
        # Stored re-encoded and at most 1600 px (alerts.photos): read whole (and closed), not streamed.
        with default_storage.open(broadcast.photo, "rb") as stored:
            response = HttpResponse(stored.read(), content_type="image/jpeg")
        response["Cache-Control"] = "private, max-age=3600"
        return response


class BroadcastCreateView(DeclaredView):
    """一呼百应: write a message (and attach a photo) to a street or compound the user covers."""

    permissions = {"GET": SEND, "POST": SEND}

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.show(request, BroadcastForm(request.user))

    def post(self, request: HttpRequest) -> HttpResponse:
        form = BroadcastForm(request.user, request.POST, request.FILES)
        if not form.is_valid():
            return self.show(request, form, status=413 if form.has_error("photo", "too_large") else 422)
        photo = ""
        upload = form.cleaned_data.get("photo")
        if upload:
            try:
                photo = store_broadcast_photo(upload.read())
            except ImageRefusedError as refused:
                form.add_error("photo", str(refused))
                return self.show(request, form, status=413 if refused.code == "too_large" else 422)
        try:
            broadcast = do_send_broadcast(
                acting_user=request.user, text=form.cleaned_data["text"], photo=photo, **form.destination()
            )
        except ValidationError as exc:
            discard_broadcast_photo(photo)
            form.add_error(None, exc.messages)
            return self.show(request, form, status=422)
        messages.success(request, _("Broadcast sent."))
        return redirect("alerts:broadcast", pk=broadcast.pk)

    def show(self, request: HttpRequest, form: BroadcastForm, *, status: int = 200) -> HttpResponse:
        return render(request, "alerts/broadcast_form.html", {"form": form}, status=status)
