"""Typed client of the ``FlexCoordination`` contract: DSO requests, opt-ins, coalitions,
replacement of members and settlement (issue 6, contracts part).

The contract keeps only hashes of the big tables; the tables travel in calldata and events and
every later step resupplies them. This module packs them exactly as
``contracts/interfaces/IFlexCoordination.sol`` describes:

* targets table: per member ``member << 96 | meter_index`` (its meter's index in the
  MeterOracle, which the contract checks when the row is proposed or added, so settlement reads
  the meter's commitments without a lookup; the client fills it in), its meter id, then the
  targets (Wh, uint32) eight to a word, interval ``k`` in word ``k // 8`` at bits
  ``32 * (k % 8)``;
* results: per member ``payout << 160 | penalty_uncovered << 96 | uint32(points) << 64``;
* deliveries: per member a bitmap of the intervals without meter data, then delivered
  (int32), credited and shortfall (uint32) per interval, Wh, packed like the targets.

The money rules are those of :mod:`settlement.engine` (``upper(T) = T * (10000 + tol) //
10000``, a member's most is ``sum_t price * upper(T_t) // 1000``, ``escrow == payouts +
refund``). Payouts are credited in the contract and claimed by the members
(:meth:`FlexCoordinationClient.claim_payout`); the refund goes to the DSO at settlement.
Reputation points travel in the results of ``RequestSettled`` (there is no per-member event);
:meth:`FlexCoordinationClient.reputation_awarded` pairs them with the table's members.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3 import Web3
from web3.exceptions import ContractLogicError
from web3.types import EventData, TxReceipt

from chain.compiler import Artifact
from chain.contracts import ZERO_ADDRESS, ContractClient
from chain.tx import TxSender
from core.codec import (
    ZERO_BYTES32,
    CoalitionRow,
    MemberDeliveries,
    MemberResult,
    bytes32_to_text,
    pack_deliveries,
    pack_results,
    pack_table,
    replace_in_rows,
    text_to_bytes32,
    unpack_deliveries,
    unpack_result,
    unpack_table,
    words_hash,
)
from core.errors import ChainError
from core.rules import (
    Direction,
    FlexRequest,
)

COORDINATION_CONTRACTS = ("FlexCoordination",)


class RequestStatus(IntEnum):
    OPEN = 0
    PROPOSED = 1
    ACCEPTED = 2
    SETTLED = 3
    RECLAIMED = 4


class MemberStatus(IntEnum):
    """A member's standing in the current coalition round of a request."""

    OPTED_IN = 0
    MEMBER = 1
    RESERVE = 2
    REPLACED = 3


# ---------------------------------------------------------------------------- records


@dataclass(frozen=True)
class RequestInfo(FlexRequest):
    """A request as the contract stores it: its terms (a :class:`core.rules.FlexRequest`; the
    price is the coalition's agreed price, 0 before a proposal) and where it stands."""

    opt_in_deadline_s: int = 0
    dso: str = ZERO_ADDRESS
    status: RequestStatus = RequestStatus.OPEN
    baseline_hash: bytes = ZERO_BYTES32
    coordinator: str | None = None
    round: int = 0
    rows: int = 0
    targets_hash: bytes = ZERO_BYTES32
    settlement_hash: bytes = ZERO_BYTES32


@dataclass(frozen=True)
class AccountInfo:
    """A member's standing: payouts to claim (base units), reputation points, counts."""

    claimable: int
    reputation: int
    opt_ins: int
    settled: int


@dataclass(frozen=True)
class SignedOptIn:
    """An opt-in signed by the member (EIP-712, compact signature), relayed by an aggregator."""

    member: str
    max_wh: int
    r: bytes
    vs: bytes

    def as_tuple(self) -> tuple[object, ...]:
        return (self.member, self.max_wh, self.r, self.vs)


@dataclass(frozen=True)
class Settlement:
    """A ``RequestSettled`` event decoded."""

    request_id: int
    settler: str
    payout_total: int
    refund: int
    settlement_hash: bytes
    results: list[MemberResult]
    deliveries: list[MemberDeliveries]


# ---------------------------------------------------------------------------- client


_METER_INDEX_ABI = [
    {
        "type": "function",
        "name": "meterIndexOf",
        "stateMutability": "view",
        "inputs": [{"name": "meterId", "type": "bytes32"}],
        "outputs": [{"name": "", "type": "uint64"}],
    }
]


class FlexCoordinationClient(ContractClient):
    contract_name = "FlexCoordination"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._meter_indexes: dict[str, int] = {}

    # ------------------------------------------------------------ meter indexes
    def meter_index(self, meter_id: str) -> int:
        """The index of ``meter_id`` in the contract's MeterOracle (cached: indexes never
        change); a ChainError when the meter is not enrolled there."""
        if meter_id not in self._meter_indexes:
            oracle = self.w3.eth.contract(
                address=self.contract.functions.meterOracle().call(), abi=_METER_INDEX_ABI
            )
            key = text_to_bytes32(meter_id, "meter id")
            try:
                index = int(oracle.functions.meterIndexOf(key).call())
            except ContractLogicError as exc:
                raise ChainError(
                    f"meter {meter_id!r} is not enrolled in the MeterOracle: a coalition member "
                    "needs an enrolled meter"
                ) from exc
            self._meter_indexes[meter_id] = index
        return self._meter_indexes[meter_id]

    def meter_indexes(self, meter_ids: Sequence[str]) -> dict[str, int]:
        """``{meter id: MeterOracle index}`` of ``meter_ids``."""
        return {m: self.meter_index(m) for m in meter_ids}

    def with_meter_indexes(self, rows: Sequence[CoalitionRow]) -> list[CoalitionRow]:
        """``rows`` with every missing ``meter_index`` filled in from the MeterOracle."""
        return [
            r
            if r.meter_index is not None
            else CoalitionRow(r.member, r.meter_id, r.targets_wh, self.meter_index(r.meter_id))
            for r in rows
        ]

    def pack_table(self, rows: Sequence[CoalitionRow], intervals: int) -> list[int]:
        """:func:`pack_table` with the meter indexes filled in from the MeterOracle."""
        return pack_table(self.with_meter_indexes(rows), intervals)

    # ------------------------------------------------------------ requests
    def publish_request(
        self,
        window_start_s: int,
        quantities_wh: Sequence[int],
        tolerance_bp: int,
        price_cap_per_kwh: int,
        opt_in_deadline_s: int,
        escrow: int,
        grid_area: str = "",
        direction: Direction = Direction.UP,
        penalty_per_kwh: int = 0,
        baseline_method: int = 1,
        baseline_hash: bytes = ZERO_BYTES32,
    ) -> tuple[TxReceipt, int]:
        """Publish a request (active DSO; approve ``escrow`` on the token first); returns the
        receipt and the request id. The contract validates every value."""
        params = (
            text_to_bytes32(grid_area, "grid area") if grid_area else ZERO_BYTES32,
            window_start_s,
            opt_in_deadline_s,
            int(direction),
            tolerance_bp,
            price_cap_per_kwh,
            penalty_per_kwh,
            baseline_method,
            bytes(baseline_hash),
            escrow,
        )
        receipt = self._transact("publishRequest", params, [int(q) for q in quantities_wh])
        [event] = self.events(receipt, "RequestPublished")
        return receipt, int(event["args"]["requestId"])

    def reclaim_escrow(self, request_id: int) -> TxReceipt:
        """The DSO takes back the escrow of a request whose window started uncovered."""
        return self._transact("reclaimEscrow", request_id)

    def request(self, request_id: int) -> RequestInfo:
        """The stored request with its quantities (two view calls)."""
        r = self._call("request", request_id)
        (
            dso,
            start,
            _intervals,
            direction,
            status,
            area,
            cap,
            penalty,
            tol,
            deadline,
            escrow,
            baseline_hash,
            coordinator,
            price,
            method,
            rnd,
            rows,
            targets_hash,
            settlement_hash,
        ) = r
        return RequestInfo(
            request_id=request_id,
            window_start_s=int(start),
            quantity_wh=self.quantities_wh(request_id),
            tolerance_bp=int(tol),
            price_cap_per_kwh=int(cap),
            escrow=int(escrow),
            direction=Direction(direction),
            penalty_per_kwh=int(penalty),
            baseline_method_id=int(method),
            price_per_kwh=int(price),
            grid_area=bytes32_to_text(area),
            opt_in_deadline_s=int(deadline),
            dso=to_checksum_address(dso),
            status=RequestStatus(status),
            baseline_hash=bytes(baseline_hash),
            coordinator=None if coordinator == ZERO_ADDRESS else to_checksum_address(coordinator),
            round=int(rnd),
            rows=int(rows),
            targets_hash=bytes(targets_hash),
            settlement_hash=bytes(settlement_hash),
        )

    def quantities_wh(self, request_id: int) -> tuple[int, ...]:
        return tuple(int(q) for q in self._call("quantities", request_id))

    def request_count(self) -> int:
        return int(self.contract.functions.requestCount().call())

    # ------------------------------------------------------------ opt-ins
    def opt_in(self, request_id: int, max_wh: int) -> TxReceipt:
        """The sending prosumer offers up to ``max_wh`` per interval."""
        return self._transact("optIn", request_id, max_wh)

    def sign_opt_in(self, member: LocalAccount, request_id: int, max_wh: int) -> SignedOptIn:
        """An opt-in signed by ``member`` (EIP-712) for an aggregator to relay."""
        r, vs = self.sign_typed(
            member,
            "OptIn",
            [("requestId", "uint256"), ("member", "address"), ("maxWh", "uint48")],
            {"requestId": request_id, "member": member.address, "maxWh": max_wh},
        )
        return SignedOptIn(member.address, max_wh, r, vs)

    def opt_in_signed(self, request_id: int, opt_ins: Sequence[SignedOptIn]) -> TxReceipt:
        """Relay signed opt-ins in one transaction (active aggregator)."""
        return self._transact("optInSigned", request_id, [o.as_tuple() for o in opt_ins])

    def opt_in_of(self, request_id: int, member: str) -> tuple[int, MemberStatus]:
        """(offered Wh per interval, 0 if none; status in the current round)."""
        max_wh, status = self.contract.functions.optInOf(
            request_id, to_checksum_address(member)
        ).call()
        return int(max_wh), MemberStatus(status)

    # ------------------------------------------------------------ coalitions
    def propose_coalition(
        self,
        request_id: int,
        price_per_kwh: int,
        rows: Sequence[CoalitionRow],
        reserves: Sequence[str] = (),
        intervals: int | None = None,
    ) -> TxReceipt:
        """Propose the coalition (active aggregator or market operator)."""
        n = self.request(request_id).intervals if intervals is None else intervals
        return self._transact(
            "proposeCoalition",
            request_id,
            price_per_kwh,
            self.pack_table(rows, n),
            [to_checksum_address(a) for a in reserves],
        )

    def propose_coalition_raw(
        self, request_id: int, price_per_kwh: int, table: Sequence[int], reserves: Sequence[str]
    ) -> TxReceipt:
        """A packed table straight to the contract (it checks it; for tools and tests)."""
        return self._transact(
            "proposeCoalition", request_id, price_per_kwh, list(table), list(reserves)
        )

    def accept_coalition(self, request_id: int) -> TxReceipt:
        return self._transact("acceptCoalition", request_id)

    def reject_coalition(self, request_id: int) -> TxReceipt:
        return self._transact("rejectCoalition", request_id)

    def replace_member(
        self,
        request_id: int,
        rows: Sequence[CoalitionRow],
        member: str,
        reserve: str,
        reserve_meter_id: str,
        from_interval: int,
    ) -> tuple[TxReceipt, list[CoalitionRow]]:
        """Replace ``member`` by ``reserve`` from ``from_interval`` on (coordinator or market
        operator); ``rows`` is the current table. Returns the receipt and the new table."""
        n = len(rows[0].targets_wh) if rows else 0
        rows = self.with_meter_indexes(rows)
        receipt = self._transact(
            "replaceMember",
            request_id,
            pack_table(rows, n),
            to_checksum_address(member),
            to_checksum_address(reserve),
            text_to_bytes32(reserve_meter_id, "meter id"),
            from_interval,
        )
        return receipt, replace_in_rows(
            rows,
            member,
            reserve,
            reserve_meter_id,
            from_interval,
            self.meter_index(reserve_meter_id),
        )

    def coalition_rows(self, request_id: int, from_block: int = 0) -> list[CoalitionRow]:
        """The current targets table, rebuilt from the events (last proposal + replacements)."""
        info = self.request(request_id)
        proposed = self.contract.events.CoalitionProposed.get_logs(
            from_block=from_block, argument_filters={"requestId": request_id}
        )
        if not proposed:
            return []
        last = max(proposed, key=lambda e: (e["blockNumber"], e["logIndex"]))
        rows = unpack_table(last["args"]["table"], info.intervals)
        replaced = self.contract.events.MemberReplaced.get_logs(
            from_block=int(last["blockNumber"]), argument_filters={"requestId": request_id}
        )
        for ev in sorted(replaced, key=lambda e: (e["blockNumber"], e["logIndex"])):
            a = ev["args"]
            [new_row] = unpack_table(a["row"], info.intervals)
            rows = replace_in_rows(
                rows,
                a["member"],
                new_row.member,
                new_row.meter_id,
                int(a["fromInterval"]),
                new_row.meter_index,
            )
        if words_hash(pack_table(rows, info.intervals)) != info.targets_hash:
            raise ChainError(f"request {request_id}: the events do not give the stored targets")
        return rows

    # ------------------------------------------------------------ settlement
    def settle(
        self,
        request_id: int,
        rows: Sequence[CoalitionRow],
        results: Sequence[MemberResult],
        deliveries: Sequence[MemberDeliveries],
        refund: int,
        gas: int | None = None,
    ) -> TxReceipt:
        """Settle after the window (coordinator or market operator): one result and one
        deliveries row per table row, in table order."""
        n = len(rows[0].targets_wh) if rows else 0
        return self._transact(
            "settle",
            request_id,
            self.pack_table(rows, n),
            pack_results(results),
            pack_deliveries(deliveries, n),
            refund,
            gas=gas,
        )

    def settlement_in(self, receipt: TxReceipt, intervals: int) -> Settlement:
        """The ``RequestSettled`` event of ``receipt``, decoded."""
        [ev] = self.events(receipt, "RequestSettled")
        a = ev["args"]
        return Settlement(
            request_id=int(a["requestId"]),
            settler=to_checksum_address(a["settler"]),
            payout_total=int(a["payoutTotal"]),
            refund=int(a["refund"]),
            settlement_hash=bytes(a["settlementHash"]),
            results=[unpack_result(int(w)) for w in a["results"]],
            deliveries=unpack_deliveries([int(w) for w in a["deliveries"]], intervals),
        )

    def reputation_awarded(
        self, receipt: TxReceipt, from_block: int = 0
    ) -> dict[str, tuple[int, int]]:
        """``{member: (points, total)}`` of a settlement receipt, for members given points
        other than zero: the points are the results of its ``RequestSettled`` event, paired
        with the table's rows (from the coalition's events, scanned from ``from_block``); the
        total is the member's reputation at the receipt's block (after the settlement, unless
        another one in the same block changed it too)."""
        [ev] = self.events(receipt, "RequestSettled")
        request_id = int(ev["args"]["requestId"])
        rows = self.coalition_rows(request_id, from_block)
        words = [int(w) for w in ev["args"]["results"]]
        if len(words) != len(rows):
            raise ChainError(f"request {request_id}: {len(words)} results for {len(rows)} rows")
        block = int(receipt["blockNumber"])
        out: dict[str, tuple[int, int]] = {}
        for row, word in zip(rows, words, strict=True):
            points = unpack_result(word).points
            if points:
                member = to_checksum_address(row.member)
                total = self.contract.functions.account(member).call(block_identifier=block)[1]
                out[member] = (points, int(total))
        return out

    def claim_payout(self) -> TxReceipt:
        """The sending member takes out its credited payouts."""
        return self._transact("claimPayout")

    def account(self, member: str) -> AccountInfo:
        claimable, reputation, opt_ins, settled = self.contract.functions.account(
            to_checksum_address(member)
        ).call()
        return AccountInfo(int(claimable), int(reputation), int(opt_ins), int(settled))

    def decoded(self, receipt: TxReceipt, event_name: str) -> list[EventData]:
        """Alias of :meth:`events` for symmetry with the other clients."""
        return self.events(receipt, event_name)


# ---------------------------------------------------------------------------- client


def coordination_client(
    w3: Web3,
    address: str,
    artifacts: dict[str, Artifact],
    sender: TxSender | None = None,
) -> FlexCoordinationClient:
    """A client of the FlexCoordination at ``address``."""
    return FlexCoordinationClient(w3, address, artifacts["FlexCoordination"], sender)
