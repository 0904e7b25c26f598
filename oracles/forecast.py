"""The forecast oracle: commit forecast rows on-chain, one signed batch per interval and model.

Rows come from the forecasting engine (``analytics/forecasting``) as :class:`ForecastRow` or
as records (``{participant_id | home_id, interval_start_s, q10_wh, q50_wh, q90_wh,
model_version}``). Forecasts must reach the chain before their interval starts; rows for
started intervals are skipped (counted) unless ``skip_started=False``, which lets the contract
refuse them. Re-running with the same rows is safe: rows that are already on-chain are left
alone, or sent as revisions with ``revise=True``. Nonces are random 128-bit numbers: the chain
refuses a reused one, and no local state is needed.
"""

from __future__ import annotations

import secrets
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount

from chain.oracles import ForecastOracleClient
from core.errors import ForecastRowError
from core.oracle_codec import ForecastRow, check_interval_start

ENROL_CHUNK = 200


@dataclass
class ForecastCommitReport:
    committed: int = 0
    revised: int = 0
    unchanged: int = 0  # already on-chain, not revised
    skipped_started: int = 0
    batches: int = 0
    gas_used: int = 0
    enrolled: int = 0
    roots: list[str] = field(default_factory=list)


def rows_from_records(records: Iterable[Mapping[str, Any]]) -> list[ForecastRow]:
    """Forecast rows from dicts (values in Wh, rounded to integers)."""
    rows = []
    for i, r in enumerate(records):
        try:
            participant = str(r.get("participant_id", r.get("home_id")))
            if participant == "None":
                raise KeyError("participant_id")
            rows.append(
                ForecastRow(
                    participant_id=participant,
                    interval_start_s=check_interval_start(int(r["interval_start_s"])),
                    q10_wh=round(float(r["q10_wh"])),
                    q50_wh=round(float(r["q50_wh"])),
                    q90_wh=round(float(r["q90_wh"])),
                    model_version=str(r["model_version"]),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ForecastRowError(f"forecast record {i} is malformed: {exc!r}") from exc
    return rows


def commit_forecasts(
    client: ForecastOracleClient,
    oracle: LocalAccount,
    rows: Iterable[ForecastRow],
    *,
    revise: bool = False,
    skip_started: bool = True,
    now_s: float | None = None,
) -> ForecastCommitReport:
    """Commit ``rows`` signed by ``oracle`` and relayed by ``client``'s sender.

    The client's sender must be an active oracle too when participants need enrolling.
    ``now_s`` (default: the later of the wall clock and the chain's latest block, since the
    contract judges by the chain's clock, which a test or the demo may have moved ahead) decides
    which rows' intervals have started.
    """
    report = ForecastCommitReport()
    if now_s is None:
        now = max(time.time(), float(client.w3.eth.get_block("latest")["timestamp"]))
    else:
        now = now_s
    groups: dict[tuple[int, str], list[ForecastRow]] = defaultdict(list)
    for row in rows:
        if skip_started and row.interval_start_s <= now:
            report.skipped_started += 1
            continue
        groups[(row.interval_start_s, row.model_version)].append(row)
    participants = sorted({r.participant_id for rs in groups.values() for r in rs})
    missing = [p for p in participants if client.index_of(p) is None]
    for i in range(0, len(missing), ENROL_CHUNK):
        client.enrol_participants(missing[i : i + ENROL_CHUNK])
        report.enrolled += len(missing[i : i + ENROL_CHUNK])
    for (interval, _model), group in sorted(groups.items()):
        latest: dict[str, ForecastRow] = {r.participant_id: r for r in group}
        new: list[ForecastRow] = []
        existing: list[ForecastRow] = []
        for row in latest.values():
            (existing if client.is_committed(row.participant_id, interval) else new).append(row)
        for batch_rows, revision in ((new, False), (existing, True)):
            if not batch_rows:
                continue
            if revision and not revise:
                report.unchanged += len(batch_rows)
                continue
            receipt = client.commit(oracle, batch_rows, secrets.randbits(128), revision=revision)
            report.batches += 1
            report.gas_used += int(receipt["gasUsed"])
            if revision:
                report.revised += len(batch_rows)
            else:
                report.committed += len(batch_rows)
            event = "ForecastsRevised" if revision else "ForecastsCommitted"
            for ev in client.events(receipt, event):
                report.roots.append("0x" + bytes(ev["args"]["root"]).hex())
    return report
