"""The cost function a user chooses for control (RLCF-1), read from a JSON file.

A controller minimises, over a period, the weighted sum of

* ``cost``: the energy bill, currency units (import x price - export x feed-in price);
* ``emissions``: kg CO2 of the imported electricity (import x carbon intensity);
* ``peak``: the period's highest import, kW (each step adds what it raises the peak by, so the
  sum over a period is its peak);
* ``comfort``: kelvin-hours outside the home's comfort band;
* ``tracking``: kWh of deviation from committed targets (coalition targets and cleared trades:
  the net import a home promised for an interval).

Example (every key optional; the defaults are below)::

    {"weights": {"cost": 1.0, "emissions": 0.0, "peak": 0.0, "comfort": 10.0, "tracking": 1.0},
     "feed_in_share": 0.0}

``feed_in_share``: the feed-in price as a share of the import price (0: export earns nothing).
The reward of the environment (:mod:`analytics.control.env`) is minus this cost per step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analytics.control.errors import ControlConfigError

TERMS = ("cost", "emissions", "peak", "comfort", "tracking")
DEFAULT_WEIGHTS = {"cost": 1.0, "emissions": 0.0, "peak": 0.0, "comfort": 10.0, "tracking": 1.0}


@dataclass(frozen=True)
class CostFunction:
    """Weights of the terms in :data:`TERMS` (module docstring)."""

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    feed_in_share: float = 0.0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.weights) - set(TERMS))
        if unknown:
            raise ControlConfigError(
                f"cost function: unknown term(s) {', '.join(unknown)}; known: {', '.join(TERMS)}"
            )
        for term, value in self.weights.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ControlConfigError(f"cost function: weight {term!r} must be a number")
            if not 0 <= float(value) <= 1e6:
                raise ControlConfigError(
                    f"cost function: weight {term!r} = {value} is outside [0, 1e6]"
                )
        if not sum(float(v) for v in self.weights.values()) > 0:
            raise ControlConfigError("cost function: at least one weight must be positive")
        if not 0 <= self.feed_in_share <= 1:
            raise ControlConfigError(
                f"cost function: feed_in_share = {self.feed_in_share} is outside [0, 1]"
            )

    def w(self, term: str) -> float:
        return float(self.weights.get(term, 0.0))

    def to_json(self) -> dict[str, Any]:
        return {"weights": {t: self.w(t) for t in TERMS}, "feed_in_share": self.feed_in_share}

    @classmethod
    def from_json(cls, data: Any) -> CostFunction:
        if not isinstance(data, dict):
            raise ControlConfigError("cost function: expected a JSON object")
        extra = sorted(set(data) - {"weights", "feed_in_share"})
        if extra:
            raise ControlConfigError(
                f"cost function: unknown key(s) {', '.join(extra)}; use weights, feed_in_share"
            )
        weights = data.get("weights", {})
        if not isinstance(weights, dict):
            raise ControlConfigError("cost function: 'weights' must be an object")
        share = data.get("feed_in_share", 0.0)
        if not isinstance(share, (int, float)) or isinstance(share, bool):
            raise ControlConfigError("cost function: 'feed_in_share' must be a number")
        return cls({**DEFAULT_WEIGHTS, **weights}, float(share))

    @classmethod
    def load(cls, path: Path | str) -> CostFunction:
        try:
            data = json.loads(Path(path).read_text())
        except OSError as exc:
            raise ControlConfigError(f"cannot read the cost function {path}: {exc}") from exc
        except ValueError as exc:
            raise ControlConfigError(f"{path} is not JSON: {exc}") from exc
        return cls.from_json(data)
