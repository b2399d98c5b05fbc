// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IRegistry} from "./interfaces/IRegistry.sol";

/// @title Registry
/// @notice The federation's participants as OpenZeppelin AccessControl roles: hospitals
/// (`HOSPITAL_ROLE`), validators (`VALIDATOR_ROLE`) and aggregation nodes (`AGGREGATOR_ROLE`).
/// Holders of `MODERATOR_ROLE` (the stake voting and reputation contracts) suspend or remove
/// participants; the admin (`DEFAULT_ADMIN_ROLE`) registers, reinstates and grants roles.
/// @dev Hospitals are kept in an append-only list: a hospital's index never changes, so a
/// committee drawn by index (see `StakeVoting`) can be re-derived off-chain from the seed and
/// the list. Registration takes arrays and may be split into chunks of any size; each call's
/// gas depends on its own array only, never on how many hospitals are registered. Every
/// account has a status (`Active` by default, `Suspended`, `Removed`); an account is eligible
/// as a hospital iff it holds `HOSPITAL_ROLE` and is `Active`. A validator may attest a round
/// iff it holds `VALIDATOR_ROLE`, is `Active`, and was registered at or before the validator
/// epoch the round opened at.
contract Registry is AccessControl, IRegistry {
    /// @notice Role of the hospitals that train, propose and vote.
    bytes32 public constant HOSPITAL_ROLE = keccak256("HOSPITAL_ROLE");
    /// @notice Role of the validators that attest rounds on the ledger.
    bytes32 public constant VALIDATOR_ROLE = keccak256("VALIDATOR_ROLE");
    /// @notice Role of the aggregation nodes.
    bytes32 public constant AGGREGATOR_ROLE = keccak256("AGGREGATOR_ROLE");
    /// @notice Role of the contracts (or accounts) allowed to suspend and remove participants.
    bytes32 public constant MODERATOR_ROLE = keccak256("MODERATOR_ROLE");

    /// @notice An account's standing.
    enum Status {
        Active,
        Suspended,
        Removed
    }

    address[] private _hospitals;
    mapping(address account => uint256 indexPlusOne) private _hospitalIndex;
    mapping(address account => Status) private _status;
    mapping(address validator => uint64 seq) private _validatorSeq;
    uint64 private _validatorEpoch;
    uint256 private _validatorCount;
    uint256 private _eligibleCount;

    /// @notice A hospital was added to the list at `index`.
    event HospitalRegistered(address indexed hospital, uint256 index);
    /// @notice A validator was registered with sequence number `seq`.
    event ValidatorRegistered(address indexed validator, uint64 seq);
    /// @notice An account was suspended by `by`.
    event Suspended(address indexed account, address indexed by);
    /// @notice An account was removed permanently by `by`.
    event Removed(address indexed account, address indexed by);
    /// @notice A suspended account was reinstated by `by`.
    event Reinstated(address indexed account, address indexed by);

    /// @notice The zero address cannot be registered.
    error ZeroAccount();
    /// @notice The account already holds the role being registered.
    error AlreadyRegistered(address account, bytes32 role);
    /// @notice The account is not in the status the operation needs.
    error WrongStatus(address account, Status have, Status need);
    /// @notice A hospital index beyond the list.
    error IndexOutOfRange(uint256 index, uint256 count);

    /// @param admin The account that registers participants and grants roles.
    constructor(address admin) {
        if (admin == address(0)) revert ZeroAccount();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ------------------------------------------------------------------ registration

    /// @notice Register hospitals in bulk (any chunk size; gas depends on the chunk only).
    /// @dev Reverts with `AlreadyRegistered`, `ZeroAccount`, or `AccessControlUnauthorizedAccount`.
    /// @param accounts The hospitals' addresses.
    function registerHospitals(address[] calldata accounts) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _registerAll(HOSPITAL_ROLE, accounts);
    }

    /// @notice Register validators in bulk.
    /// @dev Reverts with `AlreadyRegistered`, `ZeroAccount`, or `AccessControlUnauthorizedAccount`.
    /// @param accounts The validators' addresses.
    function registerValidators(address[] calldata accounts) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _registerAll(VALIDATOR_ROLE, accounts);
    }

    /// @notice Register aggregation nodes in bulk.
    /// @dev Reverts with `AlreadyRegistered`, `ZeroAccount`, or `AccessControlUnauthorizedAccount`.
    /// @param accounts The aggregation nodes' addresses.
    function registerAggregators(address[] calldata accounts) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _registerAll(AGGREGATOR_ROLE, accounts);
    }

    // ------------------------------------------------------------------ standing

    /// @notice Suspend accounts (they stay registered and may be reinstated by the admin).
    /// @dev Caller needs `MODERATOR_ROLE` or `DEFAULT_ADMIN_ROLE`. Reverts with `WrongStatus`
    /// for an account not `Active`.
    /// @param accounts The accounts to suspend.
    function suspend(address[] calldata accounts) external {
        _checkModerator();
        for (uint256 i = 0; i < accounts.length; i++) {
            address account = accounts[i];
            _requireStatus(account, Status.Active);
            _setStatus(account, Status.Suspended);
            emit Suspended(account, msg.sender);
        }
    }

    /// @notice Remove accounts permanently (a hospital that cannot stake, for instance).
    /// @dev Caller needs `MODERATOR_ROLE` or `DEFAULT_ADMIN_ROLE`. Removing a removed account
    /// reverts with `WrongStatus`.
    /// @param accounts The accounts to remove.
    function remove(address[] calldata accounts) external {
        _checkModerator();
        for (uint256 i = 0; i < accounts.length; i++) {
            address account = accounts[i];
            Status status = _status[account];
            if (status == Status.Removed) revert WrongStatus(account, status, Status.Active);
            _setStatus(account, Status.Removed);
            emit Removed(account, msg.sender);
        }
    }

    /// @notice Reinstate suspended accounts.
    /// @dev Reverts with `WrongStatus` for an account not `Suspended` (a removed one stays removed).
    /// @param accounts The accounts to reinstate.
    function reinstate(address[] calldata accounts) external onlyRole(DEFAULT_ADMIN_ROLE) {
        for (uint256 i = 0; i < accounts.length; i++) {
            address account = accounts[i];
            _requireStatus(account, Status.Suspended);
            _setStatus(account, Status.Active);
            emit Reinstated(account, msg.sender);
        }
    }

    // ------------------------------------------------------------------ views

    /// @notice How many hospitals were ever registered (the draw's index space).
    /// @return The length of the append-only hospital list.
    function hospitalCount() external view returns (uint256) {
        return _hospitals.length;
    }

    /// @notice The hospital at `index` and whether it is eligible now.
    /// @dev Reverts with `IndexOutOfRange`.
    /// @param index A position in the append-only list.
    /// @return hospital The hospital's address.
    /// @return eligible Whether it holds `HOSPITAL_ROLE` and is `Active`.
    function hospitalAt(uint256 index) external view returns (address hospital, bool eligible) {
        if (index >= _hospitals.length) revert IndexOutOfRange(index, _hospitals.length);
        hospital = _hospitals[index];
        eligible = _isEligible(hospital);
    }

    /// @notice The list index of a registered hospital.
    /// @param account The hospital.
    /// @return found Whether it was ever registered as a hospital.
    /// @return index Its position in the list (0 when not found).
    function hospitalIndex(address account) external view returns (bool found, uint256 index) {
        uint256 plusOne = _hospitalIndex[account];
        return (plusOne != 0, plusOne == 0 ? 0 : plusOne - 1);
    }

    /// @notice Whether `account` holds `HOSPITAL_ROLE` and is `Active`.
    /// @param account The account.
    /// @return True iff eligible to be drawn.
    function isEligible(address account) external view returns (bool) {
        return _isEligible(account);
    }

    /// @notice How many hospitals are eligible now.
    /// @return The count, kept as a counter (no loop).
    function eligibleCount() external view returns (uint256) {
        return _eligibleCount;
    }

    /// @notice An account's status.
    /// @param account The account.
    /// @return `Active`, `Suspended` or `Removed`.
    function statusOf(address account) external view returns (Status) {
        return _status[account];
    }

    /// @notice How many accounts hold `VALIDATOR_ROLE`.
    /// @return The count.
    function validatorCount() external view returns (uint256) {
        return _validatorCount;
    }

    /// @notice The sequence number of the latest validator registration (0 before any).
    /// @return The epoch.
    function validatorEpoch() external view returns (uint64) {
        return _validatorEpoch;
    }

    /// @notice A validator's registration sequence number (0 for a non-validator).
    /// @param account The account.
    /// @return The sequence number.
    function validatorSeq(address account) external view returns (uint64) {
        return _validatorSeq[account];
    }

    /// @notice Whether `account` may attest a round opened at validator epoch `epoch`.
    /// @param account The account.
    /// @param epoch The round's validator epoch.
    /// @return True iff it holds `VALIDATOR_ROLE`, is `Active`, and registered at or before `epoch`.
    function canAttest(address account, uint64 epoch) external view returns (bool) {
        uint64 seq = _validatorSeq[account];
        return seq != 0 && seq <= epoch && _status[account] == Status.Active && hasRole(VALIDATOR_ROLE, account);
    }

    // ------------------------------------------------------------------ internals

    function _registerAll(bytes32 role, address[] calldata accounts) private {
        for (uint256 i = 0; i < accounts.length; i++) {
            address account = accounts[i];
            if (account == address(0)) revert ZeroAccount();
            if (!_grantRole(role, account)) revert AlreadyRegistered(account, role);
        }
    }

    /// @dev Keeps the hospital list, the eligible count and the validator bookkeeping in step
    /// with the roles, whichever path (registration or `grantRole`) grants them.
    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        granted = super._grantRole(role, account);
        if (!granted) return granted;
        if (role == HOSPITAL_ROLE) {
            if (_hospitalIndex[account] == 0) {
                _hospitals.push(account);
                _hospitalIndex[account] = _hospitals.length;
                emit HospitalRegistered(account, _hospitals.length - 1);
            }
            if (_status[account] == Status.Active) _eligibleCount += 1;
        } else if (role == VALIDATOR_ROLE) {
            uint64 seq = ++_validatorEpoch;
            _validatorSeq[account] = seq;
            _validatorCount += 1;
            emit ValidatorRegistered(account, seq);
        }
    }

    function _revokeRole(bytes32 role, address account) internal override returns (bool revoked) {
        revoked = super._revokeRole(role, account);
        if (!revoked) return revoked;
        if (role == HOSPITAL_ROLE) {
            if (_status[account] == Status.Active) _eligibleCount -= 1;
        } else if (role == VALIDATOR_ROLE) {
            _validatorSeq[account] = 0;
            _validatorCount -= 1;
        }
    }

    function _setStatus(address account, Status status) private {
        bool wasEligible = _isEligible(account);
        _status[account] = status;
        bool isNow = _isEligible(account);
        if (wasEligible && !isNow) _eligibleCount -= 1;
        else if (!wasEligible && isNow) _eligibleCount += 1;
    }

    function _isEligible(address account) private view returns (bool) {
        return _status[account] == Status.Active && hasRole(HOSPITAL_ROLE, account);
    }

    function _requireStatus(address account, Status need) private view {
        Status have = _status[account];
        if (have != need) revert WrongStatus(account, have, need);
    }

    function _checkModerator() private view {
        if (!hasRole(MODERATOR_ROLE, msg.sender) && !hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) {
            revert AccessControlUnauthorizedAccount(msg.sender, MODERATOR_ROLE);
        }
    }
}
