// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Forecast oracle: per-participant energy forecasts of an interval, signed batches
/// @notice The same pattern as the meter oracle. An active oracle signs (EIP-712) the forecasts
/// of one future interval made by one model version; anyone may relay them. Each forecast is
/// one word `participantIndex << 192 | q10 << 128 | q50 << 64 | q90` (index uint64 from
/// `enrolParticipants`; quantiles int64 Wh, net import positive, in two's complement), strictly
/// ascending by participant index. One forecast per participant and interval; a later one is an
/// explicit revision with its own event. Forecasts must be committed before their interval
/// starts. The contract stores one bit per participant-interval and each batch's Merkle root
/// (leaves and tree as in `IMeterOracle`); the values are in the events.
interface IForecastOracle {
    /// @notice Emitted when participant `participantId` gets index `participantIndex`.
    event ForecastParticipantEnrolled(bytes32 indexed participantId, uint64 indexed participantIndex);

    /// @notice Emitted when the first forecasts of interval `intervalStart` are stored.
    /// @param root the batch's Merkle root
    /// @param intervalStart the forecast interval's start, unix s
    /// @param oracle the signing oracle
    /// @param modelVersion the forecasting model's version
    /// @param forecasts the packed forecasts
    event ForecastsCommitted(
        bytes32 indexed root,
        uint64 indexed intervalStart,
        address indexed oracle,
        bytes32 modelVersion,
        uint256[] forecasts
    );

    /// @notice Emitted when forecasts of interval `intervalStart` are revised; the earlier ones
    /// stay in the event trail.
    event ForecastsRevised(
        bytes32 indexed root,
        uint64 indexed intervalStart,
        address indexed oracle,
        bytes32 modelVersion,
        uint256[] forecasts
    );

    /// @notice Thrown when the registry address is zero.
    error ForecastOracleZeroAddress();

    /// @notice Thrown when `account` must be an active oracle and is not.
    error ForecastOracleNotOracle(address account);

    /// @notice Thrown when a signature does not recover to an active oracle (zero: malformed).
    error ForecastOracleBadSignature(address recovered);

    /// @notice Thrown when `signer` already used `nonce` (a replayed submission).
    error ForecastOracleNonceUsed(address signer, uint256 nonce);

    /// @notice Thrown when the forecast interval has already started (`intervalStart <= now`).
    error ForecastOracleIntervalStarted(uint64 intervalStart, uint64 now);

    /// @notice Thrown when `intervalStart` is zero or not a multiple of 900 s.
    error ForecastOracleMisalignedInterval(uint64 intervalStart);

    /// @notice Thrown when a batch holds no forecasts.
    error ForecastOracleEmptyBatch();

    /// @notice Thrown when the model version is zero.
    error ForecastOracleZeroModelVersion();

    /// @notice Thrown when a forecast names a participant index that was never enrolled.
    error ForecastOracleUnknownParticipant(uint64 participantIndex);

    /// @notice Thrown when `participantId` is not enrolled (views taking an id).
    error ForecastOracleUnknownParticipantId(bytes32 participantId);

    /// @notice Thrown when the forecast at `position` is not in ascending participant order.
    error ForecastOracleUnsortedBatch(uint256 position, uint64 participantIndex);

    /// @notice Thrown when the quantiles of `participantId`'s forecast are not ordered.
    error ForecastOracleQuantilesUnordered(bytes32 participantId, int64 q10, int64 q50, int64 q90);

    /// @notice Thrown when `participantId` already has a forecast for `intervalStart`.
    error ForecastOracleAlreadyCommitted(bytes32 participantId, uint64 intervalStart);

    /// @notice Thrown when a revision names a participant without a forecast for the interval.
    error ForecastOracleNotCommitted(bytes32 participantId, uint64 intervalStart);

    /// @notice Thrown when enrolling a zero participant id.
    error ForecastOracleZeroParticipantId();

    /// @notice Thrown when enrolling `participantId` a second time.
    error ForecastOracleParticipantAlreadyEnrolled(bytes32 participantId);

    /// @notice Commits first forecasts of interval `intervalStart`, signed by an oracle.
    function commitForecasts(
        uint64 intervalStart,
        bytes32 modelVersion,
        uint256[] calldata forecasts,
        uint256 nonce,
        bytes calldata signature
    ) external returns (bytes32 root);

    /// @notice Revises committed forecasts of interval `intervalStart`, signed by an oracle.
    function reviseForecasts(
        uint64 intervalStart,
        bytes32 modelVersion,
        uint256[] calldata forecasts,
        uint256 nonce,
        bytes calldata signature
    ) external returns (bytes32 root);

    /// @notice True when `participantId` has a forecast for `intervalStart`.
    function isCommitted(bytes32 participantId, uint64 intervalStart) external view returns (bool);
}
