// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IFederationLedger} from "./interfaces/IFederationLedger.sol";
import {IRegistry} from "./interfaces/IRegistry.sol";

/// @title Reputation
/// @notice On-chain reputation and aggregation weight of the hospitals (SMPC paper,
/// Algorithm 2 step 7 and Section 2.5), updated per round for the round's participants.
/// @dev Fixed point with 18 decimals (`ONE = 1e18`). For each participant with performance
/// `p` in [0, ONE]: `rep <- (alpha * rep + (ONE - alpha) * p) / ONE` (a first update starts
/// from `initialReputation`, weight ONE). The performance *degraded* when
/// `p * ONE < (ONE - tolerance) * previous p`; then the punishments apply:
/// `rep <- rep * (ONE - reputationCut) / ONE`, `weight <- weight * (ONE - weightCut) / ONE`
/// and a strike; at `maxStrikes` strikes the hospital is suspended through the `Registry`
/// (this contract needs `MODERATOR_ROLE` there) and its strikes reset. Otherwise the weight
/// recovers: `weight <- (alpha * weight + (ONE - alpha) * ONE) / ONE`. Each round takes at
/// most `cohortSize + committeeSize` updates (from the round's plan on the ledger) and each
/// hospital at most one; `update` takes chunks of any size, so no call loops over all hospitals.
contract Reputation is AccessControl {
    /// @notice Role of the coordinator that records per-round performance.
    bytes32 public constant UPDATER_ROLE = keccak256("UPDATER_ROLE");
    /// @notice Fixed-point one.
    uint256 public constant ONE = 1e18;

    /// @notice The update rule's parameters, all fixed point except `maxStrikes`.
    struct Params {
        uint64 alpha;
        uint64 tolerance;
        uint64 reputationCut;
        uint64 weightCut;
        uint64 initialReputation;
        uint16 maxStrikes;
    }

    /// @notice A hospital's record.
    struct Record {
        uint64 reputation;
        uint64 weight;
        uint64 lastPerformance;
        uint48 lastRoundPlusOne;
        uint16 strikes;
    }

    IFederationLedger private immutable _ledger;
    IRegistry private immutable _registry;
    Params private _params;
    mapping(address hospital => Record) private _records;
    mapping(uint256 round => uint256 count) private _updates;

    /// @notice The parameters were set.
    event ParamsSet(Params params);
    /// @notice A participant's reputation and weight were updated for a round.
    event ReputationUpdated(
        uint256 indexed round, address indexed hospital, uint256 performance, uint256 reputation, uint256 weight
    );
    /// @notice A participant's validation degraded: reputation and weight were cut.
    event Punished(uint256 indexed round, address indexed hospital, uint256 strikes, bool suspended);

    /// @notice A parameter outside [0, ONE], or zero strikes.
    error InvalidParams();
    /// @notice A performance outside [0, ONE].
    error PerformanceOutOfRange(address hospital, uint256 performance);
    /// @notice Arrays of different lengths.
    error LengthMismatch(uint256 hospitals, uint256 performances);
    /// @notice The hospital was updated for this round before.
    error AlreadyUpdated(address hospital, uint256 round);
    /// @notice More updates than the round's cohort and committee.
    error CohortExceeded(uint256 round, uint256 updates, uint256 bound);

    /// @param admin The admin (grants `UPDATER_ROLE`, sets parameters); also an updater.
    /// @param ledger The ledger with the rounds' plans.
    /// @param registry The registry that suspends hospitals.
    /// @param initialParams The update rule's parameters.
    constructor(address admin, IFederationLedger ledger, IRegistry registry, Params memory initialParams) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(UPDATER_ROLE, admin);
        _ledger = ledger;
        _registry = registry;
        _setParams(initialParams);
    }

    /// @notice Set the update rule's parameters.
    /// @dev Reverts with `InvalidParams` or `AccessControlUnauthorizedAccount`.
    /// @param newParams The new parameters.
    function setParams(Params calldata newParams) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setParams(newParams);
    }

    /// @notice Record a chunk of the round's participants' performance and update them.
    /// @dev Reverts with `LengthMismatch`, `PerformanceOutOfRange`, `AlreadyUpdated`,
    /// `CohortExceeded`, the ledger's `RoundNotOpened`, or `AccessControlUnauthorizedAccount`.
    /// @param round The round (opened on the ledger).
    /// @param hospitals The participants in this chunk.
    /// @param performances Their validation performance, fixed point in [0, ONE].
    function update(uint256 round, address[] calldata hospitals, uint256[] calldata performances)
        external
        onlyRole(UPDATER_ROLE)
    {
        if (hospitals.length != performances.length) revert LengthMismatch(hospitals.length, performances.length);
        (uint256 taskId,) = _ledger.roundOpening(round);
        IFederationLedger.Plan memory plan = _ledger.plan(taskId);
        uint256 bound = uint256(plan.cohortSize) + plan.committeeSize;
        uint256 count = _updates[round] + hospitals.length;
        if (count > bound) revert CohortExceeded(round, count, bound);
        _updates[round] = count;
        Params memory p = _params;
        address[] memory toSuspend = new address[](hospitals.length);
        uint256 suspensions = 0;
        for (uint256 i = 0; i < hospitals.length; i++) {
            if (_updateOne(round, hospitals[i], performances[i], p)) toSuspend[suspensions++] = hospitals[i];
        }
        if (suspensions > 0) {
            assembly ("memory-safe") {
                mstore(toSuspend, suspensions)
            }
            _registry.suspend(toSuspend);
        }
    }

    /// @notice Write each hospital's record slot ahead of its first update, so a round's updates
    /// only overwrite slots and the storage a round creates does not grow with N.
    /// @dev Chunkable and idempotent; a reserved record reads as never updated (its
    /// `lastRoundPlusOne` stays 0). Caller needs `DEFAULT_ADMIN_ROLE`.
    /// @param hospitals The hospitals whose records are reserved.
    function reserveRecords(address[] calldata hospitals) external onlyRole(DEFAULT_ADMIN_ROLE) {
        for (uint256 i = 0; i < hospitals.length; i++) {
            Record storage rec = _records[hospitals[i]];
            if (rec.lastRoundPlusOne == 0 && rec.weight == 0) rec.weight = uint64(ONE);
        }
    }

    /// @notice A hospital's reputation (the initial reputation before its first update).
    /// @param hospital The hospital.
    /// @return Fixed point.
    function reputationOf(address hospital) external view returns (uint256) {
        Record memory rec = _records[hospital];
        return rec.lastRoundPlusOne == 0 ? _params.initialReputation : rec.reputation;
    }

    /// @notice A hospital's aggregation weight (ONE before its first update).
    /// @param hospital The hospital.
    /// @return Fixed point.
    function weightOf(address hospital) external view returns (uint256) {
        Record memory rec = _records[hospital];
        return rec.lastRoundPlusOne == 0 ? ONE : rec.weight;
    }

    /// @notice A hospital's full record.
    /// @param hospital The hospital.
    /// @return The record (all zero before its first update).
    function recordOf(address hospital) external view returns (Record memory) {
        return _records[hospital];
    }

    /// @notice How many updates a round has taken.
    /// @param round The round.
    /// @return The count.
    function updateCount(uint256 round) external view returns (uint256) {
        return _updates[round];
    }

    /// @notice The update rule's parameters.
    /// @return The parameters.
    function params() external view returns (Params memory) {
        return _params;
    }

    /// @dev Updates one hospital; true when it must be suspended.
    function _updateOne(uint256 round, address hospital, uint256 performance, Params memory p)
        private
        returns (bool suspend)
    {
        if (performance > ONE) revert PerformanceOutOfRange(hospital, performance);
        Record memory rec = _records[hospital];
        if (rec.lastRoundPlusOne != 0 && rec.lastRoundPlusOne == round + 1) revert AlreadyUpdated(hospital, round);
        bool seen = rec.lastRoundPlusOne != 0;
        uint256 rep = seen ? rec.reputation : p.initialReputation;
        uint256 weight = seen ? rec.weight : ONE;
        rep = (p.alpha * rep + (ONE - p.alpha) * performance) / ONE;
        bool degraded = seen && performance * ONE < (ONE - p.tolerance) * rec.lastPerformance;
        if (degraded) {
            rep = rep * (ONE - p.reputationCut) / ONE;
            weight = weight * (ONE - p.weightCut) / ONE;
            rec.strikes += 1;
            if (rec.strikes >= p.maxStrikes) {
                rec.strikes = 0;
                suspend = _registry.isEligible(hospital);
            }
        } else {
            weight = (p.alpha * weight + (ONE - p.alpha) * ONE) / ONE;
        }
        // Both stay in [0, ONE] and ONE < 2^64: the casts cannot truncate.
        rec.reputation = uint64(rep);
        rec.weight = uint64(weight);
        rec.lastPerformance = uint64(performance);
        rec.lastRoundPlusOne = SafeCast.toUint48(round + 1);
        _records[hospital] = rec;
        emit ReputationUpdated(round, hospital, performance, rep, weight);
        if (degraded) emit Punished(round, hospital, rec.strikes, suspend);
    }

    function _setParams(Params memory p) private {
        if (
            p.alpha > ONE || p.tolerance > ONE || p.reputationCut > ONE || p.weightCut > ONE
                || p.initialReputation > ONE || p.maxStrikes == 0
        ) revert InvalidParams();
        _params = p;
        emit ParamsSet(p);
    }
}
