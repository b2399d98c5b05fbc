"""A lean JSON-RPC client with batch requests, for the bulk paths web3 makes slow.

web3.py sends one HTTP request per call; sending the raw transactions, fetching the receipts
or funding the accounts of thousands of hospitals is one batch request here (split into
requests of at most ``max_batch`` calls). Each thread gets its own keep-alive HTTP session.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import requests

from bflray.errors import ChainError, ChainUnavailableError

__all__ = ["JsonRpc", "RpcError"]


class RpcError(ChainError):
    """A JSON-RPC call answered with an error.

    Attributes
    ----------
    method:
        The method called.
    code:
        The error's code.
    data:
        The error's ``data`` (revert data for a reverted ``eth_call``), or ``None``.
    """

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        self.method = method
        self.code = int(error.get("code", 0))
        self.data = error.get("data")
        self.message = str(error.get("message", ""))
        super().__init__(f"{method} failed: {self.message} (code {self.code})")


class JsonRpc:
    """JSON-RPC over HTTP to ``url``.

    Parameters
    ----------
    url:
        The node's endpoint.
    timeout_s:
        Timeout of each HTTP request.
    max_batch:
        Most calls per HTTP request in :meth:`batch`.
    """

    def __init__(self, url: str, *, timeout_s: float = 60.0, max_batch: int = 2000) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.max_batch = max_batch
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
        return session

    def _post(self, body: Any) -> Any:
        try:
            response = self._session().post(self.url, json=body, timeout=self.timeout_s)
            response.raise_for_status()
            return response.json()
        except requests.RequestException as exc:
            raise ChainUnavailableError(f"JSON-RPC request to {self.url} failed: {exc}") from exc

    def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        """One call's result.

        Raises
        ------
        RpcError
            If the node answered with an error.
        """
        answer = self._post({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        if answer.get("error"):
            raise RpcError(method, answer["error"])
        return answer.get("result")

    def batch_raw(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[dict[str, Any]]:
        """Each call's answer object (``result`` or ``error``), in the calls' order."""
        answers: list[dict[str, Any]] = []
        for start in range(0, len(calls), self.max_batch):
            chunk = calls[start : start + self.max_batch]
            body = [
                {"jsonrpc": "2.0", "id": start + i, "method": method, "params": list(params)}
                for i, (method, params) in enumerate(chunk)
            ]
            reply = self._post(body)
            if not isinstance(reply, list):  # a node that refuses batches answers one error
                raise ChainError(f"the node at {self.url} did not answer a batch request: {reply!r:.300}")
            by_id = {item.get("id"): item for item in reply}
            answers += [by_id.get(start + i, {"error": {"message": "no answer"}}) for i in range(len(chunk))]
        return answers

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Each call's result, in the calls' order.

        Raises
        ------
        RpcError
            For the first call that answered with an error.
        """
        answers = self.batch_raw(calls)
        for (method, _), answer in zip(calls, answers, strict=True):
            if answer.get("error"):
                raise RpcError(method, answer["error"])
        return [answer.get("result") for answer in answers]

    def client_version(self) -> str:
        """``web3_clientVersion``, e.g. ``"anvil/v1.7.1"``."""
        return str(self.call("web3_clientVersion"))

    def is_anvil(self) -> bool:
        """Whether the node is anvil (its ``anvil_*`` and ``evm_*`` methods are available)."""
        return self.client_version().startswith("anvil/")
