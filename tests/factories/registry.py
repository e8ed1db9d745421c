"""Registry rows; create them inside ``tenant_context(compound)``."""

from __future__ import annotations

import factory
from django.db import connection

from registry import actions
from registry.models import House, Organisation, Person, Vehicle
from tests.factories.identity import make_id_number, make_uscc


class ActionFactory(factory.django.DjangoModelFactory):
    """Saves through the registry's actions, as the product does."""

    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        obj = model_class(*args, **kwargs)
        return getattr(actions, f"do_save_{model_class._meta.model_name}")(obj)


class AddressPathFactory:
    """``AddressPathFactory("1", "1", "3", "301")`` → the room address, created as needed."""

    def __new__(cls, *numbers: str):
        return actions.do_ensure_address_path(connection.tenant, list(numbers))


class PersonFactory(ActionFactory):
    class Meta:
        model = Person

    name = factory.Sequence(lambda n: f"张{'伟芳娜敏静丽强磊军洋'[n % 10]}{n}")
    id_number = factory.Sequence(lambda n: make_id_number(seq=n))
    phone = factory.Sequence(lambda n: f"138{n:08d}")


class HouseFactory(ActionFactory):
    class Meta:
        model = House

    address = factory.Sequence(lambda n: AddressPathFactory("9", "1", str(n // 10 + 1), f"{n // 10 + 1}{n % 10:02d}"))


class OrganisationFactory(ActionFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"便民超市{n}")
    uscc = factory.Sequence(lambda n: make_uscc(seq=n))


class VehicleFactory(ActionFactory):
    class Meta:
        model = Vehicle

    plate = factory.Sequence(lambda n: f"鲁A{n:05d}")
