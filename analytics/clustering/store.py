"""The latest clustering result, stored for the REST API (TLC-3/11/12).

Layout under the ``clusters_dir`` setting (default ``clusters/`` in ``BRIGHT_STATE_DIR``)::

    latest.json    the public summary (:func:`public_summary`)
    latest.html    the report without member lists (``write_report(..., members=False)``)

Both are written to a temporary name first and renamed, so a reader never sees half a file.

What is public (any logged-in participant may read it) and what is not:

* per cluster: its size (a count), its silhouette, its centroid daily profile (load / daily
  mean, 24 local hours) and the mean of each behavioural feature;
* never household ids, nor their pseudonyms: a pseudonym is still personal data (GDPR
  recital 26) and listing members would let a participant learn which cluster another
  household is in. The pseudonymous member lists stay in the operator's report (CLI);
* a cluster with fewer than :data:`MIN_CLUSTER_SIZE` households would describe those few
  households, so its profile and feature means are withheld (``suppressed: true``), only its
  size and silhouette are shown (k-anonymity).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from analytics.clustering.engine import ClusterResult
from analytics.settings import analytics_settings

MIN_CLUSTER_SIZE = 3
"""Smallest cluster whose profile and feature means are published."""
SUMMARY_FILE = "latest.json"
REPORT_FILE = "latest.html"


def clusters_dir(folder: Path | None = None) -> Path:
    return Path(folder) if folder is not None else analytics_settings().clusters_dir


def _finite(value: float) -> float | None:
    return round(float(value), 4) if np.isfinite(value) else None


def public_summary(result: ClusterResult, created_at_s: int | None = None) -> dict[str, Any]:
    """The result without personal data (module docstring)."""
    clusters = []
    for c in range(result.k):
        size = int(result.sizes[c])
        shown = size >= MIN_CLUSTER_SIZE
        clusters.append({
            "cluster": c,
            "size": size,
            "silhouette": _finite(result.silhouette_per_cluster[c]),
            "suppressed": not shown,
            "centroid_profile": [_finite(v) for v in result.centroid_profiles[c]]
            if shown else None,
            "feature_means": {str(k): _finite(v) for k, v in result.scalar_means.loc[c].items()}
            if shown else None,
        })
    return {
        "created_at_s": int(time.time()) if created_at_s is None else created_at_s,
        "method": "k-means" if result.metric == "euclidean" else "k-means (DTW)",
        "metric": result.metric,
        "k": result.k,
        "households": len(result.household_ids),
        "silhouette": _finite(result.silhouette),
        "k_scores": {str(k): _finite(v) for k, v in result.k_scores.items()},
        "min_cluster_size_shown": MIN_CLUSTER_SIZE,
        "profile_hours": "local hour 0..23, load / the household's daily mean",
        "clusters": clusters,
        "seconds": round(result.seconds, 3),
    }


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def save_result(result: ClusterResult, folder: Path | None = None) -> dict[str, Any]:
    """Store ``result`` as the latest (summary and member-free report); return the summary."""
    from analytics.clustering.report import render_html

    target = clusters_dir(folder)
    target.mkdir(parents=True, exist_ok=True)
    summary = public_summary(result)
    _write_atomic(target / REPORT_FILE,
                  render_html(result, members=None, min_size=MIN_CLUSTER_SIZE).encode())
    _write_atomic(target / SUMMARY_FILE, json.dumps(summary, indent=2).encode())
    return summary


def cluster_and_save(homes: int = 17, seed: int = 0, folder: Path | None = None
                     ) -> dict[str, Any]:
    """Cluster the community of ``homes`` households (the real ones first) and store it."""
    from analytics.clustering.engine import ClusterConfig, cluster_households
    from analytics.data import citylearn
    from analytics.data.synthetic import synthetic_community

    community = synthetic_community(homes, seed=seed)
    infos = {h.home_id: h for h in citylearn.homes()}
    result = cluster_households(
        community.load_kwh, community.pv_kwh, citylearn.load_weather()["temp_c"],
        {k: v.battery_kwh for k, v in infos.items()}, {k: v.battery_kw for k, v in infos.items()},
        ClusterConfig(seed=seed))
    return save_result(result, folder)


def load_summary(folder: Path | None = None) -> dict[str, Any] | None:
    """The latest stored summary, or None when no clustering was stored yet."""
    path = clusters_dir(folder) / SUMMARY_FILE
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return data


def report_path(folder: Path | None = None) -> Path | None:
    """The latest stored HTML report, or None."""
    path = clusters_dir(folder) / REPORT_FILE
    return path if path.exists() else None
