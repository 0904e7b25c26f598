"""The market's benchmarks: gas of every market operation from real receipts
(:func:`measure_market_gas`, part of ``bright bench gas``) and the operator's latencies on a
chain with real blocks (:func:`bench_market`, ``bright bench market``).

Both build a community on a fresh anvil (:class:`MarketLab`): the platform deployed, traders
registered on two feeders with enrolled meters and funded market deposits, an operator and an
oracle. A session then runs its whole life: signed orders relayed in batches of 100, the
clearing checked on-chain, the meters committed by the oracle, the settlement on delivery from
the readings and their Merkle proofs, the withdrawals.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Sequence
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import RPCEndpoint, TxReceipt

from chain.anvil import Anvil
from chain.compiler import Artifact, compile_contracts
from chain.deploy import deploy_platform
from chain.domain import Role
from chain.market import FlexMarketClient, MarketTerms, SignedOrder
from chain.oracles import MeterOracleClient
from chain.platform import Platform, connect, dev_accounts, make_sender
from core.benchutil import peak_rss_mb
from core.oracle_codec import MeterValue
from core.rules import PricingRule, Side, needed_intervals
from core.settings import DEV_MNEMONIC
from core.units import INTERVAL_S
from matching.service import engine_orders
from settlement.market import MarketSettler

BATCH = 100
TERMS = MarketTerms(tolerance_bp=1000, penalty_per_kwh=50, order_bond=1000)


def _gas(receipt: Any) -> int:
    return int(receipt["gasUsed"])


def _say(msg: str) -> None:
    print(f"[bench market] {msg}", file=sys.stderr, flush=True)


def random_book(n: int, traders: int, seed: int) -> list[tuple[int, Side, int, int]]:
    """(trader index, side, qty Wh, price per kWh) of a seeded book like the matching
    benchmark's (prices around 100 for bids, 90 for offers)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        side = Side(rng.randrange(2))
        price = max(0, round(rng.gauss(100.0 if side == Side.BID else 90.0, 25.0)))
        out.append((i % traders, side, rng.randint(1, 10_000), price))
    return out


class MarketLab:
    """A community on a fresh chain, to run market sessions through their whole life."""

    def __init__(self, anvil: Anvil, artifacts: dict[str, Artifact], traders: int) -> None:
        self.w3 = connect(anvil.url)
        accounts = dev_accounts(DEV_MNEMONIC, 3 + traders)
        self.admin, self.operator, self.oracle = accounts[:3]
        self.traders: list[LocalAccount] = list(accounts[3:])
        self.deployment = deploy_platform(
            self.w3, make_sender(self.w3, self.admin, artifacts), artifacts
        )
        self.platform = Platform(self.w3, self.deployment, artifacts)
        p = self.platform
        rows = [
            (self.operator.address, Role.MARKET_OPERATOR, "feeder-1", ""),
            (self.oracle.address, Role.ORACLE, "feeder-1", ""),
        ]
        rows += [
            (t.address, Role.PROSUMER, f"feeder-{1 + i % 2}", self.meter(i))
            for i, t in enumerate(self.traders)
        ]
        for k in range(0, len(rows), 100):
            p.registry(self.admin).register_batch(rows[k : k + 100])
        self.meters = MeterOracleClient(
            self.w3,
            self.deployment.address("MeterOracle"),
            artifacts["MeterOracle"],
            p.sender(self.oracle),
        )
        ids = [self.meter(i) for i in range(traders)]
        for k in range(0, traders, 200):
            self.meters.enrol_meters(ids[k : k + 200])
        for k in range(0, traders, 100):
            p.token(self.admin).mint_batch([(t.address, 10**15) for t in self.traders[k : k + 100]])
        self.market_address = self.deployment.address("FlexMarket")
        self.deposit_gas = self._fund()
        self.op: FlexMarketClient = p.market(self.operator)
        self.settler = MarketSettler(
            self.op, self.meters, p.registry(), from_block=self.deployment.start_block
        )
        self.nonce = 0
        self.signer_nonce: dict[str, int] = {}

    @staticmethod
    def meter(i: int) -> str:
        return f"meter-{i}"

    def _fund(self) -> int:
        """Every trader approves and deposits (sent without waiting, then awaited)."""
        gas = 0
        for step in ("approve", "deposit"):
            sent = []
            for t in self.traders:
                client = self.platform.token(t) if step == "approve" else self.platform.market(t)
                fn = (
                    client.contract.functions.approve(self.market_address, 10**15)
                    if step == "approve"
                    else client.contract.functions.deposit(10**14)
                )
                assert client.sender is not None
                sent.append(
                    (client.sender, client.sender.send(client.sender.build(fn, gas=200_000)))
                )
            receipts = [s.wait(h) for s, h in sent]
            if step == "deposit":
                gas = _gas(receipts[-1])
        return gas

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance_to(self, t_s: int) -> None:
        gap = t_s - self.now()
        if gap > 0:
            self.w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [gap])
        self.w3.provider.make_request(RPCEndpoint("evm_mine"), [])

    def open(
        self, lead_intervals: int = 4, terms: MarketTerms = TERMS
    ) -> tuple[TxReceipt, int, int]:
        start = (self.now() // INTERVAL_S + lead_intervals) * INTERVAL_S
        receipt, sid = self.op.open_session(start, INTERVAL_S, start - 300, terms=terms)
        return receipt, sid, start

    def signed(self, sid: int, book: Sequence[tuple[int, Side, int, int]]) -> list[SignedOrder]:
        out = []
        for i, side, qty, price in book:
            t = self.traders[i]
            n = self.signer_nonce.setdefault(t.address, self.op.account(t.address)[2])
            out.append(self.op.sign_order(t, sid, side, qty, price, nonce=n))
            self.signer_nonce[t.address] = n + 1
        return out

    def place_signed(self, sid: int, book: Sequence[tuple[int, Side, int, int]]) -> list[TxReceipt]:
        orders = self.signed(sid, book)
        return [
            self.op.place_signed_orders(sid, orders[k : k + BATCH])
            for k in range(0, len(orders), BATCH)
        ]

    def clear(self, sid: int, start: int) -> tuple[TxReceipt, int]:
        """Clear at the gate; the receipt and the number of matches."""
        from matching.engine import clear

        self.advance_to(start - 299)
        book = self.op.book(sid, self.deployment.start_block)
        result = clear(engine_orders(book), PricingRule.UNIFORM)
        matches = [(m.bid_id, m.offer_id, m.qty_wh) for m in result.matches]
        receipt = self.op.clear_session(
            sid, self.op.clearing_args(book, matches, result.price_per_kwh), gas=29_000_000
        )
        return receipt, len(matches)

    def commit_meters(
        self, intervals: Sequence[int], traders: range, seed: int = 0
    ) -> list[TxReceipt]:
        """The oracle commits every trader's meter for each interval (batches of 1,000)."""
        rng = random.Random(seed)
        receipts = []
        for t in intervals:
            values = [
                MeterValue(self.meter(i), t, rng.randint(200, 3000), rng.randint(0, 500))
                for i in traders
            ]
            for k in range(0, len(values), 1000):
                self.nonce += 1
                receipts.append(self.meters.commit(self.oracle, values[k : k + 1000], self.nonce))
        return receipts

    def withdraw_all(self, who: Sequence[LocalAccount]) -> list[int]:
        gas = []
        for t in who:
            free = self.platform.market().account(t.address)[0]
            if free:
                gas.append(_gas(self.platform.market(t).withdraw(free)))
        return gas


def measure_market_gas() -> dict[str, int]:
    """Gas of the market operations on a fresh chain, from real receipts.

    100 traders (two feeders) trade. Direct orders, cancellations and signed batches of 100
    (from 50 and from 100 distinct traders); sessions of 100 orders and of the largest size
    allowed (256) cleared under the uniform-price rule; the 100-order session settled on
    delivery (every seller's meter-before reading and delivery reading proven); the worst
    settlement a full session could need (every order but one a seller's, each with four
    readings, the most a session allows) estimated from a measured session of 50 such
    sellers; the whole
    life of an order in a batch of 100 (placed, cleared, settled, its share of the withdrawals).
    """
    artifacts = compile_contracts()
    ops: dict[str, int] = {}
    with Anvil(accounts=3 + 100) as anvil:
        lab = MarketLab(anvil, artifacts, traders=100)
        ops["deposit"] = lab.deposit_gas
        receipt, sid, start = lab.open()
        ops["open_session"] = _gas(receipt)
        direct = []
        for i, side, qty, price in random_book(100, 50, 1):
            receipt, _ = lab.platform.market(lab.traders[i]).place_order(sid, side, qty, price)
            direct.append(_gas(receipt))
        ops["place_order_direct_first_in_session"] = direct[0]
        ops["place_order_direct"] = round(sum(direct[1:]) / len(direct[1:]))
        chain_book = lab.op.book(sid)
        t0 = chain_book.orders[0].trader
        first = next(t for t in lab.traders if t.address == t0)
        ops["cancel_order_proof_32"] = _gas(
            lab.platform.market(first).cancel_order(sid, 0, chain_book)
        )
        last = chain_book.orders[-1]
        owner = next(t for t in lab.traders if t.address == last.trader)
        ops["cancel_order"] = _gas(
            lab.platform.market(owner).cancel_order(sid, last.order_id, lab.op.book(sid))
        )

        # Signed batches of 100: 50 traders (two orders each) and 100 distinct traders.
        _, sid, start = lab.open()
        book = random_book(100, 50, 100)
        [receipt] = lab.place_signed(sid, book)
        ops["place_order_signed_batch_per_order"] = _gas(receipt) // 100
        _, sid_distinct, _ = lab.open(lead_intervals=5)
        [receipt] = lab.place_signed(sid_distinct, random_book(100, 100, 101))
        ops["place_order_signed_batch_per_order_100_traders"] = _gas(receipt) // 100
        before, during = needed_intervals(start, INTERVAL_S, TERMS.baseline_intervals, 0)
        receipt, matches = lab.clear(sid, start)
        ops["clear_100_orders_total"] = _gas(receipt)
        ops["clear_per_order_100"] = _gas(receipt) // 100
        ops["clear_per_match_100"] = _gas(receipt) // max(1, matches)
        ops["clear_100_orders_matches"] = matches
        # Delivery: the oracle commits the baseline and delivery readings of every meter.
        lab.advance_to(max(during) + INTERVAL_S + 1)
        lab.commit_meters(before + during, range(100))
        table = lab.op.settlement_table(sid, lab.deployment.start_block)
        sellers = lab.settler.sellers_of(table)
        info = lab.op.session(sid)
        receipt = lab.op.settle_session(sid, table, lab.settler.evidence(info, sellers))
        ops["settle_100_orders_total"] = _gas(receipt)
        ops["settle_per_match_100"] = _gas(receipt) // max(1, matches)
        ops["settle_per_order_100"] = _gas(receipt) // 100
        ops["settle_100_orders_sellers"] = len(sellers)
        traders = {lab.traders[i].address: lab.traders[i] for i, *_ in book}
        withdrawals = lab.withdraw_all(list(traders.values()))
        ops["withdraw"] = withdrawals[-1]
        ops["order_full_life_batch_100"] = (
            ops["place_order_signed_batch_per_order"]
            + ops["clear_per_order_100"]
            + ops["settle_per_order_100"]
            + sum(withdrawals) // 100
        )

        lab._fund()  # everyone deposits again

        # The largest session allowed: 256 orders (cap), cleared.
        cap = int(lab.op.contract.functions.MAX_ORDERS_PER_SESSION().call())
        _, sid, start = lab.open()
        lab.place_signed(sid, random_book(cap, 100, cap))
        receipt, matches = lab.clear(sid, start)
        ops[f"clear_{cap}_orders_total"] = _gas(receipt)
        ops[f"clear_per_order_{cap}"] = _gas(receipt) // cap
        ops[f"clear_{cap}_orders_matches"] = matches

        # The dearest settlement per seller: the most readings a session allows (three
        # baseline intervals and the delivery interval).
        worst = MarketTerms(
            tolerance_bp=1000, penalty_per_kwh=50, order_bond=1000, baseline_intervals=3
        )
        now = lab.now()
        start = (now // INTERVAL_S + 8) * INTERVAL_S
        _, sid = lab.op.open_session(start, INTERVAL_S, start - 300, terms=worst)
        sellers_n = 50
        book = [(i, Side.OFFER, 1000, 10) for i in range(sellers_n)]
        book.append((sellers_n, Side.BID, 1000 * sellers_n, 100))
        lab.place_signed(sid, book)
        receipt, _ = lab.clear(sid, start)
        before, during = needed_intervals(start, INTERVAL_S, 3, 0)
        lab.advance_to(max(during) + INTERVAL_S + 1)
        lab.commit_meters(before + during, range(sellers_n + 1), seed=7)
        table = lab.op.settlement_table(sid, lab.deployment.start_block)
        sellers = lab.settler.sellers_of(table)
        receipt = lab.op.settle_session(
            sid, table, lab.settler.evidence(lab.op.session(sid), sellers), gas=29_000_000
        )
        per_seller = _gas(receipt) // sellers_n
        ops["settle_per_seller_4_readings"] = per_seller
        ops[f"settle_worst_case_{cap}_orders_estimate"] = per_seller * (cap - 1)
    return ops


def _wait_block(w3: Web3, predicate: Any, poll_s: float = 0.02, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        block = w3.eth.get_block("latest")
        if predicate(block):
            return block
        time.sleep(poll_s)
    raise TimeoutError("no block matched in time")


def bench_market(orders: int = 256, block_time_s: float = 1.0, traders: int = 50) -> dict[str, Any]:
    """Seconds from gate closure to the mined clearing, and from the delivery interval's meter
    commitment to the mined settlement, on anvil with real blocks.

    A session of ``orders`` orders (signed batches of 100) is cleared by the operator as soon
    as a block closes its gate (read the book from the logs, clear it with the engine, re-check
    it, submit, wait for the receipt). After the delivery the oracle commits the interval's
    meter readings; from that commitment's receipt the settler reads the readings from the
    events, builds every seller's proofs, submits and waits. The baseline, measured in the same
    run, is a plain transfer's time to be mined: the floor the block time puts under any
    on-chain action.
    """
    from matching.engine import clear
    from matching.verify import check_clearing

    artifacts = compile_contracts()
    _say(f"anvil with {block_time_s:g} s blocks, {orders} orders from {traders} traders")
    with Anvil(accounts=3 + traders, block_time=block_time_s) as anvil:
        lab = MarketLab(anvil, artifacts, traders=traders)
        start = ((lab.now() + 3600) // INTERVAL_S + 1) * INTERVAL_S
        gate = start - 300
        _, sid = lab.op.open_session(start, INTERVAL_S, gate, terms=TERMS)
        book = random_book(orders, traders, orders)
        signed = lab.signed(sid, book)
        assert lab.op.sender is not None
        lab.op.sender.transact_many(
            [
                lab.op.contract.functions.placeSignedOrders(
                    sid, [o.as_tuple() for o in signed[k : k + BATCH]]
                )
                for k in range(0, len(signed), BATCH)
            ],
            gas=8_000_000,
        )
        before, during = needed_intervals(start, INTERVAL_S, TERMS.baseline_intervals, 0)
        lab.w3.provider.make_request(RPCEndpoint("evm_setNextBlockTimestamp"), [gate])
        closing = _wait_block(lab.w3, lambda b: int(b["timestamp"]) >= gate)
        t0 = time.perf_counter()
        chain_book = lab.op.book(sid, from_block=lab.deployment.start_block)
        active = engine_orders(chain_book)
        t1 = time.perf_counter()
        result = clear(active, PricingRule.UNIFORM)
        t2 = time.perf_counter()
        check_clearing(active, PricingRule.UNIFORM, result)
        t3 = time.perf_counter()
        matches = [(m.bid_id, m.offer_id, m.qty_wh) for m in result.matches]
        receipt = lab.op.clear_session(
            sid, lab.op.clearing_args(chain_book, matches, result.price_per_kwh), gas=29_000_000
        )
        t4 = time.perf_counter()
        # Delivery: the baseline reading is committed beforehand; the delivery interval's
        # commitment starts the settlement's clock.
        lab.w3.provider.make_request(
            RPCEndpoint("evm_setNextBlockTimestamp"), [max(during) + INTERVAL_S]
        )
        _wait_block(lab.w3, lambda b: int(b["timestamp"]) >= max(during) + INTERVAL_S)
        lab.commit_meters(before, range(traders), seed=1)
        [committed] = lab.commit_meters(during, range(traders), seed=2)
        s0 = time.perf_counter()
        settled = lab.settler.settle(sid)
        s1 = time.perf_counter()
        assert settled is not None
        settle_receipt = lab.w3.eth.get_transaction_receipt(settled.tx_hash)  # type: ignore[arg-type]
        _wait_block(lab.w3, lambda b: int(b["number"]) > int(settle_receipt["blockNumber"]))
        b0 = time.perf_counter()
        lab.platform.token(lab.traders[0]).transfer(lab.traders[1].address, 1)
        baseline_s = time.perf_counter() - b0
    total = t4 - t0
    settle_s = s1 - s0
    return {
        "bench": "market",
        "orders": orders,
        "traders": traders,
        "matches": len(result.matches),
        "block_time_s": block_time_s,
        "gate_closing_block": int(closing["number"]),
        "seconds_gate_closure_to_mined_clearing": round(total, 3),
        "breakdown_s": {
            "read_book_s": round(t1 - t0, 4),
            "engine_s": round(t2 - t1, 4),
            "verify_s": round(t3 - t2, 4),
            "submit_to_mined_s": round(t4 - t3, 4),
        },
        "clearing_gas": int(receipt["gasUsed"]),
        "meter_commitment_block": int(committed["blockNumber"]),
        "seconds_meter_commitment_to_mined_settlement": round(settle_s, 3),
        "settlement_gas": int(settle_receipt["gasUsed"]),
        "sellers_settled": len(settled.sellers),
        "baseline_plain_transfer_mined_s": round(baseline_s, 3),
        "ratio_to_baseline": round(total / baseline_s, 2) if baseline_s else None,
        "settlement_ratio_to_baseline": round(settle_s / baseline_s, 2) if baseline_s else None,
        "target_s": 3.0,
        "settlement_target_s": 60.0,
        "specification_s": 60.0,
        "meets_target": total < 3.0,
        "settlement_meets_target": settle_s < 60.0,
        "peak_rss_mb": peak_rss_mb(),
    }
