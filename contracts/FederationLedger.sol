// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IFederationLedger} from "./interfaces/IFederationLedger.sol";
import {IRegistry} from "./interfaces/IRegistry.sol";

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
///
/// On top of that first version: the FL plan per task (`definePlan`), and per round an
/// opening (`openRound`: task, draw seed, and a snapshot of the validators registered in the
/// `Registry` at that moment) and validator attestations (`attest`). A validator attests the
/// pair (payload root, model hash) it recomputed; the round is final once
/// `quorum = ceil(2n/3)` of the `n` validators registered when the round opened attested the
/// same pair. Finality is independent of `recordRound`: `recordRound` stays the owner's
/// record (legacy semantics), `finalPayloadRoot`/`finalModelHash` are the validators' verdict,
/// and `finalMatchesRecord` says whether the two agree.
contract FederationLedger is Ownable, IFederationLedger {
    struct Round {
        bytes32 payloadRoot;
        bytes32 modelHash;
    }

    struct Opening {
        bytes32 seed;
        uint256 taskId;
        uint64 validatorEpoch;
        uint32 validatorCount;
        uint32 quorum;
        uint64 openedAt;
        bool finalized;
        bytes32 finalPayloadRoot;
        bytes32 finalModelHash;
    }

    mapping(uint256 round => Round) private _rounds;
    uint256 private _latestRound;
    uint256 private _roundCount;

    IRegistry private _registry;
    mapping(uint256 taskId => Plan) private _plans;
    mapping(uint256 round => Opening) private _openings;
    mapping(uint256 round => mapping(address validator => bytes32 digest)) private _attested;
    mapping(uint256 round => mapping(bytes32 digest => uint256 count)) private _attestations;

    /// @notice A round's payload root and model hash were recorded.
    event RoundRecorded(uint256 indexed round, bytes32 payloadRoot, bytes32 modelHash);

    /// @notice The registry that lists validators was set.
    event RegistrySet(address registry);
    /// @notice A task's FL plan was defined.
    event PlanDefined(uint256 indexed taskId, Plan plan);
    /// @notice A round was opened: its task, draw seed and validator snapshot.
    event RoundOpened(
        uint256 indexed round, uint256 indexed taskId, bytes32 seed, uint256 validatorCount, uint256 quorum
    );
    /// @notice A validator attested a round's payload root and model hash.
    event Attested(
        uint256 indexed round, address indexed validator, bytes32 payloadRoot, bytes32 modelHash, uint256 count
    );
    /// @notice A quorum of validators attested the same pair: the round is final.
    event RoundFinalized(uint256 indexed round, bytes32 payloadRoot, bytes32 modelHash, uint256 attestations);

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
    /// @notice The registry was set before (it is set once).
    error RegistryAlreadySet(address registry);
    /// @notice No registry has been set.
    error RegistryNotSet();
    /// @notice The zero address is not a registry.
    error ZeroRegistry();
    /// @notice The task's plan was defined before (a plan is defined once).
    error PlanAlreadyDefined(uint256 taskId);
    /// @notice The task has no plan.
    error PlanNotDefined(uint256 taskId);
    /// @notice A plan needs a model definition hash, rounds and a committee.
    error InvalidPlan(uint256 taskId);
    /// @notice The round was opened before.
    error RoundAlreadyOpened(uint256 round);
    /// @notice The round has not been opened.
    error RoundNotOpened(uint256 round);
    /// @notice A round's draw seed must not be zero.
    error ZeroSeed(uint256 round);
    /// @notice No validator is registered, so no round could be final.
    error NoValidators(uint256 round);
    /// @notice The caller was not a validator (registered and active) when the round opened.
    error NotValidator(address account, uint256 round);
    /// @notice The validator attested this round before.
    error AlreadyAttested(address validator, uint256 round, bytes32 payloadRoot, bytes32 modelHash);
    /// @notice An attestation needs a non-zero payload root and model hash.
    error ZeroAttestation(uint256 round);
    /// @notice The round is not final (yet).
    error RoundNotFinal(uint256 round);

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

    // ------------------------------------------------------------------ plan, openings, attestations

    /// @notice Set the registry whose validators attest rounds. Set once.
    /// @dev Reverts with `RegistryAlreadySet`, `ZeroRegistry`, or `OwnableUnauthorizedAccount`.
    /// @param newRegistry The `Registry`.
    function setRegistry(IRegistry newRegistry) external onlyOwner {
        if (address(newRegistry) == address(0)) revert ZeroRegistry();
        if (address(_registry) != address(0)) revert RegistryAlreadySet(address(_registry));
        _registry = newRegistry;
        emit RegistrySet(address(newRegistry));
    }

    /// @notice Define a task's FL plan. Defined once per task.
    /// @dev Reverts with `PlanAlreadyDefined`, `InvalidPlan` (zero model definition hash, zero
    /// rounds or zero committee), or `OwnableUnauthorizedAccount`.
    /// @param taskId The task.
    /// @param newPlan Model definition and hyperparameters hashes, privacy budget (ε, δ in 1e18
    /// fixed point), rounds, cohort size (proposers per round) and committee size (voters).
    function definePlan(uint256 taskId, Plan calldata newPlan) external onlyOwner {
        if (_plans[taskId].modelDefinitionHash != bytes32(0)) revert PlanAlreadyDefined(taskId);
        if (newPlan.modelDefinitionHash == bytes32(0) || newPlan.rounds == 0 || newPlan.committeeSize == 0) {
            revert InvalidPlan(taskId);
        }
        _plans[taskId] = newPlan;
        emit PlanDefined(taskId, newPlan);
    }

    /// @notice Open a round of a task: fix its draw seed and snapshot the validators.
    /// @dev Reverts with `RoundAlreadyOpened`, `PlanNotDefined`, `ZeroSeed`, `RegistryNotSet`,
    /// `NoValidators`, or `OwnableUnauthorizedAccount`.
    /// @param round The round number.
    /// @param taskId The task whose plan the round follows.
    /// @param seed The seed the round's proposers and committee are drawn with.
    function openRound(uint256 round, uint256 taskId, bytes32 seed) external onlyOwner {
        if (_openings[round].seed != bytes32(0)) revert RoundAlreadyOpened(round);
        if (_plans[taskId].modelDefinitionHash == bytes32(0)) revert PlanNotDefined(taskId);
        if (seed == bytes32(0)) revert ZeroSeed(round);
        IRegistry reg = _registry;
        if (address(reg) == address(0)) revert RegistryNotSet();
        uint256 n = reg.validatorCount();
        if (n == 0) revert NoValidators(round);
        uint256 q = (2 * n + 2) / 3;
        _openings[round] = Opening({
            seed: seed,
            taskId: taskId,
            validatorEpoch: reg.validatorEpoch(),
            validatorCount: SafeCast.toUint32(n),
            quorum: SafeCast.toUint32(q),
            openedAt: SafeCast.toUint64(block.timestamp),
            finalized: false,
            finalPayloadRoot: bytes32(0),
            finalModelHash: bytes32(0)
        });
        emit RoundOpened(round, taskId, seed, n, q);
    }

    /// @notice Attest a round's payload root and model hash, as the caller recomputed them.
    /// @dev The caller must be a validator registered (and active) when the round opened.
    /// Reverts with `RoundNotOpened`, `NotValidator`, `AlreadyAttested` (carrying the pair
    /// attested before) or `ZeroAttestation`. Finalizes the round when this attestation brings
    /// its pair to the quorum; attestations after finality are counted but change nothing.
    /// @param round The round number.
    /// @param root The payload root.
    /// @param globalModelHash The model hash.
    function attest(uint256 round, bytes32 root, bytes32 globalModelHash) external {
        Opening storage opening = _opened(round);
        if (!_registry.canAttest(msg.sender, opening.validatorEpoch)) revert NotValidator(msg.sender, round);
        if (root == bytes32(0) || globalModelHash == bytes32(0)) revert ZeroAttestation(round);
        bytes32 digest = keccak256(abi.encode(root, globalModelHash));
        if (_attested[round][msg.sender] != bytes32(0)) {
            revert AlreadyAttested(msg.sender, round, root, globalModelHash);
        }
        _attested[round][msg.sender] = digest;
        uint256 count = ++_attestations[round][digest];
        emit Attested(round, msg.sender, root, globalModelHash, count);
        if (!opening.finalized && count >= opening.quorum) {
            opening.finalized = true;
            opening.finalPayloadRoot = root;
            opening.finalModelHash = globalModelHash;
            emit RoundFinalized(round, root, globalModelHash, count);
        }
    }

    /// @notice The registry whose validators attest rounds (zero before `setRegistry`).
    /// @return The registry's address.
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @notice A task's FL plan.
    /// @dev Reverts with `PlanNotDefined`.
    /// @param taskId The task.
    /// @return The plan.
    function plan(uint256 taskId) external view returns (Plan memory) {
        Plan storage entry = _plans[taskId];
        if (entry.modelDefinitionHash == bytes32(0)) revert PlanNotDefined(taskId);
        return entry;
    }

    /// @notice Whether a round was opened.
    /// @param round The round number.
    /// @return True once `openRound` succeeded for `round`.
    function isOpened(uint256 round) external view returns (bool) {
        return _openings[round].seed != bytes32(0);
    }

    /// @notice The task and draw seed of an opened round.
    /// @dev Reverts with `RoundNotOpened`.
    /// @param round The round number.
    /// @return taskId The task.
    /// @return seed The draw seed.
    function roundOpening(uint256 round) external view returns (uint256 taskId, bytes32 seed) {
        Opening storage opening = _opened(round);
        return (opening.taskId, opening.seed);
    }

    /// @notice The validator snapshot of an opened round.
    /// @dev Reverts with `RoundNotOpened`.
    /// @param round The round number.
    /// @return validatorCount The validators registered when the round opened (n).
    /// @return quorum ceil(2n/3).
    /// @return validatorEpoch The registry's validator epoch at opening.
    function roundValidators(uint256 round)
        external
        view
        returns (uint256 validatorCount, uint256 quorum, uint64 validatorEpoch)
    {
        Opening storage opening = _opened(round);
        return (opening.validatorCount, opening.quorum, opening.validatorEpoch);
    }

    /// @notice How many validators attested `round` with this payload root and model hash.
    /// @param round The round number.
    /// @param root The payload root.
    /// @param globalModelHash The model hash.
    /// @return The count.
    function attestationCount(uint256 round, bytes32 root, bytes32 globalModelHash) external view returns (uint256) {
        return _attestations[round][keccak256(abi.encode(root, globalModelHash))];
    }

    /// @notice Whether `validator` attested `round`.
    /// @param round The round number.
    /// @param validator The validator.
    /// @return True iff it attested.
    function hasAttested(uint256 round, address validator) external view returns (bool) {
        return _attested[round][validator] != bytes32(0);
    }

    /// @notice Whether a quorum of validators attested the same pair for `round`.
    /// @param round The round number.
    /// @return True once final.
    function isFinal(uint256 round) external view returns (bool) {
        return _openings[round].finalized;
    }

    /// @notice The payload root a final round's validators agreed on.
    /// @dev Reverts with `RoundNotFinal`.
    /// @param round The round number.
    /// @return The payload root.
    function finalPayloadRoot(uint256 round) external view returns (bytes32) {
        return _final(round).finalPayloadRoot;
    }

    /// @notice The model hash a final round's validators agreed on.
    /// @dev Reverts with `RoundNotFinal`.
    /// @param round The round number.
    /// @return The model hash.
    function finalModelHash(uint256 round) external view returns (bytes32) {
        return _final(round).finalModelHash;
    }

    /// @notice Whether a round is final and its validators' pair equals the owner's record.
    /// @param round The round number.
    /// @return True iff final, recorded, and both roots and model hashes are equal.
    function finalMatchesRecord(uint256 round) external view returns (bool) {
        Opening storage opening = _openings[round];
        Round storage entry = _rounds[round];
        return opening.finalized && entry.payloadRoot == opening.finalPayloadRoot
            && entry.modelHash == opening.finalModelHash;
    }

    function _opened(uint256 round) private view returns (Opening storage opening) {
        opening = _openings[round];
        if (opening.seed == bytes32(0)) revert RoundNotOpened(round);
    }

    function _final(uint256 round) private view returns (Opening storage opening) {
        opening = _openings[round];
        if (!opening.finalized) revert RoundNotFinal(round);
    }

    function _recorded(uint256 round) private view returns (Round storage entry) {
        entry = _rounds[round];
        if (entry.payloadRoot == bytes32(0)) revert RoundNotRecorded(round);
    }
}
