"""Two concurrent retries of one delivery: one event, one answer, told to both (DESIGN.md §5).

Each retry is a real request on a thread of its own, so on a database connection of its own,
against committed data (``db`` commits in this module; ``fresh_compound`` makes and drops the
compound). Both requests are held until both have looked for a stored answer and found none,
so both go on to decide: the first to insert the delivery key commits, the second waits on the
key's unique index, fails, rolls its event back and answers with the first one's answer.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django_tenants.utils import tenant_context

from access import device_views
from access.actions import do_save_card
from access.choices import DeviceKind
from access.models import Card
from district.models import AuditEntry
from events.actions import previous_delivery
from events.models import AccessEvent, DeliveryKey
from tests.access.gate_support import CARD_URL, make_device
from tests.factories import PersonFactory


@pytest.fixture
def db(committed_db: None) -> None:
    """In this module ``db`` (which every test gets) commits: see ``committed_db``."""


@pytest.fixture
def reader(fresh_compound: Any) -> Any:
    with tenant_context(fresh_compound):
        do_save_card(Card(number="CAFE0001", person=PersonFactory(name="并发")), acting_user=AnonymousUser())
    device = make_device(fresh_compound, DeviceKind.CARD_READER)
    yield device
    AccessEvent.objects.filter(compound_id=fresh_compound.pk).delete()  # public rows the compound's drop leaves
    AuditEntry.objects.filter(compound=fresh_compound).delete()


def test_two_concurrent_retries_write_one_event_and_get_one_answer(reader, fresh_compound, monkeypatch):
    both_looked = threading.Barrier(2, timeout=20)
    local = threading.local()

    def looked_up_then_wait(device: Any, key: str) -> Any:
        found = previous_delivery(device, key)
        if not getattr(local, "waited", False):  # only the first look: the loser looks again after
            local.waited = True
            both_looked.wait()
        return found

    monkeypatch.setattr(device_views, "previous_delivery", looked_up_then_wait)
    answers: list[Any] = [None, None]

    def retry(slot: int) -> None:
        try:
            answers[slot] = reader.client().post(
                CARD_URL, {"card_no": "CAFE0001"}, format="json", HTTP_IDEMPOTENCY_KEY="swipe-77"
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=retry, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()
    assert answers[0].json()["decision"] == "open"
    assert AccessEvent.objects.filter(compound_id=fresh_compound.pk).count() == 1
    assert DeliveryKey.objects.filter(device=reader.index, key="swipe-77").count() == 1
    # The loser answered from the stored delivery.
    assert sum(a.get("Idempotent-Replayed") == "true" for a in answers) == 1
