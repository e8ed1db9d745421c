"""The files of a case's attachments, served only here: ``mediation.view`` at the compound.

Never from a public ``/media/`` URL. Each answer names the file (``Content-Disposition``:
photos inline, PDFs as a download), forbids type sniffing and caching by shared caches, and
is sandboxed: a file is shown, never run as a page of this site.
"""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest
from django.shortcuts import get_object_or_404

from mediation.attachments import content_type
from mediation.choices import AttachmentKind
from mediation.models import Attachment
from mediation.views import READ, CasePage

__all__ = ["AttachmentFileView", "AttachmentThumbnailView", "served_file"]


def served_file(name: str, *, download_name: str, attachment: bool) -> FileResponse:
    """A stored file, privately (404 when it is gone)."""
    if not name or not default_storage.exists(name):
        raise Http404
    response = FileResponse(
        default_storage.open(name, "rb"),
        content_type=content_type(name),
        as_attachment=attachment,
        filename=download_name,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self'"
    return response


class AttachmentFileView(CasePage):
    """The file as uploaded: a photo shown, a PDF downloaded."""

    permissions = {"GET": READ}

    def get(self, request: HttpRequest, pk: int) -> FileResponse:
        attachment = get_object_or_404(Attachment, pk=pk)
        return served_file(
            attachment.file, download_name=attachment.name, attachment=attachment.kind == AttachmentKind.PDF
        )


class AttachmentThumbnailView(CasePage):
    """A photo's thumbnail (at most 320 px), for the case page."""

    permissions = {"GET": READ}

    def get(self, request: HttpRequest, pk: int) -> FileResponse:
        attachment = get_object_or_404(Attachment, pk=pk)
        if not attachment.thumbnail:
            raise Http404
        return served_file(attachment.thumbnail, download_name=f"thumb-{attachment.pk}.jpg", attachment=False)
