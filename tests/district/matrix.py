"""The generated permission matrix: every URL pattern × every method it handles × every actor.

Nothing is written case by case (STYLE.md §5). The cases come from walking the URL resolver
(pages and API alike); what each case needs comes from the view's own permission declaration
(``district.permissions.declared_need``), and the expected status from that need, the roles'
capabilities (``ROLE_CAPABILITIES``) and the scope rules:

- anonymous → a page redirects to the login page, the API answers 403 (DRF's session
  authentication), unless the method is declared ``PUBLIC``;
- compound URLs (``/c/<code>/…``): out of scope → 404 from the compound middleware, before
  anything else is asked;
- an undeclared method → 403, whoever asks;
- device endpoints (declared ``DEVICE``) → 401 for everyone here: only a device credential
  passes, never a session (a superuser's neither); ``tests/access`` tests the devices;
- in scope (or a URL outside compounds) → 403 when the declared capability is missing, else
  the seed's success status; on URLs outside compounds, a method that acts on a record of a
  compound outside the user's scope answers as the seed says (404, or the form's 422);
- the city watch-list (``/watchlist/``, ``/api/watchlist/``) is outside compounds but scoped by
  city: a police role reads (or keeps) the list of the city its node lies in. "Out of scope"
  there is another city: its seeds make the entry in the far city (青岛市) for every actor out
  of scope (404), and a new entry names that city (the form's 422, the API's 400);

URL arguments and request bodies come from ``SEEDS``, keyed by URL name; every seed body is
meant to succeed, so the matrix proves the allowed cases as well as the refused ones. A URL
without a seed or without a declaration is reported by :func:`build` (a dedicated test in
``test_permission_declarations`` fails with the endpoint's name). DRF's format-suffix twins
(``/api/areas.json``) are URL patterns of their own and join the matrix like the others.

Every response is also searched for a distinctive resident of a compound it must not show,
and out of scope for that compound's and street's names.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

from axes.models import AccessLog
from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.models import Session
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from django.test import Client
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, resolve, reverse
from django_tenants.utils import tenant_context

from district.audit import do_record_audit
from district.choices import ROLE_LEVEL, Role
from district.middleware import API_PATH
from district.models import Area, AuditAction, AuditEntry, RoleAssignment
from district.permissions import (
    ALL_CAPABILITIES,
    ROLE_CAPABILITIES,
    Need,
    declaration_of,
    declared_need,
    handles_method,
)
from registry import actions
from registry.excel import SheetKind, template_workbook
from registry.excel.columns import EXPORT_SPECS
from registry.kinds import KINDS
from registry.models import Address, House, ImportJob, Lease, Organisation, Person, Vehicle
from tenants.models import Compound
from tests.conftest import CITY, CODE_A, CODE_B, DISTRICT, STREET_A
from tests.factories import (
    AddressPathFactory,
    HouseFactory,
    OrganisationFactory,
    VehicleFactory,
    make_id_number,
    make_uscc,
)

ANONYMOUS, SUPERUSER = "anonymous", "superuser"
IN, OUT = "in", "out"

# Where each role is held in the matrix.
ROLE_NODES: dict[str, str] = {
    Role.CITY_BUREAU: CITY,
    Role.DISTRICT_BRANCH: DISTRICT,
    Role.STREET_OFFICE: STREET_A,
    Role.PROPERTY_STAFF: CODE_A,
    Role.BEAT_OFFICER: CODE_A,
    Role.GRID_WORKER: CODE_A,
    Role.MEDIATOR: CODE_A,
}
ACTORS: list[tuple[str, str]] = [(role, scope) for role in ROLE_NODES for scope in (IN, OUT)]
ACTORS += [(ANONYMOUS, IN), (ANONYMOUS, OUT), (SUPERUSER, IN)]  # a superuser has no "outside"

# The nearest compound outside each actor's scope. Compound B (the sibling street) is inside
# the district and the city, so those roles are tested against a compound of another district
# and of another city (made by the ``matrix_world`` fixture, once per module).
OTHER_DISTRICT = {"district": ("370103", "槐荫区"), "street": ("370103010", "矩阵外区街道"), "compound": "370103010001"}
OTHER_CITY = {
    "city": ("370200", "青岛市"),
    "district": ("370202", "市南区"),
    "street": ("370202001", "矩阵外市街道"),
    "compound": "370202001001",
}
OUTSIDE: dict[str, str] = {Role.CITY_BUREAU: OTHER_CITY["compound"], Role.DISTRICT_BRANCH: OTHER_DISTRICT["compound"]}
COMPOUND_NAMES = {OTHER_DISTRICT["compound"]: "矩阵外区小区", OTHER_CITY["compound"]: "矩阵外市小区"}

# A distinctive resident per compound: neither may show up where the compound is foreign.
RESIDENTS: dict[str, tuple[str, str]] = {
    CODE_A: ("甲矩阵居民", make_id_number(seq=601)),
    CODE_B: ("乙矩阵居民", make_id_number(seq=602)),
    OTHER_DISTRICT["compound"]: ("丙矩阵居民", make_id_number(seq=603)),
    OTHER_CITY["compound"]: ("丁矩阵居民", make_id_number(seq=604)),
}


def outside(actor: str) -> str:
    """The compound code out of the actor's scope (compound B unless it is inside)."""
    return OUTSIDE.get(actor, CODE_B)


# --- Walking the URL resolver -----------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One URL pattern: its route as ``ResolverMatch.route`` spells it, its name and its view."""

    route: str
    name: str  # namespaced ("registry:edit"); the route itself when the pattern has no name
    callback: Any = field(compare=False)
    params: frozenset[str]  # the URL's keyword arguments

    @property
    def label(self) -> str:
        """The name, with ``.json`` for DRF's format-suffix twin of a pattern."""
        return f"{self.name}.json" if "format" in self.params else self.name


def _join(route1: str, route2: str) -> str:
    """Django's ``URLResolver._join_route``: how a ResolverMatch spells a nested route."""
    return route2 if not route1 else route1 + route2.removeprefix("^")


def walk(resolver: URLResolver | None = None) -> list[Route]:
    """Every URL pattern of the urlconf (``ROOT_URLCONF`` by default), includes followed."""

    def patterns(res: URLResolver, namespaces: tuple[str, ...]) -> Iterator[tuple[str, str, Any, frozenset[str]]]:
        for entry in res.url_patterns:
            if isinstance(entry, URLResolver):
                inner = (*namespaces, entry.namespace) if entry.namespace else namespaces
                own = set(entry.pattern.regex.groupindex)
                for route, name, callback, params in patterns(entry, inner):
                    yield _join(str(entry.pattern), route), name, callback, params | own
            elif isinstance(entry, URLPattern):
                name = ":".join((*namespaces, entry.name)) if entry.name else ""
                yield str(entry.pattern), name, entry.callback, frozenset(entry.pattern.regex.groupindex)

    return [
        Route(route=route, name=name or route, callback=callback, params=frozenset(params))
        for route, name, callback, params in patterns(resolver or get_resolver(), ())
    ]


PAGE_METHODS = ("GET", "POST")
VIEWSET_ACTIONS = ("list", "retrieve", "create", "update", "partial_update", "destroy")


def operations(route: Route) -> list[tuple[str, str | None]]:
    """(HTTP method, viewset action or None) for each method the view handles.

    Pages: GET and POST if the view handles them (a function view counts as handling both);
    viewsets: their router's actions, among those the viewset's ``http_method_names`` allow.
    """
    _declared, actions_map = declaration_of(route.callback)
    if actions_map is None:
        return [(method, None) for method in PAGE_METHODS if handles_method(route.callback, method)]
    # DRF adds "head" to a viewset's map on its first request: HEAD is GET, not a case of its own.
    allowed = set(route.callback.cls.http_method_names) - {"head", "options"}
    return [
        (method.upper(), action)
        for method, action in actions_map.items()
        if action in VIEWSET_ACTIONS and method in allowed
    ]


# --- The world the cases run in --------------------------------------------------------------
#
# Built once per module and committed (each case's transaction then rolls back whatever the
# case changed, deletions included): per compound a distinctive resident and a deletable
# record of every kind; per actor a user, its role and a signed-in session.


@dataclass
class Records:
    """What one compound holds for the cases (its schema's rows, and public rows about it)."""

    compound: Compound
    resident: Person  # distinctive: must never show where the compound is foreign
    house: models.Model
    lease: Lease
    organisation: models.Model
    vehicle: models.Model
    building: models.Model  # an address with plates
    spare_room: models.Model  # a room without a house, for a new house
    import_job: ImportJob
    held: RoleAssignment  # a mediator's role at the compound, to list and revoke
    audit: Any  # an audit row about the resident

    def of_kind(self, kind: str) -> models.Model:
        return {
            "persons": self.resident,
            "houses": self.house,
            "leases": self.lease,
            "organisations": self.organisation,
            "vehicles": self.vehicle,
            "addresses": self.building,
        }[kind]


@dataclass
class World:
    records: dict[str, Records]  # by compound code
    users: dict[str, Any]  # by actor
    sessions: dict[str, str]  # by actor: a signed-in session key
    newcomer: Any  # a user without roles, to assign one to


def make_user(username: str, **extra: Any) -> Any:
    # No password: hashing one (PBKDF2) would cost more than the whole request under test.
    return get_user_model().objects.create(username=username, **extra)


def _records(where: Compound, held_by: Any) -> Records:
    name, number = RESIDENTS[where.code]
    with tenant_context(where):
        resident = actions.do_save_person(Person(name=name, id_number=number))
        tenant = actions.do_save_person(Person(name="矩阵租客", id_number=make_id_number(seq=605)))
        lease = actions.do_save_lease(
            Lease(
                house=HouseFactory(address=AddressPathFactory("9", "1", "1", "102")),
                tenant=tenant,
                start_date=datetime.date(2025, 1, 1),
            )
        )
        records = Records(
            compound=where,
            resident=resident,
            house=HouseFactory(address=AddressPathFactory("9", "1", "1", "101")),
            lease=lease,
            organisation=OrganisationFactory(name="矩阵超市", uscc=make_uscc(seq=99990)),
            vehicle=VehicleFactory(plate="鲁A60601"),
            building=AddressPathFactory("7"),
            spare_room=AddressPathFactory("8", "1", "1", "101"),
            import_job=ImportJob.objects.create(
                kind="persons",
                filename="人口.xlsx",
                file=template_workbook("persons"),
                errors=[{"row": 2, "column": "姓名", "message": "矩阵"}],
            ),
            held=RoleAssignment.objects.create(user=held_by, role=Role.MEDIATOR, compound=where),
            audit=None,
        )
    records.audit = do_record_audit(AnonymousUser(), AuditAction.VIEW_PII, compound=where, objects=[resident])
    return records


REGISTRY_MODELS = (Lease, Vehicle, Person, House, Organisation, ImportJob)
WORLD_COMPOUNDS = (CODE_A, CODE_B)  # the far compounds are made and dropped with the world


def latest_audit_row() -> int:
    return AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def assert_world_compounds_empty() -> None:
    """Compounds A and B hold no records (``tests/conftest.py`` makes them empty, and every
    other test rolls back): :func:`remove_world` empties them again after the module."""
    for code in WORLD_COMPOUNDS:
        with tenant_context(compound(code)):
            assert not Address.objects.exists(), f"compound {code} is not empty: the matrix would delete its rows"


def build_world() -> World:
    """Records in compounds A, B and the far compounds; actors with sessions. Committed."""
    audit_mark = latest_audit_row()
    held_by = make_user("matrix-held")
    records = {code: _records(compound(code), held_by) for code in RESIDENTS}
    # The records' own "created" audit rows would show the residents on the audit pages.
    AuditEntry.objects.filter(pk__gt=audit_mark).exclude(pk__in=[r.audit.pk for r in records.values()]).delete()
    users = {
        actor: make_actor(actor) for actor in dict.fromkeys(actor for actor, _scope in ACTORS) if actor != ANONYMOUS
    }
    sessions = {}
    for actor, user in users.items():
        browser = Client()
        browser.force_login(user)
        sessions[actor] = browser.cookies[settings.SESSION_COOKIE_NAME].value
    return World(records=records, users=users, sessions=sessions, newcomer=make_user("matrix-newcomer"))


def remove_world(audit_mark: int) -> None:
    """Delete what :func:`build_world` committed, even if it stopped half-way.

    Runs before the far compounds are dropped (their audit rows go first).
    """
    for code in WORLD_COMPOUNDS:
        with tenant_context(compound(code)):
            for model in REGISTRY_MODELS:
                model.objects.all().delete()
            for address in sorted(Address.objects.all(), key=lambda a: -len(a.code)):
                address.delete()
    AuditEntry.objects.filter(pk__gt=audit_mark).delete()
    users = get_user_model().objects.filter(username__startswith="matrix-")
    user_ids = {str(pk) for pk in users.values_list("pk", flat=True)}
    Session.objects.filter(
        session_key__in=[s.session_key for s in Session.objects.all() if s.get_decoded().get(SESSION_KEY) in user_ids]
    ).delete()
    AccessLog.objects.filter(username__startswith="matrix-").delete()
    # Compound-schema tables point at users (access: consent recorded by, pass issued by): the
    # deletion's SET NULL needs a compound schema on the search path, or PostgreSQL finds no table.
    with tenant_context(compound(CODE_A)):
        users.delete()


def make_actor(actor: str) -> Any:
    if actor == SUPERUSER:
        return make_user("matrix-root", is_superuser=True)
    code = ROLE_NODES[actor]
    node = (
        {"compound": Compound.objects.get(code=code)}
        if ROLE_LEVEL[actor] is None
        else {"area": Area.objects.get(code=code)}
    )
    user = make_user(f"matrix-{actor}")
    RoleAssignment.objects.create(user=user, role=actor, **node)
    return user


# --- Seeds: URL arguments and bodies, keyed by URL name ---------------------------------------


@dataclass
class Setting:
    """What a seed may use: the target compound's records (its schema is active for compound URLs)."""

    target: Compound
    records: Records
    world: World
    variant: dict[str, str]


@dataclass
class Made:
    """What a seed made: the URL's runtime arguments (pk) and bodies per method or action."""

    kwargs: dict[str, Any] = field(default_factory=dict)
    bodies: dict[str, Any] = field(default_factory=dict)


def nothing(setting: Setting) -> Made:
    return Made()


@dataclass(frozen=True)
class Seed:
    """How to call the URLs of one name, and what success looks like there.

    ``ok`` overrides the default success status of a method or action (GET 200, POST 302, list
    and retrieve 200, create 201, update 200, destroy 204); ``ok_anonymous`` does so for
    anonymous visitors of PUBLIC methods. ``out`` is the status of a method acting on a record
    of a compound outside the user's scope, on URLs outside compounds (compound URLs answer
    404 from the middleware). ``variants`` are URL arguments making separate cases (kinds).
    """

    make: Callable[[Setting], Made] = nothing
    variants: tuple[dict[str, str], ...] = ({},)
    ok: dict[str, int] = field(default_factory=dict)
    ok_anonymous: dict[str, int] = field(default_factory=dict)
    out: dict[str, int] = field(default_factory=dict)


SUCCESS = {
    "GET": 200,
    "POST": 302,
    "list": 200,
    "retrieve": 200,
    "create": 201,
    "update": 200,
    "partial_update": 200,
    "destroy": 204,
}
LOGIN_PASSWORD = "matrix-Pass-2026"


def form_values(form: Any) -> dict[str, Any]:
    """What a form shows, as a POST body: submitting it saves the record unchanged."""
    values: dict[str, Any] = {}
    for bound in form:
        value = bound.value()
        if isinstance(value, list | tuple):
            values[bound.name] = [str(v) for v in value]
        elif value is not None:
            values[bound.name] = str(value)
    return values


def new_record(kind: str, s: Setting) -> dict[str, Any]:
    """The body of a valid new record of ``kind`` (form fields and API fields alike)."""
    r = s.records
    return {
        "persons": {
            "name": "新登记居民",
            "id_type": "resident_id",
            "id_number": make_id_number(seq=610),
            "residence_type": "permanent",
        },
        "houses": {"address": r.spare_room.pk, "use": "owner_occupied"},
        "leases": {"house": r.house.pk, "tenant": r.resident.pk, "start_date": "2025-06-01"},
        "organisations": {"name": "矩阵便利店", "uscc": make_uscc(seq=99991), "kind": "shop", "staff_count": 0},
        "vehicles": {"plate": "鲁B54321", "vehicle_type": "car"},
        "addresses": {"parent": None, "number": "77"},
    }[kind]


def changes(kind: str, s: Setting) -> tuple[dict[str, Any], dict[str, Any]]:
    """A full (PUT) and a partial (PATCH) API body for the compound's record of ``kind``."""
    r = s.records
    return {
        "persons": (
            {"name": r.resident.name, "id_number": r.resident.id_number, "phone": "13900000001"},
            {"phone": "13900000001"},
        ),
        "houses": ({"address": r.house.address_id, "notes": "矩阵"}, {"notes": "矩阵"}),
        "leases": (
            {
                "house": r.lease.house_id,
                "tenant": r.lease.tenant_id,
                "start_date": "2025-01-01",
                "end_date": "2026-05-31",
            },
            {"end_date": "2026-05-31"},
        ),
        "organisations": ({"name": "矩阵超市", "uscc": r.organisation.uscc, "staff_count": 3}, {"staff_count": 3}),
        "vehicles": ({"plate": r.vehicle.plate, "colour": "白色"}, {"colour": "白色"}),
        "addresses": ({}, {}),  # read-only once made
    }[kind]


# Compound pages.


def record_page(s: Setting) -> Made:
    kind = s.variant["kind"]
    obj = s.records.of_kind(kind)
    return Made(kwargs={"pk": obj.pk}, bodies={"POST": form_values(KINDS[kind].form(instance=obj))})


def create_page(s: Setting) -> Made:
    return Made(bodies={"POST": new_record(s.variant["kind"], s)})


def address_page(s: Setting) -> Made:
    return Made(kwargs={"pk": s.records.building.pk}, bodies={"POST": {"number": "77"}})


def import_page(s: Setting) -> Made:
    upload = SimpleUploadedFile("人口.xlsx", template_workbook("persons"))
    return Made(kwargs={"pk": s.records.import_job.pk}, bodies={"POST": {"kind": "persons", "file": upload}})


def export_page(s: Setting) -> Made:
    return Made(bodies={"POST": {"reason": "矩阵核查导出"}})


RECORD_KINDS = tuple({"kind": kind} for kind in KINDS)
EXCEL_KINDS = tuple({"kind": kind} for kind in SheetKind.values)
EXPORT_KINDS = tuple({"kind": kind} for kind in EXPORT_SPECS)  # vehicles and leases export, not import

# Compound API (``registry-api:<basename>-list/-detail``).

API_KINDS = {
    "address": "addresses",
    "person": "persons",
    "house": "houses",
    "lease": "leases",
    "organisation": "organisations",
    "vehicle": "vehicles",
}


def api_list(kind: str) -> Callable[[Setting], Made]:
    def make(s: Setting) -> Made:
        return Made(bodies={"create": new_record(kind, s)})

    return make


def api_detail(kind: str) -> Callable[[Setting], Made]:
    def make(s: Setting) -> Made:
        full, partial = changes(kind, s)
        return Made(kwargs={"pk": s.records.of_kind(kind).pk}, bodies={"update": full, "partial_update": partial})

    return make


# Public pages and API.


def login_page(s: Setting) -> Made:
    user = make_user("matrix-login")
    user.set_password(LOGIN_PASSWORD)  # the pages' module hashes with MD5
    user.save(update_fields=["password"])
    return Made(bodies={"POST": {"username": user.username, "password": LOGIN_PASSWORD}})


def set_language_page(s: Setting) -> Made:
    return Made(bodies={"GET": {"next": "/"}, "POST": {"language": "en", "next": "/"}})


def held_role(s: Setting) -> Made:
    """The mediator's role at the target compound, and a body giving the newcomer one there."""
    newcomer, code = s.world.newcomer.username, s.target.code
    page_body = {"username": newcomer, "role": Role.MEDIATOR, "node": code}
    api_body = {"user": newcomer, "role": Role.MEDIATOR, "node": code}
    return Made(kwargs={"pk": s.records.held.pk}, bodies={"POST": page_body, "create": api_body})


def audit_row(s: Setting) -> Made:
    """The audit row about the target compound's resident; an export's reason."""
    return Made(kwargs={"pk": s.records.audit.pk}, bodies={"POST": {"reason": "矩阵核查导出"}})


def area_of_target(s: Setting) -> Made:
    return Made(kwargs={"pk": s.target.street_id})


def target_compound(s: Setting) -> Made:
    return Made(kwargs={"pk": s.target.pk})


def _audit_export_formats() -> tuple[dict[str, str], ...]:
    try:
        from district.audit_export import EXPORT_FORMATS
    except ImportError:  # the audit export arrives with its own issue
        return ()
    return tuple({"fmt": fmt} for fmt in EXPORT_FORMATS)


# Access staff pages and API (access/urls_staff.py, access/api_staff_urls.py): the records each
# case acts on are made in its transaction; the two stored files are written once and kept.


def _access_file(s: Setting, folder: str, suffix: str) -> str:
    import io

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from PIL import Image

    name = f"{settings.ACCESS_SNAPSHOT_DIR}/{s.target.code}/{folder}/matrix-seed.{suffix}"
    if not default_storage.exists(name):
        out = io.BytesIO()
        Image.new("RGB", (48, 48), "grey").save(out, format="JPEG")
        default_storage.save(name, ContentFile(b"%PDF-1.4\n%%EOF\n" if suffix == "pdf" else out.getvalue()))
    return name


def _access_records(s: Setting) -> dict[str, Any]:
    """A device, a consent (with a scan), an enrolled face and a card of the target's resident."""
    from access.models import BiometricConsent, Card, Device, FaceTemplate
    from events.models import DeviceIndex

    uid = f"DMATRIX{s.target.pk:09d}"
    DeviceIndex.objects.create(uid=uid, compound=s.target, kind="face_gate", key_hash="0" * 64)
    person = s.records.resident
    consent = BiometricConsent.objects.create(
        person=person,
        method="written",
        given_at=datetime.datetime(2025, 1, 5, tzinfo=datetime.UTC),
        document=_access_file(s, "consents", "pdf"),
    )
    face = FaceTemplate.objects.create(
        person=person, consent=consent, encoding=bytes(512), photo=_access_file(s, "faces", "jpg")
    )
    return {
        "device": Device.objects.create(uid=uid, name="矩阵闸机", kind="face_gate"),
        "consent": consent,
        "face": face,
        "card": Card.objects.create(person=person, number="MATRIX00"),
    }


def _access_face_photo() -> bytes:
    return (settings.BASE_DIR.parent / "shared" / "faces" / "probe" / "obama_small.jpg").read_bytes()


NEW_DEVICE = {"name": "矩阵新闸机", "kind": "face_gate", "direction": "in", "gate": "北门"}


def access_device(s: Setting) -> Made:
    device = _access_records(s)["device"]
    edit = NEW_DEVICE | {"address": ""}
    return Made(kwargs={"pk": device.pk}, bodies={"POST": edit, "partial_update": {"gate": "北门"}})


def access_device_status(s: Setting) -> Made:
    return Made(kwargs={"pk": _access_records(s)["device"].pk}, bodies={"POST": {"status": "disabled"}})


def access_person(s: Setting) -> Made:
    """The resident, no consent yet: record one, add a card."""
    body = {"method": "written", "given_on": "2025-01-05", "number": "MATRIX01"}
    return Made(kwargs={"pk": s.records.resident.pk}, bodies={"POST": body})


def access_consented(s: Setting) -> Made:
    """The resident with a consent in force: withdraw it, enrol a photo."""
    import base64

    records = _access_records(s)
    records["face"].delete()  # room for the enrolment under the limit either way
    photo = _access_face_photo()
    return Made(
        kwargs={"pk": s.records.resident.pk},
        bodies={
            "POST": {"image": SimpleUploadedFile("face.jpg", photo, content_type="image/jpeg")},
            "create": {"person": s.records.resident.pk, "image": base64.b64encode(photo).decode()},
        },
    )


def access_record(name: str) -> Callable[[Setting], Made]:
    def make(s: Setting) -> Made:
        record = _access_records(s)[name]
        person = s.records.resident.pk
        bodies: dict[str, Any] = {
            "consent": {"create": {"person": person, "method": "written", "given_at": "2025-01-05T10:00:00+08:00"}},
            "card": {
                "create": {"number": "MATRIX02", "person": person},
                "update": {"number": "MATRIX03", "person": person, "active": True},
                "partial_update": {"active": False},
            },
            "device": {"create": NEW_DEVICE, "partial_update": {"gate": "北门"}},
        }.get(name, {})
        if name == "consent":
            record.withdrawn_at = datetime.datetime(2025, 2, 1, tzinfo=datetime.UTC)  # room for a new one
            record.save(update_fields=["withdrawn_at"])
        return Made(kwargs={"pk": record.pk}, bodies=bodies)

    return make


# Visitor passes, remote opening, event log and pass search (access/urls_passes.py,
# access/api_passes_urls.py): a gate, a pass and an event with a snapshot, made in the case's
# transaction; the snapshot file is written once and kept.


def _passes_records(s: Setting) -> dict[str, Any]:
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.utils import timezone

    from access import visitors
    from access.models import Device
    from events.actions import do_record_access_event
    from events.models import DeviceIndex

    uid = f"DMXPASS{s.target.pk:09d}"
    index = DeviceIndex.objects.create(uid=uid, compound=s.target, kind="unit_door", key_hash="0" * 64)
    Device.objects.create(uid=uid, name="矩阵单元门", kind="unit_door")
    now = timezone.now()
    issued = visitors.do_issue_pass(
        s.target, visitor_name="矩阵访客", valid_until=now + datetime.timedelta(hours=2), acting_user=AnonymousUser()
    )
    name = f"{settings.ACCESS_SNAPSHOT_DIR}/{s.target.code}/snapshots/matrix-seed.jpg"
    if not default_storage.exists(name):
        default_storage.save(name, ContentFile(bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")))
    event = do_record_access_event(s.target, occurred_at=now, device=index, kind="face", decision="open", snapshot=name)
    return {"uid": uid, "pass": issued.visitor_pass, "event": event, "now": timezone.localtime(now)}


def passes_page(s: Setting) -> Made:
    r = _passes_records(s)
    until = r["now"] + datetime.timedelta(hours=3)
    form = {
        "visitor_name": "矩阵来客",
        "valid_from": r["now"].strftime("%Y-%m-%dT%H:%M"),
        "valid_until": until.strftime("%Y-%m-%dT%H:%M"),
        "max_uses": "2",
    }
    api = {"visitor_name": "矩阵来客", "valid_until": until.isoformat(), "max_uses": 2}
    return Made(kwargs={"pk": r["pass"].pk}, bodies={"POST": form, "create": api})


def passes_remote(s: Setting) -> Made:
    uid = _passes_records(s)["uid"]
    return Made(bodies={"POST": {"device": uid, "note": "矩阵"}, "create": {"device": uid, "note": "矩阵"}})


def passes_event(s: Setting) -> Made:
    return Made(kwargs={"pk": _passes_records(s)["event"].pk})


# The city watch-list (access/urls_watchlist.py, access/api_watchlist_urls.py) and batch ID
# screening (access/urls_screening.py): an entry with a photo, made in the case's transaction in
# the target's city, or in the far city out of scope (see the module docstring); the thumbnail
# file is written once and kept.


def _watch_city(s: Setting) -> Area:
    return Area.objects.get(code=CITY if s.target.code == CODE_A else OTHER_CITY["city"][0])


def _watch_entry(s: Setting) -> tuple[Any, Any]:
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from events.models import WatchlistEntry, WatchlistFace

    name = f"{settings.ACCESS_SNAPSHOT_DIR}/watchlist/matrix-seed.jpg"
    if not default_storage.exists(name):
        default_storage.save(name, ContentFile(bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")))
    entry = WatchlistEntry.objects.create(
        city=_watch_city(s), kind="wanted", name="矩阵在逃", id_number=make_id_number(seq=620)
    )
    return entry, WatchlistFace.objects.create(entry=entry, encoding=bytes(512), photo=name)


def watch_new(s: Setting) -> Made:
    city = _watch_city(s)
    page = {"city": city.pk, "kind": "wanted", "name": "矩阵新布控", "id_number": make_id_number(seq=621)}
    api = page | {"city": city.code}
    return Made(bodies={"POST": page, "create": api})


def watch_entry(s: Setting) -> Made:
    entry, face = _watch_entry(s)
    return Made(kwargs={"pk": entry.pk, "face_id": face.pk}, bodies={"partial_update": {"reason": "矩阵"}})


def watch_edit(s: Setting) -> Made:
    entry, _face = _watch_entry(s)
    form = {"kind": "wanted", "name": "矩阵在逃", "id_number": entry.id_number, "reason": "矩阵", "active": "on"}
    return Made(kwargs={"pk": entry.pk}, bodies={"POST": form})


def watch_add_face(s: Setting) -> Made:
    entry, _face = _watch_entry(s)
    photo = (settings.BASE_DIR.parent / "shared" / "faces" / "probe" / "obama_small.jpg").read_bytes()
    upload = SimpleUploadedFile("face.jpg", photo, content_type="image/jpeg")
    return Made(kwargs={"pk": entry.pk}, bodies={"POST": {"photo": upload}})


def watch_face(s: Setting) -> Made:
    return Made(kwargs={"pk": _watch_entry(s)[1].pk})


def screening_batch(s: Setting) -> Made:
    from access.models import ScreeningBatch

    number = make_id_number(seq=622)
    batch = ScreeningBatch.objects.create(id_numbers=[number], total=1, done=1)
    return Made(kwargs={"pk": batch.pk}, bodies={"POST": {"label": "矩阵", "ids": number}})


WATCH_OUT = {"GET": 404, "POST": 404, "retrieve": 404, "partial_update": 404}


# The city's mediator roster (mediators/urls.py, mediators/api_urls.py): like the watch-list, scoped
# by city; the mediator is made in the target's city, or in the far city out of scope.


def _roster_mediator(s: Setting) -> Any:
    from mediators.models import Mediator

    return Mediator.objects.create(city=_watch_city(s), name="矩阵调解员", kind="lawyer", phone="13800001234")


def mediator_new(s: Setting) -> Made:
    city = _watch_city(s)
    page = {"city": city.pk, "name": "矩阵新调解员", "kind": "lawyer", "specialties": ["neighbour"]}
    return Made(bodies={"POST": page, "create": page | {"city": city.code}})


def mediator_seed(s: Setting) -> Made:
    mediator = _roster_mediator(s)
    form = {"name": "矩阵调解员", "kind": "lawyer", "phone": "13800001234", "organisation": "矩阵"}
    return Made(kwargs={"pk": mediator.pk}, bodies={"POST": form, "partial_update": {"organisation": "矩阵"}})


# Alerts, their lifecycle, settings and broadcasts (alerts/urls.py, alerts/api_urls.py): public
# pages narrowed by scope; the alert (with a snapshot) or broadcast each case acts on is made at
# the target compound in the case's transaction; the two image files are written once and kept.


def _alerts_image(name: str) -> str:
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    if not default_storage.exists(name):
        default_storage.save(name, ContentFile(bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")))
    return name


def _alert(s: Setting) -> Any:
    from events.actions import do_raise_alert
    from events.models import AccessEvent, AreaTagged
    from events.partitions import ensure_partition

    now = datetime.datetime.now(datetime.UTC)
    ensure_partition(now)
    snapshot = _alerts_image(f"{settings.ACCESS_SNAPSHOT_DIR}/{s.target.code}/snapshots/matrix-alert.jpg")
    event = AccessEvent.objects.create(
        occurred_at=now, kind="face", decision="deny", snapshot=snapshot, **AreaTagged.tags_for(s.target)
    )
    return do_raise_alert(s.target, kind="stranger", occurred_at=now, access_event=event, detail={"device": "矩阵"})


def alert_seed(s: Setting) -> Made:
    """An alert of the target compound; a dispatch to a grid worker there."""
    alert = _alert(s)
    worker = make_user("matrix-alert-grid")
    RoleAssignment.objects.create(user=worker, role=Role.GRID_WORKER, compound=s.target)
    return Made(kwargs={"pk": alert.pk}, bodies={"POST": {"note": "矩阵", "assignee": str(worker.pk)}})


def alert_settings_seed(s: Setting) -> Made:
    from alerts.catalogue import MODELS

    body: dict[str, str] = {}
    for code, model in MODELS.items():
        body |= {f"{code}__enabled": "on", f"{code}__severity": "high"}
        body |= {f"{code}__{name}": str(value) for name, value in model.params.items()}
    return Made(kwargs={"pk": s.target.pk}, bodies={"POST": body})


def broadcast_seed(s: Setting) -> Made:
    from alerts.models import Broadcast

    broadcast = Broadcast.objects.create(
        compound=s.target,
        text="矩阵协查",
        photo=_alerts_image("broadcasts/matrix-seed.jpg"),
        sent_at=datetime.datetime.now(datetime.UTC),
    )
    return Made(
        kwargs={"pk": broadcast.pk},
        bodies={
            "POST": {"target": f"compound:{s.target.pk}", "text": "矩阵协查"},
            "create": {"text": "矩阵协查", "compound": s.target.pk},
        },
    )


ALERT_OUT = {"GET": 404, "POST": 404, "retrieve": 404}


# Incidents and the safety index (safety/urls.py, safety/api_urls.py): public pages narrowed by
# scope; a snapshot of the target compound (rolled up) and an incident matched to it are made in
# the case's transaction. Import and scope rules are tested in tests/safety/.


def _safety_tags(s: Setting) -> dict[str, int]:
    from events.models import AreaTagged

    return AreaTagged.tags_for(s.target)


def safety_snapshot(s: Setting) -> Made:
    """Today's index of the target compound, rolled up, and a POST body (recompute: none needed)."""
    from decimal import Decimal

    from django.utils import timezone

    from safety.models import CompoundIndexSnapshot
    from safety.snapshots import do_roll_up

    tags, now = _safety_tags(s), datetime.datetime.now(datetime.UTC)
    CompoundIndexSnapshot.objects.create(
        compound=s.target,
        street_id=tags["street_id"],
        district_id=tags["district_id"],
        city_id=tags["city_id"],
        day=timezone.localdate(now),
        score=Decimal("88.50"),
        band="yellow",
        stars=4,
        population=100,
        components={"incidents": {"score": 90.0, "weight": 0.4}},
        computed_at=now,
    )
    do_roll_up(Area.objects.get(pk=tags["city_id"]), timezone.localdate(now), now=now)
    return Made(kwargs={"pk": s.target.pk}, bodies={"POST": {}})


def safety_incident(s: Setting) -> Made:
    """An incident matched to the target compound; a body matching it (again) to that compound."""
    from safety.models import Incident

    tags = _safety_tags(s)
    incident = Incident.objects.create(
        city_id=tags["city_id"],
        district_id=tags["district_id"],
        street_id=tags["street_id"],
        compound=s.target,
        type="public_order",
        occurred_at=datetime.datetime(2026, 11, 20, 6, tzinfo=datetime.UTC),
        place="矩阵路1号",
    )
    return Made(kwargs={"pk": incident.pk}, bodies={"POST": {"compound": s.target.code}})


def safety_new_incident(s: Setting) -> Made:
    body = {"type": "fire", "occurred_at": "2026-11-20 10:00", "place": "矩阵路2号", "status": "open"}
    return Made(bodies={"POST": body | {"compound": s.target.code}})


def safety_import(s: Setting) -> Made:
    text = "接警编号,警情类别,报警时间,发生地址\nM1,治安,2026-11-20 14:03,矩阵路3号\n"
    return Made(bodies={"POST": {"file": SimpleUploadedFile("110.csv", text.encode(), content_type="text/csv")}})


def safety_weights(s: Setting) -> Made:
    """The index weights of the target compound's city (out of scope: a city not the user's)."""
    city = _safety_tags(s)["city_id"]
    weights = {"incidents": "30", "alerts": "30", "disputes": "15.5", "prevention": "24.5"}
    return Made(bodies={"GET": {"city": city}, "POST": {"city": city, **weights}})


def safety_report_request(s: Setting) -> Made:
    """A body asking for the monthly report of the target compound's street (October 2026)."""
    return Made(bodies={"POST": {"area": s.target.street_id, "month": "2026-10"}})


def safety_report(s: Setting) -> Made:
    """A built monthly report of the target compound's street (no snapshots: the empty report)."""
    import datetime as dt

    from safety.models import Report
    from safety.reports import run_report

    report = Report.objects.create(area_id=s.target.street_id, month=dt.date(2026, 10, 1), language="en")
    run_report(report.pk)
    return Made(kwargs={"pk": report.pk})


# Mediation cases (mediation/urls.py, mediation/api_urls.py): a case of the target compound with a
# mediator of its city, a session, an agreement and two attachments, made in the case's
# transaction; the two stored files are written once and kept. Custom API actions (transition,
# extend_deadline, assign/unassign_mediator) are tested in tests/mediation/.


def _mediation_file(s: Setting, suffix: str) -> str:
    import io

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from PIL import Image

    name = f"mediation/{s.target.code}/matrix-seed.{suffix}"
    if not default_storage.exists(name):
        out = io.BytesIO()
        Image.new("RGB", (48, 48), "grey").save(out, format="JPEG")
        default_storage.save(name, ContentFile(b"%PDF-1.4\n%%EOF\n" if suffix == "pdf" else out.getvalue()))
    return name


def _mediation_records(s: Setting) -> dict[str, Any]:
    from mediation.actions import PartyData, do_assign_mediator, do_register_case
    from mediation.models import Agreement, Attachment, Case, MediationSession
    from mediators.models import Mediator

    case, _created = do_register_case(
        acting_user=AnonymousUser(),
        source="walk_in",
        category="neighbour",
        title="矩阵纠纷",
        description="",
        parties=[PartyData(role="applicant", name="矩阵甲"), PartyData(role="respondent", name="矩阵乙")],
    )
    city = Area.objects.get(code=s.target.street.path.split("/")[0])
    mediator = Mediator.objects.create(city=city, name="矩阵调解员", kind="lawyer")
    spare = Mediator.objects.create(city=city, name="矩阵调解员乙", kind="lawyer")
    do_assign_mediator(case, mediator, acting_user=AnonymousUser())
    Case.objects.filter(pk=case.pk).update(status="mediating")
    when = datetime.datetime(2026, 3, 5, 1, 30, tzinfo=datetime.UTC)
    session = MediationSession.objects.create(case=case, scheduled_at=when, place="矩阵调解室")
    agreement = Agreement.objects.create(case=case, terms="矩阵协议", signed_on=datetime.date(2026, 3, 5))
    common = {"case": case, "size": 16}
    photo = Attachment.objects.create(
        **common, kind="photo", name="矩阵.jpg", file=_mediation_file(s, "jpg"), thumbnail=_mediation_file(s, "jpg")
    )
    pdf = Attachment.objects.create(**common, kind="pdf", name="矩阵.pdf", file=_mediation_file(s, "pdf"))
    return {
        "case": case,
        "party": case.parties.first(),
        "mediator": mediator,
        "spare": spare,
        "session": session,
        "agreement": agreement,
        "photo": photo,
        "pdf": pdf,
    }


def _mediation_png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 24), "grey").save(out, format="PNG")
    return out.getvalue()


MEDIATION_INTAKE = {
    "source": "walk_in",
    "category": "neighbour",
    "title": "矩阵新纠纷",
    "risk": "low",
    "parties-0-role": "applicant",
    "parties-0-name": "矩阵丙",
}
MEDIATION_EDIT = {"source": "hotline", "category": "neighbour", "title": "矩阵纠纷", "risk": "low"}


def mediation_page(form: str = "") -> Callable[[Setting], Made]:
    """A case page (``pk`` is the case) with a body that succeeds for the case's ``form``."""

    def make(s: Setting) -> Made:
        r = _mediation_records(s)
        bodies = {
            "edit": MEDIATION_EDIT,
            "transition": {"status": "agreement", "note": "矩阵"},
            "extend": {"days": "5", "reason": "矩阵"},
            "party": {"party-role": "other", "party-name": "矩阵证人"},
            "mediators": {"mediator": str(r["spare"].pk)},
            "unassign": {"mediator": str(r["mediator"].pk)},
            "session": {"scheduled_at": "2026-03-05T09:30", "place": "矩阵调解室"},
            "agreement": {"terms": "矩阵协议", "signed_on": "2026-03-05"},
            "attachment": {"file": SimpleUploadedFile("矩阵.png", _mediation_png(), "image/png")},
        }
        return Made(kwargs={"pk": r["case"].pk}, bodies={"POST": bodies.get(form, {})})

    return make


def mediation_record(key: str) -> Callable[[Setting], Made]:
    """A page or endpoint whose ``pk`` is one of the case's records (a party, session, attachment …)."""

    def make(s: Setting) -> Made:
        r = _mediation_records(s)
        session_body = {"scheduled_at": "2026-03-05T09:30", "place": "矩阵调解室", "held": "on"}
        return Made(
            kwargs={"pk": r[key].pk},
            bodies={"POST": session_body if key == "session" else {}, "partial_update": {"held": True}},
        )

    return make


def mediation_api(s: Setting) -> Made:
    """The mediation API's list endpoints: a body that creates one record of each."""
    import base64

    r = _mediation_records(s)
    case = r["case"].pk
    return Made(
        bodies={
            "create": {
                "client_key": None,
                "category": "neighbour",
                "title": "矩阵新纠纷",
                "parties": [{"role": "applicant", "name": "矩阵丙"}],
                "case": case,
                "role": "other",
                "name": "矩阵证人",
                "scheduled_at": "2026-03-05T09:30:00+08:00",
                "place": "矩阵调解室",
                "terms": "矩阵协议",
                "signed_on": "2026-03-05",
                "file": base64.b64encode(_mediation_png()).decode(),
            }
        }
    )


def mediation_api_detail(key: str) -> Callable[[Setting], Made]:
    def make(s: Setting) -> Made:
        r = _mediation_records(s)
        partial = {"place": "矩阵调解室"} if key == "case" else {"held": True}
        return Made(kwargs={"pk": r[key].pk}, bodies={"partial_update": partial})

    return make


SEEDS: dict[str, Seed] = {
    # Public pages.
    "home": Seed(),
    "compounds": Seed(),
    "login": Seed(login_page, ok={"GET": 302, "POST": 302}, ok_anonymous={"GET": 200}),
    "logout": Seed(),
    "set_language": Seed(set_language_page, ok={"GET": 302}),
    "healthz": Seed(),
    "schema": Seed(),
    "api-docs": Seed(),
    "audit-log": Seed(audit_row),
    "audit-export": Seed(audit_row, variants=_audit_export_formats(), ok={"POST": 200}),
    "role-list": Seed(held_role, out={"POST": 422}),  # the form says "no such node in your part"
    "role-revoke": Seed(held_role, out={"POST": 404}),
    # Public API.
    "api-root": Seed(),
    "area-list": Seed(area_of_target),
    "area-detail": Seed(area_of_target, out={"retrieve": 404}),
    "compound-list": Seed(target_compound),
    "compound-detail": Seed(target_compound, out={"retrieve": 404}),
    "roleassignment-list": Seed(held_role, out={"create": 404}),
    "roleassignment-detail": Seed(held_role, out={"retrieve": 404, "destroy": 404}),
    "audit-entry-list": Seed(audit_row),
    "audit-entry-detail": Seed(audit_row, out={"retrieve": 404}),
    # Compound pages.
    "registry:overview": Seed(),
    "registry:addresses": Seed(address_page),
    "registry:address": Seed(address_page),
    "registry:plate": Seed(address_page, variants=({"fmt": "svg"}, {"fmt": "png"})),
    "registry:plates": Seed(address_page),
    "registry:import": Seed(import_page),
    "registry:import_status": Seed(import_page),
    "registry:import_errors": Seed(import_page),
    "registry:template": Seed(variants=EXCEL_KINDS),
    "registry:export": Seed(export_page, variants=EXPORT_KINDS, ok={"POST": 200}),
    "registry:list": Seed(variants=RECORD_KINDS),
    "registry:create": Seed(create_page, variants=RECORD_KINDS),
    "registry:record": Seed(record_page, variants=RECORD_KINDS),
    "registry:edit": Seed(record_page, variants=RECORD_KINDS),
    "registry:delete": Seed(record_page, variants=RECORD_KINDS),
    # Alerts (public pages and API, narrowed by scope; the lifecycle actions of the API are
    # tested in tests/alerts/test_lifecycle.py).
    "alerts:panel": Seed(),
    "alerts:mine": Seed(),
    "alerts:row": Seed(alert_seed, out=ALERT_OUT),
    "alerts:alert": Seed(alert_seed, out=ALERT_OUT),
    "alerts:acknowledge": Seed(alert_seed, out=ALERT_OUT),
    "alerts:dispatch": Seed(alert_seed, out=ALERT_OUT),
    "alerts:resolve": Seed(alert_seed, out=ALERT_OUT),
    "alerts:false_alarm": Seed(alert_seed, out=ALERT_OUT),
    "alerts:snapshot": Seed(alert_seed, out=ALERT_OUT),
    "alerts:settings_index": Seed(),
    "alerts:settings": Seed(alert_settings_seed, out=ALERT_OUT),
    "alerts:broadcasts": Seed(),
    "alerts:broadcast_create": Seed(broadcast_seed, out={"POST": 422}),  # the form: not a place the user covers
    "alerts:broadcast": Seed(broadcast_seed, out=ALERT_OUT),
    "alerts:broadcast_photo": Seed(broadcast_seed, out=ALERT_OUT),
    "alerts-api:alert-list": Seed(),
    "alerts-api:alert-detail": Seed(alert_seed, out=ALERT_OUT),
    "alerts-api:alert-assignees": Seed(alert_seed),
    "alerts-api:alert-acknowledge": Seed(alert_seed),
    "alerts-api:alert-dispatch": Seed(alert_seed),
    "alerts-api:alert-resolve": Seed(alert_seed),
    "alerts-api:alert-false-alarm": Seed(alert_seed),
    "alerts-api:broadcast-list": Seed(broadcast_seed, out={"create": 400}),
    "alerts-api:broadcast-detail": Seed(broadcast_seed, out=ALERT_OUT),
    # Incidents and the safety index (public pages and the dashboard data endpoint).
    "safety:dashboard": Seed(safety_snapshot),
    "safety:compound_index": Seed(safety_snapshot, out={"GET": 404, "POST": 404}),
    "safety:incidents": Seed(safety_incident),
    "safety:incident_create": Seed(safety_new_incident, out={"POST": 422}),  # the form: not a compound of theirs
    "safety:incident_import": Seed(safety_import, ok={"POST": 200}),  # the row report
    "safety:unassigned": Seed(safety_incident),
    "safety:assign": Seed(safety_incident, out={"POST": 404}),
    "safety-api:dashboard": Seed(safety_snapshot),
    "safety:reports": Seed(safety_report_request, out={"POST": 422}),  # the form: not a street of theirs
    "safety:report": Seed(safety_report, out={"GET": 404}),
    "safety:report_download": Seed(safety_report, out={"GET": 404}),
    "safety:report_print": Seed(safety_report, out={"GET": 404}),
    "safety:index_settings": Seed(safety_weights, out={"GET": 404, "POST": 404}),  # the far city is not theirs
    "safety-api:map": Seed(safety_snapshot),
    # The city watch-list (public, scoped by city) and batch ID screening (compound pages).
    "watchlist:list": Seed(),
    "watchlist:create": Seed(watch_new, out={"POST": 422}),  # the form: not a city the user keeps
    "watchlist:entry": Seed(watch_entry, out=WATCH_OUT),
    "watchlist:edit": Seed(watch_edit, out=WATCH_OUT),
    "watchlist:end": Seed(watch_entry, out=WATCH_OUT),
    "watchlist:add_face": Seed(watch_add_face, out=WATCH_OUT),
    "watchlist:face_photo": Seed(watch_face, out=WATCH_OUT),
    "watchlist:remove_face": Seed(watch_face, out=WATCH_OUT),
    "watchlist-api:entry-list": Seed(watch_new, out={"create": 400}),
    "watchlist-api:entry-detail": Seed(watch_entry, out=WATCH_OUT),
    # Custom actions (faces, end) are tested in tests/access/test_watchlist.py.
    "watchlist-api:entry-faces": Seed(watch_entry),
    "watchlist-api:entry-end": Seed(watch_entry),
    "watchlist-api:entry-remove-face": Seed(watch_entry, variants=({"face_id": "1"},)),
    # The mediator roster (public, scoped by city), mediation statistics, the officer's app (issue #11).
    "mediators:list": Seed(),
    "mediators:create": Seed(mediator_new, out={"POST": 422}),  # the form: not a city the user keeps
    "mediators:edit": Seed(mediator_seed, out={"GET": 404, "POST": 404}),
    "mediators:deactivate": Seed(mediator_seed, out={"POST": 404}),
    "mediators-api:mediator-list": Seed(mediator_new, out={"create": 400}),
    "mediators-api:mediator-detail": Seed(mediator_seed, out=WATCH_OUT),
    "mediators-api:mediator-deactivate": Seed(mediator_seed),
    "mediation-stats:index": Seed(),
    "mediation-stats:export": Seed(),
    "service-worker": Seed(),
    "web-manifest": Seed(),
    "access:screening": Seed(screening_batch),
    "access:screening_status": Seed(screening_batch),
    # Access staff pages (access.view to read devices; access.devices, access.enrol to write).
    "access:devices": Seed(),
    "access:device_state": Seed(),
    "access:device_create": Seed(access_device, ok={"POST": 200}),  # the credential, shown once
    "access:device": Seed(access_device),
    "access:device_edit": Seed(access_device),
    "access:device_status": Seed(access_device_status),
    "access:device_revoke": Seed(access_device),
    "access:device_rotate": Seed(access_device, ok={"POST": 200}),  # the new credential, shown once
    "access:person": Seed(access_person),
    "access:consent_record": Seed(access_person),
    "access:card_add": Seed(access_person),
    "access:consent_withdraw": Seed(access_consented),
    "access:face_enrol": Seed(access_consented),
    "access:consent_document": Seed(access_record("consent")),
    "access:face_photo": Seed(access_record("face")),
    "access:face_remove": Seed(access_record("face")),
    "access:card_remove": Seed(access_record("card")),
    # Access staff API (custom actions revoke/rotate/withdraw are tested in tests/access/test_staff_api.py).
    **{f"access-staff-api:{name}-list": Seed(access_record(name)) for name in ("device", "consent", "card")},
    **{f"access-staff-api:{name}-detail": Seed(access_record(name)) for name in ("device", "consent", "face", "card")},
    "access-staff-api:face-list": Seed(access_consented),
    "access-staff-api:device-revoke": Seed(access_device),
    "access-staff-api:device-rotate": Seed(access_device),
    "access-staff-api:consent-withdraw": Seed(access_record("consent")),
    # Compound API.
    "registry-api:api-root": Seed(),
    **{f"registry-api:{basename}-list": Seed(api_list(kind)) for basename, kind in API_KINDS.items()},
    **{f"registry-api:{basename}-detail": Seed(api_detail(kind)) for basename, kind in API_KINDS.items()},
    # Device API (access/urls_device.py): device credentials only; every user actor gets 401.
    "device-heartbeat": Seed(),
    "device-decide-face": Seed(),
    "device-decide-card": Seed(),
    "device-decide-plate": Seed(),
    "device-verify-identity": Seed(),
    "device-readings": Seed(),
    # Visitors and passages: pages, API (its revoke action is tested in tests/access/test_visitors.py), devices.
    "access:visitor_passes": Seed(passes_page, ok={"POST": 200}),  # the QR code and PIN, shown once
    "access:visitor_pass_revoke": Seed(passes_page),
    "access:remote_open": Seed(passes_remote),
    "access:event_log": Seed(),
    "access:pass_search": Seed(),
    "access:event_snapshot": Seed(passes_event),
    "access-passes-api:event-list": Seed(),
    "access-passes-api:event-detail": Seed(passes_event),
    "access-passes-api:visitor-pass-list": Seed(passes_page),
    "access-passes-api:visitor-pass-detail": Seed(passes_page),
    "access-passes-api:visitor-pass-revoke": Seed(passes_page),
    "access-passes-api:remote-open-list": Seed(passes_remote),
    "device-pass-decision": Seed(),
    "device-commands": Seed(),
    # Mediation pages and API (mediation/urls.py, mediation/api_urls.py).
    "mediation:case_list": Seed(),
    "mediation:case_new": Seed(lambda s: Made(bodies={"POST": MEDIATION_INTAKE})),
    "mediation:party_fieldset": Seed(),
    "mediation:person_search": Seed(),
    "mediation:case": Seed(mediation_page()),
    "mediation:case_edit": Seed(mediation_page("edit")),
    "mediation:case_transition": Seed(mediation_page("transition")),
    "mediation:case_extend": Seed(mediation_page("extend")),
    "mediation:party_add": Seed(mediation_page("party")),
    "mediation:case_mediators": Seed(mediation_page("mediators")),
    "mediation:mediator_unassign": Seed(mediation_page("unassign")),
    "mediation:session_add": Seed(mediation_page("session")),
    "mediation:agreement_add": Seed(mediation_page("agreement")),
    "mediation:attachment_add": Seed(mediation_page("attachment")),
    "mediation:party_remove": Seed(mediation_record("party")),
    "mediation:session": Seed(mediation_record("session")),
    "mediation:attachment_remove": Seed(mediation_record("photo")),
    "mediation:attachment_file": Seed(mediation_record("pdf")),
    "mediation:attachment_thumb": Seed(mediation_record("photo")),
    "mediation-api:api-root": Seed(),
    **{f"mediation-api:{name}-list": Seed(mediation_api) for name in ("case", "party", "session", "agreement")},
    "mediation-api:attachment-list": Seed(mediation_api),
    **{
        f"mediation-api:{name}-detail": Seed(mediation_api_detail(key))
        for name, key in (("case", "case"), ("party", "party"), ("session", "session"), ("agreement", "agreement"))
    },
    "mediation-api:attachment-detail": Seed(mediation_api_detail("photo")),
    **{
        f"mediation-api:case-{name}": Seed()
        for name in ("transition", "extend-deadline", "assign-mediator", "unassign-mediator")
    },
}

# Arguments the seeds supply at run time (``pk``), or the matrix itself: stand-ins for reverse().
PLACEHOLDERS = {"compound": CODE_A, "pk": "1", "format": "json"}


# --- Cases --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One method (page) or action (viewset) of one URL pattern, with one set of URL arguments."""

    route: Route
    method: str
    action: str | None
    variant: tuple[tuple[str, str], ...]
    need: Need | None  # None: undeclared, refused
    path: str  # the URL with stand-in arguments: decides page or API as the middleware does

    @property
    def key(self) -> str:
        """The seed's and the declaration's key: the viewset action, else the HTTP method."""
        return self.action or self.method

    @property
    def in_compound(self) -> bool:
        return "compound" in self.route.params

    @property
    def is_api(self) -> bool:
        return bool(API_PATH.match(self.path))

    def __str__(self) -> str:
        variant = "".join(f"({value})" for _name, value in self.variant)
        return f"{self.route.label}{variant}-{self.key}"


def stand_in_path(route: Route, variant: dict[str, str]) -> str | None:
    """The route's URL with stand-in arguments, if reverse() reaches this very pattern with them."""
    kwargs = {name: value for name, value in PLACEHOLDERS.items() if name in route.params} | variant
    try:
        path = reverse(route.name, kwargs=kwargs)
    except NoReverseMatch:
        return None
    return path if resolve(path).route == route.route else None


def build() -> tuple[list[Case], list[str]]:
    """The matrix's cases, and what keeps an endpoint out of it (one message per endpoint)."""
    cases: list[Case] = []
    problems: list[str] = []
    for route in walk():
        declared, _actions = declaration_of(route.callback)
        if declared is None:
            problems.append(f"new endpoint {route.name} ({route.route}) has no permission declaration")
        seed = SEEDS.get(route.name)
        if seed is None:
            problems.append(f"no matrix seed for {route.name} ({route.route})")
            continue
        for variant in seed.variants:
            path = stand_in_path(route, variant)
            if path is None:
                problems.append(f"matrix seed for {route.name} ({route.route}) does not supply its URL arguments")
                continue
            for method, action in operations(route):
                need = declared_need(route.callback, method)
                cases.append(Case(route, method, action, tuple(variant.items()), need, path))
    return cases, problems


CASES = build()[0]
PAGE_CASES = [case for case in CASES if not case.is_api]
API_CASES = [case for case in CASES if case.is_api]


def expected_status(case: Case, actor: str, scope: str) -> int:
    """The rule of the module docstring, from the declaration and the roles' capabilities."""
    seed = SEEDS[case.route.name]
    need = case.need
    if actor != ANONYMOUS and case.in_compound and scope == OUT:
        return 404  # the compound middleware, before the view or its declaration
    if need is None:
        return 403
    if need.device:
        return 401  # a device's own credential; no session passes, a superuser's neither
    if actor == ANONYMOUS:
        if need.anonymous:
            return seed.ok_anonymous.get(case.key, seed.ok.get(case.key, SUCCESS[case.key]))
        return 403 if case.is_api else 302
    caps = ALL_CAPABILITIES if actor == SUPERUSER else ROLE_CAPABILITIES[actor]
    if need.capability is not None and need.capability not in caps:
        return 403
    if scope == OUT and case.key in seed.out:
        return seed.out[case.key]
    return seed.ok.get(case.key, SUCCESS[case.key])


def matrix(cases: list[Case]) -> list[tuple[Case, str, str, int]]:
    return [(case, actor, scope, expected_status(case, actor, scope)) for case in cases for actor, scope in ACTORS]


def ids(rows: list[tuple[Case, str, str, int]]) -> list[str]:
    return [f"{case}-{actor}-{scope}" for case, actor, scope, _status in rows]


# --- Running a case ------------------------------------------------------------------------------


def compound(code: str) -> Compound:
    return Compound.objects.select_related("street").get(code=code)


def cached_compound(world: World, code: str) -> Compound:
    """The compound as loaded when the world was built (it does not change during the module)."""
    return world.records[code].compound


def run_case(client: Any, world: World, case: Case, actor: str, scope: str, status: int) -> None:
    """Seed, request and check one case: its status, and that nothing foreign leaked."""
    target = cached_compound(world, CODE_A if scope == IN else outside(actor))
    # The compound whose data must never appear: the target itself when it is out of scope,
    # else compound B (from compound A's URLs, B's rows are foreign even to the city).
    foreign = target if scope == OUT else cached_compound(world, CODE_B)
    setting = Setting(target=target, records=world.records[target.code], world=world, variant=dict(case.variant))
    seed = SEEDS[case.route.name]
    if case.in_compound:
        with tenant_context(target):
            made = seed.make(setting)
    else:
        made = seed.make(setting)
    kwargs = {name: value for name, value in PLACEHOLDERS.items() if name in case.route.params}
    kwargs |= setting.variant | {name: value for name, value in made.kwargs.items() if name in case.route.params}
    if case.in_compound:
        kwargs["compound"] = target.code
    url = reverse(case.route.name, kwargs=kwargs)
    assert resolve(url).route == case.route.route, f"{url} does not reach {case.route.route}"

    client.cookies = SimpleCookie()  # the client serves the whole module
    if actor != ANONYMOUS:
        client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[actor]
    body = made.bodies.get(case.key)
    if case.method == "GET":
        response = client.get(url, body or {})
    elif case.is_api:
        payload = json.dumps(body) if body is not None else ""
        response = client.generic(case.method, url, payload, content_type="application/json")
    else:
        response = client.post(url, body or {})

    assert response.status_code == status, f"{case.method} {url}: {response.content[:500]!r}"
    if status == 302 and actor == ANONYMOUS and not (case.need and case.need.anonymous):
        assert response["Location"].startswith("/login/?next="), response["Location"]
    # File views stream (FileResponse): their bytes are searched like any page's.
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    content = raw.decode(errors="replace")
    forbidden = list(RESIDENTS[foreign.code])
    if scope == OUT and actor != ANONYMOUS:
        forbidden += [foreign.name, foreign.street.name]
    leaked = [text for text in forbidden if text in content]
    assert not leaked, f"{case.method} {url} leaked {leaked}"
