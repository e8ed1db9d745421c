"""API of role assignments (public schema): ``/api/role-assignments/``.

Listing is narrowed to the nodes the user manages; creating and deleting call
``do_assign_role`` / ``do_revoke_role``, so the API refuses exactly what the role page refuses.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.utils.functional import lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, viewsets

from district.actions import do_assign_role, do_revoke_role, no_such_user_message
from district.api.base import as_drf_error
from district.models import Area, RoleAssignment
from district.permissions import (
    ASSIGN_ROLES,
    access_node_by_code,
    need,
    role_assignments_in_scope,
    users_within_reach,
)
from tenants.models import Compound


class AssignableUserField(serializers.SlugRelatedField):
    """A username among the accounts the requesting user may give roles to.

    An unknown username and an account out of reach (a superuser's, one holding a role the
    requester may not hand out) get the same 400 (``district.permissions.users_within_reach``).
    """

    def __init__(self, **kwargs: Any) -> None:
        message = lazy(no_such_user_message, str)()
        kwargs.setdefault("error_messages", {"does_not_exist": message, "invalid": message})
        super().__init__(slug_field="username", **kwargs)

    def get_queryset(self) -> QuerySet[Any]:
        request = self.context.get("request")
        if request is None:
            return get_user_model()._default_manager.none()
        return users_within_reach(request.user)


class RoleAssignmentSerializer(serializers.ModelSerializer):
    """A role at a node. Write ``user`` (username), ``role`` and ``node`` (an area or compound code)."""

    user = AssignableUserField(
        help_text="Username of an account you may give roles to; any other answers like an unknown username."
    )
    role_label = serializers.CharField(source="get_role_display", read_only=True)
    node = serializers.CharField(
        write_only=True, max_length=15, help_text="Division code of an area (area roles) or a compound code."
    )
    area: serializers.SlugRelatedField[Area] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )
    compound: serializers.SlugRelatedField[Compound] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )
    node_name = serializers.SerializerMethodField()

    class Meta:
        model = RoleAssignment
        fields = ["id", "user", "role", "role_label", "node", "area", "compound", "node_name", "created_at"]
        read_only_fields = ["created_at"]
        # Duplicates are the action's check (the model's unique constraint has a NULL in it).
        validators: list = []

    @extend_schema_field(serializers.CharField())
    def get_node_name(self, obj: RoleAssignment) -> str:
        return str(obj.area or obj.compound)


FORBIDDEN = OpenApiResponse(description="Not signed in, or no role that may assign roles (or this one, here).")
NOT_FOUND = OpenApiResponse(description="No such node or assignment, or outside the user's part of the tree.")


@extend_schema_view(
    list=extend_schema(
        description="Role assignments at the nodes the user manages.",
        responses={200: RoleAssignmentSerializer(many=True), 403: FORBIDDEN},
    ),
    retrieve=extend_schema(
        description="One role assignment at a node the user manages.",
        responses={200: RoleAssignmentSerializer, 403: FORBIDDEN, 404: NOT_FOUND},
    ),
    create=extend_schema(
        description="Assign a role through the same rules as the role page (district.permissions.ASSIGNABLE_ROLES).",
        responses={
            201: RoleAssignmentSerializer,
            400: OpenApiResponse(
                description=(
                    "Unknown role, a role held at another level of node, a duplicate; an unknown username "
                    "or an account out of reach (a superuser's, one holding a role you may not hand out), "
                    "answered alike."
                )
            ),
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
    ),
    destroy=extend_schema(
        description="Revoke a role; only those who could have assigned it may.",
        responses={204: None, 403: FORBIDDEN, 404: NOT_FOUND},
    ),
)
class RoleAssignmentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """角色授权 — who holds which role where, for those who hand out roles."""

    serializer_class = RoleAssignmentSerializer
    queryset = RoleAssignment.objects.none()
    permissions = {action: need(ASSIGN_ROLES) for action in ("list", "retrieve", "create", "destroy", "metadata")}
    search_fields = ["user__username", "area__code", "compound__code"]
    ordering_fields = ["created_at", "role"]

    def get_queryset(self) -> QuerySet[RoleAssignment]:
        return role_assignments_in_scope(self.request.user).order_by(
            "area__code", "compound__code", "role", "user__username"
        )

    def perform_create(self, serializer: serializers.BaseSerializer[RoleAssignment]) -> None:
        data = serializer.validated_data
        area, compound = access_node_by_code(self.request.user, data["node"], role=data["role"])
        try:
            serializer.instance = do_assign_role(
                self.request.user,
                data["user"],
                data["role"],
                area=area,
                compound=compound,
                request=self.request._request,
            )
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None

    def perform_destroy(self, instance: RoleAssignment) -> None:
        do_revoke_role(self.request.user, instance, request=self.request._request)
