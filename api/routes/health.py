"""Liveness (the benchmark's baseline route: no database, no token)."""

from __future__ import annotations

from fastapi import APIRouter

from api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="The API answers")
def health() -> Health:
    return Health()
