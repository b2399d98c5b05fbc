// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title StakeToken
/// @notice The ERC20 token hospitals stake in `StakeVoting` (FLock's tokens). Only the owner
/// (the federation's coordinator) mints; anyone may burn their own tokens.
contract StakeToken is ERC20, Ownable {
    /// @param initialOwner The account allowed to mint.
    constructor(address initialOwner) ERC20("bflray stake", "BFLS") Ownable(initialOwner) {}

    /// @notice Mint `amount` tokens to `to`.
    /// @dev Reverts with `OwnableUnauthorizedAccount` for a caller other than the owner.
    /// @param to The recipient.
    /// @param amount The amount, in the token's smallest unit.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
