"""The OpenAPI schema says what the API answers: masked values, blanks, nulls, bounds and errors (issue #7).

The fuzzer (test_schemathesis.py) checks responses against the schema; these tests pin the
statements it relies on, so that a change to the schema generation shows here by name.
"""

from __future__ import annotations

import pytest

WRITES = {"post", "put", "patch"}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        return Client().get("/api/schema/", HTTP_ACCEPT="application/json").json()


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, operation


def test_a_masked_birth_date_is_a_string_of_its_mask_not_a_date(schema):
    birth_date = schema["components"]["schemas"]["Person"]["properties"]["birth_date"]
    assert "format" not in birth_date
    assert birth_date["nullable"] is True
    assert birth_date["pattern"] == r"^[0-9]{4}-([0-9]{2}-[0-9]{2}|\*\*-\*\*)$"


def test_an_unknown_sex_is_documented_as_blank(schema):
    sex = schema["components"]["schemas"]["Person"]["properties"]["sex"]
    assert {"$ref": "#/components/schemas/BlankEnum"} in sex["oneOf"]


def test_audit_rows_without_a_compound_are_documented(schema):
    properties = schema["components"]["schemas"]["AuditEntry"]["properties"]
    assert properties["compound_code"]["nullable"] is True
    assert properties["compound_name"]["nullable"] is True


def test_query_parameters_carry_their_bounds(schema):
    persons = {
        p["name"]: p["schema"] for p in schema["paths"]["/c/{compound}/api/registry/persons/"]["get"]["parameters"]
    }
    assert (persons["limit"]["minimum"], persons["limit"]["maximum"]) == (1, 1000)
    assert persons["offset"]["minimum"] == 0
    assert persons["q"]["maxLength"] == 100
    assert "" in persons["tag"]["enum"]  # no filter
    audit = {p["name"]: p["schema"] for p in schema["paths"]["/api/audit/"]["get"]["parameters"]}
    assert audit["record"]["anyOf"][0]["maximum"] == 2**63 - 1
    assert audit["user"]["maxLength"] == 150


def test_every_operation_documents_its_errors(schema):
    for path, method, operation in operations(schema):
        codes = set(operation["responses"])
        public = path == "/healthz"
        expected = set()
        if not public:
            expected |= {"403", "429"}
        if method in WRITES:
            expected |= {"400", "415"}
        if method == "get" and "{id}" not in path and not public:
            expected.add("400")  # pagination and filters
        if "{" in path:
            expected.add("404")
        assert expected <= codes, (method, path, codes)
        for code in expected:
            assert operation["responses"][code]["content"]["application/json"]["schema"], (method, path, code)


# Endpoints that take a photo: the device API's captures (a gate posts the JPEG it took).
# File uploads: a gate's capture, a real-name check, a case's attachment (photo or PDF).
MULTIPART = {
    ("post", "/api/device/v1/decisions/face/"),
    ("post", "/api/device/v1/verify/identity/"),
}
# Uploads that also take the file base64-encoded in JSON (phones posting from a script).
MULTIPART_OR_JSON = {("post", "/c/{compound}/api/mediation/attachments/")}


def test_request_bodies_are_json(schema):
    for path, method, operation in operations(schema):
        if "requestBody" in operation:
            if (method, path) in MULTIPART_OR_JSON:
                expected = {"multipart/form-data", "application/json"}
            elif (method, path) in MULTIPART:
                expected = {"multipart/form-data"}
            else:
                expected = {"application/json"}
            assert set(operation["requestBody"]["content"]) == expected, (method, path)
