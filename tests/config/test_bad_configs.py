"""Bad configs, one test per kind of field and per kind of file problem, and the cross-section
contradictions: each is refused before anything starts, in one line that names the dotted key
and the bad value. (Kinds test_config.py already covers are not repeated: an unknown key or
section, a string for an int, a number below its bound, an unknown literal, a malformed
chain.url, a value for a whole section, TOML syntax, a missing file.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bflray.config import load_config
from bflray.errors import ConfigError


def _refusal(tmp_path: Path, toml: str | bytes) -> str:
    path = tmp_path / "bad.toml"
    if isinstance(toml, bytes):
        path.write_bytes(toml)
    else:
        path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        pytest.param(
            "[federation]\ndropout_probability = 1.0\n",
            "federation.dropout_probability = 1.0: input should be less than 1",
            id="probability-at-its-open-bound",
        ),
        pytest.param(
            "[attack]\nmalicious_fraction = 1.5\n",
            "attack.malicious_fraction = 1.5: input should be less than or equal to 1",
            id="fraction-above-one",
        ),
        pytest.param(
            "[metrics]\nport = 70000\n",
            "metrics.port = 70000: input should be less than or equal to 65535",
            id="int-above-its-bound",
        ),
        pytest.param(
            "[training]\nlearning_rate = nan\n",
            "training.learning_rate = nan: input should be a finite number",
            id="float-nan",
        ),
        pytest.param(
            "[privacy]\nepsilon = inf\n",  # only a lower bound: inf would pass it
            "privacy.epsilon = inf: input should be a finite number",
            id="float-inf-with-only-a-lower-bound",
        ),
        pytest.param(
            "[federation]\nhospitals = 8.5\n",
            "federation.hospitals = 8.5: input should be a valid integer",
            id="float-for-an-int",
        ),
        pytest.param(
            "[experiment]\nrounds = true\n",
            "experiment.rounds = True: input should be a valid integer",
            id="bool-for-an-int",
        ),
        pytest.param(
            '[metrics]\nenabled = "yes"\n',
            "metrics.enabled = 'yes': input should be a valid boolean",
            id="string-for-a-bool",
        ),
        pytest.param(
            '[experiment]\nname = "my run!"\n',
            "experiment.name = 'my run!': string should match pattern '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'",
            id="string-against-its-pattern",
        ),
        pytest.param(
            "[experiment]\nout_dir = 3\n",
            "experiment.out_dir = 3: input should be a valid string",
            id="path-of-the-wrong-type",
        ),
        pytest.param(
            '[aggregation]\nfilters = "krum"\n',
            "aggregation.filters = 'krum': must be a list (a TOML array such as [\"a\", \"b\"])",
            id="string-for-a-list",
        ),
        pytest.param(
            "[aggregation.filters]\nkrum = true\n",
            "aggregation.filters = {...}: must be a list (a TOML array such as [\"a\", \"b\"])",
            id="table-for-a-list",
        ),
        pytest.param(
            '[aggregation]\nfilters = ["krum", 2]\n',
            "aggregation.filters.1 = 2: input should be a valid string",
            id="list-item-of-the-wrong-type",
        ),
        pytest.param(
            '[por]\nscore = "f1"\n',
            "por.score = 'f1' is not registered; registered: accuracy, brier, log_likelihood, rank_points",
            id="unregistered-por-score",
        ),
        pytest.param(
            '[por]\nreduction = "max"\n',
            "por.reduction = 'max' is not registered; registered: mean, median, sum",
            id="unregistered-por-reduction",
        ),
        pytest.param(
            '[attack]\nkind = "backdor"\n',
            "attack.kind = 'backdor': unknown attack 'backdor'; registered: alie, backdoor, colluding_validators, "
            "dishonest_voting, forged_outputs, free_riding, inflated_samples, ipm, label_flip, lazy, min_max, min_sum, "
            "model_replacement, ood_kappa, random, scaling, sign_flip, sybil, targeted_label_flip, or 'module:function'",
            id="unknown-attack",
        ),
        pytest.param(
            '[attack]\nkind = "label_flip+backdoor"\n',
            "attack.kind = 'label_flip+backdoor': 'label_flip+backdoor' combines label_flip and backdoor, which both "
            "replace the hospital's training data; keep one",
            id="two-data-attacks",
        ),
        pytest.param(
            '[attack]\nmalicious_fraction = 0.2\nkind = "dishonest_voting"\n',
            "attack.kind = 'dishonest_voting' with experiment.pipeline = 'fedavg': dishonest_voting acts only in the "
            "flock pipeline, so it would be silently ignored",
            id="attack-without-its-stage",
        ),
        pytest.param(
            '[attack]\nmalicious_fraction = 0.2\nkind = "lazy"\nlazy_epochs = 2\n',
            "attack.lazy_epochs = 2 with training.local_epochs = 1: a lazy hospital must train fewer epochs than an "
            "honest one",
            id="lazy-not-lazier",
        ),
        pytest.param(
            '[data]\ndataset = "cifar10"\n',
            "data.dataset = 'cifar10': input should be 'digits', 'digits28', 'synthetic', 'pathmnist', 'chestmnist', 'dermamnist', "
            "'octmnist', 'pneumoniamnist', 'retinamnist', 'breastmnist', 'bloodmnist', 'tissuemnist', 'organamnist', "
            "'organcmnist' or 'organsmnist'",
            id="unknown-dataset",
        ),
        pytest.param(
            '[[training]]\nlocal_epochs = 1\n',
            "training must be a table [training], got [{'local_epochs': 1}]",
            id="array-of-tables-for-a-section",
        ),
        pytest.param(
            "[training.schedule]\nwarmup = 1\n",
            "unknown key training.schedule = {...}; allowed: batch_size, learning_rate, local_chunk_size, "
            "local_epochs, optimizer, optimizer_beta1, optimizer_beta2, optimizer_eps, warmup_epochs",
            id="unknown-nested-table",
        ),
    ],
)
def test_a_bad_value_is_refused_in_one_line_naming_its_key_and_value(tmp_path: Path, toml: str, expected: str) -> None:
    assert _refusal(tmp_path, toml) == expected


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        pytest.param(
            "[federation]\nhospitals = 8\ncohort_size = 9\n",
            "federation.cohort_size = 9 exceeds federation.hospitals = 8",
            id="cohort-larger-than-the-federation",
        ),
        pytest.param(
            "[voting]\nvalidators = 4\nbyzantine_validators = 4\n",
            "voting.byzantine_validators = 4 must be less than voting.validators = 4: with no honest validator "
            "nothing checks the round",
            id="no-honest-validator",
        ),
        pytest.param(
            '[data]\ndataset = "digits"\nsource = "medmnist"\n',
            "data.source = 'medmnist' with data.dataset = 'digits': a MedMNIST source needs a MedMNIST dataset "
            "(pathmnist, chestmnist, ...); use data.source = 'auto' or 'offline' for the digits",
            id="medmnist-source-for-offline-data",
        ),
        pytest.param(
            "[privacy]\nepsilon = 3.0\n",
            "privacy.epsilon = 3.0 sets a budget, but privacy.mechanism = 'none' adds no noise, so nothing would be "
            "accounted; set privacy.mechanism to 'gaussian' or 'laplace', or privacy.epsilon = 0",
            id="privacy-budget-without-noise",
        ),
        pytest.param(
            '[model]\nname = "mlp"\ndropout = 0.1\n',
            "model.dropout = 0.1 with model.name = 'mlp': the MLP has no dropout layer; use model.name = 'head' or "
            "model.dropout = 0",
            id="dropout-on-a-model-without-dropout",
        ),
        pytest.param(
            '[federation]\nhospitals = 8\n[aggregation]\nrule = "krum"\nnum_byzantine = 3\n',
            "aggregation.num_byzantine = 3 needs a cohort of at least 2f+3 = 9 for aggregation.rule = 'krum', but a "
            "round takes 8 (federation.hospitals = 8, cohort_size = 0, cohort_fraction = 1.0)",
            id="krum-with-too-small-a-cohort",
        ),
        pytest.param(
            '[federation]\nhospitals = 20\ncohort_fraction = 0.5\n[aggregation]\nrule = "bulyan"\nnum_byzantine = 2\n',
            "aggregation.num_byzantine = 2 needs a cohort of at least 4f+3 = 11 for aggregation.rule = 'bulyan', but "
            "a round takes 10 (federation.hospitals = 20, cohort_size = 0, cohort_fraction = 0.5)",
            id="bulyan-with-too-small-a-cohort",
        ),
        pytest.param(
            '[federation]\nhospitals = 8\n[aggregation]\nrule = "multi_krum"\nnum_selected = 9\n',
            "aggregation.num_selected = 9 exceeds the 8 updates a round takes (federation.hospitals = 8, "
            "cohort_size = 0, cohort_fraction = 1.0)",
            id="multi-krum-keeping-more-than-the-cohort",
        ),
        pytest.param(
            '[aggregation]\nsecure = "shamir"\nnodes = 3\nthreshold = 4\n',
            "aggregation.threshold = 4 must be ≤ aggregation.nodes = 3 for Shamir sharing",
            id="shamir-threshold-above-its-nodes",
        ),
    ],
)
def test_a_contradiction_is_refused_in_one_line_naming_every_key_and_value(
    tmp_path: Path, toml: str, expected: str
) -> None:
    assert _refusal(tmp_path, toml) == expected


def test_the_largest_cohort_krum_allows_is_accepted() -> None:
    config = load_config(None, ["federation.hospitals=9", "aggregation.rule=krum", "aggregation.num_byzantine=3"])
    assert config.aggregation.num_byzantine == 3


def test_a_config_file_that_is_not_utf8_text_names_the_file_and_the_byte(tmp_path: Path) -> None:
    message = _refusal(tmp_path, b"\xff\xfe[training]\n")
    path = str(tmp_path / "bad.toml")
    assert message == f"config file {path!r} is not UTF-8 text (byte 0xff at offset 0); TOML files are UTF-8"


def test_a_folder_given_as_the_config_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(info.value) == f"config file {str(tmp_path)!r} cannot be read: Is a directory"


def test_a_toml_syntax_error_names_the_file_line_and_column(tmp_path: Path) -> None:
    message = _refusal(tmp_path, "[training]\nlearning_rate = 0.1 0.2\n")
    assert message.startswith(f"config file {str(tmp_path / 'bad.toml')!r} is not valid TOML: ")
    assert "(at line 2, column 21)" in message


def test_bflray_run_on_a_bad_config_exits_2_with_one_line_on_stderr(tmp_path: Path) -> None:
    # Prepare: the installed console script, as a user runs it
    script = shutil.which("bflray", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "bflray.cli"]
    bad = tmp_path / "bad.toml"
    bad.write_text("[federation]\nhospitals = 8\ncohort_size = 12\n")
    # Execute
    proc = subprocess.run([*command, "run", str(bad), "--out", str(tmp_path)], capture_output=True, text=True)
    # Assert: refused before any run directory, chain or actor exists
    assert proc.returncode == 2
    assert proc.stderr == "bflray: error: federation.cohort_size = 12 exceeds federation.hospitals = 8\n"
    assert proc.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]
