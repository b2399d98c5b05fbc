// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {FederationLedger} from "../FederationLedger.sol";
import {Test} from "./utils/Test.sol";

contract FederationLedgerTest is Test {
    event RoundRecorded(uint256 indexed round, bytes32 payloadRoot, bytes32 modelHash);

    FederationLedger internal ledger;
    address internal coordinator = address(0xC0FFEE);
    address internal stranger = address(0xBAD);

    bytes32 internal constant ROOT = keccak256("root");
    bytes32 internal constant MODEL = keccak256("model");

    function setUp() public {
        ledger = new FederationLedger(coordinator);
    }

    // ---- helpers: a sorted-pair Merkle tree, odd node promoted, as bflray.chain.merkle builds it

    function _hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }

    function _leaves(uint256 n) internal view returns (bytes32[] memory leaves) {
        leaves = new bytes32[](n);
        for (uint256 i = 0; i < n; i++) {
            leaves[i] = ledger.payloadLeaf(i + 100, keccak256(abi.encode("payload", i)));
        }
    }

    function _record(uint256 round, bytes32 root) internal {
        vm.prank(coordinator);
        ledger.recordRound(round, root, MODEL);
    }

    // ---- recording

    function test_RecordRoundStoresRootAndModelHash() public {
        _record(3, ROOT);

        assertTrue(ledger.isRecorded(3));
        assertEq(ledger.payloadRoot(3), ROOT);
        assertEq(ledger.modelHash(3), MODEL);
        assertEq(ledger.latestRound(), 3);
        assertEq(ledger.roundCount(), 1);
    }

    function test_RecordRoundEmitsRoundRecorded() public {
        vm.expectEmit(true, false, false, true, address(ledger));
        emit RoundRecorded(7, ROOT, MODEL);
        _record(7, ROOT);
    }

    function test_LatestRoundIsHighestRecordedWhateverTheOrder() public {
        _record(5, ROOT);
        _record(2, ROOT);
        _record(0, ROOT);

        assertEq(ledger.latestRound(), 5);
        assertEq(ledger.roundCount(), 3);
        assertTrue(ledger.isRecorded(0));
        assertFalse(ledger.isRecorded(1));
    }

    function test_OwnerIsTheInitialOwner() public view {
        assertEq(ledger.owner(), coordinator);
    }

    function testFuzz_RecordRoundStoresValues(uint256 round, bytes32 root, bytes32 model) public {
        round = bound(round, 0, 1_000_000);
        vm.assume(root != bytes32(0) && model != bytes32(0));

        vm.prank(coordinator);
        ledger.recordRound(round, root, model);

        assertEq(ledger.payloadRoot(round), root);
        assertEq(ledger.modelHash(round), model);
        assertEq(ledger.latestRound(), round);
    }

    function test_RevertIf_RoundRecordedTwice() public {
        _record(1, ROOT);
        vm.expectRevert(abi.encodeWithSelector(FederationLedger.RoundAlreadyRecorded.selector, 1));
        _record(1, keccak256("other root"));
    }

    function test_RevertIf_CallerIsNotOwner() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        ledger.recordRound(1, ROOT, MODEL);
    }

    function test_RevertIf_RootIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(FederationLedger.ZeroRoot.selector, 4));
        _record(4, bytes32(0));
    }

    function test_RevertIf_ModelHashIsZero() public {
        vm.prank(coordinator);
        vm.expectRevert(abi.encodeWithSelector(FederationLedger.ZeroModelHash.selector, 4));
        ledger.recordRound(4, ROOT, bytes32(0));
    }

    function test_RevertIf_ReadingUnrecordedRound() public {
        vm.expectRevert(abi.encodeWithSelector(FederationLedger.RoundNotRecorded.selector, 9));
        ledger.payloadRoot(9);
        vm.expectRevert(abi.encodeWithSelector(FederationLedger.RoundNotRecorded.selector, 9));
        ledger.modelHash(9);
    }

    function test_RevertIf_LatestRoundBeforeAnyRound() public {
        vm.expectRevert(FederationLedger.NoRoundRecorded.selector);
        ledger.latestRound();
    }

    // ---- payload proofs

    function test_VerifyPayloadAcceptsEveryLeafOfAFourLeafTree() public {
        bytes32[] memory l = _leaves(4);
        bytes32 left = _hashPair(l[0], l[1]);
        bytes32 right = _hashPair(l[2], l[3]);
        _record(1, _hashPair(left, right));

        for (uint256 i = 0; i < 4; i++) {
            bytes32[] memory proof = new bytes32[](2);
            proof[0] = l[i ^ 1];
            proof[1] = i < 2 ? right : left;
            assertTrue(ledger.verifyPayload(1, i + 100, keccak256(abi.encode("payload", i)), proof));
        }
    }

    function test_VerifyPayloadPromotesTheOddLeaf() public {
        bytes32[] memory l = _leaves(3);
        bytes32 left = _hashPair(l[0], l[1]);
        _record(1, _hashPair(left, l[2]));

        bytes32[] memory proof = new bytes32[](1);
        proof[0] = left;
        assertTrue(ledger.verifyPayload(1, 102, keccak256(abi.encode("payload", uint256(2))), proof));
    }

    function test_VerifyPayloadRejectsWrongHospitalHashOrProof() public {
        bytes32[] memory l = _leaves(2);
        _record(1, _hashPair(l[0], l[1]));
        bytes32 payload = keccak256(abi.encode("payload", uint256(0)));
        bytes32[] memory proof = new bytes32[](1);
        proof[0] = l[1];

        assertTrue(ledger.verifyPayload(1, 100, payload, proof));
        assertFalse(ledger.verifyPayload(1, 101, payload, proof), "wrong hospital");
        assertFalse(ledger.verifyPayload(1, 100, keccak256("swapped"), proof), "wrong payload");
        proof[0] = keccak256("tampered");
        assertFalse(ledger.verifyPayload(1, 100, payload, proof), "tampered proof");
    }

    function testFuzz_VerifyPayloadSingleLeafTree(uint256 hospitalId, bytes32 payloadHash) public {
        bytes32 leaf = ledger.payloadLeaf(hospitalId, payloadHash);
        vm.assume(leaf != bytes32(0));
        _record(1, leaf);

        assertTrue(ledger.verifyPayload(1, hospitalId, payloadHash, new bytes32[](0)));
    }

    function test_PayloadLeafIsKeccakOfAbiEncodedPair() public view {
        assertEq(ledger.payloadLeaf(1, bytes32(uint256(2))), keccak256(abi.encode(uint256(1), bytes32(uint256(2)))));
    }

    function test_RevertIf_VerifyingAgainstUnrecordedRound() public {
        vm.expectRevert(abi.encodeWithSelector(FederationLedger.RoundNotRecorded.selector, 2));
        ledger.verifyPayload(2, 1, ROOT, new bytes32[](0));
    }
}
