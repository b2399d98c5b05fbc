// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IRegistry
/// @notice What the ledger, the stake voting and the reputation contracts read from, and ask
/// of, the participant registry.
interface IRegistry {
    /// @notice How many hospitals were ever registered (the draw's index space).
    function hospitalCount() external view returns (uint256);
    /// @notice The hospital at `index` of the append-only list, and whether it is eligible now.
    function hospitalAt(uint256 index) external view returns (address hospital, bool eligible);
    /// @notice Whether `account` holds the hospital role and is neither suspended nor removed.
    function isEligible(address account) external view returns (bool);
    /// @notice How many accounts hold the validator role.
    function validatorCount() external view returns (uint256);
    /// @notice The sequence number the latest validator registration received.
    function validatorEpoch() external view returns (uint64);
    /// @notice Whether `account` may attest a round opened at validator epoch `epoch`.
    function canAttest(address account, uint64 epoch) external view returns (bool);
    /// @notice Suspend `account` (reinstatable by an admin).
    function suspend(address[] calldata accounts) external;
    /// @notice Remove `account` permanently.
    function remove(address[] calldata accounts) external;
}
