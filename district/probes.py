"""Whole-identifier lookups by users who see identifiers masked: audited, limited, locked out.

A user without ``pii.view`` at a compound sees ``155****6209``. Searching the whole number, or
registering a person and being told that the ID number is already registered, answers "does
this identifier exist here?", and ten thousand such answers recover a masked phone (issue #7).
So every such lookup, by a user who sees identifiers masked there:

- is refused with :class:`ProbeLimitError` while the user is locked out, or once the user
  made ``IDENTIFIER_PROBE_LIMIT`` lookups within ``IDENTIFIER_PROBE_WINDOW`` (rate limit);
- otherwise is recorded: an :class:`~district.models.IdentifierProbe` row (the counter) and an
  audit row ``probe_identifier`` (kind, the identifier looked up, found or not);
- and when ``IDENTIFIER_PROBE_MISSES`` of the user's lookups within the window found nothing,
  locks the user's lookups for ``IDENTIFIER_PROBE_LOCKOUT``: a
  :class:`~district.models.ProbeLockout` row and, for each compound the misses were made in,
  an audit row ``probe_lockout`` and the realtime event ``security.probe_lockout`` to the group
  ``probes.compound.<id>`` (:func:`lockout_payload`), the note to its beat officer. Alerts do
  not exist yet: the alerts issue subscribes to that group and turns the event into an alert.

The limit is per user, across every compound the user's roles cover (a street office does not
get a fresh allowance in each of its compounds). What counts as a lookup is the domain's
decision: the registry's filtersets and ``registry.actions.do_save_person`` call
:func:`check_probe_allowed` and :func:`do_record_probe`. This module knows no registry.

Time comes from :func:`clock`, which tests replace (``monkeypatch.setattr(probes, "clock",
…)``): nothing here, or in its tests, sleeps.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from district.audit import do_record_audit
from district.models import AuditAction, IdentifierProbe, ProbeLockout
from district.realtime import Event, compound_group, send_event_on_commit
from district.typing import AnyUser
from tenants.models import Compound

__all__ = [
    "LOCKOUT_EVENT",
    "TOPIC",
    "ProbeLimitError",
    "ProbeLimits",
    "check_probe_allowed",
    "clock",
    "do_record_probe",
    "lockout_payload",
    "probe_group",
    "probe_limits",
]

TOPIC = "probes"
LOCKOUT_EVENT = "security.probe_lockout"


def clock() -> datetime:
    """The current time; tests replace this function instead of waiting."""
    return timezone.now()


@dataclass(frozen=True)
class ProbeLimits:
    """The limiter's settings (``IDENTIFIER_PROBE_*`` in ``district.settings``)."""

    limit: int  # lookups per user within the window
    window: timedelta
    misses: int  # lookups that found nothing, within the window, that lock the user out
    lockout: timedelta


def probe_limits() -> ProbeLimits:
    """The limits in force (read on each call, so ``override_settings`` applies)."""
    return ProbeLimits(
        limit=getattr(settings, "IDENTIFIER_PROBE_LIMIT", 20),
        window=getattr(settings, "IDENTIFIER_PROBE_WINDOW", timedelta(minutes=10)),
        misses=getattr(settings, "IDENTIFIER_PROBE_MISSES", 10),
        lockout=getattr(settings, "IDENTIFIER_PROBE_LOCKOUT", timedelta(hours=1)),
    )


class ProbeLimitError(Exception):
    """A whole-identifier lookup refused: the user is locked out, or made too many lookups.

    Pages show :attr:`message`; the API answers 429 with it and ``Retry-After``.
    """

    def __init__(self, until: datetime, *, locked: bool, now: datetime) -> None:
        self.until = until
        self.locked = locked
        self.retry_after = max(1, math.ceil((until - now).total_seconds()))
        super().__init__(f"identifier lookups refused until {until.isoformat()}")

    @property
    def message(self) -> str:
        """The refusal in the active language (read when the response is built)."""
        when = f"{timezone.localtime(self.until):%Y-%m-%d %H:%M}"
        if self.locked:
            return _(
                "Lookups of whole ID numbers and phone numbers are locked for your account until %(time)s, "
                "because too many of them found nothing. The compound's beat officer has been notified."
            ) % {"time": when}
        return _(
            "Too many lookups of whole ID numbers or phone numbers (searches, or registering an ID number "
            "that is already registered). Please try again after %(time)s."
        ) % {"time": when}


def probe_group(compound: Compound) -> str:
    """The group told of lookup lockouts in ``compound`` (``probes.compound.7``), for its beat officer."""
    return compound_group(TOPIC, compound.pk)


def lockout_payload(user: AnyUser, compound: Compound, *, misses: int, until: datetime) -> Event:
    """The ``security.probe_lockout`` message: who was locked out, in which compound, until when.

    No identifier that was looked up: those are in the audit rows, for those who may read them.
    """
    return {
        "type": LOCKOUT_EVENT,
        "compound": compound.code,
        "user_id": user.pk,
        "username": user.get_username(),
        "misses": misses,
        "until": until.isoformat(),
    }


def _uid(user: AnyUser) -> int:
    """The id of the signed-in user making a lookup (an anonymous visitor never reaches one)."""
    if user.pk is None:
        raise ValueError("identifier lookups are made by signed-in users")
    return int(user.pk)


def _digest(compound: Compound, kind: str, q: str) -> str:
    return hashlib.sha256(f"{compound.pk}:{kind}:{q}".encode()).hexdigest()


def _repeated(user: AnyUser, digest: str, now: datetime, limits: ProbeLimits) -> IdentifierProbe | None:
    """The same lookup made earlier within the window, if any."""
    return IdentifierProbe.objects.filter(
        user_id=_uid(user), digest=digest, at__gt=now - limits.window, at__lte=now
    ).first()


def _refusal(user: AnyUser, now: datetime, limits: ProbeLimits, digest: str) -> ProbeLimitError | None:
    """Why the user may not make this lookup now, or None if they may."""
    lockout = ProbeLockout.objects.filter(user_id=_uid(user), until__gt=now).order_by("-until").first()
    if lockout is not None:
        return ProbeLimitError(lockout.until, locked=True, now=now)
    if _repeated(user, digest, now, limits) is not None:
        # The same lookup again within the window (the next page of its results, the search
        # run again after the live search box ran it) tells the user nothing new.
        return None
    recent = list(
        IdentifierProbe.objects.filter(user_id=_uid(user), at__gt=now - limits.window, at__lte=now)
        .order_by("at")
        .values_list("at", flat=True)
    )
    if len(recent) >= limits.limit:
        # A lookup is allowed again once enough of these have left the window.
        return ProbeLimitError(recent[len(recent) - limits.limit] + limits.window, locked=False, now=now)
    return None


def check_probe_allowed(
    user: AnyUser, compound: Compound, kind: str, *, q: str = "", now: datetime | None = None
) -> None:
    """Raise :class:`ProbeLimitError` if the user may not make this lookup now.

    For callers that must refuse *before* they find out whether the identifier exists (the
    refusal would otherwise answer the question); :func:`do_record_probe` checks again.
    """
    refused = _refusal(user, now or clock(), probe_limits(), _digest(compound, kind, q))
    if refused is not None:
        raise refused


def do_record_probe(
    user: AnyUser,
    compound: Compound,
    kind: str,
    *,
    hit: bool,
    q: str = "",
    object_type: str = "",
    object_ids: Iterable[int] = (),
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> IdentifierProbe:
    """Record one whole-identifier lookup by a user who sees identifiers masked, and lock out after misses.

    Raises :class:`ProbeLimitError`, recording nothing, when the user may not look up now.
    ``q`` is the identifier looked up (kept in the audit row for those who read the log);
    ``object_ids`` the records it found. Runs in the caller's transaction: a caller that
    refuses the request afterwards must call it outside the transaction it rolls back.
    """
    now = now or clock()
    limits = probe_limits()
    with transaction.atomic():
        # One user's lookups one at a time, so that two concurrent ones cannot both take the
        # last slot of the window (held until the caller's transaction ends).
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('district.probes'), %s)", [user.pk])
        digest = _digest(compound, kind, q)
        refused = _refusal(user, now, limits, digest)
        if refused is not None:
            raise refused
        # Rows that left the window count for nothing any more: the table stays small.
        IdentifierProbe.objects.filter(user_id=_uid(user), at__lte=now - limits.window).delete()
        # A repeated lookup is audited again but not counted again.
        repeated = _repeated(user, digest, now, limits)
        probe = repeated or IdentifierProbe.objects.create(
            user_id=_uid(user), compound=compound, at=now, kind=kind, hit=hit, digest=digest
        )
        do_record_audit(
            user,
            AuditAction.PROBE_IDENTIFIER,
            compound=compound,
            object_type=object_type,
            object_ids=list(object_ids),
            detail={"lookup": kind, "q": q, "found": hit},
            request=request,
        )
        if not hit and repeated is None:
            _lock_out_after_misses(user, compound, now, limits, request)
    return probe


def _lock_out_after_misses(
    user: AnyUser, compound: Compound, now: datetime, limits: ProbeLimits, request: HttpRequest | None
) -> None:
    since = now - limits.window
    # Misses before the end of an earlier lockout were paid for by it.
    ended = ProbeLockout.objects.filter(user_id=_uid(user)).order_by("-until").values_list("until", flat=True).first()
    if ended is not None and ended > since:
        since = ended
    misses = IdentifierProbe.objects.filter(user_id=_uid(user), hit=False, at__gt=since, at__lte=now)
    count = misses.count()
    if count < limits.misses:
        return
    until = now + limits.lockout
    ProbeLockout.objects.create(user_id=_uid(user), compound=compound, at=now, until=until, misses=count)
    # Each compound searched hears of it (and its audit log shows it), not only the last one.
    searched = Compound.objects.filter(pk__in=misses.values("compound_id")).select_related("street").order_by("pk")
    for each in searched:
        do_record_audit(
            user,
            AuditAction.PROBE_LOCKOUT,
            compound=each,
            detail={"misses": count, "until": until.isoformat()},
            request=request,
        )
        send_event_on_commit([probe_group(each)], lockout_payload(user, each, misses=count, until=until))
