"""The whole-identifier lookup limiter (issue #7): audit rows, the rate limit, the lockout after
misses with its audit rows and realtime note, and the clock tests set instead of waiting."""

from __future__ import annotations

import datetime

import pytest
from django.test import override_settings
from django.utils import timezone, translation

from district.models import AuditAction, AuditEntry, IdentifierProbe, ProbeKind, ProbeLockout
from district.probes import LOCKOUT_EVENT, ProbeLimitError, check_probe_allowed, do_record_probe, probe_group
from tests.factories import RoleFactory
from tests.shared_fixtures import PROBE_START as START

pytestmark = pytest.mark.django_db


MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture
def clerk(compound_a, compound_b, street_a):
    """A street-office clerk: street A (compound A); also a mediator in compound B. Sees identifiers masked."""
    user = RoleFactory(user__username="jiedao-clerk", role="street_office", area=street_a).user
    RoleFactory(user=user, role="mediator", compound=compound_b)
    return user


def miss(user, compound, n: int, kind: str = ProbeKind.PHONE) -> IdentifierProbe:
    return do_record_probe(user, compound, kind, hit=False, q=f"1390000{n:04d}")


def test_each_lookup_is_audited_and_counted(clock, clerk, compound_a):
    do_record_probe(
        clerk, compound_a, ProbeKind.PHONE, hit=True, q="13912345678", object_type="registry.person", object_ids=[7]
    )
    probe = IdentifierProbe.objects.get()
    assert (probe.user, probe.compound, probe.kind, probe.hit, probe.at) == (clerk, compound_a, "phone", True, START)
    assert "13912345678" not in probe.digest  # the counter keeps no identifier
    entry = AuditEntry.objects.get(action=AuditAction.PROBE_IDENTIFIER)
    assert (entry.user, entry.compound, entry.object_type, entry.object_ids) == (
        clerk,
        compound_a,
        "registry.person",
        [7],
    )
    assert entry.detail == {"lookup": "phone", "q": "13912345678", "found": True}


@override_settings(IDENTIFIER_PROBE_LIMIT=3)
def test_rate_limit_per_user_across_compounds(clock, clerk, compound_a, compound_b):
    do_record_probe(clerk, compound_a, ProbeKind.PHONE, hit=True, q="13900000001")
    clock.advance(minutes=1)
    do_record_probe(clerk, compound_b, ProbeKind.ID_NUMBER, hit=True, q="E12345678")
    do_record_probe(clerk, compound_a, ProbeKind.REGISTERED_ID, hit=True, q="370102198001010011")
    clock.advance(minutes=2)
    with pytest.raises(ProbeLimitError) as refused:
        do_record_probe(clerk, compound_b, ProbeKind.PHONE, hit=True, q="13900000004")
    # Allowed again when the first lookup leaves the 10-minute window.
    assert refused.value.until == START + datetime.timedelta(minutes=10)
    assert not refused.value.locked and refused.value.retry_after == 7 * 60
    with pytest.raises(ProbeLimitError):
        check_probe_allowed(clerk, compound_a, ProbeKind.PHONE, q="13900000005")
    assert IdentifierProbe.objects.count() == 3
    assert AuditEntry.objects.filter(action=AuditAction.PROBE_IDENTIFIER).count() == 3  # a refusal records nothing

    # The same lookup again tells nothing new: audited again, not counted, allowed at the limit.
    do_record_probe(clerk, compound_a, ProbeKind.PHONE, hit=True, q="13900000001")
    assert IdentifierProbe.objects.count() == 3
    assert AuditEntry.objects.filter(action=AuditAction.PROBE_IDENTIFIER).count() == 4

    clock.advance(minutes=7, seconds=1)
    check_probe_allowed(clerk, compound_a, ProbeKind.PHONE, q="13900000005")
    do_record_probe(clerk, compound_a, ProbeKind.PHONE, hit=False, q="13900000005")
    # Rows that left the window are removed as new ones are written.
    assert not IdentifierProbe.objects.filter(at=START).exists()


def test_another_user_has_an_allowance_of_their_own(clock, clerk, staff_a, compound_a):
    with override_settings(IDENTIFIER_PROBE_LIMIT=1):
        do_record_probe(clerk, compound_a, ProbeKind.PHONE, hit=True, q="13900000001")
        with pytest.raises(ProbeLimitError):
            do_record_probe(clerk, compound_a, ProbeKind.PHONE, hit=True, q="13900000002")
        do_record_probe(staff_a, compound_a, ProbeKind.PHONE, hit=True, q="13900000002")


def test_misses_lock_the_user_out_and_tell_each_compound_searched(clock, clerk, compound_a, compound_b, committing):
    with committing() as before:
        for n in range(9):
            clock.advance(seconds=30)
            miss(clerk, compound_a if n % 3 else compound_b, n)
    assert not ProbeLockout.objects.exists() and before == []
    with committing() as delivered:
        clock.advance(seconds=30)
        miss(clerk, compound_a, 9)  # the tenth miss within 10 minutes

    lockout = ProbeLockout.objects.get()
    locked_at = START + 10 * datetime.timedelta(seconds=30)
    assert (lockout.user, lockout.compound, lockout.misses) == (clerk, compound_a, 10)
    assert (lockout.at, lockout.until) == (locked_at, locked_at + datetime.timedelta(hours=1))
    rows = AuditEntry.objects.filter(action=AuditAction.PROBE_LOCKOUT).order_by("compound_id")
    assert [(r.user, r.compound) for r in rows] == sorted(
        [(clerk, compound_a), (clerk, compound_b)], key=lambda pair: pair[1].pk
    )
    assert rows[0].detail == {"misses": 10, "until": lockout.until.isoformat()}
    # One note per compound searched, to its beat officers' group (the alerts issue subscribes).
    assert sorted(groups[0] for groups, _payload in delivered) == sorted(
        [probe_group(compound_a), probe_group(compound_b)]
    )
    assert probe_group(compound_a) == f"probes.compound.{compound_a.pk}"
    payload = next(p for g, p in delivered if g == [probe_group(compound_a)])
    assert payload == {
        "type": LOCKOUT_EVENT,
        "compound": compound_a.code,
        "user_id": clerk.pk,
        "username": "jiedao-clerk",
        "misses": 10,
        "until": lockout.until.isoformat(),
    }
    assert "13900000" not in repr(delivered)  # no identifier in the note

    # Locked: every lookup is refused, a hit as much as a miss, and nothing is recorded.
    clock.advance(minutes=30)
    with pytest.raises(ProbeLimitError) as refused:
        do_record_probe(clerk, compound_a, ProbeKind.PHONE, hit=True, q="13800000000")
    assert refused.value.locked and refused.value.until == lockout.until
    assert IdentifierProbe.objects.filter(at__gt=locked_at).count() == 0

    # After the hour the user may look up again; the misses before the lockout do not count twice.
    clock.now = lockout.until + MINUTE
    miss(clerk, compound_a, 100)
    assert ProbeLockout.objects.count() == 1


def test_misses_spread_over_more_than_the_window_do_not_lock(clock, clerk, compound_a):
    for n in range(15):
        clock.advance(minutes=2)  # five misses per 10 minutes
        miss(clerk, compound_a, n)
    assert not ProbeLockout.objects.exists()


@override_settings(
    IDENTIFIER_PROBE_LIMIT=5,
    IDENTIFIER_PROBE_WINDOW=datetime.timedelta(minutes=1),
    IDENTIFIER_PROBE_MISSES=2,
    IDENTIFIER_PROBE_LOCKOUT=datetime.timedelta(minutes=5),
)
def test_limits_come_from_the_settings(clock, clerk, compound_a):
    miss(clerk, compound_a, 1)
    miss(clerk, compound_a, 2)
    assert ProbeLockout.objects.get().until == START + datetime.timedelta(minutes=5)


def test_the_refusal_speaks_the_users_language(clock, clerk, compound_a):
    refused = ProbeLimitError(START + datetime.timedelta(hours=1), locked=True, now=START)
    local = f"{timezone.localtime(refused.until):%Y-%m-%d %H:%M}"
    with translation.override("zh-hans"):
        assert "锁定" in refused.message and local in refused.message
    with translation.override("en"):
        assert "locked" in refused.message and "beat officer" in refused.message
    limited = ProbeLimitError(START + MINUTE, locked=False, now=START)
    with translation.override("zh-hans"):
        assert "过多" in limited.message
    assert limited.retry_after == 60


def test_the_audit_log_says_it_in_words(clock, clerk, compound_a):
    from district.audit_display import present

    with override_settings(IDENTIFIER_PROBE_MISSES=1):
        miss(clerk, compound_a, 1)
    lookup = AuditEntry.objects.get(action=AuditAction.PROBE_IDENTIFIER)
    lockout = AuditEntry.objects.get(action=AuditAction.PROBE_LOCKOUT)
    with translation.override("en"):
        assert present(lookup).details == "lookup: Search by a whole phone number; search: 13900000001; found: no"
        assert "lookups that found nothing: 1; locked until: " in present(lockout).details
    with translation.override("zh-hans"):
        assert "按完整电话号码搜索" in present(lookup).details and "锁定至" in present(lockout).details
