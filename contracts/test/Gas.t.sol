// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Fixture} from "./utils/Fixture.sol";

/// @notice Gas per call does not grow with the number of registered hospitals.
contract GasTest is Fixture {
    bytes32 internal constant SEED = keccak256("gas");

    /// @dev Gas of registering a 20-hospital chunk, of drawing and of settling a round
    /// (cohort 5, committee 10) with `n` hospitals registered.
    function _measure(uint256 n) internal returns (uint256 reg, uint256 drawGas, uint256 settleGas) {
        _deploy(5, 10);
        _register(0, n, 64 ether);
        address[] memory chunk = new address[](20);
        for (uint256 i = 0; i < 20; i++) chunk[i] = hospital(n + i);
        vm.prank(admin);
        uint256 g = gasleft();
        registry.registerHospitals(chunk);
        reg = g - gasleft();
        vm.startPrank(admin);
        ledger.openRound(1, TASK, SEED);
        voting.openRound(1);
        g = gasleft();
        voting.draw(1, 1000);
        drawGas = g - gasleft();
        vm.stopPrank();
        address[] memory vs = _voters(1);
        for (uint256 i = 0; i < vs.length; i++) {
            vm.prank(vs[i]);
            voting.vote(1, i % 3 != 0);
        }
        g = gasleft();
        voting.settle(1, 100);
        settleGas = g - gasleft();
    }

    function test_GasDoesNotGrowWithRegisteredHospitals() public {
        (uint256 regSmall, uint256 drawSmall, uint256 settleSmall) = _measure(50);
        (uint256 regLarge, uint256 drawLarge, uint256 settleLarge) = _measure(1000);
        // Identical work per call; small slack for cold/warm slot and draw-order differences.
        assertLe(regLarge, regSmall + regSmall / 20);
        assertLe(drawLarge, drawSmall + drawSmall / 10);
        assertLe(settleLarge, settleSmall + settleSmall / 10);
        emit log_gas("registerHospitals(20)", regSmall, regLarge);
        emit log_gas("draw(5+10)", drawSmall, drawLarge);
        emit log_gas("settle(15)", settleSmall, settleLarge);
    }

    event log_gas(string what, uint256 atN50, uint256 atN1000);
}
