"""cluster/local-up.sh, a token-authenticated multi-node Ray cluster on this machine, used as a user
would: `chromasweep train --address`, and the launch command of cluster/README.md (the one for the GCP
cluster) as it is written, `ray job submit ... -- chromasweep sweep SPEC ...`. One cluster serves both."""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import mlflow
import pytest
from conftest import local_cluster_up

from colorize_core.model_files import MODEL_DIR, MODEL_FILE
from colorize_core.status import RunStatus
from sweeps.naming import trial_name

pytestmark = pytest.mark.e2e  # starts Ray, a server or a real training run: `make test`, not `make test-fast`

ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = ROOT / "colorize_core" / "configs" / "demo.yaml"
# Ports of their own (a plain local Ray has the defaults).
RAY_PORT, DASHBOARD_PORT = "6392", "8267"


def readme_launch_command() -> list[str]:
    """The README's `ray job submit ... -- chromasweep sweep SPEC ...` line for the long sweep, as the
    shell splits it; its other launch lines (the smoke run) must differ from it only in the spec."""
    commands = [
        shlex.split(line)
        for line in (ROOT / "cluster" / "README.md").read_text().splitlines()
        if line.startswith("ray job submit ") and " -- chromasweep sweep " in line
    ]
    spec_at = commands[0].index("sweep") + 1
    by_spec = {command[spec_at]: command for command in commands}
    launch = by_spec.pop("sweeps/specs/imagenet-gcp.yaml")
    for spec, other in by_spec.items():
        assert other[:spec_at] + other[spec_at + 1 :] == launch[:spec_at] + launch[spec_at + 1 :], spec
    return launch


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("local-cluster")
    env = {
        **os.environ,
        "RAY_PORT": RAY_PORT,
        "RAY_DASHBOARD_PORT": DASHBOARD_PORT,
        # As on the GCP nodes: the project's commands on the nodes' PATH, MLflow named by the
        # nodes' environment (a store of this test's own here, the head's server there).
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
    with local_cluster_up(env) as env:
        yield env


def test_local_cluster_needs_the_token_and_trains_on_two_worker_nodes(local_cluster, prepared_sample, tmp_path):
    env = local_cluster
    assert env["RAY_AUTH_MODE"] == "token" and env["RAY_ADDRESS"] == f"127.0.0.1:{RAY_PORT}"
    without_token = {**env, "RAY_AUTH_MODE": "disabled"}
    probe = f"import ray; ray.init(address='127.0.0.1:{RAY_PORT}')"
    refused = subprocess.run(
        [sys.executable, "-c", probe], env=without_token, capture_output=True, text=True, timeout=120
    )
    assert refused.returncode != 0  # an unauthenticated client is turned away

    train = subprocess.run(
        [
            sys.executable,
            "-m",
            "chromasweep.cli",
            "train",
            "--address",
            env["RAY_ADDRESS"],
            "--workers",
            "2",
            "--set",
            f"data.source={prepared_sample}",
            "--set",
            "epochs=1",
            "--set",
            "steps_per_epoch=3",
            "--set",
            "name=on-local-cluster",
            "--out-dir",
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert train.returncode == 0, train.stderr[-3000:]
    assert "finished at step 3" in train.stdout
    assert (tmp_path / "on-local-cluster" / MODEL_DIR / MODEL_FILE).is_file()


TRIAL_DRIVER, TRAIN_WORKER = "ImplicitFunc", "RayTrainWorker"  # Ray's actor classes for the two


class PlacementWatch(threading.Thread):
    """Lists the trial drivers' and Ray Train workers' actors every few seconds while the job runs, and
    once more at the end: ``seen[class_name]`` maps each actor id to its node id."""

    def __init__(self, address: str, env: dict, every_s: float = 5.0):
        super().__init__(daemon=True)
        self.address, self.env, self.every_s = address, env, every_s
        self.seen: dict[str, dict[str, str]] = {TRIAL_DRIVER: {}, TRAIN_WORKER: {}}
        self.errors: list[str] = []
        self.before: dict[str, set[str]] = {}
        self.stop = threading.Event()

    def list_once(self) -> None:
        for class_name, actors in self.seen.items():
            before = self.before.get(class_name, set())
            listed = subprocess.run(
                [
                    "ray",
                    "list",
                    "actors",
                    "--address",
                    self.address,
                    "--detail",
                    "--format",
                    "json",
                    "--limit",
                    "1000",
                    "--filter",
                    f"class_name={class_name}",
                ],
                check=False,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            if listed.returncode != 0:  # a slow answer under load; the next round asks again
                self.errors.append(listed.stderr[-500:])
            elif listed.stdout.strip() != "No resource in the cluster":  # how the CLI prints an empty list
                actors.update(
                    {
                        a["actor_id"]: a["node_id"]
                        for a in json.loads(listed.stdout)
                        if a["node_id"] and a["actor_id"] not in before
                    }
                )

    def run(self) -> None:
        while not self.stop.wait(self.every_s):
            self.list_once()

    def __enter__(self):
        # Actors of earlier jobs on this cluster (the module's other test) are not this job's.
        self.list_once()
        self.before = {name: set(actors) for name, actors in self.seen.items()}
        self.seen = {name: {} for name in self.seen}
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.join()
        self.list_once()


def trial_rows(stdout: str) -> dict[str, tuple[str, int]]:
    """The closing table of `chromasweep sweep`: trial id -> (status, epochs)."""
    after = stdout.split("sorted by", 1)[1].splitlines()[2:]
    matches = (re.match(rf"^([0-9a-f]{{8}})\s+({'|'.join(RunStatus)})\s+(\d+)\s", line) for line in after)
    return {m[1]: (RunStatus(m[2]), int(m[3])) for m in matches if m}


def test_the_readme_launch_command_runs_a_sweep_through_ray_job_submit(local_cluster, prepared_sample, tmp_path):
    env = local_cluster
    command = readme_launch_command()
    # ray job submit --address URL --working-dir . -- chromasweep sweep SPEC --storage gs://BUCKET/...
    split = command.index("--")
    submit, entrypoint = command[:split], command[split + 1 :]
    assert submit[:3] == ["ray", "job", "submit"] and submit[submit.index("--working-dir") + 1] == "."
    assert entrypoint[:2] == ["chromasweep", "sweep"] and entrypoint[3] == "--storage"

    # The README's three cluster-specific values, for this cluster: its job API, a tiny spec on the
    # bundled sample photos, storage every node can reach (the nodes share this machine's disk).
    spec = tmp_path / "on-cluster.yaml"
    spec.write_text(f"""
name: on-cluster
method: random
metric: {{name: val_psnr, goal: maximize}}
parameters:
  loss.adversarial_weight: {{distribution: log_uniform_values, min: 0.01, max: 0.5}}
  data.source: {{value: {prepared_sample}}}
  data.max_val_images: {{value: 8}}
  steps_per_epoch: {{value: 3}}
run_cap: 1
chromasweep:
  base: {DEMO_CONFIG}
  budget: {{max_concurrent: 1, epochs_per_trial: 1}}
  resources: {{workers: 2, cpus_per_worker: 1, gpus_per_worker: 0}}
""")  # one trial (each costs minutes here) of two workers, one on each worker node, as imagenet-gcp.yaml asks
    storage = tmp_path / "storage"
    submit[submit.index("--address") + 1] = env["RAY_API_SERVER_ADDRESS"]
    assert submit[submit.index("--address") + 1] == f"http://127.0.0.1:{DASHBOARD_PORT}"
    entrypoint[2], entrypoint[4] = str(spec), str(storage)

    # The job API, like every Ray connection here, turns away a client without the token.
    without_token = {**env, "RAY_AUTH_MODE": "disabled"}
    refused = subprocess.run(
        ["ray", "job", "list", "--address", env["RAY_API_SERVER_ADDRESS"]],
        check=False,
        env=without_token,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0

    # Where Ray puts each trial's parts is watched while the job runs: a dead actor's record is not
    # kept for ever (the GCS drops a finished job's actors), so reading it back afterwards can miss it.
    with PlacementWatch(env["RAY_API_SERVER_ADDRESS"], env) as placement:
        job = subprocess.run(
            [*submit, "--", *entrypoint], check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
        )
    out = job.stdout + job.stderr
    assert job.returncode == 0, job.stdout[-6000:] + job.stderr[-2000:]
    assert "gcs://_ray_pkg_" in out  # the working directory went up to the cluster, as on GCP
    assert re.search(r"Job 'raysubmit_\w+' succeeded", out), out[-2000:]

    assert "sweep on-cluster: 1 trials" in job.stdout
    rows = trial_rows(job.stdout)
    assert list(rows.values()) == [(RunStatus.FINISHED, 1)], job.stdout[-2000:]
    best = re.search(r"best trial: ([0-9a-f]{8}) \(val_psnr [-\d.]+\); model: (\S+)", job.stdout)
    assert best and best[1] in rows
    trials = storage / "on-cluster" / "trials"
    assert Path(best[2]) == trials / trial_name(best[1]) / MODEL_DIR
    for trial in rows:  # each trial's final model, written by its Ray Train worker on a worker node
        assert (trials / trial_name(trial) / MODEL_DIR / MODEL_FILE).is_file()
        # The same run folder as every other run's, kept by rank 0 of the trial's two workers.
        run = trials / trial_name(trial)
        assert (run / "chromasweep-run.json").is_file() and list(run.glob("checkpoint_step_*/.complete"))
    reports = [
        json.loads(line)
        for path in (storage / "on-cluster").glob("*/result.json")
        for line in path.read_text().splitlines()
    ]
    assert len(reports) == 1 and all(r["workers"] == 2 for r in reports)

    # Where Ray put the trial's parts: its driver on the head (never a worker node, which would be
    # a Spot VM on GCP), its two Ray Train workers on the two worker nodes.
    nodes = subprocess.run(
        ["ray", "list", "nodes", "--address", env["RAY_API_SERVER_ADDRESS"], "--format", "json"],
        check=True,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    head = {n["node_id"] for n in json.loads(nodes.stdout) if n["is_head_node"]}
    drivers, workers = placement.seen[TRIAL_DRIVER], placement.seen[TRAIN_WORKER]
    assert len(drivers) == 1 and set(drivers.values()) == head, (placement.seen, placement.errors)
    assert len(workers) == 2 and len(set(workers.values()) - head) == 2, (placement.seen, placement.errors)

    # The job and its trials found MLflow through the nodes' environment, as on GCP: the sweep is
    # an experiment there, with its parent run and the trial's run.
    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("on-cluster")
    assert experiment is not None
    kinds = sorted(run.data.tags.get("chromasweep.kind") for run in client.search_runs([experiment.experiment_id]))
    assert kinds == ["sweep", "trial"]


def test_data_prepare_across_the_cluster_writes_the_shards_of_one_process_and_a_rerun_keeps_the_whole_ones(
    local_cluster, sample_photos, tmp_path
):
    from conftest import examples_of

    from colorize_core.data.shards import PROGRESS_DIR, prepare

    here = tmp_path / "here"
    prepare(sample_photos, str(here), progress=False, images_per_shard=2)
    out = tmp_path / "on-cluster"
    command = [sys.executable, "-m", "chromasweep.cli", "data", "prepare", str(sample_photos), str(out)]
    command += ["--images-per-shard", "2", "--address", local_cluster["RAY_ADDRESS"]]

    # Killed (the driver's whole process group) as soon as one shard is whole.
    with (tmp_path / "killed.log").open("wb") as log:
        driver = subprocess.Popen(command, env=local_cluster, stdout=log, stderr=log, start_new_session=True)
    records = out / PROGRESS_DIR
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list(records.glob("*.json")) and driver.poll() is None:
        time.sleep(0.05)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    whole = {
        r.name.removesuffix(".json"): (out / r.name.removesuffix(".json")).stat().st_mtime_ns
        for r in records.glob("*.json")
    }
    assert whole, (tmp_path / "killed.log").read_text()[-3000:]
    assert not (out / "meta.json").exists(), "the prepare finished before the kill: nothing left to resume"

    again = subprocess.run(command, env=local_cluster, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert re.search(rf"kept {len(whole)} of \d+ shards", again.stdout), again.stdout[-2000:]
    assert {name: (out / name).stat().st_mtime_ns for name in whole} == whole  # not written again
    assert examples_of(str(out)) == examples_of(str(here))  # the very shards of one process...
    shards = sorted(p.name for p in here.glob("*.tfrecord"))
    assert shards and all((out / n).read_bytes() == (here / n).read_bytes() for n in shards)  # ...byte for byte
    assert not records.exists()
