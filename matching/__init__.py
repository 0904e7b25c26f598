"""Clearing of the flexibility market: order-book types, the engine, its verifier and LP.

``matching.engine`` holds the spec (its module docstring) and the vectorised engine;
``matching.verify`` re-checks a result the way the ``FlexMarket`` contract does;
``matching.lp`` is the independent welfare LP; ``matching.bench`` times them.
"""
