// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {StakeVoting} from "../StakeVoting.sol";
import {IFederationLedger} from "../interfaces/IFederationLedger.sol";
import {IRegistry} from "../interfaces/IRegistry.sol";
import {Fixture} from "./utils/Fixture.sol";

/// @notice Token and stake arithmetic at the edges of uint256 (and of the uint128/uint64 fields
/// the voting contract packs stakes, payouts and times into): every amount is either refused
/// before any state changes, or handled exactly, never wrapped.
/// @dev Why no balance here can overflow: the token's `totalSupply` is checked on mint, every
/// balance is at most the supply, and the voting contract's balances, pool and stakes sum to its
/// token balance (conservation). So the only reachable overflows are in sums of caller-supplied
/// amounts (`depositFor`, `rewardContributions`, refused with Panic 0x11 before any transfer)
/// and in the narrower packed fields, which `StakeVoting` bounds when stakes are set and rounds
/// opened (`testFuzz_HugeStakesSettleExactlyOrAreRefusedUpFront`).
contract StakeArithmeticFuzzTest is Fixture {
    uint256 internal constant N = 20;
    uint256 internal constant COHORT = 3;
    uint256 internal constant COMMITTEE = 7;
    uint256 internal constant MAX = type(uint256).max;
    uint128 internal constant MAX128 = type(uint128).max;
    bytes internal constant OVERFLOW = abi.encodeWithSignature("Panic(uint256)", 0x11);

    address internal whale = address(0x3A1E);

    // The round under test (storage keeps the fuzz tests under the stack limit).
    uint128 internal gp;
    uint128 internal gv;
    uint128 internal reward;
    uint256 internal deposit;
    uint256 internal pool0;

    function setUp() public {
        _deploy(uint32(COHORT), uint32(COMMITTEE));
        _register(0, N, 0); // registered, nothing minted: the whole supply range is free
    }

    function _mint(address to, uint256 amount) internal {
        vm.prank(admin);
        token.mint(to, amount);
    }

    function _conserved() internal view {
        assertEq(
            token.balanceOf(address(voting)),
            _sumClaimable(N) + voting.claimableOf(whale) + voting.pool() + voting.totalStaked()
        );
    }

    function _stakes(uint128 p, uint128 v, uint128 r, uint64 period) internal pure returns (StakeVoting.Stakes memory) {
        return StakeVoting.Stakes({proposerStake: p, voterStake: v, proposerReward: r, votingPeriod: period});
    }

    // ------------------------------------------------------------------ the token

    function testFuzz_MintRefusesSupplyOverflow(uint256 a, uint256 b) public {
        _mint(whale, a);
        bool overflows = b > MAX - a;
        if (overflows) vm.expectRevert(OVERFLOW);
        _mint(hospital(0), b);
        assertEq(token.balanceOf(whale), a);
        assertEq(token.balanceOf(hospital(0)), overflows ? 0 : b);
        assertEq(token.totalSupply(), overflows ? a : a + b);
    }

    function testFuzz_TransferAtMaxSupplyIsExact(uint256 amount, uint256 back) public {
        _mint(whale, MAX);
        vm.prank(whale);
        token.transfer(hospital(0), amount);
        assertEq(token.balanceOf(whale), MAX - amount);
        assertEq(token.balanceOf(hospital(0)), amount);
        back = bound(back, 0, MAX);
        vm.prank(hospital(0));
        if (back > amount) {
            vm.expectRevert(
                abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, hospital(0), amount, back)
            );
        }
        token.transfer(whale, back);
        uint256 moved = back > amount ? 0 : back;
        assertEq(token.balanceOf(whale), MAX - amount + moved);
        assertEq(token.balanceOf(hospital(0)) + token.balanceOf(whale), MAX);
    }

    // ------------------------------------------------------------------ deposits and withdrawals

    function testFuzz_DepositAndWithdrawAtUint256Edges(uint256 amount, uint256 out) public {
        _mint(whale, amount);
        vm.startPrank(whale);
        token.approve(address(voting), MAX);
        if (amount == 0) vm.expectRevert(StakeVoting.InvalidAmount.selector);
        voting.deposit(amount);
        assertEq(voting.claimableOf(whale), amount);
        assertEq(token.balanceOf(address(voting)), amount);
        if (out == 0) {
            vm.expectRevert(StakeVoting.InvalidAmount.selector);
        } else if (out > amount) {
            vm.expectRevert(abi.encodeWithSelector(StakeVoting.InsufficientBalance.selector, whale, amount, out));
        }
        voting.withdraw(out);
        vm.stopPrank();
        uint256 paid = out == 0 || out > amount ? 0 : out;
        assertEq(voting.claimableOf(whale), amount - paid);
        assertEq(token.balanceOf(whale), paid);
        _conserved();
    }

    /// @dev The sum of the amounts overflows before any token moves; the same hospital twice
    /// overflows its balance the same way.
    function testFuzz_RevertIf_DepositForTotalOverflows(uint256 a, uint256 b, bool sameHospital) public {
        a = bound(a, 1, MAX);
        b = bound(b, MAX - a + 1, MAX); // a + b > MAX
        address[] memory hs = new address[](2);
        hs[0] = hospital(0);
        hs[1] = sameHospital ? hospital(0) : hospital(1);
        uint256[] memory amounts = new uint256[](2);
        (amounts[0], amounts[1]) = (a, b);
        _mint(whale, a);
        vm.startPrank(whale);
        token.approve(address(voting), MAX);
        vm.expectRevert(OVERFLOW);
        voting.depositFor(hs, amounts);
        vm.stopPrank();
        assertEq(voting.claimableOf(hospital(0)) + voting.claimableOf(hospital(1)), 0);
        assertEq(token.balanceOf(whale), a);
    }

    function testFuzz_RevertIf_RewardContributionsTotalOverflows(uint256 funded, uint256 a, uint256 b) public {
        funded = bound(funded, 1, MAX);
        a = bound(a, 1, MAX);
        b = bound(b, MAX - a + 1, MAX);
        _fundPool(funded);
        address[] memory hs = new address[](2);
        (hs[0], hs[1]) = (hospital(0), hospital(1));
        uint256[] memory amounts = new uint256[](2);
        (amounts[0], amounts[1]) = (a, b);
        vm.prank(admin);
        vm.expectRevert(OVERFLOW);
        voting.rewardContributions(1, hs, amounts);
        assertEq(voting.pool(), funded);
        assertEq(voting.claimableOf(hospital(0)) + voting.claimableOf(hospital(1)), 0);
    }

    /// @dev With the whole supply deposited, every path that would credit more is refused.
    function test_NoBalanceOverflowsOnceTheWholeSupplyIsDeposited() public {
        _mint(whale, MAX);
        vm.startPrank(whale);
        token.approve(address(voting), MAX);
        voting.deposit(MAX);
        vm.stopPrank();
        vm.expectRevert(OVERFLOW);
        _mint(whale, 1); // no token left to deposit
        address[] memory one = new address[](1);
        one[0] = whale;
        uint256[] memory amount = new uint256[](1);
        amount[0] = 1;
        vm.prank(whale);
        vm.expectRevert(OVERFLOW); // the credit is checked before any token is pulled
        voting.depositFor(one, amount);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(StakeVoting.PoolTooSmall.selector, 0, 1));
        voting.rewardContributions(1, one, amount);
        assertEq(voting.claimableOf(whale), MAX);
        vm.prank(whale);
        voting.withdraw(MAX);
        assertEq(token.balanceOf(whale), MAX);
        assertEq(token.balanceOf(address(voting)), 0);
    }

    function test_RevertIf_ZeroAmountsOrStakes() public {
        vm.expectRevert(StakeVoting.InvalidAmount.selector);
        voting.withdraw(0);
        vm.startPrank(admin);
        vm.expectRevert(StakeVoting.InvalidStakes.selector);
        voting.setStakes(_stakes(1, 0, 0, 1));
        vm.expectRevert(StakeVoting.InvalidStakes.selector);
        voting.setStakes(_stakes(1, 1, 0, 0));
        vm.stopPrank();
        // A zero entry in a bulk deposit credits nothing and moves nothing.
        address[] memory one = new address[](1);
        one[0] = hospital(0);
        voting.depositFor(one, new uint256[](1));
        assertEq(voting.claimableOf(hospital(0)), 0);
    }

    // ------------------------------------------------------------------ stakes near 2^128

    /// @dev `x` in [1, 2^128 − 1], scaled down by a fuzzed power of two so small, mid and huge
    /// stakes all occur.
    function _scaled(uint256 raw, uint256 shift) internal pure returns (uint128) {
        uint256 x = bound(raw, 1, MAX128) >> (shift % 128);
        return uint128(x == 0 ? 1 : x);
    }

    /// @dev Any γ_p, γ_v up to 2^128 − 1, any reward and pool, any votes. A round either settles
    /// with every payout exact and tokens conserved, or is refused before a single token is
    /// staked: at `setStakes` when γ_p plus the reward overflows the 128-bit proposer payout, at
    /// `openRound` when a winning voter's payout (at most committee × γ_v) could.
    function testFuzz_HugeStakesSettleExactlyOrAreRefusedUpFront(
        uint256 proposerRaw,
        uint256 voterRaw,
        uint256 rewardRaw,
        uint256 shifts,
        uint256 poolRaw,
        uint256 votes,
        bytes32 seed
    ) public {
        gp = _scaled(proposerRaw, shifts);
        gv = _scaled(voterRaw, shifts >> 8);
        reward = uint128(bound(rewardRaw, 0, MAX128) >> ((shifts >> 16) % 129));
        vm.prank(admin);
        if (uint256(gp) + reward > MAX128) {
            vm.expectRevert(StakeVoting.InvalidStakes.selector);
            voting.setStakes(_stakes(gp, gv, reward, PERIOD));
            return;
        }
        voting.setStakes(_stakes(gp, gv, reward, PERIOD));
        deposit = gp > gv ? gp : gv;
        _fundAll(deposit);
        pool0 = bound(poolRaw, 0, uint256(1) << 200);
        if (pool0 > 0) _fundPool(pool0);
        vm.startPrank(admin);
        ledger.openRound(1, TASK, keccak256(abi.encode(seed)));
        if (uint256(gv) * COMMITTEE > MAX128) {
            vm.expectRevert(StakeVoting.InvalidStakes.selector);
            voting.openRound(1);
            assertEq(voting.totalStaked(), 0);
            voting.setStakes(_stakes(1, 1, 0, PERIOD)); // nothing stuck: the owner can fix the stakes
            vm.stopPrank();
            return;
        }
        voting.openRound(1);
        voting.draw(1, type(uint32).max);
        vm.stopPrank();
        _playAndCheck(votes);
    }

    function _fundAll(uint256 each) internal {
        address[] memory hs = new address[](N);
        uint256[] memory amounts = new uint256[](N);
        for (uint256 i = 0; i < N; i++) {
            (hs[i], amounts[i]) = (hospital(i), each);
        }
        _mint(admin, each * N);
        vm.startPrank(admin);
        token.approve(address(voting), each * N);
        voting.depositFor(hs, amounts);
        vm.stopPrank();
    }

    function _playAndCheck(uint256 votes) internal {
        address[] memory vs = _voters(1);
        assertEq(vs.length, COMMITTEE);
        uint256 voted = votes % (COMMITTEE + 1);
        uint256 accepts = (votes >> 8) % (voted + 1);
        for (uint256 i = 0; i < voted; i++) {
            vm.prank(vs[i]);
            voting.vote(1, i < accepts);
        }
        vm.warp(block.timestamp + PERIOD + 1);
        uint256 chunk = (votes >> 16) % 10 + 1;
        while (!voting.settle(1, chunk)) {}
        assertEq(voting.totalStaked(), 0);
        _conserved();
        _checkPayouts(vs, voted, accepts);
    }

    /// @dev The contract's settlement rule, recomputed in uint256 (see `StakeVoting`'s notes).
    function _checkPayouts(address[] memory vs, uint256 voted, uint256 accepts) internal view {
        uint256 rejects = voted - accepts;
        bool accepted = accepts > rejects;
        (uint256 winners, uint256 losers) =
            accepted ? (accepts, rejects) : rejects > accepts ? (rejects, accepts) : (0, 0);
        uint256 forfeit = (losers + COMMITTEE - voted) * gv; // a tie refunds the voters, not the abstainers
        uint256 share = winners == 0 ? 0 : forfeit / winners;
        uint256 paidReward = accepted ? (reward < pool0 / COHORT ? reward : pool0 / COHORT) : 0;
        address[] memory ps = _proposers(1);
        for (uint256 i = 0; i < ps.length; i++) {
            assertEq(voting.claimableOf(ps[i]), accepted ? deposit + paidReward : deposit - gp);
        }
        for (uint256 i = 0; i < vs.length; i++) {
            uint256 expected = deposit - gv;
            if (i < voted) {
                bool won = winners > 0 && (i < accepts) == accepted;
                if (winners == 0) expected = deposit;
                else if (won) expected = deposit + share;
            }
            assertEq(voting.claimableOf(vs[i]), expected);
        }
        uint256 pool = pool0 - COHORT * paidReward + (accepted ? 0 : COHORT * uint256(gp)) + (forfeit - share * winners);
        assertEq(voting.pool(), pool);
    }

    /// @dev The largest stakes that fit: γ_p + reward = 2^128 − 1 and γ_v = ⌊(2^128 − 1) / 7⌋,
    /// with one winning voter and six abstainers (the largest voter payout, 7 γ_v).
    function test_LargestStakesThatFitSettleExactly() public {
        gp = MAX128 - 5;
        reward = 5;
        gv = MAX128 / uint128(COMMITTEE);
        vm.prank(admin);
        voting.setStakes(_stakes(gp, gv, reward, PERIOD));
        deposit = gp;
        _fundAll(deposit);
        pool0 = 1 ether;
        _fundPool(pool0);
        _openAndDraw(1, keccak256("largest"));
        address winner = _voters(1)[0];
        vm.prank(winner);
        voting.vote(1, true);
        vm.warp(block.timestamp + PERIOD + 1);
        voting.settle(1, 100);
        assertEq(voting.roundState(1).winnerPayout, uint256(gv) * COMMITTEE);
        assertEq(voting.roundState(1).proposerPayout, MAX128);
        assertEq(voting.claimableOf(winner), deposit - gv + uint256(gv) * COMMITTEE);
        _conserved();
    }

    /// @dev Regression: γ_p + reward above 2^128 − 1 used to be accepted, and settling an accepted
    /// round then reverted forever (SafeCast of the proposer payout), leaving the stakes locked and
    /// every later round and `setStakes` refused with `RoundInProgress`.
    function test_RevertIf_ProposerPayoutWouldOverflow128Bits() public {
        vm.prank(admin);
        vm.expectRevert(StakeVoting.InvalidStakes.selector);
        voting.setStakes(_stakes(MAX128, 1, 1, PERIOD));
        vm.expectRevert(StakeVoting.InvalidStakes.selector);
        new StakeVoting(
            admin,
            token,
            IRegistry(address(registry)),
            IFederationLedger(address(ledger)),
            _stakes(MAX128 - 1, 1, 2, PERIOD)
        );
    }

    /// @dev Regression: γ_v with committee × γ_v above 2^128 − 1 used to be accepted, and a round
    /// with one winner and six abstainers then could never settle.
    function test_RevertIf_WinnerPayoutCouldOverflow128Bits() public {
        uint128 tooBig = MAX128 / uint128(COMMITTEE) + 1;
        vm.startPrank(admin);
        voting.setStakes(_stakes(1, tooBig, 0, PERIOD));
        ledger.openRound(1, TASK, keccak256("too big"));
        vm.expectRevert(StakeVoting.InvalidStakes.selector);
        voting.openRound(1);
        vm.stopPrank();
        assertEq(uint256(voting.roundState(1).phase), uint256(StakeVoting.Phase.None));
    }

    // ------------------------------------------------------------------ the voting window near 2^64

    /// @dev Any voting period up to 2^64 − 1 s, opened at any time the ledger accepts: the draw
    /// completes (the window's end saturates at 2^64 − 1 instead of reverting), votes count, the
    /// round settles, and the next round opens. Regression: a window ending past 2^64 − 1 used to
    /// make the last draw step revert forever, leaving the round in `Drawing` with no way out.
    function testFuzz_VotingPeriodNearUint64MaxNeverBricksTheRound(uint64 period, uint256 start) public {
        period = uint64(bound(period, 1, type(uint64).max));
        start = bound(start, 1, type(uint64).max);
        _fundAll(64 ether);
        vm.prank(admin);
        voting.setStakes(_stakes(GP, GV, 0, period));
        vm.warp(start);
        vm.startPrank(admin);
        ledger.openRound(1, TASK, keccak256("window"));
        voting.openRound(1);
        voting.draw(1, 1);
        voting.draw(1, type(uint32).max); // the step that completes the draw
        vm.stopPrank();
        uint256 end = start + period > type(uint64).max ? type(uint64).max : start + period;
        assertEq(voting.roundState(1).voteEnd, end);
        address[] memory vs = _voters(1);
        for (uint256 i = 0; i < vs.length; i++) {
            vm.prank(vs[i]);
            voting.vote(1, true);
        }
        assertTrue(voting.settle(1, 100));
        vm.startPrank(admin);
        ledger.openRound(2, TASK, keccak256("next"));
        voting.openRound(2);
        vm.stopPrank();
        _conserved();
    }
}
