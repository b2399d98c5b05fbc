// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {FederationLedger} from "../FederationLedger.sol";
import {Reputation} from "../Reputation.sol";
import {Fixture} from "./utils/Fixture.sol";

/// @notice Double attestation fuzzed over the round, the validator, both attested pairs and
/// whether the round is already final; round numbers at the edges of uint256.
contract FederationLedgerFuzzTest is Fixture {
    bytes32 internal constant SEED = keccak256("ledger fuzz");

    function setUp() public {
        _deploy(2, 3);
    }

    /// @dev Attestations must be non-zero; keep the fuzzed value unless it is zero.
    function _nonZero(bytes32 x) internal pure returns (bytes32) {
        return x == bytes32(0) ? bytes32(uint256(1)) : x;
    }

    function _attest(address v, uint256 round, bytes32 root, bytes32 model) internal {
        vm.prank(v);
        ledger.attest(round, root, model);
    }

    /// @dev Whether the second pair repeats the first or differs, and whether or not a quorum
    /// made the round final before, a validator's second attestation of a round is refused and
    /// changes no count, no finality and no final value.
    function testFuzz_RevertIf_DoubleAttestation(
        uint256 round,
        uint256 who,
        bytes32 root1,
        bytes32 model1,
        bytes32 root2,
        bytes32 model2,
        bool repeat,
        bool finalFirst
    ) public {
        (root1, model1) = (_nonZero(root1), _nonZero(model1));
        (root2, model2) = repeat ? (root1, model1) : (_nonZero(root2), _nonZero(model2));
        vm.prank(admin);
        ledger.openRound(round, TASK, SEED);
        address v = validators[bound(who, 0, validators.length - 1)];
        _attest(v, round, root1, model1);
        if (finalFirst) {
            // Two more validators bring the first pair to the quorum of 3 out of 4.
            for (uint256 i = 0; i < validators.length && ledger.attestationCount(round, root1, model1) < 3; i++) {
                if (validators[i] != v) _attest(validators[i], round, root1, model1);
            }
        }
        uint256 count1 = ledger.attestationCount(round, root1, model1);
        uint256 count2 = ledger.attestationCount(round, root2, model2);
        bool wasFinal = ledger.isFinal(round);
        assertEq(wasFinal, finalFirst);

        vm.prank(v);
        vm.expectRevert(abi.encodeWithSelector(FederationLedger.AlreadyAttested.selector, v, round, root2, model2));
        ledger.attest(round, root2, model2);

        assertEq(ledger.attestationCount(round, root1, model1), count1);
        assertEq(ledger.attestationCount(round, root2, model2), count2);
        assertEq(ledger.isFinal(round), wasFinal);
        if (wasFinal) {
            assertEq(ledger.finalPayloadRoot(round), root1);
            assertEq(ledger.finalModelHash(round), model1);
        }
        assertTrue(ledger.hasAttested(round, v));
    }

    /// @dev A minority cannot reach the quorum by attesting twice: with 4 validators (quorum 3),
    /// one honest pair and two colluders, the colluders' second attestations are refused and the
    /// round stays undecided until the last honest validator attests.
    function testFuzz_RevertIf_ColludersAttestTwiceToReachQuorum(uint256 round, bytes32 bad, uint256 order) public {
        bad = _nonZero(bad);
        bytes32 root = keccak256("root");
        bytes32 model = keccak256("model");
        vm.assume(bad != model);
        vm.prank(admin);
        ledger.openRound(round, TASK, SEED);
        uint256 first = bound(order, 0, 3);
        address c1 = validators[first];
        address c2 = validators[(first + 1) % 4];
        _attest(c1, round, root, bad);
        _attest(c2, round, root, bad);
        vm.prank(c1);
        vm.expectRevert(abi.encodeWithSelector(FederationLedger.AlreadyAttested.selector, c1, round, root, bad));
        ledger.attest(round, root, bad);
        assertFalse(ledger.isFinal(round));
        _attest(validators[(first + 2) % 4], round, root, model);
        _attest(validators[(first + 3) % 4], round, root, model);
        assertEq(ledger.attestationCount(round, root, bad), 2);
        assertFalse(ledger.isFinal(round), "2 + 2 of 4 is no quorum");
    }

    /// @dev Attesting one round does not count as attesting another: the same validator attests
    /// any two distinct rounds once each.
    function testFuzz_AttestationIsPerRound(uint256 roundA, uint256 roundB, bytes32 root, bytes32 model) public {
        vm.assume(roundA != roundB);
        (root, model) = (_nonZero(root), _nonZero(model));
        vm.startPrank(admin);
        ledger.openRound(roundA, TASK, SEED);
        ledger.openRound(roundB, TASK, keccak256(abi.encode(SEED)));
        vm.stopPrank();
        _attest(validators[0], roundA, root, model);
        assertFalse(ledger.hasAttested(roundB, validators[0]));
        _attest(validators[0], roundB, root, model);
        assertEq(ledger.attestationCount(roundA, root, model), 1);
        assertEq(ledger.attestationCount(roundB, root, model), 1);
    }

    /// @dev The ledger takes any round number, up to 2^256 − 1, for recording, opening and
    /// attesting. The reputation contract stores `round + 1` in 48 bits: from round 2^48 − 1 on it
    /// refuses the update outright (SafeCast or checked-add revert) and keeps no partial state.
    function testFuzz_RoundNumbersAtUint256Edges(uint256 raw, uint8 pick) public {
        uint256[6] memory edges =
            [uint256(0), 1, (uint256(1) << 48) - 2, (uint256(1) << 48) - 1, type(uint256).max - 1, type(uint256).max];
        uint256 round = pick % 8 < 6 ? edges[pick % 8] : raw;
        bytes32 root = keccak256("root");
        bytes32 model = keccak256("model");
        vm.startPrank(admin);
        ledger.recordRound(round, root, model);
        ledger.openRound(round, TASK, SEED);
        vm.stopPrank();
        assertEq(ledger.latestRound(), round);
        for (uint256 i = 0; i < 3; i++) {
            _attest(validators[i], round, root, model);
        }
        assertTrue(ledger.finalMatchesRecord(round));

        address[] memory hs = new address[](1);
        hs[0] = hospital(0);
        uint256[] memory perf = new uint256[](1);
        perf[0] = 0.9e18;
        vm.prank(admin);
        if (round >= (uint256(1) << 48) - 1) {
            vm.expectRevert();
            reputation.update(round, hs, perf);
            assertEq(reputation.updateCount(round), 0);
            Reputation.Record memory rec = reputation.recordOf(hospital(0));
            assertEq(rec.lastRoundPlusOne, 0);
        } else {
            reputation.update(round, hs, perf);
            assertEq(uint256(reputation.recordOf(hospital(0)).lastRoundPlusOne), round + 1);
        }
    }
}
