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
import {CoordinationSettlement} from "./libraries/CoordinationSettlement.sol";
import {PackedRows} from "./libraries/PackedRows.sol";
import {PackedWords} from "./libraries/PackedWords.sol";

/// @title FlexCoordination
/// @notice DSO flexibility requests with escrow, members' opt-ins, coalitions with per-member
/// targets per interval, replacement of members by reserves, and settlement (CGDFS-5,
/// CBFM-10, DMSFDR-4/5/6). One contract rather than three: a request, its coalition and its
/// settlement share one record and one escrow, so no phase calls another contract to learn
/// the request's state (and nothing is stored twice).
///
/// Settlement is proposed, open to disputes for `challengeWindowS`, then finalized (see
/// IFlexCoordination); the figures are computed and corrected by the linked library
/// CoordinationSettlement from the deliveries and the MeterOracle's commitments and readings.
///
/// Storage per request: eight slots (see `Request`) plus the quantities, eight per slot; per
/// member and request one slot (`OptIn`); per member one slot (`Account`: claimable payouts,
/// reputation, counts). The targets table, the settlement figures and the deliveries are kept
/// as hashes; the tables themselves are in the events, and each later step resupplies them.
///
/// Tokens: `token` is FlexToken, a plain OpenZeppelin ERC-20 with no transfer hooks (no
/// ERC-777 or ERC-1363 callbacks) and no fee, so a token call runs no code of a member or a
/// DSO. The contract does not rely on that alone: the functions that move tokens
/// (`publishRequest`, `reclaimEscrow`, `proposeSettlement`, `disputeSettlement`,
/// `finalizeSettlement`, `claimPayout`) are `nonReentrant` (a transient-storage guard) and
/// finish their state changes before they call the token, and an escrow or a bond that does
/// not arrive in full (a fee-on-transfer token) is refused, so the contract's balance always
/// covers what it records.
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
    /// @notice The one baseline the contract recomputes from meter readings (settlement/
    /// baselines.py METER_BEFORE_AFTER).
    uint8 public constant METER_BEFORE_AFTER = 4;
    /// @notice Most intervals the meter-before baseline averages, and leaves out before the
    /// window (as settlement/baselines.py MeterBeforeAfterParams).
    uint8 public constant MAX_BASELINE_INTERVALS = 96;

    bytes32 public constant OPT_IN_TYPEHASH =
        keccak256("OptIn(uint256 requestId,address member,uint48 maxWh)");

    uint8 private constant OPTED = 0;
    uint8 private constant MEMBER = 1;
    uint8 private constant RESERVE = 2;
    uint8 private constant REPLACED = 3;

    IParticipantRegistry public immutable registry;
    IERC20 public immutable token;
    IMeterOracle public immutable meterOracle;
    /// @notice Seconds a proposed settlement stays open to disputes.
    uint64 public immutable challengeWindowS;
    /// @notice Seconds after the window during which only the coordinator or a market
    /// operator may propose the settlement; after them anyone may.
    uint64 public immutable proposalGraceS;
    /// @notice FlexToken a settlement's proposer posts: paid to the first successful
    /// disputer (the DSO when the proposer corrects itself), returned at finalization
    /// otherwise.
    uint96 public immutable settlementBond;

    uint256 public requestCount;
    mapping(uint256 requestId => Request) private _requests;
    mapping(uint256 requestId => uint32[]) private _quantities;
    mapping(uint256 requestId => mapping(address member => OptIn)) private _optIns;
    mapping(address member => Account) private _accounts;

    /// @dev Running figures of one proposal (memory, against stack depth).
    struct Proposal {
        uint256 n;
        uint256 tw;
        uint256 tol;
        uint40 price;
        uint256 maxPayout;
        uint16 round;
        uint256[] sums;
        uint256[] meters;
    }

    /// @param challengeWindowS_ seconds a proposed settlement is open to disputes
    /// @param proposalGraceS_ seconds after a window during which only its coordinator (or a
    /// market operator) may propose the settlement
    /// @param settlementBond_ FlexToken base units a settlement's proposer posts
    constructor(
        address registry_,
        address token_,
        address meterOracle_,
        uint64 challengeWindowS_,
        uint64 proposalGraceS_,
        uint96 settlementBond_
    ) EIP712("BRIGHT FlexCoordination", "1") {
        if (registry_ == address(0) || token_ == address(0) || meterOracle_ == address(0)) {
            revert FlexCoordinationZeroAddress();
        }
        registry = IParticipantRegistry(registry_);
        token = IERC20(token_);
        meterOracle = IMeterOracle(meterOracle_);
        challengeWindowS = challengeWindowS_;
        proposalGraceS = proposalGraceS_;
        settlementBond = settlementBond_;
    }

    // ---------------------------------------------------------------- requests

    /// @notice Publishes a request with one quantity per 15-minute interval (Wh) and escrows
    /// `p.escrow` FlexToken from the caller, an active DSO (approve this contract first). The
    /// escrow must cover `sum_t priceCap * upper(q_t) / 1000`, and must arrive in full (a token
    /// that keeps a fee on transfer is refused with `FlexCoordinationEscrowNotReceived`).
    /// The baseline must be one the contract can recompute when a settlement is disputed: the
    /// meter-before baseline (method 4) with `p.baselineIntervals` (1..96) and
    /// `p.baselineGapIntervals` (0..96); X-of-Y, same-hour and forecast baselines (methods 1 to
    /// 3) are refused with `FlexCoordinationBaselineNotOnChain`. `p.baselineHash` is zero or
    /// `keccak256(abi.encode(uint8(4), int256[](K, G)))` (settlement/baselines.py
    /// `baseline_hash`); the stored hash is always the latter.
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
        bytes32 baselineHash = _baselineHash(p);
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
        r.baselineHash = baselineHash;
        r.baselineMethod = p.baselineMethod;
        r.baselineIntervals = p.baselineIntervals;
        r.baselineGapIntervals = p.baselineGapIntervals;
        _quantities[requestId] = quantitiesWh;
        _pull(p.escrow, false);
        RequestParams memory logged = p;
        logged.baselineHash = baselineHash; // as stored (a zero hash given is filled in)
        emit RequestPublished(requestId, msg.sender, p.gridArea, logged, quantitiesWh);
    }

    /// @dev The request's baseline is the meter-before baseline with valid parameters, and
    /// its hash (the given one zero or the same).
    function _baselineHash(RequestParams calldata p) private pure returns (bytes32 h) {
        uint8 method = p.baselineMethod;
        if (method == 0 || method > METER_BEFORE_AFTER) revert FlexCoordinationUnknownBaselineMethod(method);
        if (method != METER_BEFORE_AFTER) revert FlexCoordinationBaselineNotOnChain(method);
        (uint8 k, uint8 gap) = (p.baselineIntervals, p.baselineGapIntervals);
        if (
            k == 0 || k > MAX_BASELINE_INTERVALS || gap > MAX_BASELINE_INTERVALS
                || p.windowStart < (uint64(k) + gap) * INTERVAL_S
        ) revert FlexCoordinationBadBaselineParams(k, gap);
        int256[] memory params = new int256[](2);
        (params[0], params[1]) = (int256(uint256(k)), int256(uint256(gap)));
        h = keccak256(abi.encode(method, params));
        if (p.baselineHash != bytes32(0) && p.baselineHash != h) {
            revert FlexCoordinationBaselineHashMismatch(h, p.baselineHash);
        }
    }

    /// @dev Takes `amount` from the caller; exactly `amount` must arrive (the contract's
    /// balance before and after), so the recorded escrow (or bond: `bond`) is always held.
    function _pull(uint256 amount, bool bond) private {
        if (amount == 0) return;
        uint256 before = _balance();
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = _balance() - before;
        if (received != amount) {
            if (bond) revert FlexCoordinationBondNotReceived(amount, received);
            revert FlexCoordinationEscrowNotReceived(amount, received);
        }
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
    /// no two rows name one meter; the most the targets can earn is covered by the escrow.
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
        pr.meters = new uint256[](_setSize(table.length / pr.tw));
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

    /// @notice Replaces `member` by reserve `reserve` (meter `reserveMeterId`, which no row of
    /// the table uses) from interval `fromInterval` on, which must not have started: the member
    /// keeps its earlier targets, the reserve takes the later ones (as a new row at the table's
    /// end). By the coalition's coordinator or an active market operator; `table` is the
    /// current targets table.
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
    /// them. No row of the table may use the reserve's meter.
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
        uint256 index = row[0] & type(uint96).max;
        for (uint256 i; i < len; ++i) {
            uint256 word = table[i];
            next[i] = word;
            if (i % tw == 0) {
                if (address(uint160(word >> 96)) == member) at = i;
                if (word & type(uint96).max == index) {
                    revert FlexCoordinationDuplicateMeter(address(uint160(row[0] >> 96)), index);
                }
            }
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

    /// @notice Proposes the settlement of `requestId` after its window: `table` is the current
    /// targets table, `deliveries` per row the intervals without meter data and the delivered
    /// Wh (see the interface). The flags must be exactly the intervals where the row's meter
    /// has no commitment in the MeterOracle, and a flagged interval delivers nothing; the
    /// contract computes each row's payout, uncovered penalty and points (CoordinationSettlement)
    /// and takes `settlementBond` from the caller (approve it first). Until `proposalGraceS`
    /// after the window only the coalition's coordinator (while active) or an active market
    /// operator may propose; after it anyone may, so a coalition whose coordinator vanished is
    /// still settled. Opens the challenge window (`challengeWindowS`).
    function proposeSettlement(uint256 requestId, uint256[] calldata table, uint256[] calldata deliveries)
        external
        nonReentrant
    {
        Request storage r = _request(requestId);
        if (r.status != Status.Accepted) revert FlexCoordinationWrongStatus(requestId, r.status);
        uint64 endS = r.windowStart + uint64(r.intervals) * INTERVAL_S;
        if (block.timestamp < endS) revert FlexCoordinationWindowNotEnded(requestId, endS, block.timestamp);
        if (block.timestamp < endS + proposalGraceS) _requireCoordinator(r, requestId);
        _checkTable(r, requestId, table);
        // Exact: a block's timestamp fits a uint64 for billions of years.
        CoordinationSettlement.propose(
            r, _env(requestId, uint64(block.timestamp) + challengeWindowS), table, deliveries
        );
        _pull(settlementBond, true);
    }

    /// @notice Disputes row `d.row` of the settlement proposed for `requestId`, during its
    /// challenge window (anyone): `table` is the targets table, `d` the proposal's results
    /// and deliveries as logged (and corrected by earlier disputes) with the row's meter
    /// evidence (see `Dispute`). The row is recomputed and corrected; the first successful
    /// disputer gets the bond (the DSO does when the proposer corrects its own proposal). A
    /// dispute that finds the row correct reverts with `FlexCoordinationRowCorrect`.
    function disputeSettlement(uint256 requestId, uint256[] calldata table, Dispute calldata d)
        external
        nonReentrant
    {
        Request storage r = _settling(requestId);
        if (block.timestamp >= r.challengeEnds) {
            revert FlexCoordinationChallengeClosed(requestId, r.challengeEnds, block.timestamp);
        }
        _checkTable(r, requestId, table);
        uint256 paid = CoordinationSettlement.dispute(r, _env(requestId, r.challengeEnds), table, d);
        // A wrong proposal always costs its bond: corrected by its own proposer (who could
        // front-run another disputer), the bond goes to the DSO.
        if (paid != 0) token.safeTransfer(msg.sender == r.proposer ? r.dso : msg.sender, paid);
    }

    /// @notice Finalizes the settlement of `requestId` once its challenge window has ended
    /// (anyone): `results` as proposed and corrected, `deliveriesHash` the keccak256 of the
    /// deliveries likewise. Credits the payouts (see `claimPayout`) and the points, pays the
    /// refund to the DSO and an untouched bond back to the proposer.
    function finalizeSettlement(
        uint256 requestId,
        uint256[] calldata table,
        uint256[] calldata results,
        bytes32 deliveriesHash
    ) external nonReentrant {
        Request storage r = _settling(requestId);
        if (block.timestamp < r.challengeEnds) {
            revert FlexCoordinationChallengeOpen(requestId, r.challengeEnds, block.timestamp);
        }
        _checkTable(r, requestId, table);
        (uint256 payoutTotal, uint256 bond) = CoordinationSettlement.finalize(
            r, _accounts, _env(requestId, r.challengeEnds), table, results, deliveriesHash
        );
        uint256 refund = r.escrow - payoutTotal;
        if (refund != 0) token.safeTransfer(r.dso, refund);
        if (bond != 0) token.safeTransfer(r.proposer, bond);
    }

    function _settling(uint256 requestId) private view returns (Request storage r) {
        r = _request(requestId);
        if (r.status != Status.Settling) revert FlexCoordinationWrongStatus(requestId, r.status);
    }

    function _env(uint256 requestId, uint64 challengeEnds)
        private
        view
        returns (CoordinationSettlement.Env memory)
    {
        return CoordinationSettlement.Env(meterOracle, requestId, settlementBond, challengeEnds);
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
    /// pointer (nothing is allocated).
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
        if (!_claimMeter(pr.meters, index)) revert FlexCoordinationDuplicateMeter(m, index);
        _addTargets(pr, row, tableLength, m, maxWh);
    }

    /// @dev Slots of the meter set of a table of `rows` rows: a power of two, at least twice
    /// the rows (open addressing stays short).
    function _setSize(uint256 rows) private pure returns (uint256 size) {
        size = 4;
        while (size < 2 * rows) size <<= 1;
    }

    /// @dev Adds meter index `index` to the set `set` (open addressing, `index + 1` stored so
    /// that 0 is an empty slot); false when it is there already.
    function _claimMeter(uint256[] memory set, uint256 index) private pure returns (bool) {
        uint256 mask = set.length - 1;
        uint256 key = index + 1;
        uint256 i = index & mask;
        while (true) {
            uint256 v = set[i];
            if (v == key) return false;
            if (v == 0) {
                set[i] = key;
                return true;
            }
            i = (i + 1) & mask;
        }
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
