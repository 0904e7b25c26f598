// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IForecastOracle} from "./interfaces/IForecastOracle.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";

/// @title ForecastOracle
/// @notice Signed per-participant forecasts (q10/q50/q90 Wh, model version) of future
/// intervals, for coalition formation and baselines. Storage as in MeterOracle: one bit per
/// participant-interval, one slot per batch root, one nonce bit; the values are in the events.
contract ForecastOracle is EIP712, IForecastOracle {
    uint64 public constant INTERVAL_S = 900;

    bytes32 public constant FORECAST_BATCH_TYPEHASH = keccak256(
        "ForecastBatch(uint64 intervalStart,bytes32 modelVersion,uint256[] forecasts,uint256 nonce)"
    );
    bytes32 public constant FORECAST_REVISION_TYPEHASH = keccak256(
        "ForecastRevision(uint64 intervalStart,bytes32 modelVersion,uint256[] forecasts,uint256 nonce)"
    );

    IParticipantRegistry public immutable registry;

    bytes32[] private _ids;
    mapping(bytes32 participantId => uint256) private _indexPlusOne;
    mapping(uint64 intervalStart => mapping(uint256 word => uint256 bits)) private _committed;
    /// @notice Batch root => its interval start (0: unknown root).
    mapping(bytes32 root => uint64) public rootInterval;
    mapping(address signer => mapping(uint256 word => uint256 bits)) private _nonces;

    constructor(address registry_) EIP712("BRIGHT ForecastOracle", "1") {
        if (registry_ == address(0)) revert ForecastOracleZeroAddress();
        registry = IParticipantRegistry(registry_);
    }

    /// @notice Gives each of `participantIds` the next index; the caller is an active oracle.
    function enrolParticipants(bytes32[] calldata participantIds) external {
        if (!registry.isActiveAs(msg.sender, IParticipantRegistry.Role.Oracle)) {
            revert ForecastOracleNotOracle(msg.sender);
        }
        uint256 next = _ids.length;
        for (uint256 i; i < participantIds.length; ++i) {
            bytes32 id = participantIds[i];
            if (id == bytes32(0)) revert ForecastOracleZeroParticipantId();
            if (_indexPlusOne[id] != 0) revert ForecastOracleParticipantAlreadyEnrolled(id);
            _ids.push(id);
            // Cannot overflow: bounded by the array length.
            unchecked {
                _indexPlusOne[id] = ++next;
            }
            emit ForecastParticipantEnrolled(id, uint64(next - 1));
        }
    }

    function participantCount() external view returns (uint256) {
        return _ids.length;
    }

    /// @notice The index of enrolled participant `participantId`.
    function participantIndexOf(bytes32 participantId) public view returns (uint64) {
        uint256 plusOne = _indexPlusOne[participantId];
        if (plusOne == 0) revert ForecastOracleUnknownParticipantId(participantId);
        return uint64(plusOne - 1);
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
        root = _merkleRoot(_checkBatch(intervalStart, forecasts, false));
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
        root = _merkleRoot(_checkBatch(intervalStart, forecasts, true));
        rootInterval[root] = intervalStart;
        emit ForecastsRevised(root, intervalStart, oracle, modelVersion, forecasts);
    }

    /// @inheritdoc IForecastOracle
    function isCommitted(bytes32 participantId, uint64 intervalStart) external view returns (bool) {
        uint64 index = participantIndexOf(participantId);
        return _committed[intervalStart][index >> 8] & (1 << (index & 255)) != 0;
    }

    /// @notice True when `signer` has used `nonce`.
    function nonceUsed(address signer, uint256 nonce) external view returns (bool) {
        return _nonces[signer][nonce >> 8] & (1 << (nonce & 255)) != 0;
    }

    /// @notice The EIP-712 domain separator.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function _authorise(
        bytes32 typehash,
        uint64 intervalStart,
        bytes32 modelVersion,
        uint256[] calldata forecasts,
        uint256 nonce,
        bytes calldata signature
    ) private returns (address recovered) {
        if (intervalStart == 0 || intervalStart % INTERVAL_S != 0) {
            revert ForecastOracleMisalignedInterval(intervalStart);
        }
        if (intervalStart <= block.timestamp) {
            revert ForecastOracleIntervalStarted(intervalStart, uint64(block.timestamp));
        }
        if (forecasts.length == 0) revert ForecastOracleEmptyBatch();
        if (modelVersion == bytes32(0)) revert ForecastOracleZeroModelVersion();
        bytes32 digest = _hashTypedDataV4(
            keccak256(
                abi.encode(
                    typehash,
                    intervalStart,
                    modelVersion,
                    keccak256(abi.encodePacked(forecasts)),
                    nonce
                )
            )
        );
        ECDSA.RecoverError err;
        (recovered, err,) = ECDSA.tryRecoverCalldata(digest, signature);
        if (
            err != ECDSA.RecoverError.NoError
                || !registry.isActiveAs(recovered, IParticipantRegistry.Role.Oracle)
        ) revert ForecastOracleBadSignature(recovered);
        mapping(uint256 => uint256) storage used = _nonces[recovered];
        uint256 bit = 1 << (nonce & 255);
        uint256 current = used[nonce >> 8];
        if (current & bit != 0) revert ForecastOracleNonceUsed(recovered, nonce);
        used[nonce >> 8] = current | bit;
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
            assembly ("memory-safe") {
                mstore(0x00, intervalStart)
                mstore(0x20, f)
                mstore(add(add(nodes, 0x20), shl(5, i)), keccak256(0x00, 0x40))
            }
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

    /// @dev As MeterOracle._merkleRoot: sorted pairs, odd last node carried up.
    function _merkleRoot(bytes32[] memory nodes) private pure returns (bytes32 root) {
        assembly ("memory-safe") {
            let n := mload(nodes)
            let base := add(nodes, 0x20)
            for {} gt(n, 1) {} {
                let half := shr(1, n)
                for { let i := 0 } lt(i, half) { i := add(i, 1) } {
                    let a := mload(add(base, shl(6, i)))
                    let b := mload(add(base, add(shl(6, i), 0x20)))
                    if gt(a, b) {
                        let t := a
                        a := b
                        b := t
                    }
                    mstore(0x00, a)
                    mstore(0x20, b)
                    mstore(add(base, shl(5, i)), keccak256(0x00, 0x40))
                }
                if and(n, 1) {
                    mstore(add(base, shl(5, half)), mload(add(base, shl(5, sub(n, 1)))))
                    half := add(half, 1)
                }
                n := half
            }
            root := mload(base)
        }
    }
}
