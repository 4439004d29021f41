"""Persistence: engine, sessions, tables, tenancy and migrations."""
