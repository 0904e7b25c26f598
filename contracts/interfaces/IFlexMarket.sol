// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Flexibility market: sessions, orders and an on-chain checked clearing (CBFM)
/// @notice Participants deposit FlexToken into internal balances, place bids (buy
/// flexibility) and offers (sell) for a delivery interval, directly or as EIP-712 signed
/// orders relayed in batches, optionally sealed (commit-reveal). The market operator submits
/// the clearing result; the contract accepts it only if it is exactly the result of the
/// session's pricing rule over all of the session's orders (see matching/engine.py).
interface IFlexMarket {
    /// @notice Upward (more generation / less load) or downward flexibility.
    enum Product {
        Upward,
        Downward
    }

    /// @notice UNIFORM: pay-as-clear at the lowest clearing price. PAY_AS_BID: each match at
    /// its bid's price. COOPERATIVE: one price halfway between the marginal bid and offer,
    /// trades inside one grid area first.
    enum PricingRule {
        Uniform,
        PayAsBid,
        Cooperative
    }

    enum Side {
        Bid,
        Offer
    }

    /// @notice An order as it enters a session's book; `orderId` is its position there.
    struct OrderRecord {
        address trader;
        Side side;
        uint48 qtyWh;
        uint40 pricePerKwh;
        bytes32 gridArea;
    }

    /// @notice An EIP-712 signed order; the signature is in EIP-2098 compact form (r, vs).
    struct SignedOrder {
        address trader;
        Side side;
        uint48 qtyWh;
        uint40 pricePerKwh;
        uint64 nonce;
        bytes32 r;
        bytes32 vs;
    }

    /// @notice A clearing result, packed for calldata (one word per order, one per match).
    /// `orders[i]`: the session's order i as `trader << 96 | areaIndex << 89 | side << 88 |
    /// qtyWh << 40 | pricePerKwh`, where `areas[areaIndex]` is its grid area (distinct
    /// entries). `cancelledIds`: every cancellation of the session, ascending. `matches[k]`:
    /// `bidId << 80 | offerId << 48 | qtyWh`. An order's fill is the sum of its matches.
    struct Clearing {
        uint256[] orders;
        bytes32[] areas;
        uint256[] cancelledIds;
        uint256[] matches;
        uint40 pricePerKwh;
    }

    /// @notice Emitted when the operator opens a session.
    event SessionOpened(
        uint256 indexed sessionId,
        uint64 deliveryStart,
        uint32 durationS,
        uint64 gateClosure,
        uint64 revealDeadline,
        Product product,
        PricingRule rule,
        bool sealedBids,
        bytes32 gridArea
    );

    /// @notice Emitted when `account` moves `amount` FlexToken into the market.
    event Deposited(address indexed account, uint256 amount);

    /// @notice Emitted when `account` takes `amount` FlexToken out of the market.
    event Withdrawn(address indexed account, uint256 amount);

    /// @notice Emitted for every order that enters a session's book (placed, signed or revealed).
    event OrderPlaced(
        uint256 indexed sessionId,
        uint256 indexed orderId,
        address indexed trader,
        Side side,
        uint48 qtyWh,
        uint40 pricePerKwh,
        bytes32 gridArea
    );

    /// @notice Emitted when `trader` commits a sealed order.
    event OrderCommitted(uint256 indexed sessionId, address indexed trader, bytes32 commitment);

    /// @notice Emitted when `by` cancels order `orderId` (effective only if `by` placed it).
    event OrderCancelled(uint256 indexed sessionId, uint256 indexed orderId, address indexed by);

    /// @notice Emitted for each match of an accepted clearing.
    event OrderMatched(
        uint256 indexed sessionId, uint32 bidId, uint32 offerId, uint48 qtyWh, uint40 pricePerKwh
    );

    /// @notice Emitted when a clearing is accepted; `escrowed` is what buyers owe until
    /// settlement; `resultHash` chains the book's hash with every match (what settlement checks).
    event SessionCleared(
        uint256 indexed sessionId,
        uint40 pricePerKwh,
        uint256 volumeWh,
        uint256 matchCount,
        uint256 escrowed,
        bytes32 resultHash
    );

    /// @notice Thrown when the caller is not an active market operator.
    error FlexMarketNotOperator(address account);
    /// @notice Thrown when `account` is not an active registered participant.
    error FlexMarketNotParticipant(address account);
    /// @notice Thrown when a participant of `area` trades in a session of `sessionArea`.
    error FlexMarketWrongArea(address account, bytes32 area, bytes32 sessionArea);
    /// @notice Thrown for a session id that was never opened.
    error FlexMarketUnknownSession(uint256 sessionId);
    /// @notice Thrown when a session's times are inconsistent or in the past.
    error FlexMarketBadSessionTimes(uint64 deliveryStart, uint32 durationS, uint64 gateClosure, uint64 revealDeadline, uint256 nowS);
    /// @notice Thrown for a pricing rule number that does not exist.
    error FlexMarketUnknownRule(uint8 rule);
    /// @notice Thrown for a product number that does not exist.
    error FlexMarketUnknownProduct(uint8 product);
    /// @notice Thrown for a side number that does not exist.
    error FlexMarketUnknownSide(uint8 side);
    /// @notice Thrown when an order arrives at or after gate closure.
    error FlexMarketGateClosed(uint256 sessionId, uint64 closesAt);
    /// @notice Thrown when clearing (or revealing) is attempted before gate closure.
    error FlexMarketGateOpen(uint256 sessionId, uint64 closesAt);
    /// @notice Thrown when a quantity is zero or above the maximum.
    error FlexMarketQuantityOutOfRange(uint256 qtyWh, uint256 maxQtyWh);
    /// @notice Thrown when a price is above the maximum.
    error FlexMarketPriceOutOfRange(uint256 pricePerKwh, uint256 maxPricePerKwh);
    /// @notice Thrown when a bid needs more free deposit than `account` has.
    error FlexMarketInsufficientDeposit(address account, uint256 needed, uint256 available);
    /// @notice Thrown for a deposit or withdrawal of zero.
    error FlexMarketZeroAmount();
    /// @notice Thrown when an open order is sent to a sealed session, or a commitment to an open one.
    error FlexMarketWrongOrderMode(uint256 sessionId, bool sealedBids);
    /// @notice Thrown when a reveal comes after the reveal deadline.
    error FlexMarketRevealClosed(uint256 sessionId, uint64 deadline);
    /// @notice Thrown when a reveal matches no commitment of the caller (wrong order or salt).
    error FlexMarketUnknownCommitment(uint256 sessionId, bytes32 commitment);
    /// @notice Thrown when a commitment is made or revealed twice.
    error FlexMarketCommitmentUsed(uint256 sessionId, bytes32 commitment);
    /// @notice Thrown when a signed order's signature is not the trader's.
    error FlexMarketBadSignature(uint256 index, address trader, address recovered);
    /// @notice Thrown when a signed order's nonce is not the trader's next nonce (replay).
    error FlexMarketWrongNonce(uint256 index, address trader, uint64 nonce, uint64 expected);
    /// @notice Thrown when a session is cleared twice or traded after its clearing.
    error FlexMarketAlreadyCleared(uint256 sessionId);
    /// @notice Thrown when cancelling an order id the session does not have.
    error FlexMarketUnknownOrder(uint256 sessionId, uint256 orderId);
    /// @notice Thrown when an order is cancelled twice.
    error FlexMarketAlreadyCancelled(uint256 sessionId, uint256 orderId);
    /// @notice Thrown when the submitted orders are not exactly the session's orders.
    error FlexMarketOrderBookMismatch(uint256 sessionId, uint256 expectedCount, uint256 count);
    /// @notice Thrown when the submitted cancellations are not exactly the session's.
    error FlexMarketCancellationsMismatch(uint256 sessionId, uint256 expectedCount, uint256 count);
    /// @notice Thrown when the clearing's area table repeats an area or an index is out of range.
    error FlexMarketBadAreaTable(uint256 index);
    /// @notice Thrown when an order is filled beyond its quantity.
    error FlexMarketOverfill(uint256 orderId, uint256 fillWh, uint256 qtyWh);
    /// @notice Thrown when a cancelled order is filled.
    error FlexMarketFilledCancelledOrder(uint256 orderId);
    /// @notice Thrown when filled demand and filled supply differ.
    error FlexMarketSupplyDemandMismatch(uint256 demandWh, uint256 supplyWh);
    /// @notice Thrown when a filled bid is priced below a filled offer.
    error FlexMarketPriceNotCrossed(uint256 lowestFilledBid, uint256 highestFilledOffer);
    /// @notice Thrown when an order that should have traded at the clearing price was left out.
    error FlexMarketOrderLeftOut(uint256 orderId);
    /// @notice Thrown when an earlier order at the marginal price got less than a later one.
    error FlexMarketPriorityViolated(uint256 orderId);
    /// @notice Thrown when the submitted price is not the pricing rule's price.
    error FlexMarketWrongPrice(uint256 expected, uint256 submitted);
    /// @notice Thrown when a match names an order id out of range, the wrong side, or zero.
    error FlexMarketBadMatch(uint256 matchIndex);
    /// @notice Thrown when a cooperative clearing trades across areas what one area could trade inside.
    error FlexMarketAreaPriorityViolated(bytes32 gridArea, uint256 intraAreaWh, uint256 expectedWh);
}
