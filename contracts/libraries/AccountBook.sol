// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Panic} from "@openzeppelin/contracts/utils/Panic.sol";
import {IFlexCoordination} from "../interfaces/IFlexCoordination.sol";

/// @title AccountBook
/// @notice A member's `IFlexCoordination.Account` (payouts to claim, reputation, counts), kept
/// in the one storage slot the compiler gives the struct.
///
/// Settlement credits every member of a batch, so `credit` reads and writes that slot once:
/// field by field through the struct costs three reads and three writes of the slot (measured:
/// about 1,100 gas a member more, 8 % of a settlement row). It does so through the bit
/// positions below, which must be those the compiler lays the struct out at (fields in
/// declaration order from the low bits, each as wide as its type). The contract tests
/// (tests/contracts/test_coordination_accounts.py) write through the struct and read through this
/// library and the other way round, so they fail when the struct in IFlexCoordination.sol is
/// reordered or a field is resized. Everything else (`countOptIn`, `takeClaimable`, the
/// `account` view) uses the struct's fields directly.
///
/// Overflows of the money and of the reputation revert with Panic(0x11), as checked
/// arithmetic on the struct's fields would; the two counts wrap (informational).
library AccountBook {
    /// @dev Bit positions of the fields in the slot (see above) and their masks.
    uint256 internal constant CLAIMABLE_AT = 0;
    uint256 internal constant REPUTATION_AT = 96;
    uint256 internal constant OPT_INS_AT = 160;
    uint256 internal constant SETTLED_AT = 192;
    uint256 private constant MASK96 = type(uint96).max;
    uint256 private constant MASK64 = type(uint64).max;
    uint256 private constant MASK32 = type(uint32).max;

    /// @notice Credits a settled request to `a`: `payout` to claim, `points` of reputation
    /// (negative for penalised non-delivery), one more settled request. One read, one write.
    function credit(IFlexCoordination.Account storage a, uint96 payout, int32 points) internal {
        uint256 w = _load(a);
        uint256 claimable = ((w >> CLAIMABLE_AT) & MASK96) + payout;
        if (claimable > MASK96) Panic.panic(Panic.UNDER_OVERFLOW);
        // Exact: the 64 bits of the field, read as the int64 they hold.
        int256 reputation = int256(int64(uint64(w >> REPUTATION_AT))) + points;
        // Outside the int64 range exactly where the truncation to int64 changes the value.
        if (int64(reputation) != reputation) Panic.panic(Panic.UNDER_OVERFLOW);
        uint256 settled;
        // Wraps by design (masked to 32 bits below): a count of requests, not money.
        unchecked {
            settled = ((w >> SETTLED_AT) + 1) & MASK32;
        }
        _store(
            a,
            (claimable << CLAIMABLE_AT)
                // Exact: `reputation` is in the int64 range (checked above); its two's
                // complement, masked to the field.
                | ((uint256(reputation) & MASK64) << REPUTATION_AT)
                | (w & (MASK32 << OPT_INS_AT))
                | (settled << SETTLED_AT)
        );
    }

    /// @notice Counts one more opt-in of `a`.
    function countOptIn(IFlexCoordination.Account storage a) internal {
        // Wraps by design: a count of opt-ins, not money (one per request).
        unchecked {
            ++a.optIns;
        }
    }

    /// @notice Takes out everything `a` may claim: returns it and leaves zero.
    function takeClaimable(IFlexCoordination.Account storage a) internal returns (uint256 amount) {
        amount = a.claimable;
        a.claimable = 0;
    }

    function _load(IFlexCoordination.Account storage a) private view returns (uint256 w) {
        assembly ("memory-safe") {
            w := sload(a.slot)
        }
    }

    function _store(IFlexCoordination.Account storage a, uint256 w) private {
        assembly ("memory-safe") {
            sstore(a.slot, w)
        }
    }
}
