"""Response and request models. Families follow one pattern: ``XPublic`` is one item,
``XsPublic(data, count)`` a page of them with the total count matching the filters.

Units as on-chain: energy in Wh, prices in FlexToken base units per kWh, times in unix
seconds. Token amounts (uint256) are decimal strings, exact in any JSON reader. FlexToken
(FLEX) is the community's euro token: 1 FLEX = 1 EUR with 6 decimals, so a base unit is a
micro-euro ("12340000" is EUR 12.34) and a price of 123400 base units per kWh is 12.34 euro
cents per kWh. Every amount's and price's schema description ends with its unit
(:data:`Amount`, :data:`PricePerKwh`).

The response models are built from the read models' rows (``from_attributes``):
``SessionPublic.model_validate(row)``. A field whose JSON differs from its column says so in
its type (``Amount``: an integer column as a decimal string; ``SideName``: 0/1 as bid/offer) or
its ``validation_alias`` (the column it reads); a value computed next to the row comes in with
:class:`RowWith`; a value derived from the other fields is a ``computed_field``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, computed_field

from core.rules import BP, lower_wh, upper_wh, within_tolerance
from streams.directory import ASSETS_MAX, NAME_MAX, NAME_PATTERN

ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"
HASH_PATTERN = r"^0x[0-9a-fA-F]{64}$"
AddressStr = Annotated[
    str, Field(pattern=ADDRESS_PATTERN, description="An account address (EIP-55 checksummed).")
]
HashStr = Annotated[str, Field(pattern=HASH_PATTERN, description="32 bytes, 0x and 64 hex digits.")]


def name_field(address_field: str) -> Any:
    """A ``<address_field>_name`` field: the display name of the address beside it, filled by
    :func:`api.names.named` with exactly that address's visibility."""
    return Field(
        None,
        description=f"Display name of `{address_field}` (member directory); null where "
        f"`{address_field}` is null or has no name.",
    )


class FromRow(BaseModel):
    """A response model read from a row's attributes (or built by field name)."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)


class RowWith:
    """``row``'s attributes, with ``extra`` added (or replacing the row's): what
    ``model_validate`` reads when a response joins a row with values computed beside it."""

    def __init__(self, row: Any, **extra: Any) -> None:
        self._row = row
        self._extra = extra

    def __getattr__(self, name: str) -> Any:
        try:
            return self._extra[name]
        except KeyError:
            return getattr(self._row, name)


def _decimal_text(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else str(value)


def _unit(text: str) -> Callable[[dict[str, Any]], None]:
    """A ``json_schema_extra`` that ends a field's description with its unit (after the
    field's own description, which a plain annotated description would lose to)."""

    def add(schema: dict[str, Any]) -> None:
        own = schema.get("description")
        schema["description"] = f"{own} {text}" if own else text

    return add


MONEY_UNIT = "In FLEX base units: micro-euros (1 FLEX = 1 EUR, 6 decimals)."
PRICE_UNIT = "In FLEX base units per kWh: micro-euros per kWh (10000 = 1 euro cent per kWh)."

Amount = Annotated[str, BeforeValidator(_decimal_text), Field(json_schema_extra=_unit(MONEY_UNIT))]
"""A uint256 amount (base units) as a decimal string; the column holds an integer."""
OptionalAmount = Annotated[
    str | None, BeforeValidator(_decimal_text), Field(json_schema_extra=_unit(MONEY_UNIT))
]
PricePerKwh = Annotated[int, Field(json_schema_extra=_unit(PRICE_UNIT))]
"""A price in FlexToken base units per kWh."""
OptionalPricePerKwh = Annotated[int | None, Field(json_schema_extra=_unit(PRICE_UNIT))]
MeanPricePerKwh = Annotated[float | None, Field(json_schema_extra=_unit(PRICE_UNIT))]

_SIDE_NAMES = {0: "bid", 1: "offer"}
SideName = Annotated[Literal["bid", "offer"], BeforeValidator(lambda v: _SIDE_NAMES.get(v, v))]
"""An order's side; the column holds the contract's number (0: bid, 1: offer)."""


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
    address: AddressStr
    address_name: str | None = name_field("address")
    roles: list[str] = Field(
        description="On-chain roles of the address at login (read models); each request "
        "reads them again, so a role change or a deactivation takes effect at once."
    )


class MePublic(FromRow):
    address: AddressStr
    address_name: str | None = name_field("address")
    roles: list[str] = Field(description="On-chain roles of the address now (read models).")
    chain_id: int
    expires_at: int


# ---- participants ------------------------------------------------------------------------------

AssetKind = Literal["heat-pump", "battery", "ev-charger", "pv"]


class AssetPublic(BaseModel):
    """A flexible asset and its main ratings."""

    model_config = ConfigDict(extra="forbid")

    kind: AssetKind
    power_kw: float = Field(gt=0, le=10_000, description="Rated power, kW (PV: peak, kWp).")
    capacity_kwh: float | None = Field(
        None, gt=0, le=100_000, description="Battery: usable capacity, kWh; others: null."
    )
    label: str | None = Field(None, max_length=64, description="A name for it.")


class MeterPublic(BaseModel):
    """An extra meter of a member (a sub-meter), beside its registered one."""

    meter_id: str
    label: str | None = None


class ProfilePublic(BaseModel):
    """Your entry in the member directory (never on-chain; see README, privacy)."""

    account: AddressStr
    display_name: str | None = Field(description="Null: none given yet.")
    assets: list[AssetPublic]
    meters: list[MeterPublic]


class _AssetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    power_kw: float = Field(gt=0, le=10_000, description="Rated power, kW (PV: peak, kWp).")
    label: str | None = Field(None, max_length=64, description="A name for it.")


class BatteryIn(_AssetIn):
    """A battery: its power and its usable capacity."""

    kind: Literal["battery"]
    capacity_kwh: float = Field(gt=0, le=100_000, description="Usable capacity, kWh.")


class DeviceIn(_AssetIn):
    """A heat pump, an EV charger or PV: its power."""

    kind: Literal["heat-pump", "ev-charger", "pv"]


AssetIn = Annotated[BatteryIn | DeviceIn, Field(discriminator="kind")]


class ProfileIn(BaseModel):
    """A change of your profile: each field given replaces that part."""

    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(
        None,
        min_length=1,
        max_length=NAME_MAX,
        pattern=NAME_PATTERN,
        description="How other members see you: no control characters, no space first or last.",
    )
    assets: list[AssetIn] | None = Field(None, max_length=ASSETS_MAX)


class ParticipantPublic(FromRow):
    account: AddressStr
    display_name: str | None = Field(
        None, description="Display name (member directory); null: none given."
    )
    role: str = Field(validation_alias="role_name", description="The on-chain role.")
    grid_area: str
    active: bool
    meter_id: str | None = Field(
        None, description="Only for the participant itself, its aggregator, the DSO, operator."
    )
    aggregator: AddressStr | None = Field(
        None, description="Delegated aggregator (same visibility)."
    )
    aggregator_name: str | None = name_field("aggregator")
    assets: list[AssetPublic] | None = Field(
        None, description="Flexible assets (member directory); same visibility as meter_id."
    )
    meters: list[MeterPublic] | None = Field(
        None, description="Extra meters (member directory); same visibility as meter_id."
    )
    registered_block: int


class ParticipantsPublic(BaseModel):
    data: list[ParticipantPublic]
    count: int


# ---- sessions ----------------------------------------------------------------------------------


class SessionPublic(FromRow):
    session_id: int
    market: str
    grid_area: str
    status: str = Field(description="open, cleared, voided (not cleared before delivery: every "
                        "lock released) or settled (on delivery, from the meter data).")
    delivery_start_s: int
    duration_s: int
    gate_closure_s: int
    reveal_deadline_s: int
    product: int
    rule: int
    sealed_bids: bool
    order_count: int
    cancel_count: int
    price_per_kwh: OptionalPricePerKwh = Field(
        None, description="Clearing price (cleared sessions)."
    )
    volume_wh: int | None = Field(None, description="Matched volume (cleared sessions).")
    match_count: int | None = None
    escrowed: OptionalAmount = Field(None, description="Escrowed FlexToken base units.")
    opened_block: int
    cleared_block: int | None = None
    tolerance_bp: int = Field(description="A seller's shortfall is counted below its fill minus "
                              "this share, basis points.")
    penalty_per_kwh: PricePerKwh = Field(description="Penalty per kWh of shortfall, base units.")
    order_bond: Amount = Field(description="Locked by every order until cleared or cancelled.")
    baseline_intervals: int = Field(description="Meter-before baseline: intervals averaged.")
    settle_delay_s: int = Field(description="Settlement opens this long after the delivery.")
    earned: OptionalAmount = Field(None, description="Settled: what the sellers earned in all.")
    penalties: OptionalAmount = Field(None, description="Settled: the sellers' penalties in all.")
    refunds: OptionalAmount = Field(None, description="Settled: what went back to the buyers.")
    dust: OptionalAmount = Field(None, description="Settled: rounding dust to the treasury.")
    settled_block: int | None = Field(None, description="Block of the settlement or the void.")


class SessionsPublic(BaseModel):
    data: list[SessionPublic]
    count: int


class DepthLevel(BaseModel):
    price_per_kwh: PricePerKwh
    qty_wh: int = Field(description="Summed quantity of the active orders at this price.")


class DepthPublic(BaseModel):
    """Anonymised order-book depth: price levels and summed quantities, no traders."""

    session_id: int
    status: str
    bids: list[DepthLevel] = Field(description="Best (highest) price first.")
    offers: list[DepthLevel] = Field(description="Best (lowest) price first.")


# ---- orders ------------------------------------------------------------------------------------


OrderState = Literal["open", "cancelled", "voided", "filled", "partly_filled", "unfilled"]


def order_state(
    cancelled: bool, qty_wh: int, filled_wh: int, session_status: str | None
) -> OrderState:
    """An order's state: its own row (cancelled, its fill) and its session's status."""
    if cancelled:
        return "cancelled"
    if session_status == "voided":
        return "voided"
    if session_status in ("cleared", "settled"):
        if filled_wh >= qty_wh:
            return "filled"
        return "partly_filled" if filled_wh > 0 else "unfilled"
    return "open"


class OrderPublic(FromRow):
    session_id: int
    order_id: int
    trader: AddressStr
    trader_name: str | None = name_field("trader")
    side: SideName
    qty_wh: int
    price_per_kwh: PricePerKwh
    grid_area: str
    cancelled: bool
    filled_wh: int
    placed_block: int
    tx_hash: HashStr
    paid: OptionalAmount = Field(None, description="A filled bid, settled: what it paid in.")
    refund: OptionalAmount = Field(None, description="A filled bid, settled: what came back.")
    session_status: str | None = Field(
        None, description="Its session's status now (open, cleared, voided, settled)."
    )

    @computed_field(  # type: ignore[prop-decorator]
        description="The order's state from its row and its session's status: open (its "
        "session takes orders or waits for its clearing), cancelled, voided (the session was "
        "never cleared: every lock released), filled, partly_filled or unfilled (cleared or "
        "settled sessions)."
    )
    @property
    def state(self) -> OrderState:
        return order_state(self.cancelled, self.qty_wh, self.filled_wh, self.session_status)


class OrdersPublic(BaseModel):
    data: list[OrderPublic]
    count: int


class TradeSettlementPublic(FromRow):
    """One settled session of a member: as a seller (its delivery against its fill, what it
    earned and its penalty) or as a buyer (what its filled bids paid and got back)."""

    session_id: int
    delivery_start_s: int
    settled_block: int
    trader: AddressStr
    trader_name: str | None = name_field("trader")
    side: Literal["seller", "buyer"]
    filled_wh: int = Field(description="Its fills in the session, summed.")
    delivered_wh: int | None = Field(None, description="Seller: metered against the baseline.")
    credited_wh: int | None = Field(None, description="Seller: delivery paid for (<= fill).")
    shortfall_wh: int | None = Field(None, description="Seller: penalised shortfall.")
    missing_data: bool | None = Field(None, description="Seller: its meter sent no data.")
    earned: OptionalAmount = Field(None, description="Seller: its share of the escrow.")
    penalty: OptionalAmount = Field(None, description="Seller: paid out of its bond.")
    paid: OptionalAmount = Field(None, description="Buyer: what its filled bids paid in.")
    refund: OptionalAmount = Field(None, description="Buyer: what came back to it.")


class TradeSettlementsPublic(BaseModel):
    data: list[TradeSettlementPublic]
    count: int


# ---- matches -----------------------------------------------------------------------------------


class MatchPublic(FromRow):
    session_id: int
    bid_id: int
    offer_id: int
    qty_wh: int
    price_per_kwh: PricePerKwh
    block_number: int
    log_index: int
    my_side: Literal["bid", "offer", "both"] | None = Field(
        None, description="Which of the two orders is the asker's (None for the operator)."
    )


class MatchesPublic(BaseModel):
    data: list[MatchPublic]
    count: int


class SessionMatchesPublic(FromRow):
    """Public aggregate of one session's matches (no order ids, no traders)."""

    session_id: int
    grid_area: str
    delivery_start_s: int
    match_count: int
    volume_wh: int
    min_price_per_kwh: OptionalPricePerKwh
    max_price_per_kwh: OptionalPricePerKwh
    avg_price_per_kwh: MeanPricePerKwh = Field(None, description="Volume-weighted mean price.")


class SessionMatchesListPublic(BaseModel):
    data: list[SessionMatchesPublic]
    count: int


# ---- balances ----------------------------------------------------------------------------------


class BalancePublic(FromRow):
    token: AddressStr
    account: AddressStr
    account_name: str | None = name_field("account")
    balance: Amount = Field(description="Base units (FlexToken: 6 decimals), decimal string.")
    updated_block: int


class BalancesPublic(BaseModel):
    data: list[BalancePublic]
    count: int


# ---- events ------------------------------------------------------------------------------------


class EventPublic(FromRow):
    id: str = Field(
        pattern=r"^[0-9]{1,18}:[0-9]{1,9}$",
        description="Cursor: '<block>:<log index>'; pass it as `after`.",
    )
    chain_id: int
    block_number: int
    block_hash: HashStr
    log_index: int
    tx_hash: HashStr = Field(
        description="The transaction that emitted it (public on the chain, with its sender, "
        "also when the arguments are redacted)."
    )
    contract: str
    event: str
    args: dict[str, Any] | None = Field(
        None,
        description="Decoded arguments; null when they are another member's data. In the "
        "arguments shown, a member address you may not see is null.",
    )
    arg_names: dict[str, str] | None = Field(
        None,
        description="Display names of the addresses among the arguments shown (member "
        "directory), by argument name; null when the arguments are redacted.",
    )
    redacted: bool = False


class EventsPublic(BaseModel):
    data: list[EventPublic]
    count: int


class MeterIntervalPublic(FromRow):
    meter_id: str
    interval_start_s: int = Field(description="Start of the 15-minute interval, unix seconds.")
    import_wh: int
    export_wh: int
    corrected: bool = Field(description="A late reading replaced the first commitment.")
    block_number: int


class MeterIntervalsPublic(BaseModel):
    data: list[MeterIntervalPublic]
    count: int


class ForecastPublic(FromRow):
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


# ---- flexibility requests, opt-ins, coalitions, settlement (FlexCoordination) ------------------

RequestStatusName = Literal["open", "proposed", "accepted", "settled", "reclaimed"]
OptInStatusName = Literal["opted", "member", "reserve", "replaced"]
Visibility = Literal["all", "own"]


class FlexRequestPublic(FromRow):
    """A DSO's flexibility request: its terms (public to members) and where it stands."""

    request_id: int
    dso: AddressStr
    dso_name: str | None = name_field("dso")
    grid_area: str = Field(description="Empty: any grid area.")
    status: RequestStatusName
    direction: Literal["up", "down"] = Field(description="up: less load; down: more load.")
    window_start_s: int = Field(description="Start of the first 15-minute interval, unix s.")
    window_end_s: int = Field(description="End of the last interval (exclusive), unix s.")
    intervals: int
    opt_in_deadline_s: int
    quantities_wh: list[int] = Field(description="Requested flexibility per interval, Wh.")
    tolerance_bp: int = Field(description="Accepted deviation of the total, basis points.")
    price_cap_per_kwh: PricePerKwh
    penalty_per_kwh: PricePerKwh
    baseline_method: int = Field(description="Baseline method id (settlement.baselines).")
    baseline_hash: HashStr = Field(description="Hash of the baseline method's parameters.")
    escrow: Amount = Field(description="Escrowed FlexToken base units, decimal string.")
    round: int = Field(description="Coalition round (one more after each rejection).")
    opt_in_count: int
    coordinator: AddressStr | None = Field(None, description="Who proposed the (last) coalition.")
    coordinator_name: str | None = name_field("coordinator")
    price_per_kwh: OptionalPricePerKwh = Field(None, description="The coalition's price.")
    member_count: int = Field(
        validation_alias="row_count",
        description="Rows of the targets table (replacements add one).",
    )
    max_payout: OptionalAmount = Field(None, description="The most the targets can earn.")
    targets_hash: HashStr | None = None
    payout_total: OptionalAmount = Field(None, description="Paid to members (settled).")
    refund: OptionalAmount = Field(None, description="Back to the DSO (settled or reclaimed).")
    settlement_hash: HashStr | None = None
    settlement_state: Literal["proposed", "finalized"] | None = Field(
        None,
        description="proposed: open to disputes until challenge_ends_s (nothing is paid yet); "
        "finalized: paid out.",
    )
    challenge_ends_s: int | None = Field(None, description="End of the proposal's dispute window.")
    proposed_payout_total: OptionalAmount = Field(
        None, description="The proposal's payouts as they stand after its disputes."
    )
    dispute_count: int = Field(0, description="Successful disputes of the proposal.")
    outcome_reason: str | None = Field(
        None,
        description="Why a request that ended without a coalition (escrow reclaimed, or still "
        "open or proposed once its window started) has none, in one sentence: no opt-in, the "
        "opt-ins' summed offers below the least the tolerance admits in an interval, a "
        "coalition not accepted or rejected, or none proposed (api.explanations). Null for "
        "any other request.",
    )
    published_block: int
    published_tx: HashStr
    updated_block: int


class FlexRequestsPublic(BaseModel):
    data: list[FlexRequestPublic]
    count: int


class OptInPublic(FromRow):
    request_id: int
    member: AddressStr
    member_name: str | None = name_field("member")
    max_wh: int = Field(description="The most the member offers per interval, Wh.")
    relayer: AddressStr = Field(description="Who sent the opt-in (the member or its aggregator).")
    relayer_name: str | None = name_field("relayer")
    status: OptInStatusName = Field(description="Standing in the request's current round.")
    round: int
    opted_block: int
    tx_hash: HashStr


class OptInsPublic(BaseModel):
    data: list[OptInPublic]
    count: int
    visible: Visibility = Field(description="all: every opt-in; own: yours (and delegators').")


class CoalitionRowPublic(FromRow):
    """One member's row of the coalition: targets and, once settled, what it delivered."""

    member: AddressStr
    meter_id: str
    member_name: str | None = name_field("member")
    row_index: int = Field(description="Position in the on-chain targets table.")
    status: Literal["member", "replaced"]
    replaces: AddressStr | None = Field(
        None,
        description="The member this reserve replaced (null, too, for a member you may not see).",
    )
    replaces_name: str | None = name_field("replaces")
    replaced_by: AddressStr | None = Field(
        None,
        description="The reserve that replaced this member (null, too, for a member you may "
        "not see).",
    )
    replaced_by_name: str | None = name_field("replaced_by")
    replaced_from: int | None = Field(None, description="First interval of the replacement.")
    targets_wh: list[int]
    delivered_wh: list[int] | None = Field(None, description="Per interval (settled).")
    credited_wh: list[int] | None = None
    shortfall_wh: list[int] | None = None
    missing_intervals: list[int] | None = Field(
        None, description="Intervals without meter data (settled)."
    )
    target_total_wh: int
    delivered_total_wh: int | None = None
    credited_total_wh: int | None = None
    payout: OptionalAmount = Field(None, description="FlexToken base units (settled).")
    penalty_uncovered: OptionalAmount = Field(
        None, description="Penalty beyond the member's rewards, not collected (settled)."
    )
    points: int | None = Field(None, description="Reputation points (settled).")
    explanation: str | None = Field(
        None,
        description="Once settled (or proposed), where the row fell short: each interval below "
        "its tolerance bound with the request's meter-before baseline, the metered net import, "
        "the delivery counted (baseline minus metered for up, the reverse for down), the least "
        "needed and the shortfall, or why nothing was counted (no meter data, no baseline); "
        "null when nothing fell short. Only this row's figures (api.explanations).",
    )


class IntervalTotalPublic(FromRow):
    interval_index: int
    interval_start_s: int
    target_wh: int = Field(description="The coalition's summed targets, Wh.")
    delivered_wh: int | None = Field(None, description="Summed deliveries (settled).")
    credited_wh: int | None = None


class CoalitionPublic(FromRow):
    request_id: int
    status: RequestStatusName
    round: int
    coordinator: AddressStr | None
    coordinator_name: str | None = name_field("coordinator")
    price_per_kwh: OptionalPricePerKwh
    member_count: int = Field(validation_alias="row_count")
    visible: Visibility = Field(description="all: every row; own: yours (and delegators').")
    rows: list[CoalitionRowPublic]
    count: int = Field(description="Rows visible to you in all (rows is one page of them).")
    totals: list[IntervalTotalPublic] = Field(description="Per interval, the whole coalition.")


class RequestIntervalPublic(FromRow):
    """One interval of a request: asked, promised and delivered, and the tolerance verdict
    (built from a ``FlexRequestInterval`` row with the request's ``tolerance_bp`` and
    ``has_coalition``, see :class:`RowWith`)."""

    interval_index: int
    interval_start_s: int
    requested_wh: int
    target_wh: int = Field(description="The coalition's summed targets (0 without one).")
    delivered_wh: int | None = Field(None, description="Summed deliveries (settled).")
    credited_wh: int | None = None
    shortfall_wh: int | None = None
    members_without_data: int | None = Field(None, description="Members missing meter data.")
    tolerance_bp: int = Field(exclude=True, description="The request's tolerance.")
    has_coalition: bool = Field(exclude=True, description="The request has a coalition.")

    @computed_field(  # type: ignore[prop-decorator]
        description="Requested minus tolerance (rounded down)."
    )
    @property
    def lower_wh(self) -> int:
        return lower_wh(self.requested_wh, self.tolerance_bp)

    @computed_field(  # type: ignore[prop-decorator]
        description="Requested plus tolerance (rounded down)."
    )
    @property
    def upper_wh(self) -> int:
        return upper_wh(self.requested_wh, self.tolerance_bp)

    @computed_field(  # type: ignore[prop-decorator]
        description="lower <= targets <= upper (None: no coalition)."
    )
    @property
    def targets_within_tolerance(self) -> bool | None:
        if not self.has_coalition:
            return None
        return within_tolerance(self.target_wh, self.requested_wh, self.tolerance_bp)

    @computed_field(  # type: ignore[prop-decorator]
        description="delivered - requested (settled)."
    )
    @property
    def deviation_wh(self) -> int | None:
        return None if self.delivered_wh is None else self.delivered_wh - self.requested_wh

    @computed_field(  # type: ignore[prop-decorator]
        description="The deviation in basis points, rounded toward zero."
    )
    @property
    def deviation_bp(self) -> int | None:
        deviation = self.deviation_wh
        if deviation is None:
            return None
        magnitude = abs(deviation) * BP // self.requested_wh
        return magnitude if deviation >= 0 else -magnitude

    @computed_field(  # type: ignore[prop-decorator]
        description="lower <= delivered <= upper (settled)."
    )
    @property
    def within_tolerance(self) -> bool | None:
        if self.delivered_wh is None:
            return None
        return within_tolerance(self.delivered_wh, self.requested_wh, self.tolerance_bp)


class RequestIntervalsPublic(FromRow):
    request_id: int
    status: RequestStatusName
    tolerance_bp: int
    data: list[RequestIntervalPublic]
    count: int


class AccountRequestPublic(FromRow):
    """A member's part in one request: its opt-in, targets, deliveries and result."""

    request_id: int
    request_status: RequestStatusName
    grid_area: str
    window_start_s: int
    intervals: int
    opt_in_status: OptInStatusName
    max_wh: int
    in_coalition: bool
    meter_id: str | None = None
    targets_wh: list[int] | None = None
    delivered_wh: list[int] | None = None
    credited_wh: list[int] | None = None
    target_total_wh: int | None = None
    delivered_total_wh: int | None = None
    credited_total_wh: int | None = None
    payout: OptionalAmount = None
    penalty_uncovered: OptionalAmount = None
    points: int | None = None


class AccountCoordinationPublic(FromRow):
    """A member's standing in the coordination contract and its requests (one page)."""

    account: AddressStr
    account_name: str | None = name_field("account")
    claimable: Amount = Field(description="Credited payouts not yet claimed, base units.")
    earned_total: Amount = Field(description="All payouts credited so far, base units.")
    claimed_total: Amount
    penalty_uncovered_total: Amount
    reputation: int = Field(description="Sum of the points of its settlements.")
    settled_count: int
    opt_in_count: int
    requests: list[AccountRequestPublic]
    count: int = Field(description="Requests the member opted in to (matching the filters).")


# ---- dashboards (aggregates of the read models) -------------------------------------------------


class MarketPointPublic(FromRow):
    """One cleared (or settled) session: its clearing price and matched volume."""

    session_id: int
    grid_area: str
    delivery_start_s: int
    status: str
    price_per_kwh: OptionalPricePerKwh = Field(None, description="Clearing price.")
    volume_wh: int = Field(description="Matched volume, Wh.")
    match_count: int


class MarketDashboardPublic(BaseModel):
    """Price and volume history of the market: the latest cleared sessions, oldest first."""

    data: list[MarketPointPublic]
    count: int = Field(description="Cleared sessions matching the filters in all.")
    volume_wh: int = Field(description="Matched volume of the sessions listed, Wh.")
    mean_price_per_kwh: MeanPricePerKwh = Field(
        None, description="Volume-weighted mean clearing price of the sessions listed."
    )


class DsoRequestPointPublic(FromRow):
    """One request: delivered against requested, and what the flexibility cost."""

    request_id: int
    dso: AddressStr
    dso_name: str | None = name_field("dso")
    grid_area: str
    status: str
    window_start_s: int
    requested_wh: int = Field(description="Summed over the window, Wh.")
    target_wh: int = Field(description="The coalition's summed targets, Wh (0 without one).")
    delivered_wh: int | None = Field(None, description="Summed deliveries (settled), Wh.")
    credited_wh: int | None = Field(None, description="Summed credited deliveries, Wh.")
    within_tolerance: bool | None = Field(
        None,
        description="Settled: every interval's delivery within the request's tolerance of what "
        "was requested.",
    )
    paid: OptionalAmount = Field(None, description="Paid to the members (settled).")
    cost_per_kwh: MeanPricePerKwh = Field(
        None, description="Paid per credited kWh (settled, something credited)."
    )


class DsoIntervalPointPublic(FromRow):
    """One interval of a request: requested against delivered, over time."""

    request_id: int
    interval_start_s: int
    requested_wh: int
    delivered_wh: int | None = Field(None, description="Summed deliveries (settled).")


class DsoDashboardPublic(BaseModel):
    """A DSO's requests (or every DSO's): delivered against requested, the success rate and
    the cost of a kWh of flexibility."""

    dso: AddressStr | None = Field(description="Whose requests (null: every DSO's).")
    dso_name: str | None = name_field("dso")
    requests: list[DsoRequestPointPublic] = Field(description="The latest, oldest first.")
    intervals: list[DsoIntervalPointPublic] = Field(description="Their intervals, in time.")
    count: int = Field(description="Requests matching the filters in all.")
    settled_count: int = Field(description="Settled requests among those listed.")
    within_tolerance_count: int = Field(description="Settled ones delivered within tolerance.")
    success_rate: float | None = Field(
        None, description="within_tolerance_count / settled_count (null: none settled)."
    )
    paid_total: Amount = Field(description="Paid to members for the settled requests listed.")
    credited_wh_total: int = Field(description="Credited deliveries of those requests, Wh.")
    cost_per_kwh: MeanPricePerKwh = Field(
        None, description="paid_total per credited kWh (null: nothing credited)."
    )


class ServiceStatusPublic(BaseModel):
    name: str
    ok: bool
    detail: str = Field(description="What was found, for a person.")


class OperatorDashboardPublic(BaseModel):
    """The platform's health and key figures (market operator only)."""

    head_block: int | None = Field(description="The chain's latest block (null: no answer).")
    indexed_block: int | None = Field(description="The read models' checkpoint block.")
    lag_blocks: int | None = Field(description="head_block - indexed_block.")
    events_indexed: int = Field(description="Chain events in the read models.")
    events_per_minute: float | None = Field(
        description="Events indexed per minute of wall time since an earlier call of this "
        "route (within the last 10 minutes; null on the first call)."
    )
    services: list[ServiceStatusPublic]
    members: int = Field(description="Active prosumers.")
    participants: int = Field(description="Registered accounts of every role (active).")
    sessions_cleared: int = Field(description="Market sessions cleared (or settled since).")
    volume_wh: int = Field(description="Matched volume of every session, Wh.")
    requests_published: int
    requests_settled: int
    gas_spent: int | None = Field(
        None, description="Gas the platform's transactions used (null: not in the read models)."
    )
    gas_note: str = Field(description="Where gas figures come from.")


class MemberPointPublic(BaseModel):
    """One settled request or market session of a member: what it earned, its penalty and
    its reputation after it."""

    kind: Literal["request", "session"]
    id: int = Field(description="The request id or the session id.")
    time_s: int = Field(description="Window start or delivery start, unix s.")
    earned: Amount = Field(description="Reward (request) or share of the escrow (session).")
    penalty: Amount = Field(description="Penalty for a shortfall.")
    points: int | None = Field(None, description="Reputation points of a request.")
    reputation: int = Field(description="Reputation after this one (requests' points summed).")


class MemberDashboardPublic(BaseModel):
    account: AddressStr
    account_name: str | None = name_field("account")
    data: list[MemberPointPublic] = Field(description="Settled requests and sessions, in time.")
    earned_total: Amount = Field(description="Of the rows listed.")
    penalty_total: Amount = Field(description="Of the rows listed.")
    reputation: int = Field(description="Reputation points now (the coordination account).")


# ---- thermal twins of the members' homes (SLC-4, SLC-9) ----------------------------------------


class TwinSeriesInfoPublic(BaseModel):
    """Where a stored series lies in time (without its values)."""

    start_s: int = Field(description="Start of its first interval, unix seconds.")
    step_s: int = Field(description="Length of an interval, seconds (900 or 3600).")
    length: int = Field(description="Number of intervals.")
    end_s: int = Field(description="End of its last interval, unix seconds.")


class TwinScenarioPublic(BaseModel):
    """One scenario the twin simulated: ``as-is`` or a what-if, with its totals."""

    name: str = Field(description="as-is, heat-pump, setpoint-1, insulation, occupancy-... .")
    description: str = Field(description="What the scenario changes, for a person.")
    config: dict[str, Any] = Field(description="The changes it made to the twin's configuration.")
    totals: dict[str, float | None] = Field(
        description="Over its series: heat_kwh (heat delivered, kWh), electricity_kwh, fuel_kwh "
        "(kWh), comfort_kh (kelvin-hours outside the comfort band), mean_indoor_c (degC)."
    )
    series: TwinSeriesInfoPublic = Field(description="Where its simulated series lies in time.")


class TwinPublic(BaseModel):
    """A home's thermal twin: its parameters, how well it fits the measurements and its
    scenarios' totals (the series: ``/series``)."""

    account: AddressStr = Field(description="The member whose home it is.")
    home_id: str = Field(description="The home's data key (e.g. a data set's building).")
    created_s: int = Field(description="When the twin was made, unix seconds.")
    stored_s: int = Field(description="When it was stored, unix seconds.")
    inputs_sha256: str = Field(description="SHA-256 of what it was made from (hex).")
    params: dict[str, Any] = Field(
        description="The twin's configuration and fitted parameters (units in their names)."
    )
    fit: dict[str, Any] = Field(
        description="Calibration report: rmse_c and mae_c (degC), energy_wape, params_std ... "
        "(empty if the twin was not calibrated)."
    )
    measured: TwinSeriesInfoPublic | None = Field(
        description="Where the measured series lies in time (null: nothing was measured)."
    )
    scenarios: list[TwinScenarioPublic] = Field(description="In the order the twin ran them.")


Reading = Annotated[float | None, Field(description="A value; null: none (a gap).")]


class TwinSeriesValuesPublic(BaseModel):
    """Values at a fixed step; each list has one value per interval (or none at all where the
    home has no such quantity)."""

    start_s: int = Field(description="Start of the first interval, unix seconds.")
    step_s: int = Field(description="Length of an interval, seconds (900 or 3600).")
    indoor_c: list[Reading] = Field(description="Mean indoor air temperature, degC.")
    heat_wh: list[Reading] = Field(
        description="Heat the heating/cooling system delivered, Wh (cooling negative)."
    )
    electricity_wh: list[Reading] = Field(
        description="Electricity of the heating/cooling system and hot-water heater, Wh."
    )
    fuel_wh: list[Reading] = Field(description="Fuel (gas) of a boiler, Wh.")
    outdoor_c: list[Reading] = Field(description="Outdoor air temperature, degC.")
    setpoint_c: list[Reading] = Field(description="Thermostat setpoint, degC.")


class TwinSeriesPublic(BaseModel):
    """Measured and simulated series of a home over one window of time."""

    account: AddressStr = Field(description="The member whose home it is.")
    home_id: str
    scenario: str = Field(description="The scenario of `simulated`.")
    from_s: int = Field(description="The window's start, unix seconds (intervals from it).")
    to_s: int = Field(description="The window's end, unix seconds (intervals before it).")
    measured: TwinSeriesValuesPublic | None = Field(
        description="What was measured in the window (null: nothing was measured)."
    )
    simulated: TwinSeriesValuesPublic = Field(description="What the twin simulated in it.")


# ---- trained physics-informed models of the members' homes (PIMF) ------------------------------


class ThermalModelGatePublic(BaseModel):
    """The validation gate a trained model passed: on validation data its forecast errors
    stayed within +-1.5 degC (``bright twin learn``)."""

    usable: bool = Field(description="Whether the model passed its gate (always true here).")
    reason: str = Field(description="Why it failed (empty: it passed).")
    worst_lead_share_within: float | None = Field(
        None, description="Share of forecasts within +-1.5 degC at the worst lead (0 to 1)."
    )
    worst_lead_mae_c: float | None = Field(
        None, description="Mean absolute error at the worst lead, degC."
    )
    n_origins: int | None = Field(None, description="Validation forecasts it was scored on.")


class ThermalModelScoresPublic(BaseModel):
    """Validation scores of the indoor temperature forecast, 1 h and 24 h ahead (null: not
    scored)."""

    lead_1_mae_c: float | None = Field(description="Mean absolute error 1 step ahead, degC.")
    lead_24_mae_c: float | None = Field(description="Mean absolute error 24 steps ahead, degC.")
    lead_1_within_1_5: float | None = Field(
        description="Share within +-1.5 degC 1 step ahead (0 to 1)."
    )
    lead_24_within_1_5: float | None = Field(
        description="Share within +-1.5 degC 24 steps ahead (0 to 1)."
    )


class ThermalModelPlanPublic(BaseModel):
    """One setpoint plan's forecast: one value per step."""

    indoor_c: list[float] = Field(description="Indoor air temperature, degC.")
    heat_kwh: list[float] = Field(
        description="Heat the heating/cooling system needs, kWh (cooling negative)."
    )


class ThermalModelForecastPublic(BaseModel):
    """The model's forecast from one origin under each setpoint plan."""

    origin_s: int = Field(description="Start of the first step, unix seconds.")
    step_s: int = Field(description="Length of a step, seconds.")
    plans: dict[str, ThermalModelPlanPublic] = Field(
        description="By plan: as-is (the measured setpoints), setpoint-1 (1 K lower) ..."
    )


class ThermalModelPublic(BaseModel):
    """A home's trained physics-informed model that passed its validation gate: its gate,
    parameters, validation scores and forecast (a model that failed answers 409)."""

    account: AddressStr = Field(description="The member whose home it is.")
    home_id: str = Field(description="The home's data key (e.g. a data set's building).")
    usable: Literal[True] = Field(description="It passed its validation gate.")
    gate: ThermalModelGatePublic
    trained_s: int = Field(description="When it was trained, unix seconds.")
    stored_s: int = Field(description="When it was stored, unix seconds.")
    model_sha256: str = Field(description="SHA-256 of the model file (hex).")
    size_bytes: int = Field(description="Size of the model file, bytes.")
    parameters: dict[str, Any] = Field(
        description="Its RC parameters in physical units (conductances kW/K, capacities kWh/K, "
        "time constants h; units in their names); empty if not recorded."
    )
    scores: ThermalModelScoresPublic
    forecast: ThermalModelForecastPublic


# ---- control over the thermal twins: policies compared, the controller's status (issue 18) ----

ControlPolicyName = Literal["bau", "rule", "mpc", "rl"]


class ControlKpisPublic(BaseModel):
    """A policy's totals over the period."""

    cost: float = Field(description="Energy bill (currency of the prices; export counted off).")
    emissions_kg: float = Field(description="CO2 of the imported electricity, kg.")
    peak_kw: float = Field(
        description="Highest import of a step, kW (of several homes: the sum of each one's)."
    )
    violation_kh: float = Field(description="Kelvin-hours outside the comfort band.")
    tracking_kwh: float = Field(description="Distance from the committed targets, kWh.")
    import_kwh: float = Field(description="Electricity imported, kWh.")


class ControlRatiosPublic(BaseModel):
    """A policy's totals divided by business as usual's (null: business as usual's is 0,
    nothing to compare with)."""

    cost: float | None
    emissions_kg: float | None
    peak_kw: float | None
    violation_kh: float | None
    tracking_kwh: float | None
    import_kwh: float | None


class ControlPolicyResultPublic(BaseModel):
    """One policy over the period: totals, ratios to business as usual, decision time."""

    totals: ControlKpisPublic
    ratios_to_bau: ControlRatiosPublic
    decision_ms: float = Field(description="Decision time per home per step, ms (mean).")


class ControlPeriodPublic(BaseModel):
    start_s: int = Field(description="Start of the compared period, unix seconds.")
    step_s: int = Field(description="Length of a control step, seconds.")
    steps: int = Field(description="Number of steps.")
    homes: int = Field(description="Homes the policies drove together.")
    end_s: int = Field(description="End of the period, unix seconds.")


class ControlCostFunctionPublic(BaseModel):
    """The cost function the policies minimised."""

    weights: dict[str, float] = Field(
        description="Weight of each term: cost, emissions, peak, comfort, tracking."
    )
    feed_in_share: float = Field(description="Feed-in price as a share of the import price.")


class ControlSeriesPolicyPublic(BaseModel):
    indoor_c: list[Reading] = Field(description="Indoor air temperature, degC.")
    net_import_w: list[Reading] = Field(
        description="Net import of the home, W (export negative)."
    )


class ControlSeriesPublic(BaseModel):
    """The home's series under each policy, one value per step of ``step_s``."""

    start_s: int = Field(description="Start of the first step, unix seconds.")
    step_s: int = Field(description="Length of a step, seconds.")
    band_low_c: list[Reading] = Field(description="Lower edge of the comfort band, degC.")
    band_high_c: list[Reading] = Field(description="Upper edge of the comfort band, degC.")
    policies: dict[ControlPolicyName, ControlSeriesPolicyPublic] = Field(
        description="By policy: bau (business as usual), rule, mpc, rl."
    )


class ControlComparisonPublic(BaseModel):
    """A home's comparison of the control policies over a period: each one's totals against
    business as usual, and the home's indoor temperature and net import under each."""

    account: AddressStr = Field(description="The member whose home it is.")
    stored_s: int = Field(description="When the comparison was stored, unix seconds.")
    period: ControlPeriodPublic
    cost_function: ControlCostFunctionPublic
    policies: dict[ControlPolicyName, ControlPolicyResultPublic] = Field(
        description="By policy: bau (business as usual), rule (price-responsive rule), mpc "
        "(model-predictive control), rl (reinforcement learning)."
    )
    series: ControlSeriesPublic


class ControlCommunityPolicyPublic(BaseModel):
    """One policy summed over the community's homes."""

    homes: int = Field(description="Homes whose comparison has this policy.")
    totals: ControlKpisPublic = Field(description="Sums over those homes.")
    ratios_to_bau: ControlRatiosPublic = Field(
        description="The sums divided by business as usual's over the same homes."
    )
    decision_ms: float = Field(description="Decision time per home per step, ms (mean).")


class ControlCommunityPublic(BaseModel):
    """The control policies compared over the community: every stored home's comparison
    summed (no home is named). With fewer than ``min_homes`` homes nothing but their number
    is shown (``suppressed``): a sum of one or two homes would show theirs."""

    homes: int = Field(description="Homes with a stored comparison.")
    min_homes: int = Field(description="Homes needed before the sums are shown.")
    suppressed: bool = Field(description="True: too few homes, no sums shown.")
    from_s: int | None = Field(description="Earliest start of the compared periods, unix s.")
    to_s: int | None = Field(description="Latest end of the compared periods, unix s.")
    policies: dict[ControlPolicyName, ControlCommunityPolicyPublic] = Field(
        description="By policy (empty when suppressed)."
    )


class ControlStepPublic(BaseModel):
    """One step of the controller in the home: what it did, and why."""

    start_s: int = Field(description="Start of the step, unix seconds.")
    indoor_c: float = Field(description="Indoor air temperature, degC.")
    band_low_c: float | None = Field(description="Lower edge of the comfort band, degC.")
    band_high_c: float | None = Field(description="Upper edge of the comfort band, degC.")
    setpoint_offset_k: float = Field(
        description="How far the controller moved the thermostat's setpoint, K."
    )
    net_import_w: float = Field(description="Net import of the home, W (export negative).")
    target_w: float | None = Field(description="Committed net import, W (null: none).")
    reason: str = Field(description="Why the controller did it, in words.")


class ControlFlexibilityPublic(BaseModel):
    """How much the home can shift per step from now, without leaving its comfort band."""

    start_s: int = Field(description="Start of the first step, unix seconds.")
    step_s: int = Field(description="Length of a step, seconds (900).")
    up_wh: list[float] = Field(description="More import it can take, Wh.")
    down_wh: list[float] = Field(description="Import it can shed, Wh.")
    rebound_wh: list[float] = Field(
        description="Energy to recover after shedding (negative: comes back), Wh."
    )


class ControlStatusPublic(BaseModel):
    """What the controller did in the home recently and why, and the home's flexibility."""

    account: AddressStr = Field(description="The member whose home it is.")
    policy: ControlPolicyName = Field(description="The policy that drives the home.")
    updated_s: int = Field(description="When the status was updated, unix seconds.")
    comfort_violation_kh: float = Field(
        description="Kelvin-hours outside the comfort band over the steps shown."
    )
    steps: list[ControlStepPublic] = Field(description="The last steps, in time (at most 672).")
    flexibility: ControlFlexibilityPublic | None = Field(
        description="Its flexibility from now (null: not estimated)."
    )
