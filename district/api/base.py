"""The API's one permission boundary and its write path (STYLE.md §3, §4).

Compound endpoints: the middleware has already chosen the schema and checked the scope, so
a request that reaches a ``CompoundViewSet`` is in scope; without a compound (an anonymous
request has no schema) it answers 404 after DRF's own 401/403. Public endpoints narrow their
queryset by the user's scope in ``get_queryset``.
"""

from __future__ import annotations

import copy
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.http import Http404
from rest_framework import serializers, viewsets
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request

from district.permissions import CHANGE_REGISTRY, VIEW_REGISTRY, can_change_object, has_capability


def as_drf_error(exc: DjangoValidationError) -> serializers.ValidationError:
    """A model ValidationError as DRF's 400 body, field by field."""
    if not hasattr(exc, "error_dict"):
        return serializers.ValidationError({"non_field_errors": exc.messages})
    return serializers.ValidationError(
        {("non_field_errors" if k == "__all__" else k): v for k, v in exc.message_dict.items()}
    )


class ModelCleanSerializer(serializers.ModelSerializer):
    """Validates with the model's ``full_clean`` (field validators, ``clean()``, constraints).

    The API therefore refuses exactly what the browser forms and the Excel import refuse,
    with the same messages. Saving is the viewset's action, not the serializer's.
    """

    def _apply(self, instance: models.Model, attrs: dict[str, Any]) -> models.Model:
        for name, value in attrs.items():
            setattr(instance, name, value)
        return instance

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        candidate = self._apply(copy.copy(self.instance) if self.instance else self.Meta.model(), attrs)
        try:
            candidate.full_clean()
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None
        return attrs

    def build_instance(self) -> models.Model:
        """The instance with the validated changes applied, not yet saved."""
        return self._apply(self.instance or self.Meta.model(), dict(self.validated_data))


class RegistryPermission(BasePermission):
    """Capabilities of the user's roles at this compound (403 when in scope but not allowed).

    Reading needs ``registry.view``; creating ``registry.change``; changing or deleting one
    record needs ``registry.change`` or a per-object guardian grant on that record.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        compound = getattr(request._request, "tenant", None)
        if compound is None:
            return False
        if request.method in SAFE_METHODS or view.action not in ("create",):
            return has_capability(request.user, VIEW_REGISTRY, compound)
        return has_capability(request.user, CHANGE_REGISTRY, compound)

    def has_object_permission(self, request: Request, view: Any, obj: models.Model) -> bool:
        if request.method in SAFE_METHODS:
            return True
        compound = request._request.tenant
        if request.method == "DELETE":
            # A per-object grant lets its holder edit a record, not remove it (as on the pages).
            return has_capability(request.user, CHANGE_REGISTRY, compound)
        return can_change_object(request.user, compound, obj)


class CompoundViewSet(viewsets.ModelViewSet):
    """Base of every compound-schema endpoint; writes go through ``save_action`` (a ``do_save_*``)."""

    save_action: Any = None
    permission_classes = [IsAuthenticated, RegistryPermission]
    # Never order by a masked field: the order would give away what the mask hides.
    ordering_fields = ["id", "created_at"]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.format_kwarg = self.get_format_suffix(**kwargs)
        self.perform_authentication(request)
        if request.user.is_authenticated and getattr(request._request, "tenant", None) is None:
            raise Http404  # unreachable through the middleware; never run without a schema
        super().initial(request, *args, **kwargs)

    def _save(self, serializer: ModelCleanSerializer) -> None:
        try:
            serializer.instance = type(self).save_action(serializer.build_instance(), acting_user=self.request.user)
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None

    perform_create = _save
    perform_update = _save

    def perform_destroy(self, instance: models.Model) -> None:
        from registry.actions import do_delete

        do_delete(instance)
