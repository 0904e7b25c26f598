// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";

/// @title ReentrantToken
/// @notice Test-only: an ERC-20 with a transfer hook, as ERC-777 or ERC-1363 tokens have: once
/// armed, the next transfer between holders calls `target` with `data` and bubbles up its
/// revert. The contract tests use it to check that FlexCoordination's token-moving functions
/// cannot be re-entered. Never deployed by the platform.
contract ReentrantToken is ERC20 {
    address public target;
    bytes public data;

    constructor() ERC20("Reentrant", "HOOK") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice The next transfer between holders calls `target_` with `data_` (once).
    function arm(address target_, bytes calldata data_) external {
        (target, data) = (target_, data_);
    }

    function _update(address from, address to, uint256 amount) internal override {
        super._update(from, to, amount);
        address t = target;
        if (t == address(0) || from == address(0) || to == address(0)) return;
        target = address(0);
        Address.functionCall(t, data);
    }
}
