// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IFederationLedger
/// @notice The FL plan and round openings that the stake voting and reputation contracts read.
interface IFederationLedger {
    /// @notice The FL plan of a task. ε and δ are fixed point with 18 decimals (1e18 = 1.0).
    struct Plan {
        bytes32 modelDefinitionHash;
        bytes32 hyperparametersHash;
        uint128 epsilon;
        uint128 delta;
        uint32 rounds;
        uint32 cohortSize;
        uint32 committeeSize;
    }

    /// @notice The plan of `taskId` (reverts when not defined).
    function plan(uint256 taskId) external view returns (Plan memory);
    /// @notice Whether `round` was opened.
    function isOpened(uint256 round) external view returns (bool);
    /// @notice The task and draw seed of an opened round (reverts when not opened).
    function roundOpening(uint256 round) external view returns (uint256 taskId, bytes32 seed);
}
