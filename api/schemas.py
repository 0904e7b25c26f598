"""Response and request models. Families follow one pattern: ``XPublic`` is one item,
``XsPublic(data, count)`` a page of them with the total count matching the filters.

Units as on-chain: energy in Wh, prices in FlexToken base units per kWh, times in unix
seconds. Token amounts (uint256) are decimal strings, exact in any JSON reader.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. forbidden, invalid_query.")
    message: str = Field(description="What went wrong, for a person.")
    details: Any = Field(None, description="Optional specifics (e.g. the invalid fields).")


class ErrorBody(BaseModel):
    """The body of every 4xx and 5xx answer."""

    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok"] = "ok"


# ---- auth ------------------------------------------------------------------------------------


class NoncePublic(BaseModel):
    nonce: str = Field(description="Single-use nonce to put in the EIP-4361 message.")
    expires_at: int = Field(description="Unix seconds after which the nonce is refused.")
    domain: str = Field(description="Domain the message must name.")
    uri: str = Field(description="URI the message must name.")
    chain_id: int = Field(description="Chain ID the message must name.")


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=8192, description="The EIP-4361 message.")
    signature: str = Field(
        min_length=130,
        max_length=132,
        pattern=r"^(0x)?[0-9a-fA-F]{130}$",
        description="65-byte personal_sign (EIP-191) signature of the message, hex.",
    )


class TokenPublic(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: int = Field(description="Unix seconds when the token expires.")
    address: str
    roles: list[str] = Field(description="On-chain roles of the address (read models).")


class MePublic(BaseModel):
    address: str
    roles: list[str]
    chain_id: int
    expires_at: int


# ---- participants ------------------------------------------------------------------------------


class ParticipantPublic(BaseModel):
    account: str
    role: str
    grid_area: str
    active: bool
    meter_id: str | None = Field(
        None, description="Only for the participant itself, its aggregator, the DSO, operator."
    )
    aggregator: str | None = Field(None, description="Delegated aggregator (same visibility).")
    registered_block: int


class ParticipantsPublic(BaseModel):
    data: list[ParticipantPublic]
    count: int


# ---- sessions ----------------------------------------------------------------------------------


class SessionPublic(BaseModel):
    session_id: int
    market: str
    grid_area: str
    status: str = Field(description="open or cleared.")
    delivery_start_s: int
    duration_s: int
    gate_closure_s: int
    reveal_deadline_s: int
    product: int
    rule: int
    sealed_bids: bool
    order_count: int
    cancel_count: int
    price_per_kwh: int | None = Field(None, description="Clearing price (cleared sessions).")
    volume_wh: int | None = Field(None, description="Matched volume (cleared sessions).")
    match_count: int | None = None
    escrowed: str | None = Field(None, description="Escrowed FlexToken base units.")
    opened_block: int
    cleared_block: int | None = None


class SessionsPublic(BaseModel):
    data: list[SessionPublic]
    count: int


class DepthLevel(BaseModel):
    price_per_kwh: int
    qty_wh: int = Field(description="Summed quantity of the active orders at this price.")


class DepthPublic(BaseModel):
    """Anonymised order-book depth: price levels and summed quantities, no traders."""

    session_id: int
    status: str
    bids: list[DepthLevel] = Field(description="Best (highest) price first.")
    offers: list[DepthLevel] = Field(description="Best (lowest) price first.")


# ---- orders ------------------------------------------------------------------------------------


class OrderPublic(BaseModel):
    session_id: int
    order_id: int
    trader: str
    side: Literal["bid", "offer"]
    qty_wh: int
    price_per_kwh: int
    grid_area: str
    cancelled: bool
    filled_wh: int
    placed_block: int
    tx_hash: str


class OrdersPublic(BaseModel):
    data: list[OrderPublic]
    count: int


# ---- matches -----------------------------------------------------------------------------------


class MatchPublic(BaseModel):
    session_id: int
    bid_id: int
    offer_id: int
    qty_wh: int
    price_per_kwh: int
    block_number: int
    log_index: int
    my_side: Literal["bid", "offer", "both"] | None = Field(
        None, description="Which of the two orders is the asker's (None for the operator)."
    )


class MatchesPublic(BaseModel):
    data: list[MatchPublic]
    count: int


class SessionMatchesPublic(BaseModel):
    """Public aggregate of one session's matches (no order ids, no traders)."""

    session_id: int
    grid_area: str
    delivery_start_s: int
    match_count: int
    volume_wh: int
    min_price_per_kwh: int | None
    max_price_per_kwh: int | None
    avg_price_per_kwh: float | None = Field(None, description="Volume-weighted mean price.")


class SessionMatchesListPublic(BaseModel):
    data: list[SessionMatchesPublic]
    count: int


# ---- balances ----------------------------------------------------------------------------------


class BalancePublic(BaseModel):
    token: str
    account: str
    balance: str = Field(description="Base units (FlexToken: 6 decimals), decimal string.")
    updated_block: int


class BalancesPublic(BaseModel):
    data: list[BalancePublic]
    count: int


# ---- events ------------------------------------------------------------------------------------


class EventPublic(BaseModel):
    id: str = Field(description="Cursor: '<block>:<log index>'; pass it as `after`.")
    chain_id: int
    block_number: int
    block_hash: str
    log_index: int
    tx_hash: str
    contract: str
    event: str
    args: dict[str, Any] | None = Field(
        None, description="Decoded arguments; null when they are another member's data."
    )
    redacted: bool = False


class EventsPublic(BaseModel):
    data: list[EventPublic]
    count: int


class MeterIntervalPublic(BaseModel):
    meter_id: str
    interval_start_s: int = Field(description="Start of the 15-minute interval, unix seconds.")
    import_wh: int
    export_wh: int
    corrected: bool = Field(description="A late reading replaced the first commitment.")
    block_number: int


class MeterIntervalsPublic(BaseModel):
    data: list[MeterIntervalPublic]
    count: int


class ForecastPublic(BaseModel):
    participant_id: str
    interval_start_s: int
    q10_wh: int = Field(description="10 % quantile of net energy (import positive), Wh.")
    q50_wh: int
    q90_wh: int
    model_version: str
    revised: bool


class ForecastsPublic(BaseModel):
    data: list[ForecastPublic]
    count: int
