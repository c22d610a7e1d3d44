"""The ``chromasweep`` command: a thin face over colorize_core, sweeps and tracking."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

# TensorFlow's C++ start-up chatter buries our own messages; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _fail(err: Exception) -> click.ClickException:
    return click.ClickException(str(err))


def _parse_sets(values: tuple[str, ...]) -> dict[str, object]:
    import yaml

    overrides = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE, for example loss.adversarial_weight=0.2")
        overrides[key.strip()] = yaml.safe_load(raw)
    return overrides


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Train a ChromaGAN colorizer and sweep its hyperparameters on Ray, tracked in MLflow."""


@cli.group()
def data() -> None:
    """Build and prepare datasets."""


@data.command("sample")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
def data_sample(out: Path) -> None:
    """Write the bundled sample dataset (real photos from installed packages) in ILSVRC layout to OUT."""
    from colorize_core.sample_data import build_sample_dataset

    build_sample_dataset(out)
    click.echo(f"sample dataset written to {out}")


@data.command("prepare")
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out")
@click.option("--val-fraction", default=0.1, show_default=True, help="Held out when SRC has no val split.")
@click.option("--seed", default=0, show_default=True)
@click.option("--workers", default=8, show_default=True, help="Threads decoding images.")
def data_prepare(src: Path, out: str, val_fraction: float, seed: int, workers: int) -> None:
    """Check every image under SRC and write train/val TFRecord shards to OUT (a folder or gs:// URI)."""
    from colorize_core.shards import prepare
    from colorize_core.sources import DatasetError

    try:
        meta = prepare(src, out, val_fraction, seed, workers)
    except DatasetError as err:
        raise _fail(err) from None
    skipped = f", skipped {len(meta.skipped)}" if meta.skipped else ""
    click.echo(
        f"{meta.layout} layout, {meta.num_classes} classes: {meta.counts.get('train', 0)} train, "
        f"{meta.counts.get('val', 0)} val images{skipped} -> {out}"
    )


@cli.command()
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Training config YAML; default: the built-in demo config.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a config field by dotted path, e.g. --set optim.generator_lr=1e-4.")
@click.option("--out-dir", help="Where runs are written (config out_dir).")
@click.option("--workers", default=1, show_default=True, help="Ray Train workers (one process each).")
@click.option("--cpus-per-worker", default=1.0, show_default=True)
@click.option("--gpus-per-worker", default=0.0, show_default=True)
@click.option("--address", help="Address of a running Ray cluster; default: start a local Ray.")
@click.option("--storage", help="Checkpoint storage: a folder or bucket URI (gs://...); default: --out-dir. "
              "Multi-node runs need storage every node can reach.")
@click.option("--max-failures", default=3, show_default=True, help="Worker-group restarts from the last checkpoint.")
@click.option("--restart", is_flag=True, help="Discard this run's checkpoints and start over.")
@click.option("--in-process", is_flag=True, help="Train in this process without Ray (debugging, notebooks).")
def train(
    config_file: Path | None, sets: tuple[str, ...], out_dir: str | None, workers: int, cpus_per_worker: float,
    gpus_per_worker: float, address: str | None, storage: str | None, max_failures: int, restart: bool,
    in_process: bool,
) -> None:
    """Train a colorizer through Ray Train: progress, checkpoints, and a final model.

    \b
    Single machine (starts a local Ray):
      chromasweep train --config my.yaml
    On a cluster, 4 GPU workers, checkpoints in a bucket:
      chromasweep train --config my.yaml --address auto --workers 4 \\
          --gpus-per-worker 1 --cpus-per-worker 8 --storage gs://my-bucket/runs
    Re-running with the same run name (config `name`) and storage resumes from its latest checkpoint.
    """
    from colorize_core.config import ConfigError, demo_config, load_config
    from colorize_core.sources import DatasetError

    overrides = _parse_sets(sets)
    if out_dir:
        overrides["out_dir"] = out_dir
    try:
        config = load_config(config_file, overrides) if config_file else demo_config().with_overrides(overrides)
        if in_process:
            from colorize_core.trainer import train_locally

            result, model_dir = train_locally(config, resume=not restart)
            status, step, model = result.status, result.step, model_dir
            message = result.message
        else:
            from sweeps.ray_train import RayOptions, launch

            options = RayOptions(
                workers=workers, cpus_per_worker=cpus_per_worker, gpus_per_worker=gpus_per_worker,
                address=address, storage=storage, max_failures=max_failures,
            )  # fmt: skip
            launched = launch(config, options, restart=restart)
            status, step, model = launched.status, launched.metrics.get("step"), launched.model_path
            message = launched.metrics.get("message", "")
            click.echo(f"Ray Train run took {launched.seconds:.1f} s")
    except (ConfigError, DatasetError, FileNotFoundError) as err:
        raise _fail(err) from None
    if status == "diverged":
        click.echo(f"training diverged: {message}", err=True)
        sys.exit(3)
    click.echo(f"finished at step {step}; model written to {model}")


@cli.command()
@click.argument("spec_file", type=click.Path(path_type=Path))
@click.option("--address", help="Address of a running Ray cluster; default: start a local Ray.")
@click.option("--storage", default="runs/sweeps", show_default=True,
              help="Where the sweep and its trials' checkpoints live: a folder or bucket URI.")
@click.option("--resume", is_flag=True, help="Continue an interrupted sweep (also automatic when it exists).")
def sweep(spec_file: Path, address: str | None, storage: str, resume: bool) -> None:
    """Run the sweep SPEC_FILE: Ray Tune + Optuna (+ ASHA), one Ray Train run per trial.

    \b
    chromasweep sweep sweeps/specs/demo.yaml
    chromasweep sweep sweeps/specs/imagenet-gcp.yaml --address auto --storage gs://my-bucket/sweeps
    """
    from sweeps.spec import SpecError, load_spec
    from sweeps.tune_sweep import SweepResourcesError, run_sweep

    try:
        spec, base = load_spec(spec_file)  # refused here, before any cluster time is spent
    except SpecError as err:
        raise _fail(err) from None
    try:
        outcome = run_sweep(spec, base, storage, address=address, resume=resume)
    except SweepResourcesError as err:
        raise click.ClickException(f"{spec_file}: {err}") from None
    metric = spec.objectives[0]
    click.echo(f"\nsweep {spec.name}: {len(outcome.rows)} trials in {outcome.seconds:.0f} s, "
               f"sorted by {metric.name} ({metric.goal})")
    keys = list(spec.searched)
    header = ["trial", "status", "epochs", metric.name, *keys]
    table = [header] + [
        [row.trial_id, row.status, str(row.epochs), "-" if row.metric is None else f"{row.metric:.4f}",
         *(f"{row.params.get(k):.4g}" if isinstance(row.params.get(k), float) else str(row.params.get(k)) for k in keys)]
        for row in outcome.rows
    ]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths)))
    if outcome.best is None:
        click.echo("no trial finished", err=True)
        sys.exit(1)
    click.echo(f"best trial: {outcome.best.trial_id} ({metric.name} {outcome.best.metric:.4f}); "
               f"model: {outcome.best.model_path or 'not exported (stopped early)'}")


@cli.command()
@click.option("--model", "model_path", required=True, help="Model folder written by train (or its generator.keras).")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
def predict(model_path: str, images: tuple[Path, ...], out_dir: Path) -> None:
    """Colorize IMAGES (gray or colour, any size) at their full resolution into --out as PNG."""
    from colorize_core.inference import Colorizer, colorize_files

    try:
        colorizer = Colorizer.load(model_path)
    except (FileNotFoundError, ValueError, OSError) as err:
        raise _fail(err) from None
    written, failed = colorize_files(colorizer, list(images), out_dir)
    for path in written:
        click.echo(f"wrote {path}")
    for path, reason in failed.items():
        click.echo(f"skipped {path}: unreadable image ({reason})", err=True)
    if not written:
        raise click.ClickException("no image could be colorized")


if __name__ == "__main__":
    cli()
