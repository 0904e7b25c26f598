// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {IFlexToken} from "./interfaces/IFlexToken.sol";

/// @title FlexToken
/// @notice The community's settlement token (ERC-20, 6 decimals like a euro-pegged stable
/// token: 1 token = 1,000,000 base units). Prices on the platform are in base units per kWh.
/// ERC-2612 permits let members approve the market without a separate transaction.
contract FlexToken is ERC20, ERC20Permit, AccessControl, IFlexToken {
    /// @notice May mint tokens (the community treasury; in the demo, the admin).
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    constructor(address admin) ERC20("BRIGHT Flex Token", "FLEX") ERC20Permit("BRIGHT Flex Token") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, admin);
    }

    /// @notice 6 decimals.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Mints `amount` base units to `to`.
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        if (amount == 0) revert FlexTokenZeroAmount(to);
        _mint(to, amount);
    }

    /// @notice Mints `amounts[i]` to `recipients[i]` for each i, in one transaction.
    function mintBatch(address[] calldata recipients, uint256[] calldata amounts)
        external
        onlyRole(MINTER_ROLE)
    {
        uint256 n = recipients.length;
        if (amounts.length != n) revert FlexTokenLengthMismatch(n, amounts.length);
        uint256 total;
        for (uint256 i; i < n; ++i) {
            if (amounts[i] == 0) revert FlexTokenZeroAmount(recipients[i]);
            _mint(recipients[i], amounts[i]);
            total += amounts[i];
        }
        emit BatchMinted(msg.sender, n, total);
    }
}
