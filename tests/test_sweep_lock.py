"""Two drivers of one sweep (same name, same storage) cannot run at once: the second is refused while
the first lives, and let in the moment it exits or is killed. Real processes, real files."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.checkpoint_store import CheckpointStore
from sweeps.sweep_lock import OWNER_FILE, SweepLocked, sweep_lock

ROOT = Path(__file__).resolve().parents[1]

HOLDER = """
import sys, time
from sweeps.sweep_lock import sweep_lock
with sweep_lock(sys.argv[1], heartbeat_s=0.5, stale_s=3):
    print("held", flush=True)
    time.sleep(600)
"""


def hold(experiment: str) -> subprocess.Popen:
    """Another driver, holding ``experiment`` until killed."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, experiment], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.parametrize("kind", ["folder", "bucket-like URI", "bucket"])
def test_a_second_driver_is_refused_until_the_first_dies(tmp_path, kind, request):
    experiment = str(tmp_path / "storage" / "demo")
    if kind == "bucket-like URI":  # the heartbeat record a bucket gets, on the local filesystem through its URI
        experiment = f"file://{experiment}"
    elif kind == "bucket":
        experiment = f"{request.getfixturevalue('bucket')}/storage/demo"
    first = hold(experiment)
    try:
        refused = pytest.raises(
            SweepLocked, match=rf"already running \(driver pid {first.pid} on {socket.gethostname()}"
        )
        with refused, sweep_lock(experiment):
            pass
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    with sweep_lock(experiment, stale_s=3):  # a killed driver holds nothing
        assert CheckpointStore(experiment, keep=1).read_json(OWNER_FILE)["pid"] == os.getpid()
    with sweep_lock(experiment, stale_s=3):  # nor does one that exited
        pass


def test_on_a_bucket_a_driver_on_another_host_holds_the_sweep_until_its_heartbeat_goes_stale(tmp_path):
    folder = tmp_path / "demo"
    folder.mkdir()
    record = {"host": "head-node-7", "pid": 1, "started": time.time() - 100}
    (folder / OWNER_FILE).write_text(json.dumps({**record, "heartbeat": time.time() - 5}))
    with pytest.raises(SweepLocked, match="driver pid 1 on head-node-7"), sweep_lock(f"file://{folder}", stale_s=60):
        pass
    (folder / OWNER_FILE).write_text(json.dumps({**record, "heartbeat": time.time() - 61}))
    with sweep_lock(f"file://{folder}", stale_s=60):
        assert json.loads((folder / OWNER_FILE).read_text())["host"] == socket.gethostname()


def test_the_cli_refuses_a_second_sweep_of_the_same_name_and_storage_before_ray_starts(tmp_path, prepared_sample):
    spec = tmp_path / "locked.yaml"
    spec.write_text(f"""
name: locked
method: random
metric: {{name: val_psnr}}
parameters:
  optim.generator_lr: {{values: [1.0e-4, 2.0e-4]}}
  data.source: {{value: {prepared_sample}}}
run_cap: 2
chromasweep:
  base: {ROOT / "colorize_core" / "configs" / "demo.yaml"}
  budget: {{epochs_per_trial: 1, max_concurrent: 1}}
""")
    storage = tmp_path / "storage"
    first = hold(str(storage / "locked"))
    try:
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "chromasweep.cli", "sweep", str(spec), "--storage", str(storage)],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
        took = time.perf_counter() - started
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert f"sweep {storage / 'locked'} is already running (driver pid {first.pid}" in proc.stderr
    assert "Traceback" not in proc.stderr
    # Refused before any work: nothing of Tune's or the spec's record was written.
    assert sorted(p.name for p in (storage / "locked").iterdir()) == [".driver.lock", OWNER_FILE]
    assert took < 120
