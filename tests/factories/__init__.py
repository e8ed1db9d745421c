"""factory_boy factories for tests (STYLE.md §5)."""

from tests.factories.identity import make_id_number, make_uscc
from tests.factories.registry import (
    AddressPathFactory,
    HouseFactory,
    OrganisationFactory,
    PersonFactory,
    VehicleFactory,
)
from tests.factories.users import RoleFactory, UserFactory

__all__ = [
    "AddressPathFactory",
    "HouseFactory",
    "OrganisationFactory",
    "PersonFactory",
    "RoleFactory",
    "UserFactory",
    "VehicleFactory",
    "make_id_number",
    "make_uscc",
]
