// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title FeeOnTransferToken
/// @notice Test-only: an ERC-20 that burns `feeBp` basis points of every transfer between
/// holders (the recipient gets the rest), as some tokens do. The contract tests use it to
/// check that FlexCoordination refuses an escrow that does not arrive in full. Never deployed
/// by the platform.
contract FeeOnTransferToken is ERC20 {
    uint256 public feeBp;

    constructor(uint256 feeBp_) ERC20("Fee on transfer", "FEE") {
        feeBp = feeBp_;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setFeeBp(uint256 feeBp_) external {
        feeBp = feeBp_;
    }

    function _update(address from, address to, uint256 amount) internal override {
        if (from == address(0) || to == address(0) || feeBp == 0) return super._update(from, to, amount);
        uint256 fee = amount * feeBp / 10_000;
        super._update(from, address(0), fee);
        super._update(from, to, amount - fee);
    }
}
