// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IFlexMarket} from "../interfaces/IFlexMarket.sol";
import {IParticipantRegistry} from "../interfaces/IParticipantRegistry.sol";
import {FlexRules} from "./FlexRules.sol";
import {MarketStorage} from "./MarketStorage.sol";

/// @title MarketBook
/// @notice FlexMarket's book keeping outside the clearing: cancelling an order proven against
/// the book's running hash, and releasing the locks of a voided session. A linked library run
/// in FlexMarket's storage by delegatecall, after FlexMarket checked the session's status and
/// time. The running hash after order `i` is `bytes24(keccak256(abi.encode(h, i, word,
/// area)))` with `word = trader << 96 | side << 80 | qtyWh << 40 | pricePerKwh`; FlexMarket
/// keeps it after every `CHECKPOINT_EVERY`-th order.
library MarketBook {
    uint256 internal constant CHECKPOINT_EVERY = 32;
    uint256 private constant MASK40 = 0xffffffffff;

    /// @notice Cancels order `orderId` of session `sessionId` (`s`) for `by`: its trader, or
    /// anyone once the trader is no longer active; its lock is released at once.
    function cancel(
        MarketStorage.Session storage s,
        mapping(address => MarketStorage.Account) storage accounts,
        mapping(uint256 => uint256) storage cancelled,
        mapping(uint256 => bytes24) storage checkpoints,
        IParticipantRegistry registry,
        uint256 sessionId,
        uint256 orderId,
        IFlexMarket.OrderProof calldata proof,
        address by
    ) external {
        uint256 n = s.orderCount;
        if (orderId >= n) revert IFlexMarket.FlexMarketUnknownOrder(sessionId, orderId);
        uint256 bit = 1 << (orderId & 255);
        uint256 w = cancelled[orderId >> 8];
        if (w & bit != 0) revert IFlexMarket.FlexMarketAlreadyCancelled(sessionId, orderId);
        uint256 word = _prove(s, checkpoints, sessionId, orderId, n, proof);
        address trader = address(uint160(word >> 96));
        if (by != trader && registry.isActive(trader)) {
            revert IFlexMarket.FlexMarketNotTrader(sessionId, orderId, by, trader);
        }
        cancelled[orderId >> 8] = w | bit;
        uint256 amount = lockOf(s, word);
        MarketStorage.Account storage a = accounts[trader];
        // Cannot underflow or overflow: the order locked exactly `amount` when it entered.
        unchecked {
            a.locked -= uint96(amount);
            a.free += uint96(amount);
        }
        emit IFlexMarket.OrderCancelled(sessionId, orderId, by);
    }

    /// @notice Releases the lock of every order of a voided session that its trader did not
    /// cancel (FlexMarket checked `orders` against the book's hash); the sum released.
    function release(
        MarketStorage.Session storage s,
        mapping(address => MarketStorage.Account) storage accounts,
        mapping(uint256 => uint256) storage cancelled,
        uint256[] calldata orders
    ) external returns (uint256 released) {
                uint256 w;
        for (uint256 i; i < orders.length; ++i) {
            if (i & 255 == 0) w = cancelled[i >> 8];
            if ((w >> (i & 255)) & 1 == 1) continue; // released when it was cancelled
            uint256 word = orders[i];
            uint256 amount = lockOf(s, word);
            MarketStorage.Account storage a = accounts[address(uint160(word >> 96))];
            // Cannot underflow or overflow: the order locked exactly `amount` when it entered.
            unchecked {
                a.locked -= uint96(amount);
                a.free += uint96(amount);
            }
            released += amount;
        }
    }

    /// @notice What an order locks while it lives (core.rules bid_lock / offer_lock): the
    /// session's order bond plus `energyCost(qty, limit)` (a bid) or `energyCost(qty,
    /// penaltyPerKwh)` (an offer).
    function lockOf(MarketStorage.Session storage s, uint256 word) internal view returns (uint256) {
        uint256 rate = (word >> 80) & 1 == uint8(IFlexMarket.Side.Bid) ? word & MASK40 : s.penaltyPerKwh;
        return FlexRules.energyCost((word >> 40) & MASK40, rate) + s.orderBond;
    }

    /// @notice The running hash after order `orderId` given the one before it.
    function chain(bytes24 h, uint256 orderId, uint256 word, bytes32 area) internal pure returns (bytes24) {
        return bytes24(keccak256(abi.encode(h, orderId, word, area)));
    }

    /// @dev The record word of order `orderId` (of `n`), proven against the checkpoint of its
    /// group or, in the last incomplete group, the current book hash.
    function _prove(
        MarketStorage.Session storage s,
        mapping(uint256 => bytes24) storage checkpoints,
        uint256 sessionId,
        uint256 orderId,
        uint256 n,
        IFlexMarket.OrderProof calldata proof
    ) private view returns (uint256) {
        uint256 groupEnd = (orderId / CHECKPOINT_EVERY + 1) * CHECKPOINT_EVERY;
        bool closed = groupEnd <= n;
        uint256 count = (closed ? groupEnd : n) - orderId;
        if (proof.words.length != count || proof.areas.length != count) {
            revert IFlexMarket.FlexMarketBadOrderProof(sessionId, orderId);
        }
        bytes24 h = proof.priorHash;
        for (uint256 k; k < count; ++k) {
            h = chain(h, orderId + k, proof.words[k], proof.areas[k]);
        }
        bytes24 expected = closed ? checkpoints[orderId / CHECKPOINT_EVERY] : s.bookHash;
        if (h != expected) revert IFlexMarket.FlexMarketBadOrderProof(sessionId, orderId);
        return proof.words[0];
    }
}
