"""BRIGHT: what every part of the platform shares (settings, errors, units, the CLI)."""

__version__ = "0.1.0"
