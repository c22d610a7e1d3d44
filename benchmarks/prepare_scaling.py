"""How ``chromasweep data prepare --address`` scales with the worker processes of a Ray cluster.

A synthetic set of ImageNet-sized JPEGs is made reproducibly from a folder of photos (the shared
ImageNet sample: pass its path): each image a random crop (60-100% of each side) of one photo, flipped
half the time, resized so that its longer side is 500 px (ImageNet's median photo is 500x375) and
re-encoded at a random JPEG quality of 75-95, in class folders (one per source photo). It is kept in
``~/.cache/chromasweep/bench-prepare/`` (never in the repository) and reused by later runs.

Then, interleaved over the repeats: the one-process prepare (``data prepare SRC OUT``, a thread pool)
and the cluster-wide prepare on ``cluster/local-up.sh N 1`` (N one-CPU worker nodes, so N tasks at a
time) for each N. A cluster is started before and stopped after each timed prepare, outside its
time; the time is the command's wall time, catalog and meta.json included. Every run's shards are
compared byte for byte with the first one-process run's. From the one-worker rate and the measured
efficiency, on paper: the time to prepare ImageNet's 1.28 M training images on the cluster of
``cluster/gcp-gpu.yaml`` at its largest.

    .venv/bin/python -m benchmarks.prepare_scaling --photos ../shared/data/imagenet-sample/images

Nothing that starts Ray may run beside it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.provenance import code_state

ROOT = Path(__file__).resolve().parents[1]
IMAGENET_TRAIN = 1_281_167
PORT = 6470  # a cluster of its own, beside any other local Ray


def synthetic_set(photos: Path, count: int, seed: int = 0) -> Path:
    """``count`` ImageNet-sized JPEGs made from ``photos``, in class folders; cached."""
    from PIL import Image

    out = Path.home() / ".cache" / "chromasweep" / "bench-prepare" / f"{photos.name}-{count}-seed{seed}"
    if (out / ".complete").is_file():
        return out
    sources = sorted(p for p in photos.iterdir() if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
    if not sources:
        sys.exit(f"{photos}: no photos (.JPEG, .jpg, .png) to make the synthetic set from")
    rng = random.Random(seed)
    for i in range(count):
        photo = sources[i % len(sources)]
        with Image.open(photo) as img:
            img.load()
            w, h = img.size
            cw, ch = round(w * rng.uniform(0.6, 1.0)), round(h * rng.uniform(0.6, 1.0))
            x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
            crop = img.crop((x, y, x + cw, y + ch))
            scale = 500 / max(cw, ch)
            crop = crop.resize((max(1, round(cw * scale)), max(1, round(ch * scale))), Image.BICUBIC)
            if rng.random() < 0.5:
                crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
            folder = out / photo.stem.split("_")[0]
            folder.mkdir(parents=True, exist_ok=True)
            crop.save(folder / f"{i:06d}.JPEG", quality=rng.randint(75, 95))
    (out / ".complete").write_text(f"{count} images from {photos}, seed {seed}\n")
    return out


def _shards(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.tfrecord"))}


def _cluster(nodes: int, up: bool) -> dict:
    env = {**os.environ, "RAY_PORT": str(PORT), "RAY_DASHBOARD_PORT": str(PORT + 1)}
    for name in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_API_SERVER_ADDRESS"):
        env.pop(name, None)
    if not up:
        subprocess.run([ROOT / "cluster/local-down.sh"], env=env, capture_output=True, check=False)
        return env
    done = subprocess.run(
        [ROOT / "cluster/local-up.sh", str(nodes), "1"], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        sys.exit(f"cluster/local-up.sh {nodes} 1 failed: {done.stderr[-2000:]}")
    for line in done.stdout.splitlines():  # the variables a user would eval
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value
    return env


def timed_prepare(src: Path, out: Path, per_shard: int, nodes: int | None) -> float:
    """Seconds of one ``data prepare`` into the fresh folder ``out``: in one process (``nodes`` None)
    or on a local cluster of ``nodes`` one-CPU worker nodes."""
    cmd = [sys.executable, "-m", "chromasweep.cli", "data", "prepare", str(src), str(out)]
    cmd += ["--images-per-shard", str(per_shard), "--val-fraction", "0"]
    env = dict(os.environ)
    if nodes:
        env = _cluster(nodes, up=True)
        cmd += ["--address", env["RAY_ADDRESS"]]
    try:
        start = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
    finally:
        if nodes:
            _cluster(nodes, up=False)
    if done.returncode:
        sys.exit(f"{shlex.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return seconds


def _describe(samples: list[float]) -> str:
    return f"{statistics.median(samples):7.1f} [{min(samples):.1f}-{max(samples):.1f}] n={len(samples)}"


def _largest_gcp_cluster() -> tuple[int, str]:
    """CPUs the cluster of cluster/gcp-gpu.yaml offers Ray tasks at its largest, and how."""
    config = yaml.safe_load((ROOT / "cluster/gcp-gpu.yaml").read_text())
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    cpus, parts = int(head["resources"].get("CPU", 0)), [f"head {head['resources'].get('CPU', 0)}"]
    for name, node in types.items():
        if name != config["head_node_type"]:
            count = node.get("max_workers", config["max_workers"])
            cpus += count * int(node["resources"].get("CPU", 0))
            parts.append(f"{count} x {name} {node['resources'].get('CPU', 0)}")
    return cpus, " + ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, required=True, help="a folder of photos, e.g. the shared sample's")
    parser.add_argument("--images", type=int, default=4000, help="synthetic images to prepare")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4], help="worker nodes (1 CPU each)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--per-shard", type=int, default=250, help="images a shard (tasks: images / this)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    state = code_state()
    print(f"commit {state['commit']}{' (dirty)' if state.get('dirty') else ''}; {os.cpu_count()} cores", flush=True)
    src = synthetic_set(args.photos.resolve(), args.images)
    print(f"synthetic set: {src} ({args.images} images)", flush=True)
    arms = [None, *args.workers]
    seconds: dict[str, list[float]] = {}
    reference, identical = None, {}
    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as tmp:
        for r in range(args.repeats):
            for nodes in arms if r % 2 == 0 else arms[::-1]:  # interleaved, order reversed every repeat
                label = "one process (threads)" if nodes is None else f"{nodes} worker process(es)"
                out = Path(tmp) / f"out-{r}-{nodes}"
                seconds.setdefault(label, []).append(timed_prepare(src, out, args.per_shard, nodes))
                shards = _shards(out)
                reference = reference or shards
                identical[label] = identical.get(label, True) and shards == reference
                print(f"  repeat {r + 1}: {label}: {seconds[label][-1]:.1f} s", flush=True)
                subprocess.run(["rm", "-rf", str(out)], check=False)
    rates = {label: [args.images / s for s in samples] for label, samples in seconds.items()}
    one = statistics.median(rates["1 worker process(es)"]) if 1 in args.workers else None
    print(f"\n{'prepare':28s} {'images/s: median [min-max]':34s} speed-up  efficiency  shards as one process's")
    for label, samples in rates.items():
        nodes = int(label.split()[0]) if label[0].isdigit() else None
        speed = statistics.median(samples) / one if one else float("nan")
        eff = f"{speed / nodes:9.2f}" if nodes else " " * 9
        same = "identical" if identical[label] else "DIFFER"
        print(f"{label:28s} {_describe(samples):34s} {speed:7.2f}x  {eff}   {same}")
    cpus, how = _largest_gcp_cluster()
    if one:
        best = max(args.workers)
        eff = statistics.median(rates[f"{best} worker process(es)"]) / one / best
        hours = IMAGENET_TRAIN / (cpus * one) / 3600
        print(
            f"\non paper, cluster/gcp-gpu.yaml at its largest ({how} = {cpus} CPUs for tasks): "
            f"{IMAGENET_TRAIN:,} images at {one:.1f} img/s per process = {hours:.2f} h if every CPU ran at "
            f"this machine's one-process rate; {hours / max(eff, 1e-9):.2f} h at the {eff:.2f} efficiency "
            f"measured here with {best} processes on {os.cpu_count()} cores"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {"code": state, "images": args.images, "seconds": seconds, "identical": identical, "cpus": cpus},
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
