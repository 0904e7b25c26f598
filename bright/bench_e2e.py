"""``bright bench e2e``: seconds from a bid's transaction being mined to the bid being visible
in the REST API, with real 1 s blocks, through the embedded bus and through Kafka.

For each bus a fresh anvil (``--block-time``), the platform, the read side of that bus and the
API (uvicorn in a thread) are started; one member logs in with its wallet (Sign-In with
Ethereum) and places ``bids`` bids, ten per block. A watcher notes when each block is first
seen; the member polls ``GET /orders`` every 20 ms; a bid's latency is the time from its block
being seen to the bid being listed. The two buses are compared in the same run.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct

from chain.anvil import Anvil
from chain.compiler import compile_contracts
from chain.deploy import deploy_platform
from chain.domain import Role
from chain.indexer import web3_rpc
from chain.platform import Platform, connect, dev_accounts, make_sender
from core.benchutil import peak_rss_mb, percentile
from core.rules import Side
from core.settings import DEV_MNEMONIC

PER_BLOCK = 10


def _log(msg: str) -> None:
    print(f"[bench e2e] {msg}", file=sys.stderr, flush=True)


def _login(api_url: str, account: Any) -> str:
    from api.security import Expected, expected_message

    with httpx.Client(base_url=api_url, timeout=10) as client:
        n = client.get("/auth/nonce").raise_for_status().json()
        expected = Expected(n["domain"], n["uri"], n["chain_id"])
        text = expected_message(account.address, expected, n["nonce"], 300, "bench").to_text()
        sig = Account.sign_message(encode_defunct(text=text), private_key=account.key)
        body = {"message": text, "signature": "0x" + bytes(sig.signature).hex()}
        return str(client.post("/auth/login", json=body).raise_for_status().json()["access_token"])


def _run(bus: str, bids: int, block_time_s: float, workdir: Path) -> dict[str, Any]:
    from api.server import start_in_thread
    from api.settings import ApiSettings
    from streams.db import open_database
    from streams.runner import EmbeddedRunner
    from streams.store import ReadModelStore

    artifacts = compile_contracts()
    admin, operator, trader = dev_accounts(DEV_MNEMONIC, 3)
    db_url = f"sqlite:///{workdir / f'{bus}.sqlite'}"
    with Anvil(accounts=3, block_time=block_time_s) as anvil:
        w3 = connect(anvil.url)
        deployment = deploy_platform(w3, make_sender(w3, admin, artifacts), artifacts)
        platform = Platform(w3, deployment, artifacts)
        platform.registry(admin).register_batch(
            [
                (operator.address, Role.MARKET_OPERATOR, "feeder-1", ""),
                (trader.address, Role.PROSUMER, "feeder-1", "meter-bench"),
            ]
        )
        platform.token(admin).mint(trader.address, 10**15)
        platform.token(trader).approve(deployment.address("FlexMarket"), 10**15)
        platform.market(trader).deposit(10**14)
        now = int(w3.eth.get_block("latest")["timestamp"])
        start = (now // 900 + 8) * 900
        _, sid = platform.market(operator).open_session(start, 900, start - 300)

        read_side: Any
        if bus == "kafka":
            from streams.kafka.pipeline import KafkaReadSide

            read_side = KafkaReadSide(
                web3_rpc(w3), deployment, artifacts, db_url, workdir / bus
            ).start(poll_interval_s=0.1)
        else:
            store = ReadModelStore(open_database(db_url))
            read_side = EmbeddedRunner.build(web3_rpc(w3), deployment, store, artifacts)
            read_side.poll_once()
            read_side.start(poll_interval_s=0.1)
        api = start_in_thread(
            ApiSettings(
                database_url=db_url,
                rpc_url=anvil.url,
                port=0,
                chain_id=deployment.chain_id,
                market_address=deployment.address("FlexMarket"),
            )
        )
        seen: dict[int, float] = {}
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                n = int(w3.eth.block_number)
                seen.setdefault(n, time.perf_counter())
                time.sleep(0.01)

        visible: dict[int, float] = {}
        token = _login(api.url, trader)

        def poll() -> None:
            with httpx.Client(
                base_url=api.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
            ) as client:
                while not stop.is_set():
                    got = client.get("/orders", params={"session_id": sid, "limit": 500})
                    t = time.perf_counter()
                    for o in got.json().get("data", []):
                        visible.setdefault(int(o["order_id"]), t)
                    time.sleep(0.02)

        threads = [threading.Thread(target=f, daemon=True) for f in (watch, poll)]
        for th in threads:
            th.start()
        try:
            market = platform.market(trader)
            sender = market.sender
            assert sender is not None
            mined_block: dict[int, int] = {}
            for first in range(0, bids, PER_BLOCK):
                hashes = [
                    sender.send(
                        sender.build(
                            market.contract.functions.placeOrder(sid, int(Side.BID), 100, 50),
                            gas=200_000,
                        )
                    )
                    for _ in range(min(PER_BLOCK, bids - first))
                ]
                for h in hashes:
                    receipt = sender.wait(h)
                    [event] = market.events(receipt, "OrderPlaced")
                    mined_block[int(event["args"]["orderId"])] = int(receipt["blockNumber"])
            deadline = time.perf_counter() + 60
            while len(visible) < bids and time.perf_counter() < deadline:
                time.sleep(0.1)
        finally:
            stop.set()
            for th in threads:
                th.join(timeout=5)
            api.stop()
            read_side.stop()
    latencies = [
        visible[oid] - seen[block]
        for oid, block in mined_block.items()
        if oid in visible and block in seen
    ]
    if len(latencies) < bids:
        _log(f"{bus}: only {len(latencies)} of {bids} bids became visible in time")
    return {
        "bids": bids,
        "visible": len(latencies),
        "median_s": round(percentile(latencies, 50), 3) if latencies else None,
        "p99_s": round(percentile(latencies, 99), 3) if latencies else None,
        "max_s": round(max(latencies), 3) if latencies else None,
    }


def bench_e2e(
    bids: int = 200, block_time_s: float = 1.0, buses: tuple[str, ...] = ("embedded", "kafka")
) -> dict[str, Any]:
    """Mined-to-visible latency of bids in the REST API, per bus (see the module docstring)."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bright-e2e-") as tmp:
        for bus in buses:
            _log(f"{bus}: {bids} bids with {block_time_s:g} s blocks ...")
            results[bus] = _run(bus, bids, block_time_s, Path(tmp))
    # The bids are placed while the previous ones are still being projected, so a bid's
    # latency also includes the queue in front of it: a fair end-to-end figure.
    return {
        "bench": "e2e",
        "block_time_s": block_time_s,
        "buses": results,
        "target_p99_s": 2.0,
        "meets_target": all(
            r["p99_s"] is not None and r["p99_s"] < 2.0 and r["visible"] == bids
            for r in results.values()
        ),
        "kafka_over_embedded_p99": (
            round(results["kafka"]["p99_s"] / results["embedded"]["p99_s"], 2)
            if {"kafka", "embedded"} <= results.keys()
            and results["kafka"]["p99_s"]
            and results["embedded"]["p99_s"]
            else None
        ),
        "peak_rss_mb": peak_rss_mb(),
    }
