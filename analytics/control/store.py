"""The control results in the database (issue 18, "Users see it"): per member's home, the
comparison of the control policies over a period, and the control status (what the controller
did in the last steps, and why).

Two tables, keyed by ``(chain_id, account)`` (the member's address, EIP-55 checksummed):

* ``control_comparisons``: the comparison's report (:func:`analytics.control.evaluate.compare`'s
  shape: period, cost function, per policy its totals, ratios to business as usual and decision
  time; JSON) and the home's series (:func:`analytics.control.evaluate.home_series`'s shape:
  comfort band, and per policy indoor temperature and net import), the series as
  zlib-compressed JSON (a year at 15 minutes of four policies is about 280,000 values) with its
  start, step and length as columns, so :func:`list_comparisons` (what ``GET
  /control/community`` sums) reads no series at all;
* ``control_status``: the home's control status (:func:`check_status`): the policy that drives
  it, when it was updated, the comfort violation, its last steps with the reason of each
  decision (at most :data:`MAX_STATUS_STEPS`) and its flexibility (up, down and rebound per
  step, or none).

Like the thermal twins (:mod:`analytics.thermal.store`) they are not chain data and cannot be
rebuilt from it: their tables live on a metadata of their own (:data:`METADATA`, not the read
models'), and their migration (``0012_control``) creates them only where they are missing and
keeps them through ``bright index rebuild``.

Every function takes the caller's SQLAlchemy ``Session`` (it then works in the caller's
transaction, which the caller commits) or an ``Engine`` (it then runs in a transaction of its
own). Input is checked before anything is written (:class:`ControlDataError`, saying which
field is wrong and how): known policy names (:data:`POLICIES`) with business as usual among
them, lists of one length, finite numbers (None where a gap or "no ratio" is allowed), no
unknown keys, at most :data:`MAX_STATUS_STEPS` steps of status.
"""

from __future__ import annotations

import json
import math
import re
import time
import zlib
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    CursorResult,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from analytics.control.costs import TERMS
from analytics.control.errors import ControlDataError
from analytics.thermal.store import NAMING, _session  # the same conventions as the twins'

POLICIES = ("bau", "rule", "mpc", "rl")
"""The policies a comparison or a status may name, in the order they are shown."""
BAU = "bau"
"""Business as usual: every comparison has it (the ratios are to it)."""
KPIS = ("cost", "emissions_kg", "peak_kw", "violation_kh", "tracking_kwh", "import_kwh")
"""The totals of a policy (:data:`analytics.control.evaluate.KPIS`, which a test compares)."""
MAX_SERIES_VALUES = 366 * 96
"""Most values of one list of a stored series: a (leap) year at 15 minutes (35,136)."""
MAX_STATUS_STEPS = 672
"""Most steps of a control status: a week at 15 minutes."""
FLEX_STEP_S = 900
"""The step of a status's flexibility, seconds."""
MAX_FLEX_STEPS = 672
"""Most steps of a status's flexibility."""
MAX_REASON = 500
"""Most characters of a step's reason."""
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")

METADATA = MetaData(naming_convention=NAMING)
"""The control tables: not projections, never dropped by a rebuild (not in the read models')."""
_JSON = JSON().with_variant(JSONB(), "postgresql")

comparisons = Table(
    "control_comparisons",
    METADATA,
    Column("chain_id", BigInteger, nullable=False),
    Column("account", String(42), nullable=False),
    Column("report", _JSON, nullable=False),
    Column("series_start_s", BigInteger, nullable=False),
    Column("series_step_s", Integer, nullable=False),
    Column("series_length", Integer, nullable=False),
    Column("series", LargeBinary, nullable=False),
    Column("stored_s", BigInteger, nullable=False),
    PrimaryKeyConstraint("chain_id", "account"),
)
statuses = Table(
    "control_status",
    METADATA,
    Column("chain_id", BigInteger, nullable=False),
    Column("account", String(42), nullable=False),
    Column("policy", String(16), nullable=False),
    Column("updated_s", BigInteger, nullable=False),
    Column("status", _JSON, nullable=False),
    Column("stored_s", BigInteger, nullable=False),
    PrimaryKeyConstraint("chain_id", "account"),
)


# ---- checks ---------------------------------------------------------------------------------


def check_account(account: str) -> str:
    """``account`` EIP-55 checksummed (any case in), or :class:`ControlDataError`."""
    from eth_utils import to_checksum_address

    if not isinstance(account, str) or not _ADDRESS.fullmatch(account):
        raise ControlDataError(f"an account is 0x and 40 hex digits, not {account!r}")
    return str(to_checksum_address(account))


def _whole(value: Any, where: str, lo: int = 0, hi: int | None = None) -> int:
    """``value`` as an int in ``[lo, hi]`` (numpy integers too, never a bool)."""
    whole = isinstance(value, Integral) and not isinstance(value, bool)
    if not whole or int(value) < lo or (hi is not None and int(value) > hi):
        span = f"{lo:,} to {hi:,}" if hi is not None else f">= {lo:,}"
        raise ControlDataError(f"{where} must be a whole number ({span}), not {value!r}")
    return int(value)


def _number(value: Any, where: str, *, null: bool = False, lo: float | None = None) -> float | None:
    """``value`` as a finite float (``null``: None allowed), or :class:`ControlDataError`."""
    if value is None and null:
        return None
    if isinstance(value, bool) or not isinstance(value, Real):
        kind = "a number or null" if null else "a number"
        raise ControlDataError(f"{where} must be {kind}, not {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise ControlDataError(f"{where} is {x}: values must be finite")
    if lo is not None and x < lo:
        raise ControlDataError(f"{where} is {x}: it must be at least {lo:g}")
    return x


def _numbers(values: Any, where: str, *, null: bool) -> list[float | None]:
    """``values`` (a list, tuple or numpy array) as finite floats (``null``: None, or NaN,
    as None), or :class:`ControlDataError` naming the first bad one."""
    if hasattr(values, "tolist") and not isinstance(values, str | bytes):
        values = values.tolist()
    if not isinstance(values, Sequence) or isinstance(values, str | bytes):
        raise ControlDataError(f"{where} must be a list of numbers")
    out: list[float | None] = []
    for i, v in enumerate(values):
        if null and isinstance(v, float) and math.isnan(v):
            v = None
        out.append(_number(v, f"{where}[{i}]", null=null))
    return out


def _keys(
    value: Any, where: str, required: Sequence[str], optional: Sequence[str] = ()
) -> Mapping[str, Any]:
    """``value`` as a mapping with every key of ``required`` and none but those and
    ``optional``, or :class:`ControlDataError`."""
    if not isinstance(value, Mapping):
        raise ControlDataError(f"{where} must be a mapping, not {type(value).__name__}")
    keys = {str(k) for k in value}
    if missing := [k for k in required if k not in value]:
        raise ControlDataError(f"{where} has no {', '.join(missing)}")
    if unknown := sorted(keys - {*required, *optional}):
        raise ControlDataError(
            f"{where} has unknown keys {unknown}; it has {', '.join([*required, *optional])}"
        )
    return value


def _policy_names(names: Any, where: str) -> list[str]:
    """The policy names of ``names`` (mapping keys) in :data:`POLICIES` order, or
    :class:`ControlDataError`: known ones only, business as usual among them."""
    unknown = sorted(str(n) for n in names if n not in POLICIES)
    if unknown:
        raise ControlDataError(
            f"{where}: unknown policy {', '.join(map(repr, unknown))}; known: {', '.join(POLICIES)}"
        )
    if BAU not in names:
        raise ControlDataError(
            f"{where} has no {BAU!r}: business as usual is what the others are compared with"
        )
    return [p for p in POLICIES if p in names]


def check_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """``report`` (:func:`analytics.control.evaluate.compare`'s) as plain JSON, its policies in
    :data:`POLICIES` order, or :class:`ControlDataError`::

        {"period": {"start_s", "step_s", "steps", "homes"},
         "cost_function": {"weights": {term: number}, "feed_in_share": number},
         "policies": {name: {"totals": {kpi: number}, "ratios_to_bau": {kpi: number or null},
                             "decision_ms": number}}}

    Whole seconds and counts in the period (a step of 1 to 86,400 s, 1 to
    :data:`MAX_SERIES_VALUES` steps), every KPI of :data:`KPIS` in the totals and ratios (a
    ratio is null where business as usual's total is 0), known cost terms, finite numbers."""
    r = _keys(report, "report", ("period", "cost_function", "policies"))
    p = _keys(r["period"], "report.period", ("start_s", "step_s", "steps", "homes"))
    period = {
        "start_s": _whole(p["start_s"], "report.period.start_s"),
        "step_s": _whole(p["step_s"], "report.period.step_s", 1, 86_400),
        "steps": _whole(p["steps"], "report.period.steps", 1, MAX_SERIES_VALUES),
        "homes": _whole(p["homes"], "report.period.homes", 1),
    }
    c = _keys(r["cost_function"], "report.cost_function", ("weights", "feed_in_share"))
    weights = c["weights"]
    if not isinstance(weights, Mapping):
        raise ControlDataError("report.cost_function.weights must map cost terms to weights")
    if unknown := sorted(str(t) for t in weights if t not in TERMS):
        raise ControlDataError(
            f"report.cost_function.weights: unknown term {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(TERMS)}"
        )
    cost_function = {
        "weights": {
            t: _number(weights[t], f"report.cost_function.weights[{t!r}]", lo=0.0)
            for t in TERMS
            if t in weights
        },
        "feed_in_share": _number(c["feed_in_share"], "report.cost_function.feed_in_share", lo=0.0),
    }
    policies = r["policies"]
    if not isinstance(policies, Mapping):
        raise ControlDataError("report.policies must map policy names to their results")
    out: dict[str, Any] = {}
    for name in _policy_names(policies, "report.policies"):
        where = f"report.policies[{name!r}]"
        one = _keys(policies[name], where, ("totals", "ratios_to_bau", "decision_ms"))
        totals = _keys(one["totals"], f"{where}.totals", KPIS)
        ratios = _keys(one["ratios_to_bau"], f"{where}.ratios_to_bau", KPIS)
        out[name] = {
            "totals": {k: _number(totals[k], f"{where}.totals[{k!r}]") for k in KPIS},
            "ratios_to_bau": {
                k: _number(ratios[k], f"{where}.ratios_to_bau[{k!r}]", null=True) for k in KPIS
            },
            "decision_ms": _number(one["decision_ms"], f"{where}.decision_ms", lo=0.0),
        }
    return {"period": period, "cost_function": cost_function, "policies": out}


def check_series(series: Mapping[str, Any], report: Mapping[str, Any]) -> dict[str, Any]:
    """``series`` (:func:`analytics.control.evaluate.home_series`'s) as plain JSON, or
    :class:`ControlDataError`::

        {"start_s", "step_s", "band_low_c": [...], "band_high_c": [...],
         "policies": {name: {"indoor_c": [...], "net_import_w": [...]}}}

    ``report`` is the comparison's (:func:`check_report`'s): the series starts at its period's
    start, at its step or a multiple of it, holds no more values than the period has steps at
    that step, and has exactly the report's policies. Every list has one length (1 to
    :data:`MAX_SERIES_VALUES`); a value is a finite number or None (a gap)."""
    s = _keys(series, "series", ("start_s", "step_s", "band_low_c", "band_high_c", "policies"))
    period = report["period"]
    start = _whole(s["start_s"], "series.start_s")
    if start != period["start_s"]:
        raise ControlDataError(
            f"series.start_s is {start}, the report's period starts at {period['start_s']}: "
            "the series is of the compared period"
        )
    step = _whole(s["step_s"], "series.step_s", 1, 86_400)
    if step % period["step_s"]:
        raise ControlDataError(
            f"series.step_s is {step}: a multiple of the period's step "
            f"({period['step_s']} s) is needed"
        )
    most = -(-period["steps"] // (step // period["step_s"]))
    lists: dict[str, list[float | None]] = {
        "band_low_c": _numbers(s["band_low_c"], "series.band_low_c", null=True),
        "band_high_c": _numbers(s["band_high_c"], "series.band_high_c", null=True),
    }
    policies = s["policies"]
    if not isinstance(policies, Mapping):
        raise ControlDataError("series.policies must map policy names to their series")
    names = _policy_names(policies, "series.policies")
    if names != list(report["policies"]):
        raise ControlDataError(
            f"series.policies has {', '.join(names)}, the report "
            f"{', '.join(report['policies'])}: a series for every policy compared"
        )
    out_policies: dict[str, dict[str, list[float | None]]] = {}
    for name in names:
        where = f"series.policies[{name!r}]"
        one = _keys(policies[name], where, ("indoor_c", "net_import_w"))
        out_policies[name] = {
            k: _numbers(one[k], f"{where}.{k}", null=True) for k in ("indoor_c", "net_import_w")
        }
    length = len(lists["band_low_c"])
    if not 1 <= length <= min(most, MAX_SERIES_VALUES):
        raise ControlDataError(
            f"series.band_low_c has {length} values; a series of the period at {step} s has 1 "
            f"to {min(most, MAX_SERIES_VALUES):,}"
        )
    every = {"series.band_high_c": lists["band_high_c"]} | {
        f"series.policies[{n!r}].{k}": v for n, one in out_policies.items() for k, v in one.items()
    }
    for where, values in every.items():
        if len(values) != length:
            raise ControlDataError(
                f"{where} has {len(values)} values, series.band_low_c {length}: every list of "
                "a series has one value per step"
            )
    return {"start_s": start, "step_s": step, **lists, "policies": out_policies}


_STEP_KEYS = (
    "start_s",
    "indoor_c",
    "band_low_c",
    "band_high_c",
    "setpoint_offset_k",
    "net_import_w",
    "target_w",
    "reason",
)
_FLEX_KEYS = ("start_s", "step_s", "up_wh", "down_wh", "rebound_wh")


def check_status(status: Mapping[str, Any]) -> dict[str, Any]:
    """``status`` as plain JSON, or :class:`ControlDataError`::

        {"policy": name, "updated_s": int, "comfort_violation_kh": number >= 0,
         "steps": [{"start_s": int, "indoor_c": number, "band_low_c": number or null,
                    "band_high_c": number or null, "setpoint_offset_k": number,
                    "net_import_w": number, "target_w": number or null,
                    "reason": text}, ...],
         "flexibility": null or {"start_s": int, "step_s": 900, "up_wh": [...],
                                 "down_wh": [...], "rebound_wh": [...]}}

    ``policy``: one of :data:`POLICIES`; ``steps``: at most :data:`MAX_STATUS_STEPS`, in time
    (each starts after the one before), each with a reason (1 to :data:`MAX_REASON`
    characters); the flexibility's lists: one length, 1 to :data:`MAX_FLEX_STEPS`."""
    st = _keys(
        status, "status", ("policy", "updated_s", "comfort_violation_kh", "steps", "flexibility")
    )
    policy = st["policy"]
    if policy not in POLICIES:
        raise ControlDataError(
            f"status.policy: unknown policy {policy!r}; known: {', '.join(POLICIES)}"
        )
    steps = st["steps"]
    if not isinstance(steps, Sequence) or isinstance(steps, str | bytes):
        raise ControlDataError("status.steps must be a list of steps")
    if len(steps) > MAX_STATUS_STEPS:
        raise ControlDataError(
            f"status.steps has {len(steps):,} steps; a status has at most {MAX_STATUS_STEPS} "
            "(the last week at 15 minutes)"
        )
    out_steps: list[dict[str, Any]] = []
    last = -1
    for i, step in enumerate(steps):
        where = f"status.steps[{i}]"
        one = _keys(step, where, _STEP_KEYS)
        start = _whole(one["start_s"], f"{where}.start_s")
        if start <= last:
            raise ControlDataError(
                f"{where}.start_s is {start}, not after the step before ({last}): steps are in time"
            )
        last = start
        reason = one["reason"]
        if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
            raise ControlDataError(
                f"{where}.reason must be text of 1 to {MAX_REASON} characters (why the "
                f"controller did what it did), not {reason!r}"
            )
        out_steps.append(
            {
                "start_s": start,
                "indoor_c": _number(one["indoor_c"], f"{where}.indoor_c"),
                "band_low_c": _number(one["band_low_c"], f"{where}.band_low_c", null=True),
                "band_high_c": _number(one["band_high_c"], f"{where}.band_high_c", null=True),
                "setpoint_offset_k": _number(
                    one["setpoint_offset_k"], f"{where}.setpoint_offset_k"
                ),
                "net_import_w": _number(one["net_import_w"], f"{where}.net_import_w"),
                "target_w": _number(one["target_w"], f"{where}.target_w", null=True),
                "reason": reason,
            }
        )
    flexibility: dict[str, Any] | None = None
    if st["flexibility"] is not None:
        f = _keys(st["flexibility"], "status.flexibility", _FLEX_KEYS)
        step_s = _whole(f["step_s"], "status.flexibility.step_s", 1)
        if step_s != FLEX_STEP_S:
            raise ControlDataError(
                f"status.flexibility.step_s must be {FLEX_STEP_S} s, not {step_s}"
            )
        flex: dict[str, Any] = {
            "start_s": _whole(f["start_s"], "status.flexibility.start_s"),
            "step_s": step_s,
        }
        length: int | None = None
        for k in ("up_wh", "down_wh", "rebound_wh"):
            values = _numbers(f[k], f"status.flexibility.{k}", null=False)
            if length is None and not 1 <= len(values) <= MAX_FLEX_STEPS:
                raise ControlDataError(
                    f"status.flexibility.{k} has {len(values)} values; the flexibility has 1 "
                    f"to {MAX_FLEX_STEPS} steps"
                )
            length = len(values) if length is None else length
            if len(values) != length:
                raise ControlDataError(
                    f"status.flexibility.{k} has {len(values)} values, up_wh {length}: one "
                    "value per step"
                )
            flex[k] = values
        flexibility = flex
    return {
        "policy": policy,
        "updated_s": _whole(st["updated_s"], "status.updated_s"),
        "comfort_violation_kh": _number(
            st["comfort_violation_kh"], "status.comfort_violation_kh", lo=0.0
        ),
        "steps": out_steps,
        "flexibility": flexibility,
    }


# ---- the series encoding ---------------------------------------------------------------------

_MAGIC = b"BCS1"


def _encode(series: dict[str, Any]) -> bytes:
    """A checked series as bytes: ``b"BCS1"`` and zlib-compressed compact JSON (floats as
    JSON writes them: exact)."""
    text = json.dumps(series, separators=(",", ":"), allow_nan=False)
    return _MAGIC + zlib.compress(text.encode(), 6)


def _decode(blob: bytes) -> dict[str, Any]:
    blob = bytes(blob)  # PostgreSQL's driver may hand a memoryview
    if blob[:4] != _MAGIC:
        raise ControlDataError("a stored control series has an unknown encoding (no BCS1 header)")
    data: dict[str, Any] = json.loads(zlib.decompress(blob[4:]))
    return data


def _ordered(report: Mapping[str, Any]) -> dict[str, Any]:
    """``report`` as stored, its policies and KPIs in their order (PostgreSQL's JSONB keeps no
    order of keys)."""
    policies = report["policies"]
    return {
        "period": {k: report["period"][k] for k in ("start_s", "step_s", "steps", "homes")},
        "cost_function": {
            "weights": {
                t: report["cost_function"]["weights"][t]
                for t in TERMS
                if t in report["cost_function"]["weights"]
            },
            "feed_in_share": report["cost_function"]["feed_in_share"],
        },
        "policies": {
            name: {
                "totals": {k: policies[name]["totals"][k] for k in KPIS},
                "ratios_to_bau": {k: policies[name]["ratios_to_bau"][k] for k in KPIS},
                "decision_ms": policies[name]["decision_ms"],
            }
            for name in POLICIES
            if name in policies
        },
    }


def _ordered_status(status: Mapping[str, Any]) -> dict[str, Any]:
    flex = status["flexibility"]
    return {
        "policy": status["policy"],
        "updated_s": status["updated_s"],
        "comfort_violation_kh": status["comfort_violation_kh"],
        "steps": [{k: step[k] for k in _STEP_KEYS} for step in status["steps"]],
        "flexibility": None if flex is None else {k: flex[k] for k in _FLEX_KEYS},
    }


def _put(s: Session, table: Table, chain_id: int, owner: str, values: dict[str, Any]) -> None:
    """An update of the existing row, else an insert (as the twins: a concurrent put of the
    same account waits for this one's row lock, then replaces it whole)."""
    key = (table.c.chain_id == chain_id) & (table.c.account == owner)
    updated = cast(CursorResult[Any], s.execute(update(table).where(key).values(**values)))
    if updated.rowcount == 0:
        s.execute(insert(table).values(chain_id=chain_id, account=owner, **values))
    s.flush()


# ---- the comparisons -------------------------------------------------------------------------


def put_comparison(
    db: Session | Engine,
    chain_id: int,
    account: str,
    report: Mapping[str, Any],
    series: Mapping[str, Any],
) -> None:
    """Store ``report`` (:func:`check_report`) and ``series`` (:func:`check_series`) as
    ``account``'s home's policy comparison on ``chain_id``, replacing the previous one in one
    transaction (the caller's, when ``db`` is a session). Both are checked before the first
    write."""
    owner = check_account(account)
    chain = _whole(chain_id, "chain_id", 1)
    plain = check_report(report)
    checked = check_series(series, plain)
    values = {
        "report": plain,
        "series_start_s": checked["start_s"],
        "series_step_s": checked["step_s"],
        "series_length": len(checked["band_low_c"]),
        "series": _encode(checked),
        "stored_s": int(time.time()),
    }
    with _session(db) as s:
        _put(s, comparisons, chain, owner, values)


def get_comparison(
    db: Session | Engine, chain_id: int, account: str
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """``(report, series)`` of ``account``'s home's comparison, as put (policies in
    :data:`POLICIES` order); None: it has none."""
    found = get_comparison_stored(db, chain_id, account)
    return None if found is None else (found[0], found[1])


def get_comparison_stored(
    db: Session | Engine, chain_id: int, account: str
) -> tuple[dict[str, Any], dict[str, Any], int] | None:
    """:func:`get_comparison` and when it was stored (unix seconds), in one read."""
    owner = check_account(account)
    c = comparisons.c
    with _session(db) as s:
        row = s.execute(
            select(c.report, c.series, c.stored_s).where(
                (c.chain_id == chain_id) & (c.account == owner)
            )
        ).first()
    if row is None:
        return None
    return _ordered(row.report), _decode(row.series), int(row.stored_s)


def list_comparisons(db: Session | Engine, chain_id: int) -> list[tuple[str, dict[str, Any]]]:
    """``(account, report)`` of every home's comparison on ``chain_id``, by account (no
    series)."""
    c = comparisons.c
    with _session(db) as s:
        rows = s.execute(
            select(c.account, c.report).where(c.chain_id == chain_id).order_by(c.account)
        ).all()
    return [(str(a), _ordered(r)) for a, r in rows]


def sum_comparisons(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The comparisons ``reports`` (:func:`list_comparisons`'s) summed, as a community's::

        {"homes": n, "from_s": earliest start, "to_s": latest end,
         "policies": {name: {"homes", "totals", "ratios_to_bau", "decision_ms"}}}

    Per policy, the totals are summed over the homes whose comparison has it (``homes``),
    its ratios are those sums divided by business as usual's over the same homes (rounded to
    4 digits; None where that sum is 0, as :func:`analytics.control.evaluate.ratios`), and its
    decision time is the homes' mean. Peaks are summed as the comparisons sum them (each
    home's peak). No account is in it."""
    out: dict[str, Any] = {"homes": len(reports), "from_s": None, "to_s": None, "policies": {}}
    if not reports:
        return out
    out["from_s"] = min(int(r["period"]["start_s"]) for r in reports)
    out["to_s"] = max(
        int(r["period"]["start_s"]) + int(r["period"]["steps"]) * int(r["period"]["step_s"])
        for r in reports
    )
    for name in POLICIES:
        having = [r["policies"] for r in reports if name in r["policies"]]
        if not having:
            continue
        sums = {k: sum(float(p[name]["totals"][k]) for p in having) for k in KPIS}
        base = {k: sum(float(p[BAU]["totals"][k]) for p in having) for k in KPIS}
        out["policies"][name] = {
            "homes": len(having),
            "totals": {k: round(v, 4) for k, v in sums.items()},
            "ratios_to_bau": {
                k: round(sums[k] / base[k], 4) if abs(base[k]) > 1e-9 else None for k in KPIS
            },
            "decision_ms": round(
                sum(float(p[name]["decision_ms"]) for p in having) / len(having), 3
            ),
        }
    return out


def delete_comparison(db: Session | Engine, chain_id: int, account: str) -> bool:
    """Remove ``account``'s home's comparison; whether there was one."""
    owner = check_account(account)
    with _session(db) as s:
        gone = cast(
            CursorResult[Any],
            s.execute(
                delete(comparisons).where(
                    (comparisons.c.chain_id == chain_id) & (comparisons.c.account == owner)
                )
            ),
        )
        return bool(gone.rowcount)


# ---- the control status ----------------------------------------------------------------------


def put_status(
    db: Session | Engine, chain_id: int, account: str, status: Mapping[str, Any]
) -> None:
    """Store ``status`` (:func:`check_status`) as ``account``'s home's control status on
    ``chain_id``, replacing the previous one (checked before the first write)."""
    owner = check_account(account)
    chain = _whole(chain_id, "chain_id", 1)
    plain = check_status(status)
    values = {
        "policy": plain["policy"],
        "updated_s": plain["updated_s"],
        "status": plain,
        "stored_s": int(time.time()),
    }
    with _session(db) as s:
        _put(s, statuses, chain, owner, values)


def get_status(db: Session | Engine, chain_id: int, account: str) -> dict[str, Any] | None:
    """``account``'s home's control status, as put; None: it has none."""
    owner = check_account(account)
    c = statuses.c
    with _session(db) as s:
        status = s.scalar(select(c.status).where((c.chain_id == chain_id) & (c.account == owner)))
    return None if status is None else _ordered_status(status)


def delete_status(db: Session | Engine, chain_id: int, account: str) -> bool:
    """Remove ``account``'s home's control status; whether there was one."""
    owner = check_account(account)
    with _session(db) as s:
        gone = cast(
            CursorResult[Any],
            s.execute(
                delete(statuses).where(
                    (statuses.c.chain_id == chain_id) & (statuses.c.account == owner)
                )
            ),
        )
        return bool(gone.rowcount)
