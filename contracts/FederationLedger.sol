// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title FederationLedger
/// @notice The ledger of federated rounds: for each round, the Merkle root over the round's
/// payload hashes and the hash of the global model the round produced.
/// @dev Only the owner (the federation's coordinator) records rounds. A round is recorded at
/// most once, in any order: round numbers need not be consecutive, so a run that skips or
/// replays a round number is refused only for a number already recorded. `latestRound` is the
/// highest round number recorded so far.
///
/// The payload tree is the one OpenZeppelin's `MerkleProof.verify` checks: keccak256 over
/// sorted pairs, with an odd node promoted unchanged to the next level. A leaf is
/// `keccak256(abi.encode(hospitalId, payloadHash))`, 64 bytes hashed once, like an inner
/// node; a proof is only meaningful for a root this contract recorded, whose tree the
/// coordinator built from leaves.
contract FederationLedger is Ownable {
    struct Round {
        bytes32 payloadRoot;
        bytes32 modelHash;
    }

    mapping(uint256 round => Round) private _rounds;
    uint256 private _latestRound;
    uint256 private _roundCount;

    /// @notice A round's payload root and model hash were recorded.
    event RoundRecorded(uint256 indexed round, bytes32 payloadRoot, bytes32 modelHash);

    /// @notice The round was recorded before; a round is recorded once.
    error RoundAlreadyRecorded(uint256 round);
    /// @notice The round has not been recorded.
    error RoundNotRecorded(uint256 round);
    /// @notice A round's payload root must not be zero (zero marks an unrecorded round).
    error ZeroRoot(uint256 round);
    /// @notice A round's model hash must not be zero.
    error ZeroModelHash(uint256 round);
    /// @notice No round has been recorded yet.
    error NoRoundRecorded();

    /// @param initialOwner The coordinator allowed to record rounds.
    constructor(address initialOwner) Ownable(initialOwner) {}

    /// @notice Record a round's Merkle root over its payloads and its new global model hash.
    /// @dev Reverts with `RoundAlreadyRecorded`, `ZeroRoot`, `ZeroModelHash`, or
    /// `OwnableUnauthorizedAccount` when the caller is not the owner.
    /// @param round The round number; any number not recorded before.
    /// @param root The Merkle root over the round's payload leaves.
    /// @param globalModelHash The hash of the global model after the round.
    function recordRound(uint256 round, bytes32 root, bytes32 globalModelHash) external onlyOwner {
        if (root == bytes32(0)) revert ZeroRoot(round);
        if (globalModelHash == bytes32(0)) revert ZeroModelHash(round);
        if (_rounds[round].payloadRoot != bytes32(0)) revert RoundAlreadyRecorded(round);

        _rounds[round] = Round({payloadRoot: root, modelHash: globalModelHash});
        if (_roundCount == 0 || round > _latestRound) _latestRound = round;
        _roundCount += 1;
        emit RoundRecorded(round, root, globalModelHash);
    }

    /// @notice The Merkle root over a recorded round's payloads.
    /// @dev Reverts with `RoundNotRecorded` for a round not recorded.
    /// @param round The round number.
    /// @return The payload root.
    function payloadRoot(uint256 round) external view returns (bytes32) {
        return _recorded(round).payloadRoot;
    }

    /// @notice The global model hash a recorded round produced.
    /// @dev Reverts with `RoundNotRecorded` for a round not recorded.
    /// @param round The round number.
    /// @return The model hash.
    function modelHash(uint256 round) external view returns (bytes32) {
        return _recorded(round).modelHash;
    }

    /// @notice Whether a round has been recorded.
    /// @param round The round number.
    /// @return True once `recordRound` succeeded for `round`.
    function isRecorded(uint256 round) external view returns (bool) {
        return _rounds[round].payloadRoot != bytes32(0);
    }

    /// @notice The highest round number recorded so far.
    /// @dev Reverts with `NoRoundRecorded` before the first round is recorded.
    /// @return The highest recorded round number.
    function latestRound() external view returns (uint256) {
        if (_roundCount == 0) revert NoRoundRecorded();
        return _latestRound;
    }

    /// @notice How many rounds have been recorded.
    /// @return The number of recorded rounds.
    function roundCount() external view returns (uint256) {
        return _roundCount;
    }

    /// @notice The Merkle leaf of a hospital's payload: `keccak256(abi.encode(hospitalId, payloadHash))`.
    /// @param hospitalId The hospital's id.
    /// @param payloadHash The hash of the hospital's payload.
    /// @return The leaf.
    function payloadLeaf(uint256 hospitalId, bytes32 payloadHash) public pure returns (bytes32) {
        return keccak256(abi.encode(hospitalId, payloadHash));
    }

    /// @notice Whether a hospital's payload hash is included in a recorded round's payload tree.
    /// @dev Reverts with `RoundNotRecorded` for a round not recorded.
    /// @param round The round number.
    /// @param hospitalId The hospital's id.
    /// @param payloadHash The hash of the hospital's payload.
    /// @param proof The sibling hashes from the leaf up to the root (sorted-pair tree).
    /// @return True iff the proof leads from the payload's leaf to the round's payload root.
    function verifyPayload(uint256 round, uint256 hospitalId, bytes32 payloadHash, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        bytes32 root = _recorded(round).payloadRoot;
        return MerkleProof.verifyCalldata(proof, root, payloadLeaf(hospitalId, payloadHash));
    }

    function _recorded(uint256 round) private view returns (Round storage entry) {
        entry = _rounds[round];
        if (entry.payloadRoot == bytes32(0)) revert RoundNotRecorded(round);
    }
}
