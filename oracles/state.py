"""The meter oracle's restart-safe state: one SQLite file (WAL) under the state folder.

- ``meta``: chain id, contract, signer (a state file is refused on another chain or
  contract), the next nonce, the interval cursor.
- ``samples``: every accepted reading (the bus does not replay after a crash).
- ``outbox``: each signed batch *before* it is sent (nonce, kind, interval, words, values,
  signature); ``status`` becomes ``mined`` in the same transaction that records its values in
  ``committed``. After a crash, a ``pending`` row is looked up on-chain by its nonce: mined
  means apply it, not mined means send the very same signed batch again. The contract refuses
  a used nonce, so a batch is never committed twice, and nothing is skipped because the
  cursor only moves past an interval once all of its values are in ``committed``.
- ``committed``: the current on-chain value per (meter, interval).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from oracles.domain import MeterValue
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
"""


@dataclass(frozen=True)
class OutboxRow:
    nonce: int
    kind: str
    interval_start_s: int
    words: tuple[int, ...]
    values: tuple[tuple[MeterValue, bool], ...]  # (value, complete)
    signature: bytes
    status: str


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
        sign: object,
        now_s: float,
    ) -> OutboxRow:
        """Take the next nonce, sign with ``sign(nonce) -> bytes`` and store the batch as
        pending, all in one transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                nonce = int(self.get_meta("next_nonce") or "0")
                signature: bytes = sign(nonce)  # type: ignore[operator]
                self._db.execute(
                    "INSERT INTO outbox VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, NULL)",
                    (
                        nonce,
                        kind,
                        interval_start_s,
                        json.dumps([hex(w) for w in words]),
                        json.dumps(
                            [
                                [v.meter_id, v.interval_start_s, v.import_wh, v.export_wh, c]
                                for v, c in values
                            ]
                        ),
                        signature.hex(),
                        now_s,
                    ),
                )
                self.set_meta("next_nonce", str(nonce + 1))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return OutboxRow(
            nonce, kind, interval_start_s, tuple(words), tuple(values), signature, "pending"
        )

    def pending(self) -> list[OutboxRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT nonce, kind, interval_start_s, words, meter_values, signature, status "
                "FROM outbox WHERE status = 'pending' ORDER BY nonce"
            ).fetchall()
        out = []
        for nonce, kind, interval, words, values, signature, status in rows:
            out.append(
                OutboxRow(
                    int(nonce),
                    str(kind),
                    int(interval),
                    tuple(int(w, 16) for w in json.loads(words)),
                    tuple(
                        (MeterValue(m, int(s), int(i), int(e)), bool(c))
                        for m, s, i, e, c in json.loads(values)
                    ),
                    bytes.fromhex(signature),
                    str(status),
                )
            )
        return out

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

    def _finish(self, row: OutboxRow, status: str) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "UPDATE outbox SET status = ? WHERE nonce = ?", (status, row.nonce)
                )
                self._db.executemany(
                    "INSERT INTO committed VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(meter_id, interval_start_s) DO UPDATE SET "
                    "import_wh = excluded.import_wh, export_wh = excluded.export_wh, "
                    "complete = excluded.complete, nonce = excluded.nonce",
                    [
                        (
                            v.meter_id,
                            v.interval_start_s,
                            v.import_wh,
                            v.export_wh,
                            int(c),
                            row.nonce,
                        )
                        for v, c in row.values
                    ],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def committed(self) -> dict[tuple[str, int], tuple[int, int, bool]]:
        """(meter id, interval start) -> (import Wh, export Wh, complete)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT meter_id, interval_start_s, import_wh, export_wh, complete FROM committed"
            ).fetchall()
        return {(m, int(s)): (int(i), int(e), bool(c)) for m, s, i, e, c in rows}

    def outbox_counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT kind, status, COUNT(*) FROM outbox GROUP BY kind, status"
            ).fetchall()
        return {f"{k}:{s.split(':')[0]}": int(n) for k, s, n in rows}
