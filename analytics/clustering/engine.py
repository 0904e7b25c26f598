"""Household clustering engine: k chosen by silhouette, k-means (default) or banded DTW.

Input: the feature rows of :mod:`analytics.clustering.features`. The clustering space is the
normalised daily profile (24 values, mean 1) followed by the scalar features, each standardised
over the households (z-score) and multiplied by ``scalar_weight`` (so the shape dominates and
the scalars separate households of similar shape). ``metric="dtw"`` clusters the profile
shapes only, with tslearn's ``TimeSeriesKMeans`` and a Sakoe-Chiba band of
``dtw_band_h`` hours (so a peak may move by that much and still match). For every k in
``k_min..k_max`` the engine fits and scores the mean silhouette; the best k wins.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_samples, silhouette_score

from analytics.clustering.features import PROFILE_COLUMNS, SCALAR_COLUMNS, household_features
from analytics.errors import InsufficientDataError, NotFittedError


class ClusterConfig(BaseModel):
    """Configuration of a :class:`HouseholdClusterer`."""

    model_config = ConfigDict(frozen=True)

    metric: Literal["euclidean", "dtw"] = Field(
        "euclidean", description="k-means on profiles + scalars, or DTW k-means on profiles."
    )
    k_min: int = Field(2, ge=2, description="Smallest number of clusters tried.")
    k_max: int = Field(8, ge=2, description="Largest number of clusters tried.")
    scalar_weight: float = Field(
        0.35, ge=0, description="Weight of each standardised scalar feature vs. profile values."
    )
    dtw_band_h: int = Field(2, ge=0, le=23, description="Sakoe-Chiba band for DTW, hours.")
    n_init: int = Field(10, ge=1, description="k-means restarts per k.")
    seed: int = Field(0, description="Random seed: same seed and data give the same clusters.")


@dataclass
class ClusterResult:
    """Outcome of a clustering run."""

    household_ids: list[str]
    labels: NDArray[np.int64]
    k: int
    silhouette: float
    silhouette_per_cluster: dict[int, float]
    sizes: dict[int, int]
    centroid_profiles: NDArray[np.float64]
    """(k, 24) mean normalised daily profile of each cluster's members."""
    scalar_means: pd.DataFrame
    """Mean of each scalar feature per cluster (unstandardised)."""
    k_scores: dict[int, float]
    metric: str
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def members(self) -> dict[int, list[str]]:
        """Cluster -> household ids."""
        out: dict[int, list[str]] = {c: [] for c in range(self.k)}
        for hid, lab in zip(self.household_ids, self.labels, strict=True):
            out[int(lab)].append(hid)
        return out


class HouseholdClusterer:
    """Clusters households; ``fit`` chooses k by silhouette, ``predict`` assigns new rows."""

    def __init__(self, config: ClusterConfig | None = None) -> None:
        self.config = config or ClusterConfig()
        self.result_: ClusterResult | None = None
        self._model: Any = None
        self._mean: NDArray[np.float64] | None = None
        self._std: NDArray[np.float64] | None = None

    def _space(self, features: pd.DataFrame) -> NDArray[np.float64]:
        assert self._mean is not None and self._std is not None
        prof = features[list(PROFILE_COLUMNS)].to_numpy(dtype=float)
        if self.config.metric == "dtw":
            return prof
        scal = (features[list(SCALAR_COLUMNS)].to_numpy(dtype=float) - self._mean) / self._std
        return np.hstack([prof, scal * self.config.scalar_weight])

    def fit(self, features: pd.DataFrame) -> HouseholdClusterer:
        """Cluster the households of ``features`` (one row each)."""
        start = time.perf_counter()
        cfg = self.config
        n = len(features)
        if n < cfg.k_min + 1:
            raise InsufficientDataError("clustering", f"more than {cfg.k_min} households", str(n))
        scal = features[list(SCALAR_COLUMNS)].to_numpy(dtype=float)
        self._mean = scal.mean(axis=0)
        self._std = np.where(scal.std(axis=0) > 1e-9, scal.std(axis=0), 1.0)
        x = self._space(features)
        best: tuple[float, int, Any, NDArray[np.int64]] | None = None
        scores: dict[int, float] = {}
        for k in range(cfg.k_min, min(cfg.k_max, n - 1) + 1):
            model, labels = self._fit_k(x, k)
            if len(set(labels.tolist())) < 2:
                continue
            score = self._silhouette(x, labels)
            scores[k] = round(score, 4)
            if best is None or score > best[0]:
                best = (score, k, model, labels)
        if best is None:
            raise InsufficientDataError("clustering", "two distinct clusters", "one")
        score, k, model, labels = best
        self._model = model
        per_sample = self._silhouette_samples(x, labels)
        prof = features[list(PROFILE_COLUMNS)].to_numpy(dtype=float)
        self.result_ = ClusterResult(
            household_ids=[str(i) for i in features.index],
            labels=labels,
            k=k,
            silhouette=float(score),
            silhouette_per_cluster={c: float(per_sample[labels == c].mean()) for c in range(k)},
            sizes={c: int((labels == c).sum()) for c in range(k)},
            centroid_profiles=np.vstack([prof[labels == c].mean(axis=0) for c in range(k)]),
            scalar_means=features[list(SCALAR_COLUMNS)].groupby(labels).mean(),
            k_scores=scores,
            metric=cfg.metric,
            seconds=time.perf_counter() - start,
        )
        return self

    def fit_result(self, features: pd.DataFrame) -> ClusterResult:
        """``fit`` and return the :class:`ClusterResult`."""
        self.fit(features)
        assert self.result_ is not None
        return self.result_

    def _fit_k(self, x: NDArray[np.float64], k: int) -> tuple[Any, NDArray[np.int64]]:
        cfg = self.config
        if cfg.metric == "dtw":
            with warnings.catch_warnings():  # tslearn warns that optional h5py is missing
                warnings.simplefilter("ignore", UserWarning)
                from tslearn.clustering import TimeSeriesKMeans

            model = TimeSeriesKMeans(
                n_clusters=k, metric="dtw", n_init=min(cfg.n_init, 3), random_state=cfg.seed,
                metric_params={"global_constraint": "sakoe_chiba",
                               "sakoe_chiba_radius": cfg.dtw_band_h},
                max_iter=30,
            )
            labels = model.fit_predict(x[:, :, None])
        else:
            model = KMeans(n_clusters=k, n_init=cfg.n_init, random_state=cfg.seed)
            labels = model.fit_predict(x)
        return model, np.asarray(labels, dtype=np.int64)

    def _distance_matrix(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        from tslearn.metrics import cdist_dtw

        return np.asarray(cdist_dtw(x[:, :, None], global_constraint="sakoe_chiba",
                                    sakoe_chiba_radius=self.config.dtw_band_h))

    def _silhouette(self, x: NDArray[np.float64], labels: NDArray[np.int64]) -> float:
        if self.config.metric == "dtw":
            return float(silhouette_score(self._distance_matrix(x), labels, metric="precomputed"))
        return float(silhouette_score(x, labels))

    def _silhouette_samples(self, x: NDArray[np.float64], labels: NDArray[np.int64]
                            ) -> NDArray[np.float64]:
        if self.config.metric == "dtw":
            return np.asarray(silhouette_samples(self._distance_matrix(x), labels,
                                                 metric="precomputed"))
        return np.asarray(silhouette_samples(x, labels))

    def predict(self, features: pd.DataFrame) -> NDArray[np.int64]:
        """Nearest-centroid cluster of each row (households need not have been in ``fit``)."""
        if self._model is None:
            raise NotFittedError("HouseholdClusterer")
        x = self._space(features)
        if self.config.metric == "dtw":
            return np.asarray(self._model.predict(x[:, :, None]), dtype=np.int64)
        return np.asarray(self._model.predict(x), dtype=np.int64)


def recluster_with(
    features: pd.DataFrame, new_households: pd.DataFrame, config: ClusterConfig | None = None
) -> ClusterResult:
    """Cluster again after households were added (TLC-6): k and clusters are re-chosen.

    ``new_households`` rows replace rows of ``features`` with the same id.
    """
    combined = pd.concat([features.drop(index=new_households.index, errors="ignore"),
                          new_households])
    engine = HouseholdClusterer(config).fit(combined)
    assert engine.result_ is not None
    return engine.result_


def cluster_households(
    load_kwh: pd.DataFrame,
    pv_kwh: pd.DataFrame,
    temp_c: pd.Series,
    battery_kwh: Mapping[str, float] | None = None,
    battery_kw: Mapping[str, float] | None = None,
    config: ClusterConfig | None = None,
) -> ClusterResult:
    """Features of the households' hourly frames (columns are households), then clusters."""
    features = household_features(load_kwh, pv_kwh, temp_c, battery_kwh, battery_kw)
    result = HouseholdClusterer(config).fit(features).result_
    assert result is not None
    return result
