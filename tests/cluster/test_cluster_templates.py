"""The cluster templates under ``cluster/`` are valid for the tools that read them and agree
with the repository: Ray's version, the dependency pins, the anvil package and the configs.

Nothing here starts Ray or reaches a cloud: the launcher YAML goes through the same schema
and preparation ``ray up`` applies before it calls the provider, runtime envs through Ray's
own validation (which installs nothing), and the KubeRay manifests are checked for what the
operator and bflray need of them.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import ray
import yaml
from packaging.requirements import Requirement
from ray.autoscaler._private.util import prepare_config, validate_config
from ray.runtime_env import RuntimeEnv

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "cluster"
RAY_IMAGE = re.compile(r"^rayproject/ray:(?P<version>\d+\.\d+\.\d+)-py(?P<python>3\d+)(?P<gpu>-gpu)?$")
ANVIL_PACKAGE = "@foundry-rs/anvil-linux-amd64"
# The configs/ file the scale sweep uses; another change adds it.
PENDING_CONFIGS = {"configs/scale.toml"}


def _load(relative: str) -> Any:
    return yaml.safe_load((CLUSTER / relative).read_text())


def _constraint_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.strip()] = version.strip()
    return pins


def _anvil_version() -> str:
    lock = json.loads((ROOT / "package-lock.json").read_text())
    return str(lock["packages"][f"node_modules/{ANVIL_PACKAGE}"]["version"])


def _check_ray_image(image: str) -> bool:
    """Assert ``image`` is Ray's image of the installed (pinned) Ray; True for a GPU variant."""
    match = RAY_IMAGE.match(image)
    assert match, f"{image!r} is not a rayproject/ray:VERSION-pyXY[-gpu] tag"
    assert match["version"] == ray.__version__, f"{image} runs Ray {match['version']}, the venv has {ray.__version__}"
    requires_python = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    python = f"{match['python'][0]}.{match['python'][1:]}"
    assert Requirement(f"python{requires_python}").specifier.contains(python), f"{image}: Python {python}"
    return match["gpu"] is not None


# Ray version ------------------------------------------------------------------------------


def test_installed_ray_is_the_pinned_one_that_pyproject_allows() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    ray_requirement = next(Requirement(d) for d in dependencies if Requirement(d).name == "ray")
    assert ray_requirement.specifier.contains(ray.__version__)
    assert _constraint_pins()["ray"] == ray.__version__


# Launcher ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def launcher() -> dict[str, Any]:
    config: dict[str, Any] = _load("ray/cluster.yaml")
    return config


def test_launcher_config_validates_against_rays_schema(launcher: dict[str, Any]) -> None:
    schema_path = Path(ray.__file__).parent / "autoscaler" / "ray-schema.json"
    jsonschema.validate(launcher, json.loads(schema_path.read_text()))


def test_launcher_config_passes_ray_ups_preparation(launcher: dict[str, Any]) -> None:
    prepared = prepare_config(copy.deepcopy(launcher))  # defaults merged, docker checked
    validate_config(prepared)
    assert prepared["provider"]["type"] == "aws"


def test_launcher_has_a_head_a_cpu_worker_and_a_gpu_worker_type(launcher: dict[str, Any]) -> None:
    types = launcher["available_node_types"]
    head = launcher["head_node_type"]
    workers = {name: spec for name, spec in types.items() if name != head}
    gpu = [name for name, spec in workers.items() if spec["resources"].get("GPU", 0) >= 1]
    cpu = [name for name, spec in workers.items() if spec["resources"].get("GPU", 0) == 0]
    assert head in types and gpu and cpu
    for name in gpu:
        image = types[name]["docker"]["worker_image"]
        assert _check_ray_image(image), f"{name} asks for a GPU but runs {image}"


def test_launcher_images_are_rays_pinned_version(launcher: dict[str, Any]) -> None:
    docker = launcher["docker"]
    images = [docker[key] for key in ("image", "head_image", "worker_image") if key in docker]
    images += [spec["docker"]["worker_image"] for spec in launcher["available_node_types"].values() if "docker" in spec]
    assert images
    assert not _check_ray_image(docker["image"]), "the head and CPU workers should not need the CUDA image"
    for image in images:
        _check_ray_image(image)


def test_launcher_installs_the_checkout_everywhere_and_anvil_on_the_head(launcher: dict[str, Any]) -> None:
    mount = next(remote for remote, local in launcher["file_mounts"].items() if local == ".")
    install = f"-c {mount}/constraints.txt -e {mount}"
    assert any(install in command for command in launcher["setup_commands"])
    for name, spec in launcher["available_node_types"].items():
        if "worker_setup_commands" in spec:  # replaces setup_commands on that type
            assert any(install in command for command in spec["worker_setup_commands"]), name
    assert any(f"cd {mount} && npm ci" in command for command in launcher["head_setup_commands"])
    anvil = f"BFLRAY_ANVIL=$HOME/{mount.removeprefix('~/')}/node_modules/{ANVIL_PACKAGE}/bin/anvil"
    assert any(anvil in command for command in launcher["head_start_ray_commands"])
    assert ANVIL_PACKAGE in json.loads((ROOT / "package.json").read_text())["devDependencies"]


def test_launcher_mounts_the_shared_run_directory_into_every_container(launcher: dict[str, Any]) -> None:
    assert "-v /mnt/bflray:/mnt/bflray" in launcher["docker"]["run_options"]
    assert any("mkdir -p /mnt/bflray" in command for command in launcher["initialization_commands"])


# runtime_env recipes ---------------------------------------------------------------------


def _validated_runtime_env(env: dict[str, Any]) -> RuntimeEnv:
    unknown = set(env) - RuntimeEnv.known_fields
    assert not unknown, f"not runtime_env fields: {sorted(unknown)}"
    return RuntimeEnv(**env)  # validates each field; installs nothing


def test_runtime_env_recipe_is_valid_for_ray() -> None:
    recipe = _load("runtime_env.yaml")
    _validated_runtime_env(recipe)
    assert "working_dir" not in recipe, "the submitter gives --working-dir"
    assert recipe["env_vars"]["RAY_USAGE_STATS_ENABLED"] == "0"


def test_runtime_env_recipe_uploads_the_code_without_environments_or_outputs() -> None:
    from ray._private.runtime_env.packaging import PACKAGE_SIZE_WARNING, _dir_travel, _get_excludes

    uploaded: list[Path] = []
    # Without .gitignore: the recipe's excludes alone must keep the large folders out.
    _dir_travel(ROOT, [_get_excludes(ROOT, _load("runtime_env.yaml")["excludes"])], uploaded.append, False)
    top = {p.relative_to(ROOT).parts[0] for p in uploaded if p != ROOT}
    assert {"bflray", "actors", "configs", "pyproject.toml", "constraints.txt"} <= top
    assert not top & {".git", ".venv", ".venv-flower", "node_modules", "runs", "build", "cache", "data"}
    assert not [p for p in uploaded if p.name in {"__pycache__", ".mypy_cache", ".pytest_cache"}]
    size = sum(p.stat().st_size for p in uploaded if p.is_file())
    assert size < PACKAGE_SIZE_WARNING, f"working_dir would be {size} bytes"


def test_kuberay_runtime_env_brings_the_pinned_dependencies_and_the_code() -> None:
    env = _load("kuberay/runtime_env.yaml")
    _validated_runtime_env(env)
    packages = env["pip"]["packages"]
    pins = {name: version for name, version in _constraint_pins().items() if name != "ray"}  # the image's
    for name, version in pins.items():
        assert f"{name}=={version}" in packages, f"constraints.txt pins {name}=={version}"
    assert f"bflray @ {env['working_dir']}" in packages
    assert env["env_vars"] == _load("runtime_env.yaml")["env_vars"]


# KubeRay ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raycluster() -> dict[str, Any]:
    manifest: dict[str, Any] = _load("kuberay/raycluster.yaml")
    return manifest


@pytest.fixture(scope="module")
def rayjob() -> dict[str, Any]:
    manifest: dict[str, Any] = _load("kuberay/rayjob-sweep.yaml")
    return manifest


@pytest.fixture(scope="module")
def claim() -> dict[str, Any]:
    manifest: dict[str, Any] = _load("kuberay/pvc.yaml")
    return manifest


def _cluster_specs(raycluster: dict[str, Any], rayjob: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [("RayCluster", raycluster["spec"]), ("RayJob", rayjob["spec"]["rayClusterSpec"])]


def _pod_specs(cluster_spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    pods = [("head", cluster_spec["headGroupSpec"]["template"]["spec"])]
    pods += [(group["groupName"], group["template"]["spec"]) for group in cluster_spec["workerGroupSpecs"]]
    return pods


def test_kuberay_manifests_have_the_expected_kinds(
    raycluster: dict[str, Any], rayjob: dict[str, Any], claim: dict[str, Any]
) -> None:
    assert (raycluster["apiVersion"], raycluster["kind"]) == ("ray.io/v1", "RayCluster")
    assert (rayjob["apiVersion"], rayjob["kind"]) == ("ray.io/v1", "RayJob")
    assert (claim["apiVersion"], claim["kind"]) == ("v1", "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


def test_kuberay_ray_containers_run_the_pinned_ray(raycluster: dict[str, Any], rayjob: dict[str, Any]) -> None:
    for kind, spec in _cluster_specs(raycluster, rayjob):
        assert spec["rayVersion"] == ray.__version__, kind
        for pod, pod_spec in _pod_specs(spec):
            for container in pod_spec["containers"]:
                _check_ray_image(container["image"])


def test_kuberay_gpu_groups_request_gpus_and_cpu_groups_do_not(
    raycluster: dict[str, Any], rayjob: dict[str, Any]
) -> None:
    for kind, spec in _cluster_specs(raycluster, rayjob):
        kinds = set()
        for group in spec["workerGroupSpecs"]:
            (container,) = group["template"]["spec"]["containers"]
            gpus = int(container["resources"]["limits"].get("nvidia.com/gpu", 0))
            wants_gpu = _check_ray_image(container["image"])
            assert (gpus >= 1) == wants_gpu, f"{kind} group {group['groupName']}: {gpus} GPUs, {container['image']}"
            kinds.add(wants_gpu)
        assert kinds == {True, False}, f"{kind} needs a CPU and a GPU worker group"


def test_kuberay_pods_mount_the_shared_run_volume(
    raycluster: dict[str, Any], rayjob: dict[str, Any], claim: dict[str, Any]
) -> None:
    claim_name = claim["metadata"]["name"]
    mount_paths = set()
    for kind, spec in _cluster_specs(raycluster, rayjob):
        for pod, pod_spec in _pod_specs(spec):
            volumes = {
                v["name"] for v in pod_spec["volumes"] if v.get("persistentVolumeClaim", {}).get("claimName") == claim_name
            }
            assert volumes, f"{kind} {pod} has no volume of claim {claim_name}"
            for container in pod_spec["containers"]:
                mounts = [m["mountPath"] for m in container["volumeMounts"] if m["name"] in volumes]
                assert mounts, f"{kind} {pod} does not mount {claim_name}"
                mount_paths.update(mounts)
    assert len(mount_paths) == 1, f"one path on every pod, got {sorted(mount_paths)}"


def test_kuberay_head_gets_anvil_at_the_locked_version(raycluster: dict[str, Any], rayjob: dict[str, Any]) -> None:
    for kind, spec in _cluster_specs(raycluster, rayjob):
        head = spec["headGroupSpec"]["template"]["spec"]
        (init,) = head["initContainers"]
        assert f"{ANVIL_PACKAGE}@{_anvil_version()}" in " ".join(init["args"]), kind
        (container,) = head["containers"]
        anvil = next(e["value"] for e in container["env"] if e["name"] == "BFLRAY_ANVIL")
        prefix = next(m["mountPath"] for m in init["volumeMounts"] if anvil.startswith(m["mountPath"] + "/"))
        assert anvil == f"{prefix}/node_modules/{ANVIL_PACKAGE}/bin/anvil"
        assert prefix in {m["mountPath"] for m in container["volumeMounts"]}, f"{kind}: {prefix} not on the head"


def test_rayjob_runs_a_bflray_sweep_into_the_shared_volume(rayjob: dict[str, Any]) -> None:
    spec = rayjob["spec"]
    program, command, config, *options = shlex.split(spec["entrypoint"])
    assert (program, command) == ("bflray", "sweep") or (program, command) == ("bflray", "run")
    assert config in PENDING_CONFIGS or (ROOT / config).is_file(), f"{config} is not in the repository"
    out = options[options.index("--out") + 1]
    head = spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert any(out == m["mountPath"] or out.startswith(m["mountPath"] + "/") for m in head["volumeMounts"])
    assert spec["shutdownAfterJobFinishes"] is True


def test_rayjob_runtime_env_is_the_kuberay_recipe(rayjob: dict[str, Any]) -> None:
    env = yaml.safe_load(rayjob["spec"]["runtimeEnvYAML"])
    assert env == _load("kuberay/runtime_env.yaml")
    _validated_runtime_env(env)


# Image ------------------------------------------------------------------------------------


def test_dockerfile_builds_on_the_pinned_ray_image() -> None:
    text = (CLUSTER / "docker" / "Dockerfile").read_text()
    base = re.search(r"^ARG RAY_IMAGE=(\S+)$", text, re.MULTILINE)
    assert base and not _check_ray_image(base.group(1))
    assert "FROM ${RAY_IMAGE}" in text
    assert f"node_modules/{ANVIL_PACKAGE}/bin/anvil" in text
    assert "-c constraints.txt -e ." in text
