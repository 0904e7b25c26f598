"""Saving and loading fitted forecasters with their version and backtest scores.

Layout under the ``models_dir`` setting (default ``models/`` in ``BRIGHT_STATE_DIR``)::

    <name>/v<N>/model.pkl     the pickled engine
    <name>/v<N>/meta.json     version, created_at, config, scores
    <name>/LATEST             the latest version number

A model's version string is ``<name>-v<N>``; forecasts carry it (``model_version``).
"""

from __future__ import annotations

import json
import pickle
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analytics.errors import ModelNotFoundError
from analytics.forecasting.clustered import ClusteredForecaster
from analytics.forecasting.engine import GbmForecaster
from analytics.settings import analytics_settings

Forecaster = GbmForecaster | ClusteredForecaster
"""What the store holds: both have ``config`` and the same ``predict``."""


@dataclass(frozen=True)
class SavedModel:
    """A model loaded from the store."""

    engine: Forecaster
    version: str
    meta: dict[str, Any]


def _root(models_dir: Path | None) -> Path:
    return Path(models_dir) if models_dir is not None else analytics_settings().models_dir


def save_model(
    engine: Forecaster, name: str, scores: dict[str, Any], models_dir: Path | None = None
) -> str:
    """Save ``engine`` as the next version of ``name``; return its version string."""
    folder = _root(models_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    latest = folder / "LATEST"
    number = int(latest.read_text()) + 1 if latest.exists() else 1
    target = folder / f"v{number}"
    target.mkdir()
    version = f"{name}-v{number}"
    with open(target / "model.pkl", "wb") as fh:
        pickle.dump(engine, fh)
    meta = {
        "version": version,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "kind": type(engine).__name__,
        "config": engine.config.model_dump(mode="json"),
        "scores": scores,
    }
    (target / "meta.json").write_text(json.dumps(meta, indent=2, default=float))
    latest.write_text(str(number))
    return version


def load_model(name: str, version: int | None = None, models_dir: Path | None = None
               ) -> SavedModel:
    """Load version ``version`` (default: the latest) of model ``name``."""
    folder = _root(models_dir) / name
    latest = folder / "LATEST"
    if version is None:
        if not latest.exists():
            raise ModelNotFoundError(name, folder.parent)
        version = int(latest.read_text())
    target = folder / f"v{version}"
    if not (target / "model.pkl").exists():
        raise ModelNotFoundError(f"{name}-v{version}", folder.parent)
    with open(target / "model.pkl", "rb") as fh:
        engine = pickle.load(fh)  # our own files, written by save_model
    meta = json.loads((target / "meta.json").read_text())
    return SavedModel(engine=engine, version=str(meta["version"]), meta=meta)
