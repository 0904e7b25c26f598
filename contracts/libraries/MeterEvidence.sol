// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IMeterOracle} from "../interfaces/IMeterOracle.sol";
import {FlexRules} from "./FlexRules.sol";

/// @title MeterEvidence
/// @notice Committed meter readings as settlement evidence, and the meter-before baseline they
/// give: what FlexMarket's settlement on delivery (MarketSettlement) and a dispute of a DSO
/// request's settlement (CoordinationSettlement) both compute on-chain.
///
/// A reading is the MeterOracle's current value of one meter and interval, proven with
/// `IMeterOracle.verifyReading` (its batch's Merkle root and proof; a corrected value only
/// with the correction's root). Missing data is proven the other way: `isCommitted` is false.
/// The meter-before baseline (settlement/baselines.py METER_BEFORE_AFTER, core/rules.py
/// `meter_before_baseline`) is the mean net import of `k` intervals ending `gap` intervals
/// before the delivery, rounded with `FlexRules.divRound`.
library MeterEvidence {
    uint64 private constant INTERVAL_S = FlexRules.INTERVAL_S;

    /// @notice One interval's evidence: a committed reading with its Merkle proof, or, with
    /// `root` zero, the claim that the meter has no committed reading there (checked with
    /// `isCommitted`; `importWh`, `exportWh` and `proof` must then be empty).
    struct Reading {
        uint96 importWh;
        uint96 exportWh;
        bytes32 root;
        bytes32[] proof;
    }

    /// @notice Whether (`importWh`, `exportWh`) is `meterId`'s current committed value of the
    /// interval starting `at` (in batch `root` by `proof`), and its net import, Wh. A zero
    /// meter id, a meter the oracle does not know and a wrong value all give `ok` false.
    function verified(
        IMeterOracle oracle,
        bytes32 meterId,
        uint64 at,
        uint96 importWh,
        uint96 exportWh,
        bytes32 root,
        bytes32[] calldata proof
    ) internal view returns (bool ok, int256 netWh) {
        if (meterId != bytes32(0)) {
            try oracle.verifyReading(meterId, at, importWh, exportWh, root, proof) returns (bool v) {
                ok = v;
            } catch {}
        }
        // Exact: both are below 2^96.
        netWh = int256(uint256(importWh)) - int256(uint256(exportWh));
    }

    /// @notice Whether the MeterOracle holds a reading of `meterId` for the interval starting
    /// `at` (a zero meter id, or a meter never enrolled, has none).
    function isCommitted(IMeterOracle oracle, bytes32 meterId, uint64 at) internal view returns (bool) {
        if (meterId == bytes32(0)) return false;
        try oracle.isCommitted(meterId, at) returns (bool c) {
            return c;
        } catch {
            return false;
        }
    }

    /// @notice The start of needed interval `j` of a delivery starting `start`: `j < k` the
    /// baseline's intervals (the `k` ending `gap` intervals before `start`), then the
    /// delivery's intervals in order.
    function intervalAt(uint64 start, uint256 k, uint256 gap, uint256 j) internal pure returns (uint64) {
        if (j < k) return start - SafeCast.toUint64(k + gap - j) * INTERVAL_S;
        return start + SafeCast.toUint64(j - k) * INTERVAL_S;
    }

    /// @notice The meter-before baseline of `k` readings summing `sumWh` (net import, Wh):
    /// `divRound(sumWh, k)`; `k > 0`.
    function meterBefore(int256 sumWh, uint256 k) internal pure returns (int256) {
        return FlexRules.divRound(sumWh, SafeCast.toInt256(k));
    }
}
