// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {StakeVoting} from "../StakeVoting.sol";
import {Registry} from "../Registry.sol";
import {Fixture} from "./utils/Fixture.sol";

contract StakeVotingTest is Fixture {
    bytes32 internal constant SEED = keccak256("seed");
    uint256 internal constant N = 20;

    function setUp() public {
        _deploy(3, 7);
        _register(0, N, 64 ether);
        _fundPool(100 ether);
    }

    function _voteAll(uint256 round, address[] memory vs, uint256 accepts) internal {
        for (uint256 i = 0; i < vs.length; i++) {
            vm.prank(vs[i]);
            voting.vote(round, i < accepts);
        }
    }

    function _conserved() internal view {
        assertEq(token.balanceOf(address(voting)), _sumClaimable(N) + voting.pool() + voting.totalStaked());
    }

    /// @dev The draw re-derived as documented (partial Fisher-Yates over hospital indices).
    function _expectedDraw(bytes32 seed, uint256 n, uint256 k) internal pure returns (uint256[] memory picks) {
        uint256[] memory perm = new uint256[](n);
        for (uint256 i = 0; i < n; i++) perm[i] = i;
        picks = new uint256[](k);
        for (uint256 i = 0; i < k; i++) {
            uint256 j = i + uint256(keccak256(abi.encode(seed, i))) % (n - i);
            picks[i] = perm[j];
            perm[j] = perm[i];
        }
    }

    function test_DrawMatchesDocumentedFisherYates() public {
        _openAndDraw(1, SEED);
        uint256[] memory picks = _expectedDraw(SEED, N, 10);
        for (uint256 i = 0; i < 10; i++) assertEq(voting.drawnAt(i), hospital(picks[i]));
        StakeVoting.RoundState memory s = voting.roundState(1);
        assertEq(s.proposersStaked, 3);
        assertEq(s.votersStaked, 7);
        assertEq(voting.totalStaked(), 3 * GP + 7 * GV);
        _conserved();
    }

    function test_DrawInChunksEqualsDrawAtOnce() public {
        vm.startPrank(admin);
        ledger.openRound(1, TASK, SEED);
        voting.openRound(1);
        bool done;
        while (!done) done = voting.draw(1, 3);
        vm.stopPrank();
        uint256[] memory picks = _expectedDraw(SEED, N, 10);
        for (uint256 i = 0; i < 10; i++) assertEq(voting.drawnAt(i), hospital(picks[i]));
    }

    function test_AcceptRefundsAndRewardsProposersAndPaysMajorityTheMinorityStake() public {
        _openAndDraw(1, SEED);
        address[] memory ps = _proposers(1);
        address[] memory vs = _voters(1);
        _voteAll(1, vs, 5); // 5 accept, 2 reject
        voting.settle(1, 100);

        for (uint256 i = 0; i < ps.length; i++) assertEq(voting.claimableOf(ps[i]), 64 ether + REWARD);
        uint256 share = (2 * uint256(GV)) / 5;
        for (uint256 i = 0; i < 5; i++) assertEq(voting.claimableOf(vs[i]), 64 ether + share);
        for (uint256 i = 5; i < 7; i++) assertEq(voting.claimableOf(vs[i]), 64 ether - GV);
        assertEq(voting.pool(), 100 ether - 3 * REWARD + (2 * uint256(GV) - 5 * share));
        assertEq(voting.totalStaked(), 0);
        _conserved();
    }

    function test_RejectSlashesProposersToThePool() public {
        _openAndDraw(1, SEED);
        address[] memory ps = _proposers(1);
        address[] memory vs = _voters(1);
        _voteAll(1, vs, 2); // 2 accept, 5 reject
        voting.settle(1, 100);

        for (uint256 i = 0; i < ps.length; i++) assertEq(voting.claimableOf(ps[i]), 64 ether - GP);
        uint256 share = (2 * uint256(GV)) / 5;
        for (uint256 i = 2; i < 7; i++) assertEq(voting.claimableOf(vs[i]), 64 ether + share);
        assertEq(voting.pool(), 100 ether + 3 * GP + (2 * uint256(GV) - 5 * share));
        assertFalse(voting.roundState(1).accepted);
        _conserved();
    }

    function test_TieRejectsAndRefundsVotersAbstainersForfeit() public {
        _openAndDraw(1, SEED);
        address[] memory vs = _voters(1);
        for (uint256 i = 0; i < 6; i++) {
            vm.prank(vs[i]);
            voting.vote(1, i % 2 == 0);
        }
        vm.warp(block.timestamp + PERIOD + 1);
        voting.settle(1, 100);
        for (uint256 i = 0; i < 6; i++) assertEq(voting.claimableOf(vs[i]), 64 ether);
        assertEq(voting.claimableOf(vs[6]), 64 ether - GV);
        assertEq(voting.pool(), 100 ether + 3 * GP + GV);
        _conserved();
    }

    function test_HospitalThatCannotStakeIsRemoved() public {
        address poor = hospital(N);
        address[] memory one = new address[](1);
        one[0] = poor;
        vm.prank(admin);
        registry.registerHospitals(one); // no deposit
        bytes32 seed;
        uint256[] memory picks;
        for (uint256 s = 0;; s++) {
            seed = keccak256(abi.encode(s));
            picks = _expectedDraw(seed, N + 1, 10);
            bool hit;
            for (uint256 i = 0; i < 10; i++) if (picks[i] == N) hit = true;
            if (hit) break;
        }
        _openAndDraw(1, seed);
        assertEq(uint256(registry.statusOf(poor)), uint256(Registry.Status.Removed));
        (StakeVoting.Role role,) = voting.participation(1, poor);
        assertEq(uint256(role), uint256(StakeVoting.Role.Removed));
        StakeVoting.RoundState memory s = voting.roundState(1);
        assertEq(uint256(s.proposersStaked) + s.votersStaked, 9);
    }

    function test_BatchedVotesWithSignaturesCount() public {
        _openAndDraw(1, SEED);
        StakeVoting.SignedBallot[] memory ballots = _ballots(1, 7);
        voting.voteBatch(1, ballots);
        assertEq(voting.roundState(1).accepts, 7);
        voting.settle(1, 100);
        assertTrue(voting.roundState(1).accepted);
        _conserved();
    }

    function _ballots(uint256 round, uint256 k) internal view returns (StakeVoting.SignedBallot[] memory ballots) {
        ballots = new StakeVoting.SignedBallot[](k);
        StakeVoting.RoundState memory s = voting.roundState(round);
        uint256[] memory picks = _expectedDraw(SEED, N, uint256(s.proposers) + s.voters);
        for (uint256 i = 0; i < k; i++) {
            uint256 idx = picks[s.proposers + i];
            address v = hospital(idx);
            ballots[i] = StakeVoting.SignedBallot({
                voter: v, accept: true, signature: _sign(KEY_BASE + idx, voting.ballotDigest(round, v, true))
            });
        }
    }

    function test_WithdrawPaysOutTheBalance() public {
        address h = hospital(0);
        vm.prank(h);
        voting.withdraw(10 ether);
        assertEq(token.balanceOf(h), 10 ether);
        assertEq(voting.claimableOf(h), 54 ether);
    }

    function testFuzz_SettlementConservesTokens(uint256 accepts, uint256 voted, bytes32 seed, uint256 chunk) public {
        vm.assume(seed != bytes32(0));
        voted = bound(voted, 0, 7);
        accepts = bound(accepts, 0, voted);
        chunk = bound(chunk, 1, 12);
        _openAndDraw(1, seed);
        address[] memory vs = _voters(1);
        for (uint256 i = 0; i < voted; i++) {
            vm.prank(vs[i]);
            voting.vote(1, i < accepts);
        }
        vm.warp(block.timestamp + PERIOD + 1);
        while (!voting.settle(1, chunk)) {}
        assertEq(voting.totalStaked(), 0);
        _conserved();
        assertEq(voting.roundState(1).accepted, accepts * 2 > voted);
    }

    // ---- reverts

    function test_RevertIf_DoubleVote() public {
        _openAndDraw(1, SEED);
        address v = _voters(1)[0];
        vm.startPrank(v);
        voting.vote(1, true);
        vm.expectRevert(
            abi.encodeWithSelector(StakeVoting.AlreadyVoted.selector, v, 1, StakeVoting.Choice.Accept)
        );
        voting.vote(1, false);
        vm.stopPrank();
    }

    function test_RevertIf_VoteAfterWindow() public {
        _openAndDraw(1, SEED);
        address v = _voters(1)[0];
        uint256 end = voting.roundState(1).voteEnd;
        vm.warp(end + 1);
        vm.prank(v);
        vm.expectRevert(abi.encodeWithSelector(StakeVoting.VotingClosed.selector, 1, end + 1, end));
        voting.vote(1, true);
    }

    function test_RevertIf_VoteBeforeDrawCompletes() public {
        vm.startPrank(admin);
        ledger.openRound(1, TASK, SEED);
        voting.openRound(1);
        vm.stopPrank();
        vm.expectRevert(
            abi.encodeWithSelector(
                StakeVoting.WrongPhase.selector, 1, StakeVoting.Phase.Drawing, StakeVoting.Phase.Voting
            )
        );
        voting.vote(1, true);
    }

    function test_RevertIf_VoterNotInCommittee() public {
        _openAndDraw(1, SEED);
        address p = _proposers(1)[0];
        vm.prank(p);
        vm.expectRevert(abi.encodeWithSelector(StakeVoting.NotCommitteeMember.selector, p, 1));
        voting.vote(1, true);
    }

    function test_RevertIf_RelayerForgesBallot() public {
        _openAndDraw(1, SEED);
        StakeVoting.SignedBallot[] memory ballots = _ballots(1, 2);
        ballots[1].accept = false; // flipped by the relayer
        address signer = _recover(1, ballots[1]);
        vm.expectRevert(abi.encodeWithSelector(StakeVoting.ForgedBallot.selector, ballots[1].voter, signer));
        voting.voteBatch(1, ballots);
    }

    function _recover(uint256 round, StakeVoting.SignedBallot memory b) internal view returns (address) {
        bytes memory sig = b.signature;
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := mload(add(sig, 32))
            s := mload(add(sig, 64))
            v := byte(0, mload(add(sig, 96)))
        }
        return ecrecover(voting.ballotDigest(round, b.voter, b.accept), v, r, s);
    }

    function test_RevertIf_SettleWhileVotingOpen() public {
        _openAndDraw(1, SEED);
        uint256 end = voting.roundState(1).voteEnd;
        vm.expectRevert(abi.encodeWithSelector(StakeVoting.VotingStillOpen.selector, 1, block.timestamp, end));
        voting.settle(1, 10);
    }

    function test_RevertIf_OpenRoundWhilePreviousUnsettled() public {
        _openAndDraw(1, SEED);
        vm.startPrank(admin);
        ledger.openRound(2, TASK, SEED);
        vm.expectRevert(abi.encodeWithSelector(StakeVoting.RoundInProgress.selector, 1));
        voting.openRound(2);
        vm.stopPrank();
    }

    function test_RevertIf_WithdrawBeyondBalance() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(StakeVoting.InsufficientBalance.selector, stranger, 0, 1));
        voting.withdraw(1);
    }

    function test_RevertIf_OpenRoundCallerIsNotOwner() public {
        vm.prank(admin);
        ledger.openRound(1, TASK, SEED);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        voting.openRound(1);
    }

    function test_RevertIf_DrawCallerIsNotOwner() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        voting.draw(1, 10);
    }

    function test_RevertIf_SetStakesCallerIsNotOwner() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        voting.setStakes(StakeVoting.Stakes({proposerStake: 1, voterStake: 1, proposerReward: 0, votingPeriod: 1}));
    }

    function test_RevertIf_DepositZeroOrMismatchedArrays() public {
        vm.expectRevert(StakeVoting.InvalidAmount.selector);
        voting.deposit(0);
        vm.expectRevert(StakeVoting.InvalidAmount.selector);
        voting.depositFor(new address[](1), new uint256[](2));
        vm.expectRevert(StakeVoting.InvalidAmount.selector);
        voting.fundPool(0);
    }

    function test_RevertIf_StakesInvalid() public {
        vm.prank(admin);
        vm.expectRevert(StakeVoting.InvalidStakes.selector);
        voting.setStakes(StakeVoting.Stakes({proposerStake: 0, voterStake: 1, proposerReward: 0, votingPeriod: 1}));
    }

    function test_RevertIf_MintCallerIsNotOwner() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        token.mint(stranger, 1);
    }

    function test_RewardContributionsPaysFromThePoolAndConservesTokens() public {
        address[] memory hs = new address[](2);
        hs[0] = hospital(0);
        hs[1] = hospital(5);
        uint256[] memory amounts = new uint256[](2);
        amounts[0] = 3 ether;
        amounts[1] = 7 ether;
        vm.prank(admin);
        voting.rewardContributions(4, hs, amounts);
        assertEq(voting.claimableOf(hs[0]), 64 ether + 3 ether);
        assertEq(voting.claimableOf(hs[1]), 64 ether + 7 ether);
        assertEq(voting.pool(), 90 ether);
        _conserved();
    }

    function testFuzz_RewardContributionsNeverExceedsThePool(uint256 a, uint256 b) public {
        a = bound(a, 0, 200 ether);
        b = bound(b, 0, 200 ether);
        address[] memory hs = new address[](2);
        hs[0] = hospital(1);
        hs[1] = hospital(2);
        uint256[] memory amounts = new uint256[](2);
        amounts[0] = a;
        amounts[1] = b;
        vm.prank(admin);
        if (a + b > 100 ether) {
            vm.expectRevert(abi.encodeWithSelector(StakeVoting.PoolTooSmall.selector, 100 ether, a + b));
            voting.rewardContributions(1, hs, amounts);
        } else {
            voting.rewardContributions(1, hs, amounts);
            assertEq(voting.pool(), 100 ether - a - b);
        }
        _conserved();
    }

    function test_RevertIf_RewardContributionsCallerIsNotOwner() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        voting.rewardContributions(1, new address[](0), new uint256[](0));
    }

    function test_RevertIf_RewardContributionsArraysMismatch() public {
        vm.prank(admin);
        vm.expectRevert(StakeVoting.InvalidAmount.selector);
        voting.rewardContributions(1, new address[](1), new uint256[](2));
    }

    function _reserveAll() internal {
        address[] memory hs = new address[](N);
        for (uint256 i = 0; i < N; i++) hs[i] = hospital(i);
        vm.prank(admin);
        voting.reserveSlots(hs, 0, N, 10);
    }

    function test_ReservedSlotsLeaveTheDrawAndSettlementUnchanged() public {
        _reserveAll();
        _reserveAll(); // idempotent
        _openAndDraw(1, SEED);
        uint256[] memory picks = _expectedDraw(SEED, N, 10);
        for (uint256 i = 0; i < 10; i++) assertEq(voting.drawnAt(i), hospital(picks[i]));
        address[] memory vs = _voters(1);
        assertEq(vs.length, 7);
        _voteAll(1, vs, 5);
        voting.settle(1, 100);
        address[] memory ps = _proposers(1);
        for (uint256 i = 0; i < ps.length; i++) assertEq(voting.claimableOf(ps[i]), 64 ether + REWARD);
        _conserved();
    }

    function test_RevertIf_ReserveSlotsCallerIsNotOwner() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        voting.reserveSlots(new address[](0), 0, 1, 1);
    }
}
