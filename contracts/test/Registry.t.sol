// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Registry} from "../Registry.sol";
import {Test} from "./utils/Test.sol";

contract RegistryTest is Test {
    Registry internal registry;
    address internal admin = address(0xAD);
    address internal stranger = address(0xBAD);

    function setUp() public {
        registry = new Registry(admin);
    }

    function _accounts(uint256 from, uint256 n) internal pure returns (address[] memory a) {
        a = new address[](n);
        for (uint256 i = 0; i < n; i++) a[i] = address(uint160(0x1000 + from + i));
    }

    function _one(address a) internal pure returns (address[] memory arr) {
        arr = new address[](1);
        arr[0] = a;
    }

    function _unauthorized(address caller, bytes32 role) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, caller, role);
    }

    function test_RegisterHospitalsInChunksKeepsIndicesAndCounts() public {
        vm.startPrank(admin);
        registry.registerHospitals(_accounts(0, 3));
        registry.registerHospitals(_accounts(3, 2));
        vm.stopPrank();

        assertEq(registry.hospitalCount(), 5);
        assertEq(registry.eligibleCount(), 5);
        (address h, bool eligible) = registry.hospitalAt(4);
        assertEq(h, address(uint160(0x1004)));
        assertTrue(eligible);
        (bool found, uint256 index) = registry.hospitalIndex(address(uint160(0x1002)));
        assertTrue(found);
        assertEq(index, 2);
        assertTrue(registry.hasRole(registry.HOSPITAL_ROLE(), h));
    }

    function test_SuspendReinstateAndRemoveChangeEligibility() public {
        address[] memory hs = _accounts(0, 2);
        vm.startPrank(admin);
        registry.registerHospitals(hs);
        registry.suspend(_one(hs[0]));
        assertFalse(registry.isEligible(hs[0]));
        assertEq(registry.eligibleCount(), 1);
        registry.reinstate(_one(hs[0]));
        assertTrue(registry.isEligible(hs[0]));
        registry.remove(_one(hs[1]));
        vm.stopPrank();

        assertEq(registry.eligibleCount(), 1);
        assertEq(uint256(registry.statusOf(hs[1])), uint256(Registry.Status.Removed));
        (, bool eligible) = registry.hospitalAt(1);
        assertFalse(eligible);
    }

    function test_ValidatorsGetSequenceAndCanAttestOnlyForLaterEpochs() public {
        vm.prank(admin);
        registry.registerValidators(_accounts(100, 2));
        address v = address(uint160(0x1000 + 101));

        assertEq(registry.validatorCount(), 2);
        assertEq(registry.validatorEpoch(), 2);
        assertEq(uint256(registry.validatorSeq(v)), 2);
        assertTrue(registry.canAttest(v, 2));
        assertFalse(registry.canAttest(v, 1), "registered after the epoch");
        assertFalse(registry.canAttest(stranger, 2));
    }

    function test_RevokingValidatorRoleUpdatesCount() public {
        vm.startPrank(admin);
        registry.registerValidators(_accounts(100, 2));
        registry.revokeRole(registry.VALIDATOR_ROLE(), address(uint160(0x1000 + 100)));
        vm.stopPrank();
        assertEq(registry.validatorCount(), 1);
        assertFalse(registry.canAttest(address(uint160(0x1000 + 100)), 5));
    }

    function test_ModeratorCanSuspendAndRemove() public {
        address moderator = address(0x3333);
        address[] memory hs = _accounts(0, 2);
        vm.startPrank(admin);
        registry.registerHospitals(hs);
        registry.grantRole(registry.MODERATOR_ROLE(), moderator);
        vm.stopPrank();
        vm.startPrank(moderator);
        registry.suspend(_one(hs[0]));
        registry.remove(_one(hs[1]));
        vm.stopPrank();
        assertEq(registry.eligibleCount(), 0);
    }

    function test_RegisterAggregators() public {
        vm.prank(admin);
        registry.registerAggregators(_accounts(200, 2));
        assertTrue(registry.hasRole(registry.AGGREGATOR_ROLE(), address(uint160(0x1000 + 201))));
    }

    function testFuzz_RegisterChunksCountEveryHospital(uint256 chunk, uint256 total) public {
        total = bound(total, 1, 60);
        chunk = bound(chunk, 1, total);
        vm.startPrank(admin);
        for (uint256 from = 0; from < total; from += chunk) {
            uint256 n = from + chunk > total ? total - from : chunk;
            registry.registerHospitals(_accounts(from, n));
        }
        vm.stopPrank();
        assertEq(registry.hospitalCount(), total);
        assertEq(registry.eligibleCount(), total);
    }

    function test_RevertIf_RegisterHospitalsCallerIsNotAdmin() public {
        vm.prank(stranger);
        vm.expectRevert(_unauthorized(stranger, bytes32(0)));
        registry.registerHospitals(_accounts(0, 1));
    }

    function test_RevertIf_RegisterValidatorsCallerIsNotAdmin() public {
        vm.prank(stranger);
        vm.expectRevert(_unauthorized(stranger, bytes32(0)));
        registry.registerValidators(_accounts(0, 1));
    }

    function test_RevertIf_RegisterAggregatorsCallerIsNotAdmin() public {
        vm.prank(stranger);
        vm.expectRevert(_unauthorized(stranger, bytes32(0)));
        registry.registerAggregators(_accounts(0, 1));
    }

    function test_RevertIf_SuspendCallerIsNotModerator() public {
        bytes32 role = registry.MODERATOR_ROLE();
        vm.prank(stranger);
        vm.expectRevert(_unauthorized(stranger, role));
        registry.suspend(_accounts(0, 1));
    }

    function test_RevertIf_RemoveCallerIsNotModerator() public {
        bytes32 role = registry.MODERATOR_ROLE();
        vm.prank(stranger);
        vm.expectRevert(_unauthorized(stranger, role));
        registry.remove(_accounts(0, 1));
    }

    function test_RevertIf_ReinstateCallerIsNotAdmin() public {
        vm.prank(stranger);
        vm.expectRevert(_unauthorized(stranger, bytes32(0)));
        registry.reinstate(_accounts(0, 1));
    }

    function test_RevertIf_GrantRoleCallerIsNotAdmin() public {
        bytes32 role = registry.HOSPITAL_ROLE();
        vm.prank(stranger);
        vm.expectRevert(_unauthorized(stranger, bytes32(0)));
        registry.grantRole(role, stranger);
    }

    function test_RevertIf_HospitalRegisteredTwice() public {
        address[] memory hs = _accounts(0, 1);
        vm.startPrank(admin);
        registry.registerHospitals(hs);
        vm.expectRevert(
            abi.encodeWithSelector(Registry.AlreadyRegistered.selector, hs[0], registry.HOSPITAL_ROLE())
        );
        registry.registerHospitals(hs);
        vm.stopPrank();
    }

    function test_RevertIf_RegisteringZeroAddress() public {
        vm.prank(admin);
        vm.expectRevert(Registry.ZeroAccount.selector);
        registry.registerHospitals(new address[](1));
    }

    function test_RevertIf_ReinstatingRemovedAccount() public {
        address[] memory hs = _accounts(0, 1);
        vm.startPrank(admin);
        registry.registerHospitals(hs);
        registry.remove(hs);
        vm.expectRevert(
            abi.encodeWithSelector(
                Registry.WrongStatus.selector, hs[0], Registry.Status.Removed, Registry.Status.Suspended
            )
        );
        registry.reinstate(hs);
        vm.stopPrank();
    }

    function test_RevertIf_HospitalIndexOutOfRange() public {
        vm.expectRevert(abi.encodeWithSelector(Registry.IndexOutOfRange.selector, 0, 0));
        registry.hospitalAt(0);
    }
}
