"""Fixtures and helpers shared by every test package (one place, imported explicitly)."""
