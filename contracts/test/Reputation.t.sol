// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Reputation} from "../Reputation.sol";
import {Registry} from "../Registry.sol";
import {Fixture} from "./utils/Fixture.sol";

contract ReputationTest is Fixture {
    function setUp() public {
        _deploy(2, 2);
        _register(0, 6, 0);
        vm.startPrank(admin);
        ledger.openRound(1, TASK, keccak256("s1"));
        ledger.openRound(2, TASK, keccak256("s2"));
        ledger.openRound(3, TASK, keccak256("s3"));
        vm.stopPrank();
    }

    function _update(uint256 round, address h, uint256 perf) internal {
        address[] memory hs = new address[](1);
        uint256[] memory ps = new uint256[](1);
        hs[0] = h;
        ps[0] = perf;
        vm.prank(admin);
        reputation.update(round, hs, ps);
    }

    function test_UpdateIsExponentialMovingAverage() public {
        _update(1, hospital(0), 0.9e18);
        assertEq(reputation.reputationOf(hospital(0)), (0.5e18 * 0.5e18 + 0.5e18 * 0.9e18) / 1e18);
        assertEq(reputation.weightOf(hospital(0)), 1e18);
    }

    function test_DegradationCutsReputationAndWeightThenSuspends() public {
        _update(1, hospital(0), 0.9e18);
        _update(2, hospital(0), 0.5e18);
        uint256 rep = (0.7e18 * 0.5e18 + 0.5e18 * 0.5e18) / 1e18;
        assertEq(reputation.reputationOf(hospital(0)), rep / 2);
        assertEq(reputation.weightOf(hospital(0)), 0.5e18);
        assertTrue(registry.isEligible(hospital(0)));
        _update(3, hospital(0), 0.1e18);
        assertEq(uint256(registry.statusOf(hospital(0))), uint256(Registry.Status.Suspended));
    }

    function testFuzz_ReputationStaysInUnitInterval(uint256 a, uint256 b, uint256 c) public {
        a = bound(a, 0, 1e18);
        b = bound(b, 0, 1e18);
        c = bound(c, 0, 1e18);
        _update(1, hospital(1), a);
        _update(2, hospital(1), b);
        _update(3, hospital(1), c);
        assertLe(reputation.reputationOf(hospital(1)), 1e18);
        assertLe(reputation.weightOf(hospital(1)), 1e18);
    }

    function test_RevertIf_UpdateCallerIsNotUpdater() public {
        bytes32 role = reputation.UPDATER_ROLE();
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, role)
        );
        reputation.update(1, new address[](0), new uint256[](0));
    }

    function test_RevertIf_SetParamsCallerIsNotAdmin() public {
        Reputation.Params memory p = reputation.params();
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, bytes32(0))
        );
        reputation.setParams(p);
    }

    function test_RevertIf_UpdatedTwiceInARound() public {
        _update(1, hospital(0), 0.5e18);
        vm.expectRevert(abi.encodeWithSelector(Reputation.AlreadyUpdated.selector, hospital(0), 1));
        _update(1, hospital(0), 0.5e18);
    }

    function test_RevertIf_MoreUpdatesThanCohort() public {
        address[] memory hs = new address[](5);
        uint256[] memory ps = new uint256[](5);
        for (uint256 i = 0; i < 5; i++) hs[i] = hospital(i);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(Reputation.CohortExceeded.selector, 1, 5, 4));
        reputation.update(1, hs, ps);
    }

    function test_RevertIf_PerformanceAboveOne() public {
        vm.expectRevert(abi.encodeWithSelector(Reputation.PerformanceOutOfRange.selector, hospital(0), 1e18 + 1));
        _update(1, hospital(0), 1e18 + 1);
    }

    function test_ReservedRecordsReadAsNeverUpdatedAndUpdateAsUsual() public {
        address[] memory hs = new address[](2);
        hs[0] = hospital(0);
        hs[1] = hospital(1);
        vm.startPrank(admin);
        reputation.reserveRecords(hs);
        reputation.reserveRecords(hs); // idempotent
        vm.stopPrank();
        assertEq(reputation.reputationOf(hospital(0)), reputation.params().initialReputation);
        assertEq(reputation.weightOf(hospital(0)), 1e18);
        _update(1, hospital(0), 0.9e18);
        assertEq(reputation.reputationOf(hospital(0)), (0.5e18 * 0.5e18 + 0.5e18 * 0.9e18) / 1e18);
        vm.prank(admin);
        reputation.reserveRecords(hs); // an updated record is left alone
        assertEq(reputation.reputationOf(hospital(0)), (0.5e18 * 0.5e18 + 0.5e18 * 0.9e18) / 1e18);
    }

    function test_RevertIf_ReserveRecordsCallerIsNotAdmin() public {
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, bytes32(0))
        );
        reputation.reserveRecords(new address[](0));
    }
}
