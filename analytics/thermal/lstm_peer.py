"""CityLearn's own LSTM dynamics model of a building, as the peer the thermal models must beat.

Each CityLearn 2023 building ships ``Building_N.pth``: a ``torch.nn.LSTM`` (``batch_first``)
plus a ``torch.nn.Linear(hidden, 1)``, the state dict under ``model_state_dict`` or bare. It
predicts the min-max normalised indoor temperature of a step from the last ``lookback`` steps
of its inputs, as CityLearn's ``LSTMDynamicsBuilding`` feeds it: every input at steps
``t - lookback + 1 .. t`` (the weather, setpoint, occupants and the cooling energy *of step t*
included) except the indoor temperature, which is lagged: ``t - lookback .. t - 1``. Several
steps ahead it feeds its own predictions back as the lagged temperature (mode E of
:mod:`analytics.thermal.pimf`: the heat of each step is given).

Encodings (checked against each schema's normalisation limits and by the 1-step error on the
development homes, :func:`one_step_errors`): inputs are normalised with the schema's
``(x - min) / (max - min)``, not clipped (as CityLearn does); ``hour`` is the local hour
*ending* 1..24 over a period of 24, ``day_type`` 1 (Monday) .. 7 over 7, ``month`` 1..12 over
12, each as ``sin``/``cos`` of ``2 pi x / period``. The local clock is the data set's
(:class:`analytics.data.citylearn2023.DataSet`, ``utc_offset_h``).

One difference from CityLearn: CityLearn carries the LSTM's hidden state from step to step
over an episode; here every prediction starts from a zero hidden state (each window of
``lookback`` steps stands alone), so that predictions from any origin need no episode before
it. On the development homes this gives the same or a lower 1-step error than carrying the
state (measured when this module was written: e.g. ``baeda_3dem`` Building_1 0.085 °C
stateless against 0.112 °C carried).

A caution found on the development data: the three LSTMs of
``citylearn_challenge_2023_phase_2_online_evaluation_1`` are the files of
``citylearn_challenge_2023_phase_1`` (byte-identical in every 2023 challenge set), whose
normalisation limits do not cover that set's weather (outdoor temperatures below their
minimum); their 1-step error there (0.24-0.46 °C) is worse than persistence whatever the
encoding variant tried (hour 0..23 or 1..24, day type over 7 or 8, lag alignment, clipping).
The ``baeda_3dem`` LSTMs match their data (1-step 0.04-0.12 °C, persistence 0.14-0.29 °C).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from analytics.errors import FrameValidationError, InsufficientDataError, MissingColumnsError
from core.errors import DataError

COLUMN_OF = {
    "direct_solar_irradiance": "direct_w_m2",
    "diffuse_solar_irradiance": "diffuse_w_m2",
    "outdoor_dry_bulb_temperature": "outdoor_c",
    "outdoor_relative_humidity": "outdoor_rh_pct",
    "indoor_dry_bulb_temperature_set_point": "setpoint_c",
    "occupant_count": "occupants",
    "cooling_demand": "cooling_kwh",
    "heating_demand": "heating_kwh",
    "indoor_dry_bulb_temperature": "indoor_c",
    "indoor_relative_humidity": "indoor_rh_pct",
    "non_shiftable_load": "equipment_kwh",
    "dhw_demand": "dhw_kwh",
}
"""Schema observation name -> column of :func:`analytics.data.citylearn2023.load_home`."""

PERIODS = {"hour": 24, "day_type": 7, "month": 12}
INDOOR = "indoor_dry_bulb_temperature"


class CityLearnLSTM(nn.Module):
    """CityLearn's ``LSTMDynamics`` network (same attribute names, so its state dicts load)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int) -> None:
        super().__init__()
        self.l_lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True)
        self.l_linear = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.l_lstm(x)
        return self.l_linear(out[:, -1, :])[:, 0]


def calendar(index: pd.DatetimeIndex, utc_offset_h: float) -> dict[str, np.ndarray]:
    """CityLearn's calendar of each interval on the local clock: ``hour`` ending 1..24,
    ``day_type`` 1 (Monday) .. 7, ``month`` 1..12."""
    start = index.tz_convert("UTC").tz_localize(None) + pd.Timedelta(hours=utc_offset_h)
    return {"hour": np.asarray(start.hour + 1), "day_type": np.asarray(start.dayofweek + 1),
            "month": np.asarray(start.month)}


@dataclass
class LstmPeer:
    """A building's LSTM with its schema attributes, ready to predict indoor temperature."""

    net: CityLearnLSTM
    names: list[str]
    minimum: np.ndarray
    maximum: np.ndarray
    lookback: int
    utc_offset_h: float
    path: str

    @classmethod
    def from_spec(cls, spec: dict[str, Any], utc_offset_h: float) -> LstmPeer:
        """From :func:`analytics.data.citylearn2023.lstm_spec` (the schema's attributes plus
        ``path``)."""
        names = list(spec["input_observation_names"])
        size = int(spec.get("input_size") or len(names))
        net = CityLearnLSTM(size, int(spec["hidden_size"]), int(spec["num_layers"]))
        try:
            state = torch.load(spec["path"], map_location="cpu", weights_only=True)
        except (OSError, RuntimeError) as exc:
            raise DataError(f"cannot read the LSTM state dict {spec['path']}: {exc}") from exc
        if isinstance(state, dict) and "model_state_dict" in state:
            state = state["model_state_dict"]
        net.load_state_dict(state)
        net.eval()
        if INDOOR not in names:
            raise DataError(f"{spec['path']}: the LSTM has no {INDOOR!r} input")
        return cls(net, names[:size], np.asarray(spec["input_normalization_minimum"][:size], float),
                   np.asarray(spec["input_normalization_maximum"][:size], float),
                   int(spec["lookback"]), utc_offset_h, str(spec["path"]))

    @classmethod
    def load(cls, set_name: str, home_id: str) -> LstmPeer:
        """The LSTM of one CityLearn 2023 building (from the cached data set, never fetched)."""
        from analytics.data import citylearn2023 as cl

        data_set = cl.ALL.get(set_name)
        if data_set is None:
            raise DataError(f"unknown CityLearn 2023 data set {set_name!r}")
        return cls.from_spec(cl.lstm_spec(set_name, home_id, fetch=False),
                             float(data_set.utc_offset_h))

    # -- inputs -------------------------------------------------------------------------------
    def raw_inputs(self, frame: pd.DataFrame, name: str = "frame") -> np.ndarray:
        """The model's inputs (N, F) before normalisation; the indoor temperature column is NaN
        where the frame has none."""
        index = frame.index
        if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
            raise FrameValidationError(name, "index must be a UTC DatetimeIndex")
        cal = calendar(index, self.utc_offset_h)
        needed = [COLUMN_OF[n] for n in self.names if n in COLUMN_OF and n != INDOOR]
        unknown = [n for n in self.names if n not in COLUMN_OF and
                   n.rsplit("_", 1)[0] not in PERIODS]
        if unknown:
            raise DataError(f"{self.path}: LSTM inputs this peer cannot build: {unknown}")
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise MissingColumnsError(name, missing, [str(c) for c in frame.columns])
        cols = []
        for n in self.names:
            base, _, fn = n.rpartition("_")
            if base in PERIODS:
                angle = 2 * np.pi * cal[base] / PERIODS[base]
                cols.append(np.sin(angle) if fn == "sin" else np.cos(angle))
            elif n == INDOOR:
                cols.append(frame["indoor_c"].to_numpy(float) if "indoor_c" in frame.columns
                            else np.full(len(frame), np.nan))
            else:
                values = frame[COLUMN_OF[n]].to_numpy(float)
                if np.isnan(values).any():
                    raise FrameValidationError(
                        name, f"column {COLUMN_OF[n]!r} has {int(np.isnan(values).sum())} "
                        "missing value(s)")
                cols.append(values)
        return np.stack(cols, axis=1)

    def normalise(self, raw: np.ndarray) -> np.ndarray:
        span = np.where(self.maximum > self.minimum, self.maximum - self.minimum, 1.0)
        return (raw - self.minimum) / span

    def _denorm(self, y: np.ndarray) -> np.ndarray:
        i = self.names.index(INDOOR)
        return y * (self.maximum[i] - self.minimum[i]) + self.minimum[i]

    # -- prediction ---------------------------------------------------------------------------
    def predict_origins(self, frame: pd.DataFrame, origins: np.ndarray, horizon: int
                        ) -> np.ndarray:
        """Indoor temperature (origins, horizon): from each origin row ``o`` (measured indoor
        temperature up to ``o``), the predictions for rows ``o+1 .. o+horizon`` given the
        inputs (heat, weather, setpoints) of those rows, its own predictions fed back."""
        origins = np.asarray(origins, int)
        lb = self.lookback
        if len(origins) == 0:
            return np.zeros((0, horizon))
        if origins.min() < lb - 1 or origins.max() + horizon > len(frame) - 1:
            raise InsufficientDataError(
                "LSTM origins", f"{lb} rows up to each origin and {horizon} after it",
                f"origins {origins.min()}..{origins.max()} in {len(frame)} rows")
        x = self.normalise(self.raw_inputs(frame))
        ii = self.names.index(INDOOR)
        # target t = o + 1 + k: inputs of rows t-lb+1 .. t, indoor temperature of t-lb .. t-1
        feats = np.stack([x[o - lb + 2: o + horizon + 1] for o in origins])    # (B, lb+H-1, F)
        indoor = np.stack([x[o - lb + 1: o + horizon + 1, ii] for o in origins])  # (B, lb+H)
        if np.isnan(indoor[:, :lb]).any():
            raise FrameValidationError("frame", "column 'indoor_c' has missing values in the "
                                       "lookback before an origin")
        out = np.zeros((len(origins), horizon))
        with torch.no_grad():
            for k in range(horizon):
                win = feats[:, k: k + lb].copy()
                win[:, :, ii] = indoor[:, k: k + lb]
                y = self.net(torch.tensor(win, dtype=torch.float32)).numpy().astype(float)
                indoor[:, k + lb] = y          # the prediction is the next window's lag
                out[:, k] = y
        return self._denorm(out)

    def predict_heat_given(self, history: pd.DataFrame, future: pd.DataFrame) -> np.ndarray:
        """Mode E from one origin: ``history`` (at least ``lookback`` rows up to the origin,
        with ``indoor_c``) and ``future`` (the next rows with the inputs: weather, setpoint,
        occupants, cooling energy) -> indoor temperature (°C) per row of ``future``."""
        if len(history) < self.lookback:
            raise InsufficientDataError("history", f"at least {self.lookback} rows",
                                        f"{len(history)} rows")
        joined = pd.concat([history.iloc[-self.lookback:], future], axis=0, sort=False)
        return self.predict_origins(joined, np.array([self.lookback - 1]), len(future))[0]

    def one_step(self, frame: pd.DataFrame) -> np.ndarray:
        """1-step predictions of rows ``lookback .. N-1`` from the measured lagged temperature
        (the error it makes on data it was trained on tells whether the encoding is right)."""
        return self.predict_origins(frame, np.arange(self.lookback - 1, len(frame) - 1), 1)[:, 0]


def one_step_errors(set_name: str, home_id: str) -> dict[str, float]:
    """1-step MAE of the LSTM against persistence on a CityLearn 2023 home (°C)."""
    from analytics.data import citylearn2023 as cl

    frame = cl.load_home(set_name, home_id, fetch=False)
    peer = LstmPeer.load(set_name, home_id)
    pred = peer.one_step(frame)
    measured = frame["indoor_c"].to_numpy(float)
    true = measured[peer.lookback:]
    return {"lstm_mae_c": float(np.abs(pred - true).mean()),
            "persistence_mae_c": float(np.abs(measured[peer.lookback - 1:-1] - true).mean())}


def encoding_limits_check(peer: LstmPeer, frame: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Inputs whose values leave the schema's normalisation limits: name -> (min, max) seen.
    The calendar encodings must never appear here (if they do, the encoding is wrong)."""
    raw = peer.raw_inputs(frame)
    out = {}
    for j, n in enumerate(peer.names):
        lo, hi = float(np.nanmin(raw[:, j])), float(np.nanmax(raw[:, j]))
        if lo < peer.minimum[j] - 1e-6 or hi > peer.maximum[j] + 1e-6:
            out[n] = (lo, hi)
    return out
