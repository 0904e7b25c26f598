"""Loaders for the real data sets the platform uses (fetched from package registries, never committed)."""
