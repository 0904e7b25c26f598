"""Oracles: meter readings and forecasts from off-chain to the chain, signed and batched.

``domain`` (pure types, packing, Merkle tree, aggregation), ``signing`` (EIP-712),
``clients`` (typed contract clients), ``deploy``, ``state`` (restart-safe SQLite state),
``service`` (the meter oracle on the bus), ``forecast`` (the forecast oracle),
``simulator`` (virtual homes on MQTT), ``cli``, ``bench``.
"""
