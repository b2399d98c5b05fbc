// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {StakeVoting} from "../StakeVoting.sol";
import {FederationLedger} from "../FederationLedger.sol";
import {Fixture} from "./utils/Fixture.sol";
import {Test} from "./utils/Test.sol";

/// @notice Drives whole rounds (open, draw, votes, settle in chunks) and withdrawals at random.
contract StakeVotingHandler is Test {
    StakeVoting internal immutable v;
    FederationLedger internal immutable ledger;
    address internal immutable admin;
    uint256 public round;
    uint256 public constant N = 16;
    uint256 internal constant KEY_BASE = 1000;
    uint256 internal constant PERIOD = 600;

    constructor(StakeVoting voting, FederationLedger ledger_, address admin_) {
        v = voting;
        ledger = ledger_;
        admin = admin_;
    }

    function playRound(uint256 seed, uint256 accepts, uint256 voted, uint256 chunk) external {
        if (round > 0 && v.roundState(round).phase != StakeVoting.Phase.Settled) return;
        round += 1;
        bytes32 s = keccak256(abi.encode(seed, round));
        vm.startPrank(admin);
        ledger.openRound(round, 1, s);
        v.openRound(round);
        v.draw(round, 64);
        vm.stopPrank();
        StakeVoting.RoundState memory st = v.roundState(round);
        voted = voted % (uint256(st.voters) + 1);
        accepts = voted == 0 ? 0 : accepts % (voted + 1);
        uint256 counted = 0;
        for (uint256 i = st.proposers; i < uint256(st.proposers) + st.voters && counted < voted; i++) {
            address h = v.drawnAt(i);
            (StakeVoting.Role role,) = v.participation(round, h);
            if (role != StakeVoting.Role.Voter) continue;
            vm.prank(h);
            v.vote(round, counted < accepts);
            counted++;
        }
        vm.warp(block.timestamp + PERIOD + 1);
        chunk = chunk % 8 + 1;
        while (!v.settle(round, chunk)) {}
    }

    function withdraw(uint256 who, uint256 amount) external {
        address h = vm.addr(KEY_BASE + who % N);
        uint256 have = v.claimableOf(h);
        if (have == 0) return;
        amount = amount % have + 1;
        vm.prank(h);
        v.withdraw(amount);
    }
}

contract StakeVotingInvariantTest is Fixture {
    StakeVotingHandler internal handler;

    function setUp() public {
        _deploy(3, 6);
        _register(0, 16, 40 ether);
        _fundPool(50 ether);
        handler = new StakeVotingHandler(voting, ledger, admin);
        targetContract(address(handler));
    }

    /// @dev total supply == tokens outside the contract + balances + pool + staked.
    function invariant_TokensAreConserved() public view {
        uint256 outside = token.balanceOf(admin);
        for (uint256 i = 0; i < 16; i++) outside += token.balanceOf(hospital(i));
        assertEq(token.totalSupply(), outside + _sumClaimable(16) + voting.pool() + voting.totalStaked());
        assertEq(token.balanceOf(address(voting)), _sumClaimable(16) + voting.pool() + voting.totalStaked());
    }

    function invariant_NothingStakedBetweenRounds() public view {
        uint256 r = handler.round();
        if (r == 0 || voting.roundState(r).phase == StakeVoting.Phase.Settled) {
            assertEq(voting.totalStaked(), 0);
        }
    }
}
