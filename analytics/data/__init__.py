"""Loaders for the real data sets the platform uses (fetched from registries, never committed)."""
