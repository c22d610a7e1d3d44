"""cluster/local-up.sh: a token-authenticated multi-node Ray cluster on this machine, used as a user would."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import local_cluster_up

from colorize_core.model_files import MODEL_DIR, MODEL_FILE

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def local_cluster():
    with local_cluster_up({**os.environ, "RAY_PORT": "6391", "RAY_DASHBOARD_PORT": "8266"}) as env:
        yield env


def test_local_cluster_needs_the_token_and_trains_on_two_worker_nodes(local_cluster, prepared_sample, tmp_path):
    env = local_cluster
    assert env["RAY_AUTH_MODE"] == "token" and env["RAY_ADDRESS"] == "127.0.0.1:6391"
    without_token = {**env, "RAY_AUTH_MODE": "disabled"}
    probe = "import ray; ray.init(address='127.0.0.1:6391')"
    refused = subprocess.run([sys.executable, "-c", probe], env=without_token, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0  # an unauthenticated client is turned away

    train = subprocess.run(
        [sys.executable, "-m", "chromasweep.cli", "train", "--address", env["RAY_ADDRESS"], "--workers", "2",
         "--set", f"data.source={prepared_sample}", "--set", "epochs=1", "--set", "steps_per_epoch=3",
         "--set", "name=on-local-cluster", "--out-dir", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr[-3000:]
    assert "finished at step 3" in train.stdout
    assert (tmp_path / "on-local-cluster" / MODEL_DIR / MODEL_FILE).is_file()
