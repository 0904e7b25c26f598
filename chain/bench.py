"""``bright bench gas``: gas of each core operation, read from real receipts on a fresh anvil.

The result is compared with the committed report ``benchmarks/gas-report.json`` in the same
run, so a change that makes an operation dearer says so (``worse_than_report``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bright.benchutil import peak_rss_mb, stopwatch
from bright.paths import BENCHMARKS_DIR
from bright.settings import DEV_MNEMONIC
from chain.anvil import Anvil
from chain.compiler import compile_contracts
from chain.deploy import deploy_core
from chain.domain import Role
from chain.platform import Platform, connect, dev_accounts, make_sender

GAS_REPORT = BENCHMARKS_DIR / "gas-report.json"
BATCH = 50


def _gas(receipt: Any) -> int:
    return int(receipt["gasUsed"])


def measure_core_gas() -> dict[str, int]:
    """Gas used by each core operation on a fresh chain (deterministic for a given build)."""
    artifacts = compile_contracts()
    accounts = dev_accounts(DEV_MNEMONIC, 8)
    admin, agg, p1, p2, p3 = accounts[:5]
    ops: dict[str, int] = {}
    with Anvil(accounts=10) as anvil:
        w3 = connect(anvil.url)
        deployment = deploy_core(w3, make_sender(w3, admin, artifacts), artifacts)
        for name, c in deployment.contracts.items():
            ops[f"deploy_{name}"] = _gas(w3.eth.get_transaction_receipt(c.tx_hash))  # type: ignore[arg-type]
        platform = Platform(w3, deployment, artifacts)
        registry, token = platform.registry(admin), platform.token(admin)
        ops["register"] = _gas(registry.register(p1.address, Role.PROSUMER, "feeder-1", "meter-1"))
        registry.register(agg.address, Role.AGGREGATOR, "feeder-1")
        batch = [
            ("0x" + f"{0xB000 + i:040x}", Role.PROSUMER, "feeder-2", f"meter-b{i}")
            for i in range(BATCH)
        ]
        ops["register_batch_per_participant"] = _gas(registry.register_batch(batch)) // BATCH
        ops["grant_role"] = _gas(registry.grant_role("REGISTRAR_ROLE", p3.address))
        ops["delegate_to_aggregator"] = _gas(platform.registry(p1).delegate_to(agg.address))
        ops["deactivate"] = _gas(registry.deactivate(batch[0][0]))
        ops["mint"] = _gas(token.mint(p1.address, 10**9))
        payments = [(b[0], 10**6) for b in batch]
        ops["mint_batch_per_payment"] = _gas(token.mint_batch(payments)) // BATCH
        member_token = platform.token(p1)
        ops["transfer_new_holder"] = _gas(member_token.transfer(p2.address, 10**6))
        ops["transfer"] = _gas(member_token.transfer(p2.address, 10**6))
        ops["approve"] = _gas(member_token.approve(p3.address, 10**6))
    return ops


def bench_gas(report_path: Path = GAS_REPORT, update_report: bool = False) -> dict[str, Any]:
    """Measure, compare with the committed report, optionally rewrite the report."""
    print("measuring gas on a fresh anvil ...", file=sys.stderr)
    with stopwatch() as t:
        ops = measure_core_gas()
    committed: dict[str, int] = {}
    if report_path.exists():
        committed = json.loads(report_path.read_text()).get("operations", {})
    changes = {
        k: {"report": committed[k], "now": v, "delta": v - committed[k]}
        for k, v in ops.items()
        if k in committed and committed[k] != v
    }
    worse = sorted(k for k, c in changes.items() if c["delta"] > 0)
    if update_report:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps({"operations": ops}, indent=2, sort_keys=True) + "\n")
    return {
        "bench": "gas",
        "unit": "gas",
        "operations": ops,
        "baseline": str(report_path.name) if committed else None,
        "changes_vs_report": changes,
        "new_vs_report": sorted(set(ops) - set(committed)),
        "worse_than_report": worse,
        "seconds": round(t[0], 2),
        "peak_rss_mb": peak_rss_mb(),
    }
