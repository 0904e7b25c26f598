"""``bench_api``: requests/s and p99 latency of the main read routes, 50 concurrent clients,
against read models in PostgreSQL.

Set-up, all real and on loopback: a throw-away PostgreSQL (:mod:`streams.postgres`), a fresh
anvil with the demo community trading ``rounds`` sessions (:mod:`bright.demo_market`), the
events projected by the embedded indexer into PostgreSQL, and the API under uvicorn in its own
process (one worker). Each client logs in with its own home's wallet (EIP-4361), then
``clients`` asyncio tasks, each with its own httpx client and connection, hit one route at a
time in a closed loop. The baseline, measured in the same run the same way, is ``/health``
(no database, no token): the ratio says what the read path costs on top of the HTTP stack.
On the 2-core machine the load generator and the server share the cores, so absolute numbers
are a floor.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from core.benchutil import peak_rss_mb, percentile
from core.paths import ROOT

BASELINE = "health"


def _routes(last_session: int) -> dict[str, str]:
    return {
        BASELINE: "/health",
        "sessions": "/sessions?limit=20",
        "session": f"/sessions/{last_session}",
        "depth": f"/sessions/{last_session}/depth",
        "orders_own": "/orders?limit=50",
        "matches_own": "/matches?limit=50",
        "matches_summary": "/matches/summary?limit=20",
        "balances_own": "/balances",
    }


def _login(base: str, account: Any) -> str:
    from eth_account import Account
    from eth_account.messages import encode_defunct

    from api.security import Expected, expected_message

    n = httpx.get(f"{base}/auth/nonce", timeout=10).json()
    msg = expected_message(
        account.address, Expected(n["domain"], n["uri"], n["chain_id"]), n["nonce"], 120
    ).to_text()
    sig = Account.sign_message(encode_defunct(text=msg), private_key=account.key).signature
    r = httpx.post(
        f"{base}/auth/login",
        json={"message": msg, "signature": "0x" + bytes(sig).hex()},
        timeout=10,
    )
    r.raise_for_status()
    return str(r.json()["access_token"])


async def _load(
    base: str, path: str, tokens: list[str], clients: int, seconds: float
) -> dict[str, float | int]:
    """``clients`` closed-loop clients on ``path`` for ``seconds``, each with its own
    connection (one httpx.AsyncClient per client: a pool shared by 50 tasks makes httpx, not
    the server, the bottleneck)."""
    latencies: list[float] = []
    errors = 0
    one_conn = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    https = [
        httpx.AsyncClient(
            base_url=base,
            limits=one_conn,
            timeout=30,
            headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}"},
        )
        for i in range(clients)
    ]

    async def one(http: httpx.AsyncClient, until: float, record: bool) -> None:
        nonlocal errors
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            r = await http.get(path)
            dt = time.perf_counter() - t0
            if not record:
                continue
            if r.status_code == 200:
                latencies.append(dt)
            else:
                errors += 1

    try:
        warm = time.perf_counter() + min(0.5, seconds / 4)
        await asyncio.gather(*(one(h, warm, False) for h in https))
        t0 = time.perf_counter()
        until = t0 + seconds
        await asyncio.gather(*(one(h, until, True) for h in https))
        elapsed = time.perf_counter() - t0
    finally:
        for h in https:
            await h.aclose()
    if not latencies:
        raise RuntimeError(f"no successful request to {path} ({errors} errors)")
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
    }


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the API server did not answer at {url}")


def bench_api(
    clients: int = 50, seconds: float = 10, rounds: int = 4, quiet: bool = True
) -> dict[str, Any]:
    """Measure the API; ``seconds`` is the measured time in total, split evenly over the
    routes (baseline included). Returns one JSON-serialisable dict."""
    from bright.demo import bring_up
    from bright.demo_market import DemoMarket
    from chain.anvil import free_port
    from chain.domain import Role
    from chain.indexer import web3_rpc
    from core.settings import ChainSettings
    from streams.db import open_database
    from streams.postgres import PostgresServer
    from streams.runner import EmbeddedRunner
    from streams.store import ReadModelStore

    def say(msg: str) -> None:
        if not quiet:
            print(msg, file=sys.stderr, flush=True)

    work = Path(tempfile.mkdtemp(prefix="bright-bench-api-"))
    # A folder of its own: PostgresServer hands it to the postgres user when we run as root.
    pg_dir = Path(tempfile.mkdtemp(prefix="bright-bench-api-pg-"))
    pg = PostgresServer(pg_dir)
    proc: subprocess.Popen[bytes] | None = None
    running = None
    t_setup = time.perf_counter()
    try:
        say("starting PostgreSQL and the demo chain ...")
        pg.start()
        db_url = pg.create_database()
        running = bring_up(
            ChainSettings(state_dir=work / "state", chain_port=free_port()), quiet=True
        )
        market = DemoMarket(running.platform, running.members)
        market.fund()
        for _ in range(rounds):
            market.round()
        dep = running.platform.deployment
        engine = open_database(db_url)
        runner = EmbeddedRunner.build(
            web3_rpc(running.platform.w3), dep, ReadModelStore(engine), running.platform.artifacts
        )
        runner.poll_once()
        engine.dispose()
        last_session = running.platform.market().session_count()
        homes = [m.account for m in running.members if m.role is Role.PROSUMER]
        running.stop()  # the API reads the read models only
        running = None

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "BRIGHT_API_ENV": "test",
            "BRIGHT_API_JWT_SECRET": secrets.token_urlsafe(48),
            "BRIGHT_API_DATABASE_URL": db_url,
            "BRIGHT_API_CHAIN_ID": str(dep.chain_id),
            "BRIGHT_API_MARKET_ADDRESS": dep.address("FlexMarket"),
            "BRIGHT_API_SIWE_DOMAIN": f"127.0.0.1:{port}",
            "BRIGHT_API_SIWE_URI": base,
        }
        say(f"starting the API on {base} ...")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api.main:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=ROOT,
            env=env,
        )
        _wait_http(f"{base}/health", proc)
        tokens = [_login(base, a) for a in homes]
        setup_s = time.perf_counter() - t_setup
        routes = _routes(last_session)
        per_route = max(0.5, seconds / len(routes))
        results: dict[str, dict[str, float | int]] = {}
        for name, path in routes.items():
            say(f"{name}: {clients} clients for {per_route:.1f} s on {path}")
            results[name] = asyncio.run(_load(base, path, tokens, clients, per_route))
        base_rps = float(results[BASELINE]["rps"])
        base_p99 = float(results[BASELINE]["p99_ms"])
        return {
            "benchmark": "api",
            "clients": clients,
            "seconds_per_route": round(per_route, 2),
            "database": "postgresql",
            "server": "uvicorn, 1 worker process, loopback",
            "rounds": rounds,
            "sessions": last_session,
            "routes": results,
            "baseline": BASELINE,
            "rps_ratio_to_baseline": {
                n: round(float(r["rps"]) / base_rps, 3) for n, r in results.items()
            },
            "p99_ratio_to_baseline": {
                n: round(float(r["p99_ms"]) / base_p99, 2) for n, r in results.items()
            },
            "setup_s": round(setup_s, 1),
            "peak_rss_mb": _stop_and_rss(proc),
        }
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(10)
        if running is not None:
            running.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pg_dir, ignore_errors=True)


def _stop_and_rss(proc: subprocess.Popen[bytes]) -> float:
    """Stop the server and wait for it, so its peak memory counts among the children's."""
    proc.terminate()
    proc.wait(10)
    return peak_rss_mb()
