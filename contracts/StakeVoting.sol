// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IFederationLedger} from "./interfaces/IFederationLedger.sol";
import {IRegistry} from "./interfaces/IRegistry.sol";

/// @title StakeVoting
/// @notice FLock's stake-based majority voting with reward and slash (Dong et al., eq. 2-3,
/// Algorithms 1-2). Each round, proposers (the plan's cohort size) and a voter committee (the
/// plan's committee size) are drawn from the registry's eligible hospitals with the round's
/// seed from the `FederationLedger`; proposers stake `proposerStake` (γ_p), voters
/// `voterStake` (γ_v); voters vote accept or reject; the majority settles.
/// @dev Tokens. Hospitals hold an internal balance here (`claimableOf`): deposits, refunds and
/// rewards are credited to it, stakes are taken from it, and owners withdraw it (pull). The
/// contract's token balance always equals `sum(claimableOf) + pool() + totalStaked()`.
///
/// Draw (re-derivable off-chain). `n = registry.hospitalCount()` when the round opens. Step
/// `i = 0, 1, ...` of a partial Fisher-Yates shuffle of the indices `0..n-1`:
/// `j = i + uint256(keccak256(abi.encode(seed, i))) % (n - i)`; the index picked is the
/// value at position `j` of the virtual permutation (initially the identity), and the value at
/// position `i` moves to position `j`. The picked index's hospital (`registry.hospitalAt`) is
/// skipped if not eligible; otherwise it becomes a proposer while fewer than `cohortSize`
/// proposers were drawn, else a voter. A drawn hospital whose balance is below its stake is
/// removed from the registry (permanently) and is not replaced. The draw stops once
/// `cohortSize + committeeSize` hospitals were drawn or after `n` steps. No index is picked
/// twice, so no duplicate needs rejecting; each step is O(1), and `draw` takes any number of
/// steps per call (chunks).
///
/// Settlement (`a = accepts`, `r = rejects`, `s = staked voters - a - r` abstainers).
/// Accepted iff `a > r` (eq. 3: a tie, including no votes, rejects).
/// - Accepted: each staked proposer gets back γ_p plus `reward = min(proposerReward,
///   pool / stakedProposers)` (integer division, taken from the pool before this round's
///   forfeits enter it). Accepting voters are the winners.
/// - Rejected with `r > a`: proposers' stakes go to the pool (slash). Rejecting voters win.
/// - Tie: proposers are slashed; every voter who voted gets back γ_v; no winner.
/// The losers' and abstainers' stakes, `forfeit = (losers + s) * γ_v`, are split evenly among
/// the `w` winners: each gets back γ_v plus `forfeit / w`; the remainder `forfeit % w` (all of
/// `forfeit` when there is no winner) goes to the pool. Tokens are conserved exactly.
contract StakeVoting is Ownable, ReentrancyGuard, EIP712 {
    using SafeERC20 for IERC20;

    /// @notice A hospital's part in the current round.
    enum Role {
        None,
        Proposer,
        Voter,
        Removed
    }

    /// @notice A voter's vote.
    enum Choice {
        None,
        Accept,
        Reject
    }

    /// @notice Where a round stands.
    enum Phase {
        None,
        Drawing,
        Voting,
        Settling,
        Settled
    }

    /// @notice Stake amounts (token units) and the voting window.
    struct Stakes {
        uint128 proposerStake;
        uint128 voterStake;
        uint128 proposerReward;
        uint64 votingPeriod;
    }

    /// @notice A signed vote relayed in a batch. `signature` is the voter's EIP-712 signature
    /// of `Ballot(uint256 round,address voter,bool accept)`.
    struct SignedBallot {
        address voter;
        bool accept;
        bytes signature;
    }

    /// @notice A round's state.
    struct RoundState {
        uint64 seq;
        Phase phase;
        Choice winner;
        bool accepted;
        uint32 n;
        uint32 steps;
        uint32 proposersWanted;
        uint32 votersWanted;
        uint32 proposers;
        uint32 voters;
        uint32 proposersStaked;
        uint32 votersStaked;
        uint32 accepts;
        uint32 rejects;
        uint32 cursor;
        uint64 voteEnd;
        bytes32 seed;
        uint128 proposerStake;
        uint128 voterStake;
        uint128 proposerPayout;
        uint128 winnerPayout;
    }

    struct Participation {
        uint64 seq;
        Role role;
        Choice choice;
    }

    /// @notice EIP-712 type hash of a ballot.
    bytes32 public constant BALLOT_TYPEHASH = keccak256("Ballot(uint256 round,address voter,bool accept)");

    uint256 private constant _SEQ_SHIFT = 192;
    uint256 private constant _VALUE_MASK = (uint256(1) << 192) - 1;
    /// @dev The sequence number of reserved slots: no round ever has it.
    uint64 private constant _RESERVED_SEQ = type(uint64).max;
    /// @dev What a reserved `_drawn` entry holds until a draw overwrites it.
    address private constant _RESERVED_ADDRESS = address(1);

    IERC20 private immutable _token;
    IRegistry private immutable _registry;
    IFederationLedger private immutable _ledger;

    Stakes private _stakes;
    uint256 private _pool;
    uint256 private _totalStaked;
    mapping(address hospital => uint256) private _claimable;

    mapping(uint256 round => RoundState) private _rounds;
    mapping(address hospital => Participation) private _participation;
    mapping(uint256 position => uint256 seqAndValue) private _perm;
    address[] private _drawn;
    uint64 private _seq;
    uint256 private _currentRound;

    /// @notice The stakes and voting window were set.
    event StakesSet(uint256 proposerStake, uint256 voterStake, uint256 proposerReward, uint256 votingPeriod);
    /// @notice `amount` tokens were deposited to `hospital`'s balance by `from`.
    event Deposited(address indexed hospital, address indexed from, uint256 amount);
    /// @notice `amount` tokens were withdrawn by `hospital`.
    event Withdrawn(address indexed hospital, uint256 amount);
    /// @notice `amount` tokens were added to the reward pool by `from`.
    event PoolFunded(address indexed from, uint256 amount);
    /// @notice A round was opened for drawing.
    event RoundOpened(uint256 indexed round, bytes32 seed, uint256 n, uint256 proposers, uint256 voters);
    /// @notice A hospital was drawn; `staked` is false when it could not stake and was removed.
    event Drawn(uint256 indexed round, address indexed hospital, Role role, bool staked);
    /// @notice The draw finished; voting is open until `voteEnd`.
    event DrawCompleted(uint256 indexed round, uint256 proposersStaked, uint256 votersStaked, uint256 voteEnd);
    /// @notice A committee member voted.
    event Voted(uint256 indexed round, address indexed voter, bool accept);
    /// @notice The votes were counted and the payouts fixed.
    event RoundTallied(
        uint256 indexed round,
        bool accepted,
        uint256 accepts,
        uint256 rejects,
        uint256 proposerPayout,
        uint256 winnerPayout,
        uint256 toPool,
        uint256 fromPool
    );
    /// @notice A participant's refund and reward were credited to its balance.
    event Credited(uint256 indexed round, address indexed hospital, uint256 amount);
    /// @notice Every participant of the round was settled.
    event RoundSettled(uint256 indexed round, bool accepted);

    /// @notice A stake, reward or period of zero where one is needed, or stakes whose payouts
    /// would not fit the round's 128-bit payout fields (γ_p + reward, or committee size × γ_v,
    /// above 2^128 − 1).
    error InvalidStakes();
    /// @notice The zero amount or mismatched arrays.
    error InvalidAmount();
    /// @notice The previous round is not settled yet.
    error RoundInProgress(uint256 round);
    /// @notice The round was opened here before.
    error RoundAlreadyOpened(uint256 round);
    /// @notice The round is not in the phase the call needs.
    error WrongPhase(uint256 round, Phase have, Phase need);
    /// @notice A draw needs hospitals.
    error NoHospitals(uint256 round);
    /// @notice The caller (or ballot signer) is not in the round's voter committee.
    error NotCommitteeMember(address account, uint256 round);
    /// @notice The voter voted in this round before.
    error AlreadyVoted(address voter, uint256 round, Choice previous);
    /// @notice A vote after the voting window closed.
    error VotingClosed(uint256 round, uint256 time, uint256 voteEnd);
    /// @notice Settlement before the window closed while some voters have not voted.
    error VotingStillOpen(uint256 round, uint256 time, uint256 voteEnd);
    /// @notice A relayed ballot's signature was not made by its voter.
    error ForgedBallot(address voter, address signer);
    /// @notice Withdrawal beyond the balance.
    error InsufficientBalance(address hospital, uint256 have, uint256 need);
    /// @notice Contribution rewards beyond what the pool holds.
    error PoolTooSmall(uint256 have, uint256 need);

    /// @param initialOwner The coordinator: opens rounds, draws, sets the stakes.
    /// @param token The stake token.
    /// @param registry The participant registry (this contract needs its `MODERATOR_ROLE`).
    /// @param ledger The ledger with the plans and round seeds.
    /// @param stakes_ γ_p, γ_v, the proposer reward and the voting period (seconds).
    constructor(
        address initialOwner,
        IERC20 token,
        IRegistry registry,
        IFederationLedger ledger,
        Stakes memory stakes_
    ) Ownable(initialOwner) EIP712("bflray StakeVoting", "1") {
        _token = token;
        _registry = registry;
        _ledger = ledger;
        _setStakes(stakes_);
    }

    // ------------------------------------------------------------------ tokens

    /// @notice Deposit `amount` tokens (approved to this contract) to the caller's balance.
    /// @dev Reverts with `InvalidAmount` for zero.
    /// @param amount The amount.
    function deposit(uint256 amount) external nonReentrant {
        if (amount == 0) revert InvalidAmount();
        _claimable[msg.sender] += amount;
        emit Deposited(msg.sender, msg.sender, amount);
        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Fund hospitals' balances in bulk from the caller's approved tokens (chunkable).
    /// @dev Reverts with `InvalidAmount` for mismatched arrays.
    /// @param hospitals The hospitals credited.
    /// @param amounts The amount each one gets.
    function depositFor(address[] calldata hospitals, uint256[] calldata amounts) external nonReentrant {
        if (hospitals.length != amounts.length) revert InvalidAmount();
        uint256 total = 0;
        for (uint256 i = 0; i < hospitals.length; i++) {
            _claimable[hospitals[i]] += amounts[i];
            total += amounts[i];
            emit Deposited(hospitals[i], msg.sender, amounts[i]);
        }
        _token.safeTransferFrom(msg.sender, address(this), total);
    }

    /// @notice Withdraw `amount` of the caller's balance (deposits, refunds and rewards).
    /// @dev Reverts with `InsufficientBalance` or `InvalidAmount` for zero.
    /// @param amount The amount.
    function withdraw(uint256 amount) external nonReentrant {
        if (amount == 0) revert InvalidAmount();
        uint256 have = _claimable[msg.sender];
        if (have < amount) revert InsufficientBalance(msg.sender, have, amount);
        _claimable[msg.sender] = have - amount;
        emit Withdrawn(msg.sender, amount);
        _token.safeTransfer(msg.sender, amount);
    }

    /// @notice Add `amount` of the caller's approved tokens to the proposers' reward pool.
    /// @dev Reverts with `InvalidAmount` for zero.
    /// @param amount The amount.
    function fundPool(uint256 amount) external nonReentrant {
        if (amount == 0) revert InvalidAmount();
        _pool += amount;
        emit PoolFunded(msg.sender, amount);
        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Write, ahead of the rounds, the storage slots the rounds would otherwise create on
    /// first use: the participation record of each of `hospitals`, draw-permutation positions
    /// [`firstPosition`, `firstPosition + positions`), and `_drawn` up to `drawnSlots` entries.
    /// @dev Chunkable and idempotent (a slot already written is left alone). Each slot gets a
    /// sentinel whose sequence number (2^64 − 1) no round has, so it reads as empty; a round
    /// then only overwrites slots, and the new storage slots a round creates do not grow with N.
    /// Reverts with `OwnableUnauthorizedAccount`.
    /// @param hospitals Registered hospitals (any chunk of them).
    /// @param firstPosition The first permutation position reserved.
    /// @param positions How many positions to reserve from `firstPosition`.
    /// @param drawnSlots The length `_drawn` is grown to (the plan's cohort + committee).
    function reserveSlots(address[] calldata hospitals, uint256 firstPosition, uint256 positions, uint256 drawnSlots)
        external
        onlyOwner
    {
        for (uint256 i = 0; i < hospitals.length; i++) {
            Participation storage p = _participation[hospitals[i]];
            if (p.seq == 0) p.seq = _RESERVED_SEQ;
        }
        for (uint256 j = firstPosition; j < firstPosition + positions; j++) {
            if (_perm[j] == 0) _perm[j] = uint256(_RESERVED_SEQ) << _SEQ_SHIFT;
        }
        while (_drawn.length < drawnSlots) {
            _drawn.push(_RESERVED_ADDRESS);
        }
    }

    /// @notice Pay contribution rewards of `round` from the pool (DP-BFL: rewards in proportion to
    /// each hospital's measured contribution); the hospitals withdraw them like any balance.
    /// @dev Chunkable: the caller passes the round's participants in chunks under the gas limit.
    /// Reverts with `InvalidAmount` for mismatched arrays, `PoolTooSmall`, or `OwnableUnauthorizedAccount`.
    /// @param round The round the contributions were measured in.
    /// @param hospitals The hospitals rewarded.
    /// @param amounts The amount each one gets.
    function rewardContributions(uint256 round, address[] calldata hospitals, uint256[] calldata amounts)
        external
        onlyOwner
    {
        if (hospitals.length != amounts.length) revert InvalidAmount();
        uint256 total = 0;
        for (uint256 i = 0; i < amounts.length; i++) {
            total += amounts[i];
        }
        if (total > _pool) revert PoolTooSmall(_pool, total);
        _pool -= total;
        for (uint256 i = 0; i < hospitals.length; i++) {
            _claimable[hospitals[i]] += amounts[i];
            emit Credited(round, hospitals[i], amounts[i]);
        }
    }

    /// @notice Set γ_p, γ_v, the proposer reward and the voting period, between rounds.
    /// @dev Reverts with `RoundInProgress`, `InvalidStakes`, or `OwnableUnauthorizedAccount`.
    /// @param stakes_ The new values.
    function setStakes(Stakes calldata stakes_) external onlyOwner {
        _requireNoRoundInProgress();
        _setStakes(stakes_);
    }

    // ------------------------------------------------------------------ rounds

    /// @notice Open `round` (opened on the ledger) for drawing, with its seed and plan sizes.
    /// @dev Reverts with `RoundInProgress` while the previous round is not settled,
    /// `RoundAlreadyOpened`, `NoHospitals`, `InvalidStakes` when a winning voter's payout (at
    /// most committee size × γ_v) could exceed 2^128 − 1, the ledger's `RoundNotOpened`, or
    /// `OwnableUnauthorizedAccount`.
    /// @param round The round number.
    function openRound(uint256 round) external onlyOwner {
        _requireNoRoundInProgress();
        if (_rounds[round].phase != Phase.None) revert RoundAlreadyOpened(round);
        (uint256 taskId, bytes32 seed) = _ledger.roundOpening(round);
        IFederationLedger.Plan memory plan = _ledger.plan(taskId);
        // Refused here, before any stake is taken: a payout that overflowed at settlement would
        // lock the round, and every later one, for good.
        if (uint256(_stakes.voterStake) * plan.committeeSize > type(uint128).max) revert InvalidStakes();
        uint256 n = _registry.hospitalCount();
        if (n == 0) revert NoHospitals(round);
        uint64 seq = ++_seq;
        RoundState storage state = _rounds[round];
        state.seq = seq;
        state.phase = Phase.Drawing;
        state.n = SafeCast.toUint32(n);
        state.proposersWanted = plan.cohortSize;
        state.votersWanted = plan.committeeSize;
        state.seed = seed;
        state.proposerStake = _stakes.proposerStake;
        state.voterStake = _stakes.voterStake;
        _currentRound = round;
        emit RoundOpened(round, seed, n, plan.cohortSize, plan.committeeSize);
    }

    /// @notice Take up to `maxSteps` steps of the round's draw (see the contract's notes).
    /// @dev Reverts with `WrongPhase` or `OwnableUnauthorizedAccount`. Opens the voting window
    /// when the draw completes; its end saturates at 2^64 − 1 rather than reverting.
    /// @param round The round number.
    /// @param maxSteps The most Fisher-Yates steps this call takes (its gas bound).
    /// @return done Whether the draw is complete.
    function draw(uint256 round, uint256 maxSteps) external onlyOwner returns (bool done) {
        RoundState storage state = _rounds[round];
        _requirePhase(round, state.phase, Phase.Drawing);
        uint256 wanted = uint256(state.proposersWanted) + state.votersWanted;
        uint256 steps = state.steps;
        uint256 n = state.n;
        uint256 drawnCount = uint256(state.proposers) + state.voters;
        uint256 bound = wanted - drawnCount < maxSteps ? wanted - drawnCount : maxSteps;
        address[] memory removed = new address[](bound);
        uint256 removedCount = 0;
        for (uint256 k = 0; k < maxSteps && steps < n && drawnCount < wanted; k++) {
            uint256 picked = _step(state.seq, state.seed, steps, n);
            steps += 1;
            (address hospital, bool eligible) = _registry.hospitalAt(picked);
            if (!eligible) continue;
            if (!_enrol(round, state, hospital, drawnCount)) removed[removedCount++] = hospital;
            drawnCount += 1;
        }
        state.steps = uint32(steps);
        if (removedCount > 0) {
            assembly ("memory-safe") {
                mstore(removed, removedCount)
            }
            _registry.remove(removed);
        }
        done = drawnCount >= wanted || steps >= n;
        if (done) {
            state.phase = Phase.Voting;
            // Saturate: a revert here would leave the round in `Drawing` with no way out.
            uint256 end = block.timestamp + _stakes.votingPeriod;
            if (end > type(uint64).max) end = type(uint64).max;
            state.voteEnd = uint64(end);
            emit DrawCompleted(round, state.proposersStaked, state.votersStaked, end);
        }
    }

    /// @notice Vote on the round's aggregate as a member of its voter committee.
    /// @dev Reverts with `WrongPhase`, `VotingClosed`, `NotCommitteeMember` or `AlreadyVoted`.
    /// @param round The round number.
    /// @param accept True to accept, false to reject.
    function vote(uint256 round, bool accept) external {
        RoundState storage state = _openForVotes(round);
        _vote(round, state, msg.sender, accept);
    }

    /// @notice Relay committee members' signed votes in one transaction.
    /// @dev Each ballot's EIP-712 signature must recover to its voter (`ForgedBallot`
    /// otherwise), so a relayer cannot forge or flip a vote; the whole batch reverts on any bad
    /// ballot. Also reverts with `WrongPhase`, `VotingClosed`, `NotCommitteeMember`,
    /// `AlreadyVoted`, or OpenZeppelin's `ECDSAInvalidSignature*` for malformed signatures.
    /// @param round The round number.
    /// @param ballots The voters, their votes and signatures.
    function voteBatch(uint256 round, SignedBallot[] calldata ballots) external {
        RoundState storage state = _openForVotes(round);
        for (uint256 i = 0; i < ballots.length; i++) {
            SignedBallot calldata ballot = ballots[i];
            address signer = ECDSA.recover(ballotDigest(round, ballot.voter, ballot.accept), ballot.signature);
            if (signer != ballot.voter) revert ForgedBallot(ballot.voter, signer);
            _vote(round, state, ballot.voter, ballot.accept);
        }
    }

    /// @notice Settle up to `maxCount` of the round's participants (anyone may call).
    /// @dev The first call counts the votes and fixes the payouts; it needs the window closed
    /// or every staked voter to have voted (`VotingStillOpen` otherwise). Credits go to the
    /// participants' balances (pull). Reverts with `WrongPhase` before voting or after settling.
    /// @param round The round number.
    /// @param maxCount The most participants this call settles (its gas bound).
    /// @return done Whether every participant is settled.
    function settle(uint256 round, uint256 maxCount) external returns (bool done) {
        RoundState storage state = _rounds[round];
        if (state.phase == Phase.Voting) {
            uint256 voted = uint256(state.accepts) + state.rejects;
            if (block.timestamp <= state.voteEnd && voted < state.votersStaked) {
                revert VotingStillOpen(round, block.timestamp, state.voteEnd);
            }
            _tally(round, state);
        }
        _requirePhase(round, state.phase, Phase.Settling);
        uint256 total = uint256(state.proposers) + state.voters;
        uint256 cursor = state.cursor;
        uint256 end = cursor + maxCount < total ? cursor + maxCount : total;
        uint256 paid = 0;
        for (; cursor < end; cursor++) {
            address hospital = _drawn[cursor];
            uint256 amount = _payout(state, _participation[hospital]);
            if (amount > 0) {
                _claimable[hospital] += amount;
                paid += amount;
                emit Credited(round, hospital, amount);
            }
        }
        _totalStaked -= paid;
        state.cursor = uint32(cursor);
        done = cursor == total;
        if (done) {
            state.phase = Phase.Settled;
            emit RoundSettled(round, state.accepted);
        }
    }

    // ------------------------------------------------------------------ views

    /// @notice The EIP-712 digest a voter signs for a ballot.
    /// @param round The round number.
    /// @param voter The voter.
    /// @param accept The vote.
    /// @return The digest.
    function ballotDigest(uint256 round, address voter, bool accept) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(BALLOT_TYPEHASH, round, voter, accept)));
    }

    /// @notice The stake token.
    /// @return Its address.
    function token() external view returns (address) {
        return address(_token);
    }

    /// @notice The registry and ledger this contract reads.
    /// @return registry The registry.
    /// @return ledger The ledger.
    function sources() external view returns (address registry, address ledger) {
        return (address(_registry), address(_ledger));
    }

    /// @notice γ_p, γ_v, the proposer reward and the voting period.
    /// @return The stakes.
    function stakes() external view returns (Stakes memory) {
        return _stakes;
    }

    /// @notice A hospital's withdrawable balance (deposits, refunds and rewards, less stakes).
    /// @param hospital The hospital.
    /// @return The balance.
    function claimableOf(address hospital) external view returns (uint256) {
        return _claimable[hospital];
    }

    /// @notice The proposers' reward pool.
    /// @return The pool's tokens.
    function pool() external view returns (uint256) {
        return _pool;
    }

    /// @notice Tokens staked in rounds not yet settled (plus rewards reserved for them).
    /// @return The total.
    function totalStaked() external view returns (uint256) {
        return _totalStaked;
    }

    /// @notice The latest round opened here.
    /// @return The round number (0 before any).
    function currentRound() external view returns (uint256) {
        return _currentRound;
    }

    /// @notice A round's state.
    /// @param round The round number.
    /// @return The state (phase `None` for a round never opened here).
    function roundState(uint256 round) external view returns (RoundState memory) {
        return _rounds[round];
    }

    /// @notice A hospital's role and vote in `round` (only for the latest round it was drawn in).
    /// @param round The round number.
    /// @param hospital The hospital.
    /// @return role Its role (`None` if not drawn in `round`).
    /// @return choice Its vote.
    function participation(uint256 round, address hospital) external view returns (Role role, Choice choice) {
        Participation memory p = _participation[hospital];
        uint64 seq = _rounds[round].seq;
        if (seq == 0 || p.seq != seq) return (Role.None, Choice.None);
        return (p.role, p.choice);
    }

    /// @notice The `index`-th hospital drawn in the current round (proposers first, in draw order).
    /// @param index Below `proposers + voters` of the current round.
    /// @return The hospital.
    function drawnAt(uint256 index) external view returns (address) {
        RoundState storage state = _rounds[_currentRound];
        if (index >= uint256(state.proposers) + state.voters) revert InvalidAmount();
        return _drawn[index];
    }

    // ------------------------------------------------------------------ internals

    /// @dev One step of the partial Fisher-Yates shuffle; the permutation is stored sparsely,
    /// each slot tagged with the round's sequence number so later rounds reuse the slots.
    function _step(uint64 seq, bytes32 seed, uint256 i, uint256 n) private returns (uint256 picked) {
        uint256 j = i + uint256(keccak256(abi.encode(seed, i))) % (n - i);
        picked = _permAt(seq, j);
        if (j != i) _perm[j] = (uint256(seq) << _SEQ_SHIFT) | _permAt(seq, i);
    }

    function _permAt(uint64 seq, uint256 position) private view returns (uint256) {
        uint256 entry = _perm[position];
        return entry >> _SEQ_SHIFT == seq ? entry & _VALUE_MASK : position;
    }

    /// @dev Gives a drawn hospital its role and takes its stake; false when it cannot stake.
    function _enrol(uint256 round, RoundState storage state, address hospital, uint256 index)
        private
        returns (bool staked)
    {
        bool proposer = state.proposers < state.proposersWanted;
        uint256 stake = proposer ? state.proposerStake : state.voterStake;
        uint256 balance = _claimable[hospital];
        staked = balance >= stake;
        Role role = proposer ? Role.Proposer : Role.Voter;
        if (proposer) state.proposers += 1;
        else state.voters += 1;
        if (staked) {
            _claimable[hospital] = balance - stake;
            _totalStaked += stake;
            if (proposer) state.proposersStaked += 1;
            else state.votersStaked += 1;
        }
        _participation[hospital] = Participation({seq: state.seq, role: staked ? role : Role.Removed, choice: Choice.None});
        if (index < _drawn.length) _drawn[index] = hospital;
        else _drawn.push(hospital);
        emit Drawn(round, hospital, role, staked);
    }

    function _openForVotes(uint256 round) private view returns (RoundState storage state) {
        state = _rounds[round];
        _requirePhase(round, state.phase, Phase.Voting);
        if (block.timestamp > state.voteEnd) revert VotingClosed(round, block.timestamp, state.voteEnd);
    }

    function _vote(uint256 round, RoundState storage state, address voter, bool accept) private {
        Participation storage p = _participation[voter];
        if (p.seq != state.seq || p.role != Role.Voter) revert NotCommitteeMember(voter, round);
        if (p.choice != Choice.None) revert AlreadyVoted(voter, round, p.choice);
        if (accept) {
            p.choice = Choice.Accept;
            state.accepts += 1;
        } else {
            p.choice = Choice.Reject;
            state.rejects += 1;
        }
        emit Voted(round, voter, accept);
    }

    /// @dev Counts the votes and fixes the payouts; moves slashes, forfeits and remainders to
    /// the pool and reserves the proposers' rewards from it (see the contract's notes).
    function _tally(uint256 round, RoundState storage state) private {
        (Choice winner, uint256 share, uint256 toPool) = _voterOutcome(state);
        bool accepted = winner == Choice.Accept;
        uint256 fromPool = 0;
        uint256 proposerPayout = 0;
        uint256 stakedProposers = state.proposersStaked;
        if (accepted) {
            uint256 reward = 0;
            if (stakedProposers > 0) {
                uint256 affordable = _pool / stakedProposers;
                reward = _stakes.proposerReward < affordable ? _stakes.proposerReward : affordable;
            }
            fromPool = reward * stakedProposers;
            proposerPayout = uint256(state.proposerStake) + reward;
        } else {
            toPool += stakedProposers * state.proposerStake;
        }
        _pool = _pool - fromPool + toPool;
        _totalStaked = _totalStaked + fromPool - toPool;
        uint256 winnerPayout = uint256(state.voterStake) + share;
        state.accepted = accepted;
        state.winner = winner;
        state.proposerPayout = SafeCast.toUint128(proposerPayout);
        state.winnerPayout = SafeCast.toUint128(winnerPayout);
        state.phase = Phase.Settling;
        emit RoundTallied(round, accepted, state.accepts, state.rejects, proposerPayout, winnerPayout, toPool, fromPool);
    }

    /// @dev The winning side (`None` on a tie), each winner's share of the forfeited stakes,
    /// and the forfeit's remainder (all of it without a winner), which goes to the pool.
    function _voterOutcome(RoundState storage state)
        private
        view
        returns (Choice winner, uint256 share, uint256 toPool)
    {
        uint256 a = state.accepts;
        uint256 r = state.rejects;
        uint256 winners;
        uint256 losers;
        if (a > r) (winners, losers, winner) = (a, r, Choice.Accept);
        else if (r > a) (winners, losers, winner) = (r, a, Choice.Reject);
        uint256 forfeit = (losers + uint256(state.votersStaked) - a - r) * state.voterStake;
        share = winners == 0 ? 0 : forfeit / winners;
        toPool = forfeit - share * winners;
    }

    function _payout(RoundState storage state, Participation memory p) private view returns (uint256) {
        if (p.role == Role.Proposer) return state.proposerPayout;
        if (p.role != Role.Voter || p.choice == Choice.None) return 0;
        if (state.winner == Choice.None) return state.voterStake;
        return p.choice == state.winner ? state.winnerPayout : 0;
    }

    function _setStakes(Stakes memory stakes_) private {
        if (
            stakes_.proposerStake == 0 || stakes_.voterStake == 0 || stakes_.votingPeriod == 0
                || uint256(stakes_.proposerStake) + stakes_.proposerReward > type(uint128).max
        ) {
            revert InvalidStakes();
        }
        _stakes = stakes_;
        emit StakesSet(stakes_.proposerStake, stakes_.voterStake, stakes_.proposerReward, stakes_.votingPeriod);
    }

    function _requireNoRoundInProgress() private view {
        if (_seq == 0) return;
        Phase phase = _rounds[_currentRound].phase;
        if (phase != Phase.Settled) revert RoundInProgress(_currentRound);
    }

    function _requirePhase(uint256 round, Phase have, Phase need) private pure {
        if (have != need) revert WrongPhase(round, have, need);
    }
}
