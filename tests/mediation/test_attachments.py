"""Attachments: what is kept (photos with a thumbnail, PDFs), what is refused and how, how files are served."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django_tenants.utils import tenant_context
from PIL import Image

from district.models import AuditEntry
from mediation.actions import do_record_agreement, do_save_session
from mediation.attachments import (
    MAX_BYTES,
    THUMB_SIDE,
    AttachmentRefusedError,
    check_file,
    do_add_attachment,
    do_remove_attachment,
)
from mediation.models import Attachment, MediationSession
from tests.conftest import CODE_A, CODE_B
from tests.factories import RoleFactory
from tests.mediation.conftest import REGISTERED_AT

FACES = Path(__file__).resolve().parents[2].parent / "shared" / "faces"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def image_bytes(size: tuple[int, int] = (800, 600), fmt: str = "PNG", mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color=128 if mode == "L" else (200, 120, 40)).save(out, format=fmt)
    return out.getvalue()


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    """Stored files go to a temporary folder (default_storage follows MEDIA_ROOT)."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


# --- Checking the bytes ------------------------------------------------------------------------------


def test_a_png_is_kept_with_a_thumbnail_of_at_most_320_px() -> None:
    checked = check_file(image_bytes((1000, 800)))
    assert (checked.kind, checked.ext) == ("photo", "png")
    thumb = Image.open(io.BytesIO(checked.thumbnail or b""))
    assert thumb.format == "JPEG" and max(thumb.size) == THUMB_SIDE and thumb.size == (320, 256)


def test_a_small_photo_keeps_its_size_in_the_thumbnail() -> None:
    thumb = Image.open(io.BytesIO(check_file(image_bytes((100, 50), "JPEG")).thumbnail or b""))
    assert thumb.size == (100, 50)


@pytest.mark.skipif(not (FACES / "enroll" / "obama.jpg").is_file(), reason="../shared/faces is not beside the project")
def test_a_real_phone_photo() -> None:
    checked = check_file((FACES / "enroll" / "obama.jpg").read_bytes())
    assert checked.kind == "photo" and checked.ext == "jpg"
    assert max(Image.open(io.BytesIO(checked.thumbnail or b"")).size) <= THUMB_SIDE


def test_a_pdf_is_kept_as_a_file() -> None:
    checked = check_file(PDF)
    assert (checked.kind, checked.ext, checked.thumbnail) == ("pdf", "pdf", None)


@pytest.mark.parametrize(
    ("data", "code", "status"),
    [
        (b"", "empty", 400),
        (b"just some text, not a photo", "format", 400),
        (b"<html><script>alert(1)</script></html>", "format", 400),
        (image_bytes((10, 10), "GIF", "L"), "format", 400),
        (image_bytes((10, 10), "BMP"), "format", 400),
        (image_bytes()[:200], "corrupt", 400),  # a PNG cut short
        (image_bytes((6000, 5000), "PNG", "L"), "too_many_pixels", 400),  # 30 MP, a few KB
        (PDF + b"0" * MAX_BYTES, "too_large", 413),
    ],
    ids=["empty", "text", "html", "gif", "bmp", "truncated-png", "pixel-bomb", "oversize"],
)
def test_refused(data: bytes, code: str, status: int) -> None:
    with pytest.raises(AttachmentRefusedError) as refused:
        check_file(data)
    assert (refused.value.refusal_code, refused.value.status) == (code, status)
    assert refused.value.message_dict["file"]  # a sentence for the form's file field


def test_a_file_named_like_a_photo_is_judged_by_its_bytes() -> None:
    with pytest.raises(AttachmentRefusedError):
        check_file(b"MZ\x90\x00 an executable called photo.jpg")


# --- The actions --------------------------------------------------------------------------------------


def test_add_and_remove(in_a: Any, officer: Any, make_case: Any, committing: Any, media: Path) -> None:
    case = make_case()
    with committing() as sent:
        attachment = do_add_attachment(case, name="C:\\scans\\现场照片.png", data=image_bytes(), acting_user=officer)
    assert attachment.kind == "photo" and attachment.name == "现场照片.png" and attachment.size > 0
    assert attachment.file.startswith(f"mediation/{CODE_A}/") and attachment.file.endswith(".png")
    assert attachment.thumbnail.startswith(f"mediation/{CODE_A}/") and attachment.thumbnail.endswith(".jpg")
    assert default_storage.exists(attachment.file) and default_storage.exists(attachment.thumbnail)
    assert [p["type"] for _g, p in sent] == ["mediation.attachment.created"]
    row = AuditEntry.objects.get(object_type="mediation.attachment", action="create")
    assert row.detail["fields"] == ["file", "kind", "name", "size"]
    files = (attachment.file, attachment.thumbnail)
    with committing() as sent:
        do_remove_attachment(attachment, acting_user=officer)
    assert not Attachment.objects.exists()
    assert not any(default_storage.exists(name) for name in files)
    assert [p["type"] for _g, p in sent] == ["mediation.attachment.deleted"]


def test_a_refused_file_is_never_stored(in_a: Any, officer: Any, make_case: Any, media: Path) -> None:
    case = make_case()
    with pytest.raises(AttachmentRefusedError):
        do_add_attachment(case, name="x.png", data=image_bytes()[:100], acting_user=officer)
    assert not Attachment.objects.exists()
    assert not any(media.rglob("*.*"))


def test_a_session_or_agreement_of_another_case_is_refused(in_a: Any, officer: Any, make_case: Any) -> None:
    case, other = make_case(), make_case()
    session = do_save_session(
        MediationSession(case=other, scheduled_at=REGISTERED_AT, place="调解室"), acting_user=officer
    )
    with pytest.raises(Exception, match="another case"):
        do_add_attachment(case, name="a.pdf", data=PDF, session=session, acting_user=officer)


def test_a_signature_scan_of_an_agreement(in_a: Any, officer: Any, make_case: Any) -> None:
    import datetime

    from mediation.models import Case

    case = make_case()
    Case.objects.filter(pk=case.pk).update(status="mediating")
    agreement = do_record_agreement(case, terms="赔偿", signed_on=datetime.date(2026, 3, 9), acting_user=officer)
    attachment = do_add_attachment(case, name="签字.pdf", data=PDF, agreement=agreement, acting_user=officer)
    assert attachment.agreement == agreement and attachment.kind == "pdf" and not attachment.thumbnail


# --- Through the page and the API ----------------------------------------------------------------------


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_page_upload_and_refusals(in_a: Any, officer: Any, make_case: Any) -> None:
    case = make_case()
    client = signed_in(officer)
    url = reverse("mediation:attachment_add", kwargs={"compound": CODE_A, "pk": case.pk})
    ok = client.post(url, {"file": SimpleUploadedFile("p.png", image_bytes(), "image/png")})
    assert ok.status_code == 302
    wrong = client.post(
        url, {"file": SimpleUploadedFile("p.png", b"not an image", "image/png")}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert wrong.status_code == 422
    assert "Only JPEG or PNG photos and PDF documents are accepted." in wrong.content.decode()
    corrupt = client.post(url, {"file": SimpleUploadedFile("p.png", image_bytes()[:300], "image/png")})
    assert corrupt.status_code == 422 and 'data-testid="error-file"' in corrupt.content.decode()
    big = client.post(url, {"file": SimpleUploadedFile("big.pdf", PDF + b"0" * MAX_BYTES, "application/pdf")})
    assert big.status_code == 413
    with tenant_context(in_a):  # each request leaves the connection on the public schema
        assert Attachment.objects.count() == 1


def test_api_upload_and_refusals(in_a: Any, officer: Any, make_case: Any) -> None:
    case = make_case()
    client = signed_in(officer)
    url = reverse("mediation-api:attachment-list", kwargs={"compound": CODE_A})
    ok = client.post(url, {"case": case.pk, "file": SimpleUploadedFile("p.png", image_bytes(), "image/png")})
    assert ok.status_code == 201, ok.content
    body = ok.json()
    assert body["kind"] == "photo" and body["thumbnail_url"].endswith("/thumbnail.jpg")
    wrong = client.post(
        url,
        {"case": case.pk, "file": SimpleUploadedFile("x.gif", image_bytes((5, 5), "GIF", "L"))},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert wrong.status_code == 400
    assert wrong.json() == {"file": ["Only JPEG or PNG photos and PDF documents are accepted."]}
    big = client.post(url, {"case": case.pk, "file": SimpleUploadedFile("big.pdf", PDF + b"0" * MAX_BYTES)})
    assert big.status_code == 413 and "detail" in big.json()
    # In JSON, base64 (small files: JSON bodies are at most 1 MB).
    encoded = base64.b64encode(PDF).decode()
    as_json = client.post(url, {"case": case.pk, "name": "协议.pdf", "file": encoded}, content_type="application/json")
    assert as_json.status_code == 201 and as_json.json()["kind"] == "pdf" and as_json.json()["name"] == "协议.pdf"
    not_base64 = client.post(url, {"case": case.pk, "file": "%%%"}, content_type="application/json")
    assert not_base64.status_code == 400 and "file" in not_base64.json()
    with tenant_context(in_a):
        assert Attachment.objects.count() == 2


def test_files_are_served_to_case_readers_only(in_a: Any, officer: Any, make_case: Any, compound_b: Any) -> None:
    case = make_case()
    attachment = do_add_attachment(case, name="协议.pdf", data=PDF, acting_user=officer)
    photo = do_add_attachment(case, name="现场.jpg", data=image_bytes(fmt="JPEG"), acting_user=officer)
    kwargs = {"compound": CODE_A, "pk": attachment.pk}
    response = signed_in(officer).get(reverse("mediation:attachment_file", kwargs=kwargs))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == PDF
    thumb = signed_in(officer).get(reverse("mediation:attachment_thumb", kwargs={"compound": CODE_A, "pk": photo.pk}))
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"
    assert thumb["Content-Disposition"].startswith("inline;")
    # Property staff have no mediation.view; a mediator of compound B is out of scope (404).
    staff = RoleFactory(user__username="staff-files", role="property_staff", compound=in_a).user
    assert signed_in(staff).get(reverse("mediation:attachment_file", kwargs=kwargs)).status_code == 403
    outsider = RoleFactory(user__username="mediator-b-files", role="mediator", compound=compound_b).user
    assert signed_in(outsider).get(reverse("mediation:attachment_file", kwargs=kwargs)).status_code == 404
    assert signed_in(outsider).get(f"/c/{CODE_B}/mediation/attachments/{attachment.pk}/file/").status_code == 404
