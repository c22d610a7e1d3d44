"""The command line as a user runs it: build data, train, colorize, and get told what went wrong."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorize_core.model_files import MODEL_DIR, MODEL_FILE, MODEL_INFO

CLI = [sys.executable, "-m", "chromasweep.cli"]


def run(*args, check=True):
    proc = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, env=os.environ.copy())
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def trained_model(prepared_sample, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli-runs")
    config = out / "tiny.yaml"
    config.write_text(
        "name: tiny\nepochs: 1\nsteps_per_epoch: 3\n"
        f"data:\n  source: {prepared_sample}\n  batch_size: 8\n"
        "model:\n  image_size: 64\n  width: 0.25\n"
    )
    # In-process, sparing a Ray start: the Ray path is
    # test_a_run_killed_in_process_continues_through_ray_in_one_bucket_layout's.
    proc = run("train", "--config", config, "--out-dir", out, "--in-process")
    assert "epoch 1/1" in proc.stdout and "val PSNR" in proc.stdout
    model = out / "tiny" / MODEL_DIR
    assert (model / MODEL_FILE).is_file() and (model / MODEL_INFO).is_file()
    return model


@pytest.mark.e2e
def test_a_run_killed_in_process_continues_through_ray_in_one_bucket_layout(
    prepared_sample, tmp_path, isolated_tracking, bucket
):
    """Storage in a bucket (a GCS emulator): killed in process after its first checkpoint, continued
    through Ray Train from that checkpoint, then colorizing with the model straight from the bucket."""
    import json
    import signal
    import time

    from runner.checkpoint_store import CheckpointStore
    from runner.run_folder import METRICS_LOG

    config = tmp_path / "tiny.yaml"
    config.write_text(
        "name: both-ways\nepochs: 5\nsteps_per_epoch: 2\n"
        f"data:\n  source: {prepared_sample}\n  batch_size: 8\n"
        "model:\n  image_size: 64\n  width: 0.25\n"
    )
    storage = f"{bucket}/runs"
    store = CheckpointStore.for_run(storage, "both-ways", keep=3)
    first = subprocess.Popen(
        [*CLI, "train", "--config", str(config), "--storage", storage, "--in-process"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while not store.complete() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert first.poll() is None, f"the in-process run ended ({first.returncode}) before its first checkpoint was seen"
    first.send_signal(signal.SIGKILL)
    first.wait()
    at_kill = int(store.complete()[-1].rsplit("_", 1)[1])
    assert 2 <= at_kill < 10

    proc = run("train", "--config", config, "--storage", storage)
    assert "resumed from checkpoint" in proc.stdout and f"at step {at_kill}" in proc.stdout, proc.stdout
    assert f"finished at step 10; model written to {storage}/both-ways/{MODEL_DIR}" in proc.stdout
    assert store.complete()[-1] == "checkpoint_step_00000010" and len(store.complete()) <= 3
    # Every epoch once: the killed process's epochs and the Ray run's, in order.
    assert [json.loads(line)["epoch"] for line in store.read_text(METRICS_LOG).splitlines()] == [1, 2, 3, 4, 5]

    # The Ray run is tracked (the in-process one is not) as a run of the experiment "train", with its model.
    from mlflow import MlflowClient

    client = MlflowClient(isolated_tracking)
    runs = client.search_runs([client.get_experiment_by_name("train").experiment_id])
    assert [r.info.run_name for r in runs] == ["both-ways"] and "chromasweep.model_uri" in runs[0].data.tags

    photo = tmp_path / "gray.png"
    Image.fromarray(np.full((40, 30), 128, np.uint8)).save(photo)
    proc = run("predict", "--model", f"{storage}/both-ways/{MODEL_DIR}", photo, "--out", tmp_path / "out")
    with Image.open(tmp_path / "out" / "gray.png") as out:
        assert out.size == (30, 40) and out.mode == "RGB"
    missing = run(
        "predict", "--model", f"{storage}/no-such-run/{MODEL_DIR}", photo, "--out", tmp_path / "out", check=False
    )
    # A bucket is not looked into before the model loads: a missing model there is a failed load (1).
    assert missing.returncode == 1 and f"{storage}/no-such-run/{MODEL_DIR}: not found" in missing.stderr

    # A run folder an older chromasweep wrote is refused, untouched, before Ray starts.
    (tmp_path / "old-run" / "checkpoints").mkdir(parents=True)
    proc = run("train", "--config", config, "--out-dir", tmp_path, "--set", "name=old-run", "--in-process", check=False)
    assert proc.returncode == 1 and "old-run: written by an older chromasweep" in proc.stderr
    assert (tmp_path / "old-run" / "checkpoints").is_dir()


@pytest.mark.e2e
def test_evaluate_scores_whole_photos_beside_the_gray_and_constant_baselines(trained_model, tmp_path):
    from skimage import data
    from skimage.color import lab2rgb, rgb2lab
    from skimage.metrics import peak_signal_noise_ratio

    photos = tmp_path / "photos"
    (photos / "nested").mkdir(parents=True)
    Image.fromarray(data.chelsea()).save(photos / "chelsea.png")
    Image.fromarray(data.rocket()).save(photos / "nested" / "rocket.jpg", quality=95)
    (photos / "notes.jpg").write_bytes(b"not a photo")
    Image.fromarray(data.camera()).save(photos / "camera.png")  # gray: the gray baseline would be exact
    proc = run("evaluate", "--model", trained_model, "--data", photos, "--size", "256", "--out", tmp_path / "t.csv")
    lines = proc.stdout.splitlines()
    assert "on 2 photos" in lines[0] and "protocol 256" in lines[0]
    header, *rows = [line.split() for line in lines[1:5]]
    assert header[:4] == ["photo", "psnr", "gray_psnr", "mean_ab_psnr"]
    assert [r[0] for r in rows] == ["chelsea.png", "rocket.jpg", "mean"]
    assert f"skipped {photos / 'notes.jpg'}: unreadable image" in proc.stderr
    assert f"skipped {photos / 'camera.png'}: grayscale: no colour to score" in proc.stderr
    assert (tmp_path / "t.csv").read_text().splitlines()[0].startswith("photo,psnr,gray_psnr")
    # Under the table, each mean with its bootstrap interval over the 2 photos, then model minus each baseline.
    block = [line.split() for line in lines[lines.index("mean [95% CI] over 2 photos") + 1 :]]
    assert block[0][:2] == ["psnr", rows[2][1]] and block[0][2].startswith("[")
    gray = next(b for b in block if b[:3] == ["psnr", "-", "gray_psnr"])
    assert gray[3][0] in "+-" and gray[-1] in {"above", "below", "tie"}
    assert (tmp_path / "t-intervals.csv").read_text().splitlines()[0] == "quantity,mean,ci_low,ci_high"

    # The gray baseline, recomputed independently with scikit-image: the photo resized to 256x256,
    # its L kept and ab dropped, compared in RGB uint8.
    truth = np.asarray(Image.fromarray(data.chelsea()).resize((256, 256), Image.Resampling.LANCZOS))
    lab = rgb2lab(truth)
    lab[..., 1:] = 0
    gray = np.round(np.clip(lab2rgb(lab), 0, 1) * 255).astype(np.uint8)
    assert float(rows[0][2]) == pytest.approx(peak_signal_noise_ratio(truth, gray, data_range=255), abs=0.05)
    assert float(rows[2][1]) == pytest.approx((float(rows[0][1]) + float(rows[1][1])) / 2, abs=0.01)


def test_data_sample_then_prepare(tmp_path):
    run("data", "sample", tmp_path / "photos")
    proc = run("data", "prepare", tmp_path / "photos", tmp_path / "shards")
    assert "ilsvrc layout, 10 classes" in proc.stdout
    assert sorted(p.name for p in (tmp_path / "shards").iterdir())[:1] == ["meta.json"]


@pytest.mark.e2e
def test_predict_keeps_each_size_and_reports_unreadable_files(trained_model, tmp_path):
    rng = np.random.default_rng(0)
    big = tmp_path / "big.jpg"
    Image.fromarray(rng.integers(0, 255, (301, 517, 3), dtype=np.uint8)).save(big)
    gray = tmp_path / "gray.png"
    Image.fromarray(rng.integers(0, 255, (40, 90), dtype=np.uint8)).save(gray)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 definitely not a jpeg")
    proc = run("predict", "--model", trained_model, big, gray, broken, "--out", tmp_path / "out", check=False)
    assert proc.returncode == 1 and f"skipped {broken}: cannot identify image file" in proc.stderr
    assert "1 of 3 images could not be colorized" in proc.stderr
    for source, size in ((big, (517, 301)), (gray, (90, 40))):
        out = Image.open(tmp_path / "out" / f"{source.stem}.png")
        assert out.size == size and out.mode == "RGB"
    # The output keeps the input's lightness: colour is added, detail is not lost.
    L_in = np.asarray(Image.open(gray), np.float32)
    L_out = np.asarray(Image.open(tmp_path / "out" / "gray.png").convert("L"), np.float32)
    assert np.abs(L_in - L_out).mean() < 8


@pytest.mark.e2e
def test_hostile_photos_each_get_an_upright_output_or_a_named_refusal(trained_model, tmp_path):
    rng = np.random.default_rng(1)
    photos = tmp_path / "photos"
    photos.mkdir()
    noise = lambda *shape: rng.integers(0, 255, shape, dtype=np.uint8)  # noqa: E731
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 90x40, shown rotated a quarter turn: 40 wide, 90 high
    Image.fromarray(noise(40, 90, 3)).save(photos / "phone.jpg", exif=exif)
    Image.fromarray(noise(30, 50, 3)).convert("CMYK").save(photos / "cmyk.jpg")
    sixteen = rng.integers(0, 65535, (24, 36), dtype=np.uint16)
    Image.fromarray(sixteen).save(photos / "sixteen.png")
    rgba = np.dstack([noise(20, 30, 3), np.linspace(0, 255, 600).astype(np.uint8).reshape(20, 30)])
    Image.fromarray(rgba).save(photos / "rgba.png")
    Image.fromarray(noise(20, 30, 3)).convert("P").save(photos / "palette.png")
    Image.fromarray(noise(1, 1, 3)).save(photos / "dot.png")
    Image.new("RGB", (12000, 9000), (120, 80, 40)).save(photos / "huge.jpg", quality=20)
    Image.fromarray(noise(64, 64, 3)).save(photos / "whole.jpg")
    (photos / "truncated.jpg").write_bytes((photos / "whole.jpg").read_bytes()[:400])
    (photos / "notes.txt").write_text("not a photo")
    Image.fromarray(noise(16, 16, 3)).save(photos / "fotó_日本.png")
    before = {p.name: p.read_bytes() for p in photos.iterdir()}

    proc = run("predict", "--model", trained_model, photos, "--out", photos, check=False)  # out = in
    assert proc.returncode == 1 and "3 of 11 images could not be colorized" in proc.stderr, proc.stderr
    assert "skipped " + str(photos / "huge.jpg") + ": 12000x9000 is 108 MP, over the 50 MP limit" in proc.stderr
    assert f"skipped {photos / 'truncated.jpg'}: Truncated File Read" in proc.stderr  # Pillow's words
    assert f"skipped {photos / 'notes.txt'}: cannot identify image file" in proc.stderr
    assert {p.name: p.read_bytes() for p in photos.iterdir() if p.name in before} == before  # no input overwritten

    def out(name):
        return Image.open(photos / name)

    assert out("phone.png").size == (40, 90) and out("cmyk.png").mode == "RGB"
    assert out("sixteen.colorized.png").size == (36, 24)  # its own name taken: beside it, not over it
    L16 = np.asarray(out("sixteen.colorized.png").convert("L"), np.float32)
    assert np.abs(L16 - sixteen / 257.0).mean() < 8  # 16-bit lightness scaled, not clipped to white
    assert out("rgba.colorized.png").mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(out("rgba.colorized.png"))[..., 3], rgba[..., 3])
    assert out("palette.colorized.png").mode == "RGB" and out("dot.colorized.png").size == (1, 1)
    assert out("fotó_日本.colorized.png").size == (16, 16) and out("whole.png").size == (64, 64)


def test_errors_name_the_file_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  generator_lr: -1\n")
    proc = run("train", "--config", bad, check=False)
    assert proc.returncode == 1
    assert "bad.yaml: optim.generator_lr: Input should be greater than 0" in proc.stderr
    proc = run("train", "--set", "data.source=" + str(tmp_path / "nowhere"), check=False)
    assert proc.returncode == 1 and "nowhere: not a folder" in proc.stderr
    proc = run("train", "--workers", "3", check=False)  # refused before Ray starts
    assert proc.returncode == 1 and "data.batch_size 16 does not split evenly over 3 replicas" in proc.stderr
    (tmp_path / "no-model").mkdir()
    proc = run("predict", "--model", tmp_path / "no-model", Path(__file__), "--out", tmp_path, check=False)
    assert proc.returncode == 1 and "no-model: no generator.keras" in proc.stderr


def test_a_mistaken_file_or_flag_gets_one_line_saying_what_to_do(tmp_path):
    specs = Path(__file__).resolve().parents[1] / "sweeps" / "specs"
    proc = run("sweep", specs, "--dry-run", check=False)
    assert proc.stderr.strip() == f"Error: {specs}: a folder; give one spec file in it, such as {specs / 'demo.yaml'}"
    proc = run("train", "--config", specs / "demo.yaml", check=False)
    assert proc.stderr.strip() == (
        f"Error: {specs / 'demo.yaml'}: a sweep spec (it has method and parameters), "
        f"not a training config: run it with `chromasweep sweep {specs / 'demo.yaml'}`"
    )
    (tmp_path / "half.yaml").write_text("name: half\n")
    proc = run("sweep", tmp_path / "half.yaml", "--dry-run", check=False)
    assert "half.yaml: method: Field required; parameters: Field required" in proc.stderr
    proc = run("sweep", specs / "demo.yaml", "--samples", "2", check=False)  # no sweep starts
    assert proc.returncode == 2 and "--samples goes with --dry-run" in proc.stderr


def test_help_shows_the_commands():
    out = run("--help").stdout
    for command in ("data", "train", "predict"):
        assert command in out


def test_a_command_line_mistake_exits_2_before_tensorflow_loads(tmp_path):
    """Paths that are not there, a model that is nowhere, a goal that is no rate: usage mistakes, each
    refused with exit status 2 and one line naming the option, before TensorFlow's slow import."""
    photo = tmp_path / "photo.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(photo)
    notes = tmp_path / "notes.txt"
    notes.write_text("photos are elsewhere")
    mistakes = [
        (["predict", "--model", str(tmp_path / "gone"), str(photo), "--out", str(tmp_path)], "'--model': "),
        (
            ["predict", "--model", str(tmp_path), str(tmp_path / "no.png"), "--out", str(tmp_path)],
            "no.png' does not exist",
        ),
        (["evaluate", "--model", "models:/colorizer@champion", "--data", str(tmp_path / "none")], "'--data'"),
        (
            ["turing", "create", str(tmp_path / "s"), "--model", str(tmp_path / "gone"), "--images", str(tmp_path)],
            "'--model'",
        ),
        (
            [
                "turing",
                "create",
                str(tmp_path / "s"),
                "--model",
                str(tmp_path),
                "--images",
                str(tmp_path),
                "--image-size",
                "100",
            ],
            "--image-size: Input should be a multiple of 16",
        ),
        (["turing", "report", str(tmp_path / "s")], "does not exist"),
        (["promote", "demo", "--require-turing", "10"], "expected a fooling rate such as 10% or 0.10"),
        (["train", "--config", str(tmp_path / "none.yaml")], "none.yaml' does not exist"),
        (["data", "imagenet-sample", str(tmp_path / "none"), str(tmp_path / "out")], "does not exist"),
        (["data", "prepare", str(tmp_path / "none.zip"), str(tmp_path / "out")], "none.zip: does not exist"),
        (["data", "prepare", str(notes), str(tmp_path / "out")], "notes.txt: neither a folder nor a .zip archive"),
        (["data", "prepare", "gs://b/photos", str(tmp_path / "out")], "a bucket source must be a .zip archive"),
    ]
    script = (
        "import json, sys\nfrom click.testing import CliRunner\nfrom chromasweep.cli import cli\n"
        f"for args in {[m[0] for m in mistakes]!r}:\n"
        "    r = CliRunner().invoke(cli, args)\n"
        "    print(json.dumps([r.exit_code, r.output, 'tensorflow' in sys.modules]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    for (args, message), line in zip(mistakes, proc.stdout.splitlines(), strict=True):
        status, output, tensorflow = json.loads(line)
        assert status == 2 and message in output and not tensorflow, (args, status, output, tensorflow)


def test_reading_a_model_where_no_store_is_names_the_store_and_makes_none(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(photos / "a.png")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    proc = subprocess.run(
        [*CLI, "evaluate", "--model", "models:/colorizer@champion", "--data", str(photos)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1 and f"no MLflow store at {tmp_path / 'mlflow.db'}" in proc.stderr, proc.stderr[-2000:]
    assert "'chromasweep promote'" in proc.stderr and not (tmp_path / "mlflow.db").exists()


def test_tensorflow_start_up_lines_are_held_back_unless_verbose(tmp_path):
    """`data prepare` imports TensorFlow and runs its ops; on a machine without a GPU TensorFlow prints
    absl's notice, oneDNN and CUDA-stub lines and a failed cuInit 'error' that users take for a fault."""
    for split in ("train", "val"):
        folder = tmp_path / "photos" / split / "n00000001"
        folder.mkdir(parents=True)
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 48, 3), np.uint8)).save(folder / "a.png")
    chatter = ("I0000 ", "E0000 ", "W0000 ", "absl::InitializeLog")
    quiet = run("data", "prepare", tmp_path / "photos", tmp_path / "quiet")
    assert not [line for line in quiet.stderr.splitlines() if line.startswith(chatter) or chatter[3] in line], (
        quiet.stderr
    )
    loud = run("--verbose", "data", "prepare", tmp_path / "photos", tmp_path / "loud")
    assert any(chatter[3] in line for line in loud.stderr.splitlines()), loud.stderr
