"""Checks of ``[attack]`` against the rest of the config: an attack the configured pipeline
has no place for would be silently ignored, so it is refused, naming the keys and where it
does apply."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bflray.config.schema import Config

#: Attacks that act in one kind of pipeline only, and which.
_PIPELINES = {
    "dishonest_voting": ("flock",),
    "colluding_validators": ("por", "flock", "smpc", "dp_bfl"),  # those with chain validators
    "forged_outputs": ("por",),
    "ood_kappa": ("por",),
}


def check_attack(config: Config) -> None:
    from bflray.attacks import parse_kind
    from bflray.attacks.colluding_validators import colluding_count

    attack, pipeline = config.attack, config.experiment.pipeline
    if attack.malicious_fraction <= 0:
        return
    names = [info.name for info in parse_kind(attack.kind)]
    for name in names:
        where = _PIPELINES.get(name)
        if where is not None and pipeline not in where:
            raise ValueError(
                f"attack.kind = {attack.kind!r} with experiment.pipeline = {pipeline!r}: {name} acts only in the "
                f"{', '.join(where)} pipeline{'s' if len(where) > 1 else ''}, so it would be silently ignored"
            )
    epochs = config.training.local_epochs
    if "lazy" in names and attack.lazy_epochs >= epochs:
        raise ValueError(
            f"attack.lazy_epochs = {attack.lazy_epochs} with training.local_epochs = {epochs}: a lazy hospital "
            "must train fewer epochs than an honest one"
        )
    if "colluding_validators" in names:
        voting = config.voting
        colluding = colluding_count(
            validators=voting.validators, malicious_fraction=attack.malicious_fraction,
            byzantine_validators=voting.byzantine_validators,
        )
        if colluding >= voting.validators:
            raise ValueError(
                f"attack.malicious_fraction = {attack.malicious_fraction} makes {colluding} of the "
                f"voting.validators = {voting.validators} validators collude: with no honest validator nothing "
                "checks the round"
            )
