"""``bflray report`` and ``bflray evaluate`` on a real (short) run: the figures, a
self-contained HTML page that headless Chromium renders without a console error and with
every image loaded, comparison of runs, and scoring the final model on a split."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bflray.api import run
from bflray.chain._tools import find_tool
from bflray.cli import main
from bflray.config import load_config
from bflray.errors import ChainError
from bflray.report import SCHEMA_VERSION, build_report, evaluate_run, load_run

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CHECK = """<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const broken = images.filter((img) => !(img.complete && img.naturalWidth > 0)).length;
  document.body.setAttribute("data-check", `images=${images.length} broken=${broken}`);
  console.log(`bflray-check images=${images.length} broken=${broken}`);
});
</script>"""


@pytest.fixture(scope="module")
def fedavg_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        find_tool("anvil")
    except ChainError as exc:
        pytest.skip(f"{exc} (install with `npm ci`)")
    config = load_config(None, [
        "experiment.rounds=3", "federation.hospitals=4", "runtime.backend='inprocess'", "training.local_epochs=1",
        "metrics.enabled=false",
    ])
    return run(config, out_dir=tmp_path_factory.mktemp("runs"), progress=False).run_dir


@pytest.fixture(scope="module")
def flock_like_run(fedavg_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fedavg run with FLock's token and survival columns and an attack success rate added."""
    path = tmp_path_factory.mktemp("runs") / "flock-like"
    shutil.copytree(fedavg_run, path)
    table = pq.read_table(path / "rounds.parquet")
    n = table.num_rows
    extra = {
        "tokens_honest": [64.0 + r for r in range(n)], "tokens_malicious": [64.0 - 8 * r for r in range(n)],
        "tokens_honest_proposers": [66.0] * n, "tokens_malicious_proposers": [float("nan")] * n,
        "tokens_honest_voters": [65.0] * n, "tokens_malicious_voters": [50.0] * n,
        "survival_honest": [1.0] * n, "survival_malicious": [1.0 - 0.2 * r for r in range(n)],
        "attack_success_rate": [0.5 / (r + 1) for r in range(n)],
    }
    for key, values in extra.items():
        table = table.append_column(key, pa.array(values))
    pq.write_table(table, path / "rounds.parquet")
    return path


def test_a_run_records_its_schema_version_and_a_chain_table(fedavg_run: Path) -> None:
    summary = json.loads((fedavg_run / "summary.json").read_text())
    chain = load_run(fedavg_run).chain

    assert summary["schema_version"] == SCHEMA_VERSION
    assert {(r["round"], r["contract"], r["function"]) for r in chain} == {
        (r, "FederationLedger", "recordRound") for r in (1, 2, 3)
    }
    assert all(r["new_slots"] >= 1 for r in chain)


def test_report_of_one_run_draws_its_figures_into_one_self_contained_page(fedavg_run: Path) -> None:
    page = build_report([fedavg_run])

    figures = {p.name for p in page.parent.glob("*.png")}
    html = page.read_text()
    assert page == fedavg_run / "report" / "report.html"
    assert {"quality.png", "latency.png", "storage.png", "gas.png"} <= figures
    assert html.count('src="data:image/png;base64,') == len(figures)
    assert not re.search(r'(src|href)="(?!data:)', html)  # nothing fetched
    assert "final accuracy" in html and "[experiment]" in html


def test_report_of_a_flock_run_reuses_the_token_and_survival_figures(flock_like_run: Path, tmp_path: Path) -> None:
    build_report([flock_like_run], tmp_path)

    assert {"flock_tokens.png", "flock_survival.png", "quality.png"} <= {p.name for p in tmp_path.glob("*.png")}


def test_compare_report_renders_in_headless_chromium_without_errors(
    fedavg_run: Path, flock_like_run: Path, tmp_path: Path
) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (install with `apt-get install -y chromium`, as .ci/run does)")
    page = build_report([fedavg_run, flock_like_run], tmp_path / "compare")
    assert "tokens.png" in {p.name for p in page.parent.glob("*.png")}
    checked = tmp_path / "checked.html"
    checked.write_text(page.read_text().replace("</body>", CHECK + "\n</body>"))

    proc = subprocess.run(
        [chromium, "--headless=new", "--disable-gpu", "--no-sandbox", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=5000", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", checked.as_uri()],
        capture_output=True, text=True, timeout=90,
    )

    assert proc.returncode == 0, proc.stderr[-3000:]
    consoles = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    images = len(list(page.parent.glob("*.png")))
    assert f'data-check="images={images} broken=0"' in proc.stdout, proc.stdout[-2000:]
    assert len(consoles) == 1 and "bflray-check" in consoles[0], consoles  # our own line, nothing else


def test_evaluate_on_the_test_split_reproduces_the_runs_final_accuracy(fedavg_run: Path) -> None:
    final = load_run(fedavg_run).rounds[-1]
    data = json.loads((fedavg_run / "data.json").read_text())

    test = evaluate_run(fedavg_run, "test")
    val = evaluate_run(fedavg_run, "val")

    assert test["accuracy"] == pytest.approx(final["accuracy"]) and test["loss"] == pytest.approx(final["loss"])
    assert test["samples"] == data["test_samples"] and val["samples"] == data["validation_samples"]
    assert 0.0 <= float(val["accuracy"]) <= 1.0  # type: ignore[arg-type]


def test_cli_report_and_evaluate(fedavg_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(fedavg_run), "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == f"report: {tmp_path / 'report.html'}"
    assert main(["report", str(fedavg_run), str(fedavg_run)]) == 2  # several runs need --compare
    assert "--compare" in capsys.readouterr().err
    assert main(["evaluate", str(fedavg_run), "--split", "val"]) == 0
    assert json.loads(capsys.readouterr().out)["split"] == "val"
    assert main(["report", str(tmp_path)]) == 6  # not a run directory: a StoreError, one line
    assert "no rounds.parquet" in capsys.readouterr().err


def test_readme_documents_every_column_of_the_run_tables(fedavg_run: Path, flock_like_run: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Run directory and Parquet schemas")
    section = readme[start:readme.find("\n## ", start + 1)]
    columns = set(pq.read_schema(fedavg_run / "rounds.parquet").names)
    columns |= set(pq.read_schema(fedavg_run / "chain.parquet").names)
    columns |= set(pq.read_table(fedavg_run / "hospitals.parquet").schema.names)

    missing = sorted(c for c in columns if f"`{c}`" not in section and not c.startswith("seconds_"))
    assert not missing, missing
    assert f"schema version {SCHEMA_VERSION}" in section.lower()
