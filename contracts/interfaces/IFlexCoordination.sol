// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MeterEvidence} from "../libraries/MeterEvidence.sol";

/// @title Flexibility requests, coalitions and their settlement (CGDFS, DMSFDR)
/// @notice The DSO publishes a request (grid area, delivery window of 15-minute intervals,
/// direction, quantity per interval, tolerance, price cap, penalty rate, baseline) and escrows
/// the most it can pay. Members opt in with the flexibility they offer. An aggregator (or the
/// market operator) proposes a coalition with each member's target per interval; the DSO
/// accepts it; a reserve member can replace a member for the intervals not yet started.
///
/// Settlement is optimistic and checked by anyone. After the window a settlement is PROPOSED
/// (by the coordinator or a market operator; by anyone once `proposalGraceS` has passed
/// after the window, so a vanished coordinator cannot lock the escrow) with a bond of
/// `settlementBond` FlexToken. Its only free inputs are each member-interval's delivered Wh and
/// missing-data flag; the contract checks the flags against the MeterOracle's commitments
/// (flagged exactly where a member's meter has no commitment) and computes everything else
/// with the one rule set (core/rules.py, FlexRules). For `challengeWindowS` anyone may
/// DISPUTE one member's row with that member's committed meter readings and their Merkle
/// proofs (or proofs of missing data): the contract recomputes the row's deliveries with the
/// request's meter-before baseline, corrects the proposal (payouts, refund and points stay
/// conserved) and pays the bond to the first successful disputer (to the DSO when the proposer
/// corrects its own proposal: a wrong proposal always costs its bond); a dispute that finds the
/// row correct reverts. After the window anyone FINALIZES: payouts are credited (members
/// claim them), points added, the refund paid to the DSO and an untouched bond returned.
///
/// The rules (settlement/engine.py, core/rules.py): `upper(T) = T * (10000 + tol) / 10000`,
/// `lower(T) = T * (10000 - tol) / 10000` (floor); credited `C = clamp(D, 0, upper(T))`,
/// shortfall `S = max(0, lower(T) - D)` (`D` 0 in a flagged interval); a member's payout is
/// `max(0, sum energyCost(C, price) - sum energyCost(S, penaltyPerKwh))`, the rest of its
/// penalty is reported as uncovered; points `sum energyCost(C, 1000) - energyCost(S, 1000)`;
/// `escrow == sum of payouts + refund`.
///
/// Baselines: only the meter-before baseline (method 4, settlement/baselines.py
/// METER_BEFORE_AFTER: the mean of `baselineIntervals` intervals ending `baselineGapIntervals`
/// before the window, rounded half up) can be recomputed on-chain, so `publishRequest` refuses
/// every other method (`FlexCoordinationBaselineNotOnChain`).
///
/// Targets table (`uint256[] table`, what `CoalitionProposed` logs and later calls resupply):
/// one row per member of `2 + ceil(intervals / 8)` words: `uint256(uint160(member)) << 96 |
/// meterIndex` (the index of the member's meter in the MeterOracle, checked when the row is
/// proposed or added, and used by one row only), the member's meter id, then the targets, Wh,
/// as uint32 packed eight to a word (interval `k` in word `k / 8`, bits `32 * (k % 8)`; the
/// unused fields of the last word zero). The contract stores only its keccak256.
///
/// Deliveries (`deliveries`, per row `1 + ceil(intervals / 8)` words): a bitmap of the
/// intervals without meter data (bit k), then delivered Wh (int32, two's complement) per
/// interval packed as the targets (0 in a flagged interval and in the unused fields). Results
/// (`results`, one word per row, computed by the contract): `payout << 160 |
/// penaltyUncovered << 96 | uint32(points) << 64` (payout uint96 and penaltyUncovered uint64 in
/// token base units, the latter capped at 2^64 - 1; points int32, capped to its range). The
/// settlement hash is `keccak256(abi.encode(keccak256(results), keccak256(deliveries)))`.
interface IFlexCoordination {
    /// @notice UP: less load (delivered = baseline - metered); DOWN: more load.
    enum Direction {
        Up,
        Down
    }

    /// @notice Open: opt-ins and proposals; Proposed: waiting for the DSO; Accepted: the
    /// coalition delivers; Settled: finalized and paid; Reclaimed: no coalition, escrow back to
    /// the DSO; Settling: a settlement is proposed and open to disputes.
    enum Status {
        Open,
        Proposed,
        Accepted,
        Settled,
        Reclaimed,
        Settling
    }

    /// @notice What the DSO publishes (the quantities per interval are passed beside it).
    struct RequestParams {
        bytes32 gridArea;
        uint64 windowStart;
        uint64 optInDeadline;
        Direction direction;
        uint16 toleranceBp;
        uint40 priceCapPerKwh;
        uint40 penaltyPerKwh;
        uint8 baselineMethod;
        bytes32 baselineHash;
        uint96 escrow;
        /// @dev The meter-before baseline: intervals averaged (1..96) and intervals left out
        /// between them and the window (0..96).
        uint8 baselineIntervals;
        uint8 baselineGapIntervals;
    }

    /// @notice A request as stored: eight slots (the quantities live beside it, eight per slot).
    struct Request {
        // slot 0
        address dso;
        uint64 windowStart;
        uint16 intervals;
        Direction direction;
        Status status;
        // slot 1
        bytes32 gridArea;
        // slot 2
        uint40 priceCapPerKwh;
        uint40 penaltyPerKwh;
        uint16 toleranceBp;
        uint64 optInDeadline;
        uint96 escrow;
        // slot 3
        bytes32 baselineHash;
        // slot 4
        address coordinator;
        uint40 pricePerKwh;
        uint8 baselineMethod;
        uint16 round;
        uint16 rows;
        uint8 baselineIntervals;
        uint8 baselineGapIntervals;
        // slot 5: keccak256 of the targets table (after settlement: unchanged)
        bytes32 targetsHash;
        // slot 6: keccak256(abi.encode(keccak256(results), keccak256(deliveries))) of the
        // settlement proposal (as corrected by disputes; final once Settled)
        bytes32 settlementHash;
        // slot 7: the settlement proposal
        address proposer;
        uint64 challengeEnds;
        bool bondHeld;
        uint16 disputes;
    }

    /// @notice A member's offer for a request; `status` counts only in coalition round `round`.
    struct OptIn {
        uint48 maxWh;
        uint16 round;
        uint8 status;
    }

    /// @notice A member's standing: payouts to claim, reputation (not transferable), counts.
    /// @dev One slot. AccountBook credits it with one read and one write by the fields' bit
    /// positions; tests/contracts/test_coordination_accounts.py fails if this layout changes
    /// without AccountBook following.
    struct Account {
        uint96 claimable;
        int64 reputation;
        uint32 optIns;
        uint32 settled;
    }

    /// @notice An EIP-712 signed opt-in (signature in EIP-2098 compact form), relayed in batches.
    struct SignedOptIn {
        address member;
        uint48 maxWh;
        bytes32 r;
        bytes32 vs;
    }

    /// @notice A dispute of row `row` of a proposed settlement: the proposal's `results` and
    /// `deliveries` as logged (with earlier disputes' corrections), and the row's meter
    /// evidence: the baseline's `baselineIntervals` intervals (ending `baselineGapIntervals`
    /// before the window), then each window interval, in time order.
    struct Dispute {
        uint256 row;
        uint256[] results;
        uint256[] deliveries;
        MeterEvidence.Reading[] readings;
    }

    /// @notice Emitted when the DSO publishes request `requestId` (escrowing `params.escrow`);
    /// `params.baselineHash` is the stored one (filled in when the DSO gave zero).
    event RequestPublished(
        uint256 indexed requestId,
        address indexed dso,
        bytes32 indexed gridArea,
        RequestParams params,
        uint32[] quantitiesWh
    );

    /// @notice Emitted when `member` opts in to `requestId` offering up to `maxWh` per interval.
    /// @param relayer who sent it (the member itself, or the aggregator relaying its signature)
    event OptedIn(uint256 indexed requestId, address indexed member, address indexed relayer, uint48 maxWh);

    /// @notice Emitted when `coordinator` proposes a coalition (round `round`): the whole
    /// targets table, the reserve members and the most the targets can earn.
    event CoalitionProposed(
        uint256 indexed requestId,
        address indexed coordinator,
        uint16 round,
        uint40 pricePerKwh,
        uint256 maxPayout,
        bytes32 targetsHash,
        uint256[] table,
        address[] reserves
    );

    /// @notice Emitted when the DSO accepts the proposed coalition.
    event CoalitionAccepted(uint256 indexed requestId, address indexed dso, bytes32 targetsHash);

    /// @notice Emitted when the DSO rejects the proposed coalition; round `round` starts.
    event CoalitionRejected(uint256 indexed requestId, address indexed dso, uint16 round);

    /// @notice Emitted when `reserve` replaces `member` from interval `fromInterval` on: the
    /// member's targets from there are zero, `row` (appended to the table) is the reserve's.
    event MemberReplaced(
        uint256 indexed requestId,
        address indexed member,
        address indexed reserve,
        uint16 fromInterval,
        bytes32 targetsHash,
        uint256[] row
    );

    /// @notice Emitted when `proposer` proposes the settlement of `requestId` (bond `bond`
    /// held until `challengeEnds`): the deliveries it gave, the results the contract computed
    /// from them, and their totals.
    event SettlementProposed(
        uint256 indexed requestId,
        address indexed proposer,
        uint256 payoutTotal,
        uint256 refund,
        uint256 bond,
        uint64 challengeEnds,
        bytes32 settlementHash,
        uint256[] results,
        uint256[] deliveries
    );

    /// @notice Emitted when `disputer` corrects row `row` (member `member`) of a proposed
    /// settlement from its committed meter readings: the row's new result and deliveries
    /// words, the new totals and hash, and the bond paid out (0 once paid out before): to the
    /// disputer, or to the DSO when the disputer is the proposer.
    event SettlementDisputed(
        uint256 indexed requestId,
        address indexed disputer,
        address indexed member,
        uint256 row,
        uint256 bondPaid,
        uint256 payoutTotal,
        uint256 refund,
        bytes32 settlementHash,
        uint256 result,
        uint256[] deliveries
    );

    /// @notice Emitted when the settlement of `requestId` is final: payouts credited (the
    /// results, in table order), `refund` paid to the DSO, `bondReturned` to the proposer.
    event SettlementFinalized(
        uint256 indexed requestId,
        address indexed finalizer,
        uint256 payoutTotal,
        uint256 refund,
        uint256 bondReturned,
        bytes32 settlementHash,
        uint256[] results
    );

    /// @notice Emitted when `member` takes out its credited payouts.
    event PayoutClaimed(address indexed member, uint256 amount);

    /// @notice Emitted when the DSO takes back the escrow of a request no coalition delivers.
    event EscrowReclaimed(uint256 indexed requestId, address indexed dso, uint256 amount);

    /// @notice Thrown when a constructor address is zero.
    error FlexCoordinationZeroAddress();
    /// @notice Thrown when `account` must be an active DSO (publishing) and is not.
    error FlexCoordinationNotDSO(address account);
    /// @notice Thrown when `account` is not the DSO of `requestId`.
    error FlexCoordinationNotRequestDSO(uint256 requestId, address account);
    /// @notice Thrown when `account` may not coordinate (propose, replace, settle) the request.
    error FlexCoordinationNotCoordinator(uint256 requestId, address account);
    /// @notice Thrown for a request id that was never published.
    error FlexCoordinationUnknownRequest(uint256 requestId);
    /// @notice Thrown when a request has no delivery interval.
    error FlexCoordinationEmptyWindow();
    /// @notice Thrown when a request has more than `maxIntervals` intervals.
    error FlexCoordinationWindowTooLong(uint256 intervals, uint256 maxIntervals);
    /// @notice Thrown when the window does not start at a future multiple of 900 s.
    error FlexCoordinationBadWindowStart(uint64 windowStart, uint256 nowS);
    /// @notice Thrown when the opt-in deadline is not in (now, windowStart].
    error FlexCoordinationBadOptInDeadline(uint64 optInDeadline, uint64 windowStart, uint256 nowS);
    /// @notice Thrown when the tolerance is 100 % or more.
    error FlexCoordinationImpossibleTolerance(uint256 toleranceBp);
    /// @notice Thrown when the baseline method id is not one of settlement/baselines.py's (1..4).
    error FlexCoordinationUnknownBaselineMethod(uint8 method);
    /// @notice Thrown when a request names a baseline the contract cannot recompute from meter
    /// readings (X-of-Y, same hour, forecast: every method but 4, meter before / after).
    error FlexCoordinationBaselineNotOnChain(uint8 method);
    /// @notice Thrown when the meter-before baseline averages no interval, or more than 96,
    /// or leaves more than 96 out before the window.
    error FlexCoordinationBadBaselineParams(uint8 baselineIntervals, uint8 baselineGapIntervals);
    /// @notice Thrown when a request's baseline hash is neither zero nor the hash of its
    /// method and parameters (`expected`, settlement/baselines.py `baseline_hash`).
    error FlexCoordinationBaselineHashMismatch(bytes32 expected, bytes32 given);
    /// @notice Thrown when interval `interval` asks for zero Wh.
    error FlexCoordinationZeroQuantity(uint256 interval);
    /// @notice Thrown when the escrow does not cover the most the request can cost.
    error FlexCoordinationEscrowTooSmall(uint256 required, uint256 escrow);
    /// @notice Thrown when the token moved `received` into the contract for an escrow of
    /// `escrow` (a token that keeps a fee on transfer): the escrow must arrive in full.
    error FlexCoordinationEscrowNotReceived(uint256 escrow, uint256 received);
    /// @notice Thrown when the request is not in the status the call needs.
    error FlexCoordinationWrongStatus(uint256 requestId, Status status);
    /// @notice Thrown when an opt-in comes at or after the deadline.
    error FlexCoordinationOptInClosed(uint256 requestId, uint64 optInDeadline, uint256 nowS);
    /// @notice Thrown when an opt-in offers zero Wh.
    error FlexCoordinationZeroOffer(address member);
    /// @notice Thrown when `member` is not an active prosumer.
    error FlexCoordinationNotProsumer(address member);
    /// @notice Thrown when `member` of grid area `area` opts in to a request of `requestArea`.
    error FlexCoordinationWrongArea(address member, bytes32 area, bytes32 requestArea);
    /// @notice Thrown when `member` opts in twice.
    error FlexCoordinationAlreadyOptedIn(uint256 requestId, address member);
    /// @notice Thrown when a signed opt-in's signature is not the member's.
    error FlexCoordinationBadSignature(uint256 index, address member, address recovered);
    /// @notice Thrown when a coalition names `account`, which did not opt in.
    error FlexCoordinationNotOptedIn(uint256 requestId, address account);
    /// @notice Thrown when a coalition names `account` twice (as member or reserve).
    error FlexCoordinationDuplicateMember(uint256 requestId, address account);
    /// @notice Thrown when a table row's meter id is not `member`'s registered meter.
    error FlexCoordinationWrongMeter(address member, bytes32 meterId);
    /// @notice Thrown when `member`'s meter `meterId` is not enrolled in the MeterOracle.
    error FlexCoordinationMeterNotEnrolled(address member, bytes32 meterId);
    /// @notice Thrown when a table row carries meter index `index`; `meterId`'s is `expected`.
    error FlexCoordinationWrongMeterIndex(address member, bytes32 meterId, uint256 index, uint256 expected);
    /// @notice Thrown when `member`'s meter (index `meterIndex`) already backs another row of
    /// the coalition: one meter per member.
    error FlexCoordinationDuplicateMeter(address member, uint256 meterIndex);
    /// @notice Thrown when the table is empty or its length is not whole rows.
    error FlexCoordinationBadTable(uint256 length, uint256 rowWords);
    /// @notice Thrown when a target is above what the member offered.
    error FlexCoordinationTargetAboveOffer(address member, uint256 interval, uint256 targetWh, uint256 maxWh);
    /// @notice Thrown when an interval's targets add up outside [lower(q), upper(q)].
    error FlexCoordinationTargetsOutsideTolerance(uint256 interval, uint256 sumWh, uint256 lowerWh, uint256 upperWh);
    /// @notice Thrown when the coalition's price is above the request's cap.
    error FlexCoordinationPriceAboveCap(uint256 pricePerKwh, uint256 capPerKwh);
    /// @notice Thrown when the most the targets can earn is more than the escrow.
    error FlexCoordinationEscrowInsufficient(uint256 maxPayout, uint256 escrow);
    /// @notice Thrown when a call comes after the delivery window started.
    error FlexCoordinationWindowStarted(uint256 requestId, uint64 windowStart, uint256 nowS);
    /// @notice Thrown when the resupplied table is not the stored one.
    error FlexCoordinationTableMismatch(uint256 requestId, bytes32 expected, bytes32 actual);
    /// @notice Thrown when `account` is not a (current) member of the coalition.
    error FlexCoordinationNotMember(uint256 requestId, address account);
    /// @notice Thrown when `account` is not an unused reserve member of the coalition.
    error FlexCoordinationNotReserve(uint256 requestId, address account);
    /// @notice Thrown when a replacement starts at interval `interval`, started at `startS`.
    error FlexCoordinationIntervalStarted(uint256 requestId, uint256 interval, uint64 startS, uint256 nowS);
    /// @notice Thrown when the escrow is reclaimed before the window started.
    error FlexCoordinationWindowNotStarted(uint256 requestId, uint64 windowStart, uint256 nowS);
    /// @notice Thrown when settlement comes before the window's end `endS`.
    error FlexCoordinationWindowNotEnded(uint256 requestId, uint64 endS, uint256 nowS);
    /// @notice Thrown when the deliveries do not have one row per table row.
    error FlexCoordinationLengthMismatch(uint256 expected, uint256 actual);
    /// @notice Thrown when an interval that has a meter commitment is flagged as without data.
    error FlexCoordinationMeterDataPresent(address member, bytes32 meterId, uint64 intervalStart);
    /// @notice Thrown when an interval without a meter commitment is not flagged as such.
    error FlexCoordinationMissingMeterData(address member, bytes32 meterId, uint64 intervalStart);
    /// @notice Thrown when an interval flagged as without meter data (or one beyond the
    /// window: `interval` >= intervals) claims a delivery.
    error FlexCoordinationDeliveryWithoutData(address member, uint256 interval);
    /// @notice Thrown when the resupplied results and deliveries are not the proposal's.
    error FlexCoordinationSettlementMismatch(uint256 requestId, bytes32 expected, bytes32 actual);
    /// @notice Thrown when the bond does not arrive in full (a token with a fee on transfer).
    error FlexCoordinationBondNotReceived(uint256 bond, uint256 received);
    /// @notice Thrown when a dispute comes after the challenge window ended at `challengeEnds`.
    error FlexCoordinationChallengeClosed(uint256 requestId, uint64 challengeEnds, uint256 nowS);
    /// @notice Thrown when finalizing before the challenge window ends at `challengeEnds`.
    error FlexCoordinationChallengeOpen(uint256 requestId, uint64 challengeEnds, uint256 nowS);
    /// @notice Thrown when a dispute names row `row` of a table of `rows` rows.
    error FlexCoordinationBadRow(uint256 requestId, uint256 row, uint256 rows);
    /// @notice Thrown when a dispute gives `count` readings where the row needs `expected`
    /// (the baseline's intervals, then one per window interval).
    error FlexCoordinationReadingCount(address member, uint256 expected, uint256 count);
    /// @notice Thrown when a reading is not `member`'s current committed value of the interval.
    error FlexCoordinationBadReading(address member, uint64 intervalStart);
    /// @notice Thrown when a reading is claimed missing but the meter has one for the interval.
    error FlexCoordinationReadingPresent(address member, uint64 intervalStart);
    /// @notice Thrown when a recomputed delivery does not fit the deliveries' int32 field.
    error FlexCoordinationDeliveryOutOfRange(address member, uint256 interval, int256 deliveredWh);
    /// @notice Thrown when a dispute recomputes row `row` as proposed: nothing to correct.
    error FlexCoordinationRowCorrect(uint256 requestId, uint256 row);
    /// @notice Thrown when there is nothing to claim.
    error FlexCoordinationNothingToClaim(address member);
}
