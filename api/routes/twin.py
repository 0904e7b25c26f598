"""A home's thermal twin (SLC-4, SLC-9): its parameters, fit and what-if scenarios, and its
measured against simulated series. Personal (SLC-11, SLC-12): a member reads its own home's
(``/twin``), the aggregator it delegated to on-chain reads it too (``/twin/{address}``), and
anyone else is refused with a 403 that names no one (as every personal route). A home without
a twin yet answers 404.

``/twin/model`` and ``/twin/{address}/model`` (same access rule) serve the home's trained
physics-informed model: its validation gate, parameters, validation scores and forecast. A
model that failed its gate (its forecast errors on validation data left +-1.5 degC) is refused
with a 409 that says why, and its forecast is never shown.

The twins and models are what ``bright twin ...`` stored (:mod:`analytics.thermal.store`), not
chain data.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from sqlalchemy.orm import Session

from analytics.thermal.results import Series
from analytics.thermal.store import (
    MEASURED,
    ModelInfo,
    SeriesInfo,
    TwinInfo,
    get_model_info,
    get_series,
    get_twin_info,
)
from api.access import require_personal
from api.deps import Address, ClaimsDep, DbDep, Instant, ScopeDep
from api.errors import ApiError, NotFoundError
from api.schemas import (
    ErrorBody,
    ThermalModelForecastPublic,
    ThermalModelGatePublic,
    ThermalModelPublic,
    ThermalModelScoresPublic,
    TwinPublic,
    TwinScenarioPublic,
    TwinSeriesInfoPublic,
    TwinSeriesPublic,
    TwinSeriesValuesPublic,
)
from api.service import Scope

router = APIRouter(prefix="/twin", tags=["thermal twin"])

WINDOW_DEFAULT_S = 14 * 86_400
"""A series window's default length: the last 14 days of the simulated series."""
WINDOW_MAX_S = 366 * 86_400
"""Most of a window one answer holds (a year at 15 minutes: 35,136 intervals)."""

AddressPath = Annotated[Address, Path(description="The member's address (0x and 40 hex digits).")]
ScenarioQuery = Annotated[
    str,
    Query(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$",
        description="The scenario to simulate: as-is (default) or a what-if (GET /twin lists "
        "them).",
    ),
]
FromQuery = Annotated[
    Instant | None,
    Query(
        alias="from",
        description="Intervals that start at or after (RFC 3339 date-time, or unix seconds); "
        "default: 14 days before `to`.",
    ),
]
ToQuery = Annotated[
    Instant | None,
    Query(
        alias="to",
        description="Intervals that start before (RFC 3339 date-time, or unix seconds); "
        "default: the end of the simulated series. A window longer than 366 days is cut to "
        "its first 366; one that ends before it starts holds no values.",
    ),
]


class NoTwinError(NotFoundError):
    """The home has no twin yet (none was made, or it was made for another home)."""

    def __init__(self, own: bool) -> None:
        ApiError.__init__(
            self,
            "no twin for your home yet: one is made from your home's data by `bright twin`"
            if own
            else "no twin for this member's home yet",
        )


class NoScenarioError(NotFoundError):
    def __init__(self, name: str, known: list[str]) -> None:
        ApiError.__init__(
            self,
            f"no scenario {name!r} in this twin; it has {', '.join(known) or 'none'}",
            details={"scenarios": known},
        )


class NoModelError(NotFoundError):
    """The home has no trained model yet."""

    def __init__(self, own: bool) -> None:
        ApiError.__init__(
            self,
            "no model for your home yet: one is trained from your home's data by "
            "`bright twin learn --account`"
            if own
            else "no model for this member's home yet",
        )


class ModelNotUsableError(ApiError):
    """The home's model failed its validation gate: it may not be used (nor its forecast
    shown). The message says why; ``details`` holds the gate."""

    status_code = 409
    code = "model_not_usable"

    def __init__(self, reason: str, gate: dict[str, Any]) -> None:
        super().__init__(
            f"the thermal model of this home failed its validation gate: {reason}",
            details={"gate": gate},
        )


MODEL_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorBody,
        "description": "The home's model failed its validation gate: the message says why "
        "(no forecast is shown).",
    }
}


def _info(db: Session, scope: Scope, account: str, own: bool) -> TwinInfo:
    info = get_twin_info(db, scope.chain_id, account)
    if info is None:
        raise NoTwinError(own)
    return info


def _public(info: TwinInfo) -> TwinPublic:
    def where(s: SeriesInfo) -> TwinSeriesInfoPublic:
        return TwinSeriesInfoPublic(
            start_s=s.start_s, step_s=s.step_s, length=s.length, end_s=s.end_s
        )

    return TwinPublic(
        account=info.account,
        home_id=info.home_id,
        created_s=info.created_s,
        stored_s=info.stored_s,
        inputs_sha256=info.inputs_sha256,
        params=info.params,
        fit=info.fit,
        measured=None if info.measured is None else where(info.measured),
        scenarios=[
            TwinScenarioPublic(
                name=sc.name,
                description=sc.description,
                config=sc.config,
                totals=sc.totals,
                series=where(sc.series),
            )
            for sc in info.scenarios
        ],
    )


def _number(value: Any) -> float | None:
    """A finite number as a float; anything else (a missing score, "inf") None."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return None
    x = float(value)
    return x if math.isfinite(x) else None


def _scores(meta: dict[str, Any]) -> ThermalModelScoresPublic:
    scores = meta.get("scores")
    scores = scores if isinstance(scores, dict) else {}

    def temp(lead: int, key: str) -> float | None:
        at = scores.get(f"lead_{lead}")
        temp_e = at.get("temp_e") if isinstance(at, dict) else None
        return _number(temp_e.get(key)) if isinstance(temp_e, dict) else None

    return ThermalModelScoresPublic(
        lead_1_mae_c=temp(1, "mae_c"),
        lead_24_mae_c=temp(24, "mae_c"),
        lead_1_within_1_5=temp(1, "within_1_5"),
        lead_24_within_1_5=temp(24, "within_1_5"),
    )


def _model(db: Session, scope: Scope, account: str, own: bool) -> ThermalModelPublic:
    """The home's usable model, or 404 (none) or 409 (it failed its gate: never its
    forecast)."""
    info: ModelInfo | None = get_model_info(db, scope.chain_id, account)
    if info is None:
        raise NoModelError(own)
    if not info.usable:
        raise ModelNotUsableError(info.reason, info.gate)
    gate = info.gate
    n_origins = gate.get("n_origins")
    parameters = info.meta.get("parameters")
    return ThermalModelPublic(
        account=info.account,
        home_id=info.home_id,
        usable=True,
        gate=ThermalModelGatePublic(
            usable=True,
            reason=str(gate.get("reason", "")),
            worst_lead_share_within=_number(gate.get("worst_lead_share_within")),
            worst_lead_mae_c=_number(gate.get("worst_lead_mae_c")),
            n_origins=n_origins if isinstance(n_origins, int) else None,
        ),
        trained_s=info.trained_s,
        stored_s=info.stored_s,
        model_sha256=info.model_sha256,
        size_bytes=info.size_bytes,
        parameters=parameters if isinstance(parameters, dict) else {},
        scores=_scores(info.meta),
        forecast=ThermalModelForecastPublic.model_validate(
            {k: info.forecast[k] for k in ("origin_s", "step_s", "plans")}
        ),
    )


def _values(s: Series) -> TwinSeriesValuesPublic:
    return TwinSeriesValuesPublic.model_validate(s.to_json())


def _series(
    db: Session,
    scope: Scope,
    info: TwinInfo,
    scenario: str,
    from_s: int | None,
    to_s: int | None,
) -> TwinSeriesPublic:
    chosen = next((sc for sc in info.scenarios if sc.name == scenario), None)
    if chosen is None:
        raise NoScenarioError(scenario, [sc.name for sc in info.scenarios])
    end = chosen.series.end_s if to_s is None else to_s
    start = end - WINDOW_DEFAULT_S if from_s is None else from_s
    start = max(start, 0)
    end = min(end, start + WINDOW_MAX_S)
    simulated = get_series(db, scope.chain_id, info.account, scenario, start, end)
    measured = None
    if info.measured is not None:
        measured = get_series(db, scope.chain_id, info.account, MEASURED, start, end)
    if simulated is None:  # replaced between the two reads
        raise NoTwinError(True)
    return TwinSeriesPublic(
        account=info.account,
        home_id=info.home_id,
        scenario=scenario,
        from_s=start,
        to_s=max(end, start),
        measured=None if measured is None else _values(measured),
        simulated=_values(simulated),
    )


@router.get("", response_model=TwinPublic, summary="Your home's thermal twin (no series)")
def own_twin(claims: ClaimsDep, db: DbDep, scope: ScopeDep) -> TwinPublic:
    return _public(_info(db, scope, claims.address, own=True))


@router.get(
    "/series",
    response_model=TwinSeriesPublic,
    summary="Your home: measured and simulated series over a window (default: last 14 days)",
)
def own_series(
    claims: ClaimsDep,
    db: DbDep,
    scope: ScopeDep,
    scenario: ScenarioQuery = "as-is",
    from_s: FromQuery = None,
    to_s: ToQuery = None,
) -> TwinSeriesPublic:
    info = _info(db, scope, claims.address, own=True)
    return _series(db, scope, info, scenario, from_s, to_s)


@router.get(
    "/model",
    response_model=ThermalModelPublic,
    responses=MODEL_RESPONSES,
    summary="Your home's trained thermal model: gate, parameters, scores and forecast (409: "
    "it failed its validation gate)",
)
def own_model(claims: ClaimsDep, db: DbDep, scope: ScopeDep) -> ThermalModelPublic:
    return _model(db, scope, claims.address, own=True)


@router.get(
    "/{address}",
    response_model=TwinPublic,
    summary="A member's home twin (the member and its delegated aggregator; others: 403)",
)
def member_twin(address: AddressPath, claims: ClaimsDep, db: DbDep, scope: ScopeDep) -> TwinPublic:
    require_personal(db, scope, claims, address, "a home's twin and its series")
    return _public(_info(db, scope, address, own=address == claims.address))


@router.get(
    "/{address}/series",
    response_model=TwinSeriesPublic,
    summary="A member's home: measured and simulated series (the member and its delegated "
    "aggregator; others: 403)",
)
def member_series(
    address: AddressPath,
    claims: ClaimsDep,
    db: DbDep,
    scope: ScopeDep,
    scenario: ScenarioQuery = "as-is",
    from_s: FromQuery = None,
    to_s: ToQuery = None,
) -> TwinSeriesPublic:
    require_personal(db, scope, claims, address, "a home's twin and its series")
    info = _info(db, scope, address, own=address == claims.address)
    return _series(db, scope, info, scenario, from_s, to_s)


@router.get(
    "/{address}/model",
    response_model=ThermalModelPublic,
    responses=MODEL_RESPONSES,
    summary="A member's home's trained thermal model (the member and its delegated aggregator; "
    "others: 403; 409: it failed its validation gate)",
)
def member_model(
    address: AddressPath, claims: ClaimsDep, db: DbDep, scope: ScopeDep
) -> ThermalModelPublic:
    require_personal(db, scope, claims, address, "a home's thermal model and its forecast")
    return _model(db, scope, address, own=address == claims.address)
