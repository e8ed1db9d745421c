"""Read-only API of the audit log (``/api/audit/``), for the city bureau, narrowed to its scope."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError

from district.api.schema import form_parameters
from district.audit import AuditFilterForm, audit_entries_visible_to, filter_audit_entries
from district.audit_display import present
from district.models import AuditEntry
from district.permissions import VIEW_AUDIT, need

# Typed and bounded as AuditFilterForm validates them (the page's filters), described for the API.
FILTERS = form_parameters(
    AuditFilterForm,
    {
        "user": "Username contains",
        "action": "Action, e.g. create, update, delete, view_pii, search_id_number, export",
        "record_type": "Record type as app_label.model_name, e.g. registry.person",
        "compound": "Compound code, or the start of one (a street's code)",
        "date_from": "From this date (YYYY-MM-DD), inclusive",
        "date_to": "Up to this date (YYYY-MM-DD), inclusive",
        "record": "Rows that name this record id",
    },
)


class AuditEntrySerializer(serializers.ModelSerializer):
    """One audit row: its stored codes, and ``summary``, the row as a sentence in the request's language."""

    action_label = serializers.CharField(source="get_action_display", read_only=True)
    # Null for rows that name no compound (e.g. a role granted at a district).
    compound_code = serializers.CharField(source="compound.code", read_only=True, default=None, allow_null=True)
    compound_name = serializers.CharField(source="compound.name", read_only=True, default=None, allow_null=True)
    summary = serializers.SerializerMethodField()

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "at",
            "user",
            "username",
            "action",
            "action_label",
            "compound",
            "compound_code",
            "compound_name",
            "object_type",
            "object_ids",
            "reason",
            "detail",
            "ip",
            "summary",
        ]
        read_only_fields = fields

    def get_summary(self, entry: AuditEntry) -> str:
        """Who did what to which record, e.g. "alice — 修改记录：人员 #12（姓名、联系电话）"."""
        return present(entry, links=False).summary


@extend_schema_view(list=extend_schema(parameters=FILTERS))
class AuditEntryViewSet(viewsets.ReadOnlyModelViewSet):
    """Audit rows of the compounds in the user's scope, newest first; 400 for an unreadable filter."""

    serializer_class = AuditEntrySerializer
    queryset = AuditEntry.objects.none()
    permissions = {"list": need(VIEW_AUDIT), "retrieve": need(VIEW_AUDIT), "metadata": need(VIEW_AUDIT)}
    filter_backends: list = []  # the filters are AuditFilterForm's, shared with the page

    def get_queryset(self) -> QuerySet[AuditEntry]:
        entries = audit_entries_visible_to(self.request.user)
        if self.action != "list":
            return entries
        form = AuditFilterForm(self.request.query_params)
        if not form.is_valid():
            raise ValidationError(
                {
                    ("non_field_errors" if name == "__all__" else name): [e["message"] for e in errors]
                    for name, errors in form.errors.get_json_data().items()
                }
            )
        return filter_audit_entries(entries, form.cleaned_data)
