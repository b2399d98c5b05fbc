// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {FederationLedger} from "../FederationLedger.sol";
import {IFederationLedger} from "../interfaces/IFederationLedger.sol";
import {IRegistry} from "../interfaces/IRegistry.sol";
import {Fixture} from "./utils/Fixture.sol";

/// @notice The ledger's plan, round openings, attestations and finality.
contract FederationLedgerRoundsTest is Fixture {
    bytes32 internal constant ROOT = keccak256("root");
    bytes32 internal constant MODEL = keccak256("model");
    bytes32 internal constant SEED = keccak256("seed");

    function setUp() public {
        _deploy(2, 3);
    }

    function _open(uint256 round) internal {
        vm.prank(admin);
        ledger.openRound(round, TASK, SEED);
    }

    function _attest(address v, uint256 round, bytes32 root, bytes32 model) internal {
        vm.prank(v);
        ledger.attest(round, root, model);
    }

    function test_PlanReadsBack() public view {
        IFederationLedger.Plan memory p = ledger.plan(TASK);
        assertEq(p.modelDefinitionHash, keccak256("model definition"));
        assertEq(p.epsilon, 1e18);
        assertEq(p.delta, 1e13);
        assertEq(p.cohortSize, 2);
        assertEq(p.committeeSize, 3);
    }

    function test_OpenRoundSnapshotsValidatorsAndQuorum() public {
        _open(1);
        (uint256 n, uint256 q, uint64 epoch) = ledger.roundValidators(1);
        (uint256 task, bytes32 seed) = ledger.roundOpening(1);
        assertEq(n, 4);
        assertEq(q, 3);
        assertEq(uint256(epoch), 4);
        assertEq(task, TASK);
        assertEq(seed, SEED);
        assertTrue(ledger.isOpened(1));
    }

    function test_RoundIsFinalAtCeilTwoThirdsOfSameHash() public {
        _open(1);
        _attest(validators[0], 1, ROOT, MODEL);
        _attest(validators[1], 1, ROOT, MODEL);
        assertFalse(ledger.isFinal(1));
        _attest(validators[2], 1, ROOT, MODEL);
        assertTrue(ledger.isFinal(1));
        assertEq(ledger.finalModelHash(1), MODEL);
        assertEq(ledger.finalPayloadRoot(1), ROOT);
        assertEq(ledger.attestationCount(1, ROOT, MODEL), 3);
        assertFalse(ledger.finalMatchesRecord(1));
        vm.prank(admin);
        ledger.recordRound(1, ROOT, MODEL);
        assertTrue(ledger.finalMatchesRecord(1));
    }

    function test_ByzantineMinorityCannotFinalizeWrongHash() public {
        _open(1);
        _attest(validators[0], 1, ROOT, keccak256("wrong"));
        _attest(validators[1], 1, ROOT, MODEL);
        _attest(validators[2], 1, ROOT, MODEL);
        assertFalse(ledger.isFinal(1));
        _attest(validators[3], 1, ROOT, MODEL);
        assertTrue(ledger.isFinal(1));
        assertEq(ledger.finalModelHash(1), MODEL);
    }

    function test_ValidatorRegisteredAfterOpeningCannotAttest() public {
        _open(1);
        address late = address(0xA999);
        address[] memory one = new address[](1);
        one[0] = late;
        vm.prank(admin);
        registry.registerValidators(one);
        vm.prank(late);
        vm.expectRevert(abi.encodeWithSelector(FederationLedger.NotValidator.selector, late, 1));
        ledger.attest(1, ROOT, MODEL);
    }

    function testFuzz_QuorumIsCeilTwoThirds(uint256 n) public {
        n = bound(n, 1, 40);
        FederationLedger fresh = new FederationLedger(admin);
        address[] memory vs = new address[](n);
        for (uint256 i = 0; i < n; i++) vs[i] = address(uint160(0xB000 + i));
        vm.startPrank(admin);
        registry.registerValidators(vs);
        fresh.setRegistry(IRegistry(address(registry)));
        fresh.definePlan(TASK, _plan(1, 1));
        fresh.openRound(7, TASK, SEED);
        vm.stopPrank();
        (uint256 total, uint256 q,) = fresh.roundValidators(7);
        assertEq(total, n + 4);
        assertEq(q, (2 * total + 2) / 3);
        for (uint256 i = 0; i < q; i++) {
            assertFalse(fresh.isFinal(7));
            vm.prank(i < 4 ? validators[i] : vs[i - 4]);
            fresh.attest(7, ROOT, MODEL);
        }
        assertTrue(fresh.isFinal(7));
        assertTrue(3 * q >= 2 * total && 3 * (q - 1) < 2 * total);
    }

    function test_RevertIf_DoubleAttestation() public {
        _open(1);
        _attest(validators[0], 1, ROOT, MODEL);
        vm.prank(validators[0]);
        vm.expectRevert(
            abi.encodeWithSelector(FederationLedger.AlreadyAttested.selector, validators[0], 1, ROOT, keccak256("b"))
        );
        ledger.attest(1, ROOT, keccak256("b"));
    }

    function test_RevertIf_NonValidatorAttests() public {
        _open(1);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(FederationLedger.NotValidator.selector, stranger, 1));
        ledger.attest(1, ROOT, MODEL);
    }

    function test_RevertIf_SuspendedValidatorAttests() public {
        _open(1);
        address[] memory one = new address[](1);
        one[0] = validators[1];
        vm.prank(admin);
        registry.suspend(one);
        vm.prank(validators[1]);
        vm.expectRevert(abi.encodeWithSelector(FederationLedger.NotValidator.selector, validators[1], 1));
        ledger.attest(1, ROOT, MODEL);
    }

    function test_RevertIf_AttestingUnopenedRound() public {
        vm.prank(validators[0]);
        vm.expectRevert(abi.encodeWithSelector(FederationLedger.RoundNotOpened.selector, 5));
        ledger.attest(5, ROOT, MODEL);
    }

    function test_RevertIf_AttestingZero() public {
        _open(1);
        vm.prank(validators[0]);
        vm.expectRevert(abi.encodeWithSelector(FederationLedger.ZeroAttestation.selector, 1));
        ledger.attest(1, bytes32(0), MODEL);
    }

    function test_RevertIf_OpenRoundCallerIsNotOwner() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        ledger.openRound(1, TASK, SEED);
    }

    function test_RevertIf_DefinePlanCallerIsNotOwner() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        ledger.definePlan(2, _plan(1, 1));
    }

    function test_RevertIf_SetRegistryCallerIsNotOwner() public {
        FederationLedger fresh = new FederationLedger(admin);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        fresh.setRegistry(IRegistry(address(registry)));
    }

    function test_RevertIf_RegistrySetTwice() public {
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(FederationLedger.RegistryAlreadySet.selector, address(registry)));
        ledger.setRegistry(IRegistry(address(0x1234)));
    }

    function test_RevertIf_PlanDefinedTwiceOrInvalid() public {
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(FederationLedger.PlanAlreadyDefined.selector, TASK));
        ledger.definePlan(TASK, _plan(1, 1));
        vm.expectRevert(abi.encodeWithSelector(FederationLedger.InvalidPlan.selector, 9));
        ledger.definePlan(9, _plan(1, 0));
        vm.stopPrank();
    }

    function test_RevertIf_RoundOpenedTwiceOrWithoutPlanOrSeed() public {
        _open(1);
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(FederationLedger.RoundAlreadyOpened.selector, 1));
        ledger.openRound(1, TASK, SEED);
        vm.expectRevert(abi.encodeWithSelector(FederationLedger.PlanNotDefined.selector, 77));
        ledger.openRound(2, 77, SEED);
        vm.expectRevert(abi.encodeWithSelector(FederationLedger.ZeroSeed.selector, 2));
        ledger.openRound(2, TASK, bytes32(0));
        vm.stopPrank();
    }

    function test_RevertIf_OpenRoundWithoutValidatorsOrRegistry() public {
        FederationLedger fresh = new FederationLedger(admin);
        vm.startPrank(admin);
        fresh.definePlan(TASK, _plan(1, 1));
        vm.expectRevert(FederationLedger.RegistryNotSet.selector);
        fresh.openRound(1, TASK, SEED);
        vm.stopPrank();
    }

    function test_RevertIf_FinalValuesOfUnfinalRound() public {
        vm.expectRevert(abi.encodeWithSelector(FederationLedger.RoundNotFinal.selector, 3));
        ledger.finalModelHash(3);
    }
}
