"""cluster/gcp-gpu.yaml as `ray up` reads it, and what cluster/README.md promises about it: nothing
public but SSH, storage in the bucket, the versions pyproject.toml pins, no secret in the repo.
Offline: no Google Cloud account is needed, nor used."""

import copy
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from ray.autoscaler._private.util import (
    check_legacy_fields,
    prepare_config,
    validate_config,
)

from sweeps.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "cluster"
CONFIG = CLUSTER / "gcp-gpu.yaml"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def as_ray_up_has_it(raw: dict) -> dict:
    """What `ray up` does with the file before it first asks Google for anything
    (ray.autoscaler._private.commands._bootstrap_config): fill in Ray's GCP defaults, merge the
    setup commands, check against Ray's launcher schema. Raises what `ray up` would report."""
    config = prepare_config(copy.deepcopy(raw))
    validate_config(config)
    check_legacy_fields(config)
    return config


@pytest.fixture(scope="module")
def raw():
    return yaml.safe_load(CONFIG.read_text())


@pytest.fixture(scope="module")
def config(raw):
    return as_ray_up_has_it(raw)


@pytest.fixture(scope="module")
def setup_dry_run() -> list[list[str]]:
    """The gcloud commands `cluster/gcp-setup.sh --dry-run` prints, each split as a shell would."""
    setup = subprocess.run(
        [CLUSTER / "gcp-setup.sh", "--dry-run"],
        check=False,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert setup.returncode == 0, setup.stderr
    return [shlex.split(line) for line in setup.stdout.splitlines()]


def all_commands(config: dict) -> list[str]:
    """Every shell command that runs on a node: setup (already merged), start and initialization."""
    keys = [
        "initialization_commands",
        "head_setup_commands",
        "worker_setup_commands",
        "head_start_ray_commands",
        "worker_start_ray_commands",
    ]
    commands = [c for key in keys for c in config[key]]
    for node_type in config["available_node_types"].values():
        commands += node_type.get("initialization_commands", []) + node_type.get("worker_setup_commands", [])
    return commands


def flag(command: str, name: str) -> str | None:
    """The value of `--name value` or `--name=value` in a command line."""
    m = re.search(rf"(?:^|\s){re.escape(name)}[= ](\S+)", command)
    return m[1] if m else None


def public_listeners(commands: list[str]) -> list[str]:
    """Commands that bind a service to every interface without an allowed-host list."""
    bad = []
    for command in commands:
        for m in re.finditer(r"--[\w-]*(?:host|bind|listen)[\w-]*[= ](\S+)", command):
            if m[1].strip("'\"[]") in ("0.0.0.0", "::", ""):
                allowed = flag(command, "--allowed-hosts")
                if not allowed or "*" in allowed:
                    bad.append(command)
    return bad


def scalars(node: yaml.Node, where: str = ""):
    """Every scalar of a composed YAML document with its key path; an alias yields its anchor's node."""
    if isinstance(node, yaml.ScalarNode):
        yield where, node
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from scalars(value, f"{where}.{key.value}")
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from scalars(item, f"{where}[{i}]")


def mlflow_command(config: dict) -> str:
    (command,) = [c for c in config["head_start_ray_commands"] if "/mlflow server" in c]
    return command


def test_ray_up_accepts_the_config_and_refuses_a_typo(raw, config):
    assert config["provider"]["type"] == "gcp"
    assert config["head_node_type"] == "head" and set(config["available_node_types"]) == {"head", "gpu_worker"}
    assert config["available_node_types"]["head"]["max_workers"] == 0
    # The same check turns away what Ray does not know, so passing it above means something.
    with pytest.raises(jsonschema.ValidationError, match="idle_timout_minutes"):
        as_ray_up_has_it({**raw, "idle_timout_minutes": 5})
    with pytest.raises(jsonschema.ValidationError, match="min_worker"):
        broken = copy.deepcopy(raw)
        broken["available_node_types"]["gpu_worker"]["min_worker"] = 1
        as_ray_up_has_it(broken)


def test_project_region_zone_and_bucket_are_named_in_one_place(raw):
    m = raw["metadata"]
    p, r, z, b = m["project"], m["region"], m["zone"], m["bucket"]
    assert z.startswith(f"{r}-")
    # Spelled out from the four (YAML cannot join strings), and they must agree.
    assert m["subnetwork"] == f"projects/{p}/regions/{r}/subnetworks/chromasweep"
    assert m["worker_service_account"] == f"chromasweep-worker@{p}.iam.gserviceaccount.com"
    assert m["mlflow_disk"] == f"projects/{p}/zones/{z}/disks/chromasweep-mlflow"
    assert m["boot_disk_type"] == f"zones/{z}/diskTypes/pd-balanced"
    assert (raw["provider"]["project_id"], raw["provider"]["region"], raw["provider"]["availability_zone"]) == (p, r, z)
    # Everywhere else the file uses them by alias (*project, ...): no second copy to forget.
    document = yaml.compose(CONFIG.read_text())
    (metadata,) = [value for key, value in document.value if key.value == "metadata"]
    named = [value for _, value in metadata.value]
    for where, node in scalars(document):
        for value in (p, r, z, b):
            assert node in named or value not in node.value, f"gcp-gpu.yaml:{node.start_mark.line + 1}: {where}"


def test_gpu_workers_are_spot_l4s_with_their_driver_sized_for_the_shipped_spec(config):
    head, worker = config["available_node_types"]["head"], config["available_node_types"]["gpu_worker"]
    assert "guestAccelerators" not in head["node_config"] and "GPU" not in head["resources"]
    assert "scheduling" not in head["node_config"]  # on-demand: a preempted head would end the sweep

    node = worker["node_config"]
    assert node["machineType"].startswith("g2-")
    (gpus,) = node["guestAccelerators"]
    assert gpus["acceleratorType"] == "nvidia-l4" and gpus["acceleratorCount"] == worker["resources"]["GPU"] == 1
    assert node["scheduling"] == {
        "provisioningModel": "SPOT",
        "instanceTerminationAction": "DELETE",
        "onHostMaintenance": "TERMINATE",
        "automaticRestart": False,
    }
    assert {"key": "install-nvidia-driver", "value": "True"} in node["metadata"]["items"]
    assert any("nvidia-smi" in c for c in worker["initialization_commands"])
    assert 0 < config["idle_timeout_minutes"] <= 15
    assert 0 < worker["min_workers"] <= worker["max_workers"] <= config["max_workers"]

    # sweeps/specs/imagenet-gcp.yaml: one trial fits on the workers that stay up, a worker per node,
    # and max_concurrent trials fit on the most workers the autoscaler starts.
    spec, _ = load_spec(ROOT / "sweeps" / "specs" / "imagenet-gcp.yaml")
    r = spec.chromasweep.resources
    assert r.gpus_per_worker <= worker["resources"]["GPU"] and r.cpus_per_worker <= worker["resources"]["CPU"]
    assert r.workers <= worker["min_workers"]
    assert r.workers * spec.chromasweep.budget.max_concurrent <= worker["max_workers"]
    # The drivers of multi-worker trials stay on the on-demand head, whatever a Spot worker does.
    from sweeps.tune_sweep import (
        TRIAL_DRIVER_RESOURCE,
        TRIAL_DRIVER_SHARE,
        trial_resources,
    )

    own = trial_resources(
        spec, {"CPU": head["resources"]["CPU"], TRIAL_DRIVER_RESOURCE: head["resources"][TRIAL_DRIVER_RESOURCE]}
    )
    assert own == {"cpu": 0, TRIAL_DRIVER_RESOURCE: TRIAL_DRIVER_SHARE}
    assert head["resources"][TRIAL_DRIVER_RESOURCE] >= TRIAL_DRIVER_SHARE * spec.chromasweep.budget.max_concurrent
    assert TRIAL_DRIVER_RESOURCE not in worker["resources"]


def test_nothing_listens_publicly_and_only_ssh_comes_in(config, setup_dry_run):
    commands = all_commands(config)
    assert public_listeners(commands) == []
    assert public_listeners(["mlflow server --host 0.0.0.0 --port 5000"])  # the check does catch one
    assert public_listeners(["ray start --head --dashboard-host=0.0.0.0"])

    (ray_head,) = [c for c in config["head_start_ray_commands"] if "ray start --head" in c]
    assert flag(ray_head, "--dashboard-host") == "127.0.0.1"
    assert "--ray-debugger-external" not in " ".join(commands)
    assert not config.get("docker")
    mlflow = mlflow_command(config)
    assert flag(mlflow, "--allowed-hosts").split(",") == ["localhost:5000", "127.0.0.1:5000", "$head_ip:5000"]
    assert flag(mlflow, "--cors-allowed-origins") is None  # MLflow's default: localhost origins only

    # Every node sits on the network of cluster/gcp-setup.sh, not on the project's default network
    # (whose default rules let RDP and ICMP in from anywhere).
    subnetwork = config["metadata"]["subnetwork"]
    for node_type in config["available_node_types"].values():
        assert [i["subnetwork"] for i in node_type["node_config"]["networkInterfaces"]] == [subnetwork]

    gcloud = setup_dry_run
    (network,) = [c for c in gcloud if c[1:4] == ["compute", "networks", "create"]]
    assert flag(shlex.join(network), "--subnet-mode") == "custom"  # no automatic subnets, no default rules
    (subnet,) = [c for c in gcloud if c[1:5] == ["compute", "networks", "subnets", "create"]]
    subnet_range = flag(shlex.join(subnet), "--range")
    assert subnet[5] == subnetwork.rsplit("/", 1)[1]
    rules = {c[4]: shlex.join(c) for c in gcloud if c[1:4] == ["compute", "firewall-rules", "create"]}
    assert set(rules) == {"chromasweep-allow-ssh", "chromasweep-allow-internal"}
    for rule in rules.values():
        assert flag(rule, "--network") == "chromasweep" and flag(rule, "--direction") == "INGRESS"
    assert flag(rules["chromasweep-allow-ssh"], "--allow") == "tcp:22"
    assert flag(rules["chromasweep-allow-internal"], "--source-ranges") == subnet_range == "10.42.0.0/24"


def test_checkpoints_and_mlflow_live_in_the_bucket_and_on_a_disk_that_outlives_the_cluster(config):
    bucket = config["metadata"]["bucket"]
    for node_type in config["available_node_types"].values():
        assert {"key": "chromasweep-bucket", "value": bucket} in node_type["node_config"]["metadata"]["items"]

    mlflow = mlflow_command(config)
    assert "computeMetadata/v1/instance/attributes/chromasweep-bucket" in mlflow
    assert flag(mlflow, "--artifacts-destination") == "gs://$bucket/mlflow"
    store = flag(mlflow, "--backend-store-uri")
    assert store == "sqlite:////mnt/mlflow/mlflow.db"
    disks = config["available_node_types"]["head"]["node_config"]["disks"]
    (kept,) = [d for d in disks if not d.get("boot")]
    assert kept == {
        "source": config["metadata"]["mlflow_disk"],
        "deviceName": "chromasweep-mlflow",
        "autoDelete": False,
        "type": "PERSISTENT",
        "mode": "READ_WRITE",
    }
    (mount,) = [c for c in config["head_setup_commands"] if "/mnt/mlflow" in c]
    assert "/dev/disk/by-id/google-chromasweep-mlflow" in mount and "mount " in mount

    # Every Ray process, and so every job and trial, knows where MLflow is: the head's internal IP.
    (head,) = [c for c in config["head_start_ray_commands"] if "ray start" in c]
    assert "MLFLOW_TRACKING_URI=http://$(cat ~/.chromasweep-head-ip):5000" in head
    assert "~/.chromasweep-head-ip" in " ".join(
        c for c in config["head_setup_commands"] if "network-interfaces/0/ip" in c
    )
    (worker,) = [c for c in config["worker_start_ray_commands"] if "ray start" in c]
    assert "MLFLOW_TRACKING_URI=http://$RAY_HEAD_IP:5000" in worker

    # The README's launch command writes the sweep to the same bucket.
    readme = (CLUSTER / "README.md").read_text()
    launches = [line for line in readme.splitlines() if line.startswith("ray job submit ") and " sweep " in line]
    assert {line.split(" sweep ")[1].split()[0] for line in launches} == {
        "sweeps/specs/imagenet-gcp.yaml",
        "sweeps/specs/gcp-smoke.yaml",
    }
    for launch in launches:
        assert flag(launch, "--storage").startswith(f"gs://{bucket}/")


def locked_versions() -> dict[str, str]:
    """cluster/node-requirements.txt as package -> exact version."""
    locked = {}
    for line in (CLUSTER / "node-requirements.txt").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version.strip(), f"node-requirements.txt: {line!r} is not pinned exactly"
            locked[canonicalize_name(name.split("[")[0])] = version.strip()
    return locked


def test_every_node_installs_the_same_locked_versions_of_what_pyproject_asks(config):
    (ray_pin,) = [d for d in PYPROJECT["project"]["dependencies"] if re.match(r"ray\[", d)]
    assert ray_pin == "ray[default,tune,train]==2.60.0"
    assert ray.__version__ == ray_pin.split("==")[1]  # the `ray up` here is the cluster's Ray

    # The lock satisfies every requirement of the project and of the extras the nodes need, so a
    # change to pyproject.toml without `make cluster-lock` fails here.
    locked = locked_versions()
    optional = PYPROJECT["project"]["optional-dependencies"]
    for text in PYPROJECT["project"]["dependencies"] + optional["gpu"] + optional["gcp"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{text}: not in cluster/node-requirements.txt (run make cluster-lock)"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"{text}: the lock has {locked[name]} (run make cluster-lock)"
        )
    assert {"nvidia-cudnn-cu12", "google-api-python-client"} <= set(locked)  # the gpu and gcp extras

    # One Python patch level and one uv on every node, the ones the Makefile locks for.
    makefile = (ROOT / "Makefile").read_text()
    setup = "\n".join(config["setup_commands"])
    node_python = re.search(r"^NODE_PYTHON := (\S+)$", makefile, re.MULTILINE)[1]
    assert f"--python-preference only-managed --python {node_python} ~/venv" in setup
    assert node_python in SpecifierSet(PYPROJECT["project"]["requires-python"])
    uv = re.search(r"^UV_VERSION := (\S+)$", makefile, re.MULTILINE)[1]
    assert re.search(rf"pip install --user --quiet uv=={re.escape(uv)}$", setup, re.MULTILINE)
    # Both kinds of node sync to the lock, then add the project itself without resolving anything.
    for key in ("head_setup_commands", "worker_setup_commands"):
        commands = "\n".join(config[key])
        assert "uv pip sync --python ~/venv/bin/python --quiet ~/chromasweep/cluster/node-requirements.txt" in commands
        assert 'uv pip install --python ~/venv/bin/python --quiet --no-deps -e "$HOME/chromasweep"' in commands
        assert not re.search(r"uv pip install (?!.*--no-deps)", commands), "a node resolves packages itself"

    # ~/chromasweep holds what pip needs to install this project: its packages, files and lock.
    mounts = config["file_mounts"]
    assert mounts["~/chromasweep/pyproject.toml"] == "./pyproject.toml"
    assert mounts["~/chromasweep/cluster/node-requirements.txt"] == "./cluster/node-requirements.txt"
    assert mounts[f"~/chromasweep/{PYPROJECT['project']['readme']}"] == f"./{PYPROJECT['project']['readme']}"
    for package in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]:
        name = package.rstrip("*")
        assert mounts[f"~/chromasweep/{name}"] == f"./{name}" and (ROOT / name).is_dir()


GCP_SPECS = [ROOT / "sweeps" / "specs" / name for name in ("imagenet-gcp.yaml", "gcp-smoke.yaml")]


def node_commands(config: dict) -> dict[str, str]:
    """Every command that runs on each node type, as one text (setup commands are already merged)."""
    out = {}
    for name, node_type in config["available_node_types"].items():
        shared = "head_setup_commands" if name == config["head_node_type"] else "worker_setup_commands"
        own = node_type.get("initialization_commands", []) + node_type.get("worker_setup_commands", [])
        out[name] = "\n".join(config[shared] + config["initialization_commands"] + own)
    return out


def local_paths(value, where: str = ""):
    """(key, value) of every absolute local path in a spec's base config or parameters."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from local_paths(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for item in value:
            yield from local_paths(item, where)
    elif isinstance(value, str) and value.startswith(("/", "~")):
        yield where, value


def paths_missing_on_some_node(spec_path: Path, config: dict) -> list[str]:
    """A local file that a spec names must be on every node: the sweep's driver checks it on the
    head before any trial, and the trials read it on the workers. Only file_mounts are everywhere."""
    spec, base = load_spec(spec_path)
    named = list(local_paths(base.model_dump(), "base"))
    named += list(local_paths({k: p.model_dump() for k, p in spec.parameters.items()}, "parameters"))
    mounted = [remote.replace("~", "/home/" + config["auth"]["ssh_user"]) for remote in config["file_mounts"]]
    problems = []
    for key, path in named:
        if any(path.startswith(m) for m in mounted):
            continue
        folder = path.rsplit("/", 1)[0]
        on = [name for name, commands in node_commands(config).items() if folder in commands]
        problems.append(
            f"{spec_path.name}: {key}: {path} is provisioned on {', '.join(on) or 'no node'} only, "
            f"not on every node of {CONFIG.name}; name it as gs://BUCKET/..."
        )
    return problems


def test_specs_for_the_cluster_name_no_file_that_some_node_lacks(raw, config, tmp_path):
    for spec_path in GCP_SPECS:
        assert paths_missing_on_some_node(spec_path, config) == [], spec_path
        _, base = load_spec(spec_path)
        assert base.model.encoder_weights.startswith("gs://") and base.loss.teacher_weights.startswith("gs://")

    # What the first real sweep would have hit: weights in /opt/weights, which only GPU workers filled,
    # while the sweep's driver on the head checks them before any trial.
    old = copy.deepcopy(raw)
    old["available_node_types"]["gpu_worker"]["worker_setup_commands"] = [
        "sudo mkdir -p /opt/weights && gcloud storage cp 'gs://$bucket/weights/*.h5' /opt/weights/"
    ]
    spec_text = GCP_SPECS[0].read_text().replace("gs://YOUR_BUCKET/weights/", "/opt/weights/")
    (tmp_path / "old.yaml").write_text(spec_text)
    (problem, teacher) = paths_missing_on_some_node(tmp_path / "old.yaml", as_ray_up_has_it(old))
    assert "base.model.encoder_weights: /opt/weights/vgg16" in problem and "on gpu_worker only" in problem
    assert "base.loss.teacher_weights" in teacher


def test_the_smoke_spec_is_the_long_sweeps_shape_in_one_short_trial(config):
    smoke, smoke_base = load_spec(GCP_SPECS[1])
    full, full_base = load_spec(GCP_SPECS[0])
    assert smoke.trial_cap == 1 and smoke.chromasweep.resources == full.chromasweep.resources
    steps = smoke.chromasweep.budget.epochs_per_trial * smoke.parameters["steps_per_epoch"].value
    assert 200 <= steps <= 400 and smoke_base.checkpoint_every_steps == 100 < steps
    for key in ("data", "model", "loss", "mixed_precision"):
        assert getattr(smoke_base, key) == getattr(full_base, key), key
    dry = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "chromasweep") if (ROOT / ".venv").is_dir() else "chromasweep",
            "sweep",
            str(GCP_SPECS[1]),
            "--dry-run",
            "--samples",
            "1",
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    assert dry.returncode == 0, dry.stderr
    assert "trials     1" in dry.stdout and "2 worker(s) x (8 CPU, 1 GPU), a Ray Train run" in dry.stdout
    assert "restarted from its checkpoint up to 10 time(s)" in dry.stdout

    # Spot: a trial of several hours may lose a node more than twice and go on from its checkpoint.
    for spec in (smoke, full):
        assert spec.chromasweep.resources.max_failures > 2


def test_the_setup_checks_quotas_oslogin_and_role_and_grants_what_bucket_writes_need(config, setup_dry_run, tmp_path):
    import importlib.util

    from ray.autoscaler._private.gcp.config import DEFAULT_SERVICE_ACCOUNT_ID

    gcloud = setup_dry_run
    # Both nodes' accounts may read the bucket's metadata (pyarrow's create_dir asks for it); the
    # head's is Ray's own account, made here so that it can be bound before the first `ray up`.
    head_account = f"{DEFAULT_SERVICE_ACCOUNT_ID}@YOUR_PROJECT.iam.gserviceaccount.com"
    readers = {
        flag(shlex.join(c), "--member")
        for c in gcloud
        if c[1:4] == ["storage", "buckets", "add-iam-policy-binding"]
        and flag(shlex.join(c), "--role") == "roles/storage.legacyBucketReader"
    }
    assert readers == {
        f"serviceAccount:{config['metadata']['worker_service_account']}",
        f"serviceAccount:{head_account}",
    }
    assert ["gcloud", "iam", "service-accounts", "create", DEFAULT_SERVICE_ACCOUNT_ID] == gcloud[
        next(i for i, c in enumerate(gcloud) if DEFAULT_SERVICE_ACCOUNT_ID in c and "create" in c)
    ][:5]
    # SSH from the caller's own address unless told otherwise, never the whole internet by default.
    (ssh,) = [shlex.join(c) for c in gcloud if "chromasweep-allow-ssh" in c]
    assert flag(ssh, "--source-ranges") == "YOUR_ADDRESS/32"
    narrowed = subprocess.run(
        [CLUSTER / "gcp-setup.sh", "--dry-run"],
        check=True,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "SSH_SOURCE_RANGES": "203.0.113.7/32"},
    ).stdout
    assert "--source-ranges 203.0.113.7/32" in narrowed

    # Every node turns OS Login off for itself: `ray up` logs in with a key in the project's metadata.
    for node_type in config["available_node_types"].values():
        assert {"key": "enable-oslogin", "value": "FALSE"} in node_type["node_config"]["metadata"]["items"]

    # The preflight, on what gcloud reports for a new project (no GPU quota, OS Login enforced, an
    # Editor), lists every shortfall; on a ready project it says nothing.
    loaded = importlib.util.spec_from_file_location("gcp_preflight", CLUSTER / "gcp_preflight.py")
    preflight = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(preflight)
    raw = yaml.safe_load(CONFIG.read_text())
    assert preflight.needed(raw) == {
        ("region", "CPUS"): 72,
        ("region", "N2_CPUS"): 8,
        ("region", "IN_USE_ADDRESSES"): 9,
        ("region", "PREEMPTIBLE_NVIDIA_L4_GPUS"): 8,
        ("project", "GPUS_ALL_REGIONS"): 8,
    }

    def facts(folder, region, project, enforced, roles):
        folder.mkdir()

        def quotas(q):
            return json.dumps({"quotas": [{"metric": m, "limit": v, "usage": 0.0} for m, v in q.items()]})

        (folder / "region.json").write_text(quotas(region))
        (folder / "project.json").write_text(quotas(project))
        (folder / "oslogin.json").write_text(json.dumps({"booleanPolicy": {"enforced": True}} if enforced else {}))
        (folder / "roles.txt").write_text("\n".join(roles))
        return folder

    new = facts(
        tmp_path / "new",
        {"CPUS": 24.0, "N2_CPUS": 24.0, "IN_USE_ADDRESSES": 8.0},
        {"GPUS_ALL_REGIONS": 0.0},
        True,
        ["roles/editor"],
    )
    found = preflight.problems(raw, new)
    assert len(found) == 6, found
    assert any("GPUS_ALL_REGIONS (all regions) is 0, the full cluster needs 8" in p for p in found)
    assert any("PREEMPTIBLE_NVIDIA_L4_GPUS (us-central1) is 0" in p for p in found)
    assert any("CPUS (us-central1) is 24, the full cluster needs 72" in p for p in found)
    assert any("IN_USE_ADDRESSES" in p for p in found) and any("compute.requireOsLogin" in p for p in found)
    assert any("roles/editor" in p and "roles/owner" in p for p in found)
    ready = facts(
        tmp_path / "ready",
        {"CPUS": 96.0, "N2_CPUS": 24.0, "IN_USE_ADDRESSES": 16.0, "PREEMPTIBLE_NVIDIA_L4_GPUS": 8.0},
        {"GPUS_ALL_REGIONS": 8.0},
        False,
        ["roles/owner"],
    )
    assert preflight.problems(raw, ready) == []
    run = subprocess.run(
        [sys.executable, CLUSTER / "gcp_preflight.py", CONFIG, new], check=False, capture_output=True, text=True
    )
    assert run.returncode == 1 and run.stderr.count("gcp-gpu.yaml: ") == 6


def test_the_token_is_made_on_the_head_and_no_secret_is_in_the_repo(config):
    for start in config["head_start_ray_commands"] + config["worker_start_ray_commands"]:
        if "ray start" in start:
            assert start.index("RAY_AUTH_MODE=token") < start.index("ray start")
    (generate,) = [c for c in config["head_setup_commands"] if "get-auth-token" in c]
    assert "--generate" in generate and generate.endswith("> /dev/null")  # never in `ray up`'s output
    assert config["cluster_synced_files"] == ["~/.ray/auth_token"]  # head -> workers, not from here
    for remote, local in config["file_mounts"].items():
        assert not re.search(r"\.ray|\.ssh|gcloud|credential|token|\.pem|\.json", local + remote), local
    assert set(config["auth"]) == {"ssh_user"} and "gcp_credentials" not in config["provider"]
    for path in (p for p in CLUSTER.iterdir() if p.is_file()):
        text = path.read_text()
        assert "PRIVATE KEY" not in text and '"type": "service_account"' not in text, path


def test_every_command_is_valid_bash(config):
    for command in all_commands(config):
        check = subprocess.run(["bash", "-n", "-c", command], check=False, capture_output=True, text=True)
        assert check.returncode == 0, f"{command}\n{check.stderr}"
    for script in CLUSTER.glob("*.sh"):
        assert subprocess.run(["bash", "-n", script], check=False).returncode == 0, script
