"""Typed experiment configuration: one TOML file per experiment, one section per concern.

The section and key names here are the ones every later feature extends; the README's
configuration reference documents each. Every model forbids unknown keys and is frozen, so a
validated config is a value that can be hashed, written back and compared.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from bflray.config.consistency import check_consistency
from bflray.config.robustness import (
    AggregationConfig,
    AttackConfig,
    PrivacyConfig,
    ReputationConfig,
    RewardsConfig,
    check_aggregation,
)
from bflray.config.faults import FaultsConfig
from bflray.config.section import Section as _Section

__all__ = [
    "AggregationConfig", "AttackConfig", "ChainConfig", "Config", "DataConfig", "ExperimentConfig", "FederationConfig",
    "MAEConfig", "MetricsConfig", "ModelConfig", "PoRConfig", "PrivacyConfig", "RayConfig", "ReputationConfig",
    "RewardsConfig", "RuntimeConfig", "StoreConfig", "TrainingConfig", "VotingConfig",
]


class ExperimentConfig(_Section):
    """What the run is called, its seed, how many rounds, and where its directory goes."""

    name: str = Field("demo", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    seed: int = Field(0, ge=0, lt=2**63)
    rounds: int = Field(3, ge=1, le=100_000)
    out_dir: str = "runs"
    mirror_uri: str = Field(
        "", description="a pyarrow filesystem URI (s3://…, gs://…, file:///…) the run directory is copied to "
        "after every round; empty: none"
    )
    pipeline: Literal["fedavg", "por", "flock", "smpc", "dp_bfl"] = Field(
        "fedavg",
        description=(
            "fedavg: train → commit → aggregate; por: Proof of Reasoning (MAE, EDI, validation, ranking); "
            "flock: FLock's stake-based voting on the aggregate (reward and slash); smpc: clipping, secret-shared "
            "robust aggregation and on-chain reputation; dp_bfl: the on-chain FL plan, eligibility and selection, "
            "client-level DP with a budget, contribution rewards"
        ),
    )


class FederationConfig(_Section):
    """The simulated federation: how many hospitals take part."""

    hospitals: int = Field(8, ge=1, le=1_000_000)
    cohort_fraction: float = Field(
        1.0, gt=0.0, le=1.0, description="share of the hospitals sampled each round (ignored when cohort_size > 0)"
    )
    cohort_size: int = Field(0, ge=0, description="hospitals whose updates a round uses; 0 takes cohort_fraction")
    over_provision: float = Field(
        0.0, ge=0.0, le=10.0, description="extra share selected beyond the cohort; the first to report are used"
    )
    dropout_probability: float = Field(
        0.0, ge=0.0, lt=1.0, description="chance that a selected hospital drops out mid-round and never reports"
    )


class DataConfig(_Section):
    """Which dataset, where its files are, and how it is split over hospitals."""

    dataset: Literal[
        "digits", "digits28", "synthetic",
        "pathmnist", "chestmnist", "dermamnist", "octmnist", "pneumoniamnist", "retinamnist",
        "breastmnist", "bloodmnist", "tissuemnist", "organamnist", "organcmnist", "organsmnist",
    ] = "digits"
    source: Literal["auto", "medmnist", "offline"] = Field(
        "auto", description="MedMNIST names: auto falls back to digits28 when the file is absent"
    )
    root: str = Field("data", description="folder holding MedMNIST's {name}.npz files")
    download: bool = Field(True, description="try to download an absent MedMNIST file into root")
    partition: Literal["iid", "dirichlet", "quantity", "ranges"] = "iid"
    alpha: float = Field(0.5, gt=0.0, le=1e6, description="Dirichlet label-skew concentration (dirichlet)")
    quantity_alpha: float = Field(1.0, gt=0.0, le=1e6, description="Dirichlet size-skew concentration (quantity)")
    validation_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="share of each hospital kept to validate")
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="held-out test share (digits; MedMNIST has its own)")
    samples_per_hospital: int = Field(128, ge=1, le=1_000_000, description="synthetic: samples each hospital generates")
    synthetic_features: int = Field(256, ge=1, le=1_000_000, description="synthetic: features per sample")
    synthetic_classes: int = Field(9, ge=2, le=10_000, description="synthetic: classes")
    synthetic_test_samples: int = Field(2_000, ge=1, le=10_000_000, description="synthetic: held-out test samples")


class ModelConfig(_Section):
    """The classifier each hospital trains."""

    name: str = Field("mlp", pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="a registered model: mlp, head")
    hidden: int = Field(32, ge=1, le=65_536)
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout probability of models that have a dropout layer")
    bottleneck_reduction: int = Field(8, ge=1, le=1024, description="por_head: the bottleneck's channel reduction")


class MAEConfig(_Section):
    """The masked autoencoder PoR encodes images with (``experiment.pipeline = "por"``)."""

    mode: Literal["per_hospital", "shared", "averaged"] = "shared"
    patch_size: int = Field(4, ge=1, le=28)
    width: int = Field(64, ge=8, le=4096)
    depth: int = Field(2, ge=1, le=48)
    heads: int = Field(2, ge=1, le=64)
    decoder_width: int = Field(32, ge=4, le=4096)
    decoder_depth: int = Field(1, ge=1, le=48)
    decoder_heads: int = Field(1, ge=1, le=64)
    mask_ratio: float = Field(0.75, ge=0.0, lt=1.0)
    masking: Literal["uniform", "normal"] = "uniform"
    normal_sigma: float = Field(0.35, gt=0.0, le=10.0, description="std of the normal masking prior, × image side")
    loss: Literal["mse", "mae"] = "mse"
    epochs: int = Field(10, ge=0, le=10_000)
    batch_size: int = Field(64, ge=1, le=1_000_000)
    learning_rate: float = Field(1e-3, gt=0.0, le=10.0)
    feature_views: int = Field(1, ge=1, le=64, description="random masks per image when encoding features")
    cache: bool = Field(True, description="reuse encoders across runs by content hash")


class PoRConfig(_Section):
    """Proof of Reasoning: EDI transactions, validation and ranking (``experiment.pipeline = "por"``)."""

    epsilon: float = Field(1e-4, gt=0.0, description="validation tolerance ε on |Ω_i(κ_i) − ŷ_i|")
    tuples: int = Field(1, ge=1, le=10_000, description="encoded datapoints per EDI transaction, m")
    score: str = Field("rank_points", description="scoring function S: rank_points, accuracy, log_likelihood, brier")
    reduction: str = Field("sum", description="reduction R: sum, mean, median")
    aggregation: Literal["top_k_mean", "rank_weighted", "softmax"] = "rank_weighted"
    top_k: int = Field(0, ge=0, description="top_k_mean: classifiers averaged; 0 = the better half")
    temperature: float = Field(1.0, gt=0.0, description="softmax: temperature on standardised scores")
    committee_size: int = Field(0, ge=0, description="datapoints each classifier is scored on; 0 = all (exact)")
    committee_sampling: Literal["uniform", "stratified"] = Field(
        "stratified",
        description="committees: uniform samples, or stratified by label and κ region (bflray.por.ranking.committee_strata)",
    )
    committee_regions: int = Field(
        16, ge=1, le=1024, description="stratified committees: κ-space regions per label; 1 stratifies by label only"
    )
    kappa_screen: Literal["none", "mahalanobis"] = Field(
        "mahalanobis",
        description="κ screen: pooled datapoints whose tokens lie far from the majority's under a robust covariance "
        "leave the exam (bflray.por.kappa_screen); none: every validated datapoint is pooled",
    )
    kappa_screen_threshold: float = Field(
        7.0, gt=1.0, le=1e6, description="κ screen: a datapoint is left out above this multiple of the median distance"
    )


class VotingConfig(_Section):
    """FLock's stake-based voting (``experiment.pipeline = "flock"``; FLock paper, Sec. IV).

    Each round the chain draws ``proposers`` (who train; their FedAvg is the candidate) and a
    committee of ``committee_size`` voters from the hospitals that can stake; each voter scores
    the candidate and the previous global model on its validation split and accepts iff
    score(candidate) ≥ (1 − ε)·score(previous); the majority settles (a tie rejects).
    """

    committee_size: int = Field(10, ge=1, le=1_000_000, description="voters drawn per round")
    proposers: int = Field(1, ge=1, le=1_000_000, description="proposers drawn per round (they train)")
    epsilon: float = Field(0.05, ge=0.0, lt=1.0, description="tolerated drop ε of a voter's validation score")
    proposer_stake: int = Field(8, ge=1, description="γ_p: tokens a drawn proposer stakes")
    voter_stake: int = Field(8, ge=1, description="γ_v: tokens a drawn voter stakes")
    proposer_reward: int = Field(2, ge=0, description="tokens paid from the pool to each proposer of an accepted round")
    initial_tokens: int = Field(64, ge=0, description="each hospital's tokens at the start")
    pool_tokens: int = Field(0, ge=0, description="initial tokens of the proposers' reward pool")
    mode: Literal["batched", "per_hospital"] = Field(
        "batched", description="batched: a relayer sends signed ballots; per_hospital: each voter its own transaction"
    )
    validators: int = Field(4, ge=1, le=990, description="validators that check and attest each round's record")
    byzantine_validators: int = Field(
        0, ge=0, le=990, description="validators that attest a wrong model hash whatever they find (the first ones)"
    )
    validator_sample: int = Field(8, ge=1, le=1_000_000, description="por: EDI transactions a validator re-validates")
    voting_period: int = Field(600, ge=1, description="chain seconds votes are taken after the draw")


class TrainingConfig(_Section):
    """Local training at each hospital, per round."""

    local_epochs: int = Field(1, ge=1, le=1_000)
    warmup_epochs: int = Field(
        0, ge=0, le=10_000, description="round 1's local epochs, before the first aggregation (the PoR paper: 25); "
        "0 = local_epochs",
    )
    batch_size: int = Field(16, ge=1, le=1_000_000)
    learning_rate: float = Field(0.1, gt=0.0, le=100.0)
    optimizer: Literal["sgd", "adam", "svrg"] = "sgd"
    optimizer_beta1: float = Field(0.9, ge=0.0, lt=1.0, description="Adam's β₁")
    optimizer_beta2: float = Field(0.999, ge=0.0, lt=1.0, description="Adam's β₂")
    optimizer_eps: float = Field(1e-8, gt=0.0, description="Adam's ε")
    local_chunk_size: int = Field(
        128, ge=1, le=1_000_000, description="hospitals trained together at most; bounds memory, not results"
    )


class RuntimeConfig(_Section):
    """Which backend hosts the roles, and how hospitals are packed into actors."""

    backend: Literal["ray", "inprocess"] = "ray"
    hospitals_per_actor: int = Field(
        0, ge=0, description="hospitals hosted by one shard actor; 0 packs them to the CPUs"
    )
    num_cpus_per_actor: float = Field(1.0, ge=0.0)
    num_gpus_per_actor: float = Field(0.0, ge=0.0)
    start_timeout_s: float = Field(120.0, gt=0.0, description="how long shards may take to start")
    feature_dtype: Literal["float32", "float16"] = Field(
        "float32", description="how a shard stores its hospitals' features; float16 halves their memory"
    )
    shard_failure: Literal["retry", "drop"] = Field(
        "retry", description="a shard dying mid-round: retry its call once restarted, or finish the round without it"
    )
    shard_retries: int = Field(2, ge=0, le=100, description="retries of one call on a restarted shard")
    max_restarts: int = Field(3, ge=-1, description="restarts of a dead shard actor (-1: no limit)")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="where a shard keeps its hospitals' data and trains them; auto: its GPU when it has one"
    )


class RayConfig(_Section):
    """Where the Ray cluster is: empty for a local one started by the run, else an address."""

    address: str = Field("", description='"" starts a local cluster; "auto" joins the one this node is part of')
    num_cpus: int = Field(0, ge=0, description="CPUs of a local cluster; 0 lets Ray count them")
    shard_placement: Literal["spread", "default"] = Field(
        "spread", description="hospital shards over the nodes: spread (one per node first) or Ray's default packing"
    )
    role_placement: Literal["spread", "default"] = Field(
        "spread", description="aggregation nodes and chain validators: on distinct nodes where the cluster allows"
    )


class ChainConfig(_Section):
    """The chain: an anvil started by the run (no ``url``) or an existing node at ``url``."""

    url: str = ""
    timeout_s: float = Field(10.0, gt=0.0, le=600.0)
    start_timestamp: int = Field(1_700_000_000, ge=0)
    block_gas_limit: int = Field(30_000_000, ge=1_000_000)
    accounts: int = Field(10, ge=1, le=10_000)
    mnemonic: str = "test test test test test test test test test test test junk"

    @field_validator("url")
    @classmethod
    def _url_scheme(cls, url: str) -> str:
        if url and not url.startswith(("http://", "https://")):
            raise ValueError("must be empty (start anvil) or start with http:// or https://")
        return url


class MetricsConfig(_Section):
    """The Prometheus endpoint the driver serves while the run lasts."""

    enabled: bool = True
    host: Literal["127.0.0.1", "localhost", "::1"] = "127.0.0.1"
    port: int = Field(0, ge=0, le=65_535, description="0 picks a free port")
    sd_dir: str = Field(
        "", description="folder of Prometheus file-SD targets, one JSON file per running run; "
        "'' = prometheus-targets/ next to the run directory (cluster/prometheus.yml watches runs/prometheus-targets)",
    )
    linger_s: float = Field(
        0.0, ge=0.0, le=3600.0, description="keep the endpoint up this long after the last round, so a scrape sees it"
    )


class StoreConfig(_Section):
    """The off-chain payload store."""

    keep_rounds: int = Field(0, ge=0, description="0 keeps every round's payloads")


class Config(_Section):
    """A whole experiment."""

    experiment: ExperimentConfig = ExperimentConfig()
    federation: FederationConfig = FederationConfig()
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    aggregation: AggregationConfig = AggregationConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    rewards: RewardsConfig = RewardsConfig()
    reputation: ReputationConfig = ReputationConfig()
    attack: AttackConfig = AttackConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    ray: RayConfig = RayConfig()
    chain: ChainConfig = ChainConfig()
    metrics: MetricsConfig = MetricsConfig()
    store: StoreConfig = StoreConfig()
    mae: MAEConfig = MAEConfig()
    por: PoRConfig = PoRConfig()
    voting: VotingConfig = VotingConfig()
    faults: FaultsConfig = FaultsConfig()

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        check_consistency(self)
        check_aggregation(self)
        return self
