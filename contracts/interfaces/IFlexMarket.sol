// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Flexibility market: sessions, orders, an on-chain checked clearing, settlement on
/// delivery (CBFM)
/// @notice Participants deposit FlexToken into internal balances, place bids (buy
/// flexibility) and offers (sell) for a delivery period, directly or as EIP-712 signed orders
/// relayed in batches, optionally sealed (commit-reveal). The market operator submits the
/// clearing; the contract accepts it only if it is exactly the result of the session's pricing
/// rule over all of the session's orders (see matching/engine.py). A cleared match is a promise
/// to deliver: after the delivery period anyone settles the session from the committed meter
/// data (MeterOracle readings with their Merkle proofs), and the contract computes each
/// seller's delivery, earnings and penalty with the one rule set (core/rules.py,
/// libraries/FlexRules.sol). Every token that enters can leave: a session not cleared before
/// its delivery starts can be voided by anyone, which releases every lock.
interface IFlexMarket {
    /// @notice Upward (more generation / less load) or downward flexibility.
    enum Product {
        Upward,
        Downward
    }

    /// @notice UNIFORM: pay-as-clear at the lowest clearing price. PAY_AS_BID: each bid pays
    /// its own limit price (sellers share what the bids paid). COOPERATIVE: one price halfway
    /// between the marginal bid and offer, trades inside one grid area first.
    enum PricingRule {
        Uniform,
        PayAsBid,
        Cooperative
    }

    enum Side {
        Bid,
        Offer
    }

    /// @notice Where a session stands: taking orders, cleared (trades promised), settled on
    /// delivery, or voided (not cleared before its delivery: every lock released).
    enum Status {
        Open,
        Cleared,
        Settled,
        Voided
    }

    /// @notice What the operator fixes when it opens a session.
    /// @param product a `Product` (a number, so that a wrong one gets a named error)
    /// @param rule a `PricingRule`
    /// @param deliveryStart start of the delivery period (multiple of 900 s)
    /// @param durationS its length (multiple of 900 s, at most `MAX_DURATION_S`)
    /// @param gateClosure orders are taken until then
    /// @param revealDeadline sealed sessions: reveals until then (0 for open sessions)
    /// @param gridArea zero admits every area, otherwise only participants of that area
    /// @param toleranceBp a seller's shortfall is penalised below its fill minus this share
    /// @param penaltyPerKwh penalty per kWh of shortfall; an offer bonds its quantity at it
    /// @param orderBond locked by every order (and every sealed commitment) until its life ends
    /// @param baselineIntervals meter-before baseline: intervals averaged (1..3; with the
    /// delivery intervals at most 4 readings per seller)
    /// @param baselineGapIntervals intervals left out between them and the delivery (0..3)
    /// @param settleDelayS settlement opens this long after the delivery ends (meter data time)
    struct SessionParams {
        uint64 deliveryStart;
        uint32 durationS;
        uint64 gateClosure;
        uint64 revealDeadline;
        uint8 product;
        uint8 rule;
        bool sealedBids;
        bytes32 gridArea;
        uint16 toleranceBp;
        uint40 penaltyPerKwh;
        uint96 orderBond;
        uint8 baselineIntervals;
        uint8 baselineGapIntervals;
        uint32 settleDelayS;
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
    /// `areas` ascending (as uint256), without repeats.
    /// `orders[i]`: the session's order i as `trader << 96 | areaIndex << 81 | side << 80 |
    /// qtyWh << 40 | pricePerKwh`, where `areas[areaIndex]` is its grid area (distinct
    /// entries). `matches[k]`: `bidId << 80 | offerId << 48 | qtyWh`. An order's fill is the
    /// sum of its matches. Cancelled orders are read from the contract's own record.
    struct Clearing {
        uint256[] orders;
        bytes32[] areas;
        uint256[] matches;
        uint40 pricePerKwh;
    }

    /// @notice A proof of the records of orders `firstId, firstId + 1, ...` of a session: the
    /// running hash before `firstId` and the records through the end of `firstId`'s checkpoint
    /// group (or the book's last order), `words[k] = trader << 96 | side << 80 | qtyWh << 40 |
    /// pricePerKwh` with `areas[k]` its grid area.
    struct OrderProof {
        bytes24 priorHash;
        uint256[] words;
        bytes32[] areas;
    }

    /// @notice A committed meter reading of one interval with its Merkle proof (MeterOracle).
    struct Reading {
        uint96 importWh;
        uint96 exportWh;
        bytes32 root;
        bytes32[] proof;
    }

    /// @notice One seller's meter evidence: `baselineIntervals` readings before the delivery
    /// (ending `baselineGapIntervals` before it), then one per delivery interval, in time order.
    /// `missing` 0: all given; k > 0: the k-th of those intervals (1-based) has no committed
    /// reading (checked on-chain) and `readings` is empty.
    struct SellerEvidence {
        address trader;
        uint16 missing;
        Reading[] readings;
    }

    /// @notice Emitted when the operator opens a session.
    event SessionOpened(uint256 indexed sessionId, SessionParams params);

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

    /// @notice Emitted when `trader` commits a sealed order (locking the session's order bond).
    event OrderCommitted(uint256 indexed sessionId, address indexed trader, bytes32 commitment);

    /// @notice Emitted when an unrevealed commitment's bond goes to the treasury.
    event CommitmentForfeited(
        uint256 indexed sessionId, address indexed trader, bytes32 commitment, uint256 bond
    );

    /// @notice Emitted when order `orderId` is cancelled (by its trader, by a relayer of its
    /// signed cancel, or by anyone once its trader is no longer active); its lock is released.
    event OrderCancelled(uint256 indexed sessionId, uint256 indexed orderId, address indexed by);

    /// @notice Emitted for each match of an accepted clearing (who delivers to whom; the money
    /// moves per order, see `SessionCleared`).
    event OrderMatched(
        uint256 indexed sessionId, uint32 bidId, uint32 offerId, uint48 qtyWh, uint40 pricePerKwh
    );

    /// @notice Emitted when a clearing is accepted; `escrowed` is what the bids pay until
    /// settlement; `resultHash` is the hash of the filled-orders table the settlement resupplies.
    event SessionCleared(
        uint256 indexed sessionId,
        uint40 pricePerKwh,
        uint256 volumeWh,
        uint256 matchCount,
        uint256 escrowed,
        bytes32 resultHash
    );

    /// @notice Emitted when a session that was not cleared before its delivery is voided;
    /// `released` is the sum of the locks it released.
    event SessionVoided(uint256 indexed sessionId, address indexed by, uint256 released);

    /// @notice Emitted for each seller of a settled session (all its filled offers together).
    event SellerSettled(
        uint256 indexed sessionId,
        address indexed seller,
        uint256 filledWh,
        int256 deliveredWh,
        uint256 creditedWh,
        uint256 shortfallWh,
        uint256 earned,
        uint256 penalty,
        bool missingData
    );

    /// @notice Emitted for each filled bid of a settled session: what it paid, what came back.
    event BuyerRefunded(
        uint256 indexed sessionId, uint256 indexed orderId, address indexed buyer, uint256 paid, uint256 refund
    );

    /// @notice Emitted when a session is settled; `dust` (rounding) went to the treasury.
    event SessionSettled(
        uint256 indexed sessionId,
        address indexed settler,
        uint256 earned,
        uint256 penalties,
        uint256 refunds,
        uint256 dust
    );

    /// @notice Thrown when a constructor address is zero.
    error FlexMarketZeroAddress();
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
    /// @notice Thrown when a session's settlement terms are out of range.
    error FlexMarketBadSessionTerms(uint16 toleranceBp, uint8 baselineIntervals, uint8 baselineGapIntervals, uint96 orderBond);
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
    /// @notice Thrown when a session holds `maxOrders` orders already (the most whose clearing
    /// and settlement fit in a block).
    error FlexMarketSessionFull(uint256 sessionId, uint256 maxOrders);
    /// @notice Thrown when a quantity is zero or above the maximum.
    error FlexMarketQuantityOutOfRange(uint256 qtyWh, uint256 maxQtyWh);
    /// @notice Thrown when a price is above the maximum.
    error FlexMarketPriceOutOfRange(uint256 pricePerKwh, uint256 maxPricePerKwh);
    /// @notice Thrown when an order or withdrawal needs more free deposit than `account` has.
    error FlexMarketInsufficientDeposit(address account, uint256 needed, uint256 available);
    /// @notice Thrown for a deposit or withdrawal of zero.
    error FlexMarketZeroAmount();
    /// @notice Thrown when an open order is sent to a sealed session, or a commitment to an open one.
    error FlexMarketWrongOrderMode(uint256 sessionId, bool sealedBids);
    /// @notice Thrown when a reveal comes after the reveal deadline.
    error FlexMarketRevealClosed(uint256 sessionId, uint64 deadline);
    /// @notice Thrown when a reveal matches no commitment of the caller (wrong order or salt).
    error FlexMarketUnknownCommitment(uint256 sessionId, bytes32 commitment);
    /// @notice Thrown when a commitment is made or revealed twice by the same trader.
    error FlexMarketCommitmentUsed(uint256 sessionId, bytes32 commitment);
    /// @notice Thrown when a commitment cannot be forfeited (revealed, unknown, or the reveal
    /// window not over).
    error FlexMarketNotForfeitable(uint256 sessionId, address trader, bytes32 commitment);
    /// @notice Thrown when a signed order's or cancel's signature is not the trader's.
    error FlexMarketBadSignature(uint256 index, address trader, address recovered);
    /// @notice Thrown when a signed order's nonce is not the trader's next nonce (replay).
    error FlexMarketWrongNonce(uint256 index, address trader, uint64 nonce, uint64 expected);
    /// @notice Thrown when a session is not in the status an action needs.
    error FlexMarketWrongStatus(uint256 sessionId, Status status);
    /// @notice Thrown when cancelling an order id the session does not have.
    error FlexMarketUnknownOrder(uint256 sessionId, uint256 orderId);
    /// @notice Thrown when an order is cancelled twice.
    error FlexMarketAlreadyCancelled(uint256 sessionId, uint256 orderId);
    /// @notice Thrown when someone other than an active order's trader cancels it.
    error FlexMarketNotTrader(uint256 sessionId, uint256 orderId, address caller, address trader);
    /// @notice Thrown when an order proof does not give the session's stored book hash.
    error FlexMarketBadOrderProof(uint256 sessionId, uint256 orderId);
    /// @notice Thrown when the submitted orders are not exactly the session's orders.
    error FlexMarketOrderBookMismatch(uint256 sessionId, uint256 expectedCount, uint256 count);
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
    /// @notice Thrown when a session is cleared at or after the start of its delivery.
    error FlexMarketClearingClosed(uint256 sessionId, uint64 deliveryStart);
    /// @notice Thrown when a session is voided before its delivery starts.
    error FlexMarketNotVoidable(uint256 sessionId, uint64 deliveryStart);
    /// @notice Thrown when a session is settled before its settlement opens.
    error FlexMarketSettlementNotOpen(uint256 sessionId, uint64 opensAt);
    /// @notice Thrown when the settlement's table is not the cleared session's filled orders.
    error FlexMarketSettlementTableMismatch(uint256 sessionId);
    /// @notice Thrown when a table row names no seller, the wrong one, or a seller is repeated,
    /// unsorted or has nothing filled.
    error FlexMarketBadSeller(uint256 index);
    /// @notice Thrown when a seller's reading of `intervalStart` is not the committed one.
    error FlexMarketBadReading(address seller, uint64 intervalStart);
    /// @notice Thrown when a seller's interval flagged as missing has a committed reading.
    error FlexMarketReadingPresent(address seller, uint64 intervalStart);
    /// @notice Thrown when a seller's evidence has the wrong number of readings.
    error FlexMarketReadingCount(address seller, uint256 expected, uint256 count);
}
