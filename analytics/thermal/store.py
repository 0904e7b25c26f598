"""The twins in the database (SLC-1): one per member's home, with its scenarios, and the home's
trained physics-informed model.

Three tables, keyed by ``(chain_id, account)`` (the member's address, EIP-55 checksummed):

* ``thermal_twins``: the home's id, the twin's parameters and calibration report (JSON), when
  it was made (``created_s``) and stored (``stored_s``), a SHA-256 of its inputs
  (``inputs_sha256``: home id, parameters and measured series, unless the caller gives its own),
  and the measured series;
* ``thermal_twin_scenarios``: one row per scenario (``as-is`` and the what-ifs) in the record's
  order: name, description, configuration and totals (JSON), and its simulated series;
* ``thermal_models``: the home's trained physics-informed model
  (:mod:`analytics.thermal.pimf`): the bytes ``torch.save`` wrote (opaque here) and their
  SHA-256, its validation gate (``usable``, and ``reason`` when not), its meta-data (data
  range, validation scores, parameters, versions) and its forecast (:func:`put_model`). A model
  that failed its gate is stored too, with the reason: whoever reads it refuses it and says why.

A series is stored in a compact binary encoding (:func:`encode_series`): a short JSON header
(start, step, length, which of :data:`COLUMNS` it has) and the values as little-endian float64
(exact, a gap as NaN), byte-shuffled and zlib-compressed: a year at 15 minutes with its six
columns is about 0.75 MB instead of 3 MB of JSON, and encodes or decodes in milliseconds. The
meta-data beside it (start, step, length) are columns, so listing a twin
(:func:`get_twin_info`, what ``GET /twin`` shows) reads no series at all.

The twins are not chain data and cannot be rebuilt from it: like the member directory
(:mod:`streams.directory`) their tables live on a metadata of their own (:data:`METADATA`, not
the read models'), and their migrations (``0010_thermal_twins``, ``0011_thermal_models``) create
them only where they are missing and keep them through ``bright index rebuild``.

Every function takes the caller's SQLAlchemy ``Session`` (it then works in the caller's
transaction, which the caller commits) or an ``Engine`` (it then runs in a transaction of its
own). Input is checked before anything is written (:class:`TwinStoreError`, a ``ValueError``,
saying what is wrong and where): series of one length (at least one value, at most
:data:`MAX_VALUES`), a step of 900 or 3600 s, finite numbers or None, JSON-ready parameters.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from numbers import Real
from typing import Any, cast

import numpy as np
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    CursorResult,
    Engine,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from analytics.thermal.results import ScenarioResult, Series, TwinRecord
from core.errors import DataError

STEPS_S = (900, 3600)
"""The steps a stored series may have, seconds."""
MAX_VALUES = 2 * 366 * 96
"""Most values of one series: two (leap) years at 15 minutes (70,272)."""
COLUMNS = ("indoor_c", "heat_wh", "electricity_wh", "fuel_wh", "outdoor_c", "setpoint_c")
"""The value columns of :class:`~analytics.thermal.results.Series`, in their stored order."""
REQUIRED = ("indoor_c", "heat_wh", "electricity_wh")
"""Columns every series has (a gap is None); the others are either empty or full length."""
MEASURED = "measured"
"""The name :func:`get_series` takes for the measured series (no scenario may take it)."""
SCENARIO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
HOME_ID_MAX = 200
MODEL_MAX_BYTES = 5 * 1024 * 1024
"""Most bytes of a stored model file (a PIMF model is about 10 KB)."""
FORECAST_MAX_STEPS = 96
"""Most steps of a stored forecast (24 h at 15 minutes)."""
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(referred_table_name)s",
}
METADATA = MetaData(naming_convention=NAMING)
"""The twins' tables: not projections, never dropped by a rebuild (not in the read models')."""
_JSON = JSON().with_variant(JSONB(), "postgresql")

twins = Table(
    "thermal_twins",
    METADATA,
    Column("chain_id", BigInteger, nullable=False),
    Column("account", String(42), nullable=False),
    Column("home_id", String(HOME_ID_MAX), nullable=False),
    Column("params", _JSON, nullable=False),
    Column("fit", _JSON, nullable=False),
    Column("created_s", BigInteger, nullable=False),
    Column("stored_s", BigInteger, nullable=False),
    Column("inputs_sha256", String(64), nullable=False),
    Column("measured_start_s", BigInteger, nullable=True),
    Column("measured_step_s", Integer, nullable=True),
    Column("measured_length", Integer, nullable=True),
    Column("measured", LargeBinary, nullable=True),
    PrimaryKeyConstraint("chain_id", "account"),
)
scenarios = Table(
    "thermal_twin_scenarios",
    METADATA,
    Column("chain_id", BigInteger, nullable=False),
    Column("account", String(42), nullable=False),
    Column("name", String(64), nullable=False),
    Column("position", Integer, nullable=False),
    Column("description", Text, nullable=False),
    Column("config", _JSON, nullable=False),
    Column("totals", _JSON, nullable=False),
    Column("start_s", BigInteger, nullable=False),
    Column("step_s", Integer, nullable=False),
    Column("length", Integer, nullable=False),
    Column("series", LargeBinary, nullable=False),
    PrimaryKeyConstraint("chain_id", "account", "name"),
    ForeignKeyConstraint(
        ["chain_id", "account"],
        ["thermal_twins.chain_id", "thermal_twins.account"],
        ondelete="CASCADE",
    ),
)

models = Table(
    "thermal_models",
    METADATA,
    Column("chain_id", BigInteger, nullable=False),
    Column("account", String(42), nullable=False),
    Column("home_id", String(HOME_ID_MAX), nullable=False),
    Column("model", LargeBinary, nullable=False),
    Column("model_sha256", String(64), nullable=False),
    Column("usable", Boolean, nullable=False),
    Column("reason", Text, nullable=False),
    Column("gate", _JSON, nullable=False),
    Column("meta", _JSON, nullable=False),
    Column("forecast", _JSON, nullable=False),
    Column("trained_s", BigInteger, nullable=False),
    Column("stored_s", BigInteger, nullable=False),
    PrimaryKeyConstraint("chain_id", "account"),
)


class TwinStoreError(DataError):
    """A twin that cannot be stored as given (the message says what and where), or a stored
    series that cannot be read back."""


# ---- the series encoding ---------------------------------------------------------------------

_MAGIC = b"BTS1"
_CODEC = "f8le-shuffle-zlib"


def encode_series(series: Series, where: str = "series") -> bytes:
    """``series`` as bytes (checked first, see :func:`check_series`)::

        b"BTS1" | uint32 LE header length | header (JSON) | zlib(byte-shuffled float64 LE)

    The header holds ``start_s``, ``step_s``, ``length``, ``columns`` (those of
    :data:`COLUMNS` the series has, in that order) and ``codec``. The values of the columns,
    one after the other, are float64 (None as NaN), their bytes shuffled (all first bytes,
    then all second bytes ...), which lets zlib find the repeats of slowly changing values."""
    columns = check_series(series, where)
    matrix = np.stack([columns[name] for name in columns]).astype("<f8", copy=False)
    shuffled = matrix.reshape(-1).view(np.uint8).reshape(-1, 8).T.tobytes()
    header = json.dumps(
        {
            "start_s": series.start_s,
            "step_s": series.step_s,
            "length": matrix.shape[1],
            "columns": list(columns),
            "codec": _CODEC,
        },
        separators=(",", ":"),
    ).encode()
    return _MAGIC + struct.pack("<I", len(header)) + header + zlib.compress(shuffled, 3)


def decode_series(blob: bytes, first: int = 0, stop: int | None = None) -> Series:
    """The :class:`Series` of :func:`encode_series`'s bytes, or its intervals ``first`` up to
    (not including) ``stop`` (indexes, clipped to the series)."""
    blob = bytes(blob)  # PostgreSQL's driver may hand a memoryview
    if blob[:4] != _MAGIC:
        raise TwinStoreError("a stored series has an unknown encoding (no BTS1 header)")
    (size,) = struct.unpack_from("<I", blob, 4)
    header = json.loads(blob[8 : 8 + size])
    if header.get("codec") != _CODEC:
        raise TwinStoreError(f"a stored series has an unknown codec {header.get('codec')!r}")
    length, names = int(header["length"]), list(header["columns"])
    raw = np.frombuffer(zlib.decompress(blob[8 + size :]), dtype=np.uint8)
    matrix = raw.reshape(8, -1).T.copy().view("<f8").reshape(len(names), length)
    lo = min(max(first, 0), length)
    hi = length if stop is None else min(max(stop, lo), length)
    values = {name: _to_list(matrix[i, lo:hi]) for i, name in enumerate(names)}
    return Series(
        start_s=int(header["start_s"]) + lo * int(header["step_s"]),
        step_s=int(header["step_s"]),
        **{name: values.get(name, []) for name in COLUMNS},
    )


def _to_list(values: np.ndarray) -> list[float | None]:
    out: list[float | None] = values.tolist()
    for i in np.flatnonzero(np.isnan(values)):
        out[i] = None
    return out


# ---- checks ---------------------------------------------------------------------------------

_NUMBER_TYPES = (float, int, np.floating, np.integer)


def _column(values: Any, where: str) -> np.ndarray:
    """One column as float64 with NaN for None; refuses NaN, infinities, text and booleans."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind not in "fiu":
            raise TwinStoreError(f"{where} must hold numbers, not {values.dtype} values")
        arr = values.astype(float).reshape(-1)
        if np.isnan(arr).any():
            i = int(np.flatnonzero(np.isnan(arr))[0])
            raise TwinStoreError(f"{where}[{i}] is NaN: a gap is None (in a list), not NaN")
    else:
        if not isinstance(values, Sequence) or isinstance(values, str | bytes):
            raise TwinStoreError(f"{where} must be a list of numbers or None")
        kinds = set(map(type, values))
        wrong = [k for k in kinds if k is not type(None) and (k is bool or not issubclass(
            k, _NUMBER_TYPES))]
        if wrong:
            i = next(i for i, v in enumerate(values) if type(v) in wrong)
            raise TwinStoreError(
                f"{where}[{i}] is {values[i]!r}: values must be numbers (or None for a gap)"
            )
        arr = np.asarray(values, dtype=float)
        for gap in np.flatnonzero(np.isnan(arr)).tolist():
            if values[gap] is not None:
                raise TwinStoreError(f"{where}[{gap}] is NaN: a gap is None, not NaN")
    bad = np.flatnonzero(np.isinf(arr))
    if bad.size:
        raise TwinStoreError(f"{where}[{int(bad[0])}] is {arr[bad[0]]}: values must be finite")
    return arr


def check_series(series: Series, where: str = "series") -> dict[str, np.ndarray]:
    """The columns ``series`` has (by name, in :data:`COLUMNS` order, float64 with NaN for
    None), or :class:`TwinStoreError`: a step of 900 or 3600 s, a start in whole non-negative
    seconds, the :data:`REQUIRED` columns with 1 to :data:`MAX_VALUES` values, the others empty
    or as long, each value a finite number or None."""
    if not isinstance(series, Series):
        raise TwinStoreError(f"{where} must be a Series, not {type(series).__name__}")
    if series.step_s not in STEPS_S or isinstance(series.step_s, bool):
        raise TwinStoreError(f"{where}.step_s must be 900 or 3600 s, not {series.step_s!r}")
    if not isinstance(series.start_s, int | np.integer) or isinstance(series.start_s, bool) \
            or series.start_s < 0:
        raise TwinStoreError(
            f"{where}.start_s must be whole unix seconds (>= 0), not {series.start_s!r}"
        )
    length = len(series.indoor_c)
    if not 1 <= length <= MAX_VALUES:
        raise TwinStoreError(
            f"{where}.indoor_c has {length} values; a series has 1 to {MAX_VALUES:,}"
        )
    out: dict[str, np.ndarray] = {}
    for name in COLUMNS:
        values = getattr(series, name)
        n = len(values)
        if n == 0 and name not in REQUIRED:
            continue
        if n != length:
            optional = "" if name in REQUIRED else " (or none at all)"
            raise TwinStoreError(
                f"{where}.{name} has {n} values, indoor_c {length}: every column of a series "
                f"has one value per interval{optional}"
            )
        out[name] = _column(values, f"{where}.{name}")
    return out


def _plain(value: Any, where: str) -> Any:
    """``value`` as plain JSON (numpy scalars and arrays as numbers and lists, tuples as lists),
    or :class:`TwinStoreError` naming where: text keys, finite numbers."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, np.ndarray):
        return _plain(value.tolist(), where)
    if isinstance(value, np.generic):
        return _plain(value.item(), where)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TwinStoreError(f"{where} is {value}: store None for a missing number")
        return value
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TwinStoreError(f"{where} has a key {k!r} that is not text")
            out[k] = _plain(v, f"{where}[{k!r}]")
        return out
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TwinStoreError(f"{where} is a {type(value).__name__}, which JSON cannot hold")


def check_account(account: str) -> str:
    """``account`` EIP-55 checksummed (any case in), or :class:`TwinStoreError`."""
    from eth_utils import to_checksum_address

    if not isinstance(account, str) or not _ADDRESS.fullmatch(account):
        raise TwinStoreError(f"an account is 0x and 40 hex digits, not {account!r}")
    return str(to_checksum_address(account))


def _check_record(record: TwinRecord) -> None:
    if not isinstance(record, TwinRecord):
        raise TwinStoreError(f"a twin must be a TwinRecord, not {type(record).__name__}")
    if not isinstance(record.home_id, str) or not 1 <= len(record.home_id) <= HOME_ID_MAX:
        raise TwinStoreError(f"home_id must be text of 1 to {HOME_ID_MAX} characters")
    if not isinstance(record.created_s, int | np.integer) or record.created_s < 0:
        raise TwinStoreError(f"created_s must be whole unix seconds, not {record.created_s!r}")
    seen: set[str] = set()
    for i, sc in enumerate(record.scenarios):
        if not isinstance(sc, ScenarioResult):
            raise TwinStoreError(f"scenarios[{i}] must be a ScenarioResult")
        if not isinstance(sc.name, str) or not SCENARIO_NAME.fullmatch(sc.name):
            raise TwinStoreError(
                f"scenarios[{i}].name {sc.name!r}: 1 to 64 letters, digits, '.', '_', '+' or "
                "'-', starting with a letter or digit"
            )
        if sc.name == MEASURED:
            raise TwinStoreError(f"scenarios[{i}]: the name {MEASURED!r} is the measured series'")
        if sc.name in seen:
            raise TwinStoreError(f"scenarios[{i}]: a second scenario named {sc.name!r}")
        seen.add(sc.name)
        if not isinstance(sc.description, str):
            raise TwinStoreError(f"scenario {sc.name!r}: its description must be text")
        if not isinstance(sc.totals, Mapping):
            raise TwinStoreError(f"scenario {sc.name!r}: totals must be a mapping of numbers")
        for key, v in sc.totals.items():
            if v is not None and (isinstance(v, bool) or not isinstance(v, Real)):
                raise TwinStoreError(
                    f"scenario {sc.name!r}: totals[{key!r}] is {v!r}, not a number or None"
                )


# ---- reads and writes ------------------------------------------------------------------------


@contextmanager
def _session(db: Session | Engine) -> Iterator[Session]:
    """The caller's session as it is, or a new one in a transaction committed at the end."""
    if isinstance(db, Session):
        yield db
        return
    with Session(db) as s, s.begin():
        yield s


def inputs_sha256(record: TwinRecord) -> str:
    """SHA-256 (hex) of what the twin was made from: its home id, its parameters and its
    measured series (:func:`put_twin`'s default ``inputs_sha256``)."""
    h = hashlib.sha256()
    h.update(json.dumps([record.home_id, _plain(record.params, "params")],
                        sort_keys=True, separators=(",", ":")).encode())
    if record.measured is not None:
        for name, values in check_series(record.measured, "measured").items():
            h.update(name.encode())
            h.update(values.astype("<f8", copy=False).tobytes())
        h.update(struct.pack("<qq", record.measured.start_s, record.measured.step_s))
    return h.hexdigest()


def put_twin(
    db: Session | Engine,
    chain_id: int,
    account: str,
    record: TwinRecord,
    *,
    inputs_sha256_hex: str | None = None,
) -> None:
    """Store ``record`` as ``account``'s twin on ``chain_id``, replacing the previous one and
    all its scenarios in one transaction (the caller's, when ``db`` is a session).

    Everything is checked and encoded before the first write. ``inputs_sha256_hex``: the hash
    of the inputs the caller made the twin from (default: :func:`inputs_sha256`)."""
    owner = check_account(account)
    _check_record(record)
    params = _plain(record.params, "params")
    fit = _plain(record.fit, "fit")
    measured = None if record.measured is None else encode_series(record.measured, "measured")
    digest = inputs_sha256_hex or inputs_sha256(record)
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise TwinStoreError(f"inputs_sha256 must be 64 lower-case hex digits, not {digest!r}")
    rows = [
        {
            "chain_id": chain_id,
            "account": owner,
            "name": sc.name,
            "position": i,
            "description": sc.description,
            "config": _plain(sc.config, f"scenario {sc.name!r} config"),
            "totals": _plain(dict(sc.totals), f"scenario {sc.name!r} totals"),
            "start_s": int(sc.series.start_s),
            "step_s": int(sc.series.step_s),
            "length": len(sc.series.indoor_c),
            "series": encode_series(sc.series, f"scenario {sc.name!r} series"),
        }
        for i, sc in enumerate(record.scenarios)
    ]
    values = {
        "home_id": record.home_id,
        "params": params,
        "fit": fit,
        "created_s": int(record.created_s),
        "stored_s": int(time.time()),
        "inputs_sha256": digest,
        "measured_start_s": None if record.measured is None else int(record.measured.start_s),
        "measured_step_s": None if record.measured is None else int(record.measured.step_s),
        "measured_length": None if record.measured is None else len(record.measured.indoor_c),
        "measured": measured,
    }
    key = (twins.c.chain_id == chain_id) & (twins.c.account == owner)
    with _session(db) as s:
        # An update of the existing row (not a delete and an insert): a concurrent put of the
        # same account waits for this one's row lock, then replaces it whole.
        updated = cast(CursorResult[Any], s.execute(update(twins).where(key).values(**values)))
        if updated.rowcount == 0:
            s.execute(insert(twins).values(chain_id=chain_id, account=owner, **values))
        s.execute(
            delete(scenarios).where(
                (scenarios.c.chain_id == chain_id) & (scenarios.c.account == owner)
            )
        )
        if rows:
            s.execute(insert(scenarios), rows)
        s.flush()


def delete_twin(db: Session | Engine, chain_id: int, account: str) -> bool:
    """Remove ``account``'s twin and its scenarios; whether there was one."""
    owner = check_account(account)
    with _session(db) as s:
        s.execute(
            delete(scenarios).where(
                (scenarios.c.chain_id == chain_id) & (scenarios.c.account == owner)
            )
        )
        gone = cast(CursorResult[Any], s.execute(
            delete(twins).where((twins.c.chain_id == chain_id) & (twins.c.account == owner))
        ))
        return bool(gone.rowcount)


def get_twin(db: Session | Engine, chain_id: int, account: str) -> TwinRecord | None:
    """``account``'s twin with every series (None: it has none)."""
    owner = check_account(account)
    with _session(db) as s:
        row = s.execute(
            select(twins).where((twins.c.chain_id == chain_id) & (twins.c.account == owner))
        ).first()
        if row is None:
            return None
        rows = s.execute(
            select(scenarios)
            .where((scenarios.c.chain_id == chain_id) & (scenarios.c.account == owner))
            .order_by(scenarios.c.position)
        ).all()
    return TwinRecord(
        home_id=row.home_id,
        params=row.params,
        fit=row.fit,
        measured=None if row.measured is None else decode_series(row.measured),
        scenarios=[
            ScenarioResult(r.name, r.description, r.config, r.totals, decode_series(r.series))
            for r in rows
        ],
        created_s=int(row.created_s),
    )


@dataclass(frozen=True)
class SeriesInfo:
    """Where a stored series lies in time, without its values."""

    start_s: int
    step_s: int
    length: int

    @property
    def end_s(self) -> int:
        """End of its last interval, unix seconds."""
        return self.start_s + self.length * self.step_s


@dataclass(frozen=True)
class ScenarioInfo:
    name: str
    description: str
    config: dict[str, Any]
    totals: dict[str, float]
    series: SeriesInfo


@dataclass(frozen=True)
class TwinInfo:
    """A twin without its series: what a listing or ``GET /twin`` shows."""

    account: str
    home_id: str
    params: dict[str, Any]
    fit: dict[str, Any]
    created_s: int
    stored_s: int
    inputs_sha256: str
    measured: SeriesInfo | None
    scenarios: list[ScenarioInfo]


def get_twin_info(db: Session | Engine, chain_id: int, account: str) -> TwinInfo | None:
    """``account``'s twin without the values of its series (None: it has none)."""
    owner = check_account(account)
    t = twins.c
    c = scenarios.c
    with _session(db) as s:
        row = s.execute(
            select(
                t.home_id, t.params, t.fit, t.created_s, t.stored_s, t.inputs_sha256,
                t.measured_start_s, t.measured_step_s, t.measured_length,
            ).where((t.chain_id == chain_id) & (t.account == owner))
        ).first()
        if row is None:
            return None
        rows = s.execute(
            select(c.name, c.description, c.config, c.totals, c.start_s, c.step_s, c.length)
            .where((c.chain_id == chain_id) & (c.account == owner))
            .order_by(c.position)
        ).all()
    measured = (
        None
        if row.measured_length is None
        else SeriesInfo(int(row.measured_start_s), int(row.measured_step_s),
                        int(row.measured_length))
    )
    return TwinInfo(
        account=owner,
        home_id=row.home_id,
        params=row.params,
        fit=row.fit,
        created_s=int(row.created_s),
        stored_s=int(row.stored_s),
        inputs_sha256=row.inputs_sha256,
        measured=measured,
        scenarios=[
            ScenarioInfo(r.name, r.description, r.config, r.totals,
                         SeriesInfo(int(r.start_s), int(r.step_s), int(r.length)))
            for r in rows
        ],
    )


def window_indexes(info: SeriesInfo, start_s: int | None, end_s: int | None) -> tuple[int, int]:
    """The indexes ``[first, stop)`` of the intervals of ``info`` that start at or after
    ``start_s`` and before ``end_s`` (None: open on that side)."""
    first = 0 if start_s is None else -(-(start_s - info.start_s) // info.step_s)
    stop = info.length if end_s is None else -(-(end_s - info.start_s) // info.step_s)
    first = min(max(first, 0), info.length)
    return first, min(max(stop, first), info.length)


def get_series(
    db: Session | Engine,
    chain_id: int,
    account: str,
    scenario: str,
    start_s: int | None = None,
    end_s: int | None = None,
) -> Series | None:
    """The series of ``account``'s scenario ``scenario`` (or :data:`MEASURED`), only its
    intervals that start in ``[start_s, end_s)`` (unix seconds; None: open on that side). The
    slice starts at its first interval; a window outside the series gives a series with no
    values. None: no such twin, scenario or measured series."""
    owner = check_account(account)
    with _session(db) as s:
        if scenario == MEASURED:
            q = select(twins.c.measured_start_s, twins.c.measured_step_s,
                       twins.c.measured_length, twins.c.measured).where(
                (twins.c.chain_id == chain_id) & (twins.c.account == owner)
            )
        else:
            q = select(scenarios.c.start_s, scenarios.c.step_s, scenarios.c.length,
                       scenarios.c.series).where(
                (scenarios.c.chain_id == chain_id)
                & (scenarios.c.account == owner)
                & (scenarios.c.name == scenario)
            )
        row = s.execute(q).first()
    if row is None or row[3] is None:
        return None
    info = SeriesInfo(int(row[0]), int(row[1]), int(row[2]))
    first, stop = window_indexes(info, start_s, end_s)
    return decode_series(row[3], first, stop)


def list_twins(db: Session | Engine, chain_id: int) -> list[tuple[str, str, int]]:
    """``(account, home_id, created_s)`` of every twin on ``chain_id``, by account."""
    with _session(db) as s:
        rows = s.execute(
            select(twins.c.account, twins.c.home_id, twins.c.created_s)
            .where(twins.c.chain_id == chain_id)
            .order_by(twins.c.account)
        ).all()
    return [(str(a), str(h), int(c)) for a, h, c in rows]


# ---- the trained models (PIMF) ---------------------------------------------------------------

PLAN_COLUMNS = ("indoor_c", "heat_kwh")
"""The lists of a forecast's plan: indoor temperature (degC) and heat needed (kWh) per step."""
_FORECAST_KEYS = ("origin_s", "step_s", "plans")


def _whole(value: Any, where: str, lo: int = 0, hi: int | None = None) -> int:
    """``value`` as an int in ``[lo, hi]``, or :class:`TwinStoreError` naming ``where``."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer) \
            or value < lo or (hi is not None and value > hi):
        span = f"{lo:,} to {hi:,}" if hi is not None else f">= {lo:,}"
        raise TwinStoreError(f"{where} must be whole seconds ({span}), not {value!r}")
    return int(value)


def _numbers(values: Any, where: str, gaps: bool = False) -> list[float | None]:
    """``values`` as finite floats (``gaps``: None, or NaN, as None), or
    :class:`TwinStoreError` naming the first bad one."""
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if not isinstance(values, Sequence) or isinstance(values, str | bytes):
        raise TwinStoreError(f"{where} must be a list of numbers")
    out: list[float | None] = []
    for i, v in enumerate(values):
        if gaps and v is None:
            out.append(None)
            continue
        if isinstance(v, bool | np.bool_) or not isinstance(v, _NUMBER_TYPES):
            raise TwinStoreError(f"{where}[{i}] is {v!r}: values must be numbers")
        x = float(v)
        if gaps and math.isnan(x):
            out.append(None)
        elif not math.isfinite(x):
            raise TwinStoreError(f"{where}[{i}] is {x}: values must be finite")
        else:
            out.append(x)
    return out


def _plan(plan: Any, where: str, length: int | None, gaps: bool = False) -> dict[str, Any]:
    """One plan of a forecast (``indoor_c`` and ``heat_kwh``, one value per step)."""
    if not isinstance(plan, Mapping) or set(plan) != set(PLAN_COLUMNS):
        keys = sorted(map(str, plan)) if isinstance(plan, Mapping) else type(plan).__name__
        raise TwinStoreError(f"{where} must hold exactly indoor_c and heat_kwh, not {keys}")
    out = {name: _numbers(plan[name], f"{where}.{name}", gaps) for name in PLAN_COLUMNS}
    for name in PLAN_COLUMNS:
        n = len(out[name])
        if length is None and not 1 <= n <= FORECAST_MAX_STEPS:
            raise TwinStoreError(
                f"{where}.{name} has {n} values; a forecast has 1 to {FORECAST_MAX_STEPS} steps"
            )
        length = n if length is None else length
        if n != length:
            raise TwinStoreError(
                f"{where}.{name} has {n} values, the forecast {length}: one value per step"
            )
    return out


def check_forecast(forecast: Mapping[str, Any], usable: bool) -> dict[str, Any]:
    """``forecast`` as plain JSON, or :class:`TwinStoreError`::

        {"origin_s": int, "step_s": int,
         "plans": {name: {"indoor_c": [float, ...], "heat_kwh": [float, ...]}, ...},
         "measured": {"indoor_c": [...], "heat_kwh": [...]}}  # optional

    ``origin_s``: start of the first step (unix seconds); ``step_s``: 1 to 86,400 s; at least
    one plan (named as a scenario is), every list of one length, 1 to
    :data:`FORECAST_MAX_STEPS`, finite numbers; ``measured`` (what was measured over those
    steps, for comparison) may have gaps (None; NaN is taken as one). A model that failed its
    gate may have no forecast (``{}``); a usable one must have one."""
    if not isinstance(forecast, Mapping):
        raise TwinStoreError(f"forecast must be a mapping, not {type(forecast).__name__}")
    if not forecast:
        if usable:
            raise TwinStoreError(
                "forecast is empty: a usable model's forecast has origin_s, step_s and plans"
            )
        return {}
    keys = set(map(str, forecast))
    if missing := [k for k in _FORECAST_KEYS if k not in keys]:
        raise TwinStoreError(f"forecast has no {', '.join(missing)}")
    if unknown := sorted(keys - {*_FORECAST_KEYS, "measured"}):
        raise TwinStoreError(f"forecast has unknown keys {unknown}")
    out: dict[str, Any] = {
        "origin_s": _whole(forecast["origin_s"], "forecast.origin_s"),
        "step_s": _whole(forecast["step_s"], "forecast.step_s", 1, 86_400),
        "plans": {},
    }
    plans = forecast["plans"]
    if not isinstance(plans, Mapping) or not plans:
        raise TwinStoreError("forecast.plans must map at least one plan's name to its values")
    length: int | None = None
    for name, plan in plans.items():
        if not isinstance(name, str) or not SCENARIO_NAME.fullmatch(name):
            raise TwinStoreError(
                f"forecast.plans: the name {name!r}: 1 to 64 letters, digits, '.', '_', '+' or "
                "'-', starting with a letter or digit"
            )
        out["plans"][name] = _plan(plan, f"forecast.plans[{name!r}]", length)
        length = len(out["plans"][name]["indoor_c"])
    if forecast.get("measured") is not None:
        out["measured"] = _plan(forecast["measured"], "forecast.measured", length, gaps=True)
    return out


def _finite_or_none(value: Any) -> Any:
    """``value`` with its non-finite floats as None (a gate without validation origins has an
    infinite worst error)."""
    if isinstance(value, float | np.floating) and not math.isfinite(float(value)):
        return None
    if isinstance(value, Mapping):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(v) for v in value]
    return value


def check_gate(gate: Mapping[str, Any]) -> dict[str, Any]:
    """``gate`` (:meth:`analytics.thermal.pimf.Gate.to_json`) as plain JSON, or
    :class:`TwinStoreError`: a bool ``usable``, a text ``reason``, not empty when the model
    failed. A non-finite number in it is stored as None."""
    if not isinstance(gate, Mapping):
        raise TwinStoreError(f"gate must be a mapping with usable and reason, not "
                             f"{type(gate).__name__}")
    usable = gate.get("usable")
    if not isinstance(usable, bool | np.bool_):
        raise TwinStoreError(f"gate['usable'] must be true or false, not {usable!r}")
    reason = gate.get("reason")
    if not isinstance(reason, str):
        raise TwinStoreError(f"gate['reason'] must be text, not {reason!r}")
    if not usable and not reason.strip():
        raise TwinStoreError("gate['reason'] is empty: a model that failed its gate says why")
    plain: dict[str, Any] = _plain(_finite_or_none(gate), "gate")
    return plain


def put_model(
    db: Session | Engine,
    chain_id: int,
    account: str,
    *,
    home_id: str,
    model: bytes,
    gate: Mapping[str, Any],
    meta: Mapping[str, Any],
    forecast: Mapping[str, Any],
    trained_s: int,
) -> None:
    """Store ``model`` (the bytes ``torch.save`` wrote, opaque here: 1 byte to
    :data:`MODEL_MAX_BYTES`) as ``account``'s home's trained model on ``chain_id``, replacing
    the previous one in one transaction (the caller's, when ``db`` is a session).

    ``gate``: its validation gate (:func:`check_gate`), from which the ``usable`` and
    ``reason`` columns are taken (the reason is empty when usable); ``meta``: JSON-ready
    meta-data (data range, ``scores``, ``parameters``, versions); ``forecast``: its forecast
    (:func:`check_forecast`); ``trained_s``: when it was trained, unix seconds. Everything is
    checked before the first write."""
    owner = check_account(account)
    if not isinstance(home_id, str) or not 1 <= len(home_id) <= HOME_ID_MAX:
        raise TwinStoreError(f"home_id must be text of 1 to {HOME_ID_MAX} characters")
    if not isinstance(model, bytes | bytearray):
        raise TwinStoreError(f"model must be bytes (the model file), not {type(model).__name__}")
    if not 1 <= len(model) <= MODEL_MAX_BYTES:
        raise TwinStoreError(
            f"model has {len(model):,} bytes; a stored model has 1 to {MODEL_MAX_BYTES:,}"
        )
    plain_gate = check_gate(gate)
    usable = bool(plain_gate["usable"])
    if not isinstance(meta, Mapping):
        raise TwinStoreError(f"meta must be a mapping, not {type(meta).__name__}")
    plain_meta = _plain(meta, "meta")
    plain_forecast = check_forecast(forecast, usable)
    trained = _whole(trained_s, "trained_s")
    blob = bytes(model)
    values = {
        "home_id": home_id,
        "model": blob,
        "model_sha256": hashlib.sha256(blob).hexdigest(),
        "usable": usable,
        "reason": "" if usable else str(plain_gate["reason"]),
        "gate": plain_gate,
        "meta": plain_meta,
        "forecast": plain_forecast,
        "trained_s": trained,
        "stored_s": int(time.time()),
    }
    key = (models.c.chain_id == chain_id) & (models.c.account == owner)
    with _session(db) as s:
        # As put_twin: an update of the existing row, else an insert, in one transaction.
        updated = cast(CursorResult[Any], s.execute(update(models).where(key).values(**values)))
        if updated.rowcount == 0:
            s.execute(insert(models).values(chain_id=chain_id, account=owner, **values))
        s.flush()


@dataclass(frozen=True)
class ModelInfo:
    """A stored model without its bytes: what ``GET /twin/model`` shows (when usable)."""

    account: str
    home_id: str
    usable: bool
    reason: str
    """Why it failed its validation gate (empty when usable)."""
    gate: dict[str, Any]
    meta: dict[str, Any]
    forecast: dict[str, Any]
    """:func:`check_forecast`'s shape; ``{}``: none (a model that failed its gate)."""
    model_sha256: str
    trained_s: int
    stored_s: int
    size_bytes: int


def get_model_info(db: Session | Engine, chain_id: int, account: str) -> ModelInfo | None:
    """``account``'s home's model without its bytes (None: it has none)."""
    owner = check_account(account)
    m = models.c
    with _session(db) as s:
        row = s.execute(
            select(
                m.home_id, m.usable, m.reason, m.gate, m.meta, m.forecast, m.model_sha256,
                m.trained_s, m.stored_s, func.length(m.model).label("size_bytes"),
            ).where((m.chain_id == chain_id) & (m.account == owner))
        ).first()
    if row is None:
        return None
    return ModelInfo(
        account=owner,
        home_id=row.home_id,
        usable=bool(row.usable),
        reason=row.reason,
        gate=row.gate,
        meta=row.meta,
        forecast=row.forecast,
        model_sha256=row.model_sha256,
        trained_s=int(row.trained_s),
        stored_s=int(row.stored_s),
        size_bytes=int(row.size_bytes),
    )


def get_model_bytes(db: Session | Engine, chain_id: int, account: str) -> bytes | None:
    """The bytes of ``account``'s home's model, as put (None: it has none)."""
    owner = check_account(account)
    with _session(db) as s:
        blob = s.scalar(
            select(models.c.model).where(
                (models.c.chain_id == chain_id) & (models.c.account == owner)
            )
        )
    return None if blob is None else bytes(blob)  # PostgreSQL's driver may hand a memoryview


def delete_model(db: Session | Engine, chain_id: int, account: str) -> bool:
    """Remove ``account``'s home's model; whether there was one."""
    owner = check_account(account)
    with _session(db) as s:
        gone = cast(CursorResult[Any], s.execute(
            delete(models).where((models.c.chain_id == chain_id) & (models.c.account == owner))
        ))
        return bool(gone.rowcount)
