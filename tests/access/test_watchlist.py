"""The city watch-list (布控): kept by police roles, read by police roles, one list per city.

Every change bumps the city's version (the gate matcher reloads on it), writes an audit row
with field names only and announces ``watchlist.entry.<verb>`` on commit. Photos go through
the face pipeline with the real portraits of ../shared/faces.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation
from PIL import Image

from access.faces import ImageRefusedError
from access.watchlist import (
    MAX_FACES_PER_ENTRY,
    do_add_watch_face,
    do_end_watch_entry,
    do_remove_watch_face,
    do_save_watch_entry,
    shown_id_number,
    watch_cities,
    watchlist_group,
    watchlist_version,
)
from district.models import Area, AuditAction, AuditEntry
from district.permissions import MANAGE_WATCHLIST, VIEW_WATCHLIST
from events.models import WatchlistEntry, WatchlistFace
from tests.conftest import CITY, DISTRICT
from tests.factories import RoleFactory, make_id_number

FACES = Path(__file__).resolve().parents[2].parent / "shared" / "faces"
needs_faces = pytest.mark.skipif(not FACES.is_dir(), reason="../shared/faces is not beside the project")

WANTED_ID = make_id_number(seq=321)


def photo(name: str) -> bytes:
    return (FACES / name).read_bytes()


def blank_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), "white").save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    """Thumbnails go to a temporary MEDIA_ROOT, never the project's."""
    settings.MEDIA_ROOT = tmp_path  # FileSystemStorage forgets its cached location on the signal
    assert default_storage.path("x") == str(tmp_path / "x")
    return tmp_path


@pytest.fixture(autouse=True)
def english() -> Any:
    """Messages are asserted in English (the source language), whatever the default language is."""
    with translation.override("en"):
        yield


@pytest.fixture
def city(db: None) -> Area:
    return Area.objects.get(code=CITY)


@pytest.fixture
def bureau(city: Area) -> Any:
    """A city bureau officer (市局): keeps the city's list."""
    return RoleFactory(user__username="bureau", role="city_bureau", area=city).user


@pytest.fixture
def branch(db: None) -> Any:
    """A district branch officer (分局): keeps the list of its district's city."""
    return RoleFactory(user__username="branch", role="district_branch", area=Area.objects.get(code=DISTRICT)).user


@pytest.fixture
def beat_officer(compound_a: Any) -> Any:
    """The beat officer (社区民警) of compound A: reads the city's list, does not keep it."""
    return RoleFactory(user__username="beat-a", role="beat_officer", compound=compound_a).user


@pytest.fixture
def other_branch(db: None) -> Any:
    """A district branch of another city (青岛市市南区)."""
    city = Area.objects.create(level="city", code="370200", name="青岛市")
    district = Area.objects.create(level="district", code="370202", name="市南区", parent=city)
    return RoleFactory(user__username="branch-qd", role="district_branch", area=district).user


@pytest.fixture
def wanted(bureau: Any, city: Area) -> WatchlistEntry:
    entry = WatchlistEntry(city=city, kind="wanted", name="拜登某", id_number=WANTED_ID, reason="网上追逃")
    return do_save_watch_entry(entry, acting_user=bureau)


def signed_in(user: Any) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


# --- Scope ------------------------------------------------------------------------------------


def test_every_police_role_reads_the_list_of_its_city(bureau, branch, beat_officer, staff_a, admin_a, city):
    for user in (bureau, branch, beat_officer):
        assert list(watch_cities(user, VIEW_WATCHLIST)) == [city]
    assert list(watch_cities(bureau, MANAGE_WATCHLIST)) == [city]
    assert list(watch_cities(branch, MANAGE_WATCHLIST)) == [city]
    assert not watch_cities(beat_officer, MANAGE_WATCHLIST).exists()
    for user in (staff_a, admin_a):
        assert not watch_cities(user, VIEW_WATCHLIST).exists()


# --- Actions: version, audit, events ------------------------------------------------------------


def test_creating_an_entry_bumps_the_version_audits_names_and_announces(bureau, city, committing):
    before = watchlist_version(city.pk)
    with committing() as sent:
        entry = do_save_watch_entry(
            WatchlistEntry(city=city, kind="wanted", name="张某", id_number=" " + WANTED_ID.lower() + " "),
            acting_user=bureau,
        )
    assert entry.id_number == WANTED_ID  # normalised
    assert entry.created_by == bureau
    assert watchlist_version(city.pk) == before + 1
    groups, payload = sent[-1]
    assert groups == [watchlist_group(city.pk)]
    assert payload == {"type": "watchlist.entry.created", "id": entry.pk, "city_id": city.pk, "version": before + 1}
    row = AuditEntry.objects.filter(object_type="events.watchlistentry", object_ids=[entry.pk]).get()
    assert row.action == AuditAction.CREATE and row.compound is None
    assert {"name", "id_number", "kind", "city"} <= set(row.detail["fields"])
    assert WANTED_ID not in str(row.detail) and "张某" not in str(row.detail)


def test_an_edit_that_changes_nothing_writes_nothing(wanted, bureau):
    version = watchlist_version(wanted.city_id)
    do_save_watch_entry(wanted, acting_user=bureau)
    assert watchlist_version(wanted.city_id) == version
    wanted.reason = "新线索"
    do_save_watch_entry(wanted, acting_user=bureau)
    assert watchlist_version(wanted.city_id) == version + 1


@needs_faces
def test_police_add_a_portrait_and_every_change_bumps_the_version(wanted, bureau, media, committing):
    version = watchlist_version(wanted.city_id)
    with committing() as sent:
        face = do_add_watch_face(wanted, photo("enroll/biden.jpg"), acting_user=bureau)
    assert len(bytes(face.encoding)) == 128 * 4  # float32
    assert face.photo.startswith("access/watchlist/") and face.photo.endswith(".jpg")
    assert (media / face.photo).is_file()
    assert watchlist_version(wanted.city_id) == version + 1
    assert sent[-1][1]["type"] == "watchlist.entry.face_added" and sent[-1][1]["face_id"] == face.pk
    with committing() as sent:
        do_remove_watch_face(face, acting_user=bureau)
    assert not WatchlistFace.objects.filter(pk=face.pk).exists()
    assert not (media / face.photo).exists()  # deleted once the removal committed
    assert watchlist_version(wanted.city_id) == version + 2
    assert sent[-1][1]["type"] == "watchlist.entry.face_removed"
    actions = list(
        AuditEntry.objects.filter(object_type="events.watchlistface").order_by("pk").values_list("action", flat=True)
    )
    assert actions == [AuditAction.CREATE, AuditAction.DELETE]


@needs_faces
@pytest.mark.parametrize(
    ("image", "code", "message"),
    [
        (blank_jpeg, "no_face", "No face was found in the photo."),
        (lambda: photo("probe/two_people.jpg"), "several_faces", "The photo shows 2 faces"),
        (lambda: photo("enroll/biden.jpg")[:4000], "corrupt", "damaged"),
        (lambda: b"%PDF-1.4 not a photo", "not_image", "not a readable JPEG or PNG"),
    ],
)
def test_a_photo_without_exactly_one_face_is_refused_and_changes_nothing(wanted, bureau, image, code, message):
    version = watchlist_version(wanted.city_id)
    with pytest.raises(ImageRefusedError) as refused:
        do_add_watch_face(wanted, image(), acting_user=bureau)
    assert refused.value.code == code
    assert message in str(refused.value)
    assert not wanted.faces.exists()
    assert watchlist_version(wanted.city_id) == version


def test_plate_entries_have_no_photos_and_faces_are_bounded(bureau, city, wanted):
    plate = do_save_watch_entry(WatchlistEntry(city=city, kind="blocked_plate", plate="鲁a 12345"), acting_user=bureau)
    assert plate.plate == "鲁A12345"
    with pytest.raises(ValidationError, match="plate entry"):
        do_add_watch_face(plate, blank_jpeg(), acting_user=bureau)
    WatchlistFace.objects.bulk_create(
        [WatchlistFace(entry=wanted, encoding=bytes(512)) for _ in range(MAX_FACES_PER_ENTRY)]
    )
    with pytest.raises(ValidationError, match="at most"):
        do_add_watch_face(wanted, blank_jpeg(), acting_user=bureau)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"kind": "wanted", "id_number": "370102198005170012"}, "id_number", "check digit"),
        ({"kind": "wanted", "id_number": "12345"}, "id_number", "18 characters"),
        ({"kind": "blocked_plate", "plate": "ABC123"}, "plate", "Not a valid plate number"),
        ({"kind": "key_area_plate"}, "plate", "needs its plate number"),
        ({"kind": "key_person"}, "name", "needs a name or an ID number"),
    ],
)
def test_bad_id_numbers_and_plates_are_refused(bureau, city, fields, field, message):
    with pytest.raises(ValidationError) as refused:
        do_save_watch_entry(WatchlistEntry(city=city, **fields), acting_user=bureau)
    assert message in " ".join(refused.value.message_dict[field])
    assert not WatchlistEntry.objects.exists()


def test_an_active_duplicate_is_refused_and_an_entry_never_moves(wanted, bureau, other_branch):
    with pytest.raises(ValidationError, match="already on the city's watch-list"):
        do_save_watch_entry(WatchlistEntry(city=wanted.city, kind="wanted", id_number=WANTED_ID), acting_user=bureau)
    wanted.city = Area.objects.get(code="370200")
    with pytest.raises(PermissionDenied):  # the bureau does not keep Qingdao's list
        do_save_watch_entry(wanted, acting_user=other_branch)


def test_only_keepers_of_the_city_write(wanted, beat_officer, other_branch, branch):
    for user in (beat_officer, other_branch):
        with pytest.raises(PermissionDenied):
            do_end_watch_entry(wanted, acting_user=user)
    do_end_watch_entry(wanted, acting_user=branch)  # a district branch keeps its city's list
    assert not WatchlistEntry.objects.get(pk=wanted.pk).active


def test_ending_an_entry_bumps_once(wanted, bureau, committing):
    version = watchlist_version(wanted.city_id)
    with committing() as sent:
        do_end_watch_entry(wanted, acting_user=bureau)
        do_end_watch_entry(wanted, acting_user=bureau)  # already ended: nothing
    assert watchlist_version(wanted.city_id) == version + 1
    assert [payload["type"] for _groups, payload in sent] == ["watchlist.entry.ended"]
    row = AuditEntry.objects.filter(object_type="events.watchlistentry", action=AuditAction.UPDATE).get()
    assert row.detail["fields"] == ["active"]


def test_id_numbers_are_masked_for_readers_without_pii(wanted):
    assert shown_id_number(wanted, {wanted.city_id}) == WANTED_ID
    assert shown_id_number(wanted, set()) == f"{WANTED_ID[:4]}**********{WANTED_ID[-4:]}"


# --- Pages ------------------------------------------------------------------------------------------


@needs_faces
def test_police_create_an_entry_and_add_a_photo_on_the_pages(bureau, city, media):
    client = signed_in(bureau)
    assert client.get("/watchlist/new/").status_code == 200
    response = client.post(
        "/watchlist/new/",
        {"city": city.pk, "kind": "wanted", "name": "拜登某", "id_number": WANTED_ID, "reason": "追逃"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = WatchlistEntry.objects.get()
    assert response["Location"] == f"/watchlist/{entry.pk}/"
    version = watchlist_version(city.pk)
    page = client.get(f"/watchlist/{entry.pk}/photos/new/").content.decode()
    assert 'accept="image/*"' in page and 'type="file"' in page
    upload = SimpleUploadedFile("biden.jpg", photo("enroll/biden.jpg"), content_type="image/jpeg")
    response = client.post(f"/watchlist/{entry.pk}/photos/new/", {"photo": upload})
    assert response.status_code == 302
    assert watchlist_version(city.pk) == version + 1
    face = entry.faces.get()
    detail = client.get(f"/watchlist/{entry.pk}/").content.decode()
    assert WANTED_ID in detail  # the city bureau sees it whole …
    assert AuditEntry.objects.filter(action=AuditAction.VIEW_PII, object_ids=[entry.pk], compound=None).exists()
    assert f'src="/watchlist/photos/{face.pk}.jpg"' in detail
    thumbnail = client.get(f"/watchlist/photos/{face.pk}.jpg")
    assert thumbnail.status_code == 200 and thumbnail["Content-Type"] == "image/jpeg"
    assert thumbnail.content[:2] == b"\xff\xd8"
    # Removing the photo (a POST from the detail page).
    assert client.post(f"/watchlist/photos/{face.pk}/remove/").status_code == 302
    assert not entry.faces.exists()
    assert client.get(f"/watchlist/photos/{face.pk}.jpg").status_code == 404


@needs_faces
def test_the_photo_page_says_why_a_photo_is_refused(wanted, bureau):
    client = signed_in(bureau)
    upload = SimpleUploadedFile("two.jpg", photo("probe/two_people.jpg"), content_type="image/jpeg")
    response = client.post(f"/watchlist/{wanted.pk}/photos/new/", {"photo": upload})
    assert response.status_code == 422
    assert "The photo shows 2 faces" in response.content.decode()
    upload = SimpleUploadedFile("blank.jpg", blank_jpeg(), content_type="image/jpeg")
    response = client.post(f"/watchlist/{wanted.pk}/photos/new/", {"photo": upload}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 422
    assert not wanted.faces.exists()


def test_the_form_refuses_a_bad_id_number_and_a_bad_plate(bureau, city):
    client = signed_in(bureau)
    response = client.post("/watchlist/new/", {"city": city.pk, "kind": "wanted", "id_number": "370102198005170012"})
    assert response.status_code == 422
    assert 'data-testid="error-id_number"' in response.content.decode()
    response = client.post("/watchlist/new/", {"city": city.pk, "kind": "blocked_plate", "plate": "京O00000"})
    assert response.status_code == 422
    assert 'data-testid="error-plate"' in response.content.decode()
    assert not WatchlistEntry.objects.exists()


def test_the_list_filters_and_searches(bureau, city, wanted):
    do_save_watch_entry(WatchlistEntry(city=city, kind="blocked_plate", plate="鲁A12345"), acting_user=bureau)
    client = signed_in(bureau)
    page = client.get("/watchlist/").content.decode()
    assert "拜登某" in page and "鲁A12345" in page
    page = client.get("/watchlist/", {"kind": "blocked_plate"}).content.decode()
    assert "拜登某" not in page and "鲁A12345" in page
    page = client.get("/watchlist/", {"q": "a123"}, HTTP_HX_REQUEST="true").content.decode()
    assert "鲁A12345" in page and "拜登某" not in page and "<html" not in page
    page = client.get("/watchlist/", {"q": WANTED_ID}).content.decode()
    assert "拜登某" in page and "鲁A12345" not in page
    assert AuditEntry.objects.filter(action=AuditAction.SEARCH_ID_NUMBER, object_ids=[wanted.pk]).exists()
    do_end_watch_entry(wanted, acting_user=bureau)
    page = client.get("/watchlist/", {"active": "true"}).content.decode()
    assert "拜登某" not in page
    page = client.get("/watchlist/", {"active": "false"}).content.decode()
    assert "拜登某" in page
    assert client.get("/watchlist/", {"q": "x" * 101}).status_code == 200  # refused filter: nothing, and why


def test_end_an_entry_after_confirming(wanted, bureau):
    client = signed_in(bureau)
    page = client.get(f"/watchlist/{wanted.pk}/end/")
    assert page.status_code == 200
    response = client.post(f"/watchlist/{wanted.pk}/end/")
    assert response.status_code == 302
    assert not WatchlistEntry.objects.get(pk=wanted.pk).active
    assert "already ended" in client.get(f"/watchlist/{wanted.pk}/end/").content.decode()


def test_edit_keeps_the_city(wanted, bureau):
    client = signed_in(bureau)
    response = client.post(
        f"/watchlist/{wanted.pk}/edit/",
        {"kind": "key_person", "name": "拜登某", "id_number": WANTED_ID, "reason": "改为重点人员", "active": "on"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    wanted.refresh_from_db()
    assert wanted.kind == "key_person" and wanted.reason == "改为重点人员"


def test_a_beat_officer_reads_but_does_not_keep_the_list(wanted, beat_officer):
    client = signed_in(beat_officer)
    assert client.get("/watchlist/").status_code == 200
    assert client.get(f"/watchlist/{wanted.pk}/").status_code == 200
    assert client.get("/watchlist/new/").status_code == 403
    assert client.post(f"/watchlist/{wanted.pk}/end/").status_code == 403
    assert "/watchlist/new/" not in client.get("/watchlist/").content.decode()
    api = f"/api/watchlist/entries/{wanted.pk}/"
    assert client.get(api).json()["id_number"] == WANTED_ID  # a beat officer holds pii.view
    assert client.post(f"{api}end/").status_code == 403
    assert client.patch(api, {"reason": "x"}, content_type="application/json").status_code == 403
    assert client.post(f"{api}faces/", {"photo": "AAAA"}, content_type="application/json").status_code == 403


@pytest.mark.parametrize("who", ["staff_a", "admin_a", "mediator"])
def test_property_staff_street_office_and_mediators_cannot_see_the_list(who, wanted, request, compound_a):
    if who == "mediator":
        user = RoleFactory(user__username="mediator-a", role="mediator", compound=compound_a).user
    else:
        user = request.getfixturevalue(who)
    client = signed_in(user)
    for url in ("/watchlist/", f"/watchlist/{wanted.pk}/", "/watchlist/new/", "/api/watchlist/entries/"):
        assert client.get(url).status_code == 403, url
    assert client.get(f"/api/watchlist/entries/{wanted.pk}/").status_code == 403
    assert "/watchlist/" not in client.get("/").content.decode()  # no navigation entry


def test_a_district_branch_of_another_city_cannot_see_this_citys_entries(wanted, other_branch):
    client = signed_in(other_branch)
    page = client.get("/watchlist/")
    assert page.status_code == 200 and "拜登某" not in page.content.decode()
    assert client.get(f"/watchlist/{wanted.pk}/").status_code == 404
    assert client.get(f"/watchlist/{wanted.pk}/edit/").status_code == 404
    assert client.post(f"/watchlist/{wanted.pk}/end/").status_code == 404
    assert client.get(f"/api/watchlist/entries/{wanted.pk}/").status_code == 404
    assert client.get("/api/watchlist/entries/").json()["count"] == 0
    for huge in ("/watchlist/99999999999999999999/", "/watchlist/photos/99999999999999999999.jpg"):
        assert client.get(huge).status_code == 404  # beyond the id column's range: missing, not an error
    city = Area.objects.get(code=CITY)
    response = client.post("/watchlist/new/", {"city": city.pk, "kind": "wanted", "name": "某"})
    assert response.status_code == 422  # not a city whose list it keeps


def test_police_see_a_navigation_entry(bureau, beat_officer, compound_a):
    assert 'href="/watchlist/"' in signed_in(bureau).get("/").content.decode()
    page = signed_in(beat_officer).get(f"/c/{compound_a.code}/").content.decode()
    assert 'href="/watchlist/"' in page
    assert f'href="/c/{compound_a.code}/access/screening/"' in page


# --- API ----------------------------------------------------------------------------------------------


@needs_faces
def test_the_api_creates_changes_adds_photos_and_ends(bureau, city, media):
    client = signed_in(bureau)
    response = client.post(
        "/api/watchlist/entries/",
        {"city": CITY, "kind": "wanted", "name": "拜登某", "id_number": WANTED_ID},
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["id_number"] == WANTED_ID and body["status"] == "active" and body["city_name"] == "济南市"
    pk = body["id"]
    version = watchlist_version(city.pk)
    response = client.patch(f"/api/watchlist/entries/{pk}/", {"reason": "新线索"}, content_type="application/json")
    assert response.status_code == 200 and response.json()["reason"] == "新线索"
    encoded = base64.b64encode(photo("enroll/biden.jpg")).decode()
    response = client.post(f"/api/watchlist/entries/{pk}/faces/", {"photo": encoded}, content_type="application/json")
    assert response.status_code == 201, response.json()
    face_id = response.json()["id"]
    assert response.json()["photo_url"] == f"/watchlist/photos/{face_id}.jpg"
    blank = base64.b64encode(blank_jpeg()).decode()
    response = client.post(f"/api/watchlist/entries/{pk}/faces/", {"photo": blank}, content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == ["no_face"]
    response = client.post(f"/api/watchlist/entries/{pk}/faces/", {"photo": "@@@"}, content_type="application/json")
    assert response.status_code == 400
    assert client.get(f"/api/watchlist/entries/{pk}/").json()["faces"][0]["id"] == face_id
    assert client.delete(f"/api/watchlist/entries/{pk}/faces/{face_id}/").status_code == 204
    assert client.delete(f"/api/watchlist/entries/{pk}/faces/{face_id}/").status_code == 404
    response = client.post(f"/api/watchlist/entries/{pk}/end/")
    assert response.status_code == 200 and response.json()["status"] == "ended"
    assert watchlist_version(city.pk) == version + 4  # change, photo, removal, end


def test_the_api_refuses_bad_numbers_and_foreign_cities(bureau, city, other_branch):
    client = signed_in(bureau)
    for body, field in (
        ({"city": CITY, "kind": "wanted", "id_number": "370102198005170012"}, "id_number"),
        ({"city": CITY, "kind": "blocked_plate", "plate": "鲁A1234"}, "plate"),
        ({"city": "370200", "kind": "wanted", "name": "某"}, "city"),
    ):
        response = client.post("/api/watchlist/entries/", body, content_type="application/json")
        assert response.status_code == 400 and field in response.json(), response.json()
    assert not WatchlistEntry.objects.exists()
