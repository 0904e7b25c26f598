// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Panic} from "@openzeppelin/contracts/utils/Panic.sol";
import {PackedWords} from "./PackedWords.sol";

/// @title PackedRows
/// @notice Sequences of 32-bit values packed eight to a word (see PackedWords) in calldata:
/// value `k` of `words` is field `k % 8` of `words[k / 8]`. A FlexCoordination table row's
/// targets and a deliveries row's delivered, credited and shortfall figures are such
/// sequences; the functions here are the scans that proposal and settlement make over them.
/// A sequence shorter than a caller says panics (0x32, as an index out of bounds) instead of
/// reading a neighbour's words: `slice` checks its range once, and the loops of `scan` and
/// `addTo` read only inside the lengths they check first.
library PackedRows {
    using PackedWords for uint256;

    /// @dev As PackedWords' lane constants: the low 32 bits and bit 63 of each 64-bit lane.
    uint256 private constant EVEN = 0x00000000ffffffff00000000ffffffff00000000ffffffff00000000ffffffff;
    uint256 private constant GUARD = 0x8000000000000000800000000000000080000000000000008000000000000000;

    /// @notice Words `start` to `start + count` of `a` (panics 0x32 past its end). What
    /// `a[start:start + count]` gives, at a fraction of its gas (the range checks of a calldata
    /// slice and its later bounds-checked reads cost about 300 gas a settlement row).
    function slice(uint256[] calldata a, uint256 start, uint256 count)
        internal
        pure
        returns (uint256[] calldata s)
    {
        // Cannot underflow: `a.length - start` is taken only when `start <= a.length`.
        unchecked {
            if (start > a.length || count > a.length - start) Panic.panic(Panic.ARRAY_OUT_OF_BOUNDS);
        }
        assembly ("memory-safe") {
            s.offset := add(a.offset, shl(5, start))
            s.length := count
        }
    }

    /// @dev Word `j` of `a`, unchecked: the caller checked `j < a.length`.
    function _word(uint256[] calldata a, uint256 j) private pure returns (uint256 w) {
        assembly ("memory-safe") {
            w := calldataload(add(a.offset, shl(5, j)))
        }
    }

    /// @notice Value `k` of `words`.
    function at(uint256[] calldata words, uint256 k) internal pure returns (uint256) {
        return words[k / PackedWords.FIELDS].get(k % PackedWords.FIELDS);
    }

    /// @notice One pass over a settlement row, eight intervals a word:
    /// - `most`: what the targets can earn at `pricePerKwh` (token base units per kWh),
    ///   `sum_k price * (T_k * upperBp / 10000) / 1000`, each term rounded down;
    /// - `creditAbove`: some credit is above its target plus tolerance,
    ///   `c_k * 10000 > T_k * upperBp` (that is `c_k > T_k * upperBp / 10000`, floor; see
    ///   PackedWords.above);
    /// - `credited`: some credit is not zero.
    /// Reads `credits.length` words of each array; `targets` must have at least as many.
    /// @param upperBp 10000 plus the tolerance in basis points
    function scan(uint256[] calldata targets, uint256[] calldata credits, uint16 upperBp, uint40 pricePerKwh)
        internal
        pure
        returns (uint256 most, bool creditAbove, bool credited)
    {
        if (targets.length < credits.length) Panic.panic(Panic.ARRAY_OUT_OF_BOUNDS);
        // Assembly, eight fields unrolled: the same loop in Solidity (a call per word to
        // word-level functions) cost about 400 gas a settlement row more (16 intervals, 3 %).
        // The credit check takes four fields at a time in 64-bit lanes: both products stay
        // below 2^48 in their lane (a field is below 2^32, `upperBp` below 2^16, 10000 below
        // 2^14), so with guard bit 63 set in each lane of the left side the subtraction
        // borrows across no lane, and the guard survives exactly where the credit is within
        // its bound. Cannot overflow: one term of `most` is below 2^75 (`T * upperBp / 10000`
        // below 2^35, the price below 2^40), a word's eight below 2^78, and a calldata array
        // has far fewer than 2^64 words; `credits.length` words are read from each array,
        // inside the lengths checked above.
        assembly ("memory-safe") {
            let bad := 0
            let any := 0
            let gap := sub(targets.offset, credits.offset)
            for {
                let cp := credits.offset
                let end := add(cp, shl(5, credits.length))
            } lt(cp, end) { cp := add(cp, 0x20) } {
                let tw := calldataload(add(cp, gap))
                let cw := calldataload(cp)
                any := or(any, cw)
                let lo := sub(or(mul(and(tw, EVEN), upperBp), GUARD), mul(and(cw, EVEN), 10000))
                let hi := sub(
                    or(mul(and(shr(32, tw), EVEN), upperBp), GUARD), mul(and(shr(32, cw), EVEN), 10000)
                )
                bad := or(bad, and(not(and(lo, hi)), GUARD))
                if tw {
                    most := add(most, div(mul(pricePerKwh,
                        div(mul(and(tw, 0xffffffff), upperBp), 10000)), 1000))
                    most := add(most, div(mul(pricePerKwh,
                        div(mul(and(shr(32, tw), 0xffffffff), upperBp), 10000)), 1000))
                    most := add(most, div(mul(pricePerKwh,
                        div(mul(and(shr(64, tw), 0xffffffff), upperBp), 10000)), 1000))
                    most := add(most, div(mul(pricePerKwh,
                        div(mul(and(shr(96, tw), 0xffffffff), upperBp), 10000)), 1000))
                    most := add(most, div(mul(pricePerKwh,
                        div(mul(and(shr(128, tw), 0xffffffff), upperBp), 10000)), 1000))
                    most := add(most, div(mul(pricePerKwh,
                        div(mul(and(shr(160, tw), 0xffffffff), upperBp), 10000)), 1000))
                    most := add(most, div(mul(pricePerKwh,
                        div(mul(and(shr(192, tw), 0xffffffff), upperBp), 10000)), 1000))
                    most := add(most, div(mul(pricePerKwh,
                        div(mul(shr(224, tw), upperBp), 10000)), 1000))
                }
            }
            creditAbove := iszero(iszero(bad))
            credited := iszero(iszero(any))
        }
    }

    /// @notice The first value `k` whose credit is above its target plus tolerance, with the
    /// credit and the bound (`found` false when none is).
    function firstAbove(uint256[] calldata targets, uint256[] calldata credits, uint16 upperBp)
        internal
        pure
        returns (bool found, uint256 k, uint256 credit, uint256 bound)
    {
        uint256 n = credits.length * PackedWords.FIELDS;
        for (; k < n; ++k) {
            uint256 t = at(targets, k);
            credit = at(credits, k);
            if (PackedWords.above(t, credit, upperBp)) {
                return (true, k, credit, PackedWords.upper(t, upperBp));
            }
        }
        return (false, 0, 0, 0);
    }

    /// @notice Bit `k` set where bit `k` of `mask` is set and value `k` is not zero, for
    /// `k < n` (`n` at most 256; a signed value is not zero where any of its 32 bits is set).
    function nonZero(uint256[] calldata words, uint256 mask, uint256 n) internal pure returns (uint256 set) {
        for (uint256 k; k < n; ++k) {
            if ((mask >> k) & 1 == 1 && at(words, k) != 0) set |= 1 << k;
        }
    }

    /// @notice True when every value of `words` from value `n` on is zero (the unused fields
    /// of the last word of a sequence of `n` values, and any later words).
    function zeroFrom(uint256[] calldata words, uint256 n) internal pure returns (bool) {
        // The word holding value `n` from its field `n % 8` on, every later word whole.
        uint256 k = n % PackedWords.FIELDS;
        for (uint256 j = n / PackedWords.FIELDS; j < words.length; ++j) {
            (, uint256 high) = words[j].splitAt(k);
            if (high != 0) return false;
            k = 0;
        }
        return true;
    }

    /// @notice Adds a row's targets to the interval sums, as a proposal does: value `k` of
    /// `words` to `sums[k]` for each `k` below `sums.length`, up to the first value above
    /// `maxValue`, whose index it returns (`sums.length`: none was; the sums before it are
    /// added, the rest are not); and `most`, what the added targets can earn at `pricePerKwh`
    /// (`scan`'s figure). Panics (0x11) when a sum is 2^255 or more before an addition (a sum
    /// wraps only from 2^256 - 2^32, so none ever does).
    function addTargets(
        uint256[] memory sums,
        uint256[] calldata words,
        uint256 maxValue,
        uint16 upperBp,
        uint40 pricePerKwh
    ) internal pure returns (uint256 k, uint256 most) {
        // Cannot overflow: `words.length` is a calldata length, far below 2^64.
        unchecked {
            if (sums.length > words.length * PackedWords.FIELDS) Panic.panic(Panic.ARRAY_OUT_OF_BOUNDS);
        }
        uint256 high;
        // One pass in assembly, as the contract's former loop: the Solidity loop (bounds-checked
        // `sums[k] += v`, a call per word for the earnings) cost about 2,000 gas a row of 16
        // intervals more, 7 % of a proposal. `sums` has `sums.length` words in memory, `words`
        // at least `ceil(sums.length / 8)` in calldata (checked above). `most` cannot overflow:
        // a term is below 2^75 (see `scan`), and there are at most 2^64 of them; the sums are
        // guarded by the top bit of `high` (every sum before its addition) instead of a check
        // of each addition.
        assembly ("memory-safe") {
            let n := mload(sums)
            let first := add(sums, 0x20)
            let w := 0
            for {} lt(k, n) { k := add(k, 1) } {
                if iszero(and(k, 7)) { w := calldataload(add(words.offset, shl(2, k))) }
                let v := and(w, 0xffffffff)
                if gt(v, maxValue) { break }
                w := shr(32, w)
                let slot := add(first, shl(5, k))
                let before := mload(slot)
                high := or(high, before)
                mstore(slot, add(before, v))
                most := add(most, div(mul(pricePerKwh,
                    div(mul(v, upperBp), 10000)), 1000))
            }
        }
        if (high >> 255 != 0) Panic.panic(Panic.UNDER_OVERFLOW);
    }
}
