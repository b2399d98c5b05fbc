// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "./Test.sol";
import {Registry} from "../../Registry.sol";
import {FederationLedger} from "../../FederationLedger.sol";
import {StakeToken} from "../../StakeToken.sol";
import {StakeVoting} from "../../StakeVoting.sol";
import {Reputation} from "../../Reputation.sol";
import {IFederationLedger} from "../../interfaces/IFederationLedger.sol";
import {IRegistry} from "../../interfaces/IRegistry.sol";

/// @notice The whole federation deployed and wired, with helpers to register and fund hospitals.
abstract contract Fixture is Test {
    Registry internal registry;
    FederationLedger internal ledger;
    StakeToken internal token;
    StakeVoting internal voting;
    Reputation internal reputation;

    address internal admin = address(0xAD);
    address internal stranger = address(0xBAD);
    address[] internal validators;

    uint128 internal constant GP = 8 ether;
    uint128 internal constant GV = 4 ether;
    uint128 internal constant REWARD = 2 ether;
    uint64 internal constant PERIOD = 600;
    uint256 internal constant TASK = 1;

    /// @dev Hospital `i` has private key `1000 + i`.
    uint256 internal constant KEY_BASE = 1000;

    function _deploy(uint32 cohort, uint32 committee) internal {
        registry = new Registry(admin);
        ledger = new FederationLedger(admin);
        token = new StakeToken(admin);
        voting = new StakeVoting(
            admin,
            token,
            IRegistry(address(registry)),
            IFederationLedger(address(ledger)),
            StakeVoting.Stakes({proposerStake: GP, voterStake: GV, proposerReward: REWARD, votingPeriod: PERIOD})
        );
        reputation = new Reputation(
            admin,
            IFederationLedger(address(ledger)),
            IRegistry(address(registry)),
            Reputation.Params({
                alpha: 0.5e18,
                tolerance: 0.05e18,
                reputationCut: 0.5e18,
                weightCut: 0.5e18,
                initialReputation: 0.5e18,
                maxStrikes: 2
            })
        );
        vm.startPrank(admin);
        ledger.setRegistry(IRegistry(address(registry)));
        registry.grantRole(registry.MODERATOR_ROLE(), address(voting));
        registry.grantRole(registry.MODERATOR_ROLE(), address(reputation));
        ledger.definePlan(TASK, _plan(cohort, committee));
        vm.stopPrank();
        delete validators;
        for (uint256 i = 0; i < 4; i++) validators.push(address(uint160(0xA000 + i)));
        vm.prank(admin);
        registry.registerValidators(validators);
    }

    function _plan(uint32 cohort, uint32 committee) internal pure returns (IFederationLedger.Plan memory) {
        return IFederationLedger.Plan({
            modelDefinitionHash: keccak256("model definition"),
            hyperparametersHash: keccak256("hyperparameters"),
            epsilon: 1e18,
            delta: 1e13,
            rounds: 100,
            cohortSize: cohort,
            committeeSize: committee
        });
    }

    function hospital(uint256 i) internal pure returns (address) {
        return vm.addr(KEY_BASE + i);
    }

    /// @dev Registers hospitals `from..to-1` and gives each `amount` tokens in the voting contract.
    function _register(uint256 from, uint256 to, uint256 amount) internal {
        address[] memory hs = new address[](to - from);
        uint256[] memory amounts = new uint256[](to - from);
        for (uint256 i = from; i < to; i++) {
            hs[i - from] = hospital(i);
            amounts[i - from] = amount;
        }
        vm.startPrank(admin);
        registry.registerHospitals(hs);
        if (amount > 0) {
            token.mint(admin, amount * hs.length);
            token.approve(address(voting), amount * hs.length);
            voting.depositFor(hs, amounts);
        }
        vm.stopPrank();
    }

    function _fundPool(uint256 amount) internal {
        vm.startPrank(admin);
        token.mint(admin, amount);
        token.approve(address(voting), amount);
        voting.fundPool(amount);
        vm.stopPrank();
    }

    /// @dev Opens `round` on the ledger and in the voting contract, and draws it completely.
    function _openAndDraw(uint256 round, bytes32 seed) internal {
        vm.startPrank(admin);
        ledger.openRound(round, TASK, seed);
        voting.openRound(round);
        voting.draw(round, type(uint32).max);
        vm.stopPrank();
    }

    function _voters(uint256 round) internal view returns (address[] memory out) {
        StakeVoting.RoundState memory s = voting.roundState(round);
        uint256 count = 0;
        out = new address[](s.voters);
        for (uint256 i = s.proposers; i < uint256(s.proposers) + s.voters; i++) {
            address h = voting.drawnAt(i);
            (StakeVoting.Role role,) = voting.participation(round, h);
            if (role == StakeVoting.Role.Voter) out[count++] = h;
        }
        assembly ("memory-safe") {
            mstore(out, count)
        }
    }

    function _proposers(uint256 round) internal view returns (address[] memory out) {
        StakeVoting.RoundState memory s = voting.roundState(round);
        uint256 count = 0;
        out = new address[](s.proposers);
        for (uint256 i = 0; i < s.proposers; i++) {
            address h = voting.drawnAt(i);
            (StakeVoting.Role role,) = voting.participation(round, h);
            if (role == StakeVoting.Role.Proposer) out[count++] = h;
        }
        assembly ("memory-safe") {
            mstore(out, count)
        }
    }

    /// @dev Token conservation: the voting contract's tokens are exactly balances + pool + staked.
    function _sumClaimable(uint256 hospitals) internal view returns (uint256 sum) {
        for (uint256 i = 0; i < hospitals; i++) sum += voting.claimableOf(hospital(i));
    }

    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }
}
