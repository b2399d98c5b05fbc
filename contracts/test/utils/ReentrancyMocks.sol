// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IRegistry} from "../../interfaces/IRegistry.sol";

/// @notice What a hooked token calls on an account that asked for hooks.
interface ITokenHook {
    /// @param sent False before the balances move (the sender's hook, as ERC-777's
    /// `tokensToSend`), true after (the recipient's hook, as `tokensReceived`).
    function onTokenTransfer(address from, address to, uint256 amount, bool sent) external;
}

/// @notice An ERC20 with ERC-777-style transfer hooks: the hostile token a `StakeVoting` could
/// be deployed with (its token is a constructor argument). Anyone may mint (test only).
contract HookedToken is ERC20 {
    mapping(address account => bool) public hooked;

    constructor() ERC20("hooked", "HOOK") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setHooked(address account, bool on) external {
        hooked[account] = on;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0) && hooked[from]) ITokenHook(from).onTokenTransfer(from, to, value, false);
        super._update(from, to, value);
        if (to != address(0) && hooked[to]) ITokenHook(to).onTokenTransfer(from, to, value, true);
    }
}

/// @notice A hospital contract that, from inside a token transfer it takes part in, makes one
/// armed call (typically back into the voting contract) and records how it went.
contract ReentrantHospital is ITokenHook {
    address public immutable token;
    address public target;
    bytes public reentry;
    bool public armed;
    bool public fired;
    bool public firedBeforeBalancesMoved;
    bool public reentryOk;
    bytes public reentryResult;

    constructor(address token_) {
        token = token_;
    }

    /// @notice Make `data` to `target` during the next hooked transfer (once).
    function arm(address target_, bytes calldata data) external {
        target = target_;
        reentry = data;
        armed = true;
        fired = false;
    }

    /// @notice Act as this hospital; bubbles a revert up unchanged.
    function execute(address to, bytes calldata data) external returns (bytes memory ret) {
        bool ok;
        (ok, ret) = to.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
    }

    function onTokenTransfer(address, address, uint256, bool sent) external {
        require(msg.sender == token, "only the token");
        if (!armed) return;
        armed = false;
        fired = true;
        firedBeforeBalancesMoved = !sent;
        (reentryOk, reentryResult) = target.call(reentry);
    }
}

/// @notice A registry (IRegistry) whose `remove` and `suspend`, the two state-changing calls the
/// voting and reputation contracts make into it, call back into `target` with each armed call
/// and record the results. Every listed hospital is eligible until suspended or removed.
contract HookedRegistry is IRegistry {
    address[] private _hospitals;
    mapping(address account => bool) public listed;
    mapping(address account => bool) public out;
    address public target;
    bytes[] private _calls;
    bool[] public oks;
    bytes[] public results;
    uint256 public callbacks;

    function add(address[] calldata accounts) external {
        for (uint256 i = 0; i < accounts.length; i++) {
            _hospitals.push(accounts[i]);
            listed[accounts[i]] = true;
        }
    }

    function arm(address target_, bytes[] calldata calls) external {
        target = target_;
        delete _calls;
        for (uint256 i = 0; i < calls.length; i++) {
            _calls.push(calls[i]);
        }
    }

    function resultCount() external view returns (uint256) {
        return results.length;
    }

    function hospitalCount() external view returns (uint256) {
        return _hospitals.length;
    }

    function hospitalAt(uint256 index) external view returns (address hospital, bool eligible) {
        hospital = _hospitals[index];
        eligible = !out[hospital];
    }

    function isEligible(address account) external view returns (bool) {
        return listed[account] && !out[account];
    }

    function validatorCount() external pure returns (uint256) {
        return 1;
    }

    function validatorEpoch() external pure returns (uint64) {
        return 1;
    }

    function canAttest(address, uint64) external pure returns (bool) {
        return false;
    }

    function suspend(address[] calldata accounts) external {
        _mark(accounts);
    }

    function remove(address[] calldata accounts) external {
        _mark(accounts);
    }

    function _mark(address[] calldata accounts) private {
        for (uint256 i = 0; i < accounts.length; i++) {
            out[accounts[i]] = true;
        }
        callbacks += 1;
        for (uint256 i = 0; i < _calls.length; i++) {
            (bool ok, bytes memory ret) = target.call(_calls[i]);
            oks.push(ok);
            results.push(ret);
        }
    }
}
