"""The demo community's flexibility coordination in ``bright up`` (issue 6's services).

Four actors, each deriving what to do from the chain (a restarted demo continues):

* the **demo DSO** (:class:`DemoDso`): every ``every_intervals`` intervals of chain time it
  publishes a request on one feeder (alternating), escrowing FlexToken: ``window_intervals``
  intervals from the first boundary at least ``lead_s`` ahead, opt-in deadline
  ``deadline_before_s`` before, upward flexibility of ``quantity_share`` of the feeder's last
  metered import, meter before/after baseline (defaults), a 10 % tolerance. It accepts every
  proposed coalition of its requests whose targets are within the tolerance (requests it did
  not publish from this policy too, e.g. from the web UI with the same DSO key) and reclaims
  the escrow of a request whose window started without a coalition;
* the **demo homes' opt-ins** (:class:`DemoOptIns`): every home of a request's feeder opts in
  to each open request the demo DSO published (:class:`PublishedRecord`; a request made by
  hand gets only the opt-ins made by hand), all offering ``offer_share`` of the feeder's mean
  import in the last metered interval (the aggregator's model then asks each at most
  ``flex_share`` of its own import), half from their own wallets and half as signed opt-ins
  the aggregator relays; the homes in ``manual_homes`` (home-01 on feeder-1, home-10 on
  feeder-2) never opt in by themselves, for a person to use them (web UI);
* the **aggregator** (:class:`coalitions.service.CoalitionService`): coalitions, replacements,
  settlement proposals (with the contract's bond) and their finalization after the challenge
  window, for every request;
* the **DSO's dispute watcher** (:class:`settlement.disputes.DisputeWatcher`, the DSO's key):
  every settlement proposal is recomputed from the committed meter data while it is open to
  disputes, and a wrong row is disputed on-chain with its readings and their Merkle proofs
  (the contract corrects it and pays the proposer's bond to the DSO).

The homes deliver (:class:`HomesDelivery`, the simulator's ``delivery``): in each interval of
an accepted request's window, each member of its targets table changes its net import by its
target (less for an upward request, more for a downward one), except the failing share of the
demo DSO's own requests: of each coalition proposed for one of them, the
:func:`failing_count` members (``ceil(fail_share * members)``, at most all but one, so never
the member of a one-member coalition) with the smallest ``keccak(request id, member)`` deliver
nothing (a reserve that replaces one delivers). A request made by hand (not in the
:class:`PublishedRecord`) has no forced failures: its members deliver their targets, and
whether that is within the tolerance is up to their metered load against the baseline.
``fail_share`` is ``bright up --fail-share`` (``BRIGHT_DEMO_FAIL_SHARE``), 0.25 by default.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils import keccak, to_bytes
from pydantic import BaseModel, Field

from bright.demo_control import MIN_WH, DemoPhysics, MarketSales, opt_in_offers
from bright.members import member_names
from chain.clock import ChainClock
from chain.coordination import (
    FlexCoordinationClient,
    RequestInfo,
    RequestStatus,
    coordination_client,
)
from chain.domain import Role
from chain.oracles import ForecastOracleClient, MeterOracleClient
from chain.platform import Platform
from chain.tx import stoppable
from coalitions.service import CoalitionService, ServiceConfig, Step
from core.codec import unpack_table
from core.rules import Direction, lower_wh, required_escrow, upper_wh
from core.units import INTERVAL_S, tokens_to_base
from settlement.baselines import BaselineMethod, MeterBeforeAfterParams, baseline_hash
from settlement.disputes import DisputeStep, DisputeWatcher
from settlement.service import MeterValues

if TYPE_CHECKING:
    from bright.demo import Member

__all__ = [
    "CoordinationConfig",
    "DemoCoordination",
    "DemoDso",
    "DemoOptIns",
    "HomesDelivery",
    "demo_settings",
    "failing_count",
]


class CoordinationConfig(BaseModel):
    """The demo's cadence (chain time) and terms."""

    every_intervals: int = Field(4, ge=1, description="A new request every this many intervals.")
    window_intervals: int = Field(3, ge=1, le=16, description="Intervals per request.")
    lead_s: int = Field(600, ge=60, description="The window starts at least this far ahead, s.")
    deadline_before_s: int = Field(300, ge=30, description="Opt-in deadline before the window.")
    quantity_share: float = Field(0.2, gt=0, le=1, description="Of the feeder's last import.")
    offer_share: float = Field(0.6, gt=0, description="Each offer: of the mean import.")
    min_quantity_wh: int = Field(50, ge=1, description="No request below this, Wh.")
    tolerance_bp: int = Field(1000, ge=0, lt=10_000, description="Tolerance, bp.")
    price_cap_per_kwh: int = Field(int(tokens_to_base("0.20")), ge=0)
    penalty_per_kwh: int = Field(int(tokens_to_base("0.10")), ge=0)
    fail_share: float = Field(
        0.25,
        ge=0,
        le=1,
        description="Share of the members of a demo DSO's request who fail (rounded up, at most "
        "all but one); requests made by hand: none.",
    )
    manual_homes: tuple[str, ...] = Field(("home-01", "home-10"), description="Never auto opt in.")
    control: str = Field(
        "replay",
        pattern="^(replay|mpc|rule)$",
        description="How the homes respond: 'replay' (history, fail_share fail by decree) or "
        "a policy driving their twins ('mpc', 'rule': bright.demo_control).",
    )
    poll_s: float = Field(1.0, gt=0, description="Seconds between the actors' rounds.")
    physics_share: float = Field(
        0.7, gt=0, le=1, description="With twins: a request asks this share of their estimate."
    )


def _say(message: str) -> None:
    print(f"coordination: {message}", flush=True)


def _within(sums: list[int], quantities: tuple[int, ...], tol: int) -> bool:
    return all(
        lower_wh(q, tol) <= s <= upper_wh(q, tol) for s, q in zip(sums, quantities, strict=True)
    )


class PublishedRecord:
    """The ids of the requests the demo policy published, per chain and contract, kept in a
    JSON file (``None``: in memory): the homes opt in to these only, so a request made by hand
    (web UI) gets the opt-ins of the people who make them."""

    def __init__(self, path: Path | None, chain_id: int, address: str) -> None:
        self.path = path
        self.key = f"{chain_id}:{address.lower()}"
        self._ids: set[int] = set()
        if path is not None and path.exists():
            self._ids = set(json.loads(path.read_text()).get(self.key, []))

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._ids

    def add(self, request_id: int) -> None:
        self._ids.add(request_id)
        if self.path is None:
            return
        data = json.loads(self.path.read_text()) if self.path.exists() else {}
        data[self.key] = sorted(self._ids)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.path)


class _Requests:
    """Requests' stored records, the finished ones cached."""

    def __init__(self, client: FlexCoordinationClient) -> None:
        self.client = client
        self._final: dict[int, RequestInfo] = {}

    def all(self) -> list[RequestInfo]:
        out = []
        for rid in range(1, self.client.request_count() + 1):
            info = self._final.get(rid) or self.client.request(rid)
            if info.status in (RequestStatus.SETTLED, RequestStatus.RECLAIMED):
                self._final[rid] = info
            out.append(info)
        return out


class DemoDso:
    """The demo DSO's policy (see the module docstring)."""

    def __init__(
        self,
        platform: Platform,
        dso: Member,
        homes: list[Member],
        config: CoordinationConfig,
        values: MeterValues,
        clock: Callable[[], float],
        say: Callable[[str], None] = _say,
        record: PublishedRecord | None = None,
        physics: DemoPhysics | None = None,
    ) -> None:
        self.physics = physics
        self.platform = platform
        self.dso = dso
        self.homes = homes
        self.config = config
        self.values = values
        self.clock = clock
        self.say = say
        self.client = coordination_client(
            platform.w3,
            platform.deployment.address("FlexCoordination"),
            platform.artifacts,
            platform.sender(dso.account),
        )
        self.requests = _Requests(self.client)
        self.record = record or PublishedRecord(
            None, platform.deployment.chain_id, self.client.address
        )

    def feeder_import_wh(self, feeder: str) -> int:
        """The feeder's homes' import in the last interval metered for all of them, Wh."""
        meters = {h.meter_id for h in self.homes if h.grid_area == feeder}
        net = self.values.refresh()
        by_interval: dict[int, list[int]] = {}
        for (meter, s), c in net.items():
            if meter in meters:
                by_interval.setdefault(s, []).append(c.value.import_wh)
        full = [s for s, v in by_interval.items() if len(v) == len(meters)]
        return sum(by_interval[max(full)]) if full else 0

    def tick(self) -> None:
        now = self.clock()
        mine = [r for r in self.requests.all() if r.dso == self.dso.address]
        for info in mine:
            if info.status is RequestStatus.PROPOSED and now < info.window_start_s:
                self._decide(info)
            elif info.status in (RequestStatus.OPEN, RequestStatus.PROPOSED) and (
                now >= info.window_start_s + 1
            ):
                self.client.reclaim_escrow(info.request_id)
                self.say(f"request #{info.request_id}: no coalition in time, escrow reclaimed")
        last = max((r.window_start_s for r in mine), default=None)
        if last is not None and now < last - self.config.lead_s + (
            self.config.every_intervals * INTERVAL_S
        ):
            return
        self._publish(now, len(mine))

    def _decide(self, info: RequestInfo) -> None:
        rows = self.client.coalition_rows(info.request_id)
        quantities = self.client.quantities_wh(info.request_id)
        sums = [sum(r.targets_wh[k] for r in rows) for k in range(info.intervals)]
        worst = max(
            (abs(s - q) * 10_000 + q - 1) // q if q else 0
            for s, q in zip(sums, quantities, strict=True)
        )
        if _within(sums, quantities, info.tolerance_bp):
            receipt = self.client.accept_coalition(info.request_id)
            self.say(
                f"DSO accepted the coalition of request #{info.request_id}: {len(rows)} members, "
                f"worst deviation {worst / 100:.1f} %, gas {int(receipt['gasUsed'])}"
            )
        else:
            self.client.reject_coalition(info.request_id)
            self.say(f"DSO rejected the coalition of request #{info.request_id} ({worst} bp)")

    def _publish(self, now: float, count: int) -> None:
        cfg = self.config
        feeders = sorted({h.grid_area for h in self.homes})
        feeder = feeders[count % len(feeders)]
        quantity = int(self.feeder_import_wh(feeder) * cfg.quantity_share)
        if quantity < cfg.min_quantity_wh:
            return  # no meter data yet (or hardly any load): ask later
        start = math.ceil((now + cfg.lead_s) / INTERVAL_S) * INTERVAL_S
        if self.physics is not None:
            # a DSO that knows its feeder asks for what the homes' twins can give (most of it)
            homes = [h.address for h in self.homes if h.grid_area == feeder
                     and h.name not in cfg.manual_homes]
            est = self.physics.estimate(homes, start, cfg.window_intervals)
            can = sum(min(v) for v in est.values() if min(v) >= MIN_WH)
            quantity = min(quantity, int(can * cfg.physics_share))
            if quantity < cfg.min_quantity_wh:
                return
        quantities = [quantity] * cfg.window_intervals
        escrow = required_escrow(quantities, cfg.tolerance_bp, cfg.price_cap_per_kwh)
        address = self.platform.deployment.address("FlexCoordination")
        self.platform.token(self.dso.account).approve(address, escrow)
        receipt, rid = self.client.publish_request(
            start,
            quantities,
            cfg.tolerance_bp,
            cfg.price_cap_per_kwh,
            start - cfg.deadline_before_s,
            escrow,
            grid_area=feeder,
            direction=Direction.UP,
            penalty_per_kwh=cfg.penalty_per_kwh,
            baseline_method=int(BaselineMethod.METER_BEFORE_AFTER),
            baseline_hash=baseline_hash(
                BaselineMethod.METER_BEFORE_AFTER, MeterBeforeAfterParams()
            ),
            baseline_intervals=MeterBeforeAfterParams().before_intervals,
            baseline_gap_intervals=MeterBeforeAfterParams().gap_intervals,
        )
        self.record.add(rid)
        window = time.strftime("%H:%M", time.gmtime(start))
        end = time.strftime("%H:%M", time.gmtime(start + INTERVAL_S * cfg.window_intervals))
        self.say(
            f"request #{rid} published on {feeder}: {cfg.window_intervals} x {quantity} Wh less "
            f"load, window {window}-{end} UTC, opt in until "
            f"{time.strftime('%H:%M:%S', time.gmtime(start - cfg.deadline_before_s))}, escrow "
            f"{escrow} base units, gas {int(receipt['gasUsed'])}"
        )


class DemoOptIns:
    """The demo homes opt in to open requests of their feeder (see the module docstring)."""

    def __init__(
        self,
        platform: Platform,
        homes: list[Member],
        aggregator: Member,
        config: CoordinationConfig,
        values: MeterValues,
        clock: Callable[[], float],
        say: Callable[[str], None] = _say,
        only: Callable[[int], bool] | None = None,
        physics: DemoPhysics | None = None,
    ) -> None:
        self.physics = physics
        self.platform = platform
        self.only = only
        self.homes = [h for h in homes if h.name not in config.manual_homes]
        self.offer_share = config.offer_share
        self.values = values
        self.clock = clock
        self.say = say
        address = platform.deployment.address("FlexCoordination")
        self.reader = coordination_client(platform.w3, address, platform.artifacts)
        self.relay = coordination_client(
            platform.w3, address, platform.artifacts, platform.sender(aggregator.account)
        )
        self.address = address
        self.requests = _Requests(self.reader)
        self._done: set[int] = set()

    def offer_wh(self, meter_ids: list[str]) -> int:
        """One offer for every home of a feeder: ``offer_share`` of their mean import in the
        last interval metered (the same for all, so any reserve can take a member's targets)."""
        latest: dict[str, tuple[int, int]] = {}
        for (m, s), c in self.values.refresh().items():
            if m in meter_ids and (m not in latest or s > latest[m][0]):
                latest[m] = (s, c.value.import_wh)
        if not latest:
            return 500
        return max(1, round(self.offer_share * sum(v for _, v in latest.values()) / len(latest)))

    def tick(self) -> None:
        now = self.clock()
        for info in self.requests.all():
            rid = info.request_id
            if rid in self._done or info.status is not RequestStatus.OPEN:
                continue
            if self.only is not None and not self.only(rid):
                self._done.add(rid)
                continue
            if now >= info.opt_in_deadline_s - 5:
                self._done.add(rid)
                continue
            homes = [h for h in self.homes if not info.grid_area or h.grid_area == info.grid_area]
            todo = [h for h in homes if self.reader.opt_in_of(rid, h.address)[0] == 0]
            signed = []
            offer = self.offer_wh([h.meter_id for h in homes])
            offers = {h.address: offer for h in todo}
            if self.physics is not None:  # never more than the home's twin says it can shift
                est = self.physics.estimate(
                    [h.address for h in todo], info.window_start_s, info.intervals
                )
                est = {h.address: est.get(h.address, []) for h in todo}
                offers, left_out = opt_in_offers(est, offer)
                for h in todo:
                    if h.address in left_out:
                        self.say(
                            f"{h.name} does not opt in to request #{rid}: its twin can shift "
                            f"{left_out[h.address]} Wh in an interval without discomfort "
                            f"(< {MIN_WH} Wh)"
                        )
                todo = [h for h in todo if h.address in offers]
            for k, h in enumerate(todo):
                offer = offers[h.address]
                if k % 2 == 0:
                    coordination_client(
                        self.platform.w3,
                        self.address,
                        self.platform.artifacts,
                        self.platform.sender(h.account),
                    ).opt_in(rid, offer)
                else:
                    signed.append(self.relay.sign_opt_in(h.account, rid, offer))
            if signed:
                self.relay.opt_in_signed(rid, signed)
            if todo:
                self.say(
                    f"{len(todo)} homes opted in to request #{rid} ({len(signed)} signed, "
                    f"relayed by the aggregator)"
                )
            self._done.add(rid)


def failing_count(fail_share: float, members: int) -> int:
    """How many of a coalition's ``members`` the demo makes fail: ``ceil(fail_share *
    members)``, at most ``members - 1`` (a one-member coalition never fails by force)."""
    return max(0, min(math.ceil(fail_share * members), members - 1))


class HomesDelivery:
    """The homes' response to their targets, from the chain (the simulator's ``delivery``).

    ``forced(request_id)`` says whether a request gets the failing share (the demo DSO's own
    requests, :class:`PublishedRecord`); ``None``: every request does."""

    def __init__(
        self,
        client: FlexCoordinationClient,
        fail_share: float,
        forced: Callable[[int], bool] | None = None,
        physics: DemoPhysics | None = None,
        say: Callable[[str], None] = _say,
        names: dict[str, str] | None = None,
    ) -> None:
        self.client = client
        self.fail_share = fail_share
        self.forced = forced
        self.physics = physics
        self.say = say
        self.names = names or {}
        self.requests = _Requests(client)
        self._failing: dict[int, set[str]] = {}
        self._physical: dict[tuple[int, tuple], dict[str, list[int]]] = {}
        self.sales = MarketSales()
        """The homes' cleared market sells (the demo market records them, with physics)."""
        self._sold: dict[int, dict[str, int]] = {}
        self.on_shift: Callable[[str, float, float], None] | None = None
        """Set by the application: ``(meter id, setpoint shift K, until s)`` to the home's
        gateway (the bridge's flexibility shift: ISM commands on MQTT)."""

    def physical(self, info: RequestInfo, rows: list[Any]) -> dict[str, list[int]]:
        """The members' delivery over the window, Wh per interval by meter, from their twins
        driven by the policy with their targets (computed once per coalition)."""
        assert self.physics is not None
        key = (info.request_id, tuple((r.member, r.targets_wh) for r in rows))
        if key in self._physical:
            return self._physical[key]
        import numpy as np

        members = [r.member for r in rows]
        targets = np.array([r.targets_wh for r in rows], dtype=float).T
        delivered, violation, shift = self.physics.deliver(members, targets, info.window_start_s)
        out: dict[str, list[int]] = {}
        short = []
        for j, r in enumerate(rows):
            got = [max(0, round(v)) for v in delivered[:, j]]
            out[r.meter_id] = got
            if any(g < 0.9 * t for g, t in zip(got, r.targets_wh, strict=True)):
                short.append(self.names.get(r.member.lower(), r.member))
            if self.on_shift is not None:
                until = info.window_start_s + INTERVAL_S * info.intervals
                self.on_shift(r.meter_id, float(shift[j]), float(until))
        promised = int(targets.sum())
        got_total = sum(sum(v) for v in out.values())
        self.say(
            f"request #{info.request_id}: promised {promised} Wh, delivered {got_total} Wh by "
            f"{len(rows)} twins ({self.physics.policy}), comfort violations "
            f"{float(violation.sum()):.2f} Kh"
            + (f"; short (their physics could not): {', '.join(short)}" if short else "")
        )
        self._physical[key] = out
        return out

    def failing(self, request_id: int) -> set[str]:
        """The proposed coalition's members who will not deliver (see the module): none for a
        request made by hand."""
        if self.forced is not None and not self.forced(request_id):
            return set()
        if request_id not in self._failing:
            info = self.client.request(request_id)
            logs = self.client.contract.events.CoalitionProposed.get_logs(
                from_block=0, argument_filters={"requestId": request_id}
            )
            last = max(logs, key=lambda e: (e["blockNumber"], e["logIndex"]))
            members = [r.member for r in unpack_table(last["args"]["table"], info.intervals)]
            count = failing_count(self.fail_share, len(members))
            rank = sorted(members, key=lambda m: keccak(to_bytes(request_id) + to_bytes(hexstr=m)))
            self._failing[request_id] = set(rank[:count])
        return self._failing[request_id]

    def __call__(self, interval_start_s: int) -> dict[str, int]:
        out: dict[str, int] = {}
        for info in self.requests.all():
            k = (interval_start_s - info.window_start_s) // INTERVAL_S
            if not 0 <= k < info.intervals or info.status is not RequestStatus.ACCEPTED:
                continue
            sign = -1 if info.direction is Direction.UP else 1
            rows = self.client.coalition_rows(info.request_id)
            if self.physics is not None and info.direction is Direction.UP:
                physical = self.physical(info, rows)
                for meter, wh in physical.items():
                    out[meter] = out.get(meter, 0) + sign * wh[k]
                continue
            failing = self.failing(info.request_id)
            for row in rows:
                if row.member not in failing and row.targets_wh[k]:
                    out[row.meter_id] = out.get(row.meter_id, 0) + sign * row.targets_wh[k]
        if self.physics is not None:
            for meter, sold_wh in self.sold(interval_start_s, busy=set(out)).items():
                out[meter] = out.get(meter, 0) - sold_wh
        return out

    def sold(self, interval_start_s: int, busy: set[str]) -> dict[str, int]:
        """What the homes' twins deliver of their cleared market sells in an interval, Wh by
        meter: driven by the policy with the sell as their target; a home whose flexibility a
        coalition holds in that interval (``busy``) delivers none of it."""
        assert self.physics is not None
        if interval_start_s in self._sold:
            return self._sold[interval_start_s]
        import numpy as np

        sales = {m: v for m, v in self.sales.at(interval_start_s).items() if m not in busy}
        out: dict[str, int] = {}
        if sales:
            meters = sorted(sales)
            members = [sales[m][0] for m in meters]
            targets = np.array([[sales[m][1] for m in meters]], dtype=float)
            delivered, _, _ = self.physics.deliver(members, targets, interval_start_s)
            out = {m: max(0, round(float(delivered[0, j]))) for j, m in enumerate(meters)}
            sold, got = int(targets.sum()), sum(out.values())
            self.say(f"market sells of {len(meters)} homes in the interval at "
                     f"{time.strftime('%H:%M', time.gmtime(interval_start_s))} UTC: "
                     f"{sold} Wh sold, {got} Wh delivered by their twins")
        self._sold = {k: v for k, v in self._sold.items() if k > interval_start_s - 86_400}
        self._sold[interval_start_s] = out
        return out


@dataclass
class DemoCoordination:
    """The four actors in one background thread (see the module docstring)."""

    platform: Platform
    members: list[Member]
    config: CoordinationConfig
    service_config: ServiceConfig
    say: Callable[[str], None] = _say
    state_file: Path | None = None

    def __post_init__(self) -> None:
        w3 = self.platform.w3
        self.clock = ChainClock(w3, cache_s=0.0)
        by_role = {m.role: m for m in self.members if m.role is not Role.PROSUMER}
        self.homes = [m for m in self.members if m.role is Role.PROSUMER]
        self.names = member_names(self.members)
        artifacts = self.platform.artifacts
        dep = self.platform.deployment
        meters = MeterOracleClient(w3, dep.address("MeterOracle"), artifacts["MeterOracle"], None)
        self.values = MeterValues(meters)
        aggregator = by_role[Role.AGGREGATOR]
        self.physics = (
            DemoPhysics(
                [h.address for h in self.homes],
                self.config.control,
                meters={h.meter_id: h.address for h in self.homes},
            )
            if self.config.control != "replay"
            else None
        )
        physics = self.physics

        def estimates(info: RequestInfo, members: list[str]) -> dict[str, list[int]]:
            assert physics is not None
            return physics.estimate(members, info.window_start_s, info.intervals)

        self.service = CoalitionService(
            coordination_client(
                w3,
                dep.address("FlexCoordination"),
                artifacts,
                self.platform.sender(aggregator.account),
            ),
            meters,
            self.platform.registry(),
            self.service_config.model_copy(
                update={"from_block": dep.contracts["FlexCoordination"].block}
            ),
            forecasts=ForecastOracleClient(
                w3, dep.address("ForecastOracle"), artifacts["ForecastOracle"], None
            ),
            clock=self.clock.now,
            on_step=self._step,
            estimates=estimates if physics is not None else None,
        )
        record = PublishedRecord(self.state_file, dep.chain_id, dep.address("FlexCoordination"))
        self.dso = DemoDso(
            self.platform,
            by_role[Role.DSO],
            self.homes,
            self.config,
            self.values,
            self.clock.now,
            self.say,
            record,
            physics=physics,
        )
        self.opt_ins = DemoOptIns(
            self.platform,
            self.homes,
            aggregator,
            self.config,
            self.values,
            self.clock.now,
            self.say,
            only=record.__contains__,
            physics=physics,
        )
        self.delivery = HomesDelivery(
            coordination_client(w3, dep.address("FlexCoordination"), artifacts),
            self.config.fail_share,
            forced=record.__contains__,
            physics=physics,
            say=self.say,
            names={m.address.lower(): self.names.get(m.address, m.name) for m in self.members},
        )
        self.watcher = DisputeWatcher(
            coordination_client(
                w3, dep.address("FlexCoordination"), artifacts,
                self.platform.sender(by_role[Role.DSO].account),
            ),
            meters,
            from_block=dep.contracts["FlexCoordination"].block,
            clock=self.clock.now,
            on_step=self._step,
        )

    def _step(self, step: Step | DisputeStep) -> None:
        self.say(step.describe(self.names))

    def prepare(self) -> None:
        """Calibrate the homes' twins now (a few seconds), before the homes meter or opt in."""
        if self.physics is not None:
            self.say("calibrating the twins of the demo homes (7 development homes) ...")
            self.physics.prepare()

    def data_in_args(self) -> dict[str, Any]:
        """What :class:`bright.demo_data.DemoDataIn` needs: the chain's clock and delivery."""
        args: dict[str, Any] = {"clock": ChainClock(self.platform.w3), "delivery": self.delivery}
        if self.physics is not None:
            args["net_w"] = self.physics.net_w
        return args

    def round(self) -> None:
        """One round of each actor: the DSO, the homes' opt-ins, the aggregator, the DSO's
        dispute watcher."""
        self.dso.tick()
        self.opt_ins.tick()
        self.service.tick()
        self.watcher.tick()

    def run(
        self, stop: threading.Event, on_error: Callable[[Exception], None] | None = None
    ) -> None:
        with stoppable(stop):  # a stop ends a wait for a receipt at once
            self._loop(stop, on_error)

    def _loop(self, stop: threading.Event, on_error: Callable[[Exception], None] | None) -> None:
        while not stop.is_set():
            try:
                self.round()
            except Exception as exc:  # the next round starts from the chain again
                if on_error is not None:
                    on_error(exc)
                else:
                    print(f"coordination round failed: {exc}", file=sys.stderr, flush=True)
            stop.wait(self.config.poll_s)

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop,), name="coordination", daemon=True)
        thread.start()
        return thread


def demo_settings(
    accelerated: bool, fail_share: float = 0.25, control: str = "replay"
) -> tuple[CoordinationConfig, ServiceConfig]:
    """The demo's cadence: with the market's accelerated chain clock (a 15-minute session every
    few seconds) windows start three intervals ahead, else (real time: ``bright up
    --real-time`` or ``--no-market``) ten minutes ahead. ``fail_share``: of each coalition of
    the demo DSO's requests, the share that fails (:func:`failing_count`) when ``control`` is
    ``replay``; otherwise the policy that drives the homes' twins."""
    service = ServiceConfig(flex_share=0.6, non_delivery_intervals=1, poll_s=1.0, reserve_bp=4000)
    if accelerated:
        return (
            CoordinationConfig(
                every_intervals=6,
                lead_s=3 * INTERVAL_S,
                deadline_before_s=1800,
                fail_share=fail_share,
                control=control,
            ),
            service,
        )
    return CoordinationConfig(fail_share=fail_share, control=control), service
