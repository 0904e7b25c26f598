"""Gateway adapters, one module each, registered by name (see :mod:`.base`).

Importing this package imports every module in it, so a new adapter module registers itself.
"""

from __future__ import annotations

import importlib
import pkgutil

from gateway_bridge.adapters.base import (
    ADAPTERS,
    Adapter,
    Decoded,
    RawValue,
    get_adapter,
    register_adapter,
)

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["ADAPTERS", "Adapter", "Decoded", "RawValue", "get_adapter", "register_adapter"]
