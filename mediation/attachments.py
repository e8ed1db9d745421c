"""Attachments of a case (photos of evidence, signature scans, PDFs): checks, storage and the two actions.

What is accepted, and why each limit is what it is:

- Photos: JPEG or PNG, at most :data:`MAX_BYTES`, at most :data:`MAX_PIXELS`. Pillow reads the
  header (format, size) *before* any pixel is decoded, so a decompression bomb is refused for
  the price of its header; then the image is decoded once, upright (EXIF orientation, phones
  store portraits sideways), to make a JPEG thumbnail no larger than :data:`THUMB_SIDE` px.
  The original bytes are kept as they came: a signed scan is evidence.
- PDFs: the magic bytes ``%PDF-`` and at most :data:`MAX_BYTES`. A PDF is never opened by the
  server; it is stored and served as a download.
- Anything else is refused. The type is decided from the bytes, never from the file name or
  the browser's content type, and the stored name is random: ``mediation/<compound code>/<hex>.<ext>``.

A refusal raises :class:`AttachmentRefusedError` (a ``ValidationError`` on the ``file`` field)
with a stable ``code`` and an HTTP status (413 for too large, 400 otherwise), in the user's
language. Files are served only by a permission-checked view (``mediation.views_files``).

(``access.faces.decode`` applies the same kind of limits to face photos; mediation may not import
``access`` — sibling apps — so the few lines are here rather than shared.)
"""

from __future__ import annotations

import io
import os
import uuid
import warnings
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from district.audit import do_record_change
from district.models import AuditAction
from district.realtime import compound_group, send_event_on_commit
from district.typing import AnyUser
from mediation.actions import current_compound
from mediation.choices import AttachmentKind
from mediation.models import Agreement, Attachment, Case, MediationSession
from tenants.models import Compound

__all__ = [
    "MAX_ATTACHMENTS",
    "MAX_BYTES",
    "MAX_PIXELS",
    "THUMB_SIDE",
    "AttachmentRefusedError",
    "CheckedFile",
    "check_file",
    "content_type",
    "do_add_attachment",
    "do_remove_attachment",
]

MB = 1024 * 1024
# A phone photo is 2–6 MB, a scanned multi-page agreement a few MB; the request body cap
# (REQUEST_BODY_MAX_BYTES, 11 MB) leaves room for one such file and its form.
MAX_BYTES = 10 * MB
# 24 megapixels: a 12 MP phone photo passes with room; decoding one costs ~72 MB of RGB.
MAX_PIXELS = 24_000_000
THUMB_SIDE = 320
IMAGE_FORMATS = {"JPEG": "jpg", "PNG": "png"}
PDF_MAGIC = b"%PDF-"
# Evidence of one dispute, not an archive: beyond this a case is refused more files.
MAX_ATTACHMENTS = 100
NAME_MAX = 128
FOLDER = "mediation"

CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "pdf": "application/pdf"}


class AttachmentRefusedError(ValidationError):
    """An upload we do not keep; ``code`` for machines, the message for people, ``status`` for HTTP."""

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        super().__init__({"file": [ValidationError(message, code=code)]})
        self.refusal_code = code
        self.status = status


@dataclass(frozen=True)
class CheckedFile:
    """An accepted upload: its kind, the extension it is stored under, and a thumbnail (photos)."""

    kind: str
    ext: str
    data: bytes
    thumbnail: bytes | None


def _too_large() -> AttachmentRefusedError:
    return AttachmentRefusedError(
        "too_large", _("The file is larger than %(mb)d MB.") % {"mb": MAX_BYTES // MB}, status=413
    )


def check_size(size: int | None) -> None:
    """Refuse an upload from its declared size, before its bytes are read."""
    if size is not None and size > MAX_BYTES:
        raise _too_large()


def _thumbnail(image: Image.Image) -> bytes:
    copy = image.copy()
    copy.thumbnail((THUMB_SIDE, THUMB_SIDE))
    out = io.BytesIO()
    copy.convert("RGB").save(out, format="JPEG", quality=85)
    return out.getvalue()


def _check_image(data: bytes) -> CheckedFile | None:
    """The photo with its thumbnail; None if the bytes are no image at all (not even a broken one)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))
            ext = IMAGE_FORMATS.get(image.format or "")
            if ext is None:
                raise AttachmentRefusedError("format", _("Only JPEG or PNG photos and PDF documents are accepted."))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise AttachmentRefusedError(
                    "too_many_pixels",
                    _("The photo has more than %(mp)d megapixels.") % {"mp": MAX_PIXELS // 1_000_000},
                )
            image.load()
            image = ImageOps.exif_transpose(image) or image
            return CheckedFile(kind=AttachmentKind.PHOTO, ext=ext, data=data, thumbnail=_thumbnail(image))
    except AttachmentRefusedError:
        raise
    except UnidentifiedImageError:
        return None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise AttachmentRefusedError(
            "too_many_pixels", _("The photo has more than %(mp)d megapixels.") % {"mp": MAX_PIXELS // 1_000_000}
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        # Truncated or damaged data: Pillow raises OSError ("image file is truncated") and friends.
        raise AttachmentRefusedError("corrupt", _("The photo is damaged and cannot be read.")) from None


def check_file(data: bytes) -> CheckedFile:
    """Decide what ``data`` is and whether we keep it (:class:`AttachmentRefusedError` if not)."""
    if not data:
        raise AttachmentRefusedError("empty", _("The file is empty."))
    if len(data) > MAX_BYTES:
        raise _too_large()
    if data.startswith(PDF_MAGIC):
        return CheckedFile(kind=AttachmentKind.PDF, ext="pdf", data=data, thumbnail=None)
    checked = _check_image(data)
    if checked is None:
        raise AttachmentRefusedError("format", _("Only JPEG or PNG photos and PDF documents are accepted."))
    return checked


def content_type(stored_name: str) -> str:
    """The content type a stored file is served with (from the extension we gave it)."""
    return CONTENT_TYPES.get(os.path.splitext(stored_name)[1].lstrip("."), "application/octet-stream")


def display_name(name: str, ext: str) -> str:
    """The name shown for the file: the uploader's base name, bounded, with the extension we decided."""
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    stem = os.path.splitext(base)[0].strip() or _("attachment")
    stem = "".join(ch for ch in stem if ch.isprintable())[: NAME_MAX - len(ext) - 1]
    return f"{stem}.{ext}"


def _store(compound: Compound, data: bytes, ext: str) -> str:
    # Random names: never guessable from the case, the time or the uploader's file name.
    return default_storage.save(f"{FOLDER}/{compound.code}/{uuid.uuid4().hex}.{ext}", ContentFile(data))


def _delete_files(*names: str) -> None:
    for name in names:
        if name:
            default_storage.delete(name)


def _announce(compound: Compound, case: Case, verb: str, attachment_id: int) -> None:
    send_event_on_commit(
        [compound_group("mediation", compound.pk)],
        {"type": f"mediation.attachment.{verb}", "id": attachment_id, "case_id": case.pk},
    )


def do_add_attachment(
    case: Case,
    *,
    name: str,
    data: bytes,
    acting_user: AnyUser,
    session: MediationSession | None = None,
    agreement: Agreement | None = None,
) -> Attachment:
    """Keep a photo (with its thumbnail) or a PDF for a case, or for one of its sessions or agreements.

    The bytes are checked first (:func:`check_file`); a refused file is never stored. The files
    are written before the row; if the row cannot be written they are deleted again.
    """
    compound = current_compound()
    if session is not None and session.case_id != case.pk:
        raise ValidationError({"session": _("This session belongs to another case.")})
    if agreement is not None and agreement.case_id != case.pk:
        raise ValidationError({"agreement": _("This agreement belongs to another case.")})
    checked = check_file(data)
    if Attachment.objects.filter(case=case).count() >= MAX_ATTACHMENTS:
        raise ValidationError({"file": _("A case has at most %(n)d attachments.") % {"n": MAX_ATTACHMENTS}})
    stored = _store(compound, checked.data, checked.ext)
    thumb = _store(compound, checked.thumbnail, "jpg") if checked.thumbnail is not None else ""
    try:
        with transaction.atomic():
            attachment = Attachment(
                case=case,
                session=session,
                agreement=agreement,
                kind=checked.kind,
                name=display_name(name, checked.ext),
                file=stored,
                thumbnail=thumb,
                size=len(checked.data),
                uploaded_by=acting_user if acting_user.is_authenticated else None,
            )
            attachment.full_clean(exclude=["uploaded_by"])
            attachment.save()
            do_record_change(
                acting_user, AuditAction.CREATE, attachment, fields=["kind", "name", "file", "size"], compound=compound
            )
            _announce(compound, case, "created", attachment.pk)
    except Exception:
        _delete_files(stored, thumb)
        raise
    return attachment


def do_remove_attachment(attachment: Attachment, *, acting_user: AnyUser) -> None:
    """Delete an attachment; its files go once the deletion is committed."""
    compound = current_compound()
    case = attachment.case
    with transaction.atomic():
        do_record_change(acting_user, AuditAction.DELETE, attachment, compound=compound)
        pk, files = attachment.pk, (attachment.file, attachment.thumbnail)
        attachment.delete()
        _announce(compound, case, "deleted", pk)
        transaction.on_commit(lambda: _delete_files(*files))
