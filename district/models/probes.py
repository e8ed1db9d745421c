"""Exact identifier lookups by users who see identifiers masked, and the lockouts they earn.

The counters behind ``district.probes`` (issue #7): a user without ``pii.view`` who searches a
whole ID number or phone, or is told that an ID number is already registered, learns whether
that identifier exists. Each such lookup is a row here; too many in a window are refused, too
many misses lock the user out for a while. Public schema: the limit is per user, across all
the compounds the user's roles cover.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["IdentifierProbe", "ProbeKind", "ProbeLockout"]


class ProbeKind(models.TextChoices):
    """How a whole identifier was looked up."""

    ID_NUMBER = "id_number", _("Search by a whole ID number")
    PHONE = "phone", _("Search by a whole phone number")
    REGISTERED_ID = "registered_id", _("ID number found already registered")


class IdentifierProbe(models.Model):
    """精确标识查询 — one exact lookup of a whole identifier by a user who sees identifiers masked.

    ``hit``: the identifier belongs to a record of the compound. ``digest`` tells the same
    lookup made again (turning a page of results, pressing Enter after the live search) from a
    new one, without keeping the identifier itself here (the audit row keeps it). Rows only
    count within the limiter's window; ``district.probes`` deletes a user's older rows as it
    writes new ones.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="+"
    )
    compound = models.ForeignKey(
        "tenants.Compound", verbose_name=_("compound"), on_delete=models.CASCADE, related_name="+"
    )
    at = models.DateTimeField(_("time"))
    kind = models.CharField(_("kind"), max_length=16, choices=ProbeKind.choices)
    hit = models.BooleanField(_("found"))
    digest = models.CharField(_("digest"), max_length=64)

    class Meta:
        verbose_name = _("identifier lookup")
        verbose_name_plural = _("identifier lookups")
        indexes = [models.Index(fields=["user", "at"], name="probe_user_at")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {'hit' if self.hit else 'miss'} {self.at:%Y-%m-%d %H:%M}"


class ProbeLockout(models.Model):
    """查询锁定 — a user's exact identifier lookups are refused from ``at`` until ``until``.

    Started by too many misses in the window; ``compound`` is where the last miss was made.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="+"
    )
    compound = models.ForeignKey(
        "tenants.Compound", verbose_name=_("compound"), on_delete=models.CASCADE, related_name="+"
    )
    at = models.DateTimeField(_("time"))
    until = models.DateTimeField(_("until"))
    misses = models.PositiveIntegerField(_("misses"))

    class Meta:
        verbose_name = _("identifier lookup lockout")
        verbose_name_plural = _("identifier lookup lockouts")
        indexes = [models.Index(fields=["user", "until"], name="probe_lockout_user_until")]

    def __str__(self) -> str:
        return f"{self.user_id} locked until {self.until:%Y-%m-%d %H:%M}"
