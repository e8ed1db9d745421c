"""Honest counts: the population on the home cards follows the person actions (issue 8, part 5)."""

from __future__ import annotations

import datetime

from django.test import Client

from registry import actions
from registry.models import Person
from tenants.models import Compound
from tests.factories import UserFactory
from tests.factories.identity import make_id_number
from tests.factories.registry import HouseFactory, PersonFactory


def _stored(compound: Compound) -> int:
    return Compound.objects.get(pk=compound.pk).population


def _residents() -> int:
    return Person.objects.filter(house__isnull=False, move_out_date__isnull=True).count()


def test_person_actions_keep_the_population_current(in_a) -> None:
    house = HouseFactory()
    # A bulk insert (the demo seed, large imports) recounts: the hand-recorded 1200 is corrected.
    actions.do_bulk_create(
        Person,
        [Person(name=f"李{n}", id_number=make_id_number(seq=900 + n), house=house) for n in range(3)],
        acting_user=None,
    )
    assert _stored(in_a) == _residents() == 3

    person = PersonFactory(house=house)  # a new resident
    assert _stored(in_a) == 4
    PersonFactory()  # registered, but living in no house of the compound: not a resident
    assert _stored(in_a) == 4

    person.move_out_date = datetime.date(2026, 1, 1)
    actions.do_save_person(person)  # moved out
    assert _stored(in_a) == 3
    person.move_out_date = None
    actions.do_save_person(person)  # moved back
    assert _stored(in_a) == 4

    actions.do_delete(person, acting_user=None)
    assert _stored(in_a) == _residents() == 3
    actions.do_delete(house, acting_user=None)  # its residents lose their house
    assert _stored(in_a) == _residents() == 0


def test_the_home_card_shows_the_count_after_adding_a_person(in_a, compound_a) -> None:
    house = HouseFactory()
    newcomer = Person(name="王一", id_number=make_id_number(seq=950), house=house)
    actions.do_bulk_create(Person, [newcomer], acting_user=None)
    PersonFactory(house=house)
    client = Client()
    client.force_login(UserFactory(username="root-pop", is_superuser=True, is_staff=True))
    body = client.get("/").content.decode()
    assert _stored(compound_a) == 2
    assert "1,200" not in body and "1200" not in body
