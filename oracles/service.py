"""The meter oracle: bus readings in, signed 15-minute batches on-chain.

:class:`MeterOracleService` subscribes to ``meter.readings`` (the bridge's normalised readings:
``{device_id, property, value, unit, time_s, ...}``), keeps each meter's samples
(:mod:`oracles.aggregation`) and, on every :meth:`~MeterOracleService.tick`:

1. looks at the chain for batches signed with its key that it did not sign (see *One signer
   per key* below) and stops if there is one;
2. finishes batches a crash left pending (see :mod:`oracles.state`);
3. enrols meters the contract does not know yet;
4. commits each interval that ended at least ``grace_s`` ago, in one batch per interval (split
   at ``max_batch``): meters with complete data at once, the others once ``max_wait_s`` has
   passed, as an estimate (only meters that reported during the interval: a silent meter is
   offline, and its interval is committed when its readings arrive);
5. for meters that received late readings, recomputes the committed intervals those readings
   touch and commits what changed as a correction (its own event on-chain), and commits
   intervals that had no data before as late first commitments.

Nothing is reported committed that the chain does not hold. A batch counts as mined when its
receipt says so, or when the chain holds *this* batch: its Merkle root is the root of a
commitment for its interval (``rootInterval``), or, for a correction, the current root of each
of its values or its ``MeterCorrectionsCommitted`` event signed with this key. A used nonce
proves nothing (a restored state folder reuses its nonces, another signer with the key may
too): a batch whose nonce was used by another batch is signed again with a fresh nonce
(nonces the chain has seen used are skipped; a new state starts at a random nonce base).
Values that another batch committed first are ``conflicts``, and the rest of the batch is
signed again. Mined batches are checked against the chain again at start (the retention
window) and for 16 blocks while running; one the chain lost (a reorg, a reset chain) is
signed again. Values of a pending batch are never put in a second batch.

One signer per key: two services signing with one key race for nonces and commit diverging
values, so the service holds a lease. On one machine it is an exclusive ``flock`` on a lock
file named after the chain (id, genesis block, node URL), the contract and the key, in a
machine-wide folder (``lock_dir``), plus one on its state folder; the kernel releases both when
the process
dies, so a crash leaves no stale lock. Across machines the chain is the lease: every batch
signed with the key is visible in the contract's events (the signer is an indexed topic). At
start the service refuses to run when the chain holds a batch signed with its key that its
state does not know (another service with the key, or this folder lost or restored: both are
unsafe to guess between); ``adopt_chain=True`` (``bright oracle run --adopt-chain``) takes
such batches over once the operator knows no other service runs. While running, each tick
looks at the new blocks; a batch it did not sign means a second signer: the service stops
before sending anything more (if both sent in the same moment, both stop: a fail-stop).

The clock is injected (``clock``), so a simulation at accelerated time and the tests drive it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import os
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes

from chain.errors import RevertError, TransactionFailed
from chain.oracle_signing import SignedBatch, sign_batch
from chain.oracles import MeterOracleClient
from chain.tx import stoppable
from core.codec import bytes32_to_text
from core.oracle_codec import MeterValue, unpack_reading
from core.units import INTERVAL_S, interval_start
from oracles.aggregation import PROPERTY_MAP, Direction, MeterSamples, SampleKind
from oracles.errors import CounterDecreasedError, OracleKeyInUseError, OracleStateError
from oracles.settings import OracleSettings
from oracles.state import ForeignBatch, OracleState, OutboxRow
from streams.bus import Bus

log = logging.getLogger(__name__)

READINGS_TOPIC = "meter.readings"
ENROL_CHUNK = 200
RESIGN_ATTEMPTS = 3  # re-signs of one batch within a tick before it waits for the next tick
REORG_OVERLAP_BLOCKS = 16  # each scan looks this far back again (a reorg replaces blocks)
UNITS = {SampleKind.COUNTER: "Wh", SampleKind.POWER: "W"}


@dataclass
class TickReport:
    """What one tick did."""

    committed: int = 0  # first commitments (values)
    corrected: int = 0  # corrections (values)
    batches: int = 0
    recovered: int = 0  # pending batches found mined or re-sent after a restart
    enrolled: int = 0
    failed: int = 0
    resigned: int = 0  # batches signed again with a fresh nonce (their nonce was taken)
    conflicts: int = 0  # values another batch committed first
    receipts: list[dict[str, Any]] = field(default_factory=list)


# -- the lease on one machine ---------------------------------------------------------------
class _FileLock:
    """An exclusive ``flock`` on ``path``; the file says who holds it."""

    def __init__(self, path: Path, what: str) -> None:
        self.path, self.what = path, what
        self._file: IO[str] | None = None

    def acquire(self, holder: dict[str, Any]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            f = self.path.open("a+")
        except OSError as exc:
            raise OracleStateError(
                f"cannot lock {self.what} ({self.path}): {exc}; set BRIGHT_ORACLE_LOCK_DIR"
            ) from exc
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            held_by = f.read().strip() or "unknown"
            f.close()
            raise OracleKeyInUseError(
                f"{self.what} is in use by another meter oracle ({held_by}; lock {self.path})"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(json.dumps(holder))
        f.flush()
        self._file = f

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


# -- what the chain holds -------------------------------------------------------------------
class ChainView:
    """Reads that answer "is this batch on-chain?" and "what did this key sign?" from the
    MeterOracle's storage and events (never from a nonce)."""

    def __init__(self, client: MeterOracleClient, signer: str) -> None:
        self.client = client
        self.signer = signer
        events = client.contract.events
        self._commit_event = events.MeterReadingsCommitted()
        self._corrections_event = events.MeterCorrectionsCommitted()
        self._corrected_event = events.MeterReadingCorrected()
        self.commit_topic = HexBytes(self._commit_event.topic)
        self.corrections_topic = HexBytes(self._corrections_event.topic)
        self.corrected_topic = HexBytes(self._corrected_event.topic)
        self.signer_topic = HexBytes(bytes(12) + bytes(HexBytes(signer)))

    @property
    def head(self) -> int:
        return int(self.client.w3.eth.block_number)

    def _logs(self, from_block: int, to_block: int | None, topics: list[Any]) -> list[Any]:
        """Logs of the contract matching ``topics`` (``to_block`` None: the latest block)."""
        query: Any = {
            "address": self.client.address,
            "fromBlock": from_block,
            "toBlock": "latest" if to_block is None else to_block,
            "topics": topics,
        }
        return list(self.client.w3.eth.get_logs(query))

    def batch_on_chain(self, row: OutboxRow) -> bool:
        """True when the chain holds this very batch (see the module docstring)."""
        s = row.interval_start_s
        if row.kind == "MeterBatch":
            return self.client.root_interval(row.root) == s
        try:
            if all(self.client.correction_root(v.meter_id, s) == row.root for v, _ in row.values):
                return True
        except RevertError:  # a meter the contract does not know: not this batch
            return False
        # a later correction may have replaced it: its own event says it was mined
        topics = [self.corrections_topic, row.root, _int_topic(s), self.signer_topic]
        return bool(self._logs(row.first_block, None, topics))

    def nonce_used(self, nonce: int) -> bool:
        return self.client.nonce_used(self.signer, nonce)

    def signed_batches(self, from_block: int, to_block: int, chunk: int) -> list[ForeignBatch]:
        """Every commitment and correction batch signed with the key in the block range."""
        out: list[ForeignBatch] = []
        topics = [[self.commit_topic, self.corrections_topic], None, None, self.signer_topic]
        for a in range(from_block, to_block + 1, chunk):
            for entry in self._logs(a, min(a + chunk - 1, to_block), topics):
                kind = (
                    "MeterBatch" if HexBytes(entry["topics"][0]) == self.commit_topic
                    else "MeterCorrection"
                )  # fmt: skip
                out.append(
                    ForeignBatch(
                        bytes(entry["topics"][1]),
                        kind,
                        int.from_bytes(bytes(entry["topics"][2]), "big"),
                        int(entry["blockNumber"]),
                        "0x" + bytes(entry["transactionHash"]).hex(),
                        False,
                    )
                )
        return out

    def batch_values(self, batch: ForeignBatch) -> list[MeterValue]:
        """The values a batch put on-chain, from its events."""
        s = batch.interval_start_s
        if batch.kind == "MeterBatch":
            topics: list[Any] = [self.commit_topic, batch.root, _int_topic(s), self.signer_topic]
            out = []
            for entry in self._logs(batch.block, batch.block, topics):
                for word in self._commit_event.process_log(entry)["args"]["readings"]:
                    index, imp, exp = unpack_reading(int(word))
                    out.append(MeterValue(self.client.id_at(index), s, imp, exp))
            return out
        topics = [self.corrected_topic, None, _int_topic(s), batch.root]
        values = []
        for entry in self._logs(batch.block, batch.block, topics):
            a = self._corrected_event.process_log(entry)["args"]
            meter = bytes32_to_text(a["meterId"])
            values.append(MeterValue(meter, s, int(a["importWh"]), int(a["exportWh"])))
        return values

    def committed_bits(self, s: int, meter_ids: Iterable[str]) -> set[str]:
        """The meters among ``meter_ids`` that have a commitment for interval ``s``."""
        index = {m: self.client.index_of(m) for m in meter_ids}
        words: dict[int, int] = {}
        out = set()
        for m, i in index.items():
            if i is None:
                continue
            if i >> 8 not in words:
                words[i >> 8] = self.client.committed_words(s, 1, i >> 8)[0]
            if words[i >> 8] >> (i & 255) & 1:
                out.add(m)
        return out


def _int_topic(value: int) -> HexBytes:
    return HexBytes(value.to_bytes(32, "big"))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class MeterOracleService:
    """See the module docstring. Thread-safe: the bus thread adds readings, a timer ticks.

    Raises :class:`OracleKeyInUseError` when another service holds the key (see the module
    docstring); ``adopt_chain`` takes over batches signed with the key that the state does not
    know instead of refusing.
    """

    def __init__(
        self,
        client: MeterOracleClient,
        oracle: LocalAccount,
        settings: OracleSettings | None = None,
        *,
        state_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
        meters: Mapping[str, str] | None = None,
        adopt_chain: bool = False,
    ) -> None:
        self.client = client
        self.oracle = oracle
        self.settings = settings or OracleSettings()
        self.clock = clock
        self.meters = dict(meters) if meters is not None else None
        folder = Path(state_dir if state_dir is not None else self.settings.state_dir)
        self.chain = ChainView(client, str(oracle.address))
        self._locks = self._lease(folder)
        try:
            self.state = OracleState(
                folder / "meter-oracle.sqlite",
                chain_id=client.chain_id,
                contract=client.address,
                signer=str(oracle.address),
            )
        except BaseException:
            self._release()
            raise
        self._lock = threading.RLock()
        self._tick_lock = threading.Lock()
        self.stats: dict[str, int] = defaultdict(int)
        self.quarantine: deque[dict[str, Any]] = deque(maxlen=1000)
        self._samples: dict[str, MeterSamples] = {}
        for meter_id, direction, kind, time_s, value in self.state.samples():
            try:
                self._samples.setdefault(meter_id, MeterSamples()).add(
                    Direction(direction), SampleKind(kind), time_s, value
                )
            except CounterDecreasedError as exc:  # kept by an older version: not used
                self._quarantine("counter_decreased", str(exc), {"meter": meter_id})
        # (meter, interval) -> (import Wh, export Wh, complete, nonce of the outbox row)
        self._committed = self.state.committed_with_nonce()
        self._conflicts = set(self.state.conflicts())
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
        self._known_roots = self.state.known_roots()
        scanned = self.state.get_meta("scanned_block")
        self._scanned = int(scanned) if scanned is not None else self.settings.scan_from_block - 1
        self._halted: str | None = None
        self._lost: list[OutboxRow] = []
        self._recent: list[tuple[int, OutboxRow]] = []  # (block, row) mined in the last blocks
        self._in_flight: set[tuple[str, int]] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            self._check_chain(adopt_chain)
        except BaseException:
            self.state.close()
            self._release()
            raise

    # -- the lease ------------------------------------------------------------------------
    def _lease(self, folder: Path) -> list[_FileLock]:
        """Lock the state folder and, machine-wide, the key on this chain and contract."""
        genesis = bytes(self.client.w3.eth.get_block(0)["hash"]).hex()[:16]
        # the node's URL too: two dev chains started in the same second share a genesis hash
        node = str(getattr(self.client.w3.provider, "endpoint_uri", "") or "")
        parts = (self.client.chain_id, genesis, node, self.client.address, self.oracle.address)
        key = "-".join(str(p) for p in parts)
        name = hashlib.sha256(key.lower().encode()).hexdigest()[:24]
        locks = [
            _FileLock(folder / "meter-oracle.lock", f"the oracle state folder {folder}"),
            _FileLock(
                Path(self.settings.lock_dir) / f"meter-oracle-{name}.lock",
                f"the oracle key {self.oracle.address} on MeterOracle {self.client.address} "
                f"(chain {self.client.chain_id})",
            ),
        ]
        holder = {"pid": os.getpid(), "state": str(folder.resolve()), "key": key}
        taken: list[_FileLock] = []
        try:
            for lock in locks:
                lock.acquire(holder)
                taken.append(lock)
        except BaseException:
            for lock in taken:
                lock.release()
            raise
        return taken

    def _release(self) -> None:
        for lock in self._locks:
            lock.release()
        self._locks = []

    def _check_chain(self, adopt: bool) -> None:
        """At start: refuse (or adopt) batches signed with the key that the state does not
        know; find recent mined batches the chain does not hold (signed again next tick)."""
        head = self.chain.head
        found = self.chain.signed_batches(
            max(self._scanned + 1, 0), head, self.settings.scan_chunk_blocks
        )
        self.state.add_foreign([b for b in found if b.root not in self._known_roots])
        self._set_scanned(head)
        foreign = self.state.foreign(adopted=False)
        if foreign and not adopt:
            raise OracleKeyInUseError(self._foreign_message(foreign))
        if foreign:
            self._adopt(foreign)
        horizon = (self._cursor or 0) - self.settings.retention_s
        for row in self.state.rows("mined", since_interval_s=horizon):
            if not self.chain.batch_on_chain(row):
                log.warning("batch %s (%s) is not on-chain: signed again", row.nonce, row.kind)
                self._lost.append(row)

    def _foreign_message(self, foreign: list[ForeignBatch]) -> str:
        last = foreign[-1]
        return (
            f"the chain holds {len(foreign)} batch(es) signed with the oracle key "
            f"{self.oracle.address} that the state {self.state.path} did not sign (latest: "
            f"block {last.block}, tx {last.tx_hash}): another meter oracle signs with this "
            "key, or this state folder was lost or restored. Stop the other service; if none "
            "runs, start once with --adopt-chain (adopt_chain=True) to take these over"
        )

    def _adopt(self, foreign: list[ForeignBatch]) -> None:
        values: list[MeterValue] = []
        for batch in foreign:
            values += self.chain.batch_values(batch)
        self.state.adopt(foreign, values)
        with self._lock:
            for v in values:
                key = (v.meter_id, v.interval_start_s)
                self._committed[key] = (v.import_wh, v.export_wh, True, -1)
                if v.meter_id in self._samples:  # our readings decide: corrected if they differ
                    old = self._dirty.get(v.meter_id, float(v.interval_start_s))
                    self._dirty[v.meter_id] = min(old, float(v.interval_start_s))
        self._known_roots |= {b.root for b in foreign}
        log.warning("adopted %d batch(es) signed with this key elsewhere", len(foreign))

    def _set_scanned(self, block: int) -> None:
        self._scanned = block
        self.state.set_meta("scanned_block", str(block))

    def _watch_chain(self) -> None:
        """Stop when the new blocks hold a batch signed with the key that this service did
        not sign (a second signer)."""
        head = self.chain.head
        start = max(min(self._scanned, head) + 1 - REORG_OVERLAP_BLOCKS, 0)
        found = [
            b
            for b in self.chain.signed_batches(start, head, self.settings.scan_chunk_blocks)
            if b.root not in self._known_roots
        ]
        self._set_scanned(head)
        if found:
            self.state.add_foreign(found)
            self._halted = self._foreign_message(found)
            log.error("meter oracle stops: %s", self._halted)
            raise OracleKeyInUseError(self._halted)

    def _check_recent(self) -> None:
        """Batches mined in the last blocks that the chain no longer holds (a reorg dropped
        them) are signed again (:meth:`_recover`); deeper ones are taken as final."""
        if not self._recent:
            return
        head = self.chain.head
        keep = []
        for block, row in self._recent:
            if block > head or not self.chain.batch_on_chain(row):
                log.warning("batch %s (%s) left the chain: signed again", row.nonce, row.kind)
                self._lost.append(row)
                self.chain.client.forget_ids()  # its enrolments may have left with it
            elif head - block < REORG_OVERLAP_BLOCKS:
                keep.append((block, row))
        self._recent = keep

    @property
    def halted(self) -> str | None:
        """Why the service stopped (a second signer with its key), or None."""
        return self._halted

    # -- input ----------------------------------------------------------------------------
    def attach(self, bus: Bus) -> MeterOracleService:
        """Subscribe to ``meter.readings`` on ``bus``."""
        bus.subscribe(READINGS_TOPIC, self.on_reading)
        return self

    def meter_for(self, device_id: str) -> str | None:
        if self.meters is not None:
            return self.meters.get(device_id)
        return device_id if len(device_id.encode()) <= 32 else None

    def _quarantine(self, reason: str, detail: str, message: Mapping[str, Any]) -> None:
        self.stats[reason] += 1
        shown = {k: message.get(k) for k in ("device_id", "property", "value", "unit", "time_s")}
        self.quarantine.append({"reason": reason, "detail": detail[:300], "reading": shown})
        log.warning("reading refused (%s): %s", reason, detail)

    def on_reading(self, key: str, value: dict) -> None:
        """Bus handler: keep an energy or power reading of a meter.

        Strict: ``value`` and ``time_s`` must be finite JSON numbers (a boolean or a word is no
        number), the unit the property's (Wh for counters, W for power), the value not
        negative; anything else counts as ``malformed``. A counter reading below an earlier
        one (or above a later one) counts as ``counter_decreased`` and is not used.
        """
        mapped = PROPERTY_MAP.get(str(value.get("property")))
        if mapped is None:
            return
        meter_id = self.meter_for(str(value.get("device_id", key)))
        if meter_id is None:
            self.stats["ignored"] += 1
            return
        direction, kind = mapped
        raw_time, raw_value, unit = value.get("time_s"), value.get("value"), value.get("unit")
        problem = None
        if not _is_number(raw_time) or not _is_number(raw_value):
            problem = f"time_s {raw_time!r} and value {raw_value!r} must be numbers"
        elif unit is not None and unit != UNITS[kind]:
            problem = f"unit {unit!r} is not {UNITS[kind]}"
        else:
            try:
                time_s, reading = float(raw_time), float(raw_value)  # type: ignore[arg-type]
            except OverflowError:
                time_s = reading = math.inf
            if not (math.isfinite(time_s) and math.isfinite(reading)):
                problem = f"time_s {raw_time!r} or value {raw_value!r} is not finite"
            elif reading < 0:
                problem = f"value {reading:g} is negative"
        if problem is not None:
            self._quarantine("malformed", f"{meter_id}: {problem}", value)
            return
        with self._lock:
            if self._stop.is_set():  # stopping: the state is (being) closed; counted, not kept
                self.stats["after_stop"] += 1
                return
            samples = self._samples.setdefault(meter_id, MeterSamples())
            try:
                added = samples.add(direction, kind, time_s, reading, meter=meter_id)
            except CounterDecreasedError as exc:
                self._quarantine("counter_decreased", str(exc), value)
                return
            if not added:
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
        """Stop, close the state and give the lease back."""
        self.stop()
        with self._lock:  # no reading is being written while the state closes
            self.state.close()
        self._release()

    def _run(self) -> None:
        with stoppable(self._stop):  # a stop ends a wait for a receipt at once
            self._loop()

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.tick_s):
            try:
                self.tick()
            except OracleKeyInUseError:
                return  # logged where it was found; never two signers with one key
            except Exception:
                log.exception("meter oracle tick failed")

    # -- one step -------------------------------------------------------------------------
    def tick(self, now_s: float | None = None) -> TickReport:
        """Watch the chain, recover, enrol, commit due intervals and corrections (see the
        module docstring). :class:`OracleKeyInUseError` once a second signer showed up."""
        now = self.clock() if now_s is None else now_s
        report = TickReport()
        with self._tick_lock:
            if self._halted is not None:
                raise OracleKeyInUseError(self._halted)
            self._watch_chain()
            self._check_recent()
            self._recover(report)
            due_until = now - self.settings.grace_s - INTERVAL_S
            # values of batches still pending (a timeout, a re-signed batch not mined yet) are
            # in flight: never signed a second time in another batch
            self._in_flight = {
                (v.meter_id, v.interval_start_s)
                for row in self.state.pending()
                for v, _ in row.values
            }
            with self._lock:
                if self._cursor is None:
                    firsts = [
                        t for s in self._samples.values() if (t := s.first_time()) is not None
                    ]
                    if not firsts:
                        return report
                    self._cursor = interval_start(min(firsts))
                    self.state.set_meta("cursor_s", str(self._cursor))
                last_due = interval_start(due_until)
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

    def _settled(self, key: tuple[str, int]) -> bool:
        return key in self._committed or key in self._conflicts or key in self._in_flight

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
                if self._settled((meter_id, s)):
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
            first = max(interval_start(since), cursor - int(self.settings.retention_s))
            first -= first % INTERVAL_S
            for s in range(first, last_due + 1, INTERVAL_S):
                if (meter_id, s) in self._conflicts or (meter_id, s) in self._in_flight:
                    continue
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

    def _reserve(
        self,
        kind: str,
        s: int,
        values: list[tuple[MeterValue, bool]],
        replaces: OutboxRow | None = None,
        replaced_status: str = "superseded",
    ) -> OutboxRow:
        """Sign ``values`` with the next nonce the chain has not seen used; store it pending
        (taking over ``replaces`` in the same transaction)."""
        _, words = self.client.words([v for v, _ in values])

        def sign(nonce: int) -> bytes:
            return sign_batch(
                self.oracle,
                kind,  # type: ignore[arg-type]
                self.client.chain_id,
                self.client.address,
                s,
                words,
                nonce,
            ).signature

        row = self.state.reserve(
            kind,
            s,
            words,
            values,
            sign,
            self.clock(),
            first_block=self.chain.head,
            nonce_free=lambda n: not self.chain.nonce_used(n),
            replaces=replaces,
            replaced_status=replaced_status,
        )
        self._known_roots.add(row.root)
        if replaces is not None:
            with self._lock:
                for key in [k for k, v in self._committed.items() if v[3] == replaces.nonce]:
                    del self._committed[key]
        return row

    def _send(
        self, kind: str, s: int, values: list[tuple[MeterValue, bool]], report: TickReport
    ) -> None:
        size = self.settings.max_batch
        for i in range(0, len(values), size):
            self._submit(self._reserve(kind, s, values[i : i + size]), report)

    def _resign(
        self,
        row: OutboxRow,
        report: TickReport,
        values: list[tuple[MeterValue, bool]] | None = None,
        status: str = "superseded",
    ) -> OutboxRow | None:
        """Sign ``row``'s values (or ``values``) again with a fresh nonce, leaving out values a
        newer batch of ours replaced; None when nothing is left to send."""
        keep = list(row.values if values is None else values)
        with self._lock:
            keep = [
                (v, c)
                for v, c in keep
                if self._committed.get((v.meter_id, v.interval_start_s), (0, 0, False, -2))[3]
                <= row.nonce
            ]
        if not keep:
            self.state.retire(row, status)
            with self._lock:
                for key in [k for k, v in self._committed.items() if v[3] == row.nonce]:
                    del self._committed[key]
            return None
        self._enrol({v.meter_id for v, _ in keep}, report)
        report.resigned += 1
        return self._reserve(row.kind, row.interval_start_s, keep, row, status)

    def _submit(self, row: OutboxRow, report: TickReport) -> bool:
        """Send a pending batch; True once the chain holds it (or nothing is left of it)."""
        current: OutboxRow | None = row
        for _ in range(RESIGN_ATTEMPTS + 1):
            if current is None:
                return True
            row = current
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
                name = exc.error_name
                taken = name.endswith("NonceUsed")
                if (taken or name.endswith("AlreadyCommitted")) and self.chain.batch_on_chain(row):
                    self._applied(row, report)  # an earlier send of this very batch was mined
                    return True
                if taken:
                    # another batch used the nonce: a second signer with the key (the chain
                    # shows it: the service stops), else sign again with a fresh nonce
                    log.warning("nonce %s of batch %s was used by another batch", row.nonce, row)
                    self.stats["nonce_taken"] += 1
                    self._watch_chain()
                    current = self._resign(row, report)
                    continue
                if name.endswith("AlreadyCommitted") and row.kind == "MeterBatch":
                    current = self._split_conflicts(row, report)
                    continue
                log.error("batch %s for %s refused: %s", row.nonce, row.interval_start_s, exc)
                self.state.mark_failed(row, str(exc))
                report.failed += 1
                return False
            except TransactionFailed as exc:
                log.warning("batch %s not sent yet (%s); retried next tick", row.nonce, exc)
                return False
            self.state.set_tx(row.nonce, "0x" + bytes(receipt["transactionHash"]).hex())
            self._applied(row, report)
            self._recent.append((int(receipt["blockNumber"]), row))
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
        return current is None  # still pending: the next tick goes on

    def _split_conflicts(self, row: OutboxRow, report: TickReport) -> OutboxRow | None:
        """A first commitment refused because another batch committed some of its meters for
        the interval: those values are conflicts (never reported committed), the rest is
        signed again."""
        taken = self.chain.committed_bits(row.interval_start_s, [v.meter_id for v, _ in row.values])
        conflicts = [(v, c) for v, c in row.values if v.meter_id in taken]
        if not conflicts:  # refused, yet no meter is committed: nothing to learn here
            self.state.mark_failed(row, "AlreadyCommitted without a committed meter")
            report.failed += 1
            return None
        log.warning(
            "%d value(s) of batch %s were committed by another batch", len(conflicts), row.nonce
        )
        self.state.mark_conflicts(row, conflicts)
        with self._lock:
            self._conflicts |= {(v.meter_id, v.interval_start_s) for v, _ in conflicts}
        report.conflicts += len(conflicts)
        self.stats["conflicts"] += len(conflicts)
        rest = [(v, c) for v, c in row.values if v.meter_id not in taken]
        return self._resign(row, report, rest, status="conflict")

    def _applied(self, row: OutboxRow, report: TickReport) -> None:
        self.state.mark_mined(row)
        with self._lock:
            for v, complete in row.values:
                self._committed[(v.meter_id, v.interval_start_s)] = (
                    v.import_wh,
                    v.export_wh,
                    complete,
                    row.nonce,
                )
        report.batches += 1
        if row.kind == "MeterCorrection":
            report.corrected += len(row.values)
        else:
            report.committed += len(row.values)

    def _recover(self, report: TickReport) -> None:
        """Pending batches (a crash, a timeout): on-chain means mined; a nonce another batch
        used means sign again; else send the very same signed batch again. Batches the chain
        lost are signed again."""
        lost, self._lost = self._lost, []
        for row in lost:
            new = self._resign(row, report, status="missing")
            if new is None or self._submit(new, report):
                report.recovered += 1
        for row in self.state.pending():
            if self.chain.batch_on_chain(row):
                self._applied(row, report)
                report.recovered += 1
                continue
            if self.chain.nonce_used(row.nonce):
                self._watch_chain()  # the batch that used it may be a second signer's
                new = self._resign(row, report)
                done = new is None or self._submit(new, report)
            else:
                done = self._submit(row, report)
            if done:
                report.recovered += 1

    # -- reads ----------------------------------------------------------------------------
    def committed(self) -> dict[tuple[str, int], tuple[int, int]]:
        """(meter id, interval start) -> (import Wh, export Wh) as committed on-chain."""
        with self._lock:
            return {k: v[:2] for k, v in self._committed.items()}

    @property
    def cursor_s(self) -> int | None:
        """Every interval before this one is final (committed, conflicting or without data)."""
        return self._cursor


# -- bright oracle status -----------------------------------------------------------------------
def outbox_status(
    client: MeterOracleClient,
    state: OracleState,
    signer: str,
    scan_from_block: int = 0,
    scan_chunk_blocks: int = 50_000,
) -> dict[str, Any]:
    """The service's outbox against the chain: what is committed, pending and missing.

    Each outbox batch is looked up on-chain (see :class:`ChainView`): ``committed`` (the chain
    holds it), ``pending`` (not sent or not mined yet), ``missing`` (the state says mined, the
    chain does not hold it), ``failed`` (the contract refused it), ``superseded`` (signed again
    with a fresh nonce). ``foreign`` counts batches signed with the key that the state did
    not sign (not adopted: another signer). ``ok`` is False when anything is missing or
    foreign.
    """
    chain = ChainView(client, signer)
    buckets: dict[str, dict[str, Any]] = {
        name: {"batches": 0, "values": 0}
        for name in ("committed", "pending", "missing", "failed", "superseded")
    }
    missing_rows: list[dict[str, Any]] = []
    missing_nonces: set[int] = set()
    for row in state.rows():
        status = row.status.split(":")[0]
        if status in ("superseded", "missing", "conflict"):
            bucket = "superseded"
        elif status == "failed":
            bucket = "failed"
        elif chain.batch_on_chain(row):
            bucket = "committed"
        elif status == "pending":
            bucket = "pending"
        else:
            bucket = "missing"
            missing_nonces.add(row.nonce)
            missing_rows.append(
                {
                    "nonce": row.nonce,
                    "kind": row.kind,
                    "interval_start_s": row.interval_start_s,
                    "values": len(row.values),
                    "tx_hash": row.tx_hash,
                }
            )
        buckets[bucket]["batches"] += 1
        buckets[bucket]["values"] += len(row.values)
    reported = state.committed_with_nonce()
    scanned = state.get_meta("scanned_block")
    first = int(scanned) + 1 if scanned is not None else scan_from_block
    known = state.known_roots()
    new_foreign = [
        b for b in chain.signed_batches(first, chain.head, scan_chunk_blocks) if b.root not in known
    ]
    foreign = state.foreign(adopted=False) + new_foreign
    latest = None if not foreign else {"block": foreign[-1].block, "tx": foreign[-1].tx_hash}
    cursor = state.get_meta("cursor_s")
    buckets["missing"]["rows"] = missing_rows[:50]
    return {
        "meter_oracle": client.address,
        "signer": signer,
        "state": str(state.path),
        **buckets,
        "reported_committed_values": len(reported),
        "reported_but_not_on_chain": sum(1 for v in reported.values() if v[3] in missing_nonces),
        "conflicts": len(state.conflicts()),
        "foreign": {
            "batches": len(foreign),
            "adopted": len(state.foreign(adopted=True)),
            "latest": latest,
        },
        "cursor_s": None if cursor is None else int(cursor),
        "ok": not missing_rows and not foreign,
    }
