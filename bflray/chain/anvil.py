"""The local chain: start anvil (or reach an existing node) and make sure it is always stopped.

anvil comes from the repository's ``node_modules`` (npm ``@foundry-rs/anvil-linux-amd64``,
pinned in ``package.json``); see :func:`bflray.chain._tools.find_tool` for the search order.
It listens on 127.0.0.1 on a port the kernel picks (``--port 0``), which is read from its
``Listening on`` line.

Reproducible chain state: anvil stamps an automined block with the wall clock (shifted so the
genesis block has ``--timestamp``), so block timestamps, and with them block hashes, would
depend on how long each step took. Right after start we call
``anvil_setBlockTimestampInterval``: every new block is then stamped exactly
``block_interval_s`` after its parent, and two fresh chains fed the same transactions have
the same blocks, hashes included.

Checkpoints: :meth:`AnvilNode.dump_state` returns the chain (accounts, storage, blocks and
transactions) as anvil's ``anvil_dumpState`` gives it, gzip-compressed JSON; ``start_anvil(...,
state=...)`` starts a node and loads it (``anvil_loadState``). Loading leaves anvil's clock at
its own genesis, so the next block would be stamped before the loaded ones; ``evm_setTime``
to the latest loaded block's timestamp puts it back, and the reloaded chain then mines the same
blocks, hashes included, as the one that was dumped would have.

The process never outlives the driver: see :mod:`bflray.chain._lifecycle` (context manager,
``atexit``, SIGTERM turned into ``SystemExit``, and ``PR_SET_PDEATHSIG`` for SIGKILL).
"""

from __future__ import annotations

import collections
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from web3 import HTTPProvider, Web3

from bflray.chain._lifecycle import spawn, stop_process
from bflray.chain._tools import find_tool, tool_version
from bflray.config.schema import ChainConfig
from bflray.errors import ChainError, ChainUnavailableError

__all__ = ["ANVIL_CHAIN_ID", "ANVIL_HARDFORK", "AnvilNode", "anvil_version", "connect", "describe_exit", "start_anvil"]

ANVIL_CHAIN_ID = 31337
ANVIL_HARDFORK = "prague"  # the evm_version in foundry.toml
_LISTENING_RE = re.compile(rb"Listening on ([0-9.]+):(\d+)")
_POLL_S = 0.05


def anvil_version() -> str:
    """The version anvil reports, e.g. ``"1.7.1"``."""
    return tool_version("anvil")


def _provider(url: str, request_timeout_s: float) -> HTTPProvider:
    # No web3 retries: they back off past the caller's timeout.
    return HTTPProvider(url, request_kwargs={"timeout": request_timeout_s}, exception_retry_configuration=None)


def connect(url: str, timeout_s: float, *, request_timeout_s: float | None = None) -> Web3:
    """A ``Web3`` for the node at ``url``, once it answers ``eth_chainId``.

    Polls until the node answers or ``timeout_s`` has elapsed; every request is bounded by
    what is left of it, so this never blocks much longer than ``timeout_s``.

    Parameters
    ----------
    url:
        An ``http://`` or ``https://`` JSON-RPC endpoint.
    timeout_s:
        How long to wait for the node.
    request_timeout_s:
        The timeout of every later request through the returned ``Web3``; ``timeout_s`` if unset.

    Raises
    ------
    ChainUnavailableError
        If the node did not answer in time; the message names the URL, the timeout and the
        last error.
    ChainError
        For a URL scheme the synchronous client cannot use (``ws://``, ``wss://``).
    """
    if not url.startswith(("http://", "https://")):
        raise ChainError(f"chain.url must be an http:// or https:// endpoint for bflray's client, got {url!r}")
    deadline = time.monotonic() + timeout_s
    last_error = "no answer"
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        probe = Web3(_provider(url, max(min(remaining, 2.0), 0.05)))
        try:
            probe.eth.chain_id  # noqa: B018 - the request is the point
        except Exception as exc:  # any failure means "not answering yet"; web3 wraps many kinds
            last_error = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        else:
            return Web3(_provider(url, request_timeout_s or timeout_s))
        time.sleep(min(_POLL_S * 4, max(deadline - time.monotonic(), 0.0)))
    raise ChainUnavailableError(f"no chain node answered at {url} within {timeout_s:g} s ({last_error})")


class AnvilNode:
    """A running anvil process; stop it with :meth:`stop` or by leaving its ``with`` block.

    Use :func:`start_anvil` to make one.

    Attributes
    ----------
    url:
        Its JSON-RPC endpoint, ``http://127.0.0.1:<port>``.
    pid:
        Its process id.
    """

    def __init__(self, process: subprocess.Popen[bytes], url: str, drain: threading.Thread | None) -> None:
        self._process = process
        self._drain = drain
        self._stopping = False
        self.url = url
        self.pid = process.pid

    @property
    def running(self) -> bool:
        """Whether the process is still alive."""
        return self._process.poll() is None

    def exit_status(self, wait_s: float = 0.0) -> int | None:
        """The exit status if anvil exited on its own or was killed (waiting up to ``wait_s``
        for it), ``None`` while it runs or once :meth:`stop` stopped it on purpose.

        A client can see the connection fail a moment before the dying process can be
        reaped: ``wait_s`` covers that.
        """
        if self._stopping:
            return None
        try:
            return self._process.wait(timeout=wait_s) if wait_s > 0 else self._process.poll()
        except subprocess.TimeoutExpired:
            return None

    def dump_state(self, timeout_s: float = 120.0) -> bytes:
        """The chain's whole state (``anvil_dumpState``): gzip-compressed JSON, for ``start_anvil(state=...)``.

        Raises
        ------
        ChainError
            If the node does not answer (:class:`~bflray.errors.ChainUnavailableError` when unreachable).
        """
        from bflray.chain.rpc import JsonRpc

        answer = JsonRpc(self.url, timeout_s=timeout_s).call("anvil_dumpState")
        if not isinstance(answer, str) or not answer.startswith("0x"):
            raise ChainError(f"anvil_dumpState at {self.url} answered {answer!r:.80} instead of a hex blob")
        return bytes.fromhex(answer[2:])

    def stop(self) -> None:
        """Stop anvil (SIGTERM, then SIGKILL after 2 s). Idempotent."""
        self._stopping = self._process.poll() is None or self._stopping
        stop_process(self._process)
        if self._drain is not None:
            self._drain.join(timeout=2.0)

    def __enter__(self) -> AnvilNode:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"AnvilNode(url={self.url!r}, pid={self.pid}, running={self.running})"


class _OutputDrain:
    """Reads anvil's output: finds the port, keeps a tail for errors, copies it to a log."""

    def __init__(self, stream: IO[bytes], log_path: Path | None) -> None:
        self._stream = stream
        self._log_path = log_path
        self.address: tuple[str, int] | None = None
        self.ready = threading.Event()
        self.tail: collections.deque[str] = collections.deque(maxlen=20)

    def run(self) -> None:
        log: IO[bytes] | None = self._log_path.open("ab") if self._log_path is not None else None
        try:
            for line in iter(self._stream.readline, b""):
                if log is not None:
                    log.write(line)
                    log.flush()
                if self.address is None:
                    self.tail.append(line.decode("utf-8", "replace").rstrip())
                    match = _LISTENING_RE.search(line)
                    if match:
                        self.address = (match.group(1).decode(), int(match.group(2)))
                        self.ready.set()
        finally:
            self.ready.set()
            self._stream.close()
            if log is not None:
                log.close()


def _anvil_args(binary: Path, config: ChainConfig) -> list[str]:
    return [
        str(binary),
        "--host", "127.0.0.1",
        "--port", "0",
        "--chain-id", str(ANVIL_CHAIN_ID),
        "--hardfork", ANVIL_HARDFORK,
        "--timestamp", str(config.start_timestamp),
        "--gas-limit", str(config.block_gas_limit),
        "--accounts", str(config.accounts),
        "--mnemonic", config.mnemonic,
        "--color", "never",
    ]  # fmt: skip


def describe_exit(status: int) -> str:
    """``"exited with status 1"``, ``"was killed by SIGKILL (status -9)"``: a process's end in words."""
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"was killed by {name} (status {status})"
    return f"exited with status {status}"


def _rpc(web3: Web3, method: str, params: list[Any]) -> Any:
    response = web3.provider.make_request(method, params)  # type: ignore[arg-type]
    if response.get("error"):
        raise ChainError(f"{method} failed: {response['error']}")
    return response.get("result")


def start_anvil(
    config: ChainConfig, *, log_path: Path | None = None, block_interval_s: int = 1, state: bytes | None = None
) -> AnvilNode:
    """Start anvil for ``config`` and wait until it answers ``eth_chainId``.

    Parameters
    ----------
    config:
        Genesis timestamp, block gas limit, number of accounts and mnemonic; ``timeout_s``
        bounds the wait.
    log_path:
        File that receives anvil's output (appended); discarded if ``None``.
    block_interval_s:
        Seconds between consecutive blocks' timestamps (see the module docstring).
    state:
        A chain from :meth:`AnvilNode.dump_state` to continue (see the module docstring).

    Returns
    -------
    AnvilNode
        The running node; the caller stops it (``with start_anvil(...) as node:``).

    Raises
    ------
    ChainError
        If anvil cannot be found.
    ChainUnavailableError
        If it exited or did not answer within ``config.timeout_s`` (it is killed then).
    """
    if block_interval_s < 1:
        raise ValueError(f"block_interval_s must be at least 1, got {block_interval_s}")
    binary = find_tool("anvil")
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    process = spawn(_anvil_args(binary, config), stdout=subprocess.PIPE)
    if process.stdout is None:  # pragma: no cover - PIPE always gives a stream
        stop_process(process)
        raise ChainError("anvil started without an output pipe")
    drain = _OutputDrain(process.stdout, log_path)
    thread = threading.Thread(target=drain.run, name=f"anvil-{process.pid}-output", daemon=True)
    thread.start()
    node = AnvilNode(process, "", thread)
    deadline = time.monotonic() + config.timeout_s
    try:
        drain.ready.wait(timeout=config.timeout_s)
        if drain.address is None:
            # Its output can close before the exited process is reaped: wait a moment for the code.
            try:
                code: int | None = process.wait(timeout=max(0.5, min(2.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                code = None
            ended = f"exited with {code}" if code is not None else "printed no address"
            tail = " | ".join(drain.tail)[-600:]
            raise ChainUnavailableError(
                f"anvil ({binary}) {ended} within {config.timeout_s:g} s; its output: {tail or '(none)'}"
            )
        host, port = drain.address
        node.url = f"http://{host}:{port}"
        try:
            web3 = connect(node.url, max(deadline - time.monotonic(), 0.1), request_timeout_s=config.timeout_s)
        except ChainUnavailableError as exc:
            raise ChainUnavailableError(
                f"anvil at {node.url} did not answer eth_chainId within {config.timeout_s:g} s"
            ) from exc
        _rpc(web3, "anvil_setBlockTimestampInterval", [block_interval_s])
        if state is not None:
            _load_state(web3, state)
    except BaseException:
        node.stop()
        raise
    return node


def _load_state(web3: Web3, state: bytes) -> None:
    if _rpc(web3, "anvil_loadState", ["0x" + state.hex()]) is not True:
        raise ChainError("anvil_loadState did not load the saved chain state")
    _rpc(web3, "evm_setTime", [int(web3.eth.get_block("latest")["timestamp"])])
