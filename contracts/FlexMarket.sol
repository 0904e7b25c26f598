// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IFlexMarket} from "./interfaces/IFlexMarket.sol";
import {IMeterOracle} from "./interfaces/IMeterOracle.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {FlexRules} from "./libraries/FlexRules.sol";
import {MarketBook} from "./libraries/MarketBook.sol";
import {MarketSettlement} from "./libraries/MarketSettlement.sol";
import {MarketStorage} from "./libraries/MarketStorage.sol";

/// @title FlexMarket
/// @notice The community flexibility market (CBFM). What it stores is the least the checks
/// need: per session two packed slots of times and terms, a running hash of its orders (the
/// full orders are in `OrderPlaced` events) with a checkpoint every 32 orders, a bitmap of
/// cancelled orders, after clearing the hash of the filled-orders table and the escrow; per
/// participant one slot (free deposit, locked deposit, signed-order nonce).
///
/// Money, per order (core/rules.py is the specification, FlexRules the arithmetic): a bid
/// locks `energyCost(qty, limit) + orderBond`, an offer `energyCost(qty, penaltyPerKwh) +
/// orderBond`. At clearing a bid pays `energyCost(fill, price)` into the session's escrow
/// (price: the clearing price, or its limit under PAY_AS_BID), a filled offer keeps
/// `energyCost(fill, penaltyPerKwh)` locked as its delivery bond, everything else is released.
/// At settlement each seller earns `proRata(escrow, credited, volume)` and pays its penalty out
/// of its bond; the buyers share the rest pro rata to what they paid; rounding dust goes to the
/// treasury. The token is FlexToken (OpenZeppelin ERC-20, no transfer hooks); the functions that
/// move tokens are guarded against reentrancy all the same.
contract FlexMarket is IFlexMarket, EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @dev The storage types (libraries/MarketStorage.sol), shared with MarketSettlement.

    /// @notice Largest order quantity, Wh (the engine's bound; fits the 40-bit fields).
    uint256 public constant MAX_QTY_WH = 1e12;
    /// @notice Largest limit price, token base units per kWh (the engine's bound).
    uint256 public constant MAX_PRICE_PER_KWH = 1e12;
    /// @notice Delivery intervals are whole multiples of 15 minutes, aligned to UTC.
    uint64 public constant INTERVAL_S = 900;
    /// @notice Longest delivery period of a session (its settlement reads one meter reading
    /// per interval of every seller).
    uint32 public constant MAX_DURATION_S = 3600;
    /// @notice Most orders (and sealed commitments) in one session: the largest whose
    /// clearing, voiding and settlement each fit in one block with margin (README: bounds).
    uint256 public constant MAX_ORDERS_PER_SESSION = 256;
    /// @notice A checkpoint of the book's running hash is kept every this many orders, so a
    /// cancel proves its order with at most that many records.
    uint256 public constant CHECKPOINT_EVERY = MarketBook.CHECKPOINT_EVERY;
    /// @notice Most meter-before intervals a session's baseline averages, and most left out.
    uint8 public constant MAX_BASELINE_INTERVALS = 3;
    /// @notice Most meter readings one seller's settlement proves (baseline intervals plus
    /// delivery intervals): with MAX_ORDERS_PER_SESSION, what keeps a settlement in a block.
    uint256 public constant MAX_READINGS_PER_SELLER = 4;

    bytes32 public constant ORDER_TYPEHASH = keccak256(
        "Order(uint256 sessionId,uint8 side,uint48 qtyWh,uint40 pricePerKwh,address trader,uint64 nonce)"
    );
    bytes32 public constant CANCEL_TYPEHASH =
        keccak256("Cancel(uint256 sessionId,uint256 orderId)");

    uint8 private constant COMMITTED = 1;
    uint8 private constant REVEALED = 2;
    uint8 private constant FORFEITED = 3;
    uint256 private constant MASK40 = 0xffffffffff;
    uint256 private constant AREA_BITS = uint256(0x7fff) << 81;

    /// @dev Accumulators of one clearing check (kept in memory against stack depth).
    struct Check {
        uint256 demand;
        uint256 supply;
        uint256 escrow;
        uint256 lowestFilledBid; // a_b
        uint256 highestFilledOffer; // a_o
        uint256 bestOpenBid; // r_b: highest bid price with an unfilled remainder
        uint256 bestOpenOffer; // r_o: lowest offer price with an unfilled remainder
        uint256 bestOpenBidId;
        bool hasOpenBid;
        bool hasOpenOffer;
    }

    /// @dev The per-order terms of a clearing (memory, against stack depth).
    struct Terms {
        uint256 orderBond;
        uint256 penaltyRate;
        uint256 price;
        bool payAsBid;
    }

    IParticipantRegistry public immutable registry;
    IERC20 public immutable token;
    IMeterOracle public immutable meterOracle;
    /// @notice Where forfeited commitment bonds and settlement rounding dust go (a market
    /// balance it withdraws like anyone).
    address public immutable treasury;

    uint256 public sessionCount;
    mapping(uint256 sessionId => MarketStorage.Session) private _sessions;
    mapping(address account => MarketStorage.Account) private _accounts;
    mapping(uint256 sessionId => mapping(uint256 word => uint256 bits)) private _cancelled;
    mapping(uint256 sessionId => mapping(uint256 group => bytes24)) private _checkpoints;
    mapping(uint256 sessionId => mapping(bytes32 key => uint8)) private _commitments;

    constructor(
        IParticipantRegistry registry_,
        IERC20 token_,
        IMeterOracle meterOracle_,
        address treasury_
    ) EIP712("BRIGHT FlexMarket", "1") {
        if (
            address(registry_) == address(0) || address(token_) == address(0)
                || address(meterOracle_) == address(0) || treasury_ == address(0)
        ) revert FlexMarketZeroAddress();
        registry = registry_;
        token = token_;
        meterOracle = meterOracle_;
        treasury = treasury_;
    }

    // ---------------------------------------------------------------- sessions

    /// @notice Opens a session for delivery in [deliveryStart, deliveryStart + durationS)
    /// (see `SessionParams`). Orders are accepted until `gateClosure`; in a sealed session
    /// commitments until `gateClosure` and reveals until `revealDeadline`.
    function openSession(SessionParams calldata p) external returns (uint256 sessionId) {
        if (!registry.isActiveAs(msg.sender, IParticipantRegistry.Role.MarketOperator)) {
            revert FlexMarketNotOperator(msg.sender);
        }
        if (p.product > uint8(type(Product).max)) revert FlexMarketUnknownProduct(p.product);
        if (p.rule > uint8(type(PricingRule).max)) revert FlexMarketUnknownRule(p.rule);
        bool badReveal = p.sealedBids
            ? (p.revealDeadline <= p.gateClosure || p.revealDeadline > p.deliveryStart)
            : p.revealDeadline != 0;
        if (
            p.deliveryStart % INTERVAL_S != 0 || p.durationS == 0 || p.durationS % INTERVAL_S != 0
                || p.durationS > MAX_DURATION_S || p.gateClosure > p.deliveryStart
                || p.gateClosure <= block.timestamp || badReveal
        ) {
            revert FlexMarketBadSessionTimes(
                p.deliveryStart, p.durationS, p.gateClosure, p.revealDeadline, block.timestamp
            );
        }
        if (
            p.toleranceBp >= FlexRules.BP || p.baselineIntervals == 0
                || p.baselineIntervals > MAX_BASELINE_INTERVALS
                || p.baselineGapIntervals > MAX_BASELINE_INTERVALS
                || p.baselineIntervals + p.durationS / INTERVAL_S > MAX_READINGS_PER_SELLER
                || (p.sealedBids && p.orderBond == 0)
                || p.deliveryStart
                    < uint64(p.baselineIntervals + p.baselineGapIntervals) * INTERVAL_S
        ) {
            revert FlexMarketBadSessionTerms(
                p.toleranceBp, p.baselineIntervals, p.baselineGapIntervals, p.orderBond
            );
        }
        sessionId = ++sessionCount;
        MarketStorage.Session storage s = _sessions[sessionId];
        s.deliveryStart = SafeCast.toUint40(p.deliveryStart);
        s.durationS = uint16(p.durationS); // at most MAX_DURATION_S (checked above)
        s.gateClosure = SafeCast.toUint40(p.gateClosure);
        s.revealDeadline = SafeCast.toUint40(p.revealDeadline);
        s.product = Product(p.product);
        s.rule = PricingRule(p.rule);
        s.sealedBids = p.sealedBids;
        s.penaltyPerKwh = p.penaltyPerKwh;
        s.orderBond = SafeCast.toUint48(p.orderBond);
        if (p.gridArea != bytes32(0)) s.gridArea = p.gridArea;
        s.toleranceBp = p.toleranceBp;
        s.baselineIntervals = p.baselineIntervals;
        s.baselineGapIntervals = p.baselineGapIntervals;
        s.settleDelayS = p.settleDelayS;
        emit SessionOpened(sessionId, p);
    }

    // ---------------------------------------------------------------- deposits

    /// @notice Moves `amount` FlexToken (approved beforehand) into the caller's market balance.
    function deposit(uint256 amount) external nonReentrant {
        _deposit(msg.sender, amount);
    }

    /// @notice `deposit` with an ERC-2612 permit instead of a prior approval.
    function depositWithPermit(uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
    {
        IERC20Permit(address(token)).permit(msg.sender, address(this), amount, deadline, v, r, s);
        _deposit(msg.sender, amount);
    }

    /// @notice Takes `amount` of the caller's free balance out of the market.
    function withdraw(uint256 amount) external nonReentrant {
        if (amount == 0) revert FlexMarketZeroAmount();
        MarketStorage.Account storage a = _accounts[msg.sender];
        if (a.free < amount) revert FlexMarketInsufficientDeposit(msg.sender, amount, a.free);
        // Cannot underflow: checked just above.
        unchecked {
            a.free -= uint96(amount);
        }
        token.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    function _deposit(address account, uint256 amount) private {
        if (amount == 0) revert FlexMarketZeroAmount();
        // A balance that would not fit its 96 bits is refused before any token moves.
        uint96 credited = SafeCast.toUint96(uint256(_accounts[account].free) + amount);
        token.safeTransferFrom(account, address(this), amount);
        _accounts[account].free = credited;
        emit Deposited(account, amount);
    }

    // ---------------------------------------------------------------- orders

    /// @notice Places a bid (side 0) or offer (side 1) from the caller's wallet. It locks the
    /// session's order bond plus `energyCost(qty, limit)` (a bid) or `energyCost(qty,
    /// penaltyPerKwh)` (an offer, its delivery bond) of the caller's free deposit.
    function placeOrder(uint256 sessionId, uint8 side, uint48 qtyWh, uint40 pricePerKwh)
        external
        returns (uint256 orderId)
    {
        return _placeDirect(msg.sender, sessionId, side, qtyWh, pricePerKwh);
    }

    /// @notice Places an order for `trader` by its delegated aggregator (or itself).
    function placeOrderFor(
        address trader,
        uint256 sessionId,
        uint8 side,
        uint48 qtyWh,
        uint40 pricePerKwh
    ) external returns (uint256 orderId) {
        if (!registry.actsFor(msg.sender, trader)) revert FlexMarketNotParticipant(msg.sender);
        return _placeDirect(trader, sessionId, side, qtyWh, pricePerKwh);
    }

    function _placeDirect(
        address trader,
        uint256 sessionId,
        uint8 side,
        uint48 qtyWh,
        uint40 pricePerKwh
    ) private returns (uint256 orderId) {
        MarketStorage.Session storage s = _openSession(sessionId);
        if (s.sealedBids) revert FlexMarketWrongOrderMode(sessionId, true);
        OrderRecord memory o = _order(trader, side, qtyWh, pricePerKwh, s.gridArea);
        _lock(_accounts[trader], trader, _lockOf(s, o.side, qtyWh, pricePerKwh));
        orderId = s.orderCount;
        if (orderId >= MAX_ORDERS_PER_SESSION) {
            revert FlexMarketSessionFull(sessionId, MAX_ORDERS_PER_SESSION);
        }
        bytes24 h = _chain(s.bookHash, orderId, o);
        s.bookHash = h;
        s.orderCount = uint32(orderId + 1);
        _checkpoint(sessionId, orderId, h);
        emit OrderPlaced(sessionId, orderId, trader, o.side, qtyWh, pricePerKwh, o.gridArea);
    }

    /// @notice Places EIP-712 signed orders relayed by the market operator (signers pay no
    /// gas). Each signature must be its trader's and carry the trader's next nonce.
    function placeSignedOrders(uint256 sessionId, SignedOrder[] calldata orders) external {
        if (!registry.isActiveAs(msg.sender, IParticipantRegistry.Role.MarketOperator)) {
            revert FlexMarketNotOperator(msg.sender);
        }
        MarketStorage.Session storage s = _openSession(sessionId);
        if (s.sealedBids) revert FlexMarketWrongOrderMode(sessionId, true);
        bytes32 sessionArea = s.gridArea;
        bytes24 h = s.bookHash;
        uint256 orderId = s.orderCount;
        if (orderId + orders.length > MAX_ORDERS_PER_SESSION) {
            revert FlexMarketSessionFull(sessionId, MAX_ORDERS_PER_SESSION);
        }
        for (uint256 i; i < orders.length; ++i) {
            SignedOrder calldata so = orders[i];
            bytes32 digest = _hashTypedDataV4(
                keccak256(
                    abi.encode(
                        ORDER_TYPEHASH, sessionId, so.side, so.qtyWh, so.pricePerKwh, so.trader, so.nonce
                    )
                )
            );
            (address recovered,,) = ECDSA.tryRecover(digest, so.r, so.vs);
            if (recovered != so.trader || recovered == address(0)) {
                revert FlexMarketBadSignature(i, so.trader, recovered);
            }
            MarketStorage.Account storage a = _accounts[so.trader];
            if (a.nonce != so.nonce) revert FlexMarketWrongNonce(i, so.trader, so.nonce, a.nonce);
            OrderRecord memory o =
                _order(so.trader, uint8(so.side), so.qtyWh, so.pricePerKwh, sessionArea);
            // Cannot overflow: one increment per signed order of this trader.
            unchecked {
                a.nonce = so.nonce + 1;
            }
            _lock(a, so.trader, _lockOf(s, o.side, so.qtyWh, so.pricePerKwh));
            h = _chain(h, orderId, o);
            _checkpoint(sessionId, orderId, h);
            emit OrderPlaced(sessionId, orderId, so.trader, o.side, so.qtyWh, so.pricePerKwh, o.gridArea);
            ++orderId;
        }
        s.bookHash = h;
        s.orderCount = uint32(orderId);
    }

    /// @notice Commits a sealed order: `commitment` = keccak256(abi.encode(sessionId, trader,
    /// side, qtyWh, pricePerKwh, salt)). Locks the session's order bond, which a reveal turns
    /// into the order's lock and which is forfeited if the commitment is never revealed.
    /// Commitments are kept per trader: nobody can take another's.
    function commitOrder(uint256 sessionId, bytes32 commitment) external {
        MarketStorage.Session storage s = _openSession(sessionId);
        if (!s.sealedBids) revert FlexMarketWrongOrderMode(sessionId, false);
        if (registry.activeGridArea(msg.sender) == bytes32(0)) {
            revert FlexMarketNotParticipant(msg.sender);
        }
        bytes32 key = _commitmentKey(msg.sender, commitment);
        mapping(bytes32 => uint8) storage c = _commitments[sessionId];
        if (c[key] != 0) revert FlexMarketCommitmentUsed(sessionId, commitment);
        uint256 count = s.commitCount;
        if (count >= MAX_ORDERS_PER_SESSION) {
            revert FlexMarketSessionFull(sessionId, MAX_ORDERS_PER_SESSION);
        }
        s.commitCount = uint32(count + 1);
        c[key] = COMMITTED;
        _lock(_accounts[msg.sender], msg.sender, s.orderBond);
        emit OrderCommitted(sessionId, msg.sender, commitment);
    }

    /// @notice Reveals a committed order after gate closure and before the reveal deadline;
    /// it then enters the book like a placed order.
    function revealOrder(
        uint256 sessionId,
        uint8 side,
        uint48 qtyWh,
        uint40 pricePerKwh,
        bytes32 salt
    ) external returns (uint256 orderId) {
        MarketStorage.Session storage s = _session(sessionId);
        if (!s.sealedBids) revert FlexMarketWrongOrderMode(sessionId, false);
        if (s.status != Status.Open) revert FlexMarketWrongStatus(sessionId, s.status);
        if (block.timestamp < s.gateClosure) revert FlexMarketGateOpen(sessionId, s.gateClosure);
        if (block.timestamp >= s.revealDeadline) {
            revert FlexMarketRevealClosed(sessionId, s.revealDeadline);
        }
        bytes32 commitment =
            keccak256(abi.encode(sessionId, msg.sender, side, qtyWh, pricePerKwh, salt));
        bytes32 key = _commitmentKey(msg.sender, commitment);
        uint8 state = _commitments[sessionId][key];
        if (state == REVEALED) revert FlexMarketCommitmentUsed(sessionId, commitment);
        if (state != COMMITTED) revert FlexMarketUnknownCommitment(sessionId, commitment);
        _commitments[sessionId][key] = REVEALED;
        OrderRecord memory o = _order(msg.sender, side, qtyWh, pricePerKwh, s.gridArea);
        // The commitment's order bond is part of the order's lock already.
        _lock(
            _accounts[msg.sender], msg.sender, _lockOf(s, o.side, qtyWh, pricePerKwh) - s.orderBond
        );
        orderId = s.orderCount;
        bytes24 h = _chain(s.bookHash, orderId, o);
        s.bookHash = h;
        s.orderCount = uint32(orderId + 1);
        _checkpoint(sessionId, orderId, h);
        emit OrderPlaced(sessionId, orderId, msg.sender, o.side, qtyWh, pricePerKwh, o.gridArea);
    }

    /// @notice After the reveal deadline, anyone moves the bond of a commitment its trader
    /// never revealed to the treasury.
    function forfeitCommitment(uint256 sessionId, address trader, bytes32 commitment) external {
        MarketStorage.Session storage s = _session(sessionId);
        bytes32 key = _commitmentKey(trader, commitment);
        mapping(bytes32 => uint8) storage c = _commitments[sessionId];
        if (!s.sealedBids || block.timestamp < s.revealDeadline || c[key] != COMMITTED) {
            revert FlexMarketNotForfeitable(sessionId, trader, commitment);
        }
        c[key] = FORFEITED;
        uint256 bond = s.orderBond;
        MarketStorage.Account storage a = _accounts[trader];
        // Cannot underflow: the commitment locked `bond`, which only this function releases.
        unchecked {
            a.locked -= uint96(bond);
        }
        _credit(treasury, bond);
        emit CommitmentForfeited(sessionId, trader, commitment, bond);
    }

    /// @notice The trader cancels its order `orderId` before gate closure, proving the
    /// order's record with `proof` (the contract keeps only hashes of the book); its lock is
    /// released at once. Anyone may cancel the order of a trader that is no longer active.
    function cancelOrder(uint256 sessionId, uint256 orderId, OrderProof calldata proof) external {
        _cancel(sessionId, orderId, proof, msg.sender);
    }

    /// @notice `cancelOrder` for a trader's EIP-712 signed cancel (`Cancel(sessionId,
    /// orderId)`), relayed by anyone.
    function cancelOrderBySig(
        uint256 sessionId,
        uint256 orderId,
        OrderProof calldata proof,
        bytes32 r,
        bytes32 vs
    ) external {
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(CANCEL_TYPEHASH, sessionId, orderId)));
        (address signer,,) = ECDSA.tryRecover(digest, r, vs);
        if (signer == address(0)) revert FlexMarketBadSignature(0, address(0), signer);
        _cancel(sessionId, orderId, proof, signer);
    }

    function _cancel(uint256 sessionId, uint256 orderId, OrderProof calldata proof, address by)
        private
    {
        MarketStorage.Session storage s = _openSession(sessionId);
        MarketBook.cancel(
            s, _accounts, _cancelled[sessionId], _checkpoints[sessionId], registry, sessionId, orderId, proof, by
        );
    }

    // ---------------------------------------------------------------- clearing

    /// @notice Submits the clearing `r` of a session (see `Clearing` for the packing), after
    /// its gate (or reveal deadline) and before its delivery starts. Accepted only if it is
    /// exactly the result of the session's pricing rule over all of the session's orders; then
    /// each order's money moves per order (see the contract's notice).
    function clearSession(uint256 sessionId, Clearing calldata r) external {
        if (!registry.isActiveAs(msg.sender, IParticipantRegistry.Role.MarketOperator)) {
            revert FlexMarketNotOperator(msg.sender);
        }
        MarketStorage.Session storage s = _session(sessionId);
        if (s.status != Status.Open) revert FlexMarketWrongStatus(sessionId, s.status);
        uint40 closes = s.sealedBids ? s.revealDeadline : s.gateClosure;
        if (block.timestamp < closes) revert FlexMarketGateOpen(sessionId, closes);
        if (block.timestamp >= s.deliveryStart) {
            revert FlexMarketClearingClosed(sessionId, s.deliveryStart);
        }
        uint256 n = r.orders.length;
        if (n != s.orderCount) revert FlexMarketOrderBookMismatch(sessionId, s.orderCount, n);
        bool[] memory cancelled = _cancelledFlags(sessionId, n);
        uint256[] memory filled = new uint256[](n);
        _matches(sessionId, s.rule, r, cancelled, filled);
        Check memory c = _firstPass(s, sessionId, r, cancelled, filled);
        uint40 price;
        if (c.demand == 0) {
            if (c.hasOpenBid && c.hasOpenOffer && c.bestOpenBid >= c.bestOpenOffer) {
                revert FlexMarketOrderLeftOut(c.bestOpenBidId);
            }
            if (r.pricePerKwh != 0) revert FlexMarketWrongPrice(0, r.pricePerKwh);
        } else {
            price = _checkPrice(s.rule, r.pricePerKwh, c);
        }
        bytes32 tableHash = _secondPass(s, r, cancelled, filled, c, price);
        s.status = Status.Cleared;
        s.bookHash = bytes24(tableHash);
        s.clearingPrice = price;
        s.escrowed = SafeCast.toUint96(c.escrow);
        s.volumeWh = SafeCast.toUint48(c.demand);
        emit SessionCleared(sessionId, price, c.demand, r.matches.length, c.escrow, tableHash);
    }

    /// @dev Which of the session's `n` orders their traders cancelled (one bitmap word read
    /// per 256 orders).
    function _cancelledFlags(uint256 sessionId, uint256 n) private view returns (bool[] memory f) {
        f = new bool[](n);
        mapping(uint256 => uint256) storage bits = _cancelled[sessionId];
        uint256 w;
        for (uint256 i; i < n; ++i) {
            if (i & 255 == 0) w = bits[i >> 8];
            if ((w >> (i & 255)) & 1 == 1) f[i] = true;
        }
    }

    /// @dev Each match joins an active bid and an active offer with a positive quantity; sums
    /// the fills and logs each match at its rule's price (the money does not depend on how the
    /// fills are paired: it moves per order).
    function _matches(
        uint256 sessionId,
        PricingRule rule,
        Clearing calldata r,
        bool[] memory cancelled,
        uint256[] memory filled
    ) private {
        uint256 n = r.orders.length;
        for (uint256 k; k < r.matches.length; ++k) {
            uint256 m = r.matches[k];
            uint256 b = m >> 80;
            uint256 o = (m >> 48) & 0xffffffff;
            uint256 q = m & 0xffffffffffff;
            if (b >= n || o >= n || q == 0 || cancelled[b] || cancelled[o]) revert FlexMarketBadMatch(k);
            uint256 bid = r.orders[b];
            if ((bid >> 80) & 1 != uint8(Side.Bid) || (r.orders[o] >> 80) & 1 != uint8(Side.Offer)) {
                revert FlexMarketBadMatch(k);
            }
            filled[b] += q;
            filled[o] += q;
            uint256 p = rule == PricingRule.PayAsBid ? bid & MASK40 : r.pricePerKwh;
            emit OrderMatched(sessionId, uint32(b), uint32(o), uint48(q), uint40(p));
        }
    }

    /// @dev The orders are the session's (running hash), the area table is ascending, no order
    /// is overfilled, cancelled orders are not filled, supply equals demand; finds the marginal
    /// prices. Under the cooperative rule also checks that each area trades inside itself first.
    function _firstPass(
        MarketStorage.Session storage s,
        uint256 sessionId,
        Clearing calldata r,
        bool[] memory cancelled,
        uint256[] memory filled
    ) private view returns (Check memory c) {
        for (uint256 a = 1; a < r.areas.length; ++a) {
            if (uint256(r.areas[a]) <= uint256(r.areas[a - 1])) revert FlexMarketBadAreaTable(a);
        }
        c.lowestFilledBid = type(uint256).max;
        c.bestOpenOffer = type(uint256).max;
        uint256 n = r.orders.length;
        bytes24 h = _bookHash(r.orders, r.areas);
        for (uint256 i; i < n; ++i) {
            uint256 word = r.orders[i];
            uint256 f = filled[i];
            uint256 qty = (word >> 40) & MASK40;
            if (f > qty) revert FlexMarketOverfill(i, f, qty);
            if (cancelled[i]) {
                if (f != 0) revert FlexMarketFilledCancelledOrder(i);
                continue;
            }
            uint256 p = word & MASK40;
            if ((word >> 80) & 1 == uint8(Side.Bid)) {
                c.demand += f;
                if (f > 0 && p < c.lowestFilledBid) c.lowestFilledBid = p;
                if (f < qty && (!c.hasOpenBid || p > c.bestOpenBid)) {
                    (c.bestOpenBid, c.bestOpenBidId, c.hasOpenBid) = (p, i, true);
                }
            } else {
                c.supply += f;
                if (f > 0 && p > c.highestFilledOffer) c.highestFilledOffer = p;
                if (f < qty && (!c.hasOpenOffer || p < c.bestOpenOffer)) {
                    (c.bestOpenOffer, c.hasOpenOffer) = (p, true);
                }
            }
        }
        if (h != s.bookHash) revert FlexMarketOrderBookMismatch(sessionId, s.orderCount, n);
        if (c.demand != c.supply) revert FlexMarketSupplyDemandMismatch(c.demand, c.supply);
        if (s.rule == PricingRule.Cooperative && c.demand > 0) _checkAreas(r, filled);
    }

    /// @dev The running hash of a book given as clearing words (area index bits cleared, the
    /// area from the table).
    function _bookHash(uint256[] calldata orders, bytes32[] calldata areas)
        private
        pure
        returns (bytes24 h)
    {
        for (uint256 i; i < orders.length; ++i) {
            uint256 word = orders[i];
            uint256 areaIndex = (word >> 81) & 0x7fff;
            if (areaIndex >= areas.length) revert FlexMarketBadAreaTable(areaIndex);
            h = MarketBook.chain(h, i, word & ~AREA_BITS, areas[areaIndex]);
        }
    }

    /// @dev Prices cross and the submitted price is the rule's.
    function _checkPrice(PricingRule rule, uint40 submitted, Check memory c)
        private
        pure
        returns (uint40)
    {
        if (c.lowestFilledBid < c.highestFilledOffer) {
            revert FlexMarketPriceNotCrossed(c.lowestFilledBid, c.highestFilledOffer);
        }
        if (c.hasOpenBid && c.hasOpenOffer && c.bestOpenBid >= c.bestOpenOffer) {
            revert FlexMarketOrderLeftOut(c.bestOpenBidId);
        }
        uint256 lo = c.highestFilledOffer;
        if (c.hasOpenBid && c.bestOpenBid > lo) lo = c.bestOpenBid;
        uint256 hi = c.lowestFilledBid;
        if (c.hasOpenOffer && c.bestOpenOffer < hi) hi = c.bestOpenOffer;
        // An open bid above a filled bid's price (or an open offer below a filled offer's)
        // means an order was left out; without this check the cooperative midpoint underflowed.
        if (hi < lo) revert FlexMarketOrderLeftOut(c.bestOpenBidId);
        uint256 expected = rule == PricingRule.Cooperative ? lo + (hi - lo) / 2 : lo;
        if (submitted != expected) revert FlexMarketWrongPrice(expected, submitted);
        return submitted;
    }

    /// @dev Fills are prefixes of the priority lists (an order better than the marginal price
    /// is fully filled; at the marginal price earlier orders come first). Moves each order's
    /// money (see the contract's notice) and returns the hash of the filled-orders table.
    function _secondPass(
        MarketStorage.Session storage s,
        Clearing calldata r,
        bool[] memory cancelled,
        uint256[] memory filled,
        Check memory c,
        uint256 price
    ) private returns (bytes32 tableHash) {
        Terms memory terms = Terms(s.orderBond, s.penaltyPerKwh, price, s.rule == PricingRule.PayAsBid);
        uint256 n = r.orders.length;
        uint256[] memory table = new uint256[](n);
        uint256 rows;
        uint256 short; // bit 0: an earlier bid at the marginal price was not fully filled; bit 1: offer
        for (uint256 i; i < n; ++i) {
            if (cancelled[i]) continue; // released when it was cancelled
            uint256 word = r.orders[i];
            uint256 f = filled[i];
            short = _checkPriority(c, word, f, i, short);
            c.escrow += _moveOrderMoney(terms, word, f);
            if (f > 0) {
                table[rows++] = (word & ~(AREA_BITS | (MASK40 << 40))) | (i << 81) | (f << 40);
            }
        }
        assembly ("memory-safe") {
            tableHash := keccak256(add(table, 0x20), shl(5, rows))
        }
    }

    /// @dev Order `i` (`word`, filled `f`) is not left out and keeps its priority at the
    /// marginal price; `short` carries whether an earlier marginal bid (bit 0) or offer (bit 1)
    /// was not fully filled.
    function _checkPriority(Check memory c, uint256 word, uint256 f, uint256 i, uint256 short)
        private
        pure
        returns (uint256)
    {
        uint256 qty = (word >> 40) & MASK40;
        uint256 p = word & MASK40;
        if ((word >> 80) & 1 == uint8(Side.Bid)) {
            if (p > c.lowestFilledBid && f < qty && c.demand > 0) revert FlexMarketOrderLeftOut(i);
            if (p == c.lowestFilledBid) {
                if (f > 0 && short & 1 != 0) revert FlexMarketPriorityViolated(i);
                if (f < qty) short |= 1;
            }
        } else {
            if (p < c.highestFilledOffer && f < qty) revert FlexMarketOrderLeftOut(i);
            if (p == c.highestFilledOffer) {
                if (f > 0 && short & 2 != 0) revert FlexMarketPriorityViolated(i);
                if (f < qty) short |= 2;
            }
        }
        return short;
    }

    /// @dev Releases what order `word` (filled `f`) no longer needs locked; a bid's payment
    /// (returned) goes to the escrow, a filled offer keeps its delivery bond on `f`.
    function _moveOrderMoney(Terms memory terms, uint256 word, uint256 f) private returns (uint256 cost) {
        uint256 qty = (word >> 40) & MASK40;
        uint256 p = word & MASK40;
        MarketStorage.Account storage a = _accounts[address(uint160(word >> 96))];
        uint256 release;
        if ((word >> 80) & 1 == uint8(Side.Bid)) {
            uint256 lock = FlexRules.energyCost(qty, p) + terms.orderBond;
            cost = FlexRules.energyCost(f, terms.payAsBid ? p : terms.price);
            // Cannot underflow: a bid pays at most its limit for at most its quantity.
            unchecked {
                a.locked -= uint96(lock);
                release = lock - cost;
            }
        } else {
            // Cannot underflow: the offer locked its bond on qty >= f, plus the order bond.
            unchecked {
                release = FlexRules.energyCost(qty, terms.penaltyRate) + terms.orderBond
                    - FlexRules.energyCost(f, terms.penaltyRate);
                a.locked -= uint96(release);
            }
        }
        // Cannot overflow: a balance is at most the tokens the market holds.
        unchecked {
            a.free += uint96(release);
        }
    }

    /// @dev COOPERATIVE: in each area, the volume matched inside it is the smaller of its
    /// filled demand and its filled supply.
    function _checkAreas(Clearing calldata r, uint256[] memory filled) private pure {
        uint256 areas = r.areas.length;
        uint256[] memory demand = new uint256[](areas);
        uint256[] memory supply = new uint256[](areas);
        uint256[] memory intra = new uint256[](areas);
        for (uint256 i; i < r.orders.length; ++i) {
            uint256 f = filled[i];
            if (f == 0) continue;
            uint256 word = r.orders[i];
            uint256 a = (word >> 81) & 0x7fff;
            if ((word >> 80) & 1 == uint8(Side.Bid)) demand[a] += f;
            else supply[a] += f;
        }
        for (uint256 k; k < r.matches.length; ++k) {
            uint256 m = r.matches[k];
            uint256 a = (r.orders[m >> 80] >> 81) & 0x7fff;
            if (a == (r.orders[(m >> 48) & 0xffffffff] >> 81) & 0x7fff) intra[a] += m & 0xffffffffffff;
        }
        for (uint256 a; a < areas; ++a) {
            uint256 expected = demand[a] < supply[a] ? demand[a] : supply[a];
            if (intra[a] != expected) revert FlexMarketAreaPriorityViolated(r.areas[a], intra[a], expected);
        }
    }

    // ---------------------------------------------------------------- voiding

    /// @notice Anyone voids a session that was not cleared before its delivery started,
    /// resupplying its book (`orders` and `areas` as in `Clearing`): every order's lock is
    /// released to its trader. Unrevealed commitments stay forfeitable.
    function voidSession(uint256 sessionId, uint256[] calldata orders, bytes32[] calldata areas)
        external
    {
        MarketStorage.Session storage s = _session(sessionId);
        if (s.status != Status.Open) revert FlexMarketWrongStatus(sessionId, s.status);
        if (block.timestamp < s.deliveryStart) revert FlexMarketNotVoidable(sessionId, s.deliveryStart);
        uint256 n = orders.length;
        if (n != s.orderCount || _bookHash(orders, areas) != s.bookHash) {
            revert FlexMarketOrderBookMismatch(sessionId, s.orderCount, n);
        }
        s.status = Status.Voided;
        uint256 released = MarketBook.release(s, _accounts, _cancelled[sessionId], orders);
        emit SessionVoided(sessionId, msg.sender, released);
    }

    // ---------------------------------------------------------------- settlement

    /// @notice Anyone settles a cleared session once `settleDelayS` after its delivery, from
    /// the committed meter data. `table` is the session's filled orders in order-id order,
    /// `trader << 96 | orderId << 81 | side << 80 | fillWh << 40 | pricePerKwh` (its hash is
    /// the clearing's `resultHash`); `sellerOf` gives, 16 bits per table row (16 rows a word),
    /// the 1-based index in `sellers` of an offer's seller (0 for a bid); `sellers` carries
    /// each seller's meter evidence, ascending by address. The contract computes every
    /// delivery, credit, shortfall, earning, penalty and refund (libraries/MarketSettlement.sol).
    function settleSession(
        uint256 sessionId,
        uint256[] calldata table,
        uint256[] calldata sellerOf,
        SellerEvidence[] calldata sellers
    ) external {
        MarketStorage.Session storage s = _session(sessionId);
        if (s.status != Status.Cleared) revert FlexMarketWrongStatus(sessionId, s.status);
        uint64 opensAt = uint64(s.deliveryStart) + s.durationS + s.settleDelayS;
        if (block.timestamp < opensAt) revert FlexMarketSettlementNotOpen(sessionId, opensAt);
        if (bytes24(keccak256(abi.encodePacked(table))) != s.bookHash) {
            revert FlexMarketSettlementTableMismatch(sessionId);
        }
        s.status = Status.Settled;
        MarketSettlement.Outcome memory o = MarketSettlement.settle(
            s, _accounts, MarketSettlement.Env(registry, meterOracle, treasury, sessionId), table, sellerOf, sellers
        );
        emit SessionSettled(sessionId, msg.sender, o.earned, o.penalties, o.refunds, o.dust);
    }

    // ---------------------------------------------------------------- views

    /// @notice The stored state of a session.
    function session(uint256 sessionId) external view returns (MarketStorage.Session memory) {
        return _session(sessionId);
    }

    /// @notice Free and locked deposit, and the next signed-order nonce, of `account`.
    function account(address who) external view returns (uint256 free, uint256 locked, uint64 nonce) {
        MarketStorage.Account storage a = _accounts[who];
        return (a.free, a.locked, a.nonce);
    }

    /// @notice Whether order `orderId` of `sessionId` was cancelled.
    function isCancelled(uint256 sessionId, uint256 orderId) external view returns (bool) {
        return (_cancelled[sessionId][orderId >> 8] >> (orderId & 255)) & 1 == 1;
    }

    /// @notice The book's running hash after order `32 * (group + 1) - 1` (zero: not yet).
    function checkpoint(uint256 sessionId, uint256 group) external view returns (bytes24) {
        return _checkpoints[sessionId][group];
    }

    /// @notice The EIP-712 digest a trader signs for a signed order.
    function orderDigest(
        uint256 sessionId,
        uint8 side,
        uint48 qtyWh,
        uint40 pricePerKwh,
        address trader,
        uint64 nonce
    ) external view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(ORDER_TYPEHASH, sessionId, side, qtyWh, pricePerKwh, trader, nonce))
        );
    }

    /// @notice The EIP-712 digest a trader signs to cancel order `orderId` of `sessionId`.
    function cancelDigest(uint256 sessionId, uint256 orderId) external view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(CANCEL_TYPEHASH, sessionId, orderId)));
    }

    // ---------------------------------------------------------------- internals

    function _session(uint256 sessionId) private view returns (MarketStorage.Session storage s) {
        s = _sessions[sessionId];
        if (s.durationS == 0) revert FlexMarketUnknownSession(sessionId);
    }

    function _openSession(uint256 sessionId) private view returns (MarketStorage.Session storage s) {
        s = _session(sessionId);
        if (s.status != Status.Open) revert FlexMarketWrongStatus(sessionId, s.status);
        if (block.timestamp >= s.gateClosure) revert FlexMarketGateClosed(sessionId, s.gateClosure);
    }

    /// @dev Validates an order and finds its trader's grid area.
    function _order(address trader, uint8 side, uint48 qtyWh, uint40 pricePerKwh, bytes32 sessionArea)
        private
        view
        returns (OrderRecord memory o)
    {
        if (side > uint8(type(Side).max)) revert FlexMarketUnknownSide(side);
        if (qtyWh == 0 || qtyWh > MAX_QTY_WH) revert FlexMarketQuantityOutOfRange(qtyWh, MAX_QTY_WH);
        if (pricePerKwh > MAX_PRICE_PER_KWH) {
            revert FlexMarketPriceOutOfRange(pricePerKwh, MAX_PRICE_PER_KWH);
        }
        bytes32 area = registry.activeGridArea(trader);
        if (area == bytes32(0)) revert FlexMarketNotParticipant(trader);
        if (sessionArea != bytes32(0) && area != sessionArea) {
            revert FlexMarketWrongArea(trader, area, sessionArea);
        }
        o = OrderRecord(trader, Side(side), qtyWh, pricePerKwh, area);
    }

    /// @dev What an order locks while it lives (MarketBook.lockOf).
    function _lockOf(MarketStorage.Session storage s, Side side, uint256 qtyWh, uint256 pricePerKwh)
        private
        view
        returns (uint256)
    {
        return MarketBook.lockOf(s, (uint256(uint8(side)) << 80) | (qtyWh << 40) | pricePerKwh);
    }

    function _lock(MarketStorage.Account storage a, address trader, uint256 amount) private {
        uint256 free = a.free;
        if (free < amount) revert FlexMarketInsufficientDeposit(trader, amount, free);
        // Cannot underflow (checked above) or overflow (locked + free is at most the deposits).
        unchecked {
            a.free = uint96(free - amount);
            a.locked += uint96(amount);
        }
    }

    /// @dev Adds `amount` to `who`'s free balance (a share of tokens the market holds).
    function _credit(address who, uint256 amount) private {
        _accounts[who].free += SafeCast.toUint96(amount);
    }

    function _commitmentKey(address trader, bytes32 commitment) private pure returns (bytes32) {
        return keccak256(abi.encode(trader, commitment));
    }

    /// @dev Keeps the running hash after every 32nd order.
    function _checkpoint(uint256 sessionId, uint256 orderId, bytes24 h) private {
        if ((orderId + 1) % CHECKPOINT_EVERY == 0) {
            _checkpoints[sessionId][orderId / CHECKPOINT_EVERY] = h;
        }
    }

    /// @dev The running hash of a session's book after order `orderId`.
    function _chain(bytes24 h, uint256 orderId, OrderRecord memory o) private pure returns (bytes24) {
        uint256 word = (uint256(uint160(o.trader)) << 96) | (uint256(uint8(o.side)) << 80)
            | (uint256(o.qtyWh) << 40) | uint256(o.pricePerKwh);
        return MarketBook.chain(h, orderId, word, o.gridArea);
    }
}
