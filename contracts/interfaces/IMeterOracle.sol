// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Meter oracle: 15-minute import/export energy per meter, committed in signed batches
/// @notice An oracle (an active participant with the registry's Oracle role) signs a batch of
/// one interval's meter values (EIP-712); anyone may relay it. Each reading is one word:
/// `meterIndex << 192 | importWh << 96 | exportWh` (meter index: uint64, enrolled with
/// `enrolMeters`; energies: uint96 Wh), strictly ascending by meter index. The contract keeps
/// one bit per meter and interval (one commitment each) and the Merkle root of the batch; the
/// values themselves are in the events. Settlement re-supplies a value with a Merkle proof
/// (`verifyReading`). Leaves are `keccak256(abi.encode(intervalStart, reading))`, pairs are
/// hashed sorted (OpenZeppelin `MerkleProof`), an odd last node is carried up unchanged.
interface IMeterOracle {
    /// @notice Emitted when meter `meterId` gets the compact index `meterIndex`.
    /// @param meterId the meter's id (as in the participant registry)
    /// @param meterIndex its index in batches, from 0, in enrolment order
    event MeterEnrolled(bytes32 indexed meterId, uint64 indexed meterIndex);

    /// @notice Emitted when a batch of first commitments for interval `intervalStart` is stored.
    /// @param root the batch's Merkle root (its id)
    /// @param intervalStart the interval's start, unix s, a multiple of 900
    /// @param oracle the oracle that signed the batch
    /// @param readings the packed readings (see the contract's notice)
    event MeterReadingsCommitted(
        bytes32 indexed root, uint64 indexed intervalStart, address indexed oracle, uint256[] readings
    );

    /// @notice Emitted for each value of a correction batch; the value it replaces stays in the
    /// event trail (an earlier `MeterReadingsCommitted` or `MeterReadingCorrected`).
    /// @param meterId the corrected meter
    /// @param intervalStart the interval's start, unix s
    /// @param root the correction batch's Merkle root
    /// @param importWh the corrected imported energy, Wh
    /// @param exportWh the corrected exported energy, Wh
    event MeterReadingCorrected(
        bytes32 indexed meterId,
        uint64 indexed intervalStart,
        bytes32 indexed root,
        uint96 importWh,
        uint96 exportWh
    );

    /// @notice Emitted once per correction batch, after its `MeterReadingCorrected` events.
    event MeterCorrectionsCommitted(
        bytes32 indexed root, uint64 indexed intervalStart, address indexed oracle, uint256 count
    );

    /// @notice Thrown when the registry address is zero.
    error MeterOracleZeroAddress();

    /// @notice Thrown when `account` must be an active oracle and is not.
    error MeterOracleNotOracle(address account);

    /// @notice Thrown when a batch's signature does not recover to an active oracle
    /// (`recovered` is zero when the signature is malformed).
    error MeterOracleBadSignature(address recovered);

    /// @notice Thrown when `signer` already used `nonce` (a replayed submission).
    error MeterOracleNonceUsed(address signer, uint256 nonce);

    /// @notice Thrown when the interval has not ended yet (`intervalStart + 900 > now`).
    error MeterOracleFutureInterval(uint64 intervalStart, uint64 now);

    /// @notice Thrown when `intervalStart` is zero or not a multiple of 900 s.
    error MeterOracleMisalignedInterval(uint64 intervalStart);

    /// @notice Thrown when a batch holds no readings.
    error MeterOracleEmptyBatch();

    /// @notice Thrown when a reading names a meter index that was never enrolled.
    error MeterOracleUnknownMeter(uint64 meterIndex);

    /// @notice Thrown when `meterId` is not enrolled (views taking a meter id).
    error MeterOracleUnknownMeterId(bytes32 meterId);

    /// @notice Thrown when the reading at `position` does not have a larger meter index than
    /// the one before it.
    error MeterOracleUnsortedBatch(uint256 position, uint64 meterIndex);

    /// @notice Thrown when `meterId` already has a commitment for `intervalStart` (or appears
    /// twice in one batch); use a correction instead.
    error MeterOracleAlreadyCommitted(bytes32 meterId, uint64 intervalStart);

    /// @notice Thrown when a correction names a meter without a commitment for the interval.
    error MeterOracleNotCommitted(bytes32 meterId, uint64 intervalStart);

    /// @notice Thrown when `oracle` (of grid area `oracleGridArea`) signs a correction of meter
    /// `meterId`, held in grid area `meterGridArea` (zero: no participant holds it), without
    /// the registry's METER_ADMIN_ROLE.
    error MeterOracleCorrectionOutsideGridArea(
        bytes32 meterId, bytes32 meterGridArea, address oracle, bytes32 oracleGridArea
    );

    /// @notice Thrown when `count` intervals from `firstIntervalStart` run past the uint64 range.
    error MeterOracleIntervalRangeTooLong(uint64 firstIntervalStart, uint256 count);

    /// @notice Thrown when bitmap word `wordIndex` holds no enrolled meter (`wordCount` do).
    error MeterOracleUnknownMeterWord(uint256 wordIndex, uint256 wordCount);

    /// @notice Thrown when enrolling a zero meter id.
    error MeterOracleZeroMeterId();

    /// @notice Thrown when enrolling `meterId` a second time.
    error MeterOracleMeterAlreadyEnrolled(bytes32 meterId);

    /// @notice Commits first values of interval `intervalStart`, signed by an oracle (of any
    /// grid area).
    /// @return root the batch's Merkle root
    function commitReadings(
        uint64 intervalStart,
        uint256[] calldata readings,
        uint256 nonce,
        bytes calldata signature
    ) external returns (bytes32 root);

    /// @notice Replaces committed values of interval `intervalStart`, signed by an oracle of
    /// the grid area of each meter's holder in the participant registry, or by an oracle with
    /// the registry's METER_ADMIN_ROLE.
    /// @return root the correction batch's Merkle root
    function correctReadings(
        uint64 intervalStart,
        uint256[] calldata readings,
        uint256 nonce,
        bytes calldata signature
    ) external returns (bytes32 root);

    /// @notice True when `meterId` has a commitment for `intervalStart`.
    function isCommitted(bytes32 meterId, uint64 intervalStart) external view returns (bool);

    /// @notice The commitment bitmap word `wordIndex` of each of `count` consecutive 15-minute
    /// intervals from `firstIntervalStart`: bit `i` of `words[k]` is set when the meter of index
    /// `256 * wordIndex + i` has a commitment for `firstIntervalStart + 900 * k`. One call gives
    /// a settlement the data of up to 256 meters over a whole window.
    function committedWords(uint64 firstIntervalStart, uint256 count, uint256 wordIndex)
        external
        view
        returns (uint256[] memory words);

    /// @notice The compact index of enrolled meter `meterId` (reverts if it is not enrolled).
    function meterIndexOf(bytes32 meterId) external view returns (uint64);

    /// @notice True when (`importWh`, `exportWh`) is the current value of `meterId` for
    /// `intervalStart`: in batch `root` by `proof`, and `root` is the latest correction of it
    /// if it was corrected.
    function verifyReading(
        bytes32 meterId,
        uint64 intervalStart,
        uint96 importWh,
        uint96 exportWh,
        bytes32 root,
        bytes32[] calldata proof
    ) external view returns (bool);
}
