// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IFlexCoordination} from "./interfaces/IFlexCoordination.sol";
import {IMeterOracle} from "./interfaces/IMeterOracle.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {AccountBook} from "./libraries/AccountBook.sol";
import {PackedRows} from "./libraries/PackedRows.sol";
import {PackedWords} from "./libraries/PackedWords.sol";

/// @title FlexCoordination
/// @notice DSO flexibility requests with escrow, members' opt-ins, coalitions with per-member
/// targets per interval, replacement of members by reserves, and settlement (CGDFS-5,
/// CBFM-10, DMSFDR-4/5/6). One contract rather than three: a request, its coalition and its
/// settlement share one record and one escrow, so no phase calls another contract to learn
/// the request's state (and nothing is stored twice).
///
/// Storage per request: seven slots (see `Request`) plus the quantities, eight per slot; per
/// member and request one slot (`OptIn`); per member one slot (`Account`: claimable payouts,
/// reputation, counts). The targets table, the settlement figures and the deliveries are kept
/// as hashes; the tables themselves are in the events, and each later step resupplies them.
///
/// Tokens: `token` is FlexToken, a plain OpenZeppelin ERC-20 with no transfer hooks (no
/// ERC-777 or ERC-1363 callbacks) and no fee, so a token call runs no code of a member or a
/// DSO. The contract does not rely on that alone: the four functions that move tokens
/// (`publishRequest`, `reclaimEscrow`, `settle`, `claimPayout`) are `nonReentrant` (a
/// transient-storage guard) and finish their state changes before they call the token, and
/// `publishRequest` refuses an escrow that does not arrive in full (a fee-on-transfer token),
/// so the contract's balance always covers what it records.
contract FlexCoordination is IFlexCoordination, EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using AccountBook for Account;
    using PackedWords for uint256;

    /// @notice Delivery intervals are 15 minutes, aligned to UTC.
    uint64 public constant INTERVAL_S = 900;
    /// @notice Basis points in one.
    uint256 public constant BP = 10_000;
    /// @notice Longest window: 256 intervals (the missing-data bitmap is one word per member).
    uint256 public constant MAX_INTERVALS = 256;

    bytes32 public constant OPT_IN_TYPEHASH =
        keccak256("OptIn(uint256 requestId,address member,uint48 maxWh)");

    uint8 private constant OPTED = 0;
    uint8 private constant MEMBER = 1;
    uint8 private constant RESERVE = 2;
    uint8 private constant REPLACED = 3;

    IParticipantRegistry public immutable registry;
    IERC20 public immutable token;
    IMeterOracle public immutable meterOracle;

    uint256 public requestCount;
    mapping(uint256 requestId => Request) private _requests;
    mapping(uint256 requestId => uint32[]) private _quantities;
    mapping(uint256 requestId => mapping(address member => OptIn)) private _optIns;
    mapping(address member => Account) private _accounts;

    /// @dev Running figures of one settlement (memory, against stack depth): the shape of a
    /// table row (`tw` words) and a deliveries row (`dw` words, `words` per figure), where the
    /// current row starts (`tAt` in the table, `dAt` in the deliveries: word indexes), and the
    /// meter bitmap words fetched so far (`cached` of them in `cache`; `last`: the last used).
    struct Tally {
        uint256 n;
        uint256 tw;
        uint256 dw;
        uint256 words;
        uint16 upperBp;
        uint40 price;
        uint256 payoutTotal;
        uint64 windowStart;
        uint256 window;
        uint256 tAt;
        uint256 dAt;
        uint256 cached;
        CommittedWord last;
        CommittedWord[] cache;
    }

    /// @dev One bitmap word of the meter commitments per interval of a window (bit `b`: the
    /// meter of index `256 * index + b`), with their AND (committed in every interval) and OR.
    struct CommittedWord {
        uint256 index;
        uint256 all;
        uint256 any;
        uint256[] bits;
    }

    /// @dev Running figures of one proposal (memory, against stack depth).
    struct Proposal {
        uint256 n;
        uint256 tw;
        uint256 tol;
        uint40 price;
        uint256 maxPayout;
        uint16 round;
        uint256[] sums;
    }

    constructor(address registry_, address token_, address meterOracle_)
        EIP712("BRIGHT FlexCoordination", "1")
    {
        if (registry_ == address(0) || token_ == address(0) || meterOracle_ == address(0)) {
            revert FlexCoordinationZeroAddress();
        }
        registry = IParticipantRegistry(registry_);
        token = IERC20(token_);
        meterOracle = IMeterOracle(meterOracle_);
    }

    // ---------------------------------------------------------------- requests

    /// @notice Publishes a request with one quantity per 15-minute interval (Wh) and escrows
    /// `p.escrow` FlexToken from the caller, an active DSO (approve this contract first). The
    /// escrow must cover `sum_t priceCap * upper(q_t) / 1000`, and must arrive in full (a token
    /// that keeps a fee on transfer is refused with `FlexCoordinationEscrowNotReceived`).
    function publishRequest(RequestParams calldata p, uint32[] calldata quantitiesWh)
        external
        nonReentrant
        returns (uint256 requestId)
    {
        if (!registry.isActiveAs(msg.sender, IParticipantRegistry.Role.DSO)) {
            revert FlexCoordinationNotDSO(msg.sender);
        }
        uint256 n = quantitiesWh.length;
        if (n == 0) revert FlexCoordinationEmptyWindow();
        if (n > MAX_INTERVALS) revert FlexCoordinationWindowTooLong(n, MAX_INTERVALS);
        if (p.windowStart % INTERVAL_S != 0 || p.windowStart <= block.timestamp) {
            revert FlexCoordinationBadWindowStart(p.windowStart, block.timestamp);
        }
        if (p.optInDeadline > p.windowStart || p.optInDeadline <= block.timestamp) {
            revert FlexCoordinationBadOptInDeadline(p.optInDeadline, p.windowStart, block.timestamp);
        }
        if (p.toleranceBp >= BP) revert FlexCoordinationImpossibleTolerance(p.toleranceBp);
        if (p.baselineMethod == 0) revert FlexCoordinationUnknownBaselineMethod(p.baselineMethod);
        uint256 required;
        for (uint256 k; k < n; ++k) {
            uint256 q = quantitiesWh[k];
            if (q == 0) revert FlexCoordinationZeroQuantity(k);
            required += p.priceCapPerKwh * (q * (BP + p.toleranceBp) / BP) / 1000;
        }
        if (required > p.escrow) revert FlexCoordinationEscrowTooSmall(required, p.escrow);
        requestId = ++requestCount;
        Request storage r = _requests[requestId];
        r.dso = msg.sender;
        r.windowStart = p.windowStart;
        // Exact: `n` is at most MAX_INTERVALS (checked above).
        r.intervals = uint16(n);
        r.direction = p.direction;
        r.gridArea = p.gridArea;
        r.priceCapPerKwh = p.priceCapPerKwh;
        r.penaltyPerKwh = p.penaltyPerKwh;
        r.toleranceBp = p.toleranceBp;
        r.optInDeadline = p.optInDeadline;
        r.escrow = p.escrow;
        r.baselineHash = p.baselineHash;
        r.baselineMethod = p.baselineMethod;
        _quantities[requestId] = quantitiesWh;
        _pullEscrow(p.escrow);
        emit RequestPublished(requestId, msg.sender, p.gridArea, p, quantitiesWh);
    }

    /// @dev Takes `amount` from the caller; exactly `amount` must arrive (the contract's
    /// balance before and after), so the recorded escrow is always held.
    function _pullEscrow(uint256 amount) private {
        if (amount == 0) return;
        uint256 before = _balance();
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = _balance() - before;
        if (received != amount) revert FlexCoordinationEscrowNotReceived(amount, received);
    }

    /// @dev The contract's token balance (a function: the call's code is in the bytecode once).
    function _balance() private view returns (uint256) {
        return token.balanceOf(address(this));
    }

    /// @notice The DSO takes its escrow back when the window started without an accepted
    /// coalition (nobody can deliver any more).
    function reclaimEscrow(uint256 requestId) external nonReentrant {
        Request storage r = _request(requestId);
        if (msg.sender != r.dso) revert FlexCoordinationNotRequestDSO(requestId, msg.sender);
        Status s = r.status;
        if (s != Status.Open && s != Status.Proposed) revert FlexCoordinationWrongStatus(requestId, s);
        if (block.timestamp < r.windowStart) {
            revert FlexCoordinationWindowNotStarted(requestId, r.windowStart, block.timestamp);
        }
        uint256 amount = r.escrow;
        r.status = Status.Reclaimed;
        if (amount != 0) token.safeTransfer(msg.sender, amount);
        emit EscrowReclaimed(requestId, msg.sender, amount);
    }

    // ---------------------------------------------------------------- opt-ins

    /// @notice The caller, an active prosumer of the request's grid area, offers up to `maxWh`
    /// in each interval of the window.
    function optIn(uint256 requestId, uint48 maxWh) external {
        Request storage r = _openForOptIn(requestId);
        _optIn(r, requestId, msg.sender, maxWh);
    }

    /// @notice Relays members' signed opt-ins (the caller is an active aggregator).
    function optInSigned(uint256 requestId, SignedOptIn[] calldata optIns) external {
        if (!registry.isActiveAs(msg.sender, IParticipantRegistry.Role.Aggregator)) {
            revert FlexCoordinationNotCoordinator(requestId, msg.sender);
        }
        Request storage r = _openForOptIn(requestId);
        for (uint256 i; i < optIns.length; ++i) {
            SignedOptIn calldata o = optIns[i];
            bytes32 digest = _hashTypedDataV4(
                keccak256(abi.encode(OPT_IN_TYPEHASH, requestId, o.member, o.maxWh))
            );
            address signer = ECDSA.recover(digest, o.r, o.vs);
            if (signer != o.member) revert FlexCoordinationBadSignature(i, o.member, signer);
            _optIn(r, requestId, o.member, o.maxWh);
        }
    }

    function _openForOptIn(uint256 requestId) private view returns (Request storage r) {
        r = _request(requestId);
        if (block.timestamp >= r.optInDeadline) {
            revert FlexCoordinationOptInClosed(requestId, r.optInDeadline, block.timestamp);
        }
    }

    function _optIn(Request storage r, uint256 requestId, address member, uint48 maxWh) private {
        if (maxWh == 0) revert FlexCoordinationZeroOffer(member);
        if (!registry.isActiveAs(member, IParticipantRegistry.Role.Prosumer)) {
            revert FlexCoordinationNotProsumer(member);
        }
        bytes32 area = r.gridArea;
        if (area != bytes32(0)) {
            bytes32 own = registry.activeGridArea(member);
            if (own != area) revert FlexCoordinationWrongArea(member, own, area);
        }
        OptIn storage o = _optIns[requestId][member];
        if (o.maxWh != 0) revert FlexCoordinationAlreadyOptedIn(requestId, member);
        o.maxWh = maxWh;
        _accounts[member].countOptIn();
        emit OptedIn(requestId, member, msg.sender, maxWh);
    }

    // ---------------------------------------------------------------- coalitions

    /// @notice Proposes the coalition of `requestId` (an active aggregator or market operator,
    /// before the window starts): the targets table (see the interface) and the reserves, all
    /// of whom opted in, at `pricePerKwh` (at most the cap). In every interval the targets add
    /// up to within the tolerance of the quantity; each target is at most the member's offer;
    /// the most the targets can earn is covered by the escrow.
    function proposeCoalition(
        uint256 requestId,
        uint40 pricePerKwh,
        uint256[] calldata table,
        address[] calldata reserves
    ) external {
        Request storage r = _request(requestId);
        Proposal memory pr = _startProposal(r, requestId, pricePerKwh);
        if (table.length == 0 || table.length % pr.tw != 0) {
            revert FlexCoordinationBadTable(table.length, pr.tw);
        }
        for (uint256 base; base < table.length; base += pr.tw) {
            _addRow(pr, requestId, PackedRows.slice(table, base, pr.tw), table.length);
        }
        _checkTolerance(requestId, pr.sums, pr.tol);
        if (pr.maxPayout > r.escrow) revert FlexCoordinationEscrowInsufficient(pr.maxPayout, r.escrow);
        for (uint256 i; i < reserves.length; ++i) _mark(requestId, pr.round, reserves[i], RESERVE);
        bytes32 h = keccak256(abi.encodePacked(table));
        r.status = Status.Proposed;
        r.coordinator = msg.sender;
        r.pricePerKwh = pricePerKwh;
        r.rows = SafeCast.toUint16(table.length / pr.tw);
        r.targetsHash = h;
        emit CoalitionProposed(
            requestId, msg.sender, pr.round, pricePerKwh, pr.maxPayout, h, table, reserves
        );
    }

    /// @dev The caller may propose now, at `pricePerKwh`; the figures the checks need.
    function _startProposal(Request storage r, uint256 requestId, uint40 pricePerKwh)
        private
        view
        returns (Proposal memory pr)
    {
        if (
            !registry.isActiveAs(msg.sender, IParticipantRegistry.Role.Aggregator)
                && !registry.isActiveAs(msg.sender, IParticipantRegistry.Role.MarketOperator)
        ) revert FlexCoordinationNotCoordinator(requestId, msg.sender);
        if (r.status != Status.Open) revert FlexCoordinationWrongStatus(requestId, r.status);
        if (block.timestamp >= r.windowStart) {
            revert FlexCoordinationWindowStarted(requestId, r.windowStart, block.timestamp);
        }
        if (pricePerKwh > r.priceCapPerKwh) {
            revert FlexCoordinationPriceAboveCap(pricePerKwh, r.priceCapPerKwh);
        }
        pr.n = r.intervals;
        pr.tw = _rowWords(pr.n);
        pr.tol = r.toleranceBp;
        pr.price = pricePerKwh;
        pr.round = r.round;
        pr.sums = new uint256[](pr.n);
    }

    /// @dev Gives opted-in `account` status `status` in this round (once); its offer, Wh.
    function _mark(uint256 requestId, uint16 round, address account, uint8 status)
        private
        returns (uint256 maxWh)
    {
        OptIn storage o = _optIns[requestId][account];
        maxWh = o.maxWh;
        if (maxWh == 0) revert FlexCoordinationNotOptedIn(requestId, account);
        if (o.round == round && o.status != OPTED) {
            revert FlexCoordinationDuplicateMember(requestId, account);
        }
        (o.round, o.status) = (round, status);
    }

    /// @notice The request's DSO accepts the proposed coalition (before the window starts).
    function acceptCoalition(uint256 requestId) external {
        Request storage r = _proposed(requestId);
        r.status = Status.Accepted;
        emit CoalitionAccepted(requestId, msg.sender, r.targetsHash);
    }

    /// @notice The request's DSO rejects the proposed coalition; a new one may be proposed
    /// (every opt-in counts again, as member or reserve).
    function rejectCoalition(uint256 requestId) external {
        Request storage r = _proposed(requestId);
        uint16 round = r.round + 1;
        r.status = Status.Open;
        r.round = round;
        r.targetsHash = bytes32(0);
        r.rows = 0;
        emit CoalitionRejected(requestId, msg.sender, round);
    }

    function _proposed(uint256 requestId) private view returns (Request storage r) {
        r = _request(requestId);
        if (msg.sender != r.dso) revert FlexCoordinationNotRequestDSO(requestId, msg.sender);
        if (r.status != Status.Proposed) revert FlexCoordinationWrongStatus(requestId, r.status);
        if (block.timestamp >= r.windowStart) {
            revert FlexCoordinationWindowStarted(requestId, r.windowStart, block.timestamp);
        }
    }

    /// @notice Replaces `member` by reserve `reserve` (meter `reserveMeterId`) from interval
    /// `fromInterval` on, which must not have started: the member keeps its earlier targets,
    /// the reserve takes the later ones (as a new row at the table's end). By the coalition's
    /// coordinator or an active market operator; `table` is the current targets table.
    function replaceMember(
        uint256 requestId,
        uint256[] calldata table,
        address member,
        address reserve,
        bytes32 reserveMeterId,
        uint16 fromInterval
    ) external {
        Request storage r = _accepted(requestId);
        uint64 startS = r.windowStart + uint64(fromInterval) * INTERVAL_S;
        if (fromInterval >= r.intervals || startS <= block.timestamp) {
            revert FlexCoordinationIntervalStarted(requestId, fromInterval, startS, block.timestamp);
        }
        _checkTable(r, requestId, table);
        uint256 maxWh = _swapStatus(requestId, r.round, member, reserve);
        _checkMeter(reserve, reserveMeterId);
        uint256[] memory row = new uint256[](_rowWords(r.intervals));
        row[0] = uint256(uint160(reserve)) << 96 | _meterIndex(reserve, reserveMeterId);
        row[1] = uint256(reserveMeterId);
        bytes32 h = keccak256(abi.encodePacked(_moveTargets(table, member, row, fromInterval)));
        _checkOffer(row, r.intervals, reserve, maxWh);
        r.targetsHash = h;
        // Cannot overflow: every row is a distinct opted-in member (a row is at least three
        // words of calldata, far fewer than 2^16 fit in a block).
        unchecked {
            r.rows += 1;
        }
        emit MemberReplaced(requestId, member, reserve, fromInterval, h, row);
    }

    /// @dev `member` must be a member and `reserve` an unused reserve; they swap roles.
    function _swapStatus(uint256 requestId, uint16 round, address member, address reserve)
        private
        returns (uint256 reserveMaxWh)
    {
        OptIn storage old = _optIns[requestId][member];
        if (old.round != round || old.status != MEMBER) revert FlexCoordinationNotMember(requestId, member);
        OptIn storage fresh = _optIns[requestId][reserve];
        if (fresh.round != round || fresh.status != RESERVE) {
            revert FlexCoordinationNotReserve(requestId, reserve);
        }
        (old.status, fresh.status) = (REPLACED, MEMBER);
        return fresh.maxWh;
    }

    /// @dev The table with reserve row `row` appended (its head and meter id set), which
    /// takes `member`'s targets from interval `fromInterval` on; `member`'s row no longer has
    /// them.
    function _moveTargets(
        uint256[] calldata table,
        address member,
        uint256[] memory row,
        uint256 fromInterval
    )
        private
        pure
        returns (uint256[] memory next)
    {
        uint256 len = table.length;
        uint256 tw = row.length;
        next = new uint256[](len + tw);
        uint256 at;
        for (uint256 i; i < len; ++i) {
            next[i] = table[i];
            if (i % tw == 0 && address(uint160(table[i] >> 96)) == member) at = i;
        }
        // `member` (status MEMBER) has a row: the table's hash matched the stored one. Word by
        // word from the one holding interval `fromInterval`: the fields from there on move.
        uint256 first = fromInterval / PackedWords.FIELDS;
        for (uint256 j = 2 + first; j < tw; ++j) {
            uint256 k = j == 2 + first ? fromInterval % PackedWords.FIELDS : 0;
            (next[at + j], row[j]) = next[at + j].splitAt(k);
        }
        for (uint256 j; j < tw; ++j) next[len + j] = row[j];
    }

    /// @dev The reserve's row `row` asks at most `maxWh` in each of the `n` intervals.
    function _checkOffer(uint256[] memory row, uint256 n, address reserve, uint256 maxWh) private pure {
        for (uint256 k; k < n; ++k) {
            uint256 t = row[2 + k / PackedWords.FIELDS].get(k % PackedWords.FIELDS);
            if (t > maxWh) revert FlexCoordinationTargetAboveOffer(reserve, k, t, maxWh);
        }
    }

    // ---------------------------------------------------------------- settlement

    /// @notice Settles `requestId` after its window (the coordinator or an active market
    /// operator): `table` is the current targets table, `results` one word per row (payout,
    /// uncovered penalty, reputation points), `deliveries` the per-interval figures (see the
    /// interface). Checks that payouts plus `refund` are the escrow, that no payout is above
    /// the member's most, that no credit is above target plus tolerance, and that every
    /// credited meter-interval has a meter commitment (and every one flagged as without data
    /// has none and is credited nothing). Credits the payouts (see `claimPayout`), pays the
    /// refund to the DSO, adds the points to the members' reputation (`RequestSettled` logs
    /// them with the results).
    ///
    /// The meter data is read as whole bitmap words: one `MeterOracle.committedWords` call per
    /// 256 meter indexes in the table gives every interval of the window, and each row's own
    /// bit is checked in memory (the row carries its meter index, checked at proposal).
    function settle(
        uint256 requestId,
        uint256[] calldata table,
        uint256[] calldata results,
        uint256[] calldata deliveries,
        uint256 refund
    ) external nonReentrant {
        Request storage r = _request(requestId);
        Tally memory t = _startSettlement(r, requestId);
        if (results.length != table.length / t.tw) {
            revert FlexCoordinationLengthMismatch(table.length / t.tw, results.length);
        }
        if (deliveries.length != results.length * t.dw) {
            revert FlexCoordinationLengthMismatch(results.length * t.dw, deliveries.length);
        }
        _checkTable(r, requestId, table);
        _settleRows(t, table, results, deliveries);
        if (t.payoutTotal + refund != r.escrow) {
            revert FlexCoordinationPayoutMismatch(r.escrow, t.payoutTotal, refund);
        }
        r.status = Status.Settled;
        r.settlementHash = _emitSettled(requestId, t.payoutTotal, refund, results, deliveries);
        if (refund != 0) token.safeTransfer(r.dso, refund);
    }

    /// @dev The request can be settled now by the caller; the figures the checks need.
    function _startSettlement(Request storage r, uint256 requestId) private view returns (Tally memory t) {
        Status status = r.status;
        if (status == Status.Settled) revert FlexCoordinationAlreadySettled(requestId);
        if (status != Status.Accepted) revert FlexCoordinationWrongStatus(requestId, status);
        _requireCoordinator(r, requestId);
        t.n = r.intervals;
        t.windowStart = r.windowStart;
        uint64 endS = t.windowStart + uint64(t.n) * INTERVAL_S;
        if (block.timestamp < endS) revert FlexCoordinationWindowNotEnded(requestId, endS, block.timestamp);
        t.tw = _rowWords(t.n);
        t.words = PackedWords.wordsFor(t.n);
        t.dw = 1 + 3 * t.words;
        // Cannot overflow: the tolerance is below BP (checked at publication).
        t.upperBp = uint16(BP + r.toleranceBp);
        t.price = r.pricePerKwh;
        t.window = t.n == 256 ? type(uint256).max : (1 << t.n) - 1;
    }

    /// @dev Checks and books every row (`settle` checked that `results` has one entry per row
    /// of `table` and `deliveries` one row per entry).
    function _settleRows(
        Tally memory t,
        uint256[] calldata table,
        uint256[] calldata results,
        uint256[] calldata deliveries
    ) private {
        for (uint256 i; i < results.length; ++i) {
            // Cannot overflow: row `i` starts inside the checked lengths (far below 2^64).
            unchecked {
                (t.tAt, t.dAt) = (i * t.tw, i * t.dw);
            }
            uint256 head = table[t.tAt];
            uint256 maxPayout = _checkRow(t, table, deliveries, head);
            _book(t, head, results[i], maxPayout);
        }
    }

    /// @dev Checks the current row (first word `head`) of the table and of the deliveries
    /// against the targets and the meter data; the most its targets can earn.
    function _checkRow(Tally memory t, uint256[] calldata table, uint256[] calldata deliveries, uint256 head)
        private
        view
        returns (uint256 maxPayout)
    {
        uint256 missing = deliveries[t.dAt];
        // Only the window's intervals can be flagged (keeps the deliveries canonical).
        if (missing & ~t.window != 0) revert FlexCoordinationDeliveryWithoutData(_member(head), t.n);
        bool credited;
        (maxPayout, credited) = _scanRow(t, table, deliveries, head);
        if (!credited && missing == 0) return maxPayout;
        // Fast path: no flags, and the meter's word is the last one used and has a commitment
        // in every interval of the window.
        CommittedWord memory w = t.last;
        if (
            missing == 0 && t.cached != 0 && w.index == (head & type(uint96).max) >> 8
                && (w.all >> (head & 255)) & 1 == 1
        ) return maxPayout;
        _checkData(t, table, deliveries, missing);
    }

    /// @dev One pass over the current row's targets and credits (see PackedRows.scan): the
    /// most the targets can earn and whether anything is credited; reverts for a credit above
    /// target plus tolerance. The unused fields of the last word have zero targets (checked
    /// at proposal), so a credit there is above target too.
    function _scanRow(Tally memory t, uint256[] calldata table, uint256[] calldata deliveries, uint256 head)
        private
        pure
        returns (uint256 maxPayout, bool credited)
    {
        bool above;
        // The slices of `_targets` and `_credits`, taken inline (a call each costs about 25
        // gas a row). Cannot overflow: the rows start inside the checked lengths (far below
        // 2^64).
        unchecked {
            (maxPayout, above, credited) = PackedRows.scan(
                PackedRows.slice(table, t.tAt + 2, t.words),
                PackedRows.slice(deliveries, t.dAt + 1 + t.words, t.words),
                t.upperBp,
                t.price
            );
        }
        if (above) _failCredit(t, table, deliveries, head);
    }

    /// @dev Reverts for the current row's first interval credited above target plus tolerance
    /// (`PackedRows.scan` found one; `PackedRows.firstAbove` applies the same bound).
    function _failCredit(
        Tally memory t,
        uint256[] calldata table,
        uint256[] calldata deliveries,
        uint256 head
    ) private pure {
        (bool found, uint256 k, uint256 credit, uint256 bound) =
            PackedRows.firstAbove(_targets(t, table), _credits(t, deliveries), t.upperBp);
        assert(found);
        revert FlexCoordinationCreditAboveTarget(_member(head), k, credit, bound);
    }

    /// @dev The current row's targets in the table.
    function _targets(Tally memory t, uint256[] calldata table) private pure returns (uint256[] calldata) {
        // Cannot overflow: inside the checked length of `table` (far below 2^64).
        unchecked {
            return PackedRows.slice(table, t.tAt + 2, t.words);
        }
    }

    /// @dev The current row's credits in the deliveries.
    function _credits(Tally memory t, uint256[] calldata deliveries)
        private
        pure
        returns (uint256[] calldata)
    {
        // Cannot overflow: inside the checked length of `deliveries` (far below 2^64).
        unchecked {
            return PackedRows.slice(deliveries, t.dAt + 1 + t.words, t.words);
        }
    }

    /// @dev The member of a table row with first word `head`.
    function _member(uint256 head) private pure returns (address) {
        return address(uint160(head >> 96));
    }

    /// @dev The current row against the meter data (the slow path: the meter's word is not
    /// at hand, or some interval is flagged or not committed): intervals flagged in `missing`
    /// deliver and are credited nothing and have no commitment; the credited ones have one. A
    /// meter committed in every interval of the window needs no look at the credits.
    function _checkData(
        Tally memory t,
        uint256[] calldata table,
        uint256[] calldata deliveries,
        uint256 missing
    ) private view {
        uint256 head = table[t.tAt];
        CommittedWord memory w = _committedWords(t, (head & type(uint96).max) >> 8);
        head &= 255; // the meter's bit in the word
        if (missing == 0 && (w.all >> head) & 1 == 1) return;
        uint256 nz = PackedRows.nonZero(_credits(t, deliveries), type(uint256).max, t.n);
        if (nz & missing != 0) _failRow(t, table, 2, _lowestBit(nz & missing));
        // Cannot overflow: inside the checked length of `deliveries` (far below 2^64).
        unchecked {
            uint256[] calldata delivered = PackedRows.slice(deliveries, t.dAt + 1, t.words);
            uint256 flagged = PackedRows.nonZero(delivered, missing, t.n);
            if (flagged != 0) _failRow(t, table, 2, _lowestBit(flagged));
        }
        uint256 have = _committedRow(w, head, t.n);
        if (missing & have != 0) _failRow(t, table, 3, _lowestBit(missing & have));
        if (nz & ~have != 0) _failRow(t, table, 4, _lowestBit(nz & ~have));
    }

    /// @dev Bit `k` set where meter bit `bit` of `w.bits[k]` is (its commitments in the window).
    function _committedRow(CommittedWord memory w, uint256 bit, uint256 n)
        private
        pure
        returns (uint256 have)
    {
        if ((w.any >> bit) & 1 == 0) return 0;
        if ((w.all >> bit) & 1 == 1) return n == 256 ? type(uint256).max : (1 << n) - 1;
        uint256[] memory words = w.bits;
        for (uint256 k; k < n; ++k) have |= ((words[k] >> bit) & 1) << k;
    }

    function _lowestBit(uint256 x) private pure returns (uint256 k) {
        while ((x >> k) & 1 == 0) ++k;
    }

    /// @dev Reverts with the error of a failed check of the current row at interval `k`: `fail` 2 a
    /// flagged interval with a delivery or a credit, 3 a flagged interval with a commitment, 4
    /// a credit without a commitment.
    function _failRow(Tally memory t, uint256[] calldata table, uint256 fail, uint256 k) private pure {
        address member = _member(table[t.tAt]);
        if (fail == 2) revert FlexCoordinationDeliveryWithoutData(member, k);
        bytes32 meterId = bytes32(table[t.tAt + 1]);
        // Exact: `k` is an interval of the window (below 256).
        uint64 startS = t.windowStart + uint64(k) * INTERVAL_S;
        if (fail == 3) revert FlexCoordinationMeterDataPresent(member, meterId, startS);
        revert FlexCoordinationMissingMeterData(member, meterId, startS);
    }

    /// @dev Bitmap word `wordIndex` of every interval of the window, with their AND and OR
    /// (one oracle call per word index and settlement; the last one used is kept at hand).
    function _committedWords(Tally memory t, uint256 wordIndex)
        private
        view
        returns (CommittedWord memory w)
    {
        w = t.last;
        if (t.cached != 0 && w.index == wordIndex) return w;
        uint256 m = t.cached;
        for (uint256 j; j < m; ++j) {
            if (t.cache[j].index == wordIndex) {
                t.last = t.cache[j];
                return t.last;
            }
        }
        // The oracle returns one word per interval (`t.n` of them).
        uint256[] memory bits = meterOracle.committedWords(t.windowStart, t.n, wordIndex);
        w = CommittedWord(wordIndex, type(uint256).max, 0, bits);
        for (uint256 k; k < bits.length; ++k) (w.all, w.any) = (w.all & bits[k], w.any | bits[k]);
        if (m == t.cache.length) {
            CommittedWord[] memory grown = new CommittedWord[](m == 0 ? 4 : 2 * m);
            for (uint256 j; j < m; ++j) grown[j] = t.cache[j];
            t.cache = grown;
        }
        (t.cache[m], t.cached, t.last) = (w, m + 1, w);
    }

    /// @dev Credits one member's payout and adds its points (see AccountBook.credit).
    function _book(Tally memory t, uint256 head, uint256 result, uint256 maxPayout) private {
        address member = _member(head);
        // The result word's top 96 bits: exact in uint96.
        uint96 payout = uint96(result >> 160);
        if (payout > maxPayout) revert FlexCoordinationPayoutAboveMax(member, payout, maxPayout);
        // Bits 64-95 are the points, int32 in two's complement (the results' encoding): the
        // truncation to 32 bits selects the field.
        _accounts[member].credit(payout, int32(uint32(result >> 64)));
        // Cannot overflow: a payout is below 2^96 and a batch has fewer than 2^16 rows.
        unchecked {
            t.payoutTotal += payout;
        }
    }

    /// @dev Emits `RequestSettled` from one memory copy of the results and deliveries (laid
    /// out as the event's data) and returns the settlement hash
    /// `keccak256(abi.encode(keccak256(results), keccak256(deliveries)))`.
    function _emitSettled(
        uint256 requestId,
        uint256 payoutTotal,
        uint256 refund,
        uint256[] calldata results,
        uint256[] calldata deliveries
    ) private returns (bytes32 h) {
        bytes32 topic = RequestSettled.selector;
        assembly ("memory-safe") {
            let p := mload(0x40)
            let nr := results.length
            let nd := deliveries.length
            let rBytes := shl(5, nr)
            let dBytes := shl(5, nd)
            mstore(p, payoutTotal)
            mstore(add(p, 0x20), refund)
            mstore(add(p, 0x60), 0xa0)
            mstore(add(p, 0x80), add(0xc0, rBytes))
            mstore(add(p, 0xa0), nr)
            calldatacopy(add(p, 0xc0), results.offset, rBytes)
            let dAt := add(add(p, 0xc0), rBytes)
            mstore(dAt, nd)
            calldatacopy(add(dAt, 0x20), deliveries.offset, dBytes)
            mstore(0x00, keccak256(add(p, 0xc0), rBytes))
            mstore(0x20, keccak256(add(dAt, 0x20), dBytes))
            h := keccak256(0x00, 0x40)
            mstore(add(p, 0x40), h)
            log3(p, add(0xe0, add(rBytes, dBytes)), topic, requestId, caller())
        }
    }

    /// @notice The caller takes out the payouts credited to it.
    function claimPayout() external nonReentrant {
        uint256 amount = _accounts[msg.sender].takeClaimable();
        if (amount == 0) revert FlexCoordinationNothingToClaim(msg.sender);
        token.safeTransfer(msg.sender, amount);
        emit PayoutClaimed(msg.sender, amount);
    }

    // ---------------------------------------------------------------- views

    /// @notice The stored record of a request.
    function request(uint256 requestId) external view returns (Request memory) {
        return _request(requestId);
    }

    /// @notice The quantity per interval of a request, Wh.
    function quantities(uint256 requestId) external view returns (uint32[] memory) {
        _request(requestId);
        return _quantities[requestId];
    }

    /// @notice `member`'s opt-in to `requestId` (maxWh 0: none) and its status in the current
    /// round (0 opted in, 1 member, 2 reserve, 3 replaced).
    function optInOf(uint256 requestId, address member) external view returns (uint48 maxWh, uint8 status) {
        OptIn storage o = _optIns[requestId][member];
        uint8 s = o.round == _requests[requestId].round ? o.status : OPTED;
        return (o.maxWh, s);
    }

    /// @notice `member`'s claimable payouts, reputation and counts.
    function account(address member) external view returns (Account memory) {
        return _accounts[member];
    }

    /// @notice The EIP-712 digest a member signs to opt in.
    function optInDigest(uint256 requestId, address member, uint48 maxWh) external view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(OPT_IN_TYPEHASH, requestId, member, maxWh)));
    }

    // ---------------------------------------------------------------- internals

    function _request(uint256 requestId) private view returns (Request storage r) {
        r = _requests[requestId];
        if (r.dso == address(0)) revert FlexCoordinationUnknownRequest(requestId);
    }

    function _accepted(uint256 requestId) private view returns (Request storage r) {
        r = _request(requestId);
        if (r.status != Status.Accepted) revert FlexCoordinationWrongStatus(requestId, r.status);
        _requireCoordinator(r, requestId);
    }

    /// @dev The coalition's coordinator (while active) or an active market operator.
    function _requireCoordinator(Request storage r, uint256 requestId) private view {
        if (msg.sender == r.coordinator && registry.isActive(msg.sender)) return;
        if (!registry.isActiveAs(msg.sender, IParticipantRegistry.Role.MarketOperator)) {
            revert FlexCoordinationNotCoordinator(requestId, msg.sender);
        }
    }

    function _checkTable(Request storage r, uint256 requestId, uint256[] calldata table) private view {
        bytes32 h = _hashWords(table);
        if (h != r.targetsHash) revert FlexCoordinationTableMismatch(requestId, r.targetsHash, h);
    }

    /// @dev `keccak256(abi.encodePacked(a))` hashed in scratch memory past the free memory
    /// pointer (nothing is allocated: the settlement's event data later reuses the space).
    function _hashWords(uint256[] calldata a) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            calldatacopy(p, a.offset, shl(5, a.length))
            h := keccak256(p, shl(5, a.length))
        }
    }

    /// @dev Words of a table row: head, meter id, the targets.
    function _rowWords(uint256 n) private pure returns (uint256) {
        return 2 + PackedWords.wordsFor(n);
    }

    function _checkMeter(address member, bytes32 meterId) private view {
        IParticipantRegistry.Participant memory p = registry.participant(member);
        if (!p.active || p.meterId != meterId || meterId == bytes32(0)) {
            revert FlexCoordinationWrongMeter(member, meterId);
        }
    }

    /// @dev The MeterOracle index of `member`'s meter `meterId` (which must be enrolled there:
    /// settlement reads the meter's commitments by it).
    function _meterIndex(address member, bytes32 meterId) private view returns (uint256 index) {
        try meterOracle.meterIndexOf(meterId) returns (uint64 i) {
            return i;
        } catch {
            revert FlexCoordinationMeterNotEnrolled(member, meterId);
        }
    }

    /// @dev Checks a proposed row (an opted-in member, once; its registered meter with the
    /// MeterOracle index the row carries) and adds its targets (`tableLength`: for the error).
    function _addRow(Proposal memory pr, uint256 requestId, uint256[] calldata row, uint256 tableLength)
        private
    {
        address m = address(uint160(row[0] >> 96));
        uint256 maxWh = _mark(requestId, pr.round, m, MEMBER);
        bytes32 meterId = bytes32(row[1]);
        _checkMeter(m, meterId);
        uint256 index = _meterIndex(m, meterId);
        if (row[0] & type(uint96).max != index) {
            revert FlexCoordinationWrongMeterIndex(m, meterId, row[0] & type(uint96).max, index);
        }
        _addTargets(pr, row, tableLength, m, maxWh);
    }

    /// @dev Adds row `row`'s targets to the interval sums and what they can earn to the total;
    /// each target is at most the member's offer `maxWh`, the unused fields of the last word
    /// are zero (`tableLength`: for the error).
    function _addTargets(
        Proposal memory pr,
        uint256[] calldata row,
        uint256 tableLength,
        address m,
        uint256 maxWh
    ) private pure {
        uint256[] calldata targets = PackedRows.slice(row, 2, row.length - 2);
        // Cannot overflow: the tolerance is below BP (checked at publication).
        (uint256 k, uint256 most) =
            PackedRows.addTargets(pr.sums, targets, maxWh, uint16(BP + pr.tol), pr.price);
        if (k < pr.n) revert FlexCoordinationTargetAboveOffer(m, k, PackedRows.at(targets, k), maxWh);
        if (!PackedRows.zeroFrom(targets, pr.n)) revert FlexCoordinationBadTable(tableLength, pr.tw);
        pr.maxPayout += most;
    }

    function _checkTolerance(uint256 requestId, uint256[] memory sums, uint256 tol) private view {
        uint32[] storage q = _quantities[requestId];
        for (uint256 k; k < sums.length; ++k) {
            uint256 qk = q[k];
            uint256 lower = qk * (BP - tol) / BP;
            uint256 upper = qk * (BP + tol) / BP;
            if (sums[k] < lower || sums[k] > upper) {
                revert FlexCoordinationTargetsOutsideTolerance(k, sums[k], lower, upper);
            }
        }
    }
}
