"""一标三实 registry of a compound: standard addresses, persons, houses, units and vehicles."""
