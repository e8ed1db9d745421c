"""The API's one permission boundary and its write path (STYLE.md §3, §4).

Compound endpoints: the middleware has already chosen the schema and checked the scope, so
a request that reaches a ``CompoundViewSet`` is in scope; without a compound (an anonymous
request has no schema) it answers 404 after DRF's own 403. Public endpoints narrow their
queryset by the user's scope in ``get_queryset``. What each action needs is declared on the
viewset and checked by ``DeclaredPermission``, the default permission class.
"""

from __future__ import annotations

import copy
from collections.abc import MutableMapping
from typing import Any, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.http import Http404
from rest_framework import exceptions, routers, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from district.api.fields import STRICT_FIELD_MAPPING
from district.permissions import SIGNED_IN, Need
from district.probes import ProbeLimitError
from tenants.models import Compound


class ProbeLimited(exceptions.APIException):
    """429: whole-identifier lookups refused for this user for now (``district.probes``)."""

    status_code = 429
    default_code = "identifier_lookups_limited"

    def __init__(self, refused: ProbeLimitError) -> None:
        super().__init__(refused.message)
        self.wait = refused.retry_after  # DRF's exception handler sends it as Retry-After


def as_drf_error(exc: DjangoValidationError) -> serializers.ValidationError:
    """A model ValidationError as DRF's 400 body, field by field."""
    if not hasattr(exc, "error_dict"):
        return serializers.ValidationError({"non_field_errors": exc.messages})
    return serializers.ValidationError(
        {("non_field_errors" if k == "__all__" else k): v for k, v in exc.message_dict.items()}
    )


class ModelCleanSerializer(serializers.ModelSerializer[models.Model]):
    """Validates with the model's ``full_clean`` (field validators, ``clean()``, constraints).

    The API therefore refuses exactly what the browser forms and the Excel import refuse,
    with the same messages. Saving is the viewset's action, not the serializer's.
    """

    serializer_field_mapping = STRICT_FIELD_MAPPING

    def _apply(self, instance: models.Model, attrs: dict[str, Any]) -> models.Model:
        for name, value in attrs.items():
            setattr(instance, name, value)
        return instance

    def _new_instance(self) -> models.Model:
        # Named with its type: the stubs give Meta.model the unsolved type variable of ModelSerializer.
        model: type[models.Model] = self.Meta.model
        return model()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        candidate = self._apply(copy.copy(self.instance) if self.instance else self._new_instance(), attrs)
        try:
            candidate.full_clean()
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None
        return attrs

    def include_extra_kwargs(
        self, kwargs: MutableMapping[str, Any], extra_kwargs: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        # DRF drops allow_blank from read-only fields, so the schema of a read-only choice that may
        # be empty (a person's sex, unknown for a passport) would leave "" out of its enum.
        blank = bool(kwargs.get("allow_blank")) and "choices" in kwargs
        kwargs = super().include_extra_kwargs(kwargs, extra_kwargs)
        if blank and kwargs.get("read_only"):
            kwargs["allow_blank"] = True
        return kwargs

    def build_instance(self) -> models.Model:
        """The instance with the validated changes applied, not yet saved."""
        return self._apply(self.instance or self._new_instance(), dict(self.validated_data))


class CompoundViewSet(viewsets.ModelViewSet):
    """Base of every compound-schema endpoint; writes go through ``save_action``/``delete_action``.

    Subclasses declare ``permissions`` (nothing is allowed by default) and the actions that
    write: ``save_action(instance, acting_user=...)`` and ``delete_action(instance, acting_user=...)``.
    """

    save_action: Any = None
    delete_action: Any = None
    permissions: dict[str, Need] = {}
    # Never order by a masked field: the order would give away what the mask hides.
    ordering_fields = ["id", "created_at"]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.format_kwarg = self.get_format_suffix(**kwargs)
        self.perform_authentication(request)
        if request.user.is_authenticated and getattr(request._request, "tenant", None) is None:
            raise Http404  # unreachable through the middleware; never run without a schema
        super().initial(request, *args, **kwargs)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, ProbeLimitError):
            exc = ProbeLimited(exc)
        return super().handle_exception(exc)

    def request_compound(self) -> Compound:
        """The compound the middleware resolved for this request (``initial`` refuses requests without one)."""
        compound: Compound | None = getattr(self.request._request, "tenant", None)
        if compound is None:
            raise Http404
        return compound

    def _save(self, serializer: serializers.BaseSerializer[Any]) -> None:
        # The serializers of endpoints that write through here are ModelCleanSerializers (an
        # endpoint with another serializer writes through its own perform_create).
        serializer = cast(ModelCleanSerializer, serializer)
        try:
            serializer.instance = type(self).save_action(serializer.build_instance(), acting_user=self.request.user)
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None

    perform_create = _save
    perform_update = _save

    def perform_destroy(self, instance: models.Model) -> None:
        type(self).delete_action(instance, acting_user=self.request.user)


class APIRootView(routers.APIRootView):
    """The index of an API's endpoints: any signed-in user may read it."""

    permissions = {"GET": SIGNED_IN, "metadata": SIGNED_IN}


class Router(routers.DefaultRouter):
    """DefaultRouter whose index page carries a permission declaration like every other view."""

    APIRootView = APIRootView
