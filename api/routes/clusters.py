"""Household clusters (TLC-3/11/12): the latest clustering result, without personal data.

Any logged-in member may read it. It holds cluster sizes (counts), silhouettes, centroid
daily profiles and feature means per cluster, never household ids or pseudonyms; a cluster
of fewer than three households shows only its size and silhouette (see
:mod:`analytics.clustering.store`). The result is the file ``bright analytics cluster``
stores under ``BRIGHT_ANALYTICS_CLUSTERS_DIR`` (default ``.bright/clusters``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from analytics.clustering.store import load_summary, report_path
from api.deps import MemberDep
from api.errors import NotFoundError

router = APIRouter(prefix="/clusters", tags=["clusters"])

NOT_YET = "a clustering result (run `bright analytics cluster` first)"


class ClusterPublic(BaseModel):
    cluster: int = Field(description="Cluster number, 0..k-1.")
    size: int = Field(description="Households in the cluster.")
    silhouette: float | None = Field(description="Mean silhouette of its households.")
    suppressed: bool = Field(
        description="True when the cluster is too small to publish its profile and means."
    )
    centroid_profile: list[float | None] | None = Field(
        description="Mean daily profile, 24 local hours, load / daily mean (null: suppressed)."
    )
    feature_means: dict[str, float | None] | None = Field(
        description="Mean of each behavioural feature (null: suppressed)."
    )


class ClustersPublic(BaseModel):
    created_at_s: int = Field(description="When the clustering ran, unix s.")
    method: str
    metric: str = Field(description="euclidean or dtw.")
    k: int = Field(description="Number of clusters, chosen by silhouette.")
    households: int
    silhouette: float | None = Field(description="Mean silhouette over all households.")
    k_scores: dict[str, float | None] = Field(description="Silhouette of each k tried.")
    min_cluster_size_shown: int
    profile_hours: str
    clusters: list[ClusterPublic]
    seconds: float = Field(description="Seconds the clustering took.")


@router.get("", response_model=ClustersPublic,
            summary="The latest household clusters (counts only)")
def clusters(claims: MemberDep) -> Any:
    del claims  # any member
    summary = load_summary()
    if summary is None:
        raise NotFoundError(NOT_YET)
    return summary


@router.get(
    "/report",
    response_class=FileResponse,
    summary="The latest clustering report, HTML, without member lists",
    responses={200: {"content": {"text/html": {}}}},
)
def clusters_report(claims: MemberDep) -> FileResponse:
    del claims
    path = report_path()
    if path is None:
        raise NotFoundError(NOT_YET)
    return FileResponse(path, media_type="text/html")
