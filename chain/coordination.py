"""Typed client of the ``FlexCoordination`` contract: DSO requests, opt-ins, coalitions,
replacement of members and settlement (issue 6, contracts part; proposal, dispute and
finalization: "Trust end to end").

The contract keeps only hashes of the big tables; the tables travel in calldata and events and
every later step resupplies them. This module packs them exactly as
``contracts/interfaces/IFlexCoordination.sol`` describes:

* targets table: per member ``member << 96 | meter_index`` (its meter's index in the
  MeterOracle, which the contract checks when the row is proposed or added, so settlement reads
  the meter's commitments without a lookup; the client fills it in), its meter id, then the
  targets (Wh, uint32) eight to a word, interval ``k`` in word ``k // 8`` at bits
  ``32 * (k % 8)``;
* deliveries (what a settlement proposal gives, :func:`pack_proposal_deliveries`): per member
  a bitmap of the intervals without meter data, then the delivered Wh (int32) per interval,
  packed like the targets;
* results (what the contract computes from them, one word per member):
  ``payout << 160 | penalty_uncovered << 96 | uint32(points) << 64``.

Settlement: after the window the coordinator (or a market operator; anyone once the grace
period has passed) proposes the deliveries with a bond (:meth:`FlexCoordinationClient.
propose_settlement`); the contract computes the money with the one rule set
(:mod:`core.rules`: credited ``clamp(D, 0, upper(T))``, shortfall ``max(0, lower(T) - D)``,
``payout = max(0, rewards - penalties)``, points ``C - S`` per kWh) and checks the missing-data
flags against the meter commitments. During the challenge window anyone disputes one row with
its meter readings and their Merkle proofs (:meth:`~FlexCoordinationClient.
dispute_settlement`); afterwards anyone finalizes (:meth:`~FlexCoordinationClient.
finalize_settlement`): payouts are credited (members claim them), the refund goes to the DSO.
:meth:`FlexCoordinationClient.settlement_proposal` rebuilds the current proposal from the
events. Reputation points travel in the results of ``SettlementFinalized`` (there is no
per-member event); :meth:`FlexCoordinationClient.reputation_awarded` pairs them with the
table's members.
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
from chain.market import Reading
from chain.tx import TxSender
from core.codec import (
    ZERO_BYTES32,
    CoalitionRow,
    EncodingError,
    MemberDeliveries,
    MemberResult,
    bytes32_to_text,
    pack_table,
    pack_u32,
    replace_in_rows,
    text_to_bytes32,
    unpack_result,
    unpack_table,
    unpack_u32,
    words_hash,
)
from core.errors import ChainError
from core.rules import (
    Direction,
    FlexRequest,
    credited_wh,
    lower_wh,
    shortfall_wh,
    upper_wh,
)

COORDINATION_CONTRACTS = ("FlexCoordination",)


class RequestStatus(IntEnum):
    OPEN = 0
    PROPOSED = 1
    ACCEPTED = 2
    SETTLED = 3
    RECLAIMED = 4
    SETTLING = 5
    """A settlement is proposed and open to disputes until its challenge window ends."""


METER_BEFORE_AFTER = 4
"""The one baseline method the contract recomputes on-chain (settlement.baselines)."""
POINTS_PER_KWH = 1000
"""Reputation points per credited kWh, as the contract computes them (``CoordinationSettlement
.POINTS_PER_KWH``; :class:`settlement.domain.SettlementRules`' default)."""
PENALTY_POINTS_PER_KWH = 1000
"""Reputation points taken per kWh of shortfall (``PENALTY_POINTS_PER_KWH``)."""
MISSING = Reading(0, 0, ZERO_BYTES32, ())
"""The evidence of an interval without a committed reading (proven on-chain with
``isCommitted``)."""


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
    baseline_intervals: int = 0
    baseline_gap_intervals: int = 0
    proposer: str | None = None
    """Who proposed the settlement (None before a proposal)."""
    challenge_ends_s: int = 0
    """End of the proposal's challenge window, unix s (0 before a proposal)."""
    bond_held: bool = False
    disputes: int = 0


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
class SettlementProposal:
    """A settlement proposal as it stands (``SettlementProposed``, then each
    ``SettlementDisputed``'s corrected row): the packed words the contract hashed, decoded."""

    request_id: int
    proposer: str
    challenge_ends_s: int
    bond: int
    results_words: list[int]
    deliveries_words: list[int]
    disputed_rows: tuple[int, ...] = ()
    """Rows corrected by disputes, in the order they were."""

    @property
    def results(self) -> list[MemberResult]:
        return [unpack_result(w) for w in self.results_words]

    @property
    def payout_total(self) -> int:
        return sum(r.payout for r in self.results)

    @property
    def settlement_hash(self) -> bytes:
        """``keccak256(abi.encode(keccak256(results), keccak256(deliveries)))``."""
        from eth_utils import keccak

        return keccak(words_hash(self.results_words) + words_hash(self.deliveries_words))

    def deliveries(self, rows: Sequence[CoalitionRow], tolerance_bp: int) -> list[MemberDeliveries]:
        """Per row the deliveries with the credited and shortfall Wh the contract computed."""
        return unpack_proposal_deliveries(self.deliveries_words, rows, tolerance_bp)


@dataclass(frozen=True)
class Settlement:
    """A ``SettlementFinalized`` event decoded: the final results in table order."""

    request_id: int
    finalizer: str
    payout_total: int
    refund: int
    bond_returned: int
    settlement_hash: bytes
    results: list[MemberResult]


# ---------------------------------------------------------------------------- deliveries


def proposal_row_words(intervals: int) -> int:
    """Words per member in a proposal's deliveries: the bitmap, then the delivered Wh."""
    return 1 + (intervals + 7) // 8


def pack_proposal_deliveries(deliveries: Sequence[MemberDeliveries], intervals: int) -> list[int]:
    """Per member: the missing-data bitmap, then delivered Wh (int32) eight to a word (what
    ``proposeSettlement`` takes; credited and shortfall are the contract's to compute)."""
    words: list[int] = []
    for d in deliveries:
        if len(d.delivered_wh) != intervals:
            raise EncodingError(f"deliveries need {intervals} values per row")
        if any(not 0 <= k < intervals for k in d.missing):
            raise EncodingError(f"missing-data flags outside the window: {sorted(d.missing)}")
        words.append(sum(1 << k for k in d.missing))
        words.extend(pack_u32(d.delivered_wh, signed=True))
    return words


def member_deliveries(
    delivered_wh: Sequence[int],
    missing: frozenset[int],
    targets_wh: Sequence[int],
    tolerance_bp: int,
) -> MemberDeliveries:
    """A member's deliveries with credited ``clamp(D, 0, upper(T))`` and shortfall
    ``max(0, lower(T) - D)`` per interval (:mod:`core.rules`, as the contract computes them)."""
    d = tuple(int(x) for x in delivered_wh)
    pairs = list(zip(d, (int(t) for t in targets_wh), strict=True))
    return MemberDeliveries(
        d,
        tuple(credited_wh(x, upper_wh(t, tolerance_bp)) for x, t in pairs),
        tuple(shortfall_wh(x, lower_wh(t, tolerance_bp)) for x, t in pairs),
        frozenset(missing),
    )


def unpack_proposal_deliveries(
    words: Sequence[int], rows: Sequence[CoalitionRow], tolerance_bp: int
) -> list[MemberDeliveries]:
    """The deliveries of :func:`pack_proposal_deliveries`, one per table row, with the
    credited and shortfall Wh computed from each row's targets."""
    n = len(rows[0].targets_wh) if rows else 0
    dw = proposal_row_words(n)
    if len(words) != dw * len(rows):
        raise EncodingError(f"{len(words)} deliveries words for {len(rows)} rows of {dw}")
    out = []
    for i, row in enumerate(rows):
        base = i * dw
        bitmap = int(words[base])
        delivered = unpack_u32(words[base + 1 : base + dw], n, signed=True)
        missing = frozenset(k for k in range(n) if bitmap >> k & 1)
        out.append(member_deliveries(delivered, missing, row.targets_wh, tolerance_bp))
    return out


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
_ERC20_ABI = [
    {
        "type": "function",
        "name": "allowance",
        "stateMutability": "view",
        "inputs": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"}],
        "outputs": [{"name": "", "type": "uint256"}],
    },
    {
        "type": "function",
        "name": "approve",
        "stateMutability": "nonpayable",
        "inputs": [{"name": "spender", "type": "address"}, {"name": "value", "type": "uint256"}],
        "outputs": [{"name": "", "type": "bool"}],
    },
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
        baseline_method: int = METER_BEFORE_AFTER,
        baseline_hash: bytes = ZERO_BYTES32,
        baseline_intervals: int = 4,
        baseline_gap_intervals: int = 0,
    ) -> tuple[TxReceipt, int]:
        """Publish a request (active DSO; approve ``escrow`` on the token first); returns the
        receipt and the request id. The contract validates every value: the baseline must be
        the meter-before baseline (method 4) with ``baseline_intervals`` (1..96) and
        ``baseline_gap_intervals`` (0..96); a zero ``baseline_hash`` is filled in by the
        contract."""
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
            baseline_intervals,
            baseline_gap_intervals,
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
            k,
            gap,
            targets_hash,
            settlement_hash,
            proposer,
            challenge_ends,
            bond_held,
            disputes,
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
            baseline_params=(int(k), int(gap)) if int(method) == METER_BEFORE_AFTER else (),
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
            baseline_intervals=int(k),
            baseline_gap_intervals=int(gap),
            proposer=None if proposer == ZERO_ADDRESS else to_checksum_address(proposer),
            challenge_ends_s=int(challenge_ends),
            bond_held=bool(bond_held),
            disputes=int(disputes),
        )

    def settlement_terms(self) -> tuple[int, int, int]:
        """(challenge window s, proposal grace s, settlement bond base units) of the contract."""
        f = self.contract.functions
        return (
            int(f.challengeWindowS().call()),
            int(f.proposalGraceS().call()),
            int(f.settlementBond().call()),
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
    def ensure_bond_allowance(self) -> TxReceipt | None:
        """Approve the contract to take the settlement bond from the sender (when the
        allowance does not cover it); the receipt, or None when nothing was sent."""
        if self.sender is None:
            raise ChainError("approving the settlement bond needs a sending account")
        bond = int(self.contract.functions.settlementBond().call())
        if bond == 0:
            return None
        token = self.w3.eth.contract(address=self.contract.functions.token().call(), abi=_ERC20_ABI)
        owner = self.sender.account.address
        if int(token.functions.allowance(owner, self.address).call()) >= bond:
            return None
        return self.sender.transact(token.functions.approve(self.address, 2**256 - 1))

    def propose_settlement(
        self,
        request_id: int,
        rows: Sequence[CoalitionRow],
        deliveries: Sequence[MemberDeliveries],
        gas: int | None = None,
    ) -> TxReceipt:
        """Propose the settlement after the window (coordinator or market operator; anyone
        after the grace period): per table row its delivered Wh and missing-data flags (the
        contract computes credited, shortfall, payouts and points). Approves the bond first
        when needed."""
        n = len(rows[0].targets_wh) if rows else 0
        self.ensure_bond_allowance()
        return self._transact(
            "proposeSettlement",
            request_id,
            self.pack_table(rows, n),
            pack_proposal_deliveries(deliveries, n),
            gas=gas,
        )

    def dispute_settlement(
        self,
        request_id: int,
        rows: Sequence[CoalitionRow],
        proposal: SettlementProposal,
        row: int,
        readings: Sequence[Reading],
        gas: int | None = None,
    ) -> TxReceipt:
        """Dispute row ``row`` of ``proposal`` (anyone, during the challenge window) with the
        row's meter evidence: the baseline's readings, then one per window interval
        (:data:`MISSING` where the meter has no committed reading)."""
        n = len(rows[0].targets_wh) if rows else 0
        return self._transact(
            "disputeSettlement",
            request_id,
            self.pack_table(rows, n),
            (
                row,
                list(proposal.results_words),
                list(proposal.deliveries_words),
                [r.as_tuple() for r in readings],
            ),
            gas=gas,
        )

    def finalize_settlement(
        self,
        request_id: int,
        rows: Sequence[CoalitionRow],
        proposal: SettlementProposal,
        gas: int | None = None,
    ) -> TxReceipt:
        """Finalize after the challenge window (anyone): credits the payouts, refunds the DSO."""
        n = len(rows[0].targets_wh) if rows else 0
        return self._transact(
            "finalizeSettlement",
            request_id,
            self.pack_table(rows, n),
            list(proposal.results_words),
            words_hash(proposal.deliveries_words),
            gas=gas,
        )

    def settlement_proposal(
        self, request_id: int, from_block: int = 0
    ) -> SettlementProposal | None:
        """The request's settlement proposal as it stands (its last ``SettlementProposed``
        with every later ``SettlementDisputed`` applied), checked against the stored hash
        while the request is settling or settled; None before a proposal."""
        f = {"requestId": request_id}
        events = self.contract.events
        proposed = events.SettlementProposed.get_logs(from_block=from_block, argument_filters=f)
        if not proposed:
            return None
        last = max(proposed, key=lambda e: (e["blockNumber"], e["logIndex"]))
        a = last["args"]
        results = [int(w) for w in a["results"]]
        deliveries = [int(w) for w in a["deliveries"]]
        info = self.request(request_id)
        dw = proposal_row_words(info.intervals)
        disputed: list[int] = []
        later = events.SettlementDisputed.get_logs(
            from_block=int(last["blockNumber"]), argument_filters=f
        )
        for ev in sorted(later, key=lambda e: (e["blockNumber"], e["logIndex"])):
            if (ev["blockNumber"], ev["logIndex"]) < (last["blockNumber"], last["logIndex"]):
                continue
            d = ev["args"]
            row = int(d["row"])
            results[row] = int(d["result"])
            deliveries[row * dw : (row + 1) * dw] = [int(w) for w in d["deliveries"]]
            disputed.append(row)
        proposal = SettlementProposal(
            request_id=request_id,
            proposer=to_checksum_address(a["proposer"]),
            challenge_ends_s=int(a["challengeEnds"]),
            bond=int(a["bond"]),
            results_words=results,
            deliveries_words=deliveries,
            disputed_rows=tuple(disputed),
        )
        if info.status in (RequestStatus.SETTLING, RequestStatus.SETTLED) and (
            proposal.settlement_hash != info.settlement_hash
        ):
            raise ChainError(f"request {request_id}: the events do not give the stored settlement")
        return proposal

    def settlement_in(self, receipt: TxReceipt) -> Settlement:
        """The ``SettlementFinalized`` event of ``receipt``, decoded."""
        [ev] = self.events(receipt, "SettlementFinalized")
        return self._settlement(ev)

    def settlement(self, request_id: int, from_block: int = 0) -> Settlement | None:
        """The request's final settlement (``SettlementFinalized``), None before it."""
        logs = self.contract.events.SettlementFinalized.get_logs(
            from_block=from_block, argument_filters={"requestId": request_id}
        )
        return self._settlement(logs[-1]) if logs else None

    @staticmethod
    def _settlement(ev: EventData) -> Settlement:
        a = ev["args"]
        return Settlement(
            request_id=int(a["requestId"]),
            finalizer=to_checksum_address(a["finalizer"]),
            payout_total=int(a["payoutTotal"]),
            refund=int(a["refund"]),
            bond_returned=int(a["bondReturned"]),
            settlement_hash=bytes(a["settlementHash"]),
            results=[unpack_result(int(w)) for w in a["results"]],
        )

    def reputation_awarded(
        self, receipt: TxReceipt, from_block: int = 0
    ) -> dict[str, tuple[int, int]]:
        """``{member: (points, total)}`` of a finalization receipt, for members given points
        other than zero: the points are the results of its ``SettlementFinalized`` event,
        paired with the table's rows (from the coalition's events, scanned from
        ``from_block``); the total is the member's reputation at the receipt's block (after the
        settlement, unless another one in the same block changed it too)."""
        [ev] = self.events(receipt, "SettlementFinalized")
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
