// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IFlexMarket} from "./interfaces/IFlexMarket.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";

/// @title FlexMarket
/// @notice The community flexibility market (CBFM). What it stores is the least the checks
/// need: per session one packed slot of times and settings, a running hash of its orders (the
/// full orders are in `OrderPlaced` events), the count of orders and cancellations; per
/// participant one slot (free deposit, deposit locked by open bids, signed-order nonce).
///
/// Clearing is checked, not trusted: the operator resubmits every order of the session (their
/// running hash must equal the stored one), the fills, the matches and the price; the contract
/// accepts them only if they are exactly what the session's pricing rule gives (the rules are
/// specified in matching/engine.py and mirrored by matching/verify.py).
contract FlexMarket is IFlexMarket, EIP712 {
    using SafeERC20 for IERC20;

    /// @notice Largest order quantity, Wh (the engine's bound).
    uint256 public constant MAX_QTY_WH = 1e12;
    /// @notice Largest limit price, token base units per kWh (the engine's bound).
    uint256 public constant MAX_PRICE_PER_KWH = 1e12;
    /// @notice Delivery intervals are whole multiples of 15 minutes, aligned to UTC.
    uint64 public constant INTERVAL_S = 900;

    bytes32 public constant ORDER_TYPEHASH = keccak256(
        "Order(uint256 sessionId,uint8 side,uint48 qtyWh,uint40 pricePerKwh,address trader,uint64 nonce)"
    );

    uint8 private constant OPEN = 0;
    uint8 private constant CLEARED = 1;
    address private constant REVEALED = address(1);

    struct Session {
        // slot 0
        uint64 deliveryStart;
        uint32 durationS;
        uint64 gateClosure;
        uint64 revealDeadline;
        Product product;
        PricingRule rule;
        bool sealedBids;
        uint8 status;
        // slot 1
        bytes32 gridArea;
        // slot 2: running hash of the book (192 bits; after clearing, of book and matches)
        bytes24 bookHash;
        uint32 orderCount;
        uint32 cancelCount;
        // slot 3
        uint40 clearingPrice;
        uint96 escrowed;
    }

    struct Account {
        uint96 free;
        uint96 locked;
        uint64 nonce;
    }

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

    IParticipantRegistry public immutable registry;
    IERC20 public immutable token;

    uint256 public sessionCount;
    mapping(uint256 sessionId => Session) private _sessions;
    mapping(address account => Account) private _accounts;
    mapping(uint256 sessionId => mapping(uint256 orderId => address)) private _cancelledBy;
    mapping(uint256 sessionId => mapping(bytes32 commitment => address)) private _commitments;

    constructor(IParticipantRegistry registry_, IERC20 token_) EIP712("BRIGHT FlexMarket", "1") {
        registry = registry_;
        token = token_;
    }

    // ---------------------------------------------------------------- sessions

    /// @notice Opens a session for delivery in [deliveryStart, deliveryStart + durationS).
    /// Orders are accepted until `gateClosure`; in a sealed session commitments are accepted
    /// until `gateClosure` and reveals until `revealDeadline`. A zero `gridArea` admits every
    /// area; otherwise only participants of that area trade.
    function openSession(
        uint64 deliveryStart,
        uint32 durationS,
        uint64 gateClosure,
        uint8 product,
        uint8 rule,
        bool sealedBids,
        uint64 revealDeadline,
        bytes32 gridArea
    ) external returns (uint256 sessionId) {
        if (!registry.isActiveAs(msg.sender, IParticipantRegistry.Role.MarketOperator)) {
            revert FlexMarketNotOperator(msg.sender);
        }
        if (product > uint8(type(Product).max)) revert FlexMarketUnknownProduct(product);
        if (rule > uint8(type(PricingRule).max)) revert FlexMarketUnknownRule(rule);
        bool badReveal = sealedBids
            ? (revealDeadline <= gateClosure || revealDeadline > deliveryStart)
            : revealDeadline != 0;
        if (
            deliveryStart % INTERVAL_S != 0 || durationS == 0 || durationS % INTERVAL_S != 0
                || gateClosure > deliveryStart || gateClosure <= block.timestamp || badReveal
        ) {
            revert FlexMarketBadSessionTimes(
                deliveryStart, durationS, gateClosure, revealDeadline, block.timestamp
            );
        }
        sessionId = ++sessionCount;
        Session storage s = _sessions[sessionId];
        s.deliveryStart = deliveryStart;
        s.durationS = durationS;
        s.gateClosure = gateClosure;
        s.revealDeadline = revealDeadline;
        s.product = Product(product);
        s.rule = PricingRule(rule);
        s.sealedBids = sealedBids;
        s.gridArea = gridArea;
        emit SessionOpened(
            sessionId,
            deliveryStart,
            durationS,
            gateClosure,
            revealDeadline,
            Product(product),
            PricingRule(rule),
            sealedBids,
            gridArea
        );
    }

    // ---------------------------------------------------------------- deposits

    /// @notice Moves `amount` FlexToken (approved beforehand) into the caller's market balance.
    function deposit(uint256 amount) external {
        _deposit(msg.sender, amount);
    }

    /// @notice `deposit` with an ERC-2612 permit instead of a prior approval.
    function depositWithPermit(uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
    {
        IERC20Permit(address(token)).permit(msg.sender, address(this), amount, deadline, v, r, s);
        _deposit(msg.sender, amount);
    }

    /// @notice Takes `amount` of the caller's free balance out of the market.
    function withdraw(uint256 amount) external {
        if (amount == 0) revert FlexMarketZeroAmount();
        Account storage a = _accounts[msg.sender];
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
        token.safeTransferFrom(account, address(this), amount);
        _accounts[account].free += uint96(amount);
        emit Deposited(account, amount);
    }

    // ---------------------------------------------------------------- orders

    /// @notice Places a bid (side 0) or offer (side 1) from the caller's wallet. A bid locks
    /// ceil(qtyWh * pricePerKwh / 1000) of the caller's free deposit until the clearing.
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
        Session storage s = _openSession(sessionId);
        if (s.sealedBids) revert FlexMarketWrongOrderMode(sessionId, true);
        OrderRecord memory o = _order(trader, side, qtyWh, pricePerKwh, s.gridArea);
        if (o.side == Side.Bid) _lock(_accounts[trader], trader, _reserve(qtyWh, pricePerKwh));
        orderId = s.orderCount;
        s.bookHash = _chain(s.bookHash, orderId, o);
        s.orderCount = uint32(orderId + 1);
        emit OrderPlaced(sessionId, orderId, trader, o.side, qtyWh, pricePerKwh, o.gridArea);
    }

    /// @notice Places EIP-712 signed orders relayed by the market operator (signers pay no
    /// gas). Each signature must be its trader's and carry the trader's next nonce.
    function placeSignedOrders(uint256 sessionId, SignedOrder[] calldata orders) external {
        if (!registry.isActiveAs(msg.sender, IParticipantRegistry.Role.MarketOperator)) {
            revert FlexMarketNotOperator(msg.sender);
        }
        Session storage s = _openSession(sessionId);
        if (s.sealedBids) revert FlexMarketWrongOrderMode(sessionId, true);
        bytes32 sessionArea = s.gridArea;
        bytes24 h = s.bookHash;
        uint256 orderId = s.orderCount;
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
            Account storage a = _accounts[so.trader];
            if (a.nonce != so.nonce) revert FlexMarketWrongNonce(i, so.trader, so.nonce, a.nonce);
            OrderRecord memory o =
                _order(so.trader, uint8(so.side), so.qtyWh, so.pricePerKwh, sessionArea);
            // Cannot overflow: one increment per signed order of this trader.
            unchecked {
                a.nonce = so.nonce + 1;
            }
            if (o.side == Side.Bid) _lock(a, so.trader, _reserve(so.qtyWh, so.pricePerKwh));
            h = _chain(h, orderId, o);
            emit OrderPlaced(sessionId, orderId, so.trader, o.side, so.qtyWh, so.pricePerKwh, o.gridArea);
            ++orderId;
        }
        s.bookHash = h;
        s.orderCount = uint32(orderId);
    }

    /// @notice Commits a sealed order: `commitment` = keccak256(abi.encode(sessionId, trader,
    /// side, qtyWh, pricePerKwh, salt)). Only revealed commitments trade.
    function commitOrder(uint256 sessionId, bytes32 commitment) external {
        Session storage s = _openSession(sessionId);
        if (!s.sealedBids) revert FlexMarketWrongOrderMode(sessionId, false);
        if (registry.activeGridArea(msg.sender) == bytes32(0)) {
            revert FlexMarketNotParticipant(msg.sender);
        }
        mapping(bytes32 => address) storage c = _commitments[sessionId];
        if (c[commitment] != address(0)) revert FlexMarketCommitmentUsed(sessionId, commitment);
        c[commitment] = msg.sender;
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
        Session storage s = _session(sessionId);
        if (!s.sealedBids) revert FlexMarketWrongOrderMode(sessionId, false);
        if (s.status == CLEARED) revert FlexMarketAlreadyCleared(sessionId);
        if (block.timestamp < s.gateClosure) revert FlexMarketGateOpen(sessionId, s.gateClosure);
        if (block.timestamp >= s.revealDeadline) {
            revert FlexMarketRevealClosed(sessionId, s.revealDeadline);
        }
        bytes32 commitment =
            keccak256(abi.encode(sessionId, msg.sender, side, qtyWh, pricePerKwh, salt));
        address committer = _commitments[sessionId][commitment];
        if (committer == REVEALED) revert FlexMarketCommitmentUsed(sessionId, commitment);
        if (committer != msg.sender) revert FlexMarketUnknownCommitment(sessionId, commitment);
        _commitments[sessionId][commitment] = REVEALED;
        OrderRecord memory o = _order(msg.sender, side, qtyWh, pricePerKwh, s.gridArea);
        if (o.side == Side.Bid) _lock(_accounts[msg.sender], msg.sender, _reserve(qtyWh, pricePerKwh));
        orderId = s.orderCount;
        s.bookHash = _chain(s.bookHash, orderId, o);
        s.orderCount = uint32(orderId + 1);
        emit OrderPlaced(sessionId, orderId, msg.sender, o.side, qtyWh, pricePerKwh, o.gridArea);
    }

    /// @notice Cancels order `orderId` before gate closure. The contract keeps only a hash of
    /// the book, so it records who cancelled; the clearing drops the order only if that is
    /// its trader (a cancellation by anyone else has no effect). A cancelled bid's deposit is
    /// released by the clearing.
    function cancelOrder(uint256 sessionId, uint256 orderId) external {
        Session storage s = _openSession(sessionId);
        if (orderId >= s.orderCount) revert FlexMarketUnknownOrder(sessionId, orderId);
        mapping(uint256 => address) storage c = _cancelledBy[sessionId];
        if (c[orderId] != address(0)) revert FlexMarketAlreadyCancelled(sessionId, orderId);
        c[orderId] = msg.sender;
        // Cannot overflow: at most one cancellation per order, and orders fit in uint32.
        unchecked {
            ++s.cancelCount;
        }
        emit OrderCancelled(sessionId, orderId, msg.sender);
    }

    // ---------------------------------------------------------------- clearing

    /// @notice Submits the clearing `r` of a session (see `Clearing` for the packing).
    /// Accepted only if it is exactly the result of the session's pricing rule over all of
    /// the session's orders; then each bid's locked deposit is released and what it pays is
    /// escrowed until settlement.
    function clearSession(uint256 sessionId, Clearing calldata r) external {
        if (!registry.isActiveAs(msg.sender, IParticipantRegistry.Role.MarketOperator)) {
            revert FlexMarketNotOperator(msg.sender);
        }
        Session storage s = _session(sessionId);
        if (s.status == CLEARED) revert FlexMarketAlreadyCleared(sessionId);
        uint64 closes = s.sealedBids ? s.revealDeadline : s.gateClosure;
        if (block.timestamp < closes) revert FlexMarketGateOpen(sessionId, closes);
        uint256 n = r.orders.length;
        if (n != s.orderCount) revert FlexMarketOrderBookMismatch(sessionId, s.orderCount, n);
        for (uint256 a = 1; a < r.areas.length; ++a) {
            for (uint256 b; b < a; ++b) {
                if (r.areas[a] == r.areas[b]) revert FlexMarketBadAreaTable(a);
            }
        }
        bool[] memory cancelled = _cancellations(s, sessionId, r);
        uint256[] memory filled = new uint256[](n);
        uint256[] memory paid = new uint256[](n);
        bytes24 matchesHash = _matches(sessionId, s.rule, r, cancelled, filled, paid);
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
        _secondPass(r, cancelled, filled, paid, c);
        // From now on the stored hash commits to the book and to every match.
        bytes24 h = bytes24(keccak256(abi.encode(s.bookHash, matchesHash)));
        s.status = CLEARED;
        s.bookHash = h;
        s.clearingPrice = price;
        s.escrowed = uint96(c.escrow);
        emit SessionCleared(sessionId, price, c.demand, r.matches.length, c.escrow, bytes32(h));
    }

    /// @dev All of the session's cancellations, ascending; which orders their traders cancelled.
    function _cancellations(Session storage s, uint256 sessionId, Clearing calldata r)
        private
        view
        returns (bool[] memory cancelled)
    {
        uint256 n = r.orders.length;
        uint256 count = r.cancelledIds.length;
        if (count != s.cancelCount) {
            revert FlexMarketCancellationsMismatch(sessionId, s.cancelCount, count);
        }
        cancelled = new bool[](n);
        mapping(uint256 => address) storage by = _cancelledBy[sessionId];
        for (uint256 k; k < count; ++k) {
            uint256 id = r.cancelledIds[k];
            if ((k > 0 && id <= r.cancelledIds[k - 1]) || id >= n || by[id] == address(0)) {
                revert FlexMarketCancellationsMismatch(sessionId, s.cancelCount, count);
            }
            if (by[id] == address(uint160(r.orders[id] >> 96))) cancelled[id] = true;
        }
    }

    /// @dev Each match joins an active bid and an active offer with a positive quantity and is
    /// priced by the rule (the clearing price, or the bid's price under pay-as-bid). Sums the
    /// fills and what each bid pays; returns the hash of the matches.
    function _matches(
        uint256 sessionId,
        PricingRule rule,
        Clearing calldata r,
        bool[] memory cancelled,
        uint256[] memory filled,
        uint256[] memory paid
    ) private returns (bytes24 h) {
        uint256 n = r.orders.length;
        for (uint256 k; k < r.matches.length; ++k) {
            uint256 m = r.matches[k];
            uint256 b = m >> 80;
            uint256 o = (m >> 48) & 0xffffffff;
            uint256 q = m & 0xffffffffffff;
            if (b >= n || o >= n || q == 0 || cancelled[b] || cancelled[o]) revert FlexMarketBadMatch(k);
            uint256 bid = r.orders[b];
            if ((bid >> 88) & 1 != uint8(Side.Bid) || (r.orders[o] >> 88) & 1 != uint8(Side.Offer)) {
                revert FlexMarketBadMatch(k);
            }
            filled[b] += q;
            filled[o] += q;
            uint256 p = rule == PricingRule.PayAsBid ? bid & 0xffffffffff : r.pricePerKwh;
            paid[b] += q * p / 1000;
            h = bytes24(keccak256(abi.encode(h, m, p)));
            emit OrderMatched(sessionId, uint32(b), uint32(o), uint48(q), uint40(p));
        }
    }

    /// @dev The orders are the session's (running hash), no order is overfilled, cancelled
    /// orders are not filled, supply equals demand; finds the marginal prices. Under the
    /// cooperative rule also checks that each area trades inside itself first.
    function _firstPass(
        Session storage s,
        uint256 sessionId,
        Clearing calldata r,
        bool[] memory cancelled,
        uint256[] memory filled
    ) private view returns (Check memory c) {
        c.lowestFilledBid = type(uint256).max;
        c.bestOpenOffer = type(uint256).max;
        bytes24 h;
        uint256 n = r.orders.length;
        for (uint256 i; i < n; ++i) {
            uint256 word = r.orders[i];
            uint256 areaIndex = (word >> 89) & 0x7f;
            if (areaIndex >= r.areas.length) revert FlexMarketBadAreaTable(areaIndex);
            // The record as it was hashed at placement: the area index bits cleared.
            h = _chainPacked(h, i, word & ~(uint256(0x7f) << 89), r.areas[areaIndex]);
            uint256 f = filled[i];
            uint256 qty = (word >> 40) & 0xffffffffffff;
            if (f > qty) revert FlexMarketOverfill(i, f, qty);
            if (cancelled[i]) {
                if (f != 0) revert FlexMarketFilledCancelledOrder(i);
                continue;
            }
            uint256 p = word & 0xffffffffff;
            if ((word >> 88) & 1 == uint8(Side.Bid)) {
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
        uint256 expected = rule == PricingRule.Cooperative ? lo + (hi - lo) / 2 : lo;
        if (submitted != expected) revert FlexMarketWrongPrice(expected, submitted);
        return submitted;
    }

    /// @dev Fills are prefixes of the priority lists (an order better than the marginal price
    /// is fully filled; at the marginal price earlier orders come first). Releases each bid's
    /// locked deposit and escrows what it pays.
    function _secondPass(
        Clearing calldata r,
        bool[] memory cancelled,
        uint256[] memory filled,
        uint256[] memory paid,
        Check memory c
    ) private {
        bool bidShort; // an earlier bid at the marginal price was not fully filled
        bool offerShort;
        for (uint256 i; i < r.orders.length; ++i) {
            uint256 word = r.orders[i];
            uint256 qty = (word >> 40) & 0xffffffffffff;
            uint256 p = word & 0xffffffffff;
            uint256 f = filled[i];
            bool isBid = (word >> 88) & 1 == uint8(Side.Bid);
            if (!cancelled[i]) {
                if (isBid) {
                    if (p > c.lowestFilledBid && f < qty && c.demand > 0) revert FlexMarketOrderLeftOut(i);
                    if (p == c.lowestFilledBid) {
                        if (f > 0 && bidShort) revert FlexMarketPriorityViolated(i);
                        if (f < qty) bidShort = true;
                    }
                } else {
                    if (p < c.highestFilledOffer && f < qty) revert FlexMarketOrderLeftOut(i);
                    if (p == c.highestFilledOffer) {
                        if (f > 0 && offerShort) revert FlexMarketPriorityViolated(i);
                        if (f < qty) offerShort = true;
                    }
                }
            }
            if (isBid) {
                uint256 reserved = _reserve(qty, p);
                Account storage a = _accounts[address(uint160(word >> 96))];
                // Cannot underflow: the bid locked `reserved` when it entered the book, and a
                // match price is at most the bid's limit, so paid <= qty * limit / 1000 <= reserved.
                unchecked {
                    a.locked -= uint96(reserved);
                    a.free += uint96(reserved - paid[i]);
                }
                c.escrow += paid[i];
            }
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
            uint256 a = (word >> 89) & 0x7f;
            if ((word >> 88) & 1 == uint8(Side.Bid)) demand[a] += f;
            else supply[a] += f;
        }
        for (uint256 k; k < r.matches.length; ++k) {
            uint256 m = r.matches[k];
            uint256 a = (r.orders[m >> 80] >> 89) & 0x7f;
            if (a == (r.orders[(m >> 48) & 0xffffffff] >> 89) & 0x7f) intra[a] += m & 0xffffffffffff;
        }
        for (uint256 a; a < areas; ++a) {
            uint256 expected = demand[a] < supply[a] ? demand[a] : supply[a];
            if (intra[a] != expected) revert FlexMarketAreaPriorityViolated(r.areas[a], intra[a], expected);
        }
    }

    // ---------------------------------------------------------------- views

    /// @notice The stored state of a session.
    function session(uint256 sessionId) external view returns (Session memory) {
        return _session(sessionId);
    }

    /// @notice Free and locked deposit, and the next signed-order nonce, of `account`.
    function account(address who) external view returns (uint256 free, uint256 locked, uint64 nonce) {
        Account storage a = _accounts[who];
        return (a.free, a.locked, a.nonce);
    }

    /// @notice Who cancelled order `orderId` of `sessionId` (zero if nobody).
    function cancelledBy(uint256 sessionId, uint256 orderId) external view returns (address) {
        return _cancelledBy[sessionId][orderId];
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

    // ---------------------------------------------------------------- internals

    function _session(uint256 sessionId) private view returns (Session storage s) {
        s = _sessions[sessionId];
        if (s.durationS == 0) revert FlexMarketUnknownSession(sessionId);
    }

    function _openSession(uint256 sessionId) private view returns (Session storage s) {
        s = _session(sessionId);
        if (s.status == CLEARED) revert FlexMarketAlreadyCleared(sessionId);
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

    function _reserve(uint256 qtyWh, uint256 pricePerKwh) private pure returns (uint256) {
        return (qtyWh * pricePerKwh + 999) / 1000;
    }

    function _lock(Account storage a, address trader, uint256 amount) private {
        uint256 free = a.free;
        if (free < amount) revert FlexMarketInsufficientDeposit(trader, amount, free);
        // Cannot underflow (checked above) or overflow (locked + free is at most the deposits).
        unchecked {
            a.free = uint96(free - amount);
            a.locked += uint96(amount);
        }
    }

    /// @dev The running hash of a session's book after order `orderId`.
    function _chain(bytes24 h, uint256 orderId, OrderRecord memory o) private pure returns (bytes24) {
        uint256 word = (uint256(uint160(o.trader)) << 96) | (uint256(uint8(o.side)) << 88)
            | (uint256(o.qtyWh) << 40) | uint256(o.pricePerKwh);
        return _chainPacked(h, orderId, word, o.gridArea);
    }

    function _chainPacked(bytes24 h, uint256 orderId, uint256 word, bytes32 area)
        private
        pure
        returns (bytes24)
    {
        return bytes24(keccak256(abi.encode(h, orderId, word, area)));
    }
}
