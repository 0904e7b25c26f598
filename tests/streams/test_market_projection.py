"""FlexMarket read models (sessions, orders, matches, deposits, settlements on delivery) from
the shared anvil: the read models must say what the contract and its events say, on SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from chain.domain import Role
from chain.errors import revert_error
from chain.indexer import web3_rpc
from chain.market import MarketTerms
from chain.oracles import MeterOracleClient
from core.oracle_codec import MeterValue
from core.rules import PricingRule, Side
from matching.engine import clear
from matching.service import engine_orders
from settlement.market import MarketSettler
from streams.models import (
    MarketDeposit,
    MarketMatch,
    MarketOrder,
    MarketSellerSettlement,
    MarketSession,
)
from streams.runner import EmbeddedRunner

DEPOSIT = 10**12
OPERATOR, TRADERS, ORACLE = 1, range(2, 8), 24
TERMS = MarketTerms(tolerance_bp=1000, penalty_per_kwh=30, order_bond=10, settle_delay_s=60)


def _now(w3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def test_market_session_read_models(platform, dev_accounts, snapshot, store, w3, artifacts):
    admin = dev_accounts[0]
    rows = [(dev_accounts[OPERATOR].address, Role.MARKET_OPERATOR, "feeder-1", "")]
    rows += [(dev_accounts[i].address, Role.PROSUMER, "feeder-1", f"meter-{i}") for i in TRADERS]
    rows.append((dev_accounts[ORACLE].address, Role.ORACLE, "feeder-1", ""))
    platform.registry(admin).register_batch(rows)
    meters = MeterOracleClient(
        w3,
        platform.deployment.address("MeterOracle"),
        artifacts["MeterOracle"],
        platform.sender(dev_accounts[ORACLE]),
    )
    meters.enrol_meters([f"meter-{i}" for i in TRADERS])
    platform.token(admin).mint_batch([(dev_accounts[i].address, 10 * DEPOSIT) for i in TRADERS])
    market_address = platform.deployment.address("FlexMarket")
    for i in TRADERS:
        platform.token(dev_accounts[i]).approve(market_address, 10 * DEPOSIT)
        platform.market(dev_accounts[i]).deposit(DEPOSIT)
    op = platform.market(dev_accounts[OPERATOR])
    start = (_now(w3) // 900 + 4) * 900
    _, sid = op.open_session(
        start, 900, start - 1800, rule=PricingRule.UNIFORM, grid_area="feeder-1", terms=TERMS
    )
    orders = [
        (0, Side.BID, 2000, 140),
        (1, Side.OFFER, 1500, 80),
        (2, Side.BID, 1000, 120),
        (3, Side.OFFER, 2500, 100),
        (4, Side.BID, 700, 90),
        (5, Side.OFFER, 800, 130),
    ]
    for k, side, qty, price in orders:
        platform.market(dev_accounts[TRADERS[k]]).place_order(sid, side, qty, price)
    platform.market(dev_accounts[TRADERS[4]]).cancel_order(sid, 4)  # its own: effective
    with pytest.raises(revert_error("FlexMarketNotTrader")):  # not its own: refused
        platform.market(dev_accounts[TRADERS[0]]).cancel_order(sid, 5)
    w3.provider.make_request("evm_increaseTime", [op.session(sid).closes_at_s - _now(w3) + 1])
    w3.provider.make_request("evm_mine", [])
    book = op.book(sid)
    result = clear(engine_orders(book), PricingRule.UNIFORM)
    matches_in = [(m.bid_id, m.offer_id, m.qty_wh) for m in result.matches]
    op.clear_session(sid, op.clearing_args(book, matches_in, result.price_per_kwh))
    assert result.matches
    # Delivery: the sellers' meters, committed; anyone settles.
    info = op.session(sid)
    w3.provider.make_request("evm_increaseTime", [info.settle_opens_s - _now(w3) + 1])
    w3.provider.make_request("evm_mine", [])
    for k, t in enumerate((info.delivery_start_s - 900, info.delivery_start_s)):
        values = [MeterValue(f"meter-{i}", t, 1500 - 700 * k * (i % 2), 0) for i in TRADERS]
        meters.commit(dev_accounts[ORACLE], values, nonce=k + 1)
    settled = MarketSettler(op, meters, platform.registry()).settle(sid)
    assert settled is not None

    EmbeddedRunner.build(web3_rpc(w3), platform.deployment, store, artifacts).poll_once()

    info = op.session(sid)
    chain_id = platform.deployment.chain_id
    with store.sessions() as s:
        row = s.get(MarketSession, (chain_id, market_address, sid))
        assert row is not None and row.status == "settled"
        assert (row.earned, row.penalties, row.refunds, row.dust) == (
            settled.earned,
            settled.penalties,
            settled.refunds,
            settled.dust,
        )
        assert (row.tolerance_bp, row.penalty_per_kwh, row.order_bond) == (1000, 30, 10)
        sellers = {
            r.seller: (r.filled_wh, r.delivered_wh, r.credited_wh, r.earned, r.penalty)
            for r in s.scalars(
                select(MarketSellerSettlement).where(MarketSellerSettlement.session_id == sid)
            )
        }
        assert sellers == {
            a: (x.filled_wh, x.delivered_wh, x.credited_wh, x.earned, x.penalty)
            for a, x in settled.sellers.items()
        }
        refunds = {
            o.order_id: (o.paid, o.refund)
            for o in s.scalars(select(MarketOrder).where(MarketOrder.paid.is_not(None)))
        }
        assert refunds == {oid: (b.paid, b.refund) for oid, b in settled.buyers.items()}
        assert (row.delivery_start_s, row.duration_s, row.gate_closure_s) == (
            start,
            900,
            start - 1800,
        )
        assert row.grid_area == info.grid_area == "feeder-1"
        assert row.order_count == info.order_count == len(orders)
        assert row.cancel_count == 1
        assert row.price_per_kwh == info.clearing_price_per_kwh == result.price_per_kwh
        assert row.escrowed == info.escrowed
        assert row.volume_wh == result.volume_wh and row.match_count == len(result.matches)
        got = {
            o.order_id: (o.trader, o.side, o.qty_wh, o.price_per_kwh, o.cancelled, o.filled_wh)
            for o in s.scalars(
                select(MarketOrder).where(
                    MarketOrder.session_id == sid, MarketOrder.market == market_address
                )
            )
        }
        matches = [
            (m.bid_id, m.offer_id, m.qty_wh, m.price_per_kwh)
            for m in s.scalars(
                select(MarketMatch)
                .where(MarketMatch.session_id == sid)
                .order_by(MarketMatch.block_number, MarketMatch.log_index)
            )
        ]
    fills: dict[int, int] = {}
    for m in result.matches:
        fills[m.bid_id] = fills.get(m.bid_id, 0) + m.qty_wh
        fills[m.offer_id] = fills.get(m.offer_id, 0) + m.qty_wh
    expected = {
        o.order_id: (
            o.trader,
            int(o.side),
            o.qty_wh,
            o.price_per_kwh,
            o.order_id == 4,
            fills.get(o.order_id, 0),
        )
        for o in book.orders
    }
    assert got == expected
    assert matches == [(m.bid_id, m.offer_id, m.qty_wh, m.price_per_kwh) for m in result.matches]


def test_market_deposits_and_withdrawals(platform, dev_accounts, snapshot, store, w3, artifacts):
    """Deposits and withdrawals, indexed over several chunks, add up per account to the
    contract's own market balance (free + locked, no clearing yet)."""
    admin = dev_accounts[0]
    traders = [dev_accounts[i] for i in TRADERS]
    platform.registry(admin).register_batch(
        [(t.address, Role.PROSUMER, "feeder-1", f"meter-{n}") for n, t in enumerate(traders)]
    )
    platform.token(admin).mint_batch([(t.address, 10 * DEPOSIT) for t in traders])
    market_address = platform.deployment.address("FlexMarket")
    moves = [(0, 3 * DEPOSIT, 0), (1, DEPOSIT, DEPOSIT // 3), (2, 5, 5), (0, 7, DEPOSIT + 1)]
    for k, put, take in moves:
        t = traders[k]
        platform.token(t).approve(market_address, put)
        platform.market(t).deposit(put)
        if take:
            platform.market(t).withdraw(take)
    EmbeddedRunner.build(
        web3_rpc(w3), platform.deployment, store, artifacts, chunk_blocks=3
    ).poll_once()

    chain_id = platform.deployment.chain_id
    with store.sessions() as s:
        rows = {
            d.account: (d.deposited, d.withdrawn)
            for d in s.scalars(select(MarketDeposit).where(MarketDeposit.chain_id == chain_id))
        }
    expected: dict[str, tuple[int, int]] = {}
    for k, put, take in moves:
        a = traders[k].address
        d, w = expected.get(a, (0, 0))
        expected[a] = (d + put, w + take)
    assert rows == expected
    market = platform.market(admin)
    for account, (deposited, withdrawn) in rows.items():
        free, locked, _nonce = market.account(account)
        assert deposited - withdrawn == free + locked
    # a rebuild of the market projection from the stored events gives the same rows
    store.replay_projection("market", chain_id)
    with store.sessions() as s:
        again = {
            d.account: (d.deposited, d.withdrawn)
            for d in s.scalars(select(MarketDeposit).where(MarketDeposit.chain_id == chain_id))
        }
    assert again == rows


def test_market_deposits_migration_gives_the_model_and_downgrades(db_url):
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import inspect

    from streams.db import alembic_config, head_revision, make_engine, migrate, schema_revision
    from streams.models import Base

    engine = make_engine(db_url)
    try:
        migrate(engine)
        assert schema_revision(engine) == head_revision()
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert [d for d in diff if "market_deposits" in repr(d)] == []
        cfg = alembic_config(engine)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0005_coordination_intervals")
        names = set(inspect(engine).get_table_names())
        assert "market_deposits" not in names and "market_orders" in names
        migrate(engine)
        assert "market_deposits" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
