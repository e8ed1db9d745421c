"""The audit log: writes, access to personal information and permission changes (PIPL)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["CHANGE_ACTIONS", "AuditAction", "AuditEntry"]


class AuditAction(models.TextChoices):
    """What an audit row records."""

    CREATE = "create", _("Created a record")
    UPDATE = "update", _("Changed a record")
    DELETE = "delete", _("Deleted a record")
    VIEW_PII = "view_pii", _("Viewed unmasked personal information")
    SEARCH_ID_NUMBER = "search_id_number", _("Searched by a full ID number")
    EXPORT = "export", _("Exported records")
    ASSIGN_ROLE = "assign_role", _("Assigned a role")
    REVOKE_ROLE = "revoke_role", _("Revoked a role")
    GRANT_OBJECT = "grant_object", _("Granted a per-object permission")
    REVOKE_OBJECT = "revoke_object", _("Revoked a per-object permission")
    # Issue #7: a user who sees identifiers masked looked one up whole (district.probes) …
    PROBE_IDENTIFIER = "probe_identifier", _("Looked up a whole ID number or phone (masked user)")
    # … and made so many lookups that found nothing that the lookups were locked.
    PROBE_LOCKOUT = "probe_lockout", _("Locked out of whole ID number and phone lookups")


# The verbs of writes to records (rows written by the do_* actions), as opposed to reads and grants.
CHANGE_ACTIONS = (AuditAction.CREATE, AuditAction.UPDATE, AuditAction.DELETE)


class AuditEntry(models.Model):
    """审计日志 — who did what to which records, when, from where, and why.

    Lives in the public schema so the city bureau can search it across compounds; the
    username is copied so a row outlives its user. Rows are only ever inserted.
    """

    at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(_("username"), max_length=150)
    action = models.CharField(_("action"), max_length=32, choices=AuditAction.choices)
    compound = models.ForeignKey(
        "tenants.Compound",
        verbose_name=_("compound"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    object_type = models.CharField(_("record type"), max_length=64, blank=True)
    object_ids = ArrayField(models.BigIntegerField(), verbose_name=_("record ids"), default=list, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["user", "-at"], name="audit_user_at"),
            models.Index(fields=["action", "-at"], name="audit_action_at"),
            models.Index(fields=["compound", "-at"], name="audit_compound_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.username} {self.action}"
