// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IForecastOracle} from "./interfaces/IForecastOracle.sol";
import {MerkleBatch} from "./libraries/MerkleBatch.sol";
import {SignedBatchOracle} from "./libraries/SignedBatchOracle.sol";

/// @title ForecastOracle
/// @notice Signed per-participant forecasts (q10/q50/q90 Wh, model version) of future
/// intervals, for coalition formation and baselines. Storage as in MeterOracle: one bit per
/// participant-interval, one slot per batch root, one nonce bit; the values are in the events.
/// Enrolment, signatures, nonces and the commitment bitmap: `SignedBatchOracle`; the batch's
/// Merkle tree: `MerkleBatch`.
contract ForecastOracle is SignedBatchOracle, IForecastOracle {
    bytes32 public constant FORECAST_BATCH_TYPEHASH = keccak256(
        "ForecastBatch(uint64 intervalStart,bytes32 modelVersion,uint256[] forecasts,uint256 nonce)"
    );
    bytes32 public constant FORECAST_REVISION_TYPEHASH = keccak256(
        "ForecastRevision(uint64 intervalStart,bytes32 modelVersion,uint256[] forecasts,uint256 nonce)"
    );

    constructor(address registry_) SignedBatchOracle("BRIGHT ForecastOracle", registry_) {
        if (registry_ == address(0)) revert ForecastOracleZeroAddress();
    }

    /// @notice Gives each of `participantIds` the next index; the caller is an active oracle.
    function enrolParticipants(bytes32[] calldata participantIds) external {
        if (!_isOracle(msg.sender)) revert ForecastOracleNotOracle(msg.sender);
        for (uint256 i; i < participantIds.length; ++i) {
            bytes32 id = participantIds[i];
            if (id == bytes32(0)) revert ForecastOracleZeroParticipantId();
            (uint64 index, bool added) = _enrol(id);
            if (!added) revert ForecastOracleParticipantAlreadyEnrolled(id);
            emit ForecastParticipantEnrolled(id, index);
        }
    }

    /// @notice Number of enrolled participants.
    function participantCount() external view returns (uint256) {
        return _ids.length;
    }

    /// @notice The index of enrolled participant `participantId`.
    function participantIndexOf(bytes32 participantId) public view returns (uint64) {
        (uint64 index, bool found) = _indexOf(participantId);
        if (!found) revert ForecastOracleUnknownParticipantId(participantId);
        return index;
    }

    /// @inheritdoc IForecastOracle
    function commitForecasts(
        uint64 intervalStart,
        bytes32 modelVersion,
        uint256[] calldata forecasts,
        uint256 nonce,
        bytes calldata signature
    ) external returns (bytes32 root) {
        address oracle = _authorise(
            FORECAST_BATCH_TYPEHASH, intervalStart, modelVersion, forecasts, nonce, signature
        );
        root = MerkleBatch.root(_checkBatch(intervalStart, forecasts, false));
        rootInterval[root] = intervalStart;
        emit ForecastsCommitted(root, intervalStart, oracle, modelVersion, forecasts);
    }

    /// @inheritdoc IForecastOracle
    function reviseForecasts(
        uint64 intervalStart,
        bytes32 modelVersion,
        uint256[] calldata forecasts,
        uint256 nonce,
        bytes calldata signature
    ) external returns (bytes32 root) {
        address oracle = _authorise(
            FORECAST_REVISION_TYPEHASH, intervalStart, modelVersion, forecasts, nonce, signature
        );
        root = MerkleBatch.root(_checkBatch(intervalStart, forecasts, true));
        rootInterval[root] = intervalStart;
        emit ForecastsRevised(root, intervalStart, oracle, modelVersion, forecasts);
    }

    /// @inheritdoc IForecastOracle
    function isCommitted(bytes32 participantId, uint64 intervalStart) external view returns (bool) {
        return _isCommitted(intervalStart, participantIndexOf(participantId));
    }

    /// @dev Checks the interval, the batch, the signature and the nonce; returns the signer.
    function _authorise(
        bytes32 typehash,
        uint64 intervalStart,
        bytes32 modelVersion,
        uint256[] calldata forecasts,
        uint256 nonce,
        bytes calldata signature
    ) private returns (address oracle) {
        if (!_isAligned(intervalStart)) revert ForecastOracleMisalignedInterval(intervalStart);
        if (intervalStart <= block.timestamp) {
            revert ForecastOracleIntervalStarted(intervalStart, uint64(block.timestamp));
        }
        if (forecasts.length == 0) revert ForecastOracleEmptyBatch();
        if (modelVersion == bytes32(0)) revert ForecastOracleZeroModelVersion();
        bool isOracle;
        (oracle, isOracle) = _recoverOracle(
            keccak256(
                abi.encode(
                    typehash,
                    intervalStart,
                    modelVersion,
                    keccak256(abi.encodePacked(forecasts)),
                    nonce
                )
            ),
            signature
        );
        if (!isOracle) revert ForecastOracleBadSignature(oracle);
        if (!_useNonce(oracle, nonce)) revert ForecastOracleNonceUsed(oracle, nonce);
    }

    /// @dev Checks order, quantiles and (non-)existence; sets the bits of first forecasts;
    /// returns the leaves.
    function _checkBatch(uint64 intervalStart, uint256[] calldata forecasts, bool revision)
        private
        returns (bytes32[] memory nodes)
    {
        uint256 count = _ids.length;
        nodes = new bytes32[](forecasts.length);
        mapping(uint256 => uint256) storage bitmap = _committed[intervalStart];
        for (uint256 i; i < forecasts.length; ++i) {
            uint256 f = forecasts[i];
            uint64 index = uint64(f >> 192);
            if (i != 0 && index <= uint64(forecasts[i - 1] >> 192)) {
                if (index == uint64(forecasts[i - 1] >> 192) && !revision) {
                    revert ForecastOracleAlreadyCommitted(_ids[index], intervalStart);
                }
                revert ForecastOracleUnsortedBatch(i, index);
            }
            if (index >= count) revert ForecastOracleUnknownParticipant(index);
            _checkQuantiles(index, f);
            uint256 bit = 1 << (index & 255);
            uint256 current = bitmap[index >> 8];
            if (revision) {
                if (current & bit == 0) revert ForecastOracleNotCommitted(_ids[index], intervalStart);
            } else {
                if (current & bit != 0) {
                    revert ForecastOracleAlreadyCommitted(_ids[index], intervalStart);
                }
                bitmap[index >> 8] = current | bit;
            }
            nodes[i] = MerkleBatch.leaf(intervalStart, f);
        }
    }

    function _checkQuantiles(uint64 index, uint256 f) private view {
        int64 q10 = int64(uint64(f >> 128));
        int64 q50 = int64(uint64(f >> 64));
        int64 q90 = int64(uint64(f));
        if (q10 > q50 || q50 > q90) {
            revert ForecastOracleQuantilesUnordered(_ids[index], q10, q50, q90);
        }
    }
}
