"""Helpers of the read-side tests: read models as plain data, the chain's own view."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from chain.domain import Role
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
