"""Child processes that never outlive the driver: parent-death signal, atexit, SIGTERM.

Three mechanisms, for three ways the driver can end:

- normal exit and unhandled exceptions: every live child is stopped by an ``atexit`` hook
  (and by its owner's context manager before that);
- SIGTERM: if the process still has SIGTERM's default disposition when the first child is
  spawned from the main thread, a handler is installed that raises ``SystemExit(143)``, so
  ``finally`` blocks, context managers and the ``atexit`` hook run; Ctrl-C already raises
  ``KeyboardInterrupt``. Children run in their own process group, so a terminal's Ctrl-C
  reaches only the driver, which then stops them in order;
- SIGKILL or a crash, where no Python code runs: on Linux the child asks the kernel, with
  ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` between fork and exec, to be killed when its parent
  dies.

``PR_SET_PDEATHSIG`` fires when the *thread* that forked the child exits, not the process. A
child spawned from a short-lived thread (a thread pool's worker, a Ray threaded actor's call)
would be killed when that thread ends. So children are forked from the main thread, or, when
the caller is another thread, from one long-lived daemon thread of this module, which lives
as long as the process.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from types import FrameType
from typing import IO, Any

__all__ = ["spawn", "stop_process"]

_PR_SET_PDEATHSIG = 1
_libc: Any = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        _libc = None

_live: set[subprocess.Popen[bytes]] = set()
_live_lock = threading.Lock()
_sigterm_installed = False
_spawner: queue.SimpleQueue[tuple[Callable[[], subprocess.Popen[bytes]], Future[subprocess.Popen[bytes]]]] | None = None
_spawner_lock = threading.Lock()


def _die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that sets the parent-death signal, or ``None`` off Linux."""
    if _libc is None:
        return None
    libc = _libc

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # The parent may have died between fork and prctl: then nobody would signal us.
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


def _raise_system_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _install_sigterm_handler() -> None:
    global _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    _sigterm_installed = True
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_system_exit)


def _spawner_loop(
    jobs: queue.SimpleQueue[tuple[Callable[[], subprocess.Popen[bytes]], Future[subprocess.Popen[bytes]]]],
) -> None:
    while True:
        start, future = jobs.get()
        try:
            future.set_result(start())
        except BaseException as exc:  # handed to the caller's thread
            future.set_exception(exc)


def _on_spawner_thread(start: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            _spawner = queue.SimpleQueue()
            threading.Thread(target=_spawner_loop, args=(_spawner,), name="bflray-spawner", daemon=True).start()
        jobs = _spawner
    future: Future[subprocess.Popen[bytes]] = Future()
    jobs.put((start, future))
    return future.result()


def spawn(args: Sequence[str], *, stdout: int | IO[Any] | None, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a child that is stopped at exit and killed if this process dies.

    Parameters
    ----------
    args:
        The command line.
    stdout:
        Where its stdout and stderr go (``subprocess.PIPE``, a file, ``DEVNULL``).
    cwd:
        Its working directory.
    """
    _install_sigterm_handler()
    preexec = _die_with_parent(os.getpid())

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            preexec_fn=preexec,  # prctl only: safe between fork and exec
            process_group=0,
        )

    on_main_thread = threading.current_thread() is threading.main_thread()
    process = start() if on_main_thread else _on_spawner_thread(start)
    with _live_lock:
        _live.add(process)
    return process


def stop_process(process: subprocess.Popen[bytes], *, grace_s: float = 2.0) -> None:
    """SIGTERM, wait up to ``grace_s``, then SIGKILL; reap it either way. Idempotent."""
    with _live_lock:
        _live.discard(process)
    if process.poll() is None:
        try:
            process.terminate()
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        except ProcessLookupError:
            pass
    else:
        process.wait()


@atexit.register
def _stop_all() -> None:
    with _live_lock:
        processes = list(_live)
    for process in processes:
        stop_process(process, grace_s=1.0)
