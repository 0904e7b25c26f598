// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IFlexMarket} from "../interfaces/IFlexMarket.sol";

/// @title MarketStorage
/// @notice The storage records of FlexMarket, shared with the library that settles its
/// sessions (MarketSettlement runs in FlexMarket's storage by delegatecall). The compiler lays
/// them out; nothing reads them by hand-computed offsets.
library MarketStorage {
    struct Session {
        // slot 0: times, settings and the order terms read by every placement
        uint40 deliveryStart;
        uint16 durationS;
        uint40 gateClosure;
        uint40 revealDeadline;
        IFlexMarket.Product product;
        IFlexMarket.PricingRule rule;
        bool sealedBids;
        IFlexMarket.Status status;
        uint40 penaltyPerKwh;
        uint48 orderBond;
        // slot 1
        bytes32 gridArea;
        // slot 2: running hash of the book (after clearing: of the filled-orders table)
        bytes24 bookHash;
        uint32 orderCount;
        uint32 commitCount;
        // slot 3: the clearing's money and the settlement terms
        uint40 clearingPrice;
        uint96 escrowed;
        uint48 volumeWh;
        uint16 toleranceBp;
        uint8 baselineIntervals;
        uint8 baselineGapIntervals;
        uint32 settleDelayS;
    }

    struct Account {
        uint96 free;
        uint96 locked;
        uint64 nonce;
    }
}
