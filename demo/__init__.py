"""demo app: seeds the demo city by calling each domain's own seed module, in layer order.

The top layer (DESIGN.md §2b): the only place that imports every domain's ``demo`` module.
It has no models; it is a shared app only so that Django finds its ``seed_demo`` command.
"""
