"""The meter oracle: bus readings in, signed 15-minute batches on-chain.

:class:`MeterOracleService` subscribes to ``meter.readings`` (the bridge's normalised readings:
``{device_id, property, value, unit, time_s, ...}``), keeps each meter's samples
(:mod:`oracles.aggregation`) and, on every :meth:`~MeterOracleService.tick`:

1. finishes batches a crash left pending (see :mod:`oracles.state`);
2. enrols meters the contract does not know yet;
3. commits each interval that ended at least ``grace_s`` ago, in one batch per interval (split
   at ``max_batch``): meters with complete data at once, the others once ``max_wait_s`` has
   passed, as an estimate (only meters that reported during the interval: a silent meter is
   offline, and its interval is committed when its readings arrive);
4. for meters that received late readings, recomputes the committed intervals those readings
   touch and commits what changed as a correction (its own event on-chain), and commits
   intervals that had no data before as late first commitments.

The clock is injected (``clock``), so a simulation at accelerated time and the tests drive it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from chain.errors import RevertError, TransactionFailed
from oracles.aggregation import PROPERTY_MAP, Direction, MeterSamples, SampleKind
from oracles.clients import MeterOracleClient
from oracles.domain import INTERVAL_S, MeterValue, interval_floor
from oracles.settings import OracleSettings
from oracles.signing import SignedBatch, sign_batch
from oracles.state import OracleState, OutboxRow
from streams.bus import Bus

log = logging.getLogger(__name__)

READINGS_TOPIC = "meter.readings"
ENROL_CHUNK = 200


@dataclass
class TickReport:
    """What one tick did."""

    committed: int = 0  # first commitments (values)
    corrected: int = 0  # corrections (values)
    batches: int = 0
    recovered: int = 0  # pending batches found mined or re-sent after a restart
    enrolled: int = 0
    failed: int = 0
    receipts: list[dict[str, Any]] = field(default_factory=list)


class MeterOracleService:
    """See the module docstring. Thread-safe: the bus thread adds readings, a timer ticks."""

    def __init__(
        self,
        client: MeterOracleClient,
        oracle: LocalAccount,
        settings: OracleSettings | None = None,
        *,
        state_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
        meters: Mapping[str, str] | None = None,
    ) -> None:
        self.client = client
        self.oracle = oracle
        self.settings = settings or OracleSettings()
        self.clock = clock
        self.meters = dict(meters) if meters is not None else None
        folder = state_dir if state_dir is not None else self.settings.state_dir
        self.state = OracleState(
            Path(folder) / "meter-oracle.sqlite",
            chain_id=client.chain_id,
            contract=client.address,
            signer=str(oracle.address),
        )
        self._lock = threading.RLock()
        self._tick_lock = threading.Lock()
        self._samples: dict[str, MeterSamples] = {}
        for meter_id, direction, kind, time_s, value in self.state.samples():
            self._samples.setdefault(meter_id, MeterSamples()).add(
                Direction(direction), SampleKind(kind), time_s, value
            )
        self._committed = self.state.committed()
        cursor = self.state.get_meta("cursor_s")
        self._cursor: int | None = int(cursor) if cursor is not None else None
        # After a restart every meter is re-checked: readings that arrived between the last
        # tick and the crash may not have been looked at yet.
        self._dirty: dict[str, float] = {}
        self._processed_end = float("-inf")
        if self._committed:
            start = min(s for _, s in self._committed)
            self._dirty = {m: float(start) for m in self._samples}
            self._processed_end = float("inf")
        self.stats: dict[str, int] = defaultdict(int)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- input ----------------------------------------------------------------------------
    def attach(self, bus: Bus) -> MeterOracleService:
        """Subscribe to ``meter.readings`` on ``bus``."""
        bus.subscribe(READINGS_TOPIC, self.on_reading)
        return self

    def meter_for(self, device_id: str) -> str | None:
        if self.meters is not None:
            return self.meters.get(device_id)
        return device_id if len(device_id.encode()) <= 32 else None

    def on_reading(self, key: str, value: dict) -> None:
        """Bus handler: keep an energy or power reading of a meter."""
        mapped = PROPERTY_MAP.get(str(value.get("property")))
        if mapped is None:
            return
        meter_id = self.meter_for(str(value.get("device_id", key)))
        if meter_id is None:
            self.stats["ignored"] += 1
            return
        try:
            time_s = float(value["time_s"])
            reading = float(value["value"])
        except (KeyError, TypeError, ValueError):
            self.stats["malformed"] += 1
            return
        direction, kind = mapped
        with self._lock:
            samples = self._samples.setdefault(meter_id, MeterSamples())
            if not samples.add(direction, kind, time_s, reading):
                self.stats["duplicate"] += 1
                return
            self.state.add_sample(meter_id, direction.value, kind.value, time_s, reading)
            self.stats["readings"] += 1
            affected = samples.affected_from(direction, kind, time_s)
            if affected < self._processed_end:
                self.stats["late"] += 1
                self._dirty[meter_id] = min(self._dirty.get(meter_id, affected), affected)

    # -- the timer ------------------------------------------------------------------------
    def start(self) -> MeterOracleService:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="meter-oracle", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None

    def close(self) -> None:
        self.stop()
        self.state.close()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.tick_s):
            try:
                self.tick()
            except Exception:
                log.exception("meter oracle tick failed")

    # -- one step -------------------------------------------------------------------------
    def tick(self, now_s: float | None = None) -> TickReport:
        """Recover, enrol, commit due intervals and corrections (see the module docstring)."""
        now = self.clock() if now_s is None else now_s
        report = TickReport()
        with self._tick_lock:
            self._recover(report)
            due_until = now - self.settings.grace_s - INTERVAL_S
            with self._lock:
                if self._cursor is None:
                    firsts = [
                        t for s in self._samples.values() if (t := s.first_time()) is not None
                    ]
                    if not firsts:
                        return report
                    self._cursor = interval_floor(min(firsts))
                    self.state.set_meta("cursor_s", str(self._cursor))
                last_due = interval_floor(due_until)
                originals, new_cursor = self._due_values(now, last_due)
                corrections, late = self._dirty_values(last_due)
                self._processed_end = max(self._processed_end, last_due + INTERVAL_S)
            for s, values in sorted(late.items()):
                originals.setdefault(s, []).extend(values)
            self._enrol({v.meter_id for vs in originals.values() for v, _ in vs}, report)
            self._enrol({v.meter_id for vs in corrections.values() for v, _ in vs}, report)
            for s, values in sorted(originals.items()):
                self._send("MeterBatch", s, values, report)
            for s, values in sorted(corrections.items()):
                self._send("MeterCorrection", s, values, report)
            if new_cursor != self._cursor and not self.state.pending():
                self._advance(new_cursor)
        return report

    def _due_values(
        self, now: float, last_due: int
    ) -> tuple[dict[int, list[tuple[MeterValue, bool]]], int]:
        assert self._cursor is not None
        out: dict[int, list[tuple[MeterValue, bool]]] = {}
        cursor = self._cursor
        advancing = True
        for s in range(self._cursor, last_due + 1, INTERVAL_S):
            final = now >= s + INTERVAL_S + self.settings.grace_s + self.settings.max_wait_s
            for meter_id, samples in self._samples.items():
                if (meter_id, s) in self._committed:
                    continue
                r = samples.interval(s)
                if r is None:
                    continue
                imp, exp, complete = r
                # an estimate only for a meter that reported during the interval; a silent one
                # is committed when its readings arrive (a late first commitment)
                if complete or (final and samples.reported_after(s)):
                    out.setdefault(s, []).append((MeterValue(meter_id, s, imp, exp), complete))
            if advancing and final:
                cursor = s + INTERVAL_S
            else:
                advancing = False
        return out, cursor

    def _dirty_values(
        self, last_due: int
    ) -> tuple[dict[int, list[tuple[MeterValue, bool]]], dict[int, list[tuple[MeterValue, bool]]]]:
        corrections: dict[int, list[tuple[MeterValue, bool]]] = {}
        late: dict[int, list[tuple[MeterValue, bool]]] = {}
        dirty, self._dirty = self._dirty, {}
        cursor = self._cursor if self._cursor is not None else 0
        for meter_id, since in dirty.items():
            samples = self._samples.get(meter_id)
            if samples is None:
                continue
            first = max(interval_floor(since), cursor - int(self.settings.retention_s))
            first -= first % INTERVAL_S
            for s in range(first, last_due + 1, INTERVAL_S):
                r = samples.interval(s)
                if r is None:
                    continue
                imp, exp, complete = r
                done = self._committed.get((meter_id, s))
                if done is not None:
                    if (imp, exp) != done[:2]:
                        value = MeterValue(meter_id, s, imp, exp)
                        corrections.setdefault(s, []).append((value, complete))
                elif s < cursor and complete:
                    late.setdefault(s, []).append((MeterValue(meter_id, s, imp, exp), complete))
        return corrections, late

    def _advance(self, cursor: int) -> None:
        self._cursor = cursor
        self.state.set_meta("cursor_s", str(cursor))
        keep_from = cursor - self.settings.retention_s
        with self._lock:
            for meter_id, samples in self._samples.items():
                samples.prune_before(keep_from)
                for direction, kind in samples.series:
                    self.state.prune_samples(meter_id, direction.value, kind.value, keep_from)
            old = [k for k in self._committed if k[1] < keep_from - INTERVAL_S]
            for k in old:
                del self._committed[k]

    # -- chain ----------------------------------------------------------------------------
    def _enrol(self, meter_ids: set[str], report: TickReport) -> None:
        missing = sorted(m for m in meter_ids if self.client.index_of(m) is None)
        for i in range(0, len(missing), ENROL_CHUNK):
            chunk = missing[i : i + ENROL_CHUNK]
            try:
                self.client.enrol_meters(chunk)
            except RevertError as exc:
                if exc.error_name != "MeterOracleMeterAlreadyEnrolled":
                    raise
                for m in chunk:  # someone enrolled one meanwhile: enrol the rest one by one
                    if self.client.index_of(m) is None:
                        self.client.enrol_meters([m])
            report.enrolled += len(chunk)

    def _send(
        self, kind: str, s: int, values: list[tuple[MeterValue, bool]], report: TickReport
    ) -> None:
        size = self.settings.max_batch
        for i in range(0, len(values), size):
            chunk = values[i : i + size]
            _, words = self.client.words([v for v, _ in chunk])

            def sign(nonce: int, words: list[int] = words) -> bytes:
                return sign_batch(
                    self.oracle,
                    kind,  # type: ignore[arg-type]
                    self.client.chain_id,
                    self.client.address,
                    s,
                    words,
                    nonce,
                ).signature

            row = self.state.reserve(kind, s, words, chunk, sign, self.clock())
            self._submit(row, report)

    def _submit(self, row: OutboxRow, report: TickReport) -> bool:
        batch = SignedBatch(
            kind=row.kind,  # type: ignore[arg-type]
            interval_start_s=row.interval_start_s,
            words=row.words,
            nonce=row.nonce,
            signature=row.signature,
            signer=str(self.oracle.address),
        )
        try:
            receipt = self.client.submit(batch)
        except RevertError as exc:
            if exc.error_name.endswith("NonceUsed") and self.client.nonce_used(
                self.oracle.address, row.nonce
            ):
                self._applied(row, report)  # an earlier send of this very batch was mined
                return True
            log.error("batch %s for %s refused: %s", row.nonce, row.interval_start_s, exc)
            self.state.mark_failed(row, str(exc))
            report.failed += 1
            return False
        except TransactionFailed as exc:
            log.warning("batch %s not sent yet (%s); retried next tick", row.nonce, exc)
            return False
        self.state.set_tx(row.nonce, "0x" + bytes(receipt["transactionHash"]).hex())
        self._applied(row, report)
        report.receipts.append(
            {
                "nonce": row.nonce,
                "kind": row.kind,
                "values": len(row.values),
                "gas_used": int(receipt["gasUsed"]),
                "block": int(receipt["blockNumber"]),
            }
        )
        return True

    def _applied(self, row: OutboxRow, report: TickReport) -> None:
        self.state.mark_mined(row)
        with self._lock:
            for v, complete in row.values:
                self._committed[(v.meter_id, v.interval_start_s)] = (
                    v.import_wh,
                    v.export_wh,
                    complete,
                )
        report.batches += 1
        if row.kind == "MeterCorrection":
            report.corrected += len(row.values)
        else:
            report.committed += len(row.values)

    def _recover(self, report: TickReport) -> None:
        for row in self.state.pending():
            if self.client.nonce_used(self.oracle.address, row.nonce):
                self._applied(row, report)
                report.recovered += 1
            elif self._submit(row, report):
                report.recovered += 1

    # -- reads ----------------------------------------------------------------------------
    def committed(self) -> dict[tuple[str, int], tuple[int, int]]:
        """(meter id, interval start) -> (import Wh, export Wh) as committed on-chain."""
        with self._lock:
            return {k: v[:2] for k, v in self._committed.items()}

    @property
    def cursor_s(self) -> int | None:
        """Every interval before this one is final (committed or without data)."""
        return self._cursor
