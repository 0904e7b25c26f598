"""The demo homes as controlled twins: flexibility estimated from physics, delivered by a
controller, commanded through the gateway bridge (issue 18's closed loop in ``bright up``).

The demo homes replay the CityLearn 2022 homes' meters, which carry no heating or cooling, so each
prosumer is paired (in turn, as in :mod:`bright.demo_twins`) with one of the seven development
homes of CityLearn 2023, whose calibrated twin (with its PV, battery and tariff) is its physics.
Chain time maps onto the twins' held-out period by day and time of day (UTC): the chain's day
``d`` is the held-out period's day ``d`` modulo its length, at the same quarter hour.

* :meth:`DemoPhysics.estimate`: a home's sustained downward flexibility over a request's window
  from its twin's state then (:func:`analytics.control.flex.sustained`), Wh per interval. Homes
  opt in with it (never more; a home whose estimate stays under ``min_wh`` in an interval does
  not opt in) and the aggregator's offers use it.
* :meth:`DemoPhysics.net_w`: each home's meter reports its twin's net import in business as
  usual (its heating/cooling, its equipment, its PV and battery), not the replayed 2022 load;
* :meth:`DemoPhysics.deliver` (through the coordination demo's ``HomesDelivery``): when a
  request's window starts, the chosen policy drives the members' twins through the window with
  their committed targets (:func:`analytics.control.loop.deliver_window`); the meters then report
  what the physics produced (business as usual less the delivered reduction), the oracle commits
  it and settlement pays it. The controller's setpoint shift goes to each home's gateway as a
  flexibility shift (ISM commands on MQTT through the bridge). Per request the demo prints
  promised, delivered and comfort violations.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from analytics.control.flex import State
    from analytics.control.homes import Community

DAY_STEPS = 96
MIN_WH = 20
"""A home opts in only if its twin can shift at least this much in every interval, Wh."""


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class MarketSales:
    """Cleared sells of the demo homes per delivery interval (``{interval s: {meter: Wh}}``),
    filled by the demo market after each clearing, read by the homes' delivery."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sales: dict[int, dict[str, tuple[str, int]]] = {}

    def add(self, interval_s: int, meter_id: str, member: str, wh: int) -> None:
        with self._lock:
            row = self._sales.setdefault(interval_s, {})
            _, had = row.get(meter_id, (member, 0))
            row[meter_id] = (member, had + int(wh))
            for old in [k for k in self._sales if k < interval_s - 86_400]:
                del self._sales[old]

    def at(self, interval_s: int) -> dict[str, tuple[str, int]]:
        with self._lock:
            return dict(self._sales.get(interval_s, {}))


def opt_in_offers(
    estimates: dict[str, list[int]], offer_wh: int, min_wh: int = MIN_WH
) -> tuple[dict[str, int], dict[str, int]]:
    """Each home's opt-in: ``offer_wh`` but never more than its twin's estimate in any interval
    of the window; a home whose estimate falls under ``min_wh`` in an interval does not opt in.
    Returns (offers by home, the estimates of the homes left out)."""
    offers: dict[str, int] = {}
    left_out: dict[str, int] = {}
    for home, est in estimates.items():
        can = min(est) if est else 0
        if can < min_wh:
            left_out[home] = can
        else:
            offers[home] = min(offer_wh, can)
    return offers, left_out


def store_comparison(account: str, chain_id: int, report: dict[str, Any],
                     series: dict[str, Any]) -> None:
    """``bright control compare --account``: the comparison into the read models
    (``BRIGHT_DATABASE_URL``)."""
    from analytics.control.store import put_comparison
    from streams.db import open_database
    from streams.settings import StreamsSettings

    engine = open_database(StreamsSettings().database_url)
    try:
        put_comparison(engine, chain_id, account, report, series)
    finally:
        engine.dispose()


@dataclass
class _Set:
    community: Community
    states: list[State]
    """Business as usual's state at each held-out step from ``first``."""
    first: int
    """First held-out step at 00:00 UTC."""
    days: int


class DemoPhysics:
    """The twins behind the demo homes (module docstring). ``homes``: the prosumers' addresses
    in pairing order. Built on first use (calibrating 7 twins: a few seconds)."""

    def __init__(
        self, homes: Sequence[str], policy: str = "mpc", meters: dict[str, str] | None = None
    ) -> None:
        self.homes = [h.lower() for h in homes]
        self.meters = {m: a.lower() for m, a in (meters or {}).items()}
        self.policy = policy
        self._sets: list[_Set] | None = None
        self._pair: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def prepare(self) -> None:
        """Build the twins now (else on first use)."""
        self._build()

    def _build(self) -> list[_Set]:
        with self._lock:
            if self._sets is not None:
                return self._sets
            from analytics.control.flex import bau_states
            from analytics.control.homes import citylearn_community
            from analytics.data import citylearn2023 as cl

            sets: list[_Set] = []
            keys: list[tuple[int, int]] = []
            for s, name in enumerate(cl.DEVELOP):
                community, test0 = citylearn_community(name)
                hours = community.times[test0:].hour * 4 + community.times[test0:].minute // 15
                first = test0 + int(np.argmax(np.asarray(hours) == 0))
                days = (community.n_steps - first) // DAY_STEPS - 1
                states = bau_states(community, first, days * DAY_STEPS)
                sets.append(_Set(community, states, first, days))
                keys.extend((s, n) for n in range(community.n_homes))
            self._pair = {h: keys[i % len(keys)] for i, h in enumerate(self.homes)}
            self._sets = sets
            return sets

    def pair(self, member: str) -> tuple[int, int] | None:
        """(set, home) of a member's twin; None for a member without one."""
        self._build()
        return self._pair.get(member.lower())

    def label(self, member: str) -> str:
        p = self.pair(member)
        if p is None:
            return "no twin"
        return self._build()[p[0]].community.names[p[1]]

    def net_w(self, meter_id: str, time_s: float) -> float | None:
        """A home's net import in business as usual at ``time_s`` (its twin's physics), W;
        None for a meter without a twin."""
        member = self.meters.get(meter_id)
        p = self.pair(member) if member is not None else None
        if p is None:
            return None
        item = self._build()[p[0]]
        k = self._offset(p[0], int(time_s) - int(time_s) % 900)
        return float(item.states[min(k, len(item.states) - 1)].net_import_w[p[1]])

    def _offset(self, s: int, start_s: int) -> int:
        """Held-out state index of the interval starting at ``start_s`` (module docstring)."""
        item = self._build()[s]
        day = (start_s // 86_400) % item.days
        return day * DAY_STEPS + (start_s % 86_400) // 900

    def _group(
        self, members: Sequence[str], start_s: int, steps: int
    ) -> dict[int, tuple[list[int], list[int], Community, State, np.ndarray]]:
        """Members by set: (their positions, twin indices, the community of their copies, the
        state at ``start_s``, business as usual's net import over the window (steps, n))."""
        from analytics.control.flex import take

        out: dict[int, tuple[list[int], list[int], Any, Any, np.ndarray]] = {}
        for i, m in enumerate(members):
            p = self.pair(m)
            if p is None:
                continue
            entry = out.setdefault(p[0], ([], [], None, None, np.zeros(0)))
            entry[0].append(i)
            entry[1].append(p[1])
        sets = self._build()
        for s, (pos, idx, *_rest) in list(out.items()):
            item = sets[s]
            k0 = min(self._offset(s, start_s), len(item.states) - steps - 17)
            window = item.states[k0 : k0 + steps]
            bau = np.stack([w.net_import_w[idx] for w in window])
            out[s] = (pos, idx, item.community.subset(idx), take(window[0], idx), bau)
        return out

    def estimate(self, members: Sequence[str], start_s: int, steps: int) -> dict[str, list[int]]:
        """Each member's sustained downward flexibility over the window, Wh per interval."""
        from analytics.control.flex import sustained

        out: dict[str, list[int]] = {}
        for pos, _idx, community, state, _bau in self._group(members, start_s, steps).values():
            est = sustained(community, state, steps).down_wh
            for j, i in enumerate(pos):
                out[members[i]] = [int(v) for v in np.floor(est[:, j])]
        return out

    def market_orders(
        self, members: Sequence[tuple[str, str]], delivery_start_s: int, seed: int = 0
    ) -> list[tuple[int, str, int, int]]:
        """The demo homes' orders for one delivery interval from their twins: a home that
        imports offers to shed at most what its twin can shift in the interval without
        discomfort (30 % of its import at most; nothing under :data:`MIN_WH`), a home that
        exports bids for half of its export. ``members``: (address, meter id); returns
        (member index, "offer" | "bid", Wh, price per kWh in base units)."""
        from core.units import tokens_to_base

        rng = np.random.default_rng(seed + delivery_start_s // 900)
        est = self.estimate([a for a, _ in members], delivery_start_s, 1)
        out = []
        for i, (address, meter) in enumerate(members):
            net = self.net_w(meter, delivery_start_s)
            if net is None:
                continue
            wh = net * 0.25
            if wh > 0:
                qty = min(int(0.3 * wh), est.get(address, [0])[0])
                if qty >= MIN_WH:
                    price = int(tokens_to_base("0.06") + 4_000 * (i % 8) + rng.integers(0, 20_000))
                    out.append((i, "offer", qty, price))
            elif wh < 0:
                qty = int(0.5 * -wh)
                if qty > 0:
                    price = int(tokens_to_base("0.09") + rng.integers(0, 40_000))
                    out.append((i, "bid", qty, price))
        return out

    def deliver(
        self, members: Sequence[str], targets_wh: np.ndarray, start_s: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The members' twins driven by the policy through the window with their targets
        (intervals, members); returns delivered Wh, comfort violations (Kh) and the mean
        setpoint shift (K) per member."""
        from analytics.control.loop import TRACKING_COST, deliver_window
        from analytics.control.policies import MpcPolicy, RulePolicy

        steps = targets_wh.shape[0]
        delivered = np.zeros(targets_wh.shape)
        violation = np.zeros(targets_wh.shape)
        shift = np.zeros(len(members))
        for pos, _idx, community, state, bau in self._group(members, start_s, steps).values():
            policy = MpcPolicy(TRACKING_COST) if self.policy == "mpc" else RulePolicy()
            promised = targets_wh[:, pos].astype(float)
            result = deliver_window(
                community, state, bau, steps, policy, promised_wh=promised
            )
            delivered[:, pos] = result.delivered_wh
            violation[:, pos] = result.violation_kh
            shift[pos] = result.offset_k.mean(axis=0)
        return delivered, violation, shift


def home_status(community: Community, first: int, steps: int, policy: Any) -> dict[str, Any]:
    """What ``policy`` did in the (single-home) ``community`` over ``steps`` steps from
    ``first`` and why, with the home's flexibility over the next day: the control status the
    API serves (:func:`analytics.control.store.check_status`)."""
    import time as _time

    from analytics.control.evaluate import run_policy
    from analytics.control.flex import profile

    run = run_policy(community, policy, first, first + steps, keep_reasons=True)
    targets = community.targets_w[first : first + steps, 0]

    def num(value: float) -> float | None:
        return round(float(value), 2) if np.isfinite(value) else None

    rows = [
        {
            "start_s": run.start_s + 900 * k,
            "indoor_c": round(float(run.indoor_c[k, 0]), 2),
            "band_low_c": num(run.band_low[k, 0]),
            "band_high_c": num(run.band_high[k, 0]),
            "setpoint_offset_k": round(float(run.offset_k[k, 0]), 2),
            "net_import_w": round(float(run.net_import_w[k, 0]), 1),
            "target_w": num(targets[k]),
            "reason": run.reasons[k][0],
        }
        for k in range(steps)
    ]
    ahead = min(DAY_STEPS, community.n_steps - (first + steps) - 20)
    flexibility = (
        profile(community, first + steps, ahead).home(0) if ahead > 0 else None
    )
    return {
        "policy": run.policy,
        "updated_s": int(_time.time()),
        "comfort_violation_kh": round(float(run.totals["violation_kh"][0]), 3),
        "steps": rows,
        "flexibility": flexibility,
    }


class DemoControl:
    """Stores, for every demo prosumer, its home's policy comparison and control status (from
    the twin it is paired with: :class:`DemoPhysics`), in a thread, once per home (kept across
    restarts). ``bright up`` starts it beside the twins."""

    def __init__(self, running: Any, database_url: str, physics: DemoPhysics | None = None,
                 days: int = 2) -> None:
        from chain.domain import Role

        self.chain_id = running.platform.deployment.chain_id
        self.homes = [m.address for m in running.members
                      if m.role is Role.PROSUMER and m.home is not None]
        self.physics = physics or DemoPhysics(self.homes)
        self.database_url = database_url
        self.days = days
        self.stored = 0
        self.thread: threading.Thread | None = None
        self._stop = threading.Event()

    def _policies(self) -> list[Any]:
        from analytics.control.errors import ControlConfigError
        from analytics.control.policies import BauPolicy, MpcPolicy, RulePolicy

        out: list[Any] = [BauPolicy(), RulePolicy(), MpcPolicy()]
        try:
            from analytics.control.rl import RlPolicy

            out.append(RlPolicy())
        except (ImportError, ControlConfigError) as exc:  # no learned policy shipped
            _say(f"control: comparing without the learned policy ({exc})")
        return out

    def build(self) -> int:
        """Compare and store for every demo home that has no comparison yet."""
        from analytics.control.evaluate import compare, home_series
        from analytics.control.policies import MpcPolicy
        from analytics.control.store import get_comparison_stored, put_comparison, put_status
        from streams.db import open_database

        engine = open_database(self.database_url)
        made: dict[tuple[int, int], tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {}
        try:
            sets = self.physics._build()
            for home in self.homes:
                if self._stop.is_set():
                    break
                if get_comparison_stored(engine, self.chain_id, home) is not None:
                    continue
                pair = self.physics.pair(home)
                if pair is None:
                    continue
                if pair not in made:
                    item = sets[pair[0]]
                    one = item.community.subset([pair[1]])
                    stop = item.first + self.days * DAY_STEPS
                    report, runs = compare(one, self._policies(), item.first, stop)
                    status = home_status(one, item.first, DAY_STEPS, MpcPolicy())
                    made[pair] = (report, home_series(runs, 0, every=4), status)
                report, series, status = made[pair]
                put_comparison(engine, self.chain_id, home, report, series)
                put_status(engine, self.chain_id, home, status)
                self.stored += 1
        finally:
            engine.dispose()
        return self.stored

    def _run(self) -> None:
        try:
            n = self.build()
            _say(f"control: {n} demo homes' policy comparisons and control status stored for "
                 "GET /control")
        except Exception as exc:  # a demo side-show must not stop the platform
            _say(f"control: comparisons not stored: {exc}")

    def start(self) -> DemoControl:
        self.thread = threading.Thread(target=self._run, name="demo-control", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.thread is not None:
            self.thread.join(timeout=30)
