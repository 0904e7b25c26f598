"""The aggregator's coordination service: coalitions for DSO requests, replacement of members
who do not deliver, settlement proposals and their finalization (CGDFS, DMSFDR; the chain
side is ``FlexCoordination``).

Every :meth:`CoalitionService.tick` reads the chain and does what is due, for **every**
request on the contract (whoever published it):

1. **Propose** (status Open, opt-in deadline passed, window not started): the opt-ins
   (``OptedIn`` events) become :class:`~coalitions.domain.MemberOffer` s, the engine
   (:func:`coalitions.engine.form_coalition`, CP-SAT) chooses members, targets and reserves,
   and the coalition is proposed at the request's price cap if every interval is within the
   tolerance (else it is reported and not proposed).
2. **Replace** (status Accepted, during the window): from the committed meter data of the
   window intervals metered so far, :func:`settlement.engine.detect_non_delivery` flags
   members; each is replaced by one reserve (the contract moves a member's remaining targets
   to one reserve) from the first interval that starts more than ``replace_margin_s`` from
   now. The reserve chosen: a reserve of the request whose offer covers the largest remaining
   target, most reliable first, then the largest offer.
3. **Propose the settlement** (status Accepted, window ended; for a request it coordinates,
   or for any request once the contract's proposal grace after the window has passed, so a
   coalition whose coordinator vanished is settled too): once every row's window intervals
   and baseline intervals are committed (or ``settle_wait_s`` after the window's end, with the
   intervals still missing flagged), :func:`settlement.service.compute_chain_settlement`
   gives each row's deliveries and ``proposeSettlement`` posts them with the bond (the
   contract computes the money and checks the flags against the meter commitments).
4. **Finalize** (status Settling, challenge window over): ``finalizeSettlement`` with the
   proposal as it stands after any disputes (:mod:`settlement.disputes` checks proposals;
   the service does not dispute its own).

Restart safety: there is no local state. What to do is derived from the request's status and
each opt-in's status on-chain; every step changes that status in the same transaction
(``Proposed``, ``Replaced``, ``Settling``, ``Settled``), and the contract refuses a repeated
step (``WrongStatus``, ``NotMember``), so a restarted service continues where the chain is and
nothing is sent twice (a refusal of a step another instance already did is taken as done).
``OptedIn`` and ``SettlementFinalized`` events are read incrementally from ``from_block``
(:mod:`coalitions.logscan`: bounded ``eth_getLogs`` ranges, the last ``reorg_depth`` blocks
read again), not from block 0 on every use.

Offers
------
A member's flexibility per window interval, in this order of preference:

* **the home's twin** (``estimates``, where the application has one for the member: issue 18's
  :func:`analytics.control.flex.sustained`): what its heating, cooling and battery can shift over
  the window without leaving its comfort band, Wh per interval (no quantiles: physics, not a
  forecast of load);
* **forecast oracle**: its committed forecasts (``ForecastsCommitted``/``Revised``, participant
  id = its meter id, as the forecast feed commits them, or its address) of every window
  interval: the net-energy quantiles (q10, q50, q90; Wh per 15 min, import positive; an export
  counts as no load) taken as its load, through
  :func:`analytics.flexibility.flexibility_kw` (no battery);
* **meter history** (fallback): the mean *import* of its last ``history_intervals``
  committed intervals before now, taken as the load of every window interval, through the
  same flexibility model;
* no data: its opt-in's ``maxWh``.

The model's ``flex_down`` is the offer for an upward request (less load), ``flex_up`` for a
downward one; ``flex_share`` (the model's flexible share) is configurable. Every offer is
capped by the opt-in's ``maxWh``. **Reliability**: the share of a member's past target
intervals (target > 0) settled without shortfall and with meter data (finalized settlements);
1.0 for a member with none. Grid areas are enforced on-chain at opt-in, so the engine
gets no feeder graph.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, Field
from web3.types import RPCEndpoint

from analytics.flexibility import FlexConfig, flexibility_kw
from chain.clock import ChainClock
from chain.contracts import ParticipantRegistryClient
from chain.coordination import FlexCoordinationClient, MemberStatus, RequestInfo, RequestStatus
from chain.errors import RevertError
from chain.oracles import ForecastOracleClient, MeterOracleClient
from chain.tx import ChainWatch, TransactionInterrupted, stoppable
from coalitions.domain import MemberOffer, deviation_bp
from coalitions.engine import FormationConfig, form_coalition
from coalitions.logscan import contract_event_scan
from core.codec import CoalitionRow
from core.names import Names, label
from core.oracle_codec import unpack_forecast
from core.rules import Direction, FlexRequest, needed_intervals
from core.units import INTERVAL_S
from settlement.baselines import compute_baseline
from settlement.domain import MeterSeries, SettlementRules
from settlement.engine import detect_non_delivery
from settlement.errors import BaselineError, MissingMeterData, SettlementError
from settlement.service import (
    MeterValues,
    compute_chain_settlement,
    resolve_baseline_params,
)

log = logging.getLogger(__name__)

__all__ = ["CoalitionService", "ServiceConfig", "Step"]


class ServiceConfig(BaseModel):
    """How the coordination service forms, replaces and settles."""

    poll_s: float = Field(2.0, gt=0, description="Seconds between ticks of run().")
    propose_lead_s: float = Field(
        0.0, ge=0, description="Propose this long before the opt-in deadline (0: once passed)."
    )
    replace_margin_s: int = Field(
        120, ge=1, description="A replacement starts at an interval at least this far ahead, s."
    )
    settle_wait_s: int = Field(
        1800, ge=0, description="After the window, wait this long for missing meter data, s."
    )
    non_delivery_bp: int = Field(5000, ge=0, le=10_000, description="Failed below this share.")
    non_delivery_intervals: int = Field(
        1, ge=1, description="Consecutive failed intervals that trigger a replacement."
    )
    flex_share: float = Field(0.25, ge=0, le=1, description="Flexible share of a member's load.")
    history_intervals: int = Field(4, ge=1, description="Meter intervals of the fallback offer.")
    reserve_bp: int = Field(2000, ge=0, description="Reserve wanted, bp of the quantity.")
    formation_time_limit_s: float = Field(2.0, gt=0, description="CP-SAT time limit, s.")
    max_rounds: int = Field(3, ge=1, description="Proposals per request at most (rejections).")
    from_block: int = Field(
        0, ge=0, description="First block searched for events: FlexCoordination's deployment "
        "block (0: the chain's first)."
    )
    log_chunk_blocks: int = Field(
        5000, ge=1, description="Blocks per eth_getLogs request at most (providers cap ranges)."
    )
    reorg_depth: int = Field(
        12, ge=0, description="Blocks read again on every event scan, for reorgs (logscan.py)."
    )
    known_baseline_params: list[list[int]] = Field(
        default_factory=list, description="Baseline parameter encodings besides the defaults."
    )

    def rules(self) -> SettlementRules:
        return SettlementRules(
            non_delivery_bp=self.non_delivery_bp,
            non_delivery_intervals=self.non_delivery_intervals,
        )


@dataclass(frozen=True)
class Step:
    """What a tick did (or decided not to do), for the log and the demo's output."""

    kind: str  # proposed | replaced | settlement_proposed | finalized | skipped
    request_id: int
    detail: dict[str, Any] = field(default_factory=dict)
    gas_used: int = 0
    tx_hash: str = ""

    def describe(self, names: Names | None = None) -> str:
        """One line for the log; ``names``: display names of the members (:func:`label`)."""
        d = self.detail
        rid = f"request #{self.request_id}"
        if self.kind == "proposed":
            return (
                f"coalition proposed for {rid}: {d['members']} members, {d['reserves']} "
                f"reserves, worst deviation {d['worst_deviation_bp'] / 100:.1f} % "
                f"({d['method']}, {d['solve_s']:.2f} s), gas {self.gas_used}"
            )
        if self.kind == "replaced":
            return (
                f"member replaced in {rid}: {label(d['member'], names)} -> reserve "
                f"{label(d['reserve'], names)} from "
                f"interval {d['from_interval']} (delivered {d['delivered_wh']} of "
                f"{d['target_wh']} Wh), gas {self.gas_used}"
            )
        if self.kind == "settlement_proposed":
            return (
                f"settlement of {rid} proposed: {d['rows']} members, payouts "
                f"{d['payout_total']}, penalties {d['penalty_total']}, refund {d['refund']} "
                f"(base units), open to disputes until {d['challenge_ends_s']}, gas "
                f"{self.gas_used} ({self.gas_used // max(1, d['rows'])} per member)"
            )
        if self.kind == "finalized":
            return (
                f"{rid} settled: payouts {d['payout_total']}, refund {d['refund']} (base "
                f"units) after {d['disputes']} disputes, gas {self.gas_used}"
            )
        return f"{rid}: {d.get('reason', self.kind)}"


def _tx(receipt: Any) -> tuple[int, str]:
    return int(receipt["gasUsed"]), "0x" + bytes(receipt["transactionHash"]).hex()


class CoalitionService:
    """See the module docstring. ``coordination`` sends as the aggregator (or operator)."""

    def __init__(
        self,
        coordination: FlexCoordinationClient,
        meters: MeterOracleClient,
        registry: ParticipantRegistryClient,
        config: ServiceConfig | None = None,
        forecasts: ForecastOracleClient | None = None,
        clock: Callable[[], float] | None = None,
        on_step: Callable[[Step], None] | None = None,
        estimates: Callable[[RequestInfo, list[str]], dict[str, list[int]]] | None = None,
    ) -> None:
        self.coordination = coordination
        self.estimates = estimates
        self.meters = meters
        self.registry = registry
        self.forecasts = forecasts
        self.config = config or ServiceConfig()
        self.clock = clock or ChainClock(coordination.w3, cache_s=0.0).now
        self.on_step = on_step
        assert coordination.sender is not None, "the service needs a sending account"
        self.address = str(coordination.sender.account.address)
        self.values = MeterValues(meters)
        self._final: set[int] = set()  # settled or reclaimed: nothing left to do
        self._tried: set[tuple[int, int]] = set()  # (request, round) that could not be formed
        self._meter_of: dict[str, str] = {}
        self._reported: set[tuple[int, str]] = set()  # non-delivery without a reserve
        self._settled_seen: dict[int, dict[str, tuple[int, int]]] = {}
        events = coordination.contract.events
        scan = self.config
        self._opt_in_scan = contract_event_scan(
            events.OptedIn, coordination.w3, scan.from_block, scan.log_chunk_blocks,
            scan.reorg_depth)
        self._settled_scan = contract_event_scan(
            events.SettlementFinalized, coordination.w3, scan.from_block, scan.log_chunk_blocks,
            scan.reorg_depth)
        self._grace_s: int | None = None
        self._stop = threading.Event()
        self._chain = ChainWatch(coordination.w3).follow(coordination.sender)

    # -- the loop -------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None,
            on_error: Callable[[Exception], None] | None = None) -> None:
        """Tick every ``poll_s`` until ``stop`` (or :meth:`stop`) is set."""
        stop = stop or self._stop
        with stoppable(stop, self._stop):  # a wait for a receipt ends when stopped
            while not stop.is_set() and not self._stop.is_set():
                try:
                    self.tick()
                except TransactionInterrupted:
                    break
                except Exception as exc:  # keep running: the next tick starts from the chain
                    log.exception("coordination tick failed")
                    if on_error is not None:
                        on_error(exc)
                stop.wait(self.config.poll_s)

    def stop(self) -> None:
        self._stop.set()

    def tick(self, now_s: float | None = None) -> list[Step]:
        """Do what is due on every request (see the module docstring)."""
        if self._chain.reorged():
            # A reorg took blocks this service relied on (its own steps among them): what it
            # remembers doing may be undone, so it decides again from the chain.
            self._tried.clear()
            self._final.clear()
            self._settled_seen.clear()
        try:
            return self._tick(now_s)
        finally:
            self._chain.mark()

    def _tick(self, now_s: float | None) -> list[Step]:
        now = self.clock() if now_s is None else now_s
        steps: list[Step] = []
        for rid in range(1, self.coordination.request_count() + 1):
            if rid in self._final:
                continue
            info = self.coordination.request(rid)
            if info.status in (RequestStatus.SETTLED, RequestStatus.RECLAIMED):
                self._final.add(rid)
                continue
            step: Step | None = None
            if info.status is RequestStatus.OPEN:
                step = self._maybe_propose(info, now)
            elif info.status is RequestStatus.ACCEPTED and now < info.window_end_s:
                if self._may_act(info):
                    steps += self._maybe_replace(info, now)
            elif info.status is RequestStatus.ACCEPTED:
                if self._may_act(info) or now >= info.window_end_s + self.grace_s():
                    step = self._maybe_settle(info, now)
            elif info.status is RequestStatus.SETTLING and now >= info.challenge_ends_s:
                step = self._maybe_finalize(info)
            if step is not None:
                steps.append(step)
        for s in steps:
            log.info(s.describe())
            if self.on_step is not None:
                self.on_step(s)
        return steps

    def _may_act(self, info: RequestInfo) -> bool:
        return info.coordinator == self.address

    def grace_s(self) -> int:
        """The contract's proposal grace: after it anyone may propose a settlement."""
        if self._grace_s is None:
            self._grace_s = self.coordination.settlement_terms()[1]
        return self._grace_s

    # -- helpers --------------------------------------------------------------------------
    def meter_of(self, member: str) -> str:
        if member not in self._meter_of:
            self._meter_of[member] = self.registry.participant(member).meter_id
        return self._meter_of[member]

    def opt_ins(self, request_id: int) -> dict[str, int]:
        """member -> maxWh of every opt-in of the request (``OptedIn`` events)."""
        return {
            str(e["args"]["member"]): int(e["args"]["maxWh"])
            for e in self._opt_in_scan.logs()
            if int(e["args"]["requestId"]) == request_id
        }

    def reliability(self) -> dict[str, float]:
        """Share of each member's past target intervals settled without shortfall."""
        for e in self._settled_scan.logs():
            rid = int(e["args"]["requestId"])
            if rid in self._settled_seen:
                continue
            info = self.coordination.request(rid)
            rows = self.coordination.coalition_rows(rid, self.config.from_block)
            proposal = self.coordination.settlement_proposal(rid, self.config.from_block)
            if proposal is None:
                continue
            deliveries = proposal.deliveries(rows, info.tolerance_bp)
            per: dict[str, tuple[int, int]] = {}
            for row, d in zip(rows, deliveries, strict=True):
                active = [k for k, t in enumerate(row.targets_wh) if t > 0]
                met = sum(1 for k in active if d.shortfall_wh[k] == 0 and k not in d.missing)
                per[row.member] = (met, len(active))
            self._settled_seen[rid] = per
        totals: dict[str, list[int]] = {}
        for per in self._settled_seen.values():
            for member, (met, total) in per.items():
                acc = totals.setdefault(member, [0, 0])
                acc[0] += met
                acc[1] += total
        return {m: (met / total if total else 1.0) for m, (met, total) in totals.items()}

    def _forecast_loads(self, info: RequestInfo, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """participant id -> (intervals, 3) committed load quantiles, Wh, where complete."""
        if self.forecasts is None:
            return {}
        wanted = set(ids)
        found: dict[str, dict[int, tuple[int, int, int]]] = {}
        for k in range(info.intervals):
            s = info.interval_start_s(k)
            for name in ("ForecastsCommitted", "ForecastsRevised"):
                event = getattr(self.forecasts.contract.events, name)
                for e in event.get_logs(from_block=self.config.from_block,
                                        argument_filters={"intervalStart": s}):
                    for word in e["args"]["forecasts"]:
                        index, q10, q50, q90 = unpack_forecast(int(word))
                        pid = self.forecasts.id_at(index)
                        if pid in wanted:
                            found.setdefault(pid, {})[k] = (q10, q50, q90)
        return {
            pid: np.array([rows[k] for k in range(info.intervals)], dtype=float)
            for pid, rows in found.items()
            if len(rows) == info.intervals
        }

    def offers(self, info: RequestInfo, opt_ins: dict[str, int], now: float) -> list[MemberOffer]:
        """The members' offers for ``info`` (see the module docstring)."""
        n = info.intervals
        cfg = FlexConfig(flexible_share=self.config.flex_share)
        reliability = self.reliability()
        meters = {m: self.meter_of(m) for m in opt_ins}
        loads = self._forecast_loads(info, [*meters.values(), *meters.keys()])
        values = self.values.refresh()
        pick = 1 if info.direction is Direction.DOWN else 0  # flexibility_kw: (up, down)
        physics = self.estimates(info, sorted(opt_ins)) if self.estimates is not None else {}
        out = []
        for member, max_wh in sorted(opt_ins.items()):
            meter = meters[member]
            quantiles = loads.get(meter, loads.get(member))
            q10: tuple[int, ...] | None = None
            if member in physics:  # the home's twin: what it can shift without discomfort
                flex_wh = tuple(min(int(v), max_wh) for v in physics[member])
                q10 = flex_wh
            elif quantiles is not None:
                flex = []
                for col in range(3):
                    kw = flexibility_kw(quantiles[:, col] * 4 / 1000, 0.0, 0.0, cfg)
                    flex.append(np.rint(kw[1 - pick] * 250).astype(int))
                lo, mid = np.minimum(flex[0], flex[2]), flex[1]
                flex_wh = tuple(int(v) for v in mid)
                q10 = tuple(int(v) for v in lo)
            else:
                recent = sorted(
                    (s, c.value.import_wh)
                    for (mid_, s), c in values.items()
                    if mid_ == meter and s + INTERVAL_S <= now
                )[-self.config.history_intervals :]
                if recent:
                    load_kw = sum(v for _, v in recent) / len(recent) * 4 / 1000
                    one = flexibility_kw([load_kw], 0.0, 0.0, cfg)[1 - pick]
                    flex_wh = (round(float(one[0]) * 250),) * n
                else:
                    flex_wh = (max_wh,) * n
            out.append(
                MemberOffer(
                    member=member,
                    flex_wh=tuple(max(0, v) for v in flex_wh),
                    max_wh=max_wh,
                    reliability=reliability.get(member, 1.0),
                    flex_q10_wh=None if q10 is None else tuple(max(0, v) for v in q10),
                )
            )
        return out

    # -- 1. propose -----------------------------------------------------------------------
    def _maybe_propose(self, info: RequestInfo, now: float) -> Step | None:
        rid = info.request_id
        if now < info.opt_in_deadline_s - self.config.propose_lead_s:
            return None
        if now >= info.window_start_s or (rid, info.round) in self._tried:
            return None
        if info.round >= self.config.max_rounds:
            self._tried.add((rid, info.round))
            return Step("skipped", rid, {"reason": f"{info.round} coalitions were rejected"})
        self._tried.add((rid, info.round))
        opt_ins = self.opt_ins(rid)
        if not opt_ins:
            return Step("skipped", rid, {"reason": "nobody opted in: no coalition"})
        quantities = self.coordination.quantities_wh(rid)
        request = FlexRequest(
            request_id=rid,
            window_start_s=info.window_start_s,
            quantity_wh=quantities,
            tolerance_bp=info.tolerance_bp,
        )
        offers = self.offers(info, opt_ins, now)
        coalition = form_coalition(
            request,
            offers,
            config=FormationConfig(
                time_limit_s=self.config.formation_time_limit_s, reserve_bp=self.config.reserve_bp
            ),
        )
        detail = {
            "members": len(coalition.members),
            "reserves": len(coalition.reserve),
            "worst_deviation_bp": coalition.worst_deviation_bp,
            "method": coalition.method,
            "solve_s": coalition.solve_s,
            "opt_ins": len(opt_ins),
        }
        if not coalition.members or not coalition.all_within_tolerance:
            detail["reason"] = (
                f"no coalition within the tolerance from {len(opt_ins)} opt-ins (worst "
                f"deviation {coalition.worst_deviation_bp / 100:.1f} %)"
            )
            return Step("skipped", rid, detail)
        rows = [
            CoalitionRow(m, self.meter_of(m), coalition.targets_wh[m]) for m in coalition.members
        ]
        try:
            receipt = self.coordination.propose_coalition(
                rid, info.price_cap_per_kwh, rows, list(coalition.reserve), intervals=info.intervals
            )
        except RevertError as exc:
            if exc.error_name in ("FlexCoordinationWrongStatus", "FlexCoordinationWindowStarted"):
                return None  # someone else proposed, or too late: the chain says what is next
            raise
        gas, tx = _tx(receipt)
        return Step("proposed", rid, detail, gas, tx)

    # -- 2. replace -----------------------------------------------------------------------
    def _delivered_so_far(
        self, info: RequestInfo, rows: Sequence[CoalitionRow]
    ) -> dict[str, list[int]]:
        """member -> delivered Wh of the window intervals committed so far (from interval 0
        on, without gaps), for members whose baseline can be computed."""
        try:
            params = resolve_baseline_params(info, self.config.known_baseline_params)
        except SettlementError:
            return {}
        by_meter: dict[str, dict[int, int]] = {}
        for (m, s), v in self.values.net_wh().items():
            by_meter.setdefault(m, {})[s] = v
        out: dict[str, list[int]] = {}
        for row in rows:
            series_values = by_meter.get(row.meter_id, {})
            if not series_values:
                continue
            try:
                base = compute_baseline(
                    info.baseline_method_id, params, MeterSeries.from_mapping(series_values),
                    info.window_start_s, info.intervals, row.member,
                )
            except (BaselineError, MissingMeterData):
                continue
            delivered = []
            for k in range(info.intervals):
                metered = series_values.get(info.interval_start_s(k))
                if metered is None:
                    break
                d = int(base[k]) - metered
                delivered.append(d if info.direction is Direction.UP else -d)
            out[row.member] = delivered
        return out

    def _maybe_replace(self, info: RequestInfo, now: float) -> list[Step]:
        rid = info.request_id
        self.values.refresh()
        rows = self.coordination.coalition_rows(rid)
        delivered = self._delivered_so_far(info, rows)
        if not delivered:
            return []
        starts = [info.interval_start_s(k) for k in range(info.intervals)]
        flagged = detect_non_delivery(
            starts, {r.member: r.targets_wh for r in rows}, delivered, self.config.rules()
        )
        steps: list[Step] = []
        for nd in flagged:
            member = nd.member
            if self.coordination.opt_in_of(rid, member)[1] is not MemberStatus.MEMBER:
                continue  # replaced already (by this or an earlier run)
            row = next(r for r in rows if r.member == member)
            first = next(
                (k for k in range(info.intervals)
                 if starts[k] > now + self.config.replace_margin_s),
                None,
            )
            if first is None or not any(row.targets_wh[first:]):
                continue
            need = max(row.targets_wh[first:])
            reserve = self._pick_reserve(rid, need)
            if reserve is None:
                if (rid, member) not in self._reported:
                    self._reported.add((rid, member))
                    reason = f"no reserve can take {member}'s targets (up to {need} Wh)"
                    steps.append(Step("skipped", rid, {"reason": reason}))
                continue
            k_failed = (nd.detected_s - info.window_start_s) // INTERVAL_S
            try:
                receipt, rows = self.coordination.replace_member(
                    rid, rows, member, reserve, self.meter_of(reserve), first
                )
            except RevertError as exc:
                if exc.error_name in ("FlexCoordinationIntervalStarted",
                                      "FlexCoordinationNotMember"):
                    continue  # the next tick recomputes from the chain
                raise
            gas, tx = _tx(receipt)
            steps.append(
                Step(
                    "replaced",
                    rid,
                    {
                        "member": member,
                        "reserve": reserve,
                        "from_interval": first,
                        "delivered_wh": delivered[member][k_failed],
                        "target_wh": row.targets_wh[k_failed],
                    },
                    gas,
                    tx,
                )
            )
        return steps

    def _pick_reserve(self, request_id: int, need_wh: int) -> str | None:
        reliability = self.reliability()
        candidates = []
        for member, max_wh in self.opt_ins(request_id).items():
            if max_wh < need_wh:
                continue
            if self.coordination.opt_in_of(request_id, member)[1] is not MemberStatus.RESERVE:
                continue
            candidates.append((-reliability.get(member, 1.0), -max_wh, member))
        return min(candidates)[2] if candidates else None

    # -- 3. propose the settlement ---------------------------------------------------------
    def _maybe_settle(self, info: RequestInfo, now: float) -> Step | None:
        rid = info.request_id
        rows = self.coordination.coalition_rows(rid, self.config.from_block)
        values = self.values.refresh()
        starts = [info.interval_start_s(k) for k in range(info.intervals)]
        if info.baseline_params:  # the meter-before baseline's intervals too
            before, _ = needed_intervals(info.window_start_s, 0, *info.baseline_params[:2])
            starts += before
        complete = all((row.meter_id, s) in values for row in rows for s in starts)
        if not complete and now < info.window_end_s + self.config.settle_wait_s:
            return None
        try:
            result = compute_chain_settlement(
                info,
                self.coordination.quantities_wh(rid),
                rows,
                self.values.net_wh(),
                self.config.rules(),
                self.config.known_baseline_params,
            )
        except SettlementError as exc:
            if (rid, -1) not in self._tried:
                self._tried.add((rid, -1))
                return Step("skipped", rid, {"reason": f"cannot settle: {exc}"})
            return None
        try:
            receipt = self.coordination.propose_settlement(rid, rows, result.deliveries)
        except RevertError as exc:
            if exc.error_name in ("FlexCoordinationWrongStatus", "FlexCoordinationNotCoordinator"):
                return None  # proposed by someone else (or not ours yet): the chain says
            raise
        gas, tx = _tx(receipt)
        [ev] = self.coordination.events(receipt, "SettlementProposed")
        worst = max(
            deviation_bp(
                [sum(m.deliveries.delivered_wh[k] for m in result.members)
                 for k in range(info.intervals)],
                self.coordination.quantities_wh(rid),
            )
        )
        return Step(
            "settlement_proposed",
            rid,
            {
                "rows": len(rows),
                "payout_total": int(ev["args"]["payoutTotal"]),
                "penalty_total": result.penalty_total,
                "refund": int(ev["args"]["refund"]),
                "missing": sum(len(m.deliveries.missing) for m in result.members),
                "worst_delivered_deviation_bp": worst,
                "challenge_ends_s": int(ev["args"]["challengeEnds"]),
            },
            gas,
            tx,
        )

    # -- 4. finalize ----------------------------------------------------------------------
    def _maybe_finalize(self, info: RequestInfo) -> Step | None:
        rid = info.request_id
        rows = self.coordination.coalition_rows(rid, self.config.from_block)
        proposal = self.coordination.settlement_proposal(rid, self.config.from_block)
        if proposal is None:
            return None
        try:
            receipt = self.coordination.finalize_settlement(rid, rows, proposal)
        except RevertError as exc:
            if exc.error_name in ("FlexCoordinationWrongStatus", "FlexCoordinationChallengeOpen"):
                return None  # finalized by someone else, or the chain's clock is behind ours
            raise
        self._final.add(rid)
        gas, tx = _tx(receipt)
        settled = self.coordination.settlement_in(receipt)
        return Step(
            "finalized",
            rid,
            {
                "rows": len(rows),
                "payout_total": settled.payout_total,
                "refund": settled.refund,
                "bond_returned": settled.bond_returned,
                "disputes": len(proposal.disputed_rows),
            },
            gas,
            tx,
        )


def advance_chain(w3: Any, ts_s: int) -> None:
    """Mine a block at ``ts_s`` (or the next second): for tests and benchmarks only."""
    now = int(w3.eth.get_block("latest")["timestamp"])
    w3.provider.make_request(RPCEndpoint("evm_setNextBlockTimestamp"), [max(ts_s, now + 1)])
    w3.provider.make_request(RPCEndpoint("evm_mine"), [])
