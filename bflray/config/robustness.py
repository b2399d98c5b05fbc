"""Config sections of the defences and threats: malicious hospitals, aggregation rules and
secure aggregation, differential privacy, on-chain reputation and contribution rewards; and the
check that refuses combinations of them that cannot work."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from bflray.config.section import Section as _Section

if TYPE_CHECKING:
    from bflray.config.schema import Config


class AttackConfig(_Section):
    """Malicious hospitals: a share η of the federation, chosen once by the seed, and what they do.

    ``kind`` names a registered attack (:mod:`bflray.attacks`), several joined by ``+``
    (``"backdoor+model_replacement"``), or a user's ``"package.module:function"``.
    """

    malicious_fraction: float = Field(0.0, ge=0.0, le=1.0, description="η: share of hospitals that are malicious")
    kind: str = Field(
        "random", min_length=1, max_length=256,
        description="data: label_flip, targeted_label_flip, backdoor; model: random (noise), sign_flip, scaling, "
        "model_replacement, alie, ipm, min_max, min_sum; participation: free_riding, lazy, sybil; chain: "
        "dishonest_voting, colluding_validators; por: forged_outputs, ood_kappa, inflated_samples; + combines",
    )
    scale: float = Field(
        10.0, gt=0.0, le=1e6,
        description="random: noise std × the global model's std; sign_flip, scaling: the factor; alie: z; ipm: ε; "
        "min_max, min_sum: the first bracket of the search for γ",
    )
    collude: bool = Field(
        True, description="model attacks see the round's honest updates; false: only the malicious hospitals' own"
    )
    source_class: int = Field(0, ge=0, description="targeted_label_flip: the class relabelled")
    target_class: int = Field(1, ge=0, description="targeted_label_flip, backdoor: the class the attack wants")
    poison_fraction: float = Field(
        1.0, gt=0.0, le=1.0, description="data attacks: share of a malicious hospital's samples poisoned"
    )
    trigger_size: int = Field(3, ge=1, le=64, description="backdoor: side of the square trigger, in pixels")
    trigger_value: float = Field(1.0, ge=0.0, le=1.0, description="backdoor: the trigger's pixel value")
    lazy_epochs: int = Field(1, ge=1, le=10_000, description="lazy: local epochs a lazy hospital trains")
    sample_inflation: float = Field(
        10.0, ge=1.0, le=1e6, description="inflated_samples: claimed ÷ real sample count"
    )

    @field_validator("kind")
    @classmethod
    def _registered(cls, kind: str) -> str:
        from bflray.attacks import AttackError, parse_kind

        try:
            parse_kind(kind)
        except AttackError as exc:
            raise ValueError(str(exc)) from None
        return kind

    @model_validator(mode="after")
    def _classes_differ(self) -> AttackConfig:
        if self.source_class == self.target_class and "targeted_label_flip" in self.kind:
            raise ValueError(
                f"attack.source_class = attack.target_class = {self.source_class}: the targeted flip changes nothing"
            )
        return self


class AggregationConfig(_Section):
    """How the round's updates become the next global model.

    Updates are aggregated as deltas from the global model. ``filters`` are selection steps
    applied in order (each keeps a subset), then ``rule`` combines what is left. With ``secure``
    the updates are secret-shared between ``nodes`` aggregation nodes: only rules that reduce to
    a weighted sum with public weights, and filters that need only the pairwise distance or
    cosine matrix, can run there (checked when the config is read).
    """

    rule: str = Field(
        "fedavg", pattern=r"^[A-Za-z0-9_.:-]{1,128}$",
        description="a registered rule (fedavg, median, trimmed_mean, krum, multi_krum, bulyan, geometric_median, "
        "centered_clipping, cosine_filter, norm_bounding, reputation, stake, filtered_trimmed_mean) or module:function",
    )
    filters: tuple[str, ...] = Field((), description="selection steps before the rule: cosine_filter, multi_krum, krum")
    num_byzantine: int = Field(0, ge=0, description="f: malicious updates the rule tolerates (krum, multi_krum, bulyan)")
    num_selected: int = Field(0, ge=0, description="multi_krum: updates kept, m; 0 = n − f")
    trim_fraction: float = Field(0.1, ge=0.0, lt=0.5, description="β: share trimmed from each side (trimmed means)")
    cosine_threshold: float = Field(0.0, ge=-1.0, le=1.0, description="cosine_filter: least similarity kept")
    norm_bound: float = Field(1.0, gt=0.0, description="norm_bounding: largest update norm")
    clipping_radius: float = Field(1.0, gt=0.0, description="centered_clipping: τ")
    secure: Literal["none", "additive", "shamir", "ckks"] = Field(
        "none", description="none: plaintext; additive: n-of-n shares; shamir: t-of-k shares; ckks: TenSEAL encryption"
    )
    nodes: int = Field(3, ge=2, le=64, description="aggregation nodes, k")
    threshold: int = Field(2, ge=1, le=64, description="shamir: shares that reconstruct, t (≤ nodes)")
    fixed_point_bits: int = Field(16, ge=4, le=40, description="fractional bits of the fixed-point encoding")
    fixed_point_bound: float = Field(
        64.0, gt=0.0, le=1e6, description="largest |Δ| coordinate a hospital may share; larger updates are refused"
    )

    @field_validator("filters", mode="before")
    @classmethod
    def _filters_tuple(cls, value: object) -> object:
        return tuple(value) if isinstance(value, list) else value

    @model_validator(mode="after")
    def _threshold(self) -> AggregationConfig:
        if self.secure == "shamir" and self.threshold > self.nodes:
            raise ValueError(
                f"aggregation.threshold = {self.threshold} must be ≤ aggregation.nodes = {self.nodes} "
                "for Shamir sharing"
            )
        return self


class ReputationConfig(_Section):
    """The ``Reputation`` contract's rule (``experiment.pipeline = "smpc"``; SMPC paper, Sec. 2.5).

    ``rep ← α·rep + (1 − α)·p`` for a participant with performance p (1 when its delta agrees
    with the others', see ``min_agreement``, else 0); when p drops below
    ``(1 − tolerance)·previous p`` its reputation and aggregation weight are cut and it gets a
    strike; ``max_strikes`` strikes suspend it (it is no longer eligible).
    """

    alpha: float = Field(0.5, ge=0.0, le=1.0)
    tolerance: float = Field(0.5, ge=0.0, le=1.0, description="tolerated relative drop of performance")
    reputation_cut: float = Field(0.5, ge=0.0, le=1.0)
    weight_cut: float = Field(0.5, ge=0.0, le=1.0)
    initial: float = Field(1.0, ge=0.0, le=1.0, description="reputation before a first update")
    max_strikes: int = Field(3, ge=1, le=65_535)
    min_agreement: float = Field(
        0.0, ge=-1.0, le=1.0, description="performance 1 iff cos(Δ_i, Σ of the others' Δ) reaches this, else 0"
    )


class RewardsConfig(_Section):
    """Contribution rewards (``experiment.pipeline = "dp_bfl"``): paid from the staking
    contract's reward pool in proportion to each participant's validation improvement."""

    pool_tokens: int = Field(1000, ge=0, description="initial tokens of the reward pool")
    per_round: int = Field(20, ge=0, description="tokens a round pays out, split by contribution")
    validation_fraction: float = Field(
        0.5, gt=0.0, lt=1.0, description="share of the held-out split the coordinator validates on (the rest tests)"
    )


class PrivacyConfig(_Section):
    """Client-level differential privacy: clip each update, add noise, charge the accountant.

    ``epsilon`` and ``delta`` are the run's budget; they go into the FL plan on chain, and the run
    stops cleanly, results written, before a round that would spend more.
    """

    clip_norm: float = Field(0.0, ge=0.0, description="C: largest update norm (L2; L1 for laplace); 0 = no clipping")
    mechanism: Literal["none", "gaussian", "laplace"] = "none"
    placement: Literal["central", "local"] = Field(
        "central", description="central: noise once on the clipped sum; local: each hospital noises its own update"
    )
    noise_multiplier: float = Field(1.0, gt=0.0, le=1e6, description="gaussian: σ, noise std in units of clip_norm")
    laplace_epsilon: float = Field(1.0, gt=0.0, le=1e6, description="laplace: ε of one round's mechanism")
    epsilon: float = Field(0.0, ge=0.0, description="budget ε; 0 = no budget")
    delta: float = Field(1e-5, gt=0.0, lt=1.0, description="budget δ")


_FILTERS = ("cosine_filter", "krum", "multi_krum")


def check_aggregation(config: Config) -> None:
    """Refuse aggregation and privacy combinations that cannot work, naming the ones that would."""
    from bflray.aggregation import AggregationError, rule_info, rule_names

    agg, privacy, pipeline = config.aggregation, config.privacy, config.experiment.pipeline
    try:
        info = rule_info(agg.rule)
    except AggregationError as exc:
        raise ValueError(f"aggregation.rule = {agg.rule!r}: {exc}") from exc
    weighted = sorted(n for n in rule_names() if rule_info(n).secure_compatible == "weighted_sum")
    for name in agg.filters:
        if name not in _FILTERS:
            raise ValueError(f"aggregation.filters: {name!r} is not a selection filter; use {', '.join(_FILTERS)}")
    custom = agg.rule != "fedavg" or agg.filters or agg.secure != "none" or privacy.mechanism != "none"
    if custom and pipeline in ("por", "flock"):
        raise ValueError(
            f"experiment.pipeline = {pipeline!r} aggregates with its own rule: aggregation.rule, filters, secure and "
            "privacy apply to the fedavg, smpc and dp_bfl pipelines"
        )
    if agg.secure != "none" and info.secure_compatible != "weighted_sum":
        raise ValueError(
            f"aggregation.rule = {agg.rule!r} needs the updates in the clear, so it cannot follow "
            f"aggregation.secure = {agg.secure!r} (the nodes only ever hold shares); rules that reduce to a weighted "
            f"sum with public weights work: {', '.join(weighted)}; distance-based selection goes in "
            f"aggregation.filters ({', '.join(_FILTERS)})"
        )
    if agg.secure == "ckks" and agg.filters:
        raise ValueError(
            f"aggregation.filters = {list(agg.filters)} need pairwise distances, which CKKS aggregation does not "
            "compute; use aggregation.secure = 'additive' for filters on shares"
        )
    if privacy.mechanism != "none" and privacy.clip_norm <= 0:
        raise ValueError(
            f"privacy.mechanism = {privacy.mechanism!r} needs privacy.clip_norm > 0 (the noise is calibrated to it)"
        )
    if privacy.mechanism == "none" and privacy.epsilon > 0:
        raise ValueError(
            f"privacy.epsilon = {privacy.epsilon} sets a budget, but privacy.mechanism = 'none' adds no noise, so "
            "nothing would be accounted; set privacy.mechanism to 'gaussian' or 'laplace', or privacy.epsilon = 0"
        )
    _check_byzantine_bound(config, info.name)
    if privacy.mechanism != "none" and privacy.placement == "central" and info.secure_compatible != "weighted_sum":
        raise ValueError(
            f"privacy.placement = 'central' adds noise to a weighted sum of clipped updates; aggregation.rule = "
            f"{agg.rule!r} is not one, so its sensitivity is unknown; use {', '.join(weighted)}, or "
            "privacy.placement = 'local'"
        )


#: Least cohort each rule needs for f = ``aggregation.num_byzantine`` (their own preconditions).
_BYZANTINE_BOUNDS = {"krum": (2, 3, "2f+3"), "multi_krum": (2, 3, "2f+3"), "bulyan": (4, 3, "4f+3")}


def _check_byzantine_bound(config: Config, rule: str) -> None:
    """A rule from the Krum family refuses a round with too few updates for its f; the planned
    cohort must have enough (dropouts and rejected updates can still shrink a round below it)."""
    from bflray.config.consistency import planned_cohort

    agg = config.aggregation
    if rule not in _BYZANTINE_BOUNDS:
        return
    factor, extra, formula = _BYZANTINE_BOUNDS[rule]
    need, cohort = factor * agg.num_byzantine + extra, planned_cohort(config)
    if cohort < need:
        raise ValueError(
            f"aggregation.num_byzantine = {agg.num_byzantine} needs a cohort of at least {formula} = {need} for "
            f"aggregation.rule = {rule!r}, but a round takes {cohort} (federation.hospitals = "
            f"{config.federation.hospitals}, cohort_size = {config.federation.cohort_size}, cohort_fraction = "
            f"{config.federation.cohort_fraction})"
        )
    if rule == "multi_krum" and agg.num_selected > cohort:
        raise ValueError(
            f"aggregation.num_selected = {agg.num_selected} exceeds the {cohort} updates a round takes "
            f"(federation.hospitals = {config.federation.hospitals}, cohort_size = {config.federation.cohort_size}, "
            f"cohort_fraction = {config.federation.cohort_fraction})"
        )
