"""The demo community and bringing the whole platform up on one machine (``bright up``).

The community: an admin (account 0 of the development mnemonic), one aggregator, one DSO, one
oracle, one market operator, and one prosumer for each real CityLearn 2022 home (17), split
over two feeders. Everything is idempotent: on a chain that already holds the community
(a restarted demo chain) nothing is sent again.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from analytics.data.citylearn import HomeInfo, homes
from bright.members import MemberRow, import_members, read_community, read_models_url
from chain.anvil import Anvil
from chain.compiler import compile_contracts
from chain.deploy import PLATFORM_CONTRACTS, DeploymentsFile, deploy_platform, is_live
from chain.domain import Role
from chain.platform import Platform, connect, dev_accounts, make_sender
from core.errors import ConfigError
from core.settings import DEV_MNEMONIC, ChainSettings
from core.units import tokens_to_base
from streams.db import open_database

PROSUMER_START_TOKENS = tokens_to_base(1_000)
DSO_START_TOKENS = tokens_to_base(100_000)
AGGREGATOR_START_TOKENS = tokens_to_base(10_000)
COMMUNITY_FILE = Path(__file__).with_name("demo_community.csv")


@dataclass(frozen=True)
class Member:
    """One account of the demo community."""

    name: str
    role: Role
    account: LocalAccount
    grid_area: str
    meter_id: str = ""
    home: HomeInfo | None = None
    display_name: str = ""
    assets: tuple[dict[str, Any], ...] = ()

    @property
    def address(self) -> str:
        return str(self.account.address)


def demo_community(mnemonic: str = DEV_MNEMONIC, fetch_data: bool = True) -> list[Member]:
    """The demo community of ``bright/demo_community.csv`` (display names, roles, feeders,
    meters, assets), accounts derived from ``mnemonic`` in the file's order (account 0 is the
    admin); a home is the real CityLearn home of its meter id."""
    rows = read_community(COMMUNITY_FILE.read_text(), str(COMMUNITY_FILE), need_address=False)
    by_meter = {f"citylearn-2022/{h.home_id}": h for h in homes(fetch=fetch_data)}
    accounts = dev_accounts(mnemonic, 1 + len(rows))
    members, homes_seen = [], 0
    for row, account in zip(rows, accounts[1:], strict=True):
        home = by_meter.get(row.meter_id) if row.role is Role.PROSUMER else None
        if row.role is Role.PROSUMER:
            if home is None:
                raise ConfigError(f"{COMMUNITY_FILE} line {row.line}: no home {row.meter_id!r}")
            homes_seen += 1
        members.append(
            Member(
                name=f"home-{homes_seen:02d}" if home else row.role.label,
                role=row.role,
                account=account,
                grid_area=row.grid_area,
                meter_id=row.meter_id,
                home=home,
                display_name=row.display_name,
                assets=row.assets,
            )
        )
    return members


def register_community(
    platform: Platform, admin: LocalAccount, members: list[Member], database_url: str | None = None
) -> int:
    """Register the members not yet registered (:func:`bright.members.import_members`, the
    path of ``bright member import``), write the directory entries missing from
    ``database_url`` (when given: a member's own later changes stay), and fund them; returns
    how many were new."""
    rows = [
        MemberRow(m.display_name or m.name, m.role, m.grid_area, m.meter_id, m.address, m.assets)
        for m in members
    ]
    directory = None if database_url is None else open_database(database_url)
    try:
        imported = import_members(
            platform, admin, rows, directory, "demo community", keep_entries=True
        )
    finally:
        if directory is not None:
            directory.dispose()
    registry = platform.registry(admin)
    # the one demo oracle serves both feeders and the resampled homes no member holds, so it
    # may correct any meter's values (MeterOracle binds other oracles to their grid area)
    for m in members:
        if m.role is Role.ORACLE and not registry.has_role("METER_ADMIN_ROLE", m.address):
            registry.grant_role("METER_ADMIN_ROLE", m.address)
    token = platform.token(admin)
    payments = []
    for m in members:
        target = {
            Role.PROSUMER: PROSUMER_START_TOKENS,
            Role.DSO: DSO_START_TOKENS,
            Role.AGGREGATOR: AGGREGATOR_START_TOKENS,
        }.get(m.role, 0)
        if target and token.balance_of(m.address) == 0:
            payments.append((m.address, target))
    if payments:
        token.mint_batch(payments)
    return len(imported.registered)


def admin_account(settings: ChainSettings) -> LocalAccount:
    """The deploying/administering account: BRIGHT_DEPLOYER_KEY, or account 0 in development."""
    if settings.deployer_key:
        from eth_account import Account

        acct: LocalAccount = Account.from_key(settings.deployer_key)
        return acct
    if settings.env == "production":
        raise ConfigError("BRIGHT_DEPLOYER_KEY must be set in production")
    return dev_accounts(settings.mnemonic, 1)[0]


@dataclass
class RunningPlatform:
    """What ``bring_up`` started; ``stop()`` stops what it started and saves chain state."""

    platform: Platform
    members: list[Member]
    anvil: Anvil | None
    rpc_url: str
    deployed_now: bool
    registered_now: int
    seconds_to_ready: float
    timings: dict[str, float] = field(default_factory=dict)

    def stop(self) -> None:
        if self.anvil is not None:
            self.anvil.stop()

    def summary(self, show_keys: bool) -> dict[str, Any]:
        dep = self.platform.deployment
        return {
            "rpc_url": self.rpc_url,
            "chain_id": dep.chain_id,
            "contracts": {n: c.address for n, c in dep.contracts.items()},
            "start_block": dep.start_block,
            "deployed_now": self.deployed_now,
            "registered_now": self.registered_now,
            "seconds_to_ready": round(self.seconds_to_ready, 2),
            "members": [
                {
                    "name": m.name,
                    "role": m.role.label,
                    "address": m.address,
                    "grid_area": m.grid_area,
                    "meter_id": m.meter_id,
                    **({"private_key": "0x" + bytes(m.account.key).hex()} if show_keys else {}),
                }
                for m in self.members
            ],
        }


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def bring_up(settings: ChainSettings, fresh: bool = False, quiet: bool = False) -> RunningPlatform:
    """Start (or reach) the chain, deploy if needed, register the demo community."""
    say = (lambda _m: None) if quiet else _log
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    artifacts = compile_contracts()
    timings["compile_s"] = time.perf_counter() - t0
    deployments = DeploymentsFile(settings.deployments_file)
    anvil: Anvil | None = None
    if settings.rpc_url is None:
        state = settings.chain_state_file
        if fresh:  # the saved chain (and anvil's own file of earlier versions) goes
            for path in (state, state.with_name("state.json")):
                path.unlink(missing_ok=True)
        anvil = Anvil(
            port=settings.chain_port,
            host=settings.chain_host,
            block_time=settings.block_time,
            accounts=settings.accounts,
            mnemonic=settings.mnemonic,
            state_file=state,
            # a fresh chain only: a saved one keeps its own clock
            genesis_timestamp=None if state.exists() else settings.chain_start_time,
            log_file=settings.state_dir / "chain" / "anvil.log",
        )
        say(f"starting anvil on {anvil.url} (state: {state}{', reused' if state.exists() else ''})")
        anvil.start()
    url = settings.effective_rpc_url
    try:
        w3 = connect(url)
        timings["chain_s"] = time.perf_counter() - t0
        chain_id = int(w3.eth.chain_id)
        admin = admin_account(settings)
        deployment = None if fresh else deployments.get(chain_id)
        deployed_now = False
        if deployment is None or not is_live(w3, deployment, artifacts, PLATFORM_CONTRACTS):
            say("deploying contracts ...")
            sender = make_sender(w3, admin, artifacts, settings.tx_timeout_s)
            deployment = deploy_platform(w3, sender, artifacts)
            deployments.save(deployment)
            deployed_now = True
        timings["deploy_s"] = time.perf_counter() - t0
        platform = Platform(w3, deployment, artifacts, tx_timeout_s=settings.tx_timeout_s)
        members = demo_community(settings.mnemonic)
        registered = register_community(platform, admin, members, read_models_url(settings))
        timings["community_s"] = time.perf_counter() - t0
    except BaseException:
        if anvil is not None:
            anvil.stop()
        raise
    elapsed = time.perf_counter() - t0
    _write_demo_file(settings, deployment.chain_id, url, members)
    return RunningPlatform(
        platform, members, anvil, url, deployed_now, registered, elapsed, timings
    )


def _write_demo_file(
    settings: ChainSettings, chain_id: int, url: str, members: list[Member]
) -> None:
    """``.bright/demo.json``: the demo's URL and accounts, for local tools (never committed)."""
    path = settings.state_dir / "demo.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "rpc_url": url,
        "chain_id": chain_id,
        "members": [{"name": m.name, "role": m.role.label, "address": m.address} for m in members],
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)
