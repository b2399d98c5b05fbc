// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {FederationLedger} from "../FederationLedger.sol";
import {Registry} from "../Registry.sol";
import {Reputation} from "../Reputation.sol";
import {StakeVoting} from "../StakeVoting.sol";
import {IFederationLedger} from "../interfaces/IFederationLedger.sol";
import {IRegistry} from "../interfaces/IRegistry.sol";
import {Fixture} from "./utils/Fixture.sol";

/// @notice Every external state-changing function of every contract, and what stops an account
/// that should not call it. Restricted functions are fuzzed over the caller (any address but the
/// role's holders) and, where a participant holds some *other* role, called with that wrong role;
/// each restricted test ends with the authorised call succeeding, so the refusal is the caller's
/// and not the state's. Permissionless functions are tested for the property that makes being
/// open safe. "(also X)" names an older test that covers the same ground with a fixed stranger.
///
/// Registry (OpenZeppelin AccessControl; role admin of every role is DEFAULT_ADMIN_ROLE)
/// - registerHospitals(address[])        admin      testFuzz_RevertIf_RegisterHospitalsCallerIsNotAdmin,
///                                                  test_RevertIf_ModeratorRegistersOrReinstates
///                                                  (also Registry.t.sol test_RevertIf_RegisterHospitalsCallerIsNotAdmin)
/// - registerValidators(address[])       admin      testFuzz_RevertIf_RegisterValidatorsCallerIsNotAdmin, ditto
/// - registerAggregators(address[])      admin      testFuzz_RevertIf_RegisterAggregatorsCallerIsNotAdmin, ditto
/// - suspend(address[])                  moderator or admin
///                                                  testFuzz_RevertIf_SuspendCallerIsNotModerator,
///                                                  test_RevertIf_ParticipantsSuspendOrRemove
/// - remove(address[])                   moderator or admin
///                                                  testFuzz_RevertIf_RemoveCallerIsNotModerator, ditto
/// - reinstate(address[])                admin only (a moderator may suspend but not reinstate)
///                                                  testFuzz_RevertIf_ReinstateCallerIsNotAdmin,
///                                                  test_RevertIf_ModeratorRegistersOrReinstates
/// - grantRole(bytes32,address)          role admin testFuzz_RevertIf_RegistryGrantRoleCallerIsNotAdmin,
///                                                  test_RevertIf_ModeratorGrantsOrRevokesRoles
/// - revokeRole(bytes32,address)         role admin testFuzz_RevertIf_RegistryRevokeRoleCallerIsNotAdmin, ditto
/// - renounceRole(bytes32,address)       self only  testFuzz_RevertIf_RenouncingAnotherAccountsRole
///
/// FederationLedger (OpenZeppelin Ownable; the owner is the coordinator)
/// - recordRound(uint256,bytes32,bytes32) owner     testFuzz_RevertIf_RecordRoundCallerIsNotOwner
///                                                  (also FederationLedger.t.sol test_RevertIf_CallerIsNotOwner)
/// - setRegistry(address)                owner      testFuzz_RevertIf_SetRegistryCallerIsNotOwner
/// - definePlan(uint256,Plan)            owner      testFuzz_RevertIf_DefinePlanCallerIsNotOwner
/// - openRound(uint256,uint256,bytes32)  owner      testFuzz_RevertIf_LedgerOpenRoundCallerIsNotOwner
/// - attest(uint256,bytes32,bytes32)     a validator registered, active and holding the role when
///                                       the round opened (checked against the Registry, not a role here)
///                                                  testFuzz_RevertIf_AttestCallerIsNotValidator,
///                                                  test_RevertIf_RemovedOrRevokedValidatorAttests
///                                                  (also FederationLedgerRounds.t.sol: non-validator,
///                                                  suspended, registered after opening)
/// - transferOwnership(address)          owner      testFuzz_RevertIf_TransferOwnershipCallerIsNotOwner
/// - renounceOwnership()                 owner      testFuzz_RevertIf_RenounceOwnershipCallerIsNotOwner
///
/// Reputation (OpenZeppelin AccessControl)
/// - setParams(Params)                   admin      testFuzz_RevertIf_SetParamsCallerIsNotAdmin,
///                                                  test_RevertIf_UpdaterSetsParamsOrReservesRecords
/// - update(uint256,address[],uint256[]) updater    testFuzz_RevertIf_UpdateCallerIsNotUpdater,
///                                                  test_RevertIf_ParticipantsUpdateReputation
/// - reserveRecords(address[])           admin      testFuzz_RevertIf_ReserveRecordsCallerIsNotAdmin,
///                                                  test_RevertIf_UpdaterSetsParamsOrReservesRecords
/// - grantRole / revokeRole              role admin testFuzz_RevertIf_ReputationGrantOrRevokeRoleCallerIsNotAdmin
/// - renounceRole                        self only  testFuzz_RevertIf_RenouncingAnotherAccountsRole
///
/// StakeToken (OpenZeppelin ERC20 + Ownable; no hooks, no burn function)
/// - mint(address,uint256)               owner      testFuzz_RevertIf_MintCallerIsNotOwner,
///                                                  test_RevertIf_VotingContractMints
///                                                  (also StakeVoting.t.sol test_RevertIf_MintCallerIsNotOwner)
/// - transfer(address,uint256)           open: moves only the caller's tokens
///                                                  testFuzz_RevertIf_TransferBeyondOwnBalance
/// - approve(address,uint256)            open: grants only over the caller's tokens
///                                                  testFuzz_ApproveGrantsOnlyOverTheCallersTokens
/// - transferFrom(address,address,uint256) needs the owner's allowance to the caller
///                                                  testFuzz_RevertIf_TransferFromWithoutAllowance
/// - transferOwnership / renounceOwnership owner    testFuzz_RevertIf_TransferOwnershipCallerIsNotOwner,
///                                                  testFuzz_RevertIf_RenounceOwnershipCallerIsNotOwner
///
/// StakeVoting (OpenZeppelin Ownable, ReentrancyGuard, EIP712)
/// - deposit(uint256)                    open: pulls the caller's own approved tokens, credits the caller
///                                                  testFuzz_RevertIf_DepositSpendsAnotherAccountsAllowance
/// - depositFor(address[],uint256[])     open: pulls the caller's own tokens (gifting a balance is harmless)
///                                                  testFuzz_RevertIf_DepositForSpendsAnotherAccountsAllowance
/// - fundPool(uint256)                   open: a donation from the caller's own tokens
///                                                  testFuzz_RevertIf_FundPoolSpendsAnotherAccountsAllowance
/// - withdraw(uint256)                   open: pays only the caller's own balance (pull)
///                                                  testFuzz_RevertIf_WithdrawBeyondOwnBalance
///                                                  (also StakeVoting.t.sol test_RevertIf_WithdrawBeyondBalance)
/// - reserveSlots(...)                   owner      testFuzz_RevertIf_ReserveSlotsCallerIsNotOwner
///                                                  (also StakeVoting.t.sol test_RevertIf_ReserveSlotsCallerIsNotOwner)
/// - rewardContributions(...)            owner      testFuzz_RevertIf_RewardContributionsCallerIsNotOwner (also ditto)
/// - setStakes(Stakes)                   owner      testFuzz_RevertIf_SetStakesCallerIsNotOwner (also ditto)
/// - openRound(uint256)                  owner      testFuzz_RevertIf_VotingOpenRoundCallerIsNotOwner (also ditto)
/// - draw(uint256,uint256)               owner      testFuzz_RevertIf_DrawCallerIsNotOwner (also ditto)
/// - vote(uint256,bool)                  a staked member of the round's committee
///                                                  testFuzz_RevertIf_VoteCallerIsNotInCommittee,
///                                                  test_RevertIf_LastRoundsVoterVotes,
///                                                  test_RevertIf_DrawnHospitalThatCouldNotStakeVotes
///                                                  (also StakeVoting.t.sol test_RevertIf_VoterNotInCommittee)
/// - voteBatch(uint256,SignedBallot[])   open to any relayer: each ballot must carry its voter's
///                                       EIP-712 signature for this round, contract and chain
///                                                  test_RevertIf_BallotSignedByNonMember,
///                                                  testFuzz_RevertIf_BallotSignedWithAnotherKey,
///                                                  test_RevertIf_BallotReplayedInTheSameRound,
///                                                  test_RevertIf_BallotReplayedInALaterRound,
///                                                  test_RevertIf_BallotSignedForAnotherDeployment,
///                                                  test_RevertIf_BallotSignatureMalleatedOrTruncated
///                                                  (also StakeVoting.t.sol test_RevertIf_RelayerForgesBallot)
/// - settle(uint256,uint256)             open: the outcome is fixed by the votes, credits go to the
///                                       round's participants only, and it cannot run early
///                                                  testFuzz_SettleByAnyoneCreditsOnlyTheParticipants
///                                                  (also StakeVoting.t.sol test_RevertIf_SettleWhileVotingOpen)
/// - transferOwnership / renounceOwnership owner    testFuzz_RevertIf_TransferOwnershipCallerIsNotOwner,
///                                                  testFuzz_RevertIf_RenounceOwnershipCallerIsNotOwner
///
/// Views (and `payloadLeaf`, pure) change nothing and are left out. Every contract is deployed
/// with its owner/admin fixed in the constructor; constructors are not callable afterwards.
contract AuthorizationTest is Fixture {
    bytes32 internal constant SEED = keccak256("authorization");
    bytes32 internal constant ROOT = keccak256("root");
    bytes32 internal constant MODEL = keccak256("model");
    uint256 internal constant N = 20;
    bytes32 internal constant ADMIN_ROLE = bytes32(0);
    /// @dev The order of secp256k1's group.
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    function setUp() public {
        _deploy(3, 7);
        _register(0, N, 64 ether);
        _fundPool(100 ether);
    }

    // ------------------------------------------------------------------ helpers

    function _notOwner(address caller) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, caller);
    }

    function _missingRole(address caller, bytes32 role) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, caller, role);
    }

    function _one(address a) internal pure returns (address[] memory arr) {
        arr = new address[](1);
        arr[0] = a;
    }

    function _oneAmount(uint256 a) internal pure returns (uint256[] memory arr) {
        arr = new uint256[](1);
        arr[0] = a;
    }

    /// @dev Any caller but the admin (owner of every Ownable, admin of every AccessControl here).
    function _assumeNotAdmin(address caller) internal view {
        vm.assume(caller != admin && caller != address(vm));
    }

    function _assumeNotModerator(address caller) internal view {
        _assumeNotAdmin(caller);
        vm.assume(caller != address(voting) && caller != address(reputation));
    }

    function _assumeNotValidator(address caller) internal view {
        vm.assume(caller != address(vm));
        for (uint256 i = 0; i < validators.length; i++) {
            vm.assume(caller != validators[i]);
        }
    }

    function _stakes() internal pure returns (StakeVoting.Stakes memory) {
        return StakeVoting.Stakes({proposerStake: GP, voterStake: GV, proposerReward: REWARD, votingPeriod: PERIOD});
    }

    function _recover(bytes32 digest, bytes memory sig) internal pure returns (address) {
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := mload(add(sig, 32))
            s := mload(add(sig, 64))
            v := byte(0, mload(add(sig, 96)))
        }
        return ecrecover(digest, v, r, s);
    }

    /// @dev The private key of a registered hospital (hospital `i` has key `KEY_BASE + i`).
    function _keyOf(address h) internal view returns (uint256) {
        (bool found, uint256 index) = registry.hospitalIndex(h);
        require(found, "not a hospital");
        return KEY_BASE + index;
    }

    function _ballot(uint256 round, address voter, bool accept)
        internal
        view
        returns (StakeVoting.SignedBallot[] memory b)
    {
        b = new StakeVoting.SignedBallot[](1);
        b[0] = StakeVoting.SignedBallot({
            voter: voter, accept: accept, signature: _sign(_keyOf(voter), voting.ballotDigest(round, voter, accept))
        });
    }

    function _isVoter(uint256 round, address account) internal view returns (bool) {
        (StakeVoting.Role role,) = voting.participation(round, account);
        return role == StakeVoting.Role.Voter;
    }

    // ================================================================== Registry

    function testFuzz_RevertIf_RegisterHospitalsCallerIsNotAdmin(address caller) public {
        _assumeNotAdmin(caller);
        address[] memory one = _one(address(0x5001));
        vm.prank(caller);
        vm.expectRevert(_missingRole(caller, ADMIN_ROLE));
        registry.registerHospitals(one);
        vm.prank(admin);
        registry.registerHospitals(one);
        assertEq(registry.hospitalCount(), N + 1);
    }

    function testFuzz_RevertIf_RegisterValidatorsCallerIsNotAdmin(address caller) public {
        _assumeNotAdmin(caller);
        address[] memory one = _one(address(0x5002));
        vm.prank(caller);
        vm.expectRevert(_missingRole(caller, ADMIN_ROLE));
        registry.registerValidators(one);
        vm.prank(admin);
        registry.registerValidators(one);
        assertEq(registry.validatorCount(), validators.length + 1);
    }

    function testFuzz_RevertIf_RegisterAggregatorsCallerIsNotAdmin(address caller) public {
        _assumeNotAdmin(caller);
        address[] memory one = _one(address(0x5003));
        bytes32 role = registry.AGGREGATOR_ROLE();
        vm.prank(caller);
        vm.expectRevert(_missingRole(caller, ADMIN_ROLE));
        registry.registerAggregators(one);
        vm.prank(admin);
        registry.registerAggregators(one);
        assertTrue(registry.hasRole(role, one[0]));
    }

    function testFuzz_RevertIf_SuspendCallerIsNotModerator(address caller) public {
        _assumeNotModerator(caller);
        address[] memory one = _one(hospital(0));
        bytes32 role = registry.MODERATOR_ROLE();
        vm.prank(caller);
        vm.expectRevert(_missingRole(caller, role));
        registry.suspend(one);
        assertTrue(registry.isEligible(hospital(0)));
        vm.prank(address(reputation)); // a moderator
        registry.suspend(one);
        assertFalse(registry.isEligible(hospital(0)));
    }

    function testFuzz_RevertIf_RemoveCallerIsNotModerator(address caller) public {
        _assumeNotModerator(caller);
        address[] memory one = _one(hospital(0));
        bytes32 role = registry.MODERATOR_ROLE();
        vm.prank(caller);
        vm.expectRevert(_missingRole(caller, role));
        registry.remove(one);
        vm.prank(address(voting)); // a moderator
        registry.remove(one);
        assertEq(uint256(registry.statusOf(hospital(0))), uint256(Registry.Status.Removed));
    }

    /// @dev Hospitals, validators and aggregators hold roles, but not the one that moderates.
    function test_RevertIf_ParticipantsSuspendOrRemove() public {
        address aggregator = address(0x5004);
        vm.prank(admin);
        registry.registerAggregators(_one(aggregator));
        address[3] memory wrong = [hospital(1), validators[0], aggregator];
        bytes32 role = registry.MODERATOR_ROLE();
        address[] memory target = _one(hospital(0));
        for (uint256 i = 0; i < wrong.length; i++) {
            vm.prank(wrong[i]);
            vm.expectRevert(_missingRole(wrong[i], role));
            registry.suspend(target);
            vm.prank(wrong[i]);
            vm.expectRevert(_missingRole(wrong[i], role));
            registry.remove(target);
        }
        assertTrue(registry.isEligible(hospital(0)));
    }

    function testFuzz_RevertIf_ReinstateCallerIsNotAdmin(address caller) public {
        _assumeNotAdmin(caller);
        address[] memory one = _one(hospital(0));
        vm.prank(admin);
        registry.suspend(one);
        vm.prank(caller);
        vm.expectRevert(_missingRole(caller, ADMIN_ROLE));
        registry.reinstate(one);
        assertFalse(registry.isEligible(hospital(0)));
        vm.prank(admin);
        registry.reinstate(one);
        assertTrue(registry.isEligible(hospital(0)));
    }

    /// @dev The stake voting and reputation contracts moderate; they may not register or reinstate.
    function test_RevertIf_ModeratorRegistersOrReinstates() public {
        address[] memory fresh = _one(address(0x5005));
        address[] memory suspended = _one(hospital(0));
        vm.prank(admin);
        registry.suspend(suspended);
        address[2] memory moderators = [address(voting), address(reputation)];
        for (uint256 i = 0; i < moderators.length; i++) {
            address m = moderators[i];
            vm.startPrank(m);
            vm.expectRevert(_missingRole(m, ADMIN_ROLE));
            registry.registerHospitals(fresh);
            vm.expectRevert(_missingRole(m, ADMIN_ROLE));
            registry.registerValidators(fresh);
            vm.expectRevert(_missingRole(m, ADMIN_ROLE));
            registry.registerAggregators(fresh);
            vm.expectRevert(_missingRole(m, ADMIN_ROLE));
            registry.reinstate(suspended);
            vm.stopPrank();
        }
        assertFalse(registry.isEligible(hospital(0)));
    }

    function testFuzz_RevertIf_RegistryGrantRoleCallerIsNotAdmin(address caller, uint8 which) public {
        _assumeNotAdmin(caller);
        bytes32[4] memory roles =
            [registry.HOSPITAL_ROLE(), registry.VALIDATOR_ROLE(), registry.MODERATOR_ROLE(), ADMIN_ROLE];
        bytes32 role = roles[which % 4];
        vm.prank(caller);
        vm.expectRevert(_missingRole(caller, ADMIN_ROLE));
        registry.grantRole(role, caller);
        vm.prank(admin);
        registry.grantRole(role, address(0x5006));
        assertTrue(registry.hasRole(role, address(0x5006)));
    }

    function testFuzz_RevertIf_RegistryRevokeRoleCallerIsNotAdmin(address caller) public {
        _assumeNotAdmin(caller);
        bytes32 role = registry.VALIDATOR_ROLE();
        vm.prank(caller);
        vm.expectRevert(_missingRole(caller, ADMIN_ROLE));
        registry.revokeRole(role, validators[0]);
        assertEq(registry.validatorCount(), 4);
        vm.prank(admin);
        registry.revokeRole(role, validators[0]);
        assertEq(registry.validatorCount(), 3);
    }

    function test_RevertIf_ModeratorGrantsOrRevokesRoles() public {
        bytes32 moderatorRole = registry.MODERATOR_ROLE();
        bytes32 hospitalRole = registry.HOSPITAL_ROLE();
        vm.startPrank(address(voting));
        vm.expectRevert(_missingRole(address(voting), ADMIN_ROLE));
        registry.grantRole(moderatorRole, stranger);
        vm.expectRevert(_missingRole(address(voting), ADMIN_ROLE));
        registry.revokeRole(hospitalRole, hospital(0));
        vm.stopPrank();
        assertTrue(registry.isEligible(hospital(0)));
    }

    /// @dev `renounceRole` is open but acts on the caller only: the confirmation must be itself.
    function testFuzz_RevertIf_RenouncingAnotherAccountsRole(address caller) public {
        vm.assume(caller != validators[0] && caller != admin && caller != address(vm));
        bytes32 validatorRole = registry.VALIDATOR_ROLE();
        bytes32 updaterRole = reputation.UPDATER_ROLE();
        vm.prank(caller);
        vm.expectRevert(IAccessControl.AccessControlBadConfirmation.selector);
        registry.renounceRole(validatorRole, validators[0]);
        vm.prank(caller);
        vm.expectRevert(IAccessControl.AccessControlBadConfirmation.selector);
        reputation.renounceRole(updaterRole, admin);
        assertTrue(registry.hasRole(validatorRole, validators[0]));
        assertTrue(reputation.hasRole(updaterRole, admin));
        vm.prank(validators[0]);
        registry.renounceRole(validatorRole, validators[0]);
        assertFalse(registry.hasRole(validatorRole, validators[0]));
    }

    // ================================================================== FederationLedger

    function testFuzz_RevertIf_RecordRoundCallerIsNotOwner(address caller, uint256 round) public {
        _assumeNotAdmin(caller);
        vm.prank(caller);
        vm.expectRevert(_notOwner(caller));
        ledger.recordRound(round, ROOT, MODEL);
        assertFalse(ledger.isRecorded(round));
        vm.prank(admin);
        ledger.recordRound(round, ROOT, MODEL);
        assertTrue(ledger.isRecorded(round));
    }

    function testFuzz_RevertIf_SetRegistryCallerIsNotOwner(address caller) public {
        _assumeNotAdmin(caller);
        FederationLedger fresh = new FederationLedger(admin);
        vm.prank(caller);
        vm.expectRevert(_notOwner(caller));
        fresh.setRegistry(IRegistry(address(registry)));
        vm.prank(admin);
        fresh.setRegistry(IRegistry(address(registry)));
        assertEq(fresh.registry(), address(registry));
    }

    function testFuzz_RevertIf_DefinePlanCallerIsNotOwner(address caller, uint256 taskId) public {
        _assumeNotAdmin(caller);
        vm.assume(taskId != TASK);
        IFederationLedger.Plan memory p = _plan(1, 1);
        vm.prank(caller);
        vm.expectRevert(_notOwner(caller));
        ledger.definePlan(taskId, p);
        vm.prank(admin);
        ledger.definePlan(taskId, p);
        assertEq(ledger.plan(taskId).committeeSize, 1);
    }

    function testFuzz_RevertIf_LedgerOpenRoundCallerIsNotOwner(address caller, uint256 round) public {
        _assumeNotAdmin(caller);
        vm.prank(caller);
        vm.expectRevert(_notOwner(caller));
        ledger.openRound(round, TASK, SEED);
        assertFalse(ledger.isOpened(round));
        vm.prank(admin);
        ledger.openRound(round, TASK, SEED);
        assertTrue(ledger.isOpened(round));
    }

    /// @dev Covers the owner too: the coordinator is not a validator and cannot attest.
    function testFuzz_RevertIf_AttestCallerIsNotValidator(address caller) public {
        _assumeNotValidator(caller);
        vm.prank(admin);
        ledger.openRound(1, TASK, SEED);
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(FederationLedger.NotValidator.selector, caller, 1));
        ledger.attest(1, ROOT, MODEL);
        assertEq(ledger.attestationCount(1, ROOT, MODEL), 0);
        vm.prank(validators[0]);
        ledger.attest(1, ROOT, MODEL);
        assertEq(ledger.attestationCount(1, ROOT, MODEL), 1);
    }

    function test_RevertIf_RemovedOrRevokedValidatorAttests() public {
        vm.startPrank(admin);
        ledger.openRound(1, TASK, SEED);
        registry.remove(_one(validators[0]));
        registry.revokeRole(registry.VALIDATOR_ROLE(), validators[1]);
        vm.stopPrank();
        for (uint256 i = 0; i < 2; i++) {
            vm.prank(validators[i]);
            vm.expectRevert(abi.encodeWithSelector(FederationLedger.NotValidator.selector, validators[i], 1));
            ledger.attest(1, ROOT, MODEL);
        }
        // A hospital and an aggregation node hold roles, not the validator's.
        address aggregator = address(0x5007);
        vm.prank(admin);
        registry.registerAggregators(_one(aggregator));
        address[2] memory wrong = [hospital(0), aggregator];
        for (uint256 i = 0; i < wrong.length; i++) {
            vm.prank(wrong[i]);
            vm.expectRevert(abi.encodeWithSelector(FederationLedger.NotValidator.selector, wrong[i], 1));
            ledger.attest(1, ROOT, MODEL);
        }
        assertEq(ledger.attestationCount(1, ROOT, MODEL), 0);
    }

    // ================================================================== Ownable, every contract

    function testFuzz_RevertIf_TransferOwnershipCallerIsNotOwner(address caller, address to) public {
        _assumeNotAdmin(caller);
        vm.assume(to != address(0));
        address[3] memory owned = [address(ledger), address(token), address(voting)];
        for (uint256 i = 0; i < owned.length; i++) {
            vm.prank(caller);
            vm.expectRevert(_notOwner(caller));
            Ownable(owned[i]).transferOwnership(to);
            assertEq(Ownable(owned[i]).owner(), admin);
        }
        vm.prank(admin);
        Ownable(address(voting)).transferOwnership(to);
        assertEq(voting.owner(), to);
    }

    function testFuzz_RevertIf_RenounceOwnershipCallerIsNotOwner(address caller) public {
        _assumeNotAdmin(caller);
        address[3] memory owned = [address(ledger), address(token), address(voting)];
        for (uint256 i = 0; i < owned.length; i++) {
            vm.prank(caller);
            vm.expectRevert(_notOwner(caller));
            Ownable(owned[i]).renounceOwnership();
            assertEq(Ownable(owned[i]).owner(), admin);
        }
    }

    // ================================================================== Reputation

    function testFuzz_RevertIf_SetParamsCallerIsNotAdmin(address caller) public {
        _assumeNotAdmin(caller);
        Reputation.Params memory p = reputation.params();
        p.maxStrikes = 9;
        vm.prank(caller);
        vm.expectRevert(_missingRole(caller, ADMIN_ROLE));
        reputation.setParams(p);
        vm.prank(admin);
        reputation.setParams(p);
        assertEq(reputation.params().maxStrikes, 9);
    }

    function testFuzz_RevertIf_UpdateCallerIsNotUpdater(address caller) public {
        _assumeNotAdmin(caller);
        bytes32 role = reputation.UPDATER_ROLE();
        vm.prank(admin);
        ledger.openRound(1, TASK, SEED);
        address[] memory hs = _one(hospital(0));
        uint256[] memory perf = _oneAmount(0.9e18);
        vm.prank(caller);
        vm.expectRevert(_missingRole(caller, role));
        reputation.update(1, hs, perf);
        assertEq(reputation.updateCount(1), 0);
        vm.prank(admin);
        reputation.update(1, hs, perf);
        assertEq(reputation.updateCount(1), 1);
    }

    /// @dev Participants and the registry (which the reputation contract calls) are not updaters.
    function test_RevertIf_ParticipantsUpdateReputation() public {
        bytes32 role = reputation.UPDATER_ROLE();
        vm.prank(admin);
        ledger.openRound(1, TASK, SEED);
        address[4] memory wrong = [hospital(0), validators[0], address(registry), address(voting)];
        for (uint256 i = 0; i < wrong.length; i++) {
            vm.prank(wrong[i]);
            vm.expectRevert(_missingRole(wrong[i], role));
            reputation.update(1, _one(hospital(0)), _oneAmount(1e18));
        }
    }

    function testFuzz_RevertIf_ReserveRecordsCallerIsNotAdmin(address caller) public {
        _assumeNotAdmin(caller);
        address[] memory hs = _one(hospital(0));
        vm.prank(caller);
        vm.expectRevert(_missingRole(caller, ADMIN_ROLE));
        reputation.reserveRecords(hs);
        assertEq(reputation.recordOf(hospital(0)).weight, 0);
        vm.prank(admin);
        reputation.reserveRecords(hs);
        assertEq(reputation.recordOf(hospital(0)).weight, 1e18);
    }

    /// @dev An updater records performance; it may not change the rule or reserve records.
    function test_RevertIf_UpdaterSetsParamsOrReservesRecords() public {
        address updater = address(0x5008);
        vm.startPrank(admin);
        reputation.grantRole(reputation.UPDATER_ROLE(), updater);
        vm.stopPrank();
        Reputation.Params memory p = reputation.params();
        vm.startPrank(updater);
        vm.expectRevert(_missingRole(updater, ADMIN_ROLE));
        reputation.setParams(p);
        vm.expectRevert(_missingRole(updater, ADMIN_ROLE));
        reputation.reserveRecords(_one(hospital(0)));
        vm.expectRevert(_missingRole(updater, ADMIN_ROLE));
        reputation.grantRole(ADMIN_ROLE, updater);
        vm.stopPrank();
    }

    function testFuzz_RevertIf_ReputationGrantOrRevokeRoleCallerIsNotAdmin(address caller) public {
        _assumeNotAdmin(caller);
        bytes32 role = reputation.UPDATER_ROLE();
        vm.prank(caller);
        vm.expectRevert(_missingRole(caller, ADMIN_ROLE));
        reputation.grantRole(role, caller);
        vm.prank(caller);
        vm.expectRevert(_missingRole(caller, ADMIN_ROLE));
        reputation.revokeRole(role, admin);
        assertFalse(reputation.hasRole(role, caller));
        assertTrue(reputation.hasRole(role, admin));
    }

    // ================================================================== StakeToken

    function testFuzz_RevertIf_MintCallerIsNotOwner(address caller, uint256 amount) public {
        _assumeNotAdmin(caller);
        uint256 supply = token.totalSupply();
        vm.prank(caller);
        vm.expectRevert(_notOwner(caller));
        token.mint(caller, amount);
        assertEq(token.totalSupply(), supply);
    }

    /// @dev The voting contract holds everyone's tokens but does not own the token.
    function test_RevertIf_VotingContractMints() public {
        vm.prank(address(voting));
        vm.expectRevert(_notOwner(address(voting)));
        token.mint(address(voting), 1);
    }

    function testFuzz_RevertIf_TransferBeyondOwnBalance(address caller, uint256 amount) public {
        vm.assume(caller != address(0) && caller != address(vm));
        address victim = hospital(0);
        vm.prank(admin);
        token.mint(victim, 10 ether);
        uint256 have = token.balanceOf(caller);
        vm.assume(have < type(uint256).max);
        amount = bound(amount, have + 1, type(uint256).max);
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, caller, have, amount));
        token.transfer(stranger, amount);
        assertEq(token.balanceOf(victim), caller == victim ? have : 10 ether);
    }

    function testFuzz_RevertIf_TransferFromWithoutAllowance(address caller, uint256 amount) public {
        address victim = hospital(0);
        vm.assume(caller != victim && caller != address(voting) && caller != address(vm));
        amount = bound(amount, 1, 10 ether);
        vm.startPrank(admin);
        token.mint(victim, 10 ether);
        vm.stopPrank();
        vm.prank(victim);
        token.approve(address(voting), type(uint256).max); // an allowance to someone else
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, caller, 0, amount));
        token.transferFrom(victim, caller, amount);
        assertEq(token.balanceOf(victim), 10 ether);
    }

    /// @dev `approve` sets the caller's own allowance; it cannot create one over another's tokens.
    function testFuzz_ApproveGrantsOnlyOverTheCallersTokens(address caller) public {
        address victim = hospital(0);
        vm.assume(caller != victim && caller != address(0) && caller != address(vm));
        vm.prank(admin);
        token.mint(victim, 10 ether);
        vm.startPrank(caller);
        token.approve(caller, type(uint256).max);
        assertEq(token.allowance(victim, caller), 0);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, caller, 0, 1));
        token.transferFrom(victim, caller, 1);
        vm.stopPrank();
        assertEq(token.balanceOf(victim), 10 ether);
    }

    // ================================================================== StakeVoting: tokens

    /// @dev A victim approved the voting contract; nobody else can turn that allowance into a
    /// balance of their own, because every deposit path pulls from `msg.sender` only.
    function _victimApproves() internal returns (address victim) {
        victim = hospital(0);
        vm.prank(admin);
        token.mint(victim, 10 ether);
        vm.prank(victim);
        token.approve(address(voting), type(uint256).max);
    }

    function _assumeNoVotingAllowance(address caller) internal view {
        vm.assume(caller != hospital(0) && caller != address(vm));
        vm.assume(token.allowance(caller, address(voting)) == 0);
    }

    function _assertVictimUntouched(address victim, uint256 pool, uint256 held) internal view {
        assertEq(token.balanceOf(victim), 10 ether);
        assertEq(token.allowance(victim, address(voting)), type(uint256).max);
        assertEq(voting.claimableOf(victim), 64 ether);
        assertEq(voting.pool(), pool);
        assertEq(token.balanceOf(address(voting)), held);
    }

    function testFuzz_RevertIf_DepositSpendsAnotherAccountsAllowance(address caller, uint256 amount) public {
        address victim = _victimApproves();
        _assumeNoVotingAllowance(caller);
        amount = bound(amount, 1, 10 ether);
        uint256 before = voting.claimableOf(caller);
        uint256 held = token.balanceOf(address(voting));
        vm.prank(caller);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(voting), 0, amount)
        );
        voting.deposit(amount);
        assertEq(voting.claimableOf(caller), before);
        _assertVictimUntouched(victim, 100 ether, held);
    }

    function testFuzz_RevertIf_DepositForSpendsAnotherAccountsAllowance(address caller, uint256 amount) public {
        address victim = _victimApproves();
        _assumeNoVotingAllowance(caller);
        amount = bound(amount, 1, 10 ether);
        uint256 before = voting.claimableOf(caller);
        uint256 held = token.balanceOf(address(voting));
        vm.prank(caller);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(voting), 0, amount)
        );
        voting.depositFor(_one(caller), _oneAmount(amount));
        assertEq(voting.claimableOf(caller), before);
        _assertVictimUntouched(victim, 100 ether, held);
    }

    function testFuzz_RevertIf_FundPoolSpendsAnotherAccountsAllowance(address caller, uint256 amount) public {
        address victim = _victimApproves();
        _assumeNoVotingAllowance(caller);
        amount = bound(amount, 1, 10 ether);
        uint256 held = token.balanceOf(address(voting));
        vm.prank(caller);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(voting), 0, amount)
        );
        voting.fundPool(amount);
        _assertVictimUntouched(victim, 100 ether, held);
    }

    /// @dev The contract holds everyone's deposits, yet a caller withdraws only its own balance.
    function testFuzz_RevertIf_WithdrawBeyondOwnBalance(address caller, uint256 amount) public {
        vm.assume(caller != address(vm));
        uint256 have = voting.claimableOf(caller);
        amount = bound(amount, have + 1, type(uint256).max);
        uint256 held = token.balanceOf(address(voting));
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(StakeVoting.InsufficientBalance.selector, caller, have, amount));
        voting.withdraw(amount);
        assertEq(token.balanceOf(address(voting)), held);
        for (uint256 i = 0; i < N; i++) {
            if (hospital(i) != caller) assertEq(voting.claimableOf(hospital(i)), 64 ether);
        }
    }

    // ================================================================== StakeVoting: owner

    function testFuzz_RevertIf_ReserveSlotsCallerIsNotOwner(address caller) public {
        _assumeNotAdmin(caller);
        address[] memory hs = _one(hospital(0));
        vm.prank(caller);
        vm.expectRevert(_notOwner(caller));
        voting.reserveSlots(hs, 0, 4, 10);
        vm.prank(admin);
        voting.reserveSlots(hs, 0, 4, 10);
    }

    function testFuzz_RevertIf_RewardContributionsCallerIsNotOwner(address caller, uint256 amount) public {
        _assumeNotAdmin(caller);
        amount = bound(amount, 0, 100 ether);
        address[] memory hs = _one(caller);
        uint256[] memory amounts = _oneAmount(amount);
        uint256 before = voting.claimableOf(caller);
        vm.prank(caller);
        vm.expectRevert(_notOwner(caller));
        voting.rewardContributions(1, hs, amounts);
        assertEq(voting.pool(), 100 ether);
        assertEq(voting.claimableOf(caller), before);
        vm.prank(admin);
        voting.rewardContributions(1, hs, amounts);
        assertEq(voting.pool(), 100 ether - amount);
    }

    function testFuzz_RevertIf_SetStakesCallerIsNotOwner(address caller, uint64 period) public {
        _assumeNotAdmin(caller);
        StakeVoting.Stakes memory s = _stakes();
        s.votingPeriod = period == 0 ? 1 : period;
        vm.prank(caller);
        vm.expectRevert(_notOwner(caller));
        voting.setStakes(s);
        assertEq(voting.stakes().votingPeriod, PERIOD);
        vm.prank(admin);
        voting.setStakes(s);
        assertEq(voting.stakes().votingPeriod, s.votingPeriod);
    }

    function testFuzz_RevertIf_VotingOpenRoundCallerIsNotOwner(address caller) public {
        _assumeNotAdmin(caller);
        vm.prank(admin);
        ledger.openRound(1, TASK, SEED);
        vm.prank(caller);
        vm.expectRevert(_notOwner(caller));
        voting.openRound(1);
        assertEq(uint256(voting.roundState(1).phase), uint256(StakeVoting.Phase.None));
        vm.prank(admin);
        voting.openRound(1);
        assertEq(uint256(voting.roundState(1).phase), uint256(StakeVoting.Phase.Drawing));
    }

    function testFuzz_RevertIf_DrawCallerIsNotOwner(address caller, uint256 steps) public {
        _assumeNotAdmin(caller);
        steps = bound(steps, 0, 64);
        vm.startPrank(admin);
        ledger.openRound(1, TASK, SEED);
        voting.openRound(1);
        vm.stopPrank();
        vm.prank(caller);
        vm.expectRevert(_notOwner(caller));
        voting.draw(1, steps);
        assertEq(voting.roundState(1).steps, 0);
        assertEq(voting.totalStaked(), 0);
        vm.prank(admin);
        voting.draw(1, type(uint32).max);
        assertEq(uint256(voting.roundState(1).phase), uint256(StakeVoting.Phase.Voting));
    }

    // ================================================================== StakeVoting: votes

    /// @dev Covers proposers, hospitals not drawn, validators, the owner and any other address.
    function testFuzz_RevertIf_VoteCallerIsNotInCommittee(address caller, bool accept) public {
        _openAndDraw(1, SEED);
        vm.assume(!_isVoter(1, caller) && caller != address(vm));
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(StakeVoting.NotCommitteeMember.selector, caller, 1));
        voting.vote(1, accept);
        StakeVoting.RoundState memory s = voting.roundState(1);
        assertEq(uint256(s.accepts) + s.rejects, 0);
        address member = _voters(1)[0];
        vm.prank(member);
        voting.vote(1, accept);
    }

    /// @dev Committee membership is per round: last round's voter has no say in this one.
    function test_RevertIf_LastRoundsVoterVotes() public {
        _openAndDraw(1, SEED);
        address[] memory old = _voters(1);
        for (uint256 i = 0; i < old.length; i++) {
            vm.prank(old[i]);
            voting.vote(1, true);
        }
        voting.settle(1, 100);
        _openAndDraw(2, keccak256("second"));
        address outsider;
        for (uint256 i = 0; i < old.length && outsider == address(0); i++) {
            (StakeVoting.Role role,) = voting.participation(2, old[i]);
            if (role == StakeVoting.Role.None) outsider = old[i];
        }
        assertTrue(outsider != address(0), "some round-1 voter is not drawn in round 2");
        vm.startPrank(outsider);
        vm.expectRevert(abi.encodeWithSelector(StakeVoting.NotCommitteeMember.selector, outsider, 2));
        voting.vote(2, true);
        vm.expectRevert(
            abi.encodeWithSelector(
                StakeVoting.WrongPhase.selector, 1, StakeVoting.Phase.Settled, StakeVoting.Phase.Voting
            )
        );
        voting.vote(1, true);
        vm.stopPrank();
    }

    /// @dev A hospital drawn into the committee without the stake is removed, not a member.
    function test_RevertIf_DrawnHospitalThatCouldNotStakeVotes() public {
        address poor = hospital(N);
        vm.prank(admin);
        registry.registerHospitals(_one(poor)); // no deposit
        bytes32 seed;
        for (uint256 s = 0;; s++) {
            seed = keccak256(abi.encode("poor voter", s));
            if (_drawPosition(seed, N + 1, N, 10) >= 3) break; // drawn after the 3 proposers
        }
        _openAndDraw(1, seed);
        (StakeVoting.Role role,) = voting.participation(1, poor);
        assertEq(uint256(role), uint256(StakeVoting.Role.Removed));
        vm.prank(poor);
        vm.expectRevert(abi.encodeWithSelector(StakeVoting.NotCommitteeMember.selector, poor, 1));
        voting.vote(1, true);
    }

    /// @dev Where index `target` falls in the first `k` picks of the documented draw (k if not).
    function _drawPosition(bytes32 seed, uint256 n, uint256 target, uint256 k) internal pure returns (uint256) {
        uint256[] memory perm = new uint256[](n);
        for (uint256 i = 0; i < n; i++) {
            perm[i] = i;
        }
        for (uint256 i = 0; i < k; i++) {
            uint256 j = i + uint256(keccak256(abi.encode(seed, i))) % (n - i);
            if (perm[j] == target) return i;
            perm[j] = perm[i];
        }
        return k;
    }

    // ---- relayed ballots: open to any relayer, protected by the voter's signature

    function test_RevertIf_BallotSignedByNonMember() public {
        _openAndDraw(1, SEED);
        uint256 key = 0xBEEF;
        address outsider = vm.addr(key);
        StakeVoting.SignedBallot[] memory b = new StakeVoting.SignedBallot[](1);
        b[0] = StakeVoting.SignedBallot({
            voter: outsider, accept: true, signature: _sign(key, voting.ballotDigest(1, outsider, true))
        });
        vm.expectRevert(abi.encodeWithSelector(StakeVoting.NotCommitteeMember.selector, outsider, 1));
        voting.voteBatch(1, b);
    }

    /// @dev Any key but the voter's own, including other committee members' keys.
    function testFuzz_RevertIf_BallotSignedWithAnotherKey(uint256 key, uint256 voterIndex, bool accept) public {
        _openAndDraw(1, SEED);
        address[] memory vs = _voters(1);
        address voter = vs[bound(voterIndex, 0, vs.length - 1)];
        key = bound(key, 1, SECP256K1_N - 1);
        address signer = vm.addr(key);
        vm.assume(signer != voter);
        StakeVoting.SignedBallot[] memory b = new StakeVoting.SignedBallot[](1);
        b[0] = StakeVoting.SignedBallot({
            voter: voter, accept: accept, signature: _sign(key, voting.ballotDigest(1, voter, accept))
        });
        vm.expectRevert(abi.encodeWithSelector(StakeVoting.ForgedBallot.selector, voter, signer));
        voting.voteBatch(1, b);
        (, StakeVoting.Choice choice) = voting.participation(1, voter);
        assertEq(uint256(choice), uint256(StakeVoting.Choice.None));
    }

    function test_RevertIf_BallotReplayedInTheSameRound() public {
        _openAndDraw(1, SEED);
        address voter = _voters(1)[0];
        StakeVoting.SignedBallot[] memory b = _ballot(1, voter, true);
        voting.voteBatch(1, b);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(StakeVoting.AlreadyVoted.selector, voter, 1, StakeVoting.Choice.Accept));
        voting.voteBatch(1, b);
        assertEq(voting.roundState(1).accepts, 1);
    }

    /// @dev The round is in the signed digest: a ballot does not carry over to a later round.
    function test_RevertIf_BallotReplayedInALaterRound() public {
        _openAndDraw(1, SEED);
        address[] memory vs = _voters(1);
        StakeVoting.SignedBallot[] memory first = _ballot(1, vs[0], true);
        voting.voteBatch(1, first);
        for (uint256 i = 1; i < vs.length; i++) {
            vm.prank(vs[i]);
            voting.vote(1, true);
        }
        voting.settle(1, 100);
        _openAndDraw(2, SEED); // same seed: the same committee, so only the signature can refuse
        assertTrue(_isVoter(2, vs[0]));
        address signer = _recover(voting.ballotDigest(2, vs[0], true), first[0].signature);
        vm.expectRevert(abi.encodeWithSelector(StakeVoting.ForgedBallot.selector, vs[0], signer));
        voting.voteBatch(2, first);
    }

    /// @dev The contract's address and chain are in the EIP-712 domain.
    function test_RevertIf_BallotSignedForAnotherDeployment() public {
        _openAndDraw(1, SEED);
        address voter = _voters(1)[0];
        StakeVoting twin =
            new StakeVoting(admin, token, IRegistry(address(registry)), IFederationLedger(address(ledger)), _stakes());
        bytes32 twinDigest = twin.ballotDigest(1, voter, true);
        assertTrue(twinDigest != voting.ballotDigest(1, voter, true));
        StakeVoting.SignedBallot[] memory b = new StakeVoting.SignedBallot[](1);
        b[0] = StakeVoting.SignedBallot({voter: voter, accept: true, signature: _sign(_keyOf(voter), twinDigest)});
        address signer = _recover(voting.ballotDigest(1, voter, true), b[0].signature);
        vm.expectRevert(abi.encodeWithSelector(StakeVoting.ForgedBallot.selector, voter, signer));
        voting.voteBatch(1, b);
    }

    /// @dev The (r, n − s) twin of a valid signature and truncated signatures are refused, so a
    /// relayer cannot mint a second valid-looking ballot from the first.
    function test_RevertIf_BallotSignatureMalleatedOrTruncated() public {
        _openAndDraw(1, SEED);
        address voter = _voters(1)[0];
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(_keyOf(voter), voting.ballotDigest(1, voter, true));
        bytes32 highS = bytes32(SECP256K1_N - uint256(s));
        StakeVoting.SignedBallot[] memory b = new StakeVoting.SignedBallot[](1);
        b[0] = StakeVoting.SignedBallot({voter: voter, accept: true, signature: abi.encodePacked(r, highS, v ^ 1)});
        vm.expectRevert(abi.encodeWithSelector(ECDSA.ECDSAInvalidSignatureS.selector, highS));
        voting.voteBatch(1, b);
        b[0].signature = abi.encodePacked(r, s); // 64 bytes
        vm.expectRevert(abi.encodeWithSelector(ECDSA.ECDSAInvalidSignatureLength.selector, 64));
        voting.voteBatch(1, b);
        b[0].signature = abi.encodePacked(r, s, v);
        voting.voteBatch(1, b);
        assertEq(voting.roundState(1).accepts, 1);
    }

    // ---- settlement: open to anyone, but nothing in it depends on the caller

    function testFuzz_SettleByAnyoneCreditsOnlyTheParticipants(address caller, uint256 chunk) public {
        (bool registered,) = registry.hospitalIndex(caller);
        vm.assume(!registered && caller != address(vm));
        chunk = bound(chunk, 1, 10);
        _openAndDraw(1, SEED);
        address[] memory vs = _voters(1);
        for (uint256 i = 0; i < vs.length; i++) {
            vm.prank(vs[i]);
            voting.vote(1, i < 5);
        }
        uint256 callerTokens = token.balanceOf(caller);
        uint256 callerBalance = voting.claimableOf(caller);
        vm.startPrank(caller);
        while (!voting.settle(1, chunk)) {}
        vm.expectRevert(
            abi.encodeWithSelector(
                StakeVoting.WrongPhase.selector, 1, StakeVoting.Phase.Settled, StakeVoting.Phase.Settling
            )
        );
        voting.settle(1, 100);
        vm.stopPrank();
        assertEq(token.balanceOf(caller), callerTokens);
        assertEq(voting.claimableOf(caller), callerBalance);
        address[] memory ps = _proposers(1);
        for (uint256 i = 0; i < ps.length; i++) {
            assertEq(voting.claimableOf(ps[i]), 64 ether + REWARD);
        }
        uint256 share = (2 * uint256(GV)) / 5;
        for (uint256 i = 0; i < vs.length; i++) {
            assertEq(voting.claimableOf(vs[i]), i < 5 ? 64 ether + share : 64 ether - GV);
        }
        assertEq(token.balanceOf(address(voting)), _sumClaimable(N) + voting.pool() + voting.totalStaked());
    }
}
