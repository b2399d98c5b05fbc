// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {StakeVoting} from "../StakeVoting.sol";
import {Fixture} from "./utils/Fixture.sol";

/// @notice Double voting and voting outside the window, fuzzed over the round number, the draw
/// seed, the voter, the votes, the path each vote takes (direct `vote` or relayed `voteBatch`),
/// and the block timestamp and number.
/// @dev The window has no start time of its own: it opens when the draw completes (phase
/// `Voting`, `voteEnd = completion time + votingPeriod`) and closes after `voteEnd`, inclusive;
/// it also closes early once the votes are tallied (phase `Settling`). Block numbers play no
/// part, which the tests check by rolling to arbitrary heights.
contract StakeVotingFuzzTest is Fixture {
    uint256 internal constant N = 20;
    uint256 internal constant COHORT = 3;
    uint256 internal constant COMMITTEE = 7;

    function setUp() public {
        _deploy(uint32(COHORT), uint32(COMMITTEE));
        _register(0, N, 64 ether);
        _fundPool(100 ether);
    }

    function _seed(bytes32 raw) internal pure returns (bytes32) {
        return keccak256(abi.encode(raw)); // never zero
    }

    function _keyOf(address h) internal view returns (uint256) {
        (, uint256 index) = registry.hospitalIndex(h);
        return KEY_BASE + index;
    }

    function _ballots(uint256 round, address voter, bool accept, uint256 copies)
        internal
        view
        returns (StakeVoting.SignedBallot[] memory b)
    {
        bytes memory sig = _sign(_keyOf(voter), voting.ballotDigest(round, voter, accept));
        b = new StakeVoting.SignedBallot[](copies);
        for (uint256 i = 0; i < copies; i++) {
            b[i] = StakeVoting.SignedBallot({voter: voter, accept: accept, signature: sig});
        }
    }

    /// @dev Casts one vote directly or through a relayed batch of one.
    function _cast(uint256 round, address voter, bool accept, bool relayed) internal {
        _castExpecting(round, voter, accept, relayed, "");
    }

    /// @dev As `_cast`, expecting the vote to revert with `err` unless `err` is empty. The ballot
    /// is signed first, so the expectation applies to the vote itself.
    function _castExpecting(uint256 round, address voter, bool accept, bool relayed, bytes memory err) internal {
        StakeVoting.SignedBallot[] memory b;
        if (relayed) b = _ballots(round, voter, accept, 1);
        if (err.length > 0) vm.expectRevert(err);
        if (relayed) {
            vm.prank(stranger); // any relayer
            voting.voteBatch(round, b);
        } else {
            vm.prank(voter);
            voting.vote(round, accept);
        }
    }

    function _expectWrongPhase(uint256 round, StakeVoting.Phase have) internal {
        vm.expectRevert(abi.encodeWithSelector(StakeVoting.WrongPhase.selector, round, have, StakeVoting.Phase.Voting));
    }

    function _votesCounted(uint256 round) internal view returns (uint256) {
        StakeVoting.RoundState memory s = voting.roundState(round);
        return uint256(s.accepts) + s.rejects;
    }

    // ------------------------------------------------------------------ double voting

    /// @dev Whatever the round, voter, choices and paths, a second vote is refused with the first
    /// choice, and only the first is counted. Path 4 puts the same ballot twice in one batch:
    /// the whole batch reverts and nothing is counted.
    function testFuzz_RevertIf_DoubleVote(
        uint256 round,
        bytes32 seed,
        uint256 voterIndex,
        bool first,
        bool second,
        uint256 path,
        uint256 when
    ) public {
        _openAndDraw(round, _seed(seed));
        address[] memory vs = _voters(round);
        address voter = vs[bound(voterIndex, 0, vs.length - 1)];
        uint256 end = voting.roundState(round).voteEnd;
        vm.warp(bound(when, block.timestamp, end));
        _voteTwice(round, voter, first, second, bound(path, 0, 4));
    }

    function _voteTwice(uint256 round, address voter, bool first, bool second, uint256 path) internal {
        StakeVoting.Choice recorded = first ? StakeVoting.Choice.Accept : StakeVoting.Choice.Reject;
        bytes memory err = abi.encodeWithSelector(StakeVoting.AlreadyVoted.selector, voter, round, recorded);
        if (path == 4) {
            StakeVoting.SignedBallot[] memory twice = _ballots(round, voter, first, 2);
            vm.expectRevert(err);
            voting.voteBatch(round, twice);
            assertEq(_votesCounted(round), 0);
            return;
        }
        _cast(round, voter, first, path & 1 == 1);
        _castExpecting(round, voter, second, path & 2 == 2, err);
        StakeVoting.RoundState memory s = voting.roundState(round);
        assertEq(s.accepts, first ? 1 : 0);
        assertEq(s.rejects, first ? 0 : 1);
        (, StakeVoting.Choice choice) = voting.participation(round, voter);
        assertEq(uint256(choice), uint256(recorded));
    }

    /// @dev Two committee members voting once each is not a double vote; a batch mixing a fresh
    /// ballot with one already counted reverts whole, so the fresh one is not counted either.
    function testFuzz_RevertIf_BatchRepeatsACountedVote(uint256 round, bytes32 seed, uint256 a, uint256 b) public {
        _openAndDraw(round, _seed(seed));
        address[] memory vs = _voters(round);
        a = bound(a, 0, vs.length - 1);
        b = bound(b, 0, vs.length - 1);
        vm.assume(a != b);
        _cast(round, vs[a], true, false);
        StakeVoting.SignedBallot[] memory mixed = new StakeVoting.SignedBallot[](2);
        mixed[0] = _ballots(round, vs[b], false, 1)[0];
        mixed[1] = _ballots(round, vs[a], false, 1)[0];
        vm.expectRevert(
            abi.encodeWithSelector(StakeVoting.AlreadyVoted.selector, vs[a], round, StakeVoting.Choice.Accept)
        );
        voting.voteBatch(round, mixed);
        assertEq(_votesCounted(round), 1);
        _cast(round, vs[b], false, true);
        assertEq(voting.roundState(round).rejects, 1);
    }

    // ------------------------------------------------------------------ the window

    /// @dev Before the round is opened here, and while its draw is incomplete, no vote counts:
    /// not from a hospital already drawn into the committee, at no timestamp or block height.
    function testFuzz_RevertIf_VoteBeforeWindowOpens(
        uint256 round,
        bytes32 seed,
        uint256 steps,
        uint256 time,
        uint256 height,
        address anyone,
        bool accept
    ) public {
        vm.assume(anyone != address(vm));
        time = bound(time, block.timestamp, type(uint256).max);
        vm.prank(admin);
        ledger.openRound(round, TASK, _seed(seed));
        vm.warp(time);
        vm.roll(height);
        _expectWrongPhase(round, StakeVoting.Phase.None);
        vm.prank(anyone);
        voting.vote(round, accept);

        vm.warp(1);
        vm.startPrank(admin);
        voting.openRound(round);
        // Fewer steps than the 10 places: the draw cannot complete.
        voting.draw(round, bound(steps, 0, COHORT + COMMITTEE - 1));
        vm.stopPrank();
        assertEq(uint256(voting.roundState(round).phase), uint256(StakeVoting.Phase.Drawing));
        vm.warp(time);
        vm.roll(height);
        StakeVoting.RoundState memory s = voting.roundState(round);
        address drawn = s.voters > 0 ? voting.drawnAt(uint256(s.proposers) + s.voters - 1) : hospital(0);
        _expectWrongPhase(round, StakeVoting.Phase.Drawing);
        vm.prank(drawn);
        voting.vote(round, accept);
        StakeVoting.SignedBallot[] memory b = _ballots(round, drawn, accept, 1);
        _expectWrongPhase(round, StakeVoting.Phase.Drawing);
        voting.voteBatch(round, b);
        _expectWrongPhase(round, StakeVoting.Phase.Drawing);
        vm.prank(anyone);
        voting.vote(round, accept);
        assertEq(_votesCounted(round), 0);
    }

    /// @dev Any time from the draw's completion up to `voteEnd` inclusive, at any block height.
    function testFuzz_VoteInsideWindowCounts(
        uint256 round,
        bytes32 seed,
        uint256 voterIndex,
        uint256 time,
        uint256 height,
        bool accept,
        bool relayed
    ) public {
        _openAndDraw(round, _seed(seed));
        uint256 end = voting.roundState(round).voteEnd;
        assertEq(end, block.timestamp + PERIOD);
        address[] memory vs = _voters(round);
        address voter = vs[bound(voterIndex, 0, vs.length - 1)];
        // A quarter of the runs on each edge of the window, the rest anywhere inside it.
        uint256 edge = time % 4;
        vm.warp(edge == 0 ? block.timestamp : edge == 1 ? end : bound(time, block.timestamp, end));
        vm.roll(height);
        _cast(round, voter, accept, relayed);
        assertEq(_votesCounted(round), 1);
    }

    /// @dev The boundary exactly: a vote at `voteEnd` counts, one a second later does not.
    function test_WindowIncludesVoteEndAndNotASecondMore() public {
        _openAndDraw(1, _seed("boundary"));
        address[] memory vs = _voters(1);
        uint256 end = voting.roundState(1).voteEnd;
        vm.warp(end);
        _cast(1, vs[0], true, false);
        _cast(1, vs[1], false, true);
        vm.warp(end + 1);
        _castExpecting(
            1, vs[2], true, false, abi.encodeWithSelector(StakeVoting.VotingClosed.selector, 1, end + 1, end)
        );
        _castExpecting(1, vs[3], true, true, abi.encodeWithSelector(StakeVoting.VotingClosed.selector, 1, end + 1, end));
        assertEq(_votesCounted(1), 2);
    }

    /// @dev Any time after `voteEnd`, however far, at any block height, by either path; the
    /// round then settles with the votes cast inside the window only.
    function testFuzz_RevertIf_VoteAfterWindowCloses(
        uint256 round,
        bytes32 seed,
        uint256 voterIndex,
        uint256 late,
        uint256 height,
        bool accept,
        bool relayed
    ) public {
        _openAndDraw(round, _seed(seed));
        address[] memory vs = _voters(round);
        uint256 index = bound(voterIndex, 0, vs.length - 1);
        _cast(round, vs[(index + 1) % vs.length], true, false); // another member votes in time
        vm.roll(height);
        _voteLate(round, vs[index], late, accept, relayed);
        assertEq(_votesCounted(round), 1);
        voting.settle(round, 100);
        assertTrue(voting.roundState(round).accepted);
    }

    function _voteLate(uint256 round, address voter, uint256 late, bool accept, bool relayed) internal {
        uint256 end = voting.roundState(round).voteEnd;
        uint256 time = late % 4 == 0 ? end + 1 : bound(late, end + 1, type(uint256).max);
        vm.warp(time);
        bytes memory err = abi.encodeWithSelector(StakeVoting.VotingClosed.selector, round, time, end);
        _castExpecting(round, voter, accept, relayed, err);
    }

    /// @dev Once the votes are tallied the window is shut, even before `voteEnd`: a vote while
    /// settling (chunked) or after settlement is refused, whoever casts it.
    function testFuzz_RevertIf_VoteAfterTally(uint256 round, bytes32 seed, uint256 chunk, uint256 time, bool relayed)
        public
    {
        _openAndDraw(round, _seed(seed));
        address[] memory vs = _voters(round);
        for (uint256 i = 0; i < vs.length; i++) {
            _cast(round, vs[i], i % 2 == 0, false);
        }
        uint256 end = voting.roundState(round).voteEnd;
        voting.settle(round, bound(chunk, 0, COHORT + COMMITTEE - 1)); // all voted: tallies early
        assertEq(uint256(voting.roundState(round).phase), uint256(StakeVoting.Phase.Settling));
        vm.warp(bound(time, block.timestamp, end));
        // A committee member that has voted, and one that (in a fresh batch) would try again.
        address voter = vs[0];
        if (relayed) {
            StakeVoting.SignedBallot[] memory b = _ballots(round, voter, false, 1);
            _expectWrongPhase(round, StakeVoting.Phase.Settling);
            voting.voteBatch(round, b);
        } else {
            _expectWrongPhase(round, StakeVoting.Phase.Settling);
            vm.prank(voter);
            voting.vote(round, false);
        }
        while (!voting.settle(round, 3)) {}
        _expectWrongPhase(round, StakeVoting.Phase.Settled);
        vm.prank(voter);
        voting.vote(round, false);
        assertEq(_votesCounted(round), vs.length);
    }
}
