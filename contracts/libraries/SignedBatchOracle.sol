// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";
import {IParticipantRegistry} from "../interfaces/IParticipantRegistry.sol";

/// @title SignedBatchOracle
/// @notice What the MeterOracle and the ForecastOracle share: batches of one 15-minute
/// interval, signed (EIP-712) by an active oracle of the participant registry and relayed by
/// anyone, with unordered nonces (one bit per signer and nonce, as Permit2); ids enrolled for
/// compact indexes (0, 1, 2, ... in enrolment order); one bit per index and interval for what
/// is committed; the interval of each batch root.
/// @dev The helpers report what they found and write nothing on failure; each oracle reverts
/// with its own named errors, so their ABIs stay as they were. The Merkle tree of a batch is
/// `MerkleBatch`.
abstract contract SignedBatchOracle is EIP712 {
    using BitMaps for BitMaps.BitMap;

    /// @notice Length of an interval, s (15 minutes, aligned to UTC).
    uint64 public constant INTERVAL_S = 900;

    /// @notice The registry that says who is an active oracle.
    IParticipantRegistry public immutable registry;

    /// @dev Enrolled ids by index.
    bytes32[] internal _ids;
    /// @dev Index + 1 of each enrolled id (0: not enrolled).
    mapping(bytes32 id => uint256) private _indexPlusOne;
    /// @dev interval start => word => one bit per index (committed or not).
    mapping(uint64 intervalStart => mapping(uint256 word => uint256 bits)) internal _committed;
    /// @notice Batch root => its interval start (0: unknown root).
    mapping(bytes32 root => uint64) public rootInterval;
    /// @dev signer => one bit per used nonce.
    mapping(address signer => BitMaps.BitMap) private _nonces;

    /// @param name the EIP-712 domain name (version "1")
    /// @param registry_ the participant registry (the derived contract refuses zero)
    constructor(string memory name, address registry_) EIP712(name, "1") {
        registry = IParticipantRegistry(registry_);
    }

    /// @notice True when `signer` has used `nonce`.
    function nonceUsed(address signer, uint256 nonce) external view returns (bool) {
        return _nonces[signer].get(nonce);
    }

    /// @notice The EIP-712 domain separator.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @dev True when `account` is an active oracle of the registry.
    function _isOracle(address account) internal view returns (bool) {
        return registry.isActiveAs(account, IParticipantRegistry.Role.Oracle);
    }

    /// @dev True when `intervalStart` is a non-zero multiple of 900 s.
    function _isAligned(uint64 intervalStart) internal pure returns (bool) {
        return intervalStart != 0 && intervalStart % INTERVAL_S == 0;
    }

    /// @dev Gives `id` the next index; `added` is false (nothing written) when it has one.
    function _enrol(bytes32 id) internal returns (uint64 index, bool added) {
        if (_indexPlusOne[id] != 0) return (0, false);
        uint256 next = _ids.length;
        _ids.push(id);
        // Cannot overflow: bounded by the array length.
        unchecked {
            _indexPlusOne[id] = next + 1;
        }
        return (uint64(next), true);
    }

    /// @dev The index of `id`; `found` is false when it is not enrolled.
    function _indexOf(bytes32 id) internal view returns (uint64 index, bool found) {
        uint256 plusOne = _indexPlusOne[id];
        // Cannot underflow: checked non-zero first.
        unchecked {
            return plusOne == 0 ? (0, false) : (uint64(plusOne - 1), true);
        }
    }

    /// @dev True when index `index` has a commitment for `intervalStart`.
    function _isCommitted(uint64 intervalStart, uint64 index) internal view returns (bool) {
        return _committed[intervalStart][index >> 8] & (1 << (index & 255)) != 0;
    }

    /// @dev The signer of the typed data `structHash` (zero when `signature` is malformed) and
    /// whether it is an active oracle.
    function _recoverOracle(bytes32 structHash, bytes calldata signature)
        internal
        view
        returns (address signer, bool isOracle)
    {
        ECDSA.RecoverError err;
        (signer, err,) = ECDSA.tryRecoverCalldata(_hashTypedDataV4(structHash), signature);
        isOracle = err == ECDSA.RecoverError.NoError && _isOracle(signer);
    }

    /// @dev Marks `nonce` of `signer` used; `fresh` is false (nothing written) when it was.
    function _useNonce(address signer, uint256 nonce) internal returns (bool fresh) {
        BitMaps.BitMap storage used = _nonces[signer];
        if (used.get(nonce)) return false;
        used.set(nonce);
        return true;
    }
}
