import contextlib
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
from servers import free_port, ray_head, serving  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Every test session prepares its datasets in its own cache, never in the user's home."""
    cache = tmp_path_factory.mktemp("cache")
    os.environ["CHROMASWEEP_CACHE"] = str(cache)
    # Module-wide fixtures run before the per-test store below: they track here, never into ./mlflow.db.
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"
    return cache


@pytest.fixture(autouse=True)
def unmarked_tests_start_no_ray(request, monkeypatch):
    """The fast tier (`make test-fast`, `-m "not e2e"`) is whatever starts no Ray: a test that does
    without its e2e mark fails here, instead of slowing the tier or joining a cluster by accident.
    (In this process only: a subprocess's Ray is told apart by the tier's measured time.)"""
    if request.node.get_closest_marker("e2e") is None:

        def refuse(*args, **kwargs):
            raise RuntimeError(f"{request.node.nodeid} starts Ray: mark it @pytest.mark.e2e")

        monkeypatch.setattr("ray.init", refuse)


@pytest.fixture(scope="session")
def shared_ray(tmp_path_factory):
    """One Ray cluster (2 CPUs, like this machine) for the session's sweeps that can share one, on
    purpose: a test joins it by passing ``shared_ray.args()`` (``--address``) and ``shared_ray.env()``,
    and saves a Ray start and stop (about 10 s a sweep). Tests that kill their driver's process group,
    or whose Ray workers need the test's own environment (a bucket emulator's address), start their own."""
    log = tmp_path_factory.mktemp("ray-head") / "ray-head.log"
    with ray_head(str(Path(sys.executable).parent / "ray"), log, cpus=2) as head:
        yield head


@pytest.fixture(autouse=True)
def isolated_tracking(tmp_path, monkeypatch):
    """Commands a test runs track into the test's own MLflow store, never ./mlflow.db."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    yield uri
    if "mlflow" in sys.modules:  # a test that selected another store does not leak it
        sys.modules["mlflow"].set_tracking_uri(None)


@pytest.fixture(scope="session")
def sample_photos(tmp_path_factory):
    from colorize_core.data.bundled_sample import build_sample_dataset

    return build_sample_dataset(tmp_path_factory.mktemp("sample") / "imagenet-object-localization-challenge")


@pytest.fixture(scope="session")
def prepared_sample(sample_photos, tmp_path_factory):
    from colorize_core.data.shards import prepare

    out = tmp_path_factory.mktemp("prepared")
    prepare(sample_photos, str(out), progress=False)
    return str(out)


@pytest.fixture
def tiny_config(prepared_sample, tmp_path):
    """The demo model on the prepared sample data, writing under this test's folder."""
    from colorize_core.config import demo_config

    return demo_config().with_overrides(
        {"data.source": prepared_sample, "out_dir": str(tmp_path / "runs"), "epochs": 1, "steps_per_epoch": 4}
    )


@contextlib.contextmanager
def local_cluster_up(env: dict):
    """``cluster/local-up.sh 2 1`` with ``env`` (its ports), as a user starts it; yields ``env`` with
    the exported variables a user would eval, and always runs ``local-down.sh``."""
    root = Path(__file__).resolve().parents[1]
    for name in ("RAY_AUTH_MODE", "RAY_ADDRESS", "RAY_API_SERVER_ADDRESS"):
        env.pop(name, None)
    try:
        up = subprocess.run(
            [root / "cluster/local-up.sh", "2", "1"], check=False, env=env, capture_output=True, text=True
        )
        assert up.returncode == 0, up.stderr
        assert "head + 2 worker nodes" in up.stderr
        for line in up.stdout.splitlines():  # the `export NAME=value` lines a user would eval
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = value
        yield env
    finally:
        subprocess.run([root / "cluster/local-down.sh"], check=False, env=env, capture_output=True)


@pytest.fixture
def browser():
    """Debian's Chromium, headless, driven through its chromedriver (both installed by `make`)."""
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--window-size=1600,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    yield driver
    driver.quit()


@contextlib.contextmanager
def mlflow_ui_running(uri: str, cwd: Path, port: int | None = None):
    """`chromasweep ui` on a loopback port (free, unless given) for the store ``uri``, as a user
    starts it; yields its URL, and stops it on leaving."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "chromasweep.cli", "ui", "--port", str(port), "--tracking-uri", uri]
    with serving(command, Path(cwd) / f"mlflow-server-{port}.log", f"{url}/health", "mlflow server", cwd=cwd):
        yield url


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory):
    """A GCS emulator for the session (``tests/gcs_emulator.py``); its URL."""
    from gcs_emulator import running

    with running(tmp_path_factory.mktemp("gcs") / "server.log") as url:
        yield url


@pytest.fixture
def bucket(gcs_emulator, monkeypatch, request):
    """A fresh bucket on the emulator, named for the test; ``STORAGE_EMULATOR_HOST`` points at it
    for this process and every process it starts (Ray's included)."""
    import hashlib

    from gcs_emulator import create_bucket

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    return create_bucket(gcs_emulator, "t-" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:16])


@contextlib.contextmanager
def mlflow_server_running(store: Path, artifacts: str):
    """``mlflow server`` as the GCP head runs it: a sqlite file ``store``, artifacts at ``artifacts``
    (a bucket); yields its URL, and stops it on leaving."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(Path(sys.executable).with_name("mlflow")),
        "server",
        "--backend-store-uri",
        f"sqlite:///{store}",
        "--artifacts-destination",
        artifacts,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--allowed-hosts",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
    ]
    with serving(command, store.with_suffix(".log"), f"{url}/health", "mlflow server"):
        yield url


def examples_of(prepared: str) -> list[tuple[str, int, bytes, str]]:
    """Every example of a prepared folder, shard by shard: (split, label, encoded image, file name)."""
    import tensorflow as tf

    from colorize_core.data.shards import read_meta

    spec = {
        "image/encoded": tf.io.FixedLenFeature([], tf.string),
        "image/label": tf.io.FixedLenFeature([], tf.int64),
        "image/filename": tf.io.FixedLenFeature([], tf.string),
    }
    out = []
    for split, names in read_meta(prepared).shards.items():
        for record in tf.data.TFRecordDataset([f"{prepared}/{n}" for n in names]):
            x = tf.io.parse_single_example(record, spec)
            out.append((split, int(x["image/label"]), x["image/encoded"].numpy(), x["image/filename"].numpy().decode()))
    return out
