"""The meter oracle's restart-safe state: one SQLite file (WAL) under the state folder.

- ``meta``: chain id, contract, signer (a state file is refused on another chain or
  contract), the next nonce (a new state starts at a random multiple of 256), the interval
  cursor, the last block scanned for batches signed with the key.
- ``samples``: every accepted reading (the bus does not replay after a crash).
- ``outbox``: each signed batch *before* it is sent (nonce, kind, interval, words, values,
  signature); ``status`` becomes ``mined`` in the same transaction that records its values in
  ``committed``. After a crash, a ``pending`` row is looked up on-chain by its nonce: mined
  means apply it, not mined means send the very same signed batch again. The contract refuses
  a used nonce, so a batch is never committed twice, and nothing is skipped because the
  cursor only moves past an interval once all of its values are in ``committed``.
- ``committed``: the current on-chain value per (meter, interval), with the nonce of the row
  that put it there (``-1``: a batch signed with this key that this state did not sign, taken
  over with ``adopt_chain``).
- ``foreign``: batches signed with this service's key that its outbox does not hold (found by
  scanning the chain's events): another service uses the key, or this folder was lost or
  restored. The service refuses to run while one is not adopted.

Each outbox row also keeps the batch's Merkle ``root`` (the contract's id of the batch) and the
chain head when it was signed (``first_block``), so that whether a batch is on-chain is
answered by the chain, never assumed: a used nonce only says that *some* batch used it.
A row that another takes over (re-signed with a fresh nonce) is ``superseded``; one the
chain lost (a reorg, a reset chain) is ``missing`` once re-queued; ``conflict`` values were
committed on-chain by another batch before ours.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from core.oracle_codec import MeterValue, leaf_hash, merkle_root
from oracles.errors import OracleStateError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
    meter_id TEXT NOT NULL, direction TEXT NOT NULL, kind TEXT NOT NULL,
    time_s REAL NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (meter_id, direction, kind, time_s)
);
CREATE TABLE IF NOT EXISTS outbox (
    nonce INTEGER PRIMARY KEY, kind TEXT NOT NULL, interval_start_s INTEGER NOT NULL,
    words TEXT NOT NULL, meter_values TEXT NOT NULL, signature TEXT NOT NULL,
    status TEXT NOT NULL, created_s REAL NOT NULL, tx_hash TEXT
);
CREATE TABLE IF NOT EXISTS committed (
    meter_id TEXT NOT NULL, interval_start_s INTEGER NOT NULL,
    import_wh INTEGER NOT NULL, export_wh INTEGER NOT NULL, complete INTEGER NOT NULL,
    nonce INTEGER NOT NULL,
    PRIMARY KEY (meter_id, interval_start_s)
);
CREATE TABLE IF NOT EXISTS foreign_batches (
    root TEXT PRIMARY KEY, kind TEXT NOT NULL, interval_start_s INTEGER NOT NULL,
    block INTEGER NOT NULL, tx_hash TEXT NOT NULL, adopted INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS conflicts (
    meter_id TEXT NOT NULL, interval_start_s INTEGER NOT NULL,
    import_wh INTEGER NOT NULL, export_wh INTEGER NOT NULL, nonce INTEGER NOT NULL,
    PRIMARY KEY (meter_id, interval_start_s)
);
"""
NONCE_BASE_BITS = 40  # a random base below 2**48 leaves SQLite's INTEGER (2**63) room to spare
# Columns added after the first release; an older state file gets them on open.
OUTBOX_COLUMNS = {"root": "TEXT", "first_block": "INTEGER", "replaces": "INTEGER"}


def batch_root(interval_start_s: int, words: Iterable[int]) -> bytes:
    """The Merkle root the MeterOracle computes for a batch (its id on-chain)."""
    return merkle_root([leaf_hash(interval_start_s, w) for w in words])


@dataclass(frozen=True)
class OutboxRow:
    nonce: int
    kind: str
    interval_start_s: int
    words: tuple[int, ...]
    values: tuple[tuple[MeterValue, bool], ...]  # (value, complete)
    signature: bytes
    status: str
    root: bytes = b""
    first_block: int = 0  # the chain head when it was signed: its events are at or after it
    tx_hash: str | None = None


@dataclass(frozen=True)
class ForeignBatch:
    """A batch on-chain signed with this service's key that its outbox does not hold."""

    root: bytes
    kind: str
    interval_start_s: int
    block: int
    tx_hash: str
    adopted: bool


class OracleState:
    """SQLite-backed state; thread-safe (one connection behind a lock)."""

    def __init__(self, path: Path, *, chain_id: int, contract: str, signer: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            have = {r[1] for r in self._db.execute("PRAGMA table_info(outbox)").fetchall()}
            for column, sql_type in OUTBOX_COLUMNS.items():
                if column not in have:
                    self._db.execute(f"ALTER TABLE outbox ADD COLUMN {column} {sql_type}")
        except sqlite3.Error as exc:
            raise OracleStateError(f"cannot open the oracle state {self.path}: {exc}") from exc
        identity = {
            "chain_id": str(chain_id),
            "contract": contract.lower(),
            "signer": signer.lower(),
        }
        for key, value in identity.items():
            found = self.get_meta(key)
            if found is None:
                self.set_meta(key, value)
            elif found != value:
                raise OracleStateError(
                    f"{self.path} belongs to {key} {found}, not {value}: use another state dir"
                )
        if self.get_meta("next_nonce") is None:
            # A new state starts its nonces at a random multiple of 256 (the contract's nonces
            # are unordered bits, 256 per storage word): two states of one key never race for
            # the same nonces, and a new state needs no walk past the key's used ones.
            self.set_meta("next_nonce", str(secrets.randbits(NONCE_BASE_BITS) << 8))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- meta -----------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- samples --------------------------------------------------------------------------
    def add_sample(
        self, meter_id: str, direction: str, kind: str, time_s: float, value: float
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO samples VALUES (?, ?, ?, ?, ?)",
                (meter_id, direction, kind, time_s, value),
            )

    def samples(self) -> Iterator[tuple[str, str, str, float, float]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT meter_id, direction, kind, time_s, value FROM samples ORDER BY time_s"
            ).fetchall()
        yield from rows

    def last_counters(self) -> dict[str, tuple[float, float, float | None]]:
        """Each meter's latest import counter reading kept: ``{meter_id: (time_s, import Wh,
        export Wh or None)}`` (the export counter's latest reading at or before that time).
        Where a restarted simulation of the meters goes on from (``oracles.simulator``)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT meter_id, direction, time_s, value FROM samples WHERE kind = 'counter' "
                "ORDER BY time_s"
            ).fetchall()
        imports: dict[str, tuple[float, float]] = {}
        exports: dict[str, list[tuple[float, float]]] = {}
        for meter, direction, time_s, value in rows:
            if direction == "import":
                imports[meter] = (float(time_s), float(value))
            else:
                exports.setdefault(meter, []).append((float(time_s), float(value)))
        out: dict[str, tuple[float, float, float | None]] = {}
        for meter, (time_s, value) in imports.items():
            before = [v for t, v in exports.get(meter, []) if t <= time_s]
            out[meter] = (time_s, value, before[-1] if before else None)
        return out

    def prune_samples(self, meter_id: str, direction: str, kind: str, before_s: float) -> None:
        """Delete samples older than ``before_s`` except the last one at or before it."""
        with self._lock:
            self._db.execute(
                "DELETE FROM samples WHERE meter_id = ? AND direction = ? AND kind = ? "
                "AND time_s < (SELECT MAX(time_s) FROM samples WHERE meter_id = ? AND "
                "direction = ? AND kind = ? AND time_s <= ?)",
                (meter_id, direction, kind, meter_id, direction, kind, before_s),
            )

    # -- outbox ---------------------------------------------------------------------------
    def reserve(
        self,
        kind: str,
        interval_start_s: int,
        words: list[int],
        values: list[tuple[MeterValue, bool]],
        sign: Callable[[int], bytes],
        now_s: float,
        *,
        first_block: int = 0,
        nonce_free: Callable[[int], bool] | None = None,
        replaces: OutboxRow | None = None,
        replaced_status: str = "superseded",
    ) -> OutboxRow:
        """Take the next nonce, sign with ``sign(nonce) -> bytes`` and store the batch as
        pending, all in one transaction.

        ``nonce_free(nonce)``: False for a nonce the chain has seen used (by anyone signing
        with this key): it is skipped. ``replaces``: a row this one takes over (its status
        becomes ``replaced_status`` and its values leave ``committed``) in the same
        transaction, so a crash never leaves both or neither.
        """
        root = batch_root(interval_start_s, words)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                nonce = int(self.get_meta("next_nonce") or "0")  # set when the state was new
                while nonce_free is not None and not nonce_free(nonce):
                    nonce += 1
                signature = sign(nonce)
                self._db.execute(
                    "INSERT INTO outbox (nonce, kind, interval_start_s, words, meter_values, "
                    "signature, status, created_s, tx_hash, root, first_block, replaces) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, NULL, ?, ?, ?)",
                    (
                        nonce,
                        kind,
                        interval_start_s,
                        json.dumps([hex(w) for w in words]),
                        _values_json(values),
                        signature.hex(),
                        now_s,
                        root.hex(),
                        first_block,
                        None if replaces is None else replaces.nonce,
                    ),
                )
                if replaces is not None:
                    self._db.execute(
                        "UPDATE outbox SET status = ? WHERE nonce = ?",
                        (replaced_status, replaces.nonce),
                    )
                    self._db.execute("DELETE FROM committed WHERE nonce = ?", (replaces.nonce,))
                self.set_meta("next_nonce", str(nonce + 1))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return OutboxRow(
            nonce,
            kind,
            interval_start_s,
            tuple(words),
            tuple(values),
            signature,
            "pending",
            root,
            first_block,
        )

    def rows(
        self, status: str | None = None, since_interval_s: float | None = None
    ) -> list[OutboxRow]:
        """Outbox rows in nonce order; ``status``: only those (``failed`` matches every
        ``failed: <reason>``); ``since_interval_s``: only intervals starting at or after it."""
        sql = (
            "SELECT nonce, kind, interval_start_s, words, meter_values, signature, status, "
            "root, first_block, tx_hash FROM outbox WHERE 1 = 1"
        )
        args: tuple[str | float, ...] = ()
        if status is not None:
            sql += " AND (status = ? OR status LIKE ?)"
            args = (status, f"{status}:%")
        if since_interval_s is not None:
            sql += " AND interval_start_s >= ?"
            args = (*args, since_interval_s)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY nonce", args).fetchall()
        out = []
        for nonce, kind, interval, words, values, signature, state, root, block, tx in rows:
            word_list = tuple(int(w, 16) for w in json.loads(words))
            out.append(
                OutboxRow(
                    int(nonce),
                    str(kind),
                    int(interval),
                    word_list,
                    tuple(
                        (MeterValue(m, int(s), int(i), int(e)), bool(c))
                        for m, s, i, e, c in json.loads(values)
                    ),
                    bytes.fromhex(signature),
                    str(state),
                    bytes.fromhex(root) if root else batch_root(int(interval), word_list),
                    int(block or 0),
                    tx,
                )
            )
        return out

    def pending(self) -> list[OutboxRow]:
        return self.rows("pending")

    def set_tx(self, nonce: int, tx_hash: str) -> None:
        with self._lock:
            self._db.execute("UPDATE outbox SET tx_hash = ? WHERE nonce = ?", (tx_hash, nonce))

    def mark_mined(self, row: OutboxRow) -> None:
        """Record a batch as on-chain and its values as committed (one transaction)."""
        self._finish(row, "mined")

    def mark_failed(self, row: OutboxRow, reason: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET status = ? WHERE nonce = ?",
                (f"failed: {reason}"[:500], row.nonce),
            )

    def retire(self, row: OutboxRow, status: str) -> None:
        """Give ``row`` up without a successor (nothing of it is left to send): its status
        becomes ``status`` and its values leave ``committed``."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "UPDATE outbox SET status = ? WHERE nonce = ?", (status, row.nonce)
                )
                self._db.execute("DELETE FROM committed WHERE nonce = ?", (row.nonce,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def mark_conflicts(self, row: OutboxRow, values: list[tuple[MeterValue, bool]]) -> None:
        """Values of ``row`` that another batch committed on-chain before it (the contract
        keeps one commitment per meter and interval): kept for ``bright oracle status``."""
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO conflicts VALUES (?, ?, ?, ?, ?)",
                [
                    (v.meter_id, v.interval_start_s, v.import_wh, v.export_wh, row.nonce)
                    for v, _ in values
                ],
            )

    def conflicts(self) -> dict[tuple[str, int], tuple[int, int]]:
        """(meter id, interval start) -> our (import Wh, export Wh) that the chain refused."""
        with self._lock:
            rows = self._db.execute(
                "SELECT meter_id, interval_start_s, import_wh, export_wh FROM conflicts"
            ).fetchall()
        return {(m, int(s)): (int(i), int(e)) for m, s, i, e in rows}

    def _finish(self, row: OutboxRow, status: str) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "UPDATE outbox SET status = ? WHERE nonce = ?", (status, row.nonce)
                )
                self._upsert_committed([(v, c) for v, c in row.values], row.nonce)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _upsert_committed(self, values: list[tuple[MeterValue, bool]], nonce: int) -> None:
        self._db.executemany(
            "INSERT INTO committed VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(meter_id, interval_start_s) DO UPDATE SET "
            "import_wh = excluded.import_wh, export_wh = excluded.export_wh, "
            "complete = excluded.complete, nonce = excluded.nonce",
            [
                (v.meter_id, v.interval_start_s, v.import_wh, v.export_wh, int(c), nonce)
                for v, c in values
            ],
        )

    def committed(self) -> dict[tuple[str, int], tuple[int, int, bool]]:
        """(meter id, interval start) -> (import Wh, export Wh, complete)."""
        return {k: v[:3] for k, v in self.committed_with_nonce().items()}

    def committed_with_nonce(self) -> dict[tuple[str, int], tuple[int, int, bool, int]]:
        """(meter id, interval start) -> (import Wh, export Wh, complete, outbox nonce)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT meter_id, interval_start_s, import_wh, export_wh, complete, nonce "
                "FROM committed"
            ).fetchall()
        return {(m, int(s)): (int(i), int(e), bool(c), int(n)) for m, s, i, e, c, n in rows}

    def outbox_counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT kind, status, COUNT(*) FROM outbox GROUP BY kind, status"
            ).fetchall()
        out: dict[str, int] = {}
        for k, s, n in rows:
            key = f"{k}:{s.split(':')[0]}"
            out[key] = out.get(key, 0) + int(n)
        return out

    def known_roots(self) -> set[bytes]:
        """Roots of every batch this state signed, and of the foreign batches it adopted."""
        with self._lock:
            own = self._db.execute("SELECT root, interval_start_s, words FROM outbox").fetchall()
            adopted = self._db.execute(
                "SELECT root FROM foreign_batches WHERE adopted = 1"
            ).fetchall()
        roots = {
            bytes.fromhex(root)
            if root
            else batch_root(int(s), [int(w, 16) for w in json.loads(words)])
            for root, s, words in own
        }
        return roots | {bytes.fromhex(r) for (r,) in adopted}

    # -- batches signed with this key elsewhere ----------------------------------------------
    def add_foreign(self, batches: list[ForeignBatch]) -> None:
        with self._lock:
            self._db.executemany(
                "INSERT INTO foreign_batches VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(root) DO "
                "UPDATE SET adopted = MAX(adopted, excluded.adopted)",
                [
                    (b.root.hex(), b.kind, b.interval_start_s, b.block, b.tx_hash, int(b.adopted))
                    for b in batches
                ],
            )

    def foreign(self, adopted: bool | None = None) -> list[ForeignBatch]:
        sql = "SELECT root, kind, interval_start_s, block, tx_hash, adopted FROM foreign_batches"
        if adopted is not None:
            sql += f" WHERE adopted = {int(adopted)}"
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY block").fetchall()
        return [
            ForeignBatch(bytes.fromhex(r), str(k), int(s), int(b), str(t), bool(a))
            for r, k, s, b, t, a in rows
        ]

    def adopt(self, batches: list[ForeignBatch], values: list[MeterValue]) -> None:
        """Take over foreign batches: mark them adopted and record their values (in chain
        order: a later value of a meter and interval replaces an earlier one) as committed."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self.add_foreign([_adopted(b) for b in batches])
                self._upsert_committed([(v, True) for v in values], -1)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise


def _adopted(batch: ForeignBatch) -> ForeignBatch:
    return ForeignBatch(
        batch.root, batch.kind, batch.interval_start_s, batch.block, batch.tx_hash, True
    )


def _values_json(values: list[tuple[MeterValue, bool]]) -> str:
    return json.dumps(
        [[v.meter_id, v.interval_start_s, v.import_wh, v.export_wh, c] for v, c in values]
    )
