"""Config: every kind of error is one line naming key, value and what is allowed; exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bflray.cli import main
from bflray.config import dump_config, load_config
from bflray.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[training]\nlr = 0.1\n", "unknown key training.lr = 0.1; allowed: batch_size, learning_rate"),
        ("[trainer]\nepochs = 1\n", "unknown section [trainer]; allowed: aggregation, attack, chain"),
        ('[training]\nlocal_epochs = "3"\n', "training.local_epochs = '3': input should be a valid integer"),
        ("[training]\nlearning_rate = -0.5\n", "training.learning_rate = -0.5: input should be greater than 0"),
        ("[federation]\nhospitals = 0\n", "federation.hospitals = 0: input should be greater than or equal to 1"),
        ('[runtime]\nbackend = "mpi"\n', "runtime.backend = 'mpi': input should be 'ray' or 'inprocess'"),
        ('[chain]\nurl = "localhost:8545"\n', "chain.url = 'localhost:8545': must be empty"),
        ("training = 3\n", "training must be a table [training], got 3"),
        ("[training\n", "is not valid TOML"),
    ],
)
def test_config_error_is_one_line_naming_key_value_and_allowed(tmp_path: Path, toml: str, expected: str) -> None:
    # Prepare
    path = _write(tmp_path, toml)
    # Execute
    with pytest.raises(ConfigError) as info:
        load_config(path)
    # Assert
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_cli_config_error_prints_one_line_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "[training]\nlearning_rate = 0\n")
    code = main(["run", str(path), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == ["bflray: error: training.learning_rate = 0: input should be greater than 0"]


def test_console_script_exits_2_on_unknown_override() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bflray.cli", "config", "--set", "metrics.prot=9"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "unknown key metrics.prot = 9" in proc.stderr


def test_set_overrides_nested_keys_with_typed_values() -> None:
    config = load_config(
        None,
        [
            "training.learning_rate=0.25",
            "federation.hospitals=12",
            "metrics.enabled=false",
            'experiment.name="x1"',
            "experiment.out_dir=elsewhere",  # a bare word is taken as a string
        ],
    )
    assert config.training.learning_rate == 0.25
    assert config.federation.hospitals == 12 and isinstance(config.federation.hospitals, int)
    assert config.metrics.enabled is False
    assert config.experiment.name == "x1"
    assert config.experiment.out_dir == "elsewhere"


def test_set_override_wins_over_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[experiment]\nseed = 1\nrounds = 4\n")
    config = load_config(path, ["experiment.seed=7"])
    assert (config.experiment.seed, config.experiment.rounds) == (7, 4)


@pytest.mark.parametrize("item", ["noequals", "=3", "seed=3", "experiment..seed=1"])
def test_malformed_override_is_refused(item: str) -> None:
    with pytest.raises(ConfigError, match="--set"):
        load_config(None, [item])


def test_override_into_a_value_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "[experiment]\nseed = 1\n")
    with pytest.raises(ConfigError, match="experiment.seed is a value, not a section"):
        load_config(path, ["experiment.seed.x=1"])


def test_missing_config_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml")
    assert str(info.value) == f"config file {str(tmp_path / 'nope.toml')!r} does not exist"


def test_resolved_config_round_trips(tmp_path: Path) -> None:
    config = load_config(None, ["training.learning_rate=0.3", "chain.url='http://127.0.0.1:1'"])
    path = _write(tmp_path, dump_config(config))
    assert load_config(path) == config


@pytest.mark.parametrize("name", ["demo", "por", "fedavg"])
def test_shipped_configs_are_valid(name: str) -> None:
    config = load_config(Path(__file__).parents[2] / "configs" / f"{name}.toml")
    assert config.runtime.backend == "ray"
    assert config.experiment.pipeline == ("fedavg" if name == "fedavg" else "por")


def test_contradictory_pipeline_and_model_are_refused_naming_both() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, ["experiment.pipeline=por"])
    assert str(info.value) == "experiment.pipeline = 'por' with model.name = 'mlp': needs model.name = 'por_head'"
    with pytest.raises(ConfigError, match="mae.width = 60 must be a multiple of model.bottleneck_reduction = 8"):
        load_config(None, ["experiment.pipeline=por", "model.name=por_head", "mae.width=60"])


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            '[aggregation]\nrule = "median"\nsecure = "additive"\n',
            "aggregation.rule = 'median' needs the updates in the clear, so it cannot follow aggregation.secure = "
            "'additive' (the nodes only ever hold shares); rules that reduce to a weighted sum with public weights "
            "work: fedavg, reputation, stake",
        ),
        ('[aggregation]\nfilters = ["median"]\n', "'median' is not a selection filter; use cosine_filter, krum"),
        ('[aggregation]\nrule = "no_such_rule"\n', "aggregation.rule = 'no_such_rule'"),
        (
            '[aggregation]\nsecure = "shamir"\nnodes = 3\nthreshold = 4\n',
            "aggregation.threshold = 4 must be ≤ aggregation.nodes = 3",
        ),
        ('[privacy]\nmechanism = "gaussian"\n', "privacy.mechanism = 'gaussian' needs privacy.clip_norm > 0"),
        (
            '[privacy]\nmechanism = "gaussian"\nclip_norm = 1.0\n[aggregation]\nrule = "median"\n',
            "privacy.placement = 'central' adds noise to a weighted sum",
        ),
        (
            '[experiment]\npipeline = "flock"\n[aggregation]\nsecure = "additive"\n',
            "aggregation.rule, filters, secure and privacy apply to the fedavg, smpc and dp_bfl pipelines",
        ),
    ],
)
def test_combinations_that_cannot_work_are_refused_with_the_reason(tmp_path: Path, toml: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, toml))
    assert expected in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["smpc", "smpc_plaintext", "dp_bfl", "fedavg", "flock", "por", "demo"])
def test_every_preset_loads(name: str) -> None:
    load_config(Path("configs") / f"{name}.toml")
