"""Track the privacy loss a run has spent, round by round, with Google's dp-accounting.

No privacy formula is written here: every ε comes from the ``dp_accounting`` library
(https://github.com/google/differential-privacy, package ``dp-accounting``). The accountant
keeps a ledger of :class:`Charge` records and, whenever ε is asked for, hands their
composition to a fresh dp-accounting accountant:

* Gaussian rounds: ``RdpAccountant`` (Rényi DP, Mironov 2017; subsampled Gaussian of
  Mironov, Talwar & Zhang 2019) composing ``PoissonSampledDpEvent(q, GaussianDpEvent(σ))``,
  or just ``GaussianDpEvent(σ)`` when every hospital takes part (q = 1).
* Laplace rounds: ``PLDAccountant`` (privacy loss distributions, Koskela et al. 2020;
  Doroshenko et al. 2022) composing ``LaplaceDpEvent(b/Δ₁)``, Poisson-sampled when q < 1.

Neighbouring federations differ by adding or removing one hospital (client-level DP). The
sampling amplification assumes each hospital joins a round independently with probability
q (Poisson sampling); a fixed-size cohort is only approximated by it — charge q = 1 for a
guarantee that does not rely on sampling.

Because a hypothetical round is accounted by copying the ledger and composing one more
charge, :meth:`PrivacyAccountant.would_exceed` and a real :meth:`PrivacyAccountant.charge`
always agree, and nothing is mutated by asking.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, cast

import dp_accounting
from dp_accounting.pld import PLDAccountant
from dp_accounting.rdp import RdpAccountant

from bflray.errors import ConfigError
from bflray.privacy.budget import BudgetExhausted, PrivacyBudget


def _not_a_convergence_note(record: logging.LogRecord) -> bool:
    """dp-accounting's RDP accountant logs, for every fractional order α its series does not
    converge at, that it leaves the order out (dozens per DP round). Leaving an order out only
    takes the minimum over fewer orders, so ε stays a valid bound: the note is dropped."""
    return not str(record.msg).startswith("_compute_log_a_frac failed to converge")


logging.getLogger("absl").addFilter(_not_a_convergence_note)

#: Which dp-accounting accountant composes the ledger. ``"auto"``: RDP for Gaussian rounds,
#: PLD for Laplace rounds (a ledger mixing both must choose ``"pld"``).
Accounting = Literal["auto", "rdp", "pld"]

_FORMAT = "bflray.privacy.accountant/1"
_ACCOUNTINGS: tuple[str, ...] = ("auto", "rdp", "pld")


class Mechanism(StrEnum):
    """The noise a round adds to the clipped sum."""

    GAUSSIAN = "gaussian"
    LAPLACE = "laplace"


@dataclass(frozen=True)
class Charge:
    """``rounds`` identical noisy releases.

    Attributes
    ----------
    mechanism:
        Gaussian or Laplace.
    noise_multiplier:
        For Gaussian, σ = noise std / L2 sensitivity. For Laplace, ``laplace_scale`` =
        b / L1 sensitivity (dp-accounting calls this the Laplace noise multiplier too).
    sampling_rate:
        q in (0, 1], the probability that a hospital takes part in a round.
    rounds:
        How many such rounds.
    """

    mechanism: Mechanism
    noise_multiplier: float
    sampling_rate: float
    rounds: int

    def to_event(self) -> Any:
        """The ``dp_accounting.DpEvent`` these rounds amount to."""
        single: Any
        if self.mechanism is Mechanism.GAUSSIAN:
            single = dp_accounting.GaussianDpEvent(self.noise_multiplier)
        else:
            single = dp_accounting.LaplaceDpEvent(self.noise_multiplier)
        if self.sampling_rate < 1.0:
            single = dp_accounting.PoissonSampledDpEvent(self.sampling_rate, single)
        return dp_accounting.SelfComposedDpEvent(single, self.rounds)

    def to_dict(self) -> dict[str, object]:
        return {
            "mechanism": self.mechanism.value,
            "noise_multiplier": self.noise_multiplier,
            "sampling_rate": self.sampling_rate,
            "rounds": self.rounds,
        }


def make_charge(
    *,
    mechanism: Mechanism | str,
    noise_multiplier: float | None = None,
    laplace_scale: float | None = None,
    sampling_rate: float = 1.0,
    rounds: int = 1,
) -> Charge:
    """Validate one charge's arguments: Gaussian takes ``noise_multiplier``, Laplace ``laplace_scale``."""
    kind = _mechanism(mechanism)
    if kind is Mechanism.GAUSSIAN:
        if laplace_scale is not None:
            raise ConfigError(f"a gaussian charge takes noise_multiplier, not laplace_scale={laplace_scale!r}")
        value = _positive_finite("noise_multiplier", noise_multiplier)
    else:
        if noise_multiplier is not None:
            raise ConfigError(f"a laplace charge takes laplace_scale, not noise_multiplier={noise_multiplier!r}")
        value = _positive_finite("laplace_scale", laplace_scale)
    if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, int | float) or not 0 < sampling_rate <= 1:
        raise ConfigError(f"sampling_rate must satisfy 0 < sampling_rate <= 1, got sampling_rate={sampling_rate!r}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ConfigError(f"rounds must be an int >= 1, got rounds={rounds!r}")
    return Charge(mechanism=kind, noise_multiplier=value, sampling_rate=float(sampling_rate), rounds=int(rounds))


def compute_epsilon(charges: tuple[Charge, ...], *, delta: float, accounting: Accounting = "auto") -> float:
    """The ε, at ``delta``, of composing ``charges`` in order (0.0 for none)."""
    _check_delta(delta)
    if not charges:
        return 0.0
    accountant = _fresh_accountant(_resolve(accounting, charges))
    event = dp_accounting.ComposedDpEvent([charge.to_event() for charge in charges])
    try:
        accountant.compose(event)
    except dp_accounting.UnsupportedEventError as exc:
        raise ConfigError(f"{type(accountant).__name__} cannot account {charges}: {exc}") from exc
    return float(accountant.get_epsilon(delta))


class PrivacyAccountant:
    """The ledger of one run's noisy releases, and the ε it has spent.

    Parameters
    ----------
    accounting:
        ``"auto"`` (RDP for Gaussian, PLD for Laplace), ``"rdp"`` or ``"pld"``. Fixed for
        the accountant's life so that ε never jumps between methods as rounds are added.

    Examples
    --------
    A round stage, before releasing round ``r``'s noisy sum::

        accountant.charge_within(budget, round_=r, mechanism="gaussian",
                                 noise_multiplier=1.1, sampling_rate=0.1)
    """

    def __init__(self, *, accounting: Accounting = "auto") -> None:
        if accounting not in _ACCOUNTINGS:
            raise ConfigError(f"accounting must be one of {_ACCOUNTINGS}, got accounting={accounting!r}")
        self._accounting: Accounting = accounting
        self._charges: tuple[Charge, ...] = ()
        self._cache: dict[tuple[tuple[Charge, ...], float], float] = {}

    @property
    def accounting(self) -> Accounting:
        return self._accounting

    @property
    def charges(self) -> tuple[Charge, ...]:
        """The ledger, consecutive identical charges merged into one with their rounds summed."""
        return self._charges

    @property
    def rounds_charged(self) -> int:
        return sum(charge.rounds for charge in self._charges)

    def charge(
        self,
        *,
        mechanism: Mechanism | str,
        noise_multiplier: float | None = None,
        laplace_scale: float | None = None,
        sampling_rate: float = 1.0,
        rounds: int = 1,
    ) -> None:
        """Record ``rounds`` noisy releases (Gaussian: ``noise_multiplier``; Laplace: ``laplace_scale``)."""
        new = make_charge(
            mechanism=mechanism,
            noise_multiplier=noise_multiplier,
            laplace_scale=laplace_scale,
            sampling_rate=sampling_rate,
            rounds=rounds,
        )
        ledger = _append(self._charges, new)
        _resolve(self._accounting, ledger)  # refuse a ledger this accountant cannot compose
        self._check_supported(ledger)
        self._charges = ledger

    def spent(self, delta: float) -> float:
        """The ε spent so far at ``delta`` (0.0 before any charge)."""
        return self._epsilon(self._charges, delta)

    def epsilon_after(
        self,
        delta: float,
        *,
        mechanism: Mechanism | str,
        noise_multiplier: float | None = None,
        laplace_scale: float | None = None,
        sampling_rate: float = 1.0,
        rounds: int = 1,
    ) -> float:
        """The ε at ``delta`` after a hypothetical charge; the ledger is not changed."""
        new = make_charge(
            mechanism=mechanism,
            noise_multiplier=noise_multiplier,
            laplace_scale=laplace_scale,
            sampling_rate=sampling_rate,
            rounds=rounds,
        )
        return self._epsilon(_append(self._charges, new), delta)

    def would_exceed(
        self,
        budget: PrivacyBudget,
        *,
        mechanism: Mechanism | str,
        noise_multiplier: float | None = None,
        laplace_scale: float | None = None,
        sampling_rate: float = 1.0,
        rounds: int = 1,
    ) -> bool:
        """Whether the hypothetical charge would take ε (at ``budget.delta``) past ``budget.epsilon``."""
        after = self.epsilon_after(
            budget.delta,
            mechanism=mechanism,
            noise_multiplier=noise_multiplier,
            laplace_scale=laplace_scale,
            sampling_rate=sampling_rate,
            rounds=rounds,
        )
        return after > budget.epsilon

    def charge_within(
        self,
        budget: PrivacyBudget,
        *,
        round_: int,
        mechanism: Mechanism | str,
        noise_multiplier: float | None = None,
        laplace_scale: float | None = None,
        sampling_rate: float = 1.0,
        rounds: int = 1,
    ) -> float:
        """Charge the round if it fits the budget and return the new ε; else raise.

        Raises
        ------
        BudgetExhausted
            When the charge would take ε past ``budget.epsilon``; nothing is charged.
        """
        kwargs: dict[str, Any] = {
            "mechanism": mechanism,
            "noise_multiplier": noise_multiplier,
            "laplace_scale": laplace_scale,
            "sampling_rate": sampling_rate,
            "rounds": rounds,
        }
        after = self.epsilon_after(budget.delta, **kwargs)
        if after > budget.epsilon:
            raise BudgetExhausted(
                epsilon=self.spent(budget.delta),
                delta=budget.delta,
                round_=round_,
                budget_epsilon=budget.epsilon,
                epsilon_after=after,
            )
        self.charge(**kwargs)
        return after

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready snapshot from which :meth:`from_dict` resumes the run's accounting."""
        return {
            "format": _FORMAT,
            "accounting": self._accounting,
            "charges": [charge.to_dict() for charge in self._charges],
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> PrivacyAccountant:
        """Rebuild an accountant from :meth:`to_dict`'s output; malformed input raises ConfigError."""
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ConfigError(f"not a privacy accountant snapshot: expected format {_FORMAT!r}, got {found!r}")
        accounting = data.get("accounting")
        if accounting not in _ACCOUNTINGS:
            raise ConfigError(f"snapshot accounting must be one of {_ACCOUNTINGS}, got {accounting!r}")
        charges = data.get("charges")
        if not isinstance(charges, list):
            raise ConfigError(f"snapshot charges must be a list, got {type(charges).__name__}")
        accountant = cls(accounting=cast(Accounting, accounting))
        for index, raw in enumerate(charges):
            if not isinstance(raw, dict) or set(raw) != {"mechanism", "noise_multiplier", "sampling_rate", "rounds"}:
                raise ConfigError(f"snapshot charge {index} is malformed: {raw!r}")
            kind = _mechanism(raw["mechanism"])
            key = "noise_multiplier" if kind is Mechanism.GAUSSIAN else "laplace_scale"
            accountant.charge(
                mechanism=kind,
                sampling_rate=raw["sampling_rate"],
                rounds=raw["rounds"],
                **{key: raw["noise_multiplier"]},
            )
        return accountant

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PrivacyAccountant):
            return NotImplemented
        return self._accounting == other._accounting and self._charges == other._charges

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PrivacyAccountant(accounting={self._accounting!r}, rounds_charged={self.rounds_charged})"

    def _epsilon(self, ledger: tuple[Charge, ...], delta: float) -> float:
        key = (ledger, float(delta))
        if key not in self._cache:
            if len(self._cache) >= 64:
                self._cache.clear()
            self._cache[key] = compute_epsilon(ledger, delta=delta, accounting=self._accounting)
        return self._cache[key]

    def _check_supported(self, ledger: tuple[Charge, ...]) -> None:
        accountant = _fresh_accountant(_resolve(self._accounting, ledger))
        for charge in ledger:
            if not accountant.supports(charge.to_event()):
                raise ConfigError(
                    f"{type(accountant).__name__} cannot account {charge.mechanism.value} rounds with "
                    f"sampling_rate={charge.sampling_rate}; use PrivacyAccountant(accounting='pld')"
                )


def _append(ledger: tuple[Charge, ...], new: Charge) -> tuple[Charge, ...]:
    # Merging keeps the ledger (and each recomputation) short over thousands of rounds.
    if ledger:
        last = ledger[-1]
        if (last.mechanism, last.noise_multiplier, last.sampling_rate) == (
            new.mechanism,
            new.noise_multiplier,
            new.sampling_rate,
        ):
            merged = Charge(last.mechanism, last.noise_multiplier, last.sampling_rate, last.rounds + new.rounds)
            return (*ledger[:-1], merged)
    return (*ledger, new)


def _resolve(accounting: Accounting, ledger: tuple[Charge, ...]) -> Literal["rdp", "pld"]:
    if accounting != "auto":
        return accounting
    kinds = {charge.mechanism for charge in ledger}
    if kinds == {Mechanism.GAUSSIAN, Mechanism.LAPLACE}:
        raise ConfigError(
            "a ledger mixing gaussian and laplace rounds needs PrivacyAccountant(accounting='pld'); "
            "'auto' would switch methods mid-run"
        )
    return "pld" if Mechanism.LAPLACE in kinds else "rdp"


def _fresh_accountant(method: Literal["rdp", "pld"]) -> Any:
    return RdpAccountant() if method == "rdp" else PLDAccountant()


def _mechanism(value: object) -> Mechanism:
    if isinstance(value, Mechanism):
        return value
    if isinstance(value, str) and value in {m.value for m in Mechanism}:
        return Mechanism(value)
    known = ", ".join(repr(m.value) for m in Mechanism)
    raise ConfigError(f"mechanism must be one of {known}, got mechanism={value!r}")


def _positive_finite(name: str, value: object) -> float:
    if value is None:
        raise ConfigError(f"{name} is required for this mechanism")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a real number, got {name}={value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be finite and > 0, got {name}={value!r}")
    return float(value)


def _check_delta(delta: float) -> None:
    if isinstance(delta, bool) or not isinstance(delta, int | float) or not 0 < delta < 1:
        raise ConfigError(f"delta must satisfy 0 < delta < 1, got delta={delta!r}")
