"""``bright bench gas``: gas of each operation, read from real receipts on a fresh anvil
(the market's part is :mod:`bright.bench_market`). An end-to-end benchmark: it deploys the
whole platform and drives the engines, so it lives with the application.

The result is compared with the committed report ``benchmarks/gas-report.json`` in the same
run, so a change that makes an operation dearer says so (``worse_than_report``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_utils import keccak
from web3.types import TxReceipt

from bright.bench_market import measure_market_gas
from chain.anvil import Anvil
from chain.compiler import compile_contracts
from chain.coordination import coordination_client
from chain.deploy import deploy_platform
from chain.domain import Role
from chain.platform import Platform, connect, dev_accounts, make_sender
from core.benchutil import peak_rss_mb, stopwatch
from core.codec import CoalitionRow, MemberDeliveries
from core.paths import BENCHMARKS_DIR
from core.rules import required_escrow, upper_wh
from core.settings import DEV_MNEMONIC
from core.units import INTERVAL_S

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
        deployment = deploy_platform(w3, make_sender(w3, admin, artifacts), artifacts)
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


MARKET_TARGETS = {
    "place_order_direct": 75_000,
    "place_order_signed_batch_per_order": 30_000,
    "clear_per_match_100": 20_000,
    "order_full_life_batch_100": 60_000,
}
"""Targets of the market's gas (issue 14: the whole life of an order under 60k is the
moonshot)."""


NOISE_GAS = 50
"""Run-to-run noise of one operation's gas, at least (then 0.1 % of it)."""


def noise_gas(gas: int) -> int:
    """How much an operation's gas may differ between two runs of the same code."""
    return max(NOISE_GAS, gas // 1000)


def bench_gas(report_path: Path = GAS_REPORT, update_report: bool = False) -> dict[str, Any]:
    """Measure, compare with the committed report, optionally rewrite the report."""
    print("measuring gas on a fresh anvil ...", file=sys.stderr)
    with stopwatch() as t:
        ops = measure_core_gas()
        print("measuring market gas (orders, clearings, settlements) ...", file=sys.stderr)
        ops.update(measure_market_gas())
        print("measuring DSO request, coalition and settlement gas ...", file=sys.stderr)
        ops.update({f"coordination_{k}": v for k, v in measure_coordination_gas().items()})
    committed: dict[str, int] = {}
    if report_path.exists():
        committed = json.loads(report_path.read_text()).get("operations", {})
    changes = {
        k: {"report": committed[k], "now": v, "delta": v - committed[k]}
        for k, v in ops.items()
        if k in committed and committed[k] != v
    }
    # Calldata carries timestamps and signatures, whose zero bytes cost less: a run differs
    # from the last by a few gas. Worse means beyond that noise.
    worse = sorted(k for k, c in changes.items() if c["delta"] > noise_gas(c["report"]))
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
        "noise_tolerance": f"max({NOISE_GAS} gas, 0.1 %) per operation",
        "targets": {
            k: {"target": v, "now": ops[k], "met": ops[k] <= v} for k, v in MARKET_TARGETS.items()
        },
        "seconds": round(t[0], 2),
        "peak_rss_mb": peak_rss_mb(),
    }


# ---------------------------------------------------------------------------- coordination gas


GAS_MEMBERS = 100
GAS_INTERVALS = 16


def measure_coordination_gas() -> dict[str, int]:
    """Gas of each coordination operation on a fresh chain, from real receipts.

    A DSO publishes a 4-hour request (16 intervals, meter-before baseline over the hour before);
    one member opts in from its wallet, 100 more by signatures relayed in one batch; the
    aggregator proposes a coalition of 100 members x 16 intervals (two reserves), the DSO
    accepts, a member is replaced; the oracle commits every member's meter data (the baseline
    hour and the window, every member delivering 550 Wh an interval) and the aggregator
    proposes the settlement of the 101 rows in one transaction: the contract checks every
    row's flags against the MeterOracle's commitments (read as bitmap words, one
    ``committedWords`` call for the batch) and computes each member's payout, uncovered
    penalty and points (``propose_settlement_per_member_batch_100``). One row is proposed 1 Wh
    wrong and disputed with its 20 readings and their Merkle proofs
    (``dispute_one_member_100x16``); after the challenge window the settlement is finalized
    (``finalize_per_member_batch_100``: payouts and points credited, refund and bond paid).
    A second request of the same shape is proposed with no meter data at all, every interval
    flagged (``propose_settlement_per_member_batch_100_unmetered``). The members' meters are
    enrolled, so the client fills in each row's meter index.
    """
    from chain.anvil import Anvil
    from chain.compiler import compile_contracts
    from chain.deploy import deploy_platform
    from chain.domain import Role
    from chain.oracles import MeterOracleClient
    from chain.platform import Platform, connect, dev_accounts, make_sender
    from core.oracle_codec import MeterValue
    from core.settings import DEV_MNEMONIC
    from settlement.disputes import row_evidence
    from settlement.service import MeterValues

    artifacts = compile_contracts()
    admin, dso, agg, oracle, direct = dev_accounts(DEV_MNEMONIC, 5)
    n_members = GAS_MEMBERS + 2
    members = [Account.from_key(keccak(text=f"bright-gas-member-{i}")) for i in range(n_members)]
    n, tol, price, target = GAS_INTERVALS, 1000, 200, 500
    load, delivered = 1000, upper_wh(target, tol)
    quantity = target * GAS_MEMBERS
    ops: dict[str, int] = {}
    with Anvil(accounts=5) as anvil:
        w3 = connect(anvil.url)
        deployment = deploy_platform(w3, make_sender(w3, admin, artifacts), artifacts)
        platform = Platform(w3, deployment, artifacts)
        for name in ("FlexCoordination", "CoordinationSettlement"):
            deployed = deployment.contracts[name]
            ops[f"deploy_{name}"] = _gas(
                w3.eth.get_transaction_receipt(deployed.tx_hash)  # type: ignore[arg-type]
            )
        address = deployment.contracts["FlexCoordination"].address
        registrations = [
            (dso.address, Role.DSO, "feeder-1", ""),
            (agg.address, Role.AGGREGATOR, "feeder-1", ""),
            (oracle.address, Role.ORACLE, "feeder-1", ""),
            (direct.address, Role.PROSUMER, "feeder-1", "meter-direct"),
        ]
        registrations += [
            (m.address, Role.PROSUMER, "feeder-1", f"meter-{i}") for i, m in enumerate(members)
        ]
        platform.registry(admin).register_batch(registrations)
        meters = MeterOracleClient(
            w3, deployment.address("MeterOracle"), artifacts["MeterOracle"], platform.sender(oracle)
        )
        meters.enrol_meters([f"meter-{i}" for i in range(n_members)] + ["meter-direct"])
        platform.token(admin).mint_batch([(dso.address, 10**15), (agg.address, 10**15)])
        platform.token(dso).approve(address, 10**15)
        client = coordination_client(w3, address, artifacts, platform.sender(dso))
        aggregator = coordination_client(w3, address, artifacts, platform.sender(agg))
        aggregator.ensure_bond_allowance()
        nonce = 0

        def commit(start_s: int, wh: int) -> None:
            nonlocal nonce
            values = [MeterValue(f"meter-{i}", start_s, wh, 0) for i in range(n_members)]
            nonce += 1
            meters.commit(oracle, values, nonce=nonce)

        def run(metered: bool) -> tuple[int, list[CoalitionRow], TxReceipt, int]:
            """One request through to its settlement's proposal; the request id, its rows,
            the proposal's receipt and the window start."""
            now = int(w3.eth.get_block("latest")["timestamp"])
            start = (now // INTERVAL_S + 8) * INTERVAL_S
            escrow = required_escrow([quantity] * n, tol, price)
            receipt, rid = client.publish_request(
                start, [quantity] * n, tol, price, start - INTERVAL_S, escrow, grid_area="feeder-1"
            )
            ops.setdefault("publish_request_16_intervals", _gas(receipt))
            member_client = coordination_client(w3, address, artifacts, platform.sender(direct))
            ops.setdefault("opt_in_direct", _gas(member_client.opt_in(rid, 2000)))
            signed = [aggregator.sign_opt_in(m, rid, 2000) for m in members]
            gas = _gas(aggregator.opt_in_signed(rid, signed[:GAS_MEMBERS])) // GAS_MEMBERS
            ops.setdefault("opt_in_signed_batch_per_member", gas)
            aggregator.opt_in_signed(rid, signed[GAS_MEMBERS:])
            rows = [
                CoalitionRow(m.address, f"meter-{i}", (target,) * n)
                for i, m in enumerate(members[:GAS_MEMBERS])
            ]
            reserves = [members[GAS_MEMBERS].address, members[GAS_MEMBERS + 1].address]
            gas = _gas(aggregator.propose_coalition(rid, price, rows, reserves))
            ops.setdefault("propose_coalition_100x16", gas)
            ops.setdefault("propose_coalition_per_member", gas // GAS_MEMBERS)
            ops.setdefault("accept_coalition", _gas(client.accept_coalition(rid)))
            receipt, rows = aggregator.replace_member(
                rid, rows, members[0].address, reserves[0], f"meter-{GAS_MEMBERS}", n // 2
            )
            ops.setdefault("replace_member_100x16", _gas(receipt))
            end = start + n * INTERVAL_S
            w3.provider.make_request("evm_setNextBlockTimestamp", [end + 60])  # type: ignore[arg-type]
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            if metered:  # the baseline hour, then every member delivering in every interval
                for k in range(-4, n):
                    commit(start + k * INTERVAL_S, load if k < 0 else load - delivered)
            figures = [
                MemberDeliveries(
                    (delivered if metered else 0,) * n,
                    (0,) * n,
                    (0,) * n,
                    frozenset() if metered else frozenset(range(n)),
                )
                for _ in rows
            ]
            if metered:  # row 1 proposed 1 Wh wrong in its first interval: disputed below
                figures[1] = MemberDeliveries((delivered + 1,) + (delivered,) * (n - 1), (0,) * n,
                                              (0,) * n)
            return rid, rows, aggregator.propose_settlement(rid, rows, figures), start

        rid, rows, receipt, _ = run(metered=True)
        ops["propose_settlement_101_members_x16_total"] = _gas(receipt)
        ops["propose_settlement_per_member_batch_100"] = _gas(receipt) // len(rows)
        values = MeterValues(meters)
        values.refresh()
        proposal = aggregator.settlement_proposal(rid)
        assert proposal is not None
        readings = row_evidence(aggregator.request(rid), rows[1], values)
        disputer = coordination_client(w3, address, artifacts, platform.sender(direct))
        ops["dispute_one_member_100x16"] = _gas(
            disputer.dispute_settlement(rid, rows, proposal, 1, readings)
        )
        info = aggregator.request(rid)
        w3.provider.make_request("evm_setNextBlockTimestamp", [info.challenge_ends_s])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        proposal = aggregator.settlement_proposal(rid)
        assert proposal is not None
        receipt = aggregator.finalize_settlement(rid, rows, proposal)
        ops["finalize_101_members_total"] = _gas(receipt)
        ops["finalize_per_member_batch_100"] = _gas(receipt) // len(rows)
        _, rows, receipt, _ = run(metered=False)
        ops["propose_settlement_per_member_batch_100_unmetered"] = _gas(receipt) // len(rows)
        w3.eth.send_transaction(
            {"from": admin.address, "to": members[1].address, "value": 10**17}  # type: ignore[typeddict-item]
        )
        paid = coordination_client(w3, address, artifacts, platform.sender(members[1]))
        ops["claim_payout"] = _gas(paid.claim_payout())
    return ops
