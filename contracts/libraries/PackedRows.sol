// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Panic} from "@openzeppelin/contracts/utils/Panic.sol";
import {PackedWords} from "./PackedWords.sol";

/// @title PackedRows
/// @notice Sequences of 32-bit values packed eight to a word (see PackedWords) in calldata:
/// value `k` of `words` is field `k % 8` of `words[k / 8]`. A FlexCoordination table row's
/// targets and a deliveries row's delivered figures are such sequences; the functions here
/// are the scans that a coalition's proposal and a settlement make over them (`tally`: a
/// settlement row's money and points, eight intervals at a time). A sequence shorter than a
/// caller says panics (0x32, as an index out of bounds) instead of reading a neighbour's
/// words: `slice` checks its range once, and the loop of `addTargets` reads only inside the
/// lengths it checks first.
library PackedRows {
    using PackedWords for uint256;

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

    /// @notice The money and points terms of a settlement row (see `tally`).
    struct Rates {
        uint256 upperBp; // 10000 plus the tolerance, basis points
        uint256 lowerBp; // 10000 minus the tolerance
        uint256 price; // token base units per credited kWh (below 2^40)
        uint256 penalty; // token base units per kWh of shortfall (below 2^40)
        uint256 points; // reputation points per credited kWh (below 2^40)
        uint256 penaltyPoints; // reputation points taken per kWh of shortfall (below 2^40)
    }

    /// @notice Adds one word of targets `targetsWord` (uint32 fields) and one of deliveries
    /// `deliveredWord` (int32 fields, two's complement) to a settlement row's sums `acc`:
    /// `acc[0]` rewards, `acc[1]` penalties, `acc[2]` points for credits, `acc[3]` points
    /// taken for shortfalls. Per field, with target `T` and delivered `D` (core/rules.py,
    /// FlexRules): credited `C = clamp(D, 0, T * upperBp / 10000)`, shortfall
    /// `S = max(0, T * lowerBp / 10000 - D)`, then `energyCost(C, price)`,
    /// `energyCost(S, penalty)`, `energyCost(C, points)`, `energyCost(S, penaltyPoints)`, each
    /// rounded down. A field with a zero target and a zero delivery adds nothing.
    function tally(uint256[4] memory acc, uint256 targetsWord, uint256 deliveredWord, Rates memory r)
        internal
        pure
    {
        (uint256 upperBp, uint256 lowerBp) = (r.upperBp, r.lowerBp);
        (uint256 price, uint256 penalty, uint256 points, uint256 penaltyPoints) =
            (r.price, r.penalty, r.points, r.penaltyPoints);
        // Assembly, a loop over the eight fields: measured with PackedRowsHarness.tallyRow
        // (eth_estimateGas), a row of 16 intervals costs 4,831 gas here and 32,951 in checked
        // Solidity with FlexRules' creditedWh, shortfallWh and energyCost per field (the
        // contract tests check that both give the same sums). Cannot overflow: a target is below 2^32
        // and `upperBp` below 2^15, so a bound is below 2^47; `D` is an int32, so `C` is below
        // 2^47 and `S` below 2^48; a rate is below 2^40, so a term is below 2^88, and the sums
        // of a row of up to 256 intervals stay below 2^96.
        assembly ("memory-safe") {
            let reward := mload(acc)
            let taken := mload(add(acc, 0x20))
            let plus := mload(add(acc, 0x40))
            let minus := mload(add(acc, 0x60))
            for { let sh := 0 } lt(sh, 256) { sh := add(sh, 32) } {
                let t := and(shr(sh, targetsWord), 0xffffffff)
                let d := signextend(3, and(shr(sh, deliveredWord), 0xffffffff))
                let c := 0
                if sgt(d, 0) {
                    c := d
                    let up := div(mul(t, upperBp), 10000)
                    if gt(c, up) { c := up }
                }
                let lo := div(mul(t, lowerBp), 10000)
                let s := 0
                if slt(d, lo) { s := sub(lo, d) }
                reward := add(reward, div(mul(c, price), 1000))
                taken := add(taken, div(mul(s, penalty), 1000))
                plus := add(plus, div(mul(c, points), 1000))
                minus := add(minus, div(mul(s, penaltyPoints), 1000))
            }
            mstore(acc, reward)
            mstore(add(acc, 0x20), taken)
            mstore(add(acc, 0x40), plus)
            mstore(add(acc, 0x60), minus)
        }
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
    /// (`sum_k price * (T_k * upperBp / 10000) / 1000`, each term rounded down). Panics (0x11) when a sum is 2^255 or more before an addition (a sum
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
        // a term is below 2^75 (a bound below 2^35, the price below 2^40), and there are at
        // most 2^64 of them; the sums are
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
