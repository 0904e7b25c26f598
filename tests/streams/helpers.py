"""Helpers of the read-side tests: read models as plain data, the chain's own view."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from chain.domain import Role
from chain.indexer import ChainEvent
from streams.models import Participant, TokenBalance, TokenSupply
from streams.store import ReadModelStore


def read_models(store: ReadModelStore, chain_id: int) -> dict[str, Any]:
    """Every read-model row of ``chain_id`` as comparable plain data."""
    with store.sessions() as s:
        participants = {
            p.account: (p.role, p.grid_area, p.meter_id, p.active, p.aggregator, p.registered_block)
            for p in s.scalars(select(Participant).where(Participant.chain_id == chain_id))
        }
        balances = {
            (b.token, b.account): b.balance
            for b in s.scalars(select(TokenBalance).where(TokenBalance.chain_id == chain_id))
        }
        supplies = {
            t.token: t.total_supply
            for t in s.scalars(select(TokenSupply).where(TokenSupply.chain_id == chain_id))
        }
    return {"participants": participants, "balances": balances, "supplies": supplies}


def assert_matches_chain(store: ReadModelStore, platform: Any, accounts: list[str]) -> None:
    """The read models agree with the contracts' own state for ``accounts``."""
    models = read_models(store, platform.deployment.chain_id)
    registry = platform.registry()
    token = platform.token()
    for account in accounts:
        onchain = registry.participant(account)
        row = models["participants"].get(account)
        if onchain.role is Role.NONE:
            assert row is None, account
        else:
            assert row is not None, account
            assert row[0] == int(onchain.role)
            assert row[1] == onchain.grid_area
            assert row[2] == onchain.meter_id
            assert row[3] == onchain.active
            assert row[4] == onchain.aggregator
        bal = models["balances"].get((token.address, account), 0)
        assert bal == token.balance_of(account), account
    assert models["supplies"].get(token.address, 0) == token.total_supply()


# Synthetic chain events (property tests, faust tests)

TOKEN = "0x" + "7a" * 20
REGISTRY = "0x" + "5b" * 20
ZERO = "0x" + "00" * 20
ACCOUNTS = [f"0x{i:040x}" for i in range(1, 6)]


def _hash(block: int, branch: int = 0) -> str:
    return f"0x{branch:02x}{block:062x}"


def _event(kind: str, a: int, b: int, value: int) -> tuple[str, str, str, dict]:
    acc, other = ACCOUNTS[a], ACCOUNTS[b]
    if kind == "register":
        return (
            REGISTRY,
            "ParticipantRegistry",
            "ParticipantRegistered",
            {
                "account": acc,
                "role": 1 + value % 5,
                "gridArea": "0x" + f"{a:02x}" * 32,
                "meterId": "0x" + "6d" + "00" * 31,
            },
        )
    if kind in ("deactivate", "reactivate"):
        name = "ParticipantDeactivated" if kind == "deactivate" else "ParticipantReactivated"
        return (REGISTRY, "ParticipantRegistry", name, {"account": acc, "role": 1})
    if kind == "delegate":
        return (
            REGISTRY,
            "ParticipantRegistry",
            "AggregatorDelegated",
            {"member": acc, "aggregator": other},
        )
    if kind == "revoke":
        return (
            REGISTRY,
            "ParticipantRegistry",
            "AggregatorDelegationRevoked",
            {"member": acc, "aggregator": other},
        )
    if kind == "mint":
        return (TOKEN, "FlexToken", "Transfer", {"from": ZERO, "to": acc, "value": value})
    if kind == "burn":
        return (TOKEN, "FlexToken", "Transfer", {"from": acc, "to": ZERO, "value": value})
    return (TOKEN, "FlexToken", "Transfer", {"from": acc, "to": other, "value": value})


def _chain(chain_id: int, spec, branch: int = 0, first_block: int = 1) -> list[ChainEvent]:
    events, block, log = [], first_block, 0
    for kind, a, b, value, new_block in spec:
        if new_block and events:
            block, log = block + 1, 0
        address, contract, name, args = _event(kind, a, b, value)
        args = {k: (str(v) if isinstance(v, int) and v > 2**53 else v) for k, v in args.items()}
        events.append(
            ChainEvent(
                chain_id,
                block,
                _hash(block, branch),
                _hash(block, 99),
                log,
                address,
                contract,
                name,
                args,
            )
        )
        log += 1
    return events
