"""A throwaway tenant app, installed only by tests/tenants/test_provisioning_guard.py.

It has no models: its migrations alone give compound schemas a few tables, so the tests can
check what replaying migration DDL does with operations the real apps do not have yet. Each
package under ``migrations/`` is one history, chosen per test through ``MIGRATION_MODULES``.
"""
