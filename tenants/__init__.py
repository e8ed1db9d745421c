"""Compound tenants: one PostgreSQL schema per residential compound (小区)."""
