"""Models of the 一标三实 registry; they live in each compound's schema."""

from registry.models.addresses import Address
from registry.models.houses import House, Lease
from registry.models.imports import ImportJob
from registry.models.organisations import Organisation
from registry.models.persons import Person
from registry.models.vehicles import Vehicle

__all__ = ["Address", "House", "ImportJob", "Lease", "Organisation", "Person", "Vehicle"]
