// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IMeterOracle} from "./interfaces/IMeterOracle.sol";
import {METER_ADMIN_ROLE} from "./interfaces/IParticipantRegistry.sol";
import {MerkleBatch} from "./libraries/MerkleBatch.sol";
import {SignedBatchOracle} from "./libraries/SignedBatchOracle.sol";

/// @title MeterOracle
/// @notice Signed 15-minute meter commitments (DMSFDR: what settlement measures against).
/// Storage per batch: one bit per meter-interval (256 meters share a slot), one slot for the
/// batch's Merkle root, one nonce bit; the values go to the event log and into the root.
/// A correction also stores, per corrected value, the root holding the current value.
/// Who may correct: an oracle of the grid area of the meter's holder in the registry, or an
/// oracle with the registry's METER_ADMIN_ROLE (see `correctReadings`).
/// Enrolment, signatures, nonces and the commitment bitmap: `SignedBatchOracle`; the batch's
/// Merkle tree: `MerkleBatch`.
contract MeterOracle is SignedBatchOracle, IMeterOracle {
    /// @notice EIP-712 type of a first commitment (`readings` packed as in IMeterOracle).
    bytes32 public constant METER_BATCH_TYPEHASH =
        keccak256("MeterBatch(uint64 intervalStart,uint256[] readings,uint256 nonce)");
    /// @notice EIP-712 type of a correction (a different type: a signed commitment can never
    /// be relayed as a correction or the other way round).
    bytes32 public constant METER_CORRECTION_TYPEHASH =
        keccak256("MeterCorrection(uint64 intervalStart,uint256[] readings,uint256 nonce)");

    uint256 private constant _VALUE_MASK = (1 << 96) - 1;

    /// @notice interval start => meter index => root of its latest correction (0: none).
    mapping(uint64 intervalStart => mapping(uint64 meterIndex => bytes32)) private _correctedIn;

    constructor(address registry_) SignedBatchOracle("BRIGHT MeterOracle", registry_) {
        if (registry_ == address(0)) revert MeterOracleZeroAddress();
    }

    // -- meters ------------------------------------------------------------------------------

    /// @notice Gives each of `meterIds` the next compact index; the caller is an active oracle.
    function enrolMeters(bytes32[] calldata meterIds) external {
        if (!_isOracle(msg.sender)) revert MeterOracleNotOracle(msg.sender);
        for (uint256 i; i < meterIds.length; ++i) {
            bytes32 id = meterIds[i];
            if (id == bytes32(0)) revert MeterOracleZeroMeterId();
            (uint64 index, bool added) = _enrol(id);
            if (!added) revert MeterOracleMeterAlreadyEnrolled(id);
            emit MeterEnrolled(id, index);
        }
    }

    /// @notice Number of enrolled meters.
    function meterCount() external view returns (uint256) {
        return _ids.length;
    }

    /// @notice The meter id with index `meterIndex`.
    function meterIdAt(uint64 meterIndex) public view returns (bytes32) {
        if (meterIndex >= _ids.length) revert MeterOracleUnknownMeter(meterIndex);
        return _ids[meterIndex];
    }

    /// @notice The index of enrolled meter `meterId`.
    function meterIndexOf(bytes32 meterId) public view returns (uint64) {
        (uint64 index, bool found) = _indexOf(meterId);
        if (!found) revert MeterOracleUnknownMeterId(meterId);
        return index;
    }

    // -- commitments ---------------------------------------------------------------------------

    /// @inheritdoc IMeterOracle
    /// @dev Not bound to the meters' grid areas, unlike corrections: the registry look-up per
    /// reading (the meter's holder and its grid area) costs about 6,000 gas per value on a
    /// correction, five times what a value's commitment costs (1,138 gas in batches of 1,000).
    /// A wrong first value is fixed by a correction, which is bound.
    function commitReadings(
        uint64 intervalStart,
        uint256[] calldata readings,
        uint256 nonce,
        bytes calldata signature
    ) external returns (bytes32 root) {
        uint256 n = readings.length;
        // One memory copy of the readings, laid out as the event's ABI data (offset, length,
        // words): hashed for the signature, read by the loop, logged as it is.
        uint256 data;
        bytes32 readingsHash;
        assembly ("memory-safe") {
            data := mload(0x40)
            mstore(data, 0x20)
            mstore(add(data, 0x20), n)
            calldatacopy(add(data, 0x40), readings.offset, shl(5, n))
            mstore(0x40, add(add(data, 0x40), shl(5, n)))
            readingsHash := keccak256(add(data, 0x40), shl(5, n))
        }
        address oracle =
            _authorise(METER_BATCH_TYPEHASH, intervalStart, n, readingsHash, nonce, signature);
        root = MerkleBatch.root(_markBatch(intervalStart, data + 0x40, n));
        rootInterval[root] = intervalStart;
        bytes32 topic = MeterReadingsCommitted.selector;
        // Emits MeterReadingsCommitted(root, intervalStart, oracle, readings) from the copy.
        assembly ("memory-safe") {
            log4(data, add(0x40, shl(5, n)), topic, root, intervalStart, oracle)
        }
    }

    /// @inheritdoc IMeterOracle
    /// @dev The signer must be an active oracle (as for commitments) and, for each meter, of
    /// the grid area of the meter's holder (`IParticipantRegistry.meterHolder`), unless it has
    /// the registry's METER_ADMIN_ROLE; a meter no participant holds needs that role.
    function correctReadings(
        uint64 intervalStart,
        uint256[] calldata readings,
        uint256 nonce,
        bytes calldata signature
    ) external returns (bytes32 root) {
        address oracle = _authorise(
            METER_CORRECTION_TYPEHASH,
            intervalStart,
            readings.length,
            keccak256(abi.encodePacked(readings)),
            nonce,
            signature
        );
        root = MerkleBatch.root(_checkCorrections(intervalStart, readings, oracle));
        rootInterval[root] = intervalStart;
        mapping(uint64 => bytes32) storage corrected = _correctedIn[intervalStart];
        for (uint256 i; i < readings.length; ++i) {
            uint256 reading = readings[i];
            uint64 index = uint64(reading >> 192);
            corrected[index] = root;
            emit MeterReadingCorrected(
                _ids[index],
                intervalStart,
                root,
                uint96((reading >> 96) & _VALUE_MASK),
                uint96(reading & _VALUE_MASK)
            );
        }
        emit MeterCorrectionsCommitted(root, intervalStart, oracle, readings.length);
    }

    /// @dev Checks a sorted correction batch signed by `oracle`: every meter has a commitment
    /// and is held in `oracle`'s grid area, unless `oracle` has METER_ADMIN_ROLE (asked once, at
    /// the first meter of another area); returns the batch's leaves.
    function _checkCorrections(uint64 intervalStart, uint256[] calldata readings, address oracle)
        private
        view
        returns (bytes32[] memory nodes)
    {
        uint256 meters = _ids.length;
        nodes = new bytes32[](readings.length);
        mapping(uint256 => uint256) storage bitmap = _committed[intervalStart];
        // Not zero: an active participant has a grid area.
        bytes32 oracleArea = registry.activeGridArea(oracle);
        bool anyArea;
        for (uint256 i; i < readings.length; ++i) {
            uint256 reading = readings[i];
            uint64 index = uint64(reading >> 192);
            if (i != 0 && index <= uint64(readings[i - 1] >> 192)) {
                revert MeterOracleUnsortedBatch(i, index);
            }
            if (index >= meters) revert MeterOracleUnknownMeter(index);
            bytes32 meterId = _ids[index];
            if (bitmap[index >> 8] & (1 << (index & 255)) == 0) {
                revert MeterOracleNotCommitted(meterId, intervalStart);
            }
            if (!anyArea) {
                (, bytes32 meterArea) = registry.meterHolder(meterId);
                if (meterArea != oracleArea) {
                    anyArea = IAccessControl(address(registry)).hasRole(METER_ADMIN_ROLE, oracle);
                    if (!anyArea) {
                        revert MeterOracleCorrectionOutsideGridArea(
                            meterId, meterArea, oracle, oracleArea
                        );
                    }
                }
            }
            nodes[i] = MerkleBatch.leaf(intervalStart, reading);
        }
    }

    // -- reads ---------------------------------------------------------------------------------

    /// @inheritdoc IMeterOracle
    function isCommitted(bytes32 meterId, uint64 intervalStart) external view returns (bool) {
        return _isCommitted(intervalStart, meterIndexOf(meterId));
    }

    /// @inheritdoc IMeterOracle
    function committedWords(uint64 firstIntervalStart, uint256 count, uint256 wordIndex)
        external
        view
        returns (uint256[] memory words)
    {
        if (!_isAligned(firstIntervalStart)) {
            revert MeterOracleMisalignedInterval(firstIntervalStart);
        }
        if (count != 0 && count - 1 > (type(uint64).max - firstIntervalStart) / INTERVAL_S) {
            revert MeterOracleIntervalRangeTooLong(firstIntervalStart, count);
        }
        uint256 wordCount = (_ids.length + 255) >> 8;
        if (wordIndex >= wordCount) revert MeterOracleUnknownMeterWord(wordIndex, wordCount);
        words = new uint256[](count);
        uint64 s = firstIntervalStart;
        for (uint256 k; k < count; ++k) {
            words[k] = _committed[s][wordIndex];
            // Cannot overflow: the last start fits a uint64 (checked above).
            unchecked {
                s += INTERVAL_S;
            }
        }
    }

    /// @notice The root of the latest correction of `meterId` for `intervalStart` (0: none).
    function correctionRoot(bytes32 meterId, uint64 intervalStart) external view returns (bytes32) {
        return _correctedIn[intervalStart][meterIndexOf(meterId)];
    }

    /// @inheritdoc IMeterOracle
    function verifyReading(
        bytes32 meterId,
        uint64 intervalStart,
        uint96 importWh,
        uint96 exportWh,
        bytes32 root,
        bytes32[] calldata proof
    ) external view returns (bool) {
        uint64 index = meterIndexOf(meterId);
        if (rootInterval[root] != intervalStart) return false;
        if (!_isCommitted(intervalStart, index)) return false;
        bytes32 latest = _correctedIn[intervalStart][index];
        if (latest != bytes32(0) && latest != root) return false;
        uint256 reading = (uint256(index) << 192) | (uint256(importWh) << 96) | uint256(exportWh);
        return MerkleProof.verifyCalldata(proof, root, MerkleBatch.leaf(intervalStart, reading));
    }

    /// @notice The EIP-712 digest an oracle signs for a batch (`correction`: a correction).
    function batchDigest(
        uint64 intervalStart,
        uint256[] calldata readings,
        uint256 nonce,
        bool correction
    ) public view returns (bytes32) {
        bytes32 typehash = correction ? METER_CORRECTION_TYPEHASH : METER_BATCH_TYPEHASH;
        return _hashTypedDataV4(
            keccak256(
                abi.encode(typehash, intervalStart, keccak256(abi.encodePacked(readings)), nonce)
            )
        );
    }

    // -- internals -----------------------------------------------------------------------------

    /// @dev Checks the interval, the signature and the nonce; returns the signing oracle.
    function _authorise(
        bytes32 typehash,
        uint64 intervalStart,
        uint256 count,
        bytes32 readingsHash,
        uint256 nonce,
        bytes calldata signature
    ) private returns (address oracle) {
        if (!_isAligned(intervalStart)) revert MeterOracleMisalignedInterval(intervalStart);
        if (uint256(intervalStart) + INTERVAL_S > block.timestamp) {
            revert MeterOracleFutureInterval(intervalStart, uint64(block.timestamp));
        }
        if (count == 0) revert MeterOracleEmptyBatch();
        bool isOracle;
        (oracle, isOracle) = _recoverOracle(
            keccak256(abi.encode(typehash, intervalStart, readingsHash, nonce)), signature
        );
        if (!isOracle) revert MeterOracleBadSignature(oracle);
        if (!_useNonce(oracle, nonce)) revert MeterOracleNonceUsed(oracle, nonce);
    }

    /// @dev Checks a batch (ascending meter indexes, all enrolled, none committed yet for the
    /// interval), sets its bits (one storage write per 256 meters) and returns its leaves.
    /// `src` points at the `n` readings in memory.
    function _markBatch(uint64 intervalStart, uint256 src, uint256 n)
        private
        returns (bytes32[] memory nodes)
    {
        uint256 meters = _ids.length;
        nodes = new bytes32[](n);
        mapping(uint256 => uint256) storage bitmap = _committed[intervalStart];
        uint256 failCode; // 1: order, 2: unknown meter, 3: already committed
        uint256 failAt; // the position (codes 1, 2) or the bitmap word (code 3)
        uint256 clash; // code 3: the bits already set
        assembly ("memory-safe") {
            // Sets `bits` in word `word` of the bitmap at `mapSlot`; returns the bits that
            // were set already (nothing is written then).
            function flush(mapSlot, word, bits) -> already {
                mstore(0x00, word)
                mstore(0x20, mapSlot)
                let slot := keccak256(0x00, 0x40)
                let current := sload(slot)
                already := and(current, bits)
                if iszero(already) { sstore(slot, or(current, bits)) }
            }
            let word := not(0)
            let bits := 0
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let reading := mload(add(src, shl(5, i)))
                let index := shr(192, reading)
                if and(gt(i, 0), iszero(gt(index, shr(192, mload(add(src, shl(5, sub(i, 1)))))))) {
                    failCode := 1
                    failAt := i
                    break
                }
                if iszero(lt(index, meters)) {
                    failCode := 2
                    failAt := i
                    break
                }
                if iszero(eq(shr(8, index), word)) {
                    if bits {
                        clash := flush(bitmap.slot, word, bits)
                        if clash {
                            failCode := 3
                            failAt := word
                            break
                        }
                    }
                    word := shr(8, index)
                    bits := 0
                }
                bits := or(bits, shl(and(index, 255), 1))
                // the leaf, as MerkleBatch.leaf (tests/oracles compare roots with Python's)
                mstore(0x00, intervalStart)
                mstore(0x20, reading)
                mstore(add(add(nodes, 0x20), shl(5, i)), keccak256(0x00, 0x40))
            }
            if iszero(failCode) {
                clash := flush(bitmap.slot, word, bits)
                if clash {
                    failCode := 3
                    failAt := word
                }
            }
        }
        if (failCode != 0) _failBatch(intervalStart, src, failCode, failAt, clash);
    }

    function _failBatch(
        uint64 intervalStart,
        uint256 src,
        uint256 code,
        uint256 failAt,
        uint256 clash
    ) private view {
        if (code == 3) {
            uint256 bit;
            while (clash & (1 << bit) == 0) ++bit;
            revert MeterOracleAlreadyCommitted(_ids[(failAt << 8) | bit], intervalStart);
        }
        uint64 index = uint64(_readingAt(src, failAt) >> 192);
        if (code == 2) revert MeterOracleUnknownMeter(index);
        if (index == uint64(_readingAt(src, failAt - 1) >> 192)) {
            revert MeterOracleAlreadyCommitted(_ids[index], intervalStart);
        }
        revert MeterOracleUnsortedBatch(failAt, index);
    }
    function _readingAt(uint256 src, uint256 position) private pure returns (uint256 reading) {
        assembly ("memory-safe") {
            reading := mload(add(src, shl(5, position)))
        }
    }
}
