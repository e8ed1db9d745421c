"""Schema fuzzing: every operation of the OpenAPI schema, as two users, against the app in process.

schemathesis reads ``/api/schema/`` from the app itself and sends each operation generated
requests (the examples, coverage and fuzzing phases, valid and invalid data) through Django's
WSGI handler, in this test's database transaction: whatever the fuzzer writes is rolled back
with the test. Every response is validated with all of schemathesis's checks: no 5xx, status
codes, content types, headers and bodies as documented, invalid input refused, valid input
accepted. Two users: a superuser (sees identifiers unmasked) and property staff of compound A
(sees them masked, may not read the audit log or hand out roles). The run is deterministic (a
fixed seed, derandomized) and bounded: the coverage phase's boundary and type cases for every
parameter and property, then ``MAX_EXAMPLES`` random ones per operation. The number of cases
sent is printed at the end of the session (``tests/api/conftest.py``).
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from django_tenants.utils import tenant_context
from hypothesis import HealthCheck, settings

from tests.api.conftest import FUZZ_CASES
from tests.conftest import CODE_A

# Explicit primary key of one seeded record of each registry kind: the compound's {id} path
# parameters are fixed to it, so that reads, updates and deletes reach a real record.
SEED_ID = 424242
MAX_EXAMPLES = 10


class InProcessApp(WSGIHandler):
    """Django's WSGI handler as the test client runs it: one connection, no CSRF check.

    Django closes the database connection at the start and end of each request; here that
    connection holds the test's transaction, so it must stay open (as in ``django.test.Client``).
    CSRF is the browser's concern and tested with the pages; the fuzzer signs in by cookie.
    """

    def get_response(self, request: Any) -> Any:
        request._dont_enforce_csrf_checks = True
        return super().get_response(request)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            response = super().__call__(environ, start_response)
            try:
                return [b"".join(response)]
            finally:
                response.close()
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)


# The session key each user signs in with: the fuzzer knows it as the API's cookie credential, so
# its ``ignored_auth`` check repeats each successful request without it and with a wrong one,
# and expects both refused.
SESSION_KEYS = {"superuser": "fuzzsuperuser0000000000000000001", "property staff": "fuzzpropertystaff000000000000001"}


PERSONS = "/c/{compound}/api/registry/persons/"
ACCEPTED = ["2xx", "401", "403", "404", "409", "429"]
WRITES = {"expected-statuses": [*ACCEPTED, "400"]}


def load_schema(user: str) -> Any:
    """The app's schema as ``user`` fuzzes it: deterministic, bounded, all checks."""
    config = schemathesis.Config.from_dict(
        {
            "seed": 20260407,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            "auth": {"openapi": {"cookieAuth": {"api_key": SESSION_KEYS[user]}}},
            # The compound the users work in; another compound's 404 is tested with the middleware.
            "parameters": {"path.compound": CODE_A},
            "operations": [
                {"include-path-regex": "^/c/", "parameters": {"path.id": SEED_ID}},
                # Valid by the schema yet refused by a rule no JSON schema states (an ID number's
                # check digit, a duplicate, a lease ending before it starts, a house at a room
                # address, an audit search from a date after its end): these may answer 400.
                {"include-method": ["POST", "PUT", "PATCH"], "checks": {"positive_data_acceptance": WRITES}},
                {"include-name": "GET /api/audit/", "checks": {"positive_data_acceptance": WRITES}},
                # An event search reads at most 92 days, from 2000 on, its start before its end.
                {
                    "include-name": "GET /c/{compound}/api/access/events/",
                    "checks": {"positive_data_acceptance": WRITES},
                },
                # The key-person tag is police information: other roles may not filter by it.
                *(
                    [{"include-name": f"GET {PERSONS}", "checks": {"positive_data_acceptance": WRITES}}]
                    if user == "property staff"
                    else []
                ),
            ],
            # Everything else must accept what it documents (429: a lookup limit may be reached).
            "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}},
        }
    )
    return schemathesis.openapi.from_wsgi("/api/schema/", InProcessApp(), config=config)


superuser_schema = load_schema("superuser")
property_staff_schema = load_schema("property staff")


def seed_compound_a() -> None:
    """One record of each kind at ``SEED_ID`` in compound A (run inside its schema)."""
    from registry import actions
    from registry.models import Address, House, Lease, Organisation, Person, Vehicle
    from tests.factories import AddressPathFactory, make_id_number, make_uscc

    room = AddressPathFactory("8", "1", "2", "201")
    Address.objects.filter(pk=room.pk).update(id=SEED_ID)
    house = actions.do_save_house(House(pk=SEED_ID, address_id=SEED_ID, owner_phone="13912345678"))
    person = actions.do_save_person(
        Person(pk=SEED_ID, name="种子", id_number=make_id_number(seq=420), phone="13800001111", house=house)
    )
    actions.do_save_person(Person(name="护照", id_type="passport", id_number="E12345678"))
    actions.do_save_lease(Lease(pk=SEED_ID, house=house, tenant=person, start_date=datetime.date(2024, 1, 1)))
    actions.do_save_organisation(
        Organisation(pk=SEED_ID, name="种子超市", uscc=make_uscc(420), contact_phone="053188886666")
    )
    actions.do_save_vehicle(Vehicle(pk=SEED_ID, plate="鲁A42424", owner=person))


@pytest.fixture
def signed_in(compound_a: Any) -> Any:
    """A function that seeds compound A and signs a new user in under the session key the fuzzer sends."""
    from django.contrib.auth.models import AnonymousUser
    from django.contrib.sessions.models import Session

    from district.audit import do_record_audit
    from district.models import AuditAction
    from tests.factories import RoleFactory

    with tenant_context(compound_a):
        seed_compound_a()
    # An audit row that names no compound, as a role granted at a district writes.
    do_record_audit(AnonymousUser(), AuditAction.ASSIGN_ROLE, object_type="district.roleassignment", object_ids=[1])

    def sign_in(user: str) -> str:
        # No password: hashing one (PBKDF2) would cost more than a dozen of the fuzzer's requests.
        username = f"fuzz-{user.replace(' ', '-')}"
        account = get_user_model().objects.create(username=username, is_superuser=user == "superuser")
        if user == "property staff":
            RoleFactory(user=account, role="property_staff", compound=compound_a)
        client = Client()
        client.force_login(account)
        Session.objects.filter(session_key=client.session.session_key).update(session_key=SESSION_KEYS[user])
        return user

    return sign_in


def run_case(case: Any, request: pytest.FixtureRequest, user: str) -> None:
    request.config.stash[FUZZ_CASES][user] += 1
    case.call_and_validate()


FUZZ_SETTINGS = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture
def as_superuser(signed_in: Any) -> str:
    return signed_in("superuser")


@pytest.fixture
def as_property_staff(signed_in: Any) -> str:
    return signed_in("property staff")


@superuser_schema.parametrize()
@FUZZ_SETTINGS
def test_as_superuser(case: Any, as_superuser: str, request: pytest.FixtureRequest) -> None:
    run_case(case, request, as_superuser)


@property_staff_schema.parametrize()
@FUZZ_SETTINGS
def test_as_property_staff(case: Any, as_property_staff: str, request: pytest.FixtureRequest) -> None:
    run_case(case, request, as_property_staff)
