// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Reputation} from "../Reputation.sol";
import {StakeVoting} from "../StakeVoting.sol";
import {IFederationLedger} from "../interfaces/IFederationLedger.sol";
import {IRegistry} from "../interfaces/IRegistry.sol";
import {Fixture} from "./utils/Fixture.sol";
import {HookedRegistry, HookedToken, ReentrantHospital} from "./utils/ReentrancyMocks.sol";

/// @notice Re-entrancy through every external call the contracts make that can run foreign code.
/// @dev `StakeToken` is a plain OpenZeppelin ERC20 (no hooks), so it cannot call back at all. But
/// `StakeVoting` takes its token as a constructor argument, so these tests deploy it with
/// `HookedToken`, an ERC20 with ERC-777-style hooks (the sender's before the balances move, the
/// recipient's after), and a `ReentrantHospital` that calls back from inside the transfer.
///
/// The external calls, read from the sources:
/// - StakeVoting → token: `safeTransferFrom` in `deposit`, `depositFor`, `fundPool`, and
///   `safeTransfer` in `withdraw`. All four are `nonReentrant` and update the balances before the
///   transfer (checks-effects-interactions). Re-entering any of the four is refused; `settle` and
///   `vote` are not guarded but only credit balances (never transfer) and are phase-checked, so
///   re-entering them from a withdrawal credits exactly once and counts a vote exactly once.
/// - StakeVoting → registry: `remove` in `draw` (onlyOwner). Re-entering owner functions from the
///   registry is refused by `onlyOwner`; `vote`/`settle` by the phase (still `Drawing`).
/// - Reputation → registry: `suspend` in `update` (UPDATER_ROLE). Re-entry refused by the role.
/// - Every other call (`hospitalCount`, `hospitalAt`, `isEligible`, `validatorCount`,
///   `validatorEpoch`, `canAttest`, `roundOpening`, `plan`) is to a `view` function, which
///   Solidity makes with STATICCALL: the callee cannot change any state, so it cannot re-enter
///   anything that writes. `ECDSA.recover` calls the ecrecover precompile.
/// The registry and ledger are fixed at deployment by the federation's admin; the mocks show
/// that even a hostile one cannot re-enter.
contract ReentrancyTest is Fixture {
    uint256 internal constant HONEST = 8;
    uint256 internal constant ATTACKER_INDEX = 8; // registered after the 8 honest hospitals
    uint256 internal constant COHORT = 2;
    uint256 internal constant COMMITTEE = 5;

    HookedToken internal htoken;
    StakeVoting internal hv;
    ReentrantHospital internal attacker;

    function setUp() public {
        _deploy(uint32(COHORT), uint32(COMMITTEE));
        _register(0, HONEST, 0);
        htoken = new HookedToken();
        attacker = new ReentrantHospital(address(htoken));
        hv = new StakeVoting(admin, htoken, IRegistry(address(registry)), IFederationLedger(address(ledger)), _stakes());
        address[] memory one = new address[](1);
        one[0] = address(attacker);
        vm.startPrank(admin);
        registry.registerHospitals(one);
        registry.grantRole(registry.MODERATOR_ROLE(), address(hv));
        vm.stopPrank();
        for (uint256 i = 0; i < HONEST; i++) {
            htoken.mint(hospital(i), 64 ether);
            vm.startPrank(hospital(i));
            htoken.approve(address(hv), type(uint256).max);
            hv.deposit(64 ether);
            vm.stopPrank();
        }
        htoken.mint(address(attacker), 1000 ether);
        attacker.execute(address(htoken), abi.encodeCall(htoken.approve, (address(hv), type(uint256).max)));
        attacker.execute(address(hv), abi.encodeCall(StakeVoting.deposit, (64 ether)));
        htoken.mint(admin, 100 ether);
        vm.startPrank(admin);
        htoken.approve(address(hv), 100 ether);
        hv.fundPool(100 ether);
        vm.stopPrank();
        htoken.setHooked(address(attacker), true);
    }

    function _stakes() internal pure returns (StakeVoting.Stakes memory) {
        return StakeVoting.Stakes({proposerStake: GP, voterStake: GV, proposerReward: REWARD, votingPeriod: PERIOD});
    }

    function _guardError() internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ReentrancyGuard.ReentrancyGuardReentrantCall.selector);
    }

    function _assertBytes(bytes memory got, bytes memory want) internal pure {
        assertEq(keccak256(got), keccak256(want));
    }

    function _conserved() internal view {
        uint256 sum = hv.claimableOf(address(attacker)) + hv.pool() + hv.totalStaked();
        for (uint256 i = 0; i < HONEST; i++) {
            sum += hv.claimableOf(hospital(i));
        }
        assertEq(htoken.balanceOf(address(hv)), sum);
    }

    function _as(bytes memory data) internal {
        attacker.execute(address(hv), data);
    }

    function _one(address a) internal pure returns (address[] memory arr) {
        arr = new address[](1);
        arr[0] = a;
    }

    function _oneAmount(uint256 a) internal pure returns (uint256[] memory arr) {
        arr = new uint256[](1);
        arr[0] = a;
    }

    // ------------------------------------------------------------------ the guarded token functions

    function _call(uint256 op, uint256 amount) internal view returns (bytes memory) {
        if (op == 0) return abi.encodeCall(StakeVoting.deposit, (amount));
        if (op == 1) return abi.encodeCall(StakeVoting.depositFor, (_one(address(attacker)), _oneAmount(amount)));
        if (op == 2) return abi.encodeCall(StakeVoting.fundPool, (amount));
        if (op == 3) return abi.encodeCall(StakeVoting.withdraw, (amount));
        if (op == 4) return abi.encodeCall(StakeVoting.setStakes, (_stakes()));
        return abi.encodeCall(StakeVoting.rewardContributions, (1, _one(address(attacker)), _oneAmount(amount)));
    }

    /// @dev Outer: one of the four token functions. Inner, from the token's hook: one of the four
    /// again (refused by the guard) or an owner function (refused by `onlyOwner`). The outer call
    /// completes with exactly its own effect and tokens stay conserved.
    function testFuzz_TokenHookReentryIsRefused(uint256 outer, uint256 inner, uint256 a, uint256 b) public {
        outer = bound(outer, 0, 3);
        inner = bound(inner, 0, 5);
        a = bound(a, 1, 64 ether);
        b = bound(b, 1, 64 ether);
        uint256 claimable = hv.claimableOf(address(attacker));
        uint256 tokens = htoken.balanceOf(address(attacker));
        uint256 pool = hv.pool();
        attacker.arm(address(hv), _call(inner, b));
        _as(_call(outer, a));

        assertTrue(attacker.fired());
        assertFalse(attacker.reentryOk());
        assertEq(attacker.firedBeforeBalancesMoved(), outer != 3); // the sender's hook on deposits
        bytes memory refused = inner < 4
            ? _guardError()
            : abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(attacker));
        _assertBytes(attacker.reentryResult(), refused);
        if (outer == 3) {
            assertEq(hv.claimableOf(address(attacker)), claimable - a);
            assertEq(htoken.balanceOf(address(attacker)), tokens + a);
        } else {
            assertEq(hv.claimableOf(address(attacker)), outer == 2 ? claimable : claimable + a);
            assertEq(hv.pool(), outer == 2 ? pool + a : pool);
            assertEq(htoken.balanceOf(address(attacker)), tokens - a);
        }
        _conserved();
    }

    function test_ReentrantWithdrawCannotWithdrawTwice() public {
        uint256 tokens = htoken.balanceOf(address(attacker));
        uint256 held = htoken.balanceOf(address(hv));
        attacker.arm(address(hv), abi.encodeCall(StakeVoting.withdraw, (64 ether)));
        _as(abi.encodeCall(StakeVoting.withdraw, (64 ether)));
        assertTrue(attacker.fired());
        assertFalse(attacker.reentryOk());
        _assertBytes(attacker.reentryResult(), _guardError());
        assertEq(htoken.balanceOf(address(attacker)), tokens + 64 ether);
        assertEq(htoken.balanceOf(address(hv)), held - 64 ether);
        assertEq(hv.claimableOf(address(attacker)), 0);
        _conserved();
    }

    /// @dev Effects before interactions: when the token calls out, the balance is already debited,
    /// so even an unguarded path back in would see nothing left to take.
    function test_WithdrawDebitsBeforeTheTokenCallsOut() public {
        attacker.arm(address(hv), abi.encodeCall(StakeVoting.claimableOf, (address(attacker))));
        _as(abi.encodeCall(StakeVoting.withdraw, (40 ether)));
        assertTrue(attacker.reentryOk());
        assertEq(abi.decode(attacker.reentryResult(), (uint256)), 24 ether);
    }

    // ------------------------------------------------------------------ the unguarded round functions

    function _drawPosition(bytes32 seed, uint256 n, uint256 target, uint256 k) internal pure returns (uint256) {
        uint256[] memory perm = new uint256[](n);
        for (uint256 i = 0; i < n; i++) {
            perm[i] = i;
        }
        for (uint256 i = 0; i < k; i++) {
            uint256 j = i + uint256(keccak256(abi.encode(seed, i))) % (n - i);
            if (perm[j] == target) return i;
            perm[j] = perm[i];
        }
        return k;
    }

    /// @dev Opens and draws round 1 with a seed that puts the attacker on the committee; returns
    /// the committee.
    function _roundWithAttackerVoting() internal returns (address[] memory vs) {
        bytes32 seed;
        for (uint256 s = 0;; s++) {
            seed = keccak256(abi.encode("attacker votes", s));
            uint256 pos = _drawPosition(seed, HONEST + 1, ATTACKER_INDEX, COHORT + COMMITTEE);
            if (pos >= COHORT && pos < COHORT + COMMITTEE) break;
        }
        vm.startPrank(admin);
        ledger.openRound(1, TASK, seed);
        hv.openRound(1);
        hv.draw(1, type(uint32).max);
        vm.stopPrank();
        vs = new address[](COMMITTEE);
        for (uint256 i = 0; i < COMMITTEE; i++) {
            vs[i] = hv.drawnAt(COHORT + i);
        }
        (StakeVoting.Role role,) = hv.participation(1, address(attacker));
        assertEq(uint256(role), uint256(StakeVoting.Role.Voter));
    }

    /// @dev `settle` is open to anyone and unguarded; run from inside a withdrawal it credits the
    /// attacker's payout once, on top of the already-debited balance, and cannot run twice.
    function test_SettleReenteredFromAWithdrawalCreditsOnce() public {
        address[] memory vs = _roundWithAttackerVoting();
        bool rejected;
        for (uint256 i = 0; i < vs.length; i++) {
            if (vs[i] == address(attacker)) {
                _as(abi.encodeCall(StakeVoting.vote, (1, true)));
            } else {
                vm.prank(vs[i]);
                hv.vote(1, rejected); // exactly one honest voter rejects
                rejected = true;
            }
        }
        uint256 before = hv.claimableOf(address(attacker));
        assertEq(before, 64 ether - GV);
        attacker.arm(address(hv), abi.encodeCall(StakeVoting.settle, (1, 100)));
        _as(abi.encodeCall(StakeVoting.withdraw, (1 ether)));

        assertTrue(attacker.reentryOk(), "settle ran inside the withdrawal");
        StakeVoting.RoundState memory s = hv.roundState(1);
        assertEq(uint256(s.phase), uint256(StakeVoting.Phase.Settled));
        assertEq(s.winnerPayout, GV + GV / 4); // 4 winners share 1 loser's stake
        assertEq(hv.claimableOf(address(attacker)), before - 1 ether + s.winnerPayout);
        assertEq(hv.totalStaked(), 0);
        _conserved();
        attacker.arm(address(hv), abi.encodeCall(StakeVoting.settle, (1, 100)));
        _as(abi.encodeCall(StakeVoting.withdraw, (1 ether)));
        assertFalse(attacker.reentryOk());
        _assertBytes(
            attacker.reentryResult(),
            abi.encodeWithSelector(
                StakeVoting.WrongPhase.selector, 1, StakeVoting.Phase.Settled, StakeVoting.Phase.Settling
            )
        );
        assertEq(hv.claimableOf(address(attacker)), before - 2 ether + s.winnerPayout);
    }

    /// @dev A committee member may vote from inside a transfer (it may vote anyway), but only once.
    function test_VoteReenteredFromAWithdrawalCountsOnce() public {
        _roundWithAttackerVoting();
        attacker.arm(address(hv), abi.encodeCall(StakeVoting.vote, (1, true)));
        _as(abi.encodeCall(StakeVoting.withdraw, (1 ether)));
        assertTrue(attacker.reentryOk());
        attacker.arm(address(hv), abi.encodeCall(StakeVoting.vote, (1, false)));
        _as(abi.encodeCall(StakeVoting.withdraw, (1 ether)));
        assertFalse(attacker.reentryOk());
        _assertBytes(
            attacker.reentryResult(),
            abi.encodeWithSelector(StakeVoting.AlreadyVoted.selector, address(attacker), 1, StakeVoting.Choice.Accept)
        );
        StakeVoting.RoundState memory s = hv.roundState(1);
        assertEq(s.accepts, 1);
        assertEq(s.rejects, 0);
        _conserved();
    }

    // ------------------------------------------------------------------ registry callbacks

    /// @dev A hostile registry calls back from `remove` (made mid-draw for a hospital that cannot
    /// stake): owner functions refuse it, `settle` and `vote` find the round still drawing, and
    /// the draw completes with the stakes it took accounted for exactly.
    function test_RegistryCallbackDuringDrawCannotReenter() public {
        HookedRegistry reg = new HookedRegistry();
        StakeVoting rv =
            new StakeVoting(admin, token, IRegistry(address(reg)), IFederationLedger(address(ledger)), _stakes());
        address[] memory hs = new address[](6);
        uint256[] memory amounts = new uint256[](6);
        for (uint256 i = 0; i < 6; i++) {
            (hs[i], amounts[i]) = (hospital(i), i == 5 ? 0 : 64 ether);
        }
        reg.add(hs);
        vm.startPrank(admin);
        token.mint(admin, 5 * 64 ether);
        token.approve(address(rv), 5 * 64 ether);
        rv.depositFor(hs, amounts);
        vm.stopPrank();
        bytes[] memory calls = new bytes[](5);
        calls[0] = abi.encodeCall(StakeVoting.draw, (1, 100));
        calls[1] = abi.encodeCall(StakeVoting.openRound, (2));
        calls[2] = abi.encodeCall(StakeVoting.settle, (1, 100));
        calls[3] = abi.encodeCall(StakeVoting.vote, (1, true));
        calls[4] = abi.encodeCall(StakeVoting.setStakes, (_stakes()));
        reg.arm(address(rv), calls);
        vm.startPrank(admin);
        ledger.openRound(1, TASK, keccak256("hostile registry"));
        rv.openRound(1);
        assertTrue(rv.draw(1, type(uint32).max)); // 6 hospitals < 7 places: all drawn
        vm.stopPrank();

        assertEq(reg.callbacks(), 1);
        assertTrue(reg.out(hospital(5)));
        bytes memory notOwner = abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(reg));
        bytes[5] memory want = [
            notOwner,
            notOwner,
            abi.encodeWithSelector(
                StakeVoting.WrongPhase.selector, 1, StakeVoting.Phase.Drawing, StakeVoting.Phase.Settling
            ),
            abi.encodeWithSelector(
                StakeVoting.WrongPhase.selector, 1, StakeVoting.Phase.Drawing, StakeVoting.Phase.Voting
            ),
            notOwner
        ];
        for (uint256 i = 0; i < want.length; i++) {
            assertFalse(reg.oks(i));
            _assertBytes(reg.results(i), want[i]);
        }
        StakeVoting.RoundState memory s = rv.roundState(1);
        assertEq(uint256(s.phase), uint256(StakeVoting.Phase.Voting));
        assertEq(uint256(s.proposers) + s.voters, 6);
        assertEq(uint256(s.proposersStaked) + s.votersStaked, 5);
        assertEq(rv.totalStaked(), uint256(s.proposersStaked) * GP + uint256(s.votersStaked) * GV);
        uint256 sum = rv.pool() + rv.totalStaked();
        for (uint256 i = 0; i < 6; i++) {
            sum += rv.claimableOf(hospital(i));
        }
        assertEq(token.balanceOf(address(rv)), sum);
    }

    /// @dev A hostile registry calls back from `suspend` (made by `Reputation.update` on a
    /// hospital's last strike): the updater's and admin's functions refuse it.
    function test_RegistryCallbackDuringSuspendCannotReenter() public {
        HookedRegistry reg = new HookedRegistry();
        Reputation.Params memory p = Reputation.Params({
            alpha: 0.5e18,
            tolerance: 0.05e18,
            reputationCut: 0.5e18,
            weightCut: 0.5e18,
            initialReputation: 0.5e18,
            maxStrikes: 1
        });
        Reputation rep = new Reputation(admin, IFederationLedger(address(ledger)), IRegistry(address(reg)), p);
        address[] memory hs = _one(hospital(0));
        reg.add(hs);
        bytes32 updater = rep.UPDATER_ROLE();
        bytes[] memory calls = new bytes[](3);
        calls[0] = abi.encodeCall(Reputation.update, (2, hs, _oneAmount(1e18)));
        calls[1] = abi.encodeCall(Reputation.setParams, (p));
        calls[2] = abi.encodeCall(rep.grantRole, (updater, address(reg)));
        reg.arm(address(rep), calls);
        vm.startPrank(admin);
        ledger.openRound(1, TASK, keccak256("r1"));
        ledger.openRound(2, TASK, keccak256("r2"));
        rep.update(1, hs, _oneAmount(0.9e18));
        rep.update(2, hs, _oneAmount(0.1e18)); // degraded: last strike, suspended
        vm.stopPrank();

        assertEq(reg.callbacks(), 1);
        assertTrue(reg.out(hospital(0)));
        _assertBytes(
            reg.results(0),
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, address(reg), updater)
        );
        for (uint256 i = 1; i < 3; i++) {
            _assertBytes(
                reg.results(i),
                abi.encodeWithSelector(
                    IAccessControl.AccessControlUnauthorizedAccount.selector, address(reg), bytes32(0)
                )
            );
        }
        assertEq(rep.updateCount(2), 1);
        assertEq(rep.recordOf(hospital(0)).lastPerformance, 0.1e18);
    }
}
