"""The OpenAPI schema's one place for what every endpoint shares (STYLE.md §4: errors included).

``AutoSchema`` (``DEFAULT_SCHEMA_CLASS``) documents the errors an operation can answer, from
what the operation is rather than endpoint by endpoint: 400 where it reads a body or query
parameters, 415 where it reads a body, 403 unless it is public, 404 where its path names a
record or a compound, 429 where a per-user limit may apply. It also carries the bounds of the
filters' form fields (a search of at most 100 characters, never a NUL) into the schema, so that
the schema says what the server refuses. ``form_parameters`` does the same for a Django form
read from the query string.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from drf_spectacular import openapi
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.permissions import AllowAny
from rest_framework.settings import api_settings

ERROR_DETAIL = {
    "type": "object",
    "properties": {"detail": {"type": "string", "description": "What went wrong, in the request's language."}},
    "required": ["detail"],
}
VALIDATION_ERRORS = {
    "description": (
        'Messages in the request\'s language: by field name (`{"id_number": ["…"]}`), `non_field_errors` '
        "for the record as a whole, or `detail` for a body that could not be read; a list field's "
        "messages are keyed by the item's index. A refused `search` answers a bare list of messages."
    ),
    "anyOf": [
        {
            "type": "object",
            "properties": {
                "detail": {"type": "string"},
                "non_field_errors": {"type": "array", "items": {"type": "string"}},
            },
            "additionalProperties": {
                "anyOf": [
                    {"type": "array", "items": {"type": "string"}},
                    {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
                ]
            },
        },
        {"type": "array", "items": {"type": "string"}},
    ],
}

ERRORS: dict[str, tuple[str, dict[str, Any], str]] = {
    "400": (
        "ValidationErrors",
        VALIDATION_ERRORS,
        "Refused input: a field or query parameter that is invalid or out of range, or a body that is not "
        "JSON, larger than 1 MB or nested deeper than 32 levels.",
    ),
    "403": (
        "ErrorDetail",
        ERROR_DETAIL,
        "Not signed in, or no role here that allows this.",
    ),
    "404": (
        "ErrorDetail",
        ERROR_DETAIL,
        "No such record, or the compound is unknown or outside the user's scope (the two answer alike).",
    ),
    "415": (
        "ErrorDetail",
        ERROR_DETAIL,
        "The body is not in a media type the API reads (send application/json).",
    ),
    "429": (
        "ErrorDetail",
        ERROR_DETAIL,
        "Too many requests of this kind from this user; try again later.",
    ),
}

NO_NUL = "^[^\\x00]*$"
RETRY_AFTER = {"schema": {"type": "integer", "minimum": 0}, "description": "Seconds until the limit lifts."}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema with the error responses and filter bounds of every operation."""

    def error_codes(self) -> list[str]:
        """The error statuses this operation can answer (an ``extend_schema`` response for one wins)."""
        codes = []
        if self.method in ("POST", "PUT", "PATCH"):
            codes += ["400", "415"]
        elif self._is_list_view():
            codes.append("400")
        if not self.is_public():
            codes += ["403", "429"]
        if "{" in self.path:
            codes.append("404")
        return sorted(codes)

    def is_public(self) -> bool:
        """Anonymous requests allowed: every permission class is ``AllowAny``, or the declaration is public."""
        classes = getattr(self.view, "permission_classes", [])
        if classes and all(issubclass(cls, AllowAny) for cls in classes):
            return True
        declared = getattr(self.view, "permissions", None) or {}
        required = declared.get(getattr(self.view, "action", None) or self.method)
        return bool(required is not None and required.anonymous)

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        for code in self.error_codes():
            name, schema, description = ERRORS[code]
            component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, schema=schema, object=name)
            self.registry.register_on_missing(component)
            error = self._get_response_for_code(
                OpenApiResponse(response=component.ref, description=description), code, direction=direction
            )
            if code == "429":
                error["headers"] = {"Retry-After": RETRY_AFTER}
            # An endpoint's own description of the error is kept; the body is the same everywhere.
            responses.setdefault(code, error).setdefault("content", error["content"])
        return responses

    def _get_filter_parameters(self) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super()._get_filter_parameters()
        filterset_class = getattr(self.view, "filterset_class", None)
        filters = getattr(filterset_class, "base_filters", {})
        for parameter in parameters:
            if parameter["name"] == api_settings.SEARCH_PARAM:
                parameter["schema"]["pattern"] = NO_NUL  # DRF's SearchFilter refuses it
            if parameter["name"] not in filters:
                continue
            field, schema = filters[parameter["name"]].field, parameter["schema"]
            schema.update(field_bounds(field))
            # django-filter reads an empty value as no filter (``?tag=`` lists everything).
            if "enum" in schema and not field.required and "" not in schema["enum"]:
                schema["enum"] = [*schema["enum"], ""]
        return parameters


def field_bounds(field: forms.Field) -> dict[str, Any]:
    """The JSON-schema bounds of a form field: lengths of text (never a NUL), the range of a number."""
    bounds: dict[str, Any] = {}
    if isinstance(field, forms.CharField):
        bounds["pattern"] = NO_NUL  # Django's text fields refuse it (ProhibitNullCharactersValidator)
    for attribute, keyword in (
        ("max_length", "maxLength"),
        ("min_length", "minLength"),
        ("min_value", "minimum"),
        ("max_value", "maximum"),
    ):
        value = getattr(field, attribute, None)
        if value is not None:
            bounds[keyword] = value
    return bounds


def field_schema(field: forms.Field) -> dict[str, Any]:
    """A form field read from the query string, as the schema of a query parameter.

    An optional field left empty (``?date_to=``) is no filter, as on the page's form.
    """
    if isinstance(field, forms.ChoiceField):
        choices: Iterable[tuple[Any, Any]] = field.choices  # type: ignore[assignment]  # a form field's: pairs
        return {"type": "string", "enum": [str(value) for value, _label in choices]}
    if isinstance(field, forms.DateField):
        schema = {"type": "string", "format": "date"}
    elif isinstance(field, forms.IntegerField):
        schema = {"type": "integer", **field_bounds(field)}
    else:
        return {"type": "string", **field_bounds(field)}
    return schema if field.required else {"anyOf": [schema, {"type": "string", "maxLength": 0}]}


def form_parameters(form_class: type[forms.Form], descriptions: dict[str, str]) -> list[OpenApiParameter]:
    """The query parameters of a filter form, typed and bounded as the form validates them."""
    return [
        OpenApiParameter(name, field_schema(field), description=descriptions.get(name, str(field.help_text)))
        for name, field in form_class.base_fields.items()
    ]
