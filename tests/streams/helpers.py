"""Helpers of the read-side tests: read models as plain data, the chain's own view."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from chain.domain import Role
from chain.indexer import ChainEvent
from streams.models import (
    MarketDeposit,
    MarketMatch,
    MarketOrder,
    MarketSession,
    Participant,
    TokenBalance,
    TokenSupply,
)
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
        sessions = {
            (m.market, m.session_id): (
                m.status,
                m.order_count,
                m.cancel_count,
                m.price_per_kwh,
                m.volume_wh,
                m.match_count,
                m.escrowed,
                m.rule,
            )
            for m in s.scalars(select(MarketSession).where(MarketSession.chain_id == chain_id))
        }
        orders = {
            (o.market, o.session_id, o.order_id): (
                o.trader,
                o.side,
                o.qty_wh,
                o.cancelled,
                o.filled_wh,
            )
            for o in s.scalars(select(MarketOrder).where(MarketOrder.chain_id == chain_id))
        }
        deposits = {
            (d.market, d.account): (d.deposited, d.withdrawn)
            for d in s.scalars(select(MarketDeposit).where(MarketDeposit.chain_id == chain_id))
        }
        matches = sorted(
            (m.block_number, m.log_index, m.session_id, m.bid_id, m.offer_id, m.qty_wh)
            for m in s.scalars(select(MarketMatch).where(MarketMatch.chain_id == chain_id))
        )
    return {
        "participants": participants,
        "balances": balances,
        "supplies": supplies,
        "sessions": sessions,
        "orders": orders,
        "matches": matches,
        "deposits": deposits,
    }


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


MARKET = "0x" + "4c" * 20


def _market_event(kind: str, a: int, b: int, value: int, orders: dict[int, int], branch: int):
    """FlexMarket events; order ids count up per session as on the chain."""
    sid = a + 10 * branch  # a branch's sessions are its own: no order id collides
    if kind == "open":
        return (
            MARKET,
            "FlexMarket",
            "SessionOpened",
            {
                "sessionId": sid,
                "params": {
                    "deliveryStart": 9000 + sid,
                    "durationS": 900,
                    "gateClosure": 8000,
                    "revealDeadline": 0,
                    "product": value % 2,
                    "rule": value % 3,
                    "sealedBids": False,
                    "gridArea": "0x" + "66" * 4 + "00" * 28,
                    "toleranceBp": value % 10_000,
                    "penaltyPerKwh": value % 90_000,
                    "orderBond": value * 7,
                    "baselineIntervals": 1 + value % 3,
                    "baselineGapIntervals": 0,
                    "settleDelayS": 900,
                },
            },
        )
    if kind in ("deposit", "withdraw"):
        name = "Deposited" if kind == "deposit" else "Withdrawn"
        return (MARKET, "FlexMarket", name, {"account": ACCOUNTS[b], "amount": value})
    n = orders.get(sid, 0)
    if kind == "place" or n == 0:
        orders[sid] = n + 1
        return (
            MARKET,
            "FlexMarket",
            "OrderPlaced",
            {
                "sessionId": sid,
                "orderId": n,
                "trader": ACCOUNTS[b],
                "side": value % 2,
                "qtyWh": value % 5000 + 1,
                "pricePerKwh": value % 300 + 1,
                "gridArea": "0x" + "66" * 4 + "00" * 28,
            },
        )
    if kind == "seller":
        return (
            MARKET,
            "FlexMarket",
            "SellerSettled",
            {
                "sessionId": sid,
                "seller": ACCOUNTS[b],
                "filledWh": value % 5000,
                "deliveredWh": value % 7000 - 2000,
                "creditedWh": value % 3000,
                "shortfallWh": value % 900,
                "earned": value * 11,
                "penalty": value % 500,
                "missingData": value % 5 == 0,
            },
        )
    if kind == "refund":
        return (
            MARKET,
            "FlexMarket",
            "BuyerRefunded",
            {
                "sessionId": sid,
                "orderId": value % n,
                "buyer": ACCOUNTS[b],
                "paid": value * 3,
                "refund": value,
            },
        )
    if kind == "settled":
        return (
            MARKET,
            "FlexMarket",
            "SessionSettled",
            {
                "sessionId": sid,
                "settler": ACCOUNTS[b],
                "earned": value * 5,
                "penalties": value % 700,
                "refunds": value * 2,
                "dust": value % 3,
            },
        )
    if kind == "voided":
        return (
            MARKET,
            "FlexMarket",
            "SessionVoided",
            {"sessionId": sid, "by": ACCOUNTS[b], "released": value},
        )
    if kind == "cancel":
        return (
            MARKET,
            "FlexMarket",
            "OrderCancelled",
            {"sessionId": sid, "orderId": value % n, "by": ACCOUNTS[b]},
        )
    if kind == "match":
        return (
            MARKET,
            "FlexMarket",
            "OrderMatched",
            {
                "sessionId": sid,
                "bidId": value % n,
                "offerId": (value // 7) % n,
                "qtyWh": value % 1000 + 1,
                "pricePerKwh": value % 200,
            },
        )
    return (
        MARKET,
        "FlexMarket",
        "SessionCleared",
        {
            "sessionId": sid,
            "pricePerKwh": value % 200,
            "volumeWh": value,
            "matchCount": n,
            "escrowed": value * 3,
            "resultHash": "0x" + "ab" * 32,
        },
    )


MARKET_KINDS = (
    "open",
    "place",
    "cancel",
    "match",
    "cleared",
    "deposit",
    "withdraw",
    "seller",
    "refund",
    "settled",
    "voided",
)


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
    orders: dict[int, int] = {}
    for kind, a, b, value, new_block in spec:
        if new_block and events:
            block, log = block + 1, 0
        if kind in MARKET_KINDS:
            address, contract, name, args = _market_event(kind, a, b, value, orders, branch)
        else:
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
