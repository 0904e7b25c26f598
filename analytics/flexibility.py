"""Flexibility a participant can offer per interval, derived from its load forecast.

The data have no device-level measurements, so flexibility is a documented, simple model on top
of the consumption forecast (kW = mean power over the interval):

* **shiftable load**: a share ``flexible_share`` of the forecast load (air-conditioning, water
  heating, deferrable appliances) can be moved out of or into an interval. The comfort band
  scales it: ``shiftable_kw = flexible_share * min(1, comfort_band_c / reference_band_c) *
  load_kw`` (a band of 0 °C allows no thermal shifting; the reference band or wider allows the
  full share).
* **battery** (capacity and power from the home's schema): assumed at ``soc_assumed`` state of
  charge, it can discharge ``min(P, soc * E / window_h)`` and charge
  ``min(P, (1 - soc) * E / window_h)`` over a ``window_h`` delivery window.
* ``flex_down_kw`` (consumption the participant can shed; *upward* regulation for the grid)
  ``= min(load_kw, shiftable_kw + battery_discharge_kw)``: import cannot go below zero.
* ``flex_up_kw`` (extra consumption it can take on; *downward* regulation for the grid)
  ``= max(0, min(max_import_kw - load_kw, shiftable_kw + battery_charge_kw))``.

Quantiles: the model is applied to each load quantile and the results are sorted per row (the
transform is monotone in load for flex_down, and for flex_up while the import limit is not
binding). The backtest scores it against the same model applied to the measured load.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field


class FlexConfig(BaseModel):
    """Parameters of the flexibility model (module docstring)."""

    model_config = ConfigDict(frozen=True)

    flexible_share: float = Field(0.25, ge=0, le=1, description="Share of load that can shift.")
    comfort_band_c: float = Field(2.0, ge=0, description="Comfort band width allowed, °C.")
    reference_band_c: float = Field(
        2.0, gt=0, description="Band width at which the full flexible share is available, °C."
    )
    soc_assumed: float = Field(0.5, ge=0, le=1, description="Battery state of charge assumed.")
    window_h: float = Field(1.0, gt=0, description="Delivery window the battery must sustain, h.")
    max_import_kw: float = Field(10.0, gt=0, description="Grid connection limit, kW.")


def flexibility_kw(
    load_kw: ArrayLike,
    battery_kwh: float,
    battery_kw: float,
    config: FlexConfig | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(flex_up_kw, flex_down_kw)`` for each value of ``load_kw`` (mean power, kW)."""
    cfg = config or FlexConfig()
    load = np.clip(np.asarray(load_kw, dtype=float), 0.0, None)
    band = min(1.0, cfg.comfort_band_c / cfg.reference_band_c)
    shiftable = cfg.flexible_share * band * load
    discharge = min(battery_kw, cfg.soc_assumed * battery_kwh / cfg.window_h)
    charge = min(battery_kw, (1 - cfg.soc_assumed) * battery_kwh / cfg.window_h)
    down = np.minimum(load, shiftable + discharge)
    up = np.clip(np.minimum(cfg.max_import_kw - load, shiftable + charge), 0.0, None)
    return up, down


def flexibility_quantiles(
    q10_kw: ArrayLike, q50_kw: ArrayLike, q90_kw: ArrayLike,
    battery_kwh: float, battery_kw: float, config: FlexConfig | None = None,
) -> dict[str, NDArray[np.float64]]:
    """Flexibility quantiles from load quantiles: keys ``flex_up`` / ``flex_down`` -> (n, 3)."""
    ups, downs = [], []
    for q in (q10_kw, q50_kw, q90_kw):
        up, down = flexibility_kw(q, battery_kwh, battery_kw, config)
        ups.append(up)
        downs.append(down)
    return {
        "flex_up": np.sort(np.column_stack(ups), axis=1),
        "flex_down": np.sort(np.column_stack(downs), axis=1),
    }


def community_config(config: FlexConfig | None, n_homes: int) -> FlexConfig:
    """The model for a community aggregate: the connection limit is the homes' sum.

    Batteries are summed by the caller (capacity and power); shares and the comfort band are
    the same for every home.
    """
    cfg = config or FlexConfig()
    return cfg.model_copy(update={"max_import_kw": cfg.max_import_kw * max(1, n_homes)})
