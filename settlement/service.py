"""A FlexCoordination request settled from chain data alone (used by the coalition service to
propose a settlement, by the dispute watcher (:mod:`settlement.disputes`) to check one, and by
``bright settle verify`` to recompute): the request's terms, the targets table (events), the
committed meter values (MeterOracle events, corrections included).

The rules are :mod:`settlement.engine`'s, with these conventions for what the engine leaves
to the caller, all of them the contract's too (a dispute recomputes a row on-chain the same
way, ``CoordinationSettlement``):

* **Baseline parameters**: the contract takes only the meter-before baseline (method 4) and
  stores its parameters (``baseline_intervals``, ``baseline_gap_intervals``), which are used
  (the stored hash must be theirs). For any other method id the request fixes a
  ``baseline_hash``: a zero hash means the method's default parameters; otherwise the
  parameters are the defaults or one of the encodings the caller knows (``known_params``) whose
  :func:`~settlement.baselines.baseline_hash` is the stored hash; if none matches,
  :class:`UnknownBaselineParams`.
* **Missing meter data**: a window interval of a member without a committed value is flagged
  as missing (the contract checks that it has no commitment): nothing delivered, nothing
  credited, the shortfall is ``T * (10000 - tol) // 10000`` (the engine's result with metered
  = baseline). A member whose baseline cannot be computed (not enough committed history)
  delivered 0 in every interval.
* **Reputation points**: ``POINTS_PER_KWH * C // 1000 - PENALTY_POINTS_PER_KWH * S // 1000``
  per interval (:func:`settlement.engine.settle_reputation`'s rule with the contract's
  constants, 1,000 each), summed over the window and capped to the int32 range of the results
  word; the uncovered penalty is capped at ``2**64 - 1`` likewise (the contract does the same).

Meter values are net import, ``import_wh - export_wh`` (:mod:`settlement.domain`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from chain.coordination import (
    METER_BEFORE_AFTER,
    PENALTY_POINTS_PER_KWH,
    POINTS_PER_KWH,
    RequestInfo,
    pack_proposal_deliveries,
)
from chain.oracles import CommittedValue, MeterOracleClient
from core.codec import CoalitionRow, MemberDeliveries, MemberResult, pack_results
from core.oracle_codec import MeterValue
from core.rules import Direction, FlexRequest, interval_points, lower_wh, member_money
from settlement.baselines import (
    MeterBeforeAfterParams,
    SameHourParams,
    XOfYParams,
    baseline_hash,
    compute_baseline,
    decode_params,
)
from settlement.domain import MeterSeries, SettlementRules
from settlement.engine import settle as engine_settle
from settlement.errors import BaselineError, MissingMeterData, SettlementError

__all__ = [
    "ChainSettlement",
    "MeterValues",
    "UnknownBaselineParams",
    "compute_chain_settlement",
    "flex_request",
    "resolve_baseline_params",
    "settlement_hash",
]

ZERO_HASH = b"\x00" * 32


class UnknownBaselineParams(SettlementError, ValueError):
    """No known parameter encoding of the method gives the request's baseline hash."""

    def __init__(self, request_id: int, method: int, stored: bytes) -> None:
        self.request_id, self.method, self.stored = request_id, method, stored
        super().__init__(
            f"request {request_id}: baseline method {method} with hash 0x{stored.hex()} matches "
            "neither the method's defaults nor a known parameter encoding"
        )


def resolve_baseline_params(
    info: RequestInfo, known_params: Sequence[Sequence[int]] = ()
) -> tuple[int, ...]:
    """The canonical parameter encoding of the request's baseline (see the module)."""
    method = info.baseline_method_id
    stored = bytes(info.baseline_hash)
    if method == METER_BEFORE_AFTER and info.baseline_params:
        params = tuple(int(v) for v in info.baseline_params)
        try:
            matches = stored == ZERO_HASH or baseline_hash(method, params) == stored
        except BaselineError:
            matches = False
        if not matches:
            raise UnknownBaselineParams(info.request_id, method, stored)
        return params
    defaults = decode_params(method, ()).encode()
    if stored == ZERO_HASH:
        return defaults
    for candidate in (defaults, *(tuple(int(v) for v in p) for p in known_params)):
        try:
            if baseline_hash(method, candidate) == bytes(info.baseline_hash):
                return tuple(candidate)
        except BaselineError:
            continue
    raise UnknownBaselineParams(info.request_id, method, bytes(info.baseline_hash))


def flex_request(
    info: RequestInfo, quantities_wh: Sequence[int], params: Sequence[int]
) -> FlexRequest:
    """The engine's view of an on-chain request (agreed price, escrow, baseline)."""
    return FlexRequest(
        request_id=info.request_id,
        window_start_s=info.window_start_s,
        quantity_wh=tuple(int(q) for q in quantities_wh),
        tolerance_bp=info.tolerance_bp,
        price_cap_per_kwh=info.price_cap_per_kwh,
        escrow=info.escrow,
        direction=Direction(int(info.direction)),
        penalty_per_kwh=info.penalty_per_kwh,
        baseline_method_id=info.baseline_method_id,
        baseline_params=tuple(params),
        price_per_kwh=info.price_per_kwh,
    )


class MeterValues:
    """The MeterOracle's current value of each (meter, interval), read incrementally from its
    events (a correction replaces the value it corrects), and every batch's values by root
    (what a Merkle proof of one of them needs)."""

    def __init__(self, client: MeterOracleClient, from_block: int = 0) -> None:
        self.client = client
        self._next_block = from_block
        self.values: dict[tuple[str, int], CommittedValue] = {}
        self.batches: dict[bytes, list[MeterValue]] = {}

    def refresh(self) -> dict[tuple[str, int], CommittedValue]:
        head = int(self.client.w3.eth.block_number)
        if head >= self._next_block:
            for c in self.client.history(self._next_block):
                self.batches.setdefault(c.root, []).append(c.value)
                key = (c.value.meter_id, c.value.interval_start_s)
                old = self.values.get(key)
                if old is None or (c.block, c.log_index) > (old.block, old.log_index):
                    self.values[key] = c
            self._next_block = head + 1
        return self.values

    def proof(self, committed: CommittedValue) -> list[bytes]:
        """The Merkle proof of a current value in its batch."""
        return self.client.proof_for(committed.value, self.batches[committed.root])

    def net_wh(self) -> dict[tuple[str, int], int]:
        """(meter id, interval start) -> net import, Wh."""
        return {k: c.value.import_wh - c.value.export_wh for k, c in self.values.items()}


@dataclass(frozen=True)
class MemberFigures:
    """One row's settlement with the engine's per-interval detail."""

    member: str
    meter_id: str
    target_wh: tuple[int, ...]
    baseline_wh: tuple[int, ...] | None
    metered_wh: tuple[int | None, ...]
    result: MemberResult
    deliveries: MemberDeliveries
    penalty_total: int


@dataclass(frozen=True)
class ChainSettlement:
    """What ``settle`` takes (results and deliveries in table order), and how it was derived."""

    request_id: int
    rows: list[CoalitionRow]
    members: list[MemberFigures]
    refund: int
    payout_total: int
    params: tuple[int, ...]
    used: dict[tuple[str, int], int] = field(default_factory=dict)
    """(meter id, interval start) -> net import Wh of every committed value used."""

    @property
    def results(self) -> list[MemberResult]:
        return [m.result for m in self.members]

    @property
    def deliveries(self) -> list[MemberDeliveries]:
        return [m.deliveries for m in self.members]

    @property
    def penalty_total(self) -> int:
        return sum(m.penalty_total for m in self.members)


def settlement_hash(
    results: Sequence[MemberResult], deliveries: Sequence[MemberDeliveries], intervals: int
) -> bytes:
    """The contract's ``settlementHash``: ``keccak256(abi.encode(keccak(results),
    keccak(deliveries)))`` over the packed words (the deliveries as a proposal gives them)."""
    from eth_utils import keccak

    from core.codec import words_hash

    return keccak(
        words_hash(pack_results(results))
        + words_hash(pack_proposal_deliveries(deliveries, intervals))
    )


INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
UINT64_MAX = 2**64 - 1


def chain_result(payout: int, penalty_uncovered: int, points: int) -> MemberResult:
    """A member's result as the contract's results word holds it: the uncovered penalty capped
    at ``2**64 - 1``, the points capped to the int32 range."""
    return MemberResult(
        payout, min(penalty_uncovered, UINT64_MAX), min(max(points, INT32_MIN), INT32_MAX)
    )


def _history_range(method: int, params: Sequence[int], window_start_s: int) -> tuple[int, int]:
    """The interval starts before the window a baseline may read: ``[lo, hi)``."""
    p = decode_params(method, params)
    if isinstance(p, MeterBeforeAfterParams):
        return (
            window_start_s - 900 * (p.gap_intervals + p.before_intervals),
            window_start_s - 900 * p.gap_intervals,
        )
    if isinstance(p, XOfYParams | SameHourParams):
        return window_start_s - 86_400 * (p.lookback_days + 1), window_start_s
    return window_start_s, window_start_s


def _points(credited: Sequence[int], shortfall: Sequence[int]) -> int:
    return sum(
        interval_points(c, s, POINTS_PER_KWH, PENALTY_POINTS_PER_KWH)
        for c, s in zip(credited, shortfall, strict=True)
    )


def compute_chain_settlement(
    info: RequestInfo,
    quantities_wh: Sequence[int],
    rows: Sequence[CoalitionRow],
    net_wh: Mapping[tuple[str, int], int],
    rules: SettlementRules | None = None,
    known_params: Sequence[Sequence[int]] = (),
) -> ChainSettlement:
    """The settlement of ``info`` from its rows and the committed net meter values.

    Parameters
    ----------
    info, quantities_wh
        The request as stored on-chain (its agreed price must be set: a coalition was accepted).
    rows
        The current targets table (last proposal plus replacements), in table order.
    net_wh
        Committed net import per (meter id, interval start), Wh.
    rules
        The engine's non-delivery rule (the money rules are the request's, the reputation
        point rates the contract's).
    known_params
        Baseline parameter encodings to try besides the defaults (see the module).
    """
    r = rules or SettlementRules()
    params = resolve_baseline_params(info, known_params)
    request = flex_request(info, quantities_wh, params)
    n = info.intervals
    starts = [info.window_start_s + 900 * k for k in range(n)]
    tol = info.tolerance_bp
    by_meter: dict[str, dict[int, int]] = {}
    for (meter, s), v in net_wh.items():
        by_meter.setdefault(meter, {})[s] = int(v)
    series: dict[str, MeterSeries] = {}
    missing: dict[str, frozenset[int]] = {}
    baselines: dict[str, tuple[int, ...] | None] = {}
    metered: dict[str, tuple[int | None, ...]] = {}
    used: dict[tuple[str, int], int] = {}
    for row in rows:
        values = dict(by_meter.get(row.meter_id, {}))
        metered[row.member] = tuple(values.get(s) for s in starts)
        missing[row.member] = frozenset(k for k, s in enumerate(starts) if s not in values)
        base: np.ndarray | None = None
        if values:
            try:
                base = compute_baseline(
                    info.baseline_method_id, params, MeterSeries.from_mapping(values),
                    info.window_start_s, n, row.member,
                )
            except (BaselineError, MissingMeterData):
                base = None
        baselines[row.member] = None if base is None else tuple(int(b) for b in base)
        if base is None:
            # no baseline: delivered 0 wherever there is data (metered = "baseline")
            continue
        for k, s in enumerate(starts):
            if s not in values:
                values[s] = int(base[k])  # flagged missing: delivered 0
        series[row.member] = MeterSeries.from_mapping(values)
    computable = [row for row in rows if row.member in series]
    engine_members = {}
    if computable:
        result = engine_settle(
            request,
            [row.member for row in computable],
            {row.member: row.targets_wh for row in computable},
            series,
            rules=r,
        )
        engine_members = {m.member: m for m in result.members}
    price = request.paid_price_per_kwh
    figures: list[MemberFigures] = []
    for row in rows:
        miss = missing[row.member]
        m = engine_members.get(row.member)
        if m is not None:
            delivered = tuple(0 if k in miss else int(d) for k, d in enumerate(m.delivered_wh))
            credited = tuple(0 if k in miss else int(c) for k, c in enumerate(m.credited_wh))
            shortfall = tuple(int(s) for s in m.shortfall_wh)
            payout, uncovered, penalties = m.payout, m.penalty_uncovered, m.penalty_total
        else:
            delivered = (0,) * n
            credited = (0,) * n
            shortfall = tuple(max(0, lower_wh(t, tol)) for t in row.targets_wh)
            money = member_money(credited, shortfall, price, info.penalty_per_kwh)
            payout, uncovered, penalties = (
                money.payout,
                money.penalty_uncovered,
                money.penalty_total,
            )
        for k, s in enumerate(starts):
            if k not in miss and m is not None:
                used[(row.meter_id, s)] = int(by_meter[row.meter_id][s])
        if m is not None:
            lo, hi = _history_range(info.baseline_method_id, params, info.window_start_s)
            for key, v in by_meter.get(row.meter_id, {}).items():
                if lo <= key < hi:
                    used.setdefault((row.meter_id, key), v)
        figures.append(
            MemberFigures(
                member=row.member,
                meter_id=row.meter_id,
                target_wh=tuple(row.targets_wh),
                baseline_wh=baselines[row.member],
                metered_wh=metered[row.member],
                result=chain_result(payout, uncovered, _points(credited, shortfall)),
                deliveries=MemberDeliveries(delivered, credited, shortfall, miss),
                penalty_total=penalties,
            )
        )
    payout_total = sum(f.result.payout for f in figures)
    return ChainSettlement(
        request_id=info.request_id,
        rows=list(rows),
        members=figures,
        refund=info.escrow - payout_total,
        payout_total=payout_total,
        params=tuple(params),
        used=used,
    )
