"""The ``chromasweep`` command: a thin face over colorize_core, sweeps and tracking."""

from __future__ import annotations

import functools
import json
import os
import sys
import tempfile
from contextlib import nullcontext
from pathlib import Path

import click
from click.core import ParameterSource

from colorize_core.errors import ChromasweepError
from colorize_core.metric_registry import HELD_OUT_SCORES
from colorize_core.model_files import MODEL_FILE


# Exit status: 2 when the command line itself is wrong (an unknown flag, a bad value, a path it names
# that is not there, options that do not go together), before any TensorFlow import; 1 when the work
# fails or refuses what a file, dataset or store holds.
def _fail(err: Exception) -> click.ClickException:
    return click.ClickException(str(err))


# Inputs that must already exist: checked by click, before the command imports anything heavy.
EXISTING_PATH = click.Path(exists=True, path_type=Path)
EXISTING_FOLDER = click.Path(exists=True, file_okay=False, path_type=Path)


class DataSource(click.ParamType):
    """Photos to prepare: a folder or a .zip archive that exists, or a .zip in a bucket."""

    name = "SRC"

    def convert(self, value, param, ctx) -> str:
        from colorize_core.data.sources import is_archive
        from colorize_core.locations import is_uri

        path = Path(value)
        if (is_uri(value) and is_archive(value)) or path.is_dir() or (path.is_file() and is_archive(value)):
            return str(value)
        if is_uri(value):
            self.fail(f"{value}: a bucket source must be a .zip archive (or copy the folder to this machine)")
        if path.exists():
            self.fail(f"{value}: neither a folder nor a .zip archive")
        self.fail(f"{value}: does not exist")


class ModelLocation(click.ParamType):
    """A model folder (or its file) that exists, a bucket URI, or an MLflow model URI."""

    name = "MODEL"

    def convert(self, value, param, ctx) -> str:
        from colorize_core.locations import is_uri
        from tracking.models import is_mlflow_uri

        if is_mlflow_uri(value) or is_uri(value) or Path(value).exists():
            return str(value)
        self.fail(
            f"{value}: no such folder or file; expected a model folder written by train (holding "
            f"{MODEL_FILE}) or an MLflow URI such as models:/colorizer@champion",
            param,
            ctx,
        )


MODEL = ModelLocation()


def _parse_sets(values: tuple[str, ...]) -> dict[str, object]:
    import yaml

    overrides = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE, for example loss.adversarial_weight=0.2")
        overrides[key.strip()] = yaml.safe_load(raw)
    return overrides


class _Commands(click.Group):
    """The root group: any ChromasweepError a command did not handle becomes one line and exit status 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ChromasweepError as err:
            raise click.ClickException(str(err)) from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--verbose",
    "-v",
    "verbose",
    is_flag=True,
    help="Show TensorFlow's start-up and C++ log lines (held back by default).",
)
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Train a ChromaGAN colorizer and sweep its hyperparameters on Ray, tracked in MLflow."""
    ctx.obj = {"verbose": verbose}
    # TensorFlow's C++ log lines bury our own messages. Without an NVIDIA device its one error line is
    # the expected failed cuInit, which users take for a fault: level 3 there, 2 (errors shown) elsewhere.
    # Set here, when a command runs, not when this module is imported; a level the user set stays.
    quiet = "2" if Path("/dev/nvidiactl").exists() else "3"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0" if verbose else os.environ.get("TF_CPP_MIN_LOG_LEVEL", quiet)


def import_tensorflow() -> None:
    """Import TensorFlow with the lines it prints on start-up (absl's notice, oneDNN, CUDA stubs) held
    back, unless --verbose; they are shown if the import fails. Called once click has checked the
    arguments, so that a usage mistake never waits for it."""
    ctx = click.get_current_context(silent=True)
    if "tensorflow" in sys.modules or (ctx and (ctx.find_root().obj or {}).get("verbose")):
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def uses_tensorflow(command):
    @functools.wraps(command)
    def quietly(*args, **kwargs):
        import_tensorflow()
        return command(*args, **kwargs)

    return quietly


def tracking_option(command):
    return click.option(
        "--tracking-uri",
        envvar="MLFLOW_TRACKING_URI",
        show_envvar=True,
        help="MLflow tracking store or server; default: sqlite:///mlflow.db here (artifacts in mlartifacts/).",
    )(command)


def _connect(tracking_uri: str | None, *, create: bool = True) -> str:
    """``create=False`` where the command reads what a sweep wrote: no empty store is made here."""
    from tracking.store import connect

    try:
        return connect(tracking_uri, create=create)
    except ChromasweepError as err:
        raise _fail(err) from None


@cli.group()
def data() -> None:
    """Build and prepare datasets."""


@data.command("sample")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
def data_sample(out: Path) -> None:
    """Write the bundled sample dataset (real photos from installed packages) in ILSVRC layout to OUT."""
    from colorize_core.data.bundled_sample import build_sample_dataset

    build_sample_dataset(out)
    click.echo(f"sample dataset written to {out}")


@data.command("imagenet-sample")
@click.argument("src", type=EXISTING_FOLDER)
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", default=0, show_default=True, help="Seeds the shuffle that splits the photos.")
def data_imagenet_sample(src: Path, out: Path, seed: int) -> None:
    """Link SRC's photos (<wnid>_<name>.JPEG, such as ../shared/data/imagenet-sample/images) into OUT as
    Kaggle's ILSVRC layout: a seeded split of 200 held out (OUT/heldout, for evaluate), 80 val and the
    rest train. Then: chromasweep data prepare OUT PREPARED."""
    from colorize_core.data.imagenet_sample import build_imagenet_sample

    try:
        split = build_imagenet_sample(src, out, seed)
    except ChromasweepError as err:
        raise _fail(err) from None
    for name, reason in sorted(split.held_out_skipped.items()):
        click.echo(f"held out, skipped {name}: {reason}", err=True)
    click.echo(
        f"{len(split.train)} train, {len(split.val)} val, {len(split.held_out)} held out "
        f"({len(split.held_out_skipped)} gray or unusable skipped) -> {out}"
    )


@data.command("prepare")
@click.argument("src", type=DataSource())
@click.argument("out")
@click.option("--val-fraction", default=0.1, show_default=True, help="Held out when SRC has no val split.")
@click.option("--seed", default=0, show_default=True)
@click.option("--workers", default=8, show_default=True, help="Threads decoding images (in this process).")
@click.option("--images-per-shard", default=1024, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--address",
    default=None,
    help="A Ray cluster (HOST:PORT, or auto): one task a shard across its nodes, which must all reach SRC and OUT.",
)
@uses_tensorflow
def data_prepare(
    src: str, out: str, val_fraction: float, seed: int, workers: int, images_per_shard: int, address: str | None
) -> None:
    """Check every image under SRC (a folder, or a .zip read member by member, local or in a bucket)
    and write train/val TFRecord shards to OUT (a folder or gs:// URI). Run again after a kill, it
    keeps the shards it had finished."""
    try:
        if address:
            from dataprep.on_ray import prepare_on_ray

            meta = prepare_on_ray(src, out, address, val_fraction, seed, images_per_shard)
        else:
            from colorize_core.data.shards import prepare

            meta = prepare(src, out, val_fraction, seed, workers, images_per_shard=images_per_shard)
    except ChromasweepError as err:
        raise _fail(err) from None
    skipped = f", skipped {len(meta.skipped)}" if meta.skipped else ""
    click.echo(
        f"{meta.layout} layout, {meta.num_classes} classes: {meta.counts.get('train', 0)} train, "
        f"{meta.counts.get('val', 0)} val images{skipped} -> {out}"
    )


@cli.command()
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Training config YAML; default: the built-in demo config.",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config field by dotted path, e.g. --set optim.generator_lr=1e-4.",
)
@click.option("--out-dir", help="Where runs are written (config out_dir).")
@click.option("--workers", default=1, show_default=True, help="Ray Train workers (one process each).")
@click.option("--cpus-per-worker", default=1.0, show_default=True)
@click.option("--gpus-per-worker", default=0.0, show_default=True)
@click.option("--address", help="Address of a running Ray cluster; default: start a local Ray.")
@click.option(
    "--storage",
    help="Checkpoint storage: a folder or bucket URI (gs://...); default: --out-dir. "
    "Multi-node runs need storage every node can reach.",
)
@click.option("--max-failures", default=3, show_default=True, help="Worker-group restarts from the last checkpoint.")
@click.option("--restart", is_flag=True, help="Discard this run's folder (checkpoints, metrics, model) and start over.")
@click.option(
    "--in-process",
    is_flag=True,
    help="Train in this process without Ray (debugging, notebooks; not "
    "tracked); the same run folder, so either mode continues the other's run.",
)
@click.option("--experiment", default="train", show_default=True, help="MLflow experiment of the run.")
@tracking_option
@uses_tensorflow
def train(
    config_file: Path | None,
    sets: tuple[str, ...],
    out_dir: str | None,
    workers: int,
    cpus_per_worker: float,
    gpus_per_worker: float,
    address: str | None,
    storage: str | None,
    max_failures: int,
    restart: bool,
    in_process: bool,
    experiment: str,
    tracking_uri: str | None,
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
    from colorize_core.config import demo_config, load_config
    from colorize_core.status import RunStatus

    overrides = _parse_sets(sets)
    if out_dir:
        overrides["out_dir"] = out_dir
    from runner.ray_train import RayOptions

    try:
        config = load_config(config_file, overrides) if config_file else demo_config().with_overrides(overrides)
        options = RayOptions(
            workers=workers,
            cpus_per_worker=cpus_per_worker,
            gpus_per_worker=gpus_per_worker,
            address=address,
            storage=storage,
            max_failures=max_failures,
        )
        if in_process:
            from runner.in_process import train_in_process

            result = train_in_process(config, options.storage_path(config), restart=restart)
        else:
            from runner.ray_train import launch
            from tracking.trial_run import train_context

            tracking = train_context(_connect(tracking_uri), experiment, config.name, restart)
            result = launch(config, options, restart=restart, tracking=tracking)
            click.echo(f"Ray Train run took {result.seconds:.1f} s")
    except (ChromasweepError, FileNotFoundError) as err:
        raise _fail(err) from None
    if result.status is RunStatus.DIVERGED:
        click.echo(f"training diverged: {result.metrics.get('message', '')}", err=True)
        sys.exit(3)
    if result.status is RunStatus.ERROR:
        raise click.ClickException(f"training failed: {result.error}")
    click.echo(f"finished at step {result.metrics.get('step')}; model written to {result.model_path}")


@cli.command()
@click.argument("spec_file", type=click.Path(path_type=Path))
@click.option("--address", help="Address of a running Ray cluster; default: start a local Ray.")
@click.option(
    "--storage",
    default="runs/sweeps",
    show_default=True,
    help="Where the sweep and its trials' checkpoints live: a folder or bucket URI.",
)
@click.option("--resume", is_flag=True, help="Continue an interrupted sweep (also automatic when it exists).")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check the spec, print its compiled plan and sampled trials; starts neither Ray nor MLflow.",
)
@click.option(
    "--samples",
    default=5,
    show_default=True,
    type=click.IntRange(min=0),
    help="With --dry-run: how many trial configurations to draw (one JSON object per line).",
)
@click.option(
    "--verbose",
    is_flag=True,
    help="Show Ray's, Tune's and the trials' own output instead of the live table (which keeps it in "
    "STORAGE/SWEEP/console.log).",
)
@tracking_option
def sweep(
    spec_file: Path,
    address: str | None,
    storage: str,
    resume: bool,
    dry_run: bool,
    samples: int,
    verbose: bool,
    tracking_uri: str | None,
) -> None:
    """Run the sweep SPEC_FILE: Ray Tune + Optuna (+ ASHA); a one-worker trial trains in its Tune
    trial's own process, a wider one as a Ray Train run.

    \b
    chromasweep sweep sweeps/specs/demo.yaml
    chromasweep sweep sweeps/specs/imagenet-gcp.yaml --address auto --storage gs://my-bucket/sweeps

    chromasweep sweep sweeps/specs/demo.yaml --dry-run --samples 8

    The spec is W&B's sweep configuration (README, "Sweeps"). Tracked in MLflow: a parent run for the
    sweep (experiment = the sweep's name), a child per trial.
    """
    from costs.prices import usd
    from sweeps.spec import load_spec

    samples_given = click.get_current_context().get_parameter_source("samples") is not ParameterSource.DEFAULT
    if samples_given and not dry_run:
        raise click.UsageError("--samples goes with --dry-run (it draws trials to print); a sweep draws its own")
    try:
        spec, base = load_spec(spec_file)  # refused here, before any cluster time is spent
    except ChromasweepError as err:
        raise _fail(err) from None
    if dry_run:
        from sweeps.plan import describe, draw, quiet_optuna

        quiet_optuna()
        click.echo("\n".join(describe(spec)))
        for trial in draw(spec, samples):
            click.echo(json.dumps(trial))
        return
    from sweeps.console import SweepConsole
    from sweeps.tune_sweep import run_sweep

    console = None if verbose else SweepConsole(spec)
    try:
        with console.captured() if console else nullcontext():
            uri = _connect(tracking_uri)  # an unreachable server too, before Ray starts
            outcome = run_sweep(
                spec,
                base,
                storage,
                address=address,
                resume=resume,
                tracking_uri=uri,
                spec_yaml=spec_file.read_text(),
                console=console,
            )
    except ChromasweepError as err:
        raise click.ClickException(f"{spec_file}: {err}") from None
    metric = spec.objectives[0]
    click.echo(
        f"\nsweep {spec.name}: {len(outcome.rows)} trials in {outcome.seconds:.0f} s, "
        f"sorted by {metric.name} ({metric.goal})"
    )
    keys = list(spec.searched)
    header = ["trial", "status", "epochs", metric.name, "cost", *keys]
    table = [header] + [
        [
            row.trial_id,
            row.status,
            str(row.epochs),
            "-" if row.metric is None else f"{row.metric:.4f}",
            "-" if row.cost_usd is None else usd(row.cost_usd),
            *(
                f"{row.params.get(k):.4g}" if isinstance(row.params.get(k), float) else str(row.params.get(k))
                for k in keys
            ),
        ]
        for row in outcome.rows
    ]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths)))
    click.echo(f"cost: {usd(outcome.cost_usd)} in all, {outcome.rate.explained}")
    limit, cap = spec.chromasweep.budget.max_cost_usd, spec.trial_cap
    if limit and cap is not None and len(outcome.rows) < cap:
        click.echo(
            f"max_cost_usd {limit:g}: {len(outcome.rows)} of {cap} trials drawn before the budget stopped the sweep"
        )
    if outcome.incomplete:
        click.echo(
            f"tracking unreachable: {len(outcome.incomplete)} run(s) incomplete in MLflow "
            f"({', '.join(outcome.incomplete)}); nothing is lost, their records wait in "
            f"{outcome.experiment_path}: run 'chromasweep sync {outcome.experiment_path}' once the server is back"
        )
    if outcome.best is None:
        click.echo("no trial finished", err=True)
        sys.exit(1)
    click.echo(
        f"best trial: {outcome.best.trial_id} ({metric.name} {outcome.best.metric:.4f}); "
        f"model: {outcome.best.model_path or 'none (stopped early: only finished trials export one)'}"
    )
    if not outcome.best.model_path:
        # promote takes the best trial that has a model: say which, so the two lines do not disagree.
        exported = next((r for r in outcome.rows if r.model_path and r.metric is not None), None)
        if exported:
            click.echo(
                f"best trial with a model (what promote --metric {metric.name.removeprefix('val_')} takes): "
                f"{exported.trial_id} "
                f"({metric.name} {exported.metric:.4f}); model: {exported.model_path}"
            )


@cli.command()
@click.argument("path", metavar="STORAGE/SWEEP|STORAGE/RUN")
@click.option(
    "--tracking-uri",
    default=None,
    help="Deliver to this MLflow store instead of the one each run was tracked at (a moved server).",
)
def sync(path: str, tracking_uri: str | None) -> None:
    """Deliver to MLflow what a sweep's runs could not log while tracking was unreachable: each epoch
    once, in order, sample grids, models and final statuses, from the sweep's storage.

    chromasweep sync runs/sweeps/demo-sweep
    """
    from colorize_core.locations import is_uri
    from runner.run_folder import ADDRESS_FILE
    from runner.run_record import sync_sweep

    if not is_uri(path) and not ((Path(path) / "trials").is_dir() or (Path(path) / ADDRESS_FILE).is_file()):
        raise click.ClickException(
            f"{path}: neither a sweep's folder (STORAGE/SWEEP, with trials/) nor a tracked "
            f"run's (STORAGE/NAME, with {ADDRESS_FILE})"
        )
    complete, pending = sync_sweep(path if is_uri(path) else str(Path(path).resolve()), tracking_uri)
    click.echo(f"{complete} run(s) complete in MLflow" + (f"; still pending: {', '.join(pending)}" if pending else ""))
    if pending:
        sys.exit(1)


@cli.command("sweeps")
@tracking_option
def list_sweeps_command(tracking_uri: str | None) -> None:
    """List the sweeps in the tracking store: state, trials finished / stopped early / failed out of
    the cap, the best metric and its trial, when each started and where its state lives."""
    from costs.prices import usd
    from tracking.sweep_list import list_sweeps

    summaries = list_sweeps(_connect(tracking_uri, create=False))
    if not summaries:
        click.echo("no sweeps in this tracking store")
        return
    header = ["sweep", "state", "finished/stopped/failed of cap", "best", "best trial", "cost", "started", "storage"]
    rows = [header] + [
        [
            s.name,
            s.state.lower(),
            f"{s.finished}/{s.stopped}/{s.failed} of {s.cap}",
            "-" if s.best is None else f"{s.objective} {s.best:.4f}",
            s.best_trial or "-",
            "-" if s.cost_usd is None else usd(s.cost_usd),
            s.started.strftime("%Y-%m-%d %H:%M"),
            s.storage,
        ]
        for s in summaries
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for r in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())


@cli.command()
@click.option(
    "--model",
    "model_path",
    required=True,
    type=MODEL,
    help=f"Model folder written by train (or its {MODEL_FILE}), or an MLflow model URI "
    "such as models:/colorizer@champion.",
)
@click.argument("images", nargs=-1, required=True, type=EXISTING_PATH)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@tracking_option
@uses_tensorflow
def predict(model_path: str, images: tuple[Path, ...], out_dir: Path, tracking_uri: str | None) -> None:
    """Colorize IMAGES (files, or folders of them; gray or colour, any size up to 50 MP) at their full
    resolution into --out as PNG, upright as viewers show them. Exit status 1 if any could not be."""
    from colorize_core.inference import Colorizer, colorize_files
    from tracking.models import is_mlflow_uri, load_generator

    try:
        if is_mlflow_uri(model_path):
            colorizer = Colorizer(load_generator(model_path, tracking_uri))
        else:
            colorizer = Colorizer.load(model_path)
    except (ChromasweepError, ValueError, OSError) as err:
        raise _fail(err) from None
    # A folder gives every file directly in it but hidden ones: a non-image is reported, not passed over.
    paths = [
        f
        for p in images
        for f in (sorted(c for c in p.iterdir() if c.is_file() and not c.name.startswith(".")) if p.is_dir() else [p])
    ]
    written, failed = colorize_files(colorizer, paths, out_dir)
    for path in written:
        click.echo(f"wrote {path}")
    for path, reason in failed.items():
        click.echo(f"skipped {path}: {reason}", err=True)
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(paths)} images could not be colorized (listed above)")


@cli.command()
@click.option(
    "--model",
    "model_path",
    type=MODEL,
    help="Model folder written by train, or an MLflow model URI such as models:/colorizer@champion.",
)
@click.option(
    "--sweep",
    "sweep_name",
    metavar="SWEEP",
    help="Instead of --model: every finished trial's model of SWEEP (a name or a sweep run id), "
    "compared in one table, each trial's figures logged to its MLflow run.",
)
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=EXISTING_FOLDER,
    help="Folder of colour photos (searched recursively): the truth.",
)
@click.option(
    "--size",
    "protocol",
    default="224",
    show_default=True,
    type=click.Choice(["224", "256", "full"]),
    help="224: whole photo resized to 224x224 (ChromaGAN); 256: to 256x256 (DDColor); full: as it is.",
)
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), help="Also write the table as CSV.")
@tracking_option
@uses_tensorflow
def evaluate(
    model_path: str | None,
    sweep_name: str | None,
    data_dir: Path,
    protocol: str,
    out_file: Path | None,
    tracking_uri: str | None,
) -> None:
    """PSNR, SSIM and colourfulness of a model on whole photos, per photo and averaged, beside the gray
    and constant-mean-colour baselines, then each mean's 95% bootstrap interval over photos and the
    model's paired differences to both baselines. A model from MLflow gets them logged to its run."""
    import csv
    import io

    from colorize_core.evaluation.photos import (
        Protocol,
        evaluate_photos,
        intervals,
        photo_paths,
        table,
    )
    from colorize_core.inference import Colorizer
    from tracking.models import (
        is_mlflow_uri,
        load_generator,
        log_evaluation,
        model_ref,
    )

    if (model_path is None) == (sweep_name is None):
        raise click.UsageError("give one of --model (one model) or --sweep (every trial's model of a sweep)")
    if sweep_name is not None:
        return _evaluate_sweep(sweep_name, data_dir, Protocol(protocol), out_file, tracking_uri)
    try:
        paths = photo_paths(data_dir)
        if is_mlflow_uri(model_path):
            uri = _connect(tracking_uri, create=False)
            colorizer = Colorizer(load_generator(model_path, uri))
        else:
            colorizer = Colorizer.load(model_path)
        result = evaluate_photos(colorizer, paths, Protocol(protocol))
    except (ChromasweepError, ValueError, OSError) as err:
        raise _fail(err) from None
    rows = table(result)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    click.echo(
        f"{model_path} on {len(result.photos)} photos of {data_dir}, protocol {protocol} "
        f"(constant baseline: mean ab {result.mean_ab[0]:.1f}, {result.mean_ab[1]:.1f})"
    )
    for r in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths)))
    spread = intervals(result)
    click.echo()
    for line in spread.lines():
        click.echo(line)
    for path, reason in result.skipped.items():
        click.echo(f"skipped {path}: {reason}", err=True)
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    if out_file:
        out_file.write_text(text.getvalue())
        # Beside the table, not in it: readers of the table's CSV expect one row per photo and the mean.
        with out_file.with_name(f"{out_file.stem}-intervals.csv").open("w", newline="") as f:
            csv.writer(f).writerows(spread.rows())
    if is_mlflow_uri(model_path):
        run_id = model_ref(model_path, uri).run_id
        if run_id:
            log_evaluation(run_id, uri, protocol, str(data_dir.resolve()), text.getvalue(), result.mean, spread)
            click.echo(f"logged to MLflow run {run_id} as eval_{protocol}_*")


def _evaluate_sweep(sweep_name: str, data_dir: Path, protocol, out_file: Path | None, tracking_uri: str | None) -> None:
    import csv
    import io

    from mlflow import MlflowClient

    from colorize_core.evaluation.photos import comparison, evaluate_images, intervals, photo_paths, read_photos, table
    from colorize_core.inference import Colorizer
    from tracking.models import load_generator, log_evaluation, model_ref
    from tracking.promote import trial_models

    uri = _connect(tracking_uri, create=False)
    try:
        models = trial_models(MlflowClient(uri), sweep_name)
        images, skipped = read_photos(photo_paths(data_dir))
    except ChromasweepError as err:
        raise _fail(err) from None
    for path, reason in skipped.items():
        click.echo(f"skipped {path}: {reason}", err=True)
    named = []
    for name, model_uri in models:
        try:
            result = evaluate_images(Colorizer(load_generator(model_uri, uri)), images, protocol, skipped)
        except (ChromasweepError, ValueError, OSError) as err:
            raise _fail(err) from None
        spread = intervals(result)
        text = io.StringIO()
        csv.writer(text).writerows(table(result))
        run_id = model_ref(model_uri, uri).run_id
        if run_id:
            log_evaluation(run_id, uri, protocol, str(data_dir.resolve()), text.getvalue(), result.mean, spread)
        named.append((name, spread))
        click.echo(f"{name}: scored ({model_uri}), logged to MLflow run {run_id} as eval_{protocol}_*", err=True)
    rows = comparison(named)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    click.echo(
        f"sweep {sweep_name}: {len(named)} trials on {len(images)} photos of {data_dir}, protocol {protocol}; "
        "mean [95% bootstrap CI over photos]; differences paired, photo by photo"
    )
    for r in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    if out_file:
        with out_file.open("w", newline="") as f:
            csv.writer(f).writerows(rows)


def _goal(ctx, param, value: str | None) -> float | None:
    from tracking.promote import parse_goal

    try:
        return None if value is None else parse_goal(value)
    except ChromasweepError as err:
        raise click.BadParameter(str(err), ctx, param) from None


@cli.command()
@click.argument("sweep_name", metavar="SWEEP")
@click.option(
    "--metric",
    default="auc_rebalanced",
    show_default=True,
    type=click.Choice(sorted(HELD_OUT_SCORES)),
    help="Held-out score that picks the trial and decides against the champion.",
)
@click.option("--model-name", default="colorizer", show_default=True, help="Registered model to add a version to.")
@click.option("--alias", default="champion", show_default=True)
@click.option(
    "--require-turing",
    "require_turing",
    metavar="GOAL",
    default=None,
    callback=_goal,
    help="Move the alias only if the trial's reported Turing study has its whole 95% interval at or "
    "above GOAL (10%, 0.10, or base/target/stretch); the version is registered either way.",
)
@tracking_option
@uses_tensorflow
def promote(
    sweep_name: str, metric: str, model_name: str, alias: str, require_turing: float | None, tracking_uri: str | None
) -> None:
    """Register SWEEP's best finished trial; move @champion to it only if it beats the current one.

    SWEEP is a sweep's name (its latest run) or a sweep run's id. Both models are scored on the
    held-out split; the decision and its reason are printed and stored as tags on the new version.
    With --require-turing, people decide too: the trial's model needs a reported Turing study
    (chromasweep turing create/report) whose interval lies wholly at or above the goal.
    """
    from tracking.promote import promote as promote_best

    try:
        result = promote_best(sweep_name, metric, model_name, tracking_uri, alias, require_turing=require_turing)
    except (ChromasweepError, FileNotFoundError) as err:
        raise _fail(err) from None
    s = result.candidate_scores
    click.echo(
        f"{result.trial}: held-out PSNR {s['psnr']:.2f} dB (gray {s['gray_psnr']:.2f}), "
        f"SSIM {s['ssim']:.3f}, colorfulness gap {s['colorfulness_gap']:.1f} on {int(s['images'])} images"
    )
    click.echo(f"registered {result.model_name} version {result.version}")
    verdict = f"{alias} -> version {result.version}" if result.promoted else "not promoted"
    click.echo(f"{verdict}: {result.reason}")
    from tracking.turing_results import latest_study

    champion = result.version if result.promoted else result.champion_version
    study = latest_study(_connect(tracking_uri), model_name, champion)
    click.echo(
        f"{alias} version {champion}, Turing test: "
        + (study or "no study reported yet ('chromasweep turing create' makes one)")
    )


@cli.group()
def turing() -> None:
    """The colorization Turing test: people pick which of two photos a computer coloured."""


@turing.command("create")
@click.argument("study", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--model",
    "models",
    multiple=True,
    required=True,
    type=MODEL,
    help="A model folder written by train, or an MLflow model URI such as models:/colorizer@champion; "
    "repeat for more models (each participant tests one).",
)
@click.option(
    "--images",
    "images",
    required=True,
    type=EXISTING_FOLDER,
    help="Folder of held-out colour photos (searched recursively): the real photos.",
)
@click.option("--display-ms", type=int, help="How long a pair is shown [1000].")
@click.option("--practice", "practice_trials", type=int, help="Practice trials, with feedback [10].")
@click.option("--tests", "test_trials", type=int, help="Test trials per participant [40].")
@click.option("--attention-checks", type=int, help="Grayscale-fake pairs among the tests [4].")
@click.option("--max-attention-failures", type=int, help="More failed checks exclude a participant [1].")
@click.option("--control/--no-control", "control_arm", default=None, help="Add a real-versus-real arm [no].")
@click.option("--image-size", type=int, help="Side of each square image in px [256].")
@click.option(
    "--require-token/--no-token", "require_token", default=None, help="Participants need the study's link token [no]."
)
@click.option("--seed", type=int, help="Which photos practise and which test [0].")
@tracking_option
def turing_create(study: Path, models: tuple[str, ...], images: Path, tracking_uri: str | None, **given) -> None:
    """Colorize held-out photos with each model and write the study folder STUDY."""
    from pydantic import ValidationError

    from colorize_core.errors import describe_invalid
    from turing.settings import StudySettings

    options = {"practice_trials": "--practice", "test_trials": "--tests", "control_arm": "--control"}
    try:
        settings = StudySettings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as err:

        def option(error: dict) -> str:  # the flag the user typed, not the settings field
            field = str(error["loc"][0]) if error["loc"] else ""
            return options.get(field, "--" + field.replace("_", "-")) if field else ""

        raise click.UsageError(describe_invalid(err, place=option)) from None
    import_tensorflow()
    from colorize_core.evaluation.photos import photo_paths
    from colorize_core.inference import Colorizer
    from tracking.models import is_mlflow_uri, load_generator
    from turing.create import Arm, create_study, usable_photos

    try:
        paths = photo_paths(images)
        usable_photos(study, paths, settings)  # before any model loads: a full folder or too few photos
        arms = []
        for model in models:
            if is_mlflow_uri(model):
                from tracking.turing_results import resolve

                uri = _connect(tracking_uri, create=False)
                ref = resolve(model, uri)
                colorizer = Colorizer(load_generator(model, uri))
                arms.append(Arm(model, colorizer.colorize, ref.run_id, ref.registered_model, ref.registered_version))
            else:
                arms.append(Arm(model, Colorizer.load(model).colorize))
        skipped = create_study(study, arms, paths, settings, log=lambda line: click.echo(line, err=True))
    except (ChromasweepError, FileNotFoundError) as err:
        raise _fail(err) from None
    for path, why in skipped.items():
        click.echo(f"left out {path}: {why}", err=True)
    from turing.store import connect, read_meta

    with connect(study) as db:
        token = read_meta(db, "token")
    link = f"/?token={token}" if settings.require_token else "/"
    click.echo(
        f"study {study}: {len(arms)} model(s); serve it with 'chromasweep turing serve {study}', "
        f"participants open {link}"
    )


@turing.command("serve")
@click.argument("study", type=EXISTING_FOLDER)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; loopback by default.")
@click.option("--port", default=8000, show_default=True)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    help="Host name participants use (checked on every request); required to bind beyond loopback.",
)
def turing_serve(study: Path, host: str, port: int, allowed_hosts: tuple[str, ...]) -> None:
    """Serve the study STUDY to participants (Ctrl-C stops it; answers are already on disk)."""
    import uvicorn

    from turing.app import LOOPBACK_HOSTS, make_app
    from turing.store import connect, read_meta

    if host not in LOOPBACK_HOSTS and not allowed_hosts:
        raise click.UsageError(
            f"--host {host} reaches beyond this machine: name the host names participants "
            "will use with --allowed-host (the server refuses any other Host header)"
        )
    try:
        app = make_app(study, list(allowed_hosts) or LOOPBACK_HOSTS)
        with connect(study) as db:
            admin = read_meta(db, "admin_token")
    except ChromasweepError as err:
        raise _fail(err) from None
    click.echo(f"study {study} on http://{host}:{port}/ ; report at /admin/{admin}/report", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


@turing.command("report")
@click.argument("study", type=EXISTING_FOLDER)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@tracking_option
def turing_report(study: Path, as_json: bool, tracking_uri: str | None) -> None:
    """Fooling rate per model with its 95% interval, exclusions, per-image figures; models from MLflow
    get the figures logged to their run and registered version."""
    import dataclasses

    from turing.report import format_report, study_report
    from turing.store import connect

    try:
        with connect(study) as db:
            report = study_report(db)
    except ChromasweepError as err:
        raise _fail(err) from None
    if as_json:
        click.echo(
            json.dumps(
                {
                    **dataclasses.asdict(report),
                    "arms": [
                        {
                            **dataclasses.asdict(a),
                            "participants": a.participants,
                            "trials": a.trials,
                            "fooled": a.fooled,
                            "rate": a.rate,
                            "interval": a.interval,
                        }
                        for a in report.arms
                    ],
                },
                indent=1,
            )
        )
    else:
        click.echo(format_report(report))
    logged = [a for a in report.arms if a.run_id or a.registered_version]
    if logged:
        from tracking.models import ModelRef
        from tracking.turing_results import log_study_result

        uri = _connect(tracking_uri, create=False)
        for arm in logged:
            log_study_result(
                uri,
                report.study,
                ModelRef(arm.run_id, arm.registered_model, arm.registered_version),
                arm.metrics(),
                arm.summary(report.study),
            )
            click.echo(
                f"logged {arm.arm} to MLflow run {arm.run_id}"
                + (f", {arm.registered_model} version {arm.registered_version}" if arm.registered_version else ""),
                err=True,
            )


@turing.command("observe")
@click.argument("study", type=EXISTING_FOLDER)
@click.option(
    "--observer",
    "names",
    multiple=True,
    metavar="NAME",
    help="colourfulness-rule or colour-stats-classifier; repeat for both [both].",
)
@tracking_option
def turing_observe(study: Path, names: tuple[str, ...], tracking_uri: str | None) -> None:
    """Machine observers (programs, not people) answer every test pair of STUDY: fooling rate per
    observer and arm, kept in STUDY/machine-observers.json, never among the participants' answers;
    models from MLflow get turing_machine_* metrics on their run (never the human figures)."""
    from observers.results import NOTE, write_results
    from observers.study import OBSERVERS, observe

    unknown = sorted(set(names) - set(OBSERVERS))
    if unknown:
        raise click.BadParameter(f"{unknown}: known machine observers are {sorted(OBSERVERS)}", param_hint="--observer")
    try:
        name, results = observe(study, [OBSERVERS[n] for n in names] if names else tuple(OBSERVERS.values()))
    except ChromasweepError as err:
        raise _fail(err) from None
    click.echo(f"study {name}: {NOTE}")
    for result in results:
        click.echo(result.line())
    click.echo(f"machine observers' figures written to {write_results(study, name, results)}", err=True)
    runs: dict[str, dict[str, float]] = {}
    for result in results:
        if result.run_id:
            runs.setdefault(result.run_id, {}).update(result.metrics())
    if runs:
        from tracking.turing_results import log_machine_observers

        uri = _connect(tracking_uri, create=False)
        for run_id, metrics in runs.items():
            log_machine_observers(uri, name, run_id, metrics)
            click.echo(f"logged machine observers' figures to MLflow run {run_id} (turing_machine_* metrics)", err=True)


@cli.command()
@click.option("--port", default=5000, show_default=True)
@tracking_option
def ui(port: int, tracking_uri: str | None) -> None:
    """Start the MLflow UI (a real mlflow server) for the local store, on 127.0.0.1 only."""
    import signal
    import subprocess

    from tracking.server import server_command

    _connect(tracking_uri)  # creates the store if this is the first command run here
    try:
        command = server_command(tracking_uri, "127.0.0.1", port)
    except ChromasweepError as err:
        raise _fail(err) from None
    click.echo(f"MLflow UI: http://127.0.0.1:{port}  (store {command[3]}; Ctrl-C stops it)", err=True)
    click.echo(
        "  a sweep's runs and charts: switch the UI to 'Model training' once (top of the page; the "
        "browser keeps it), or open the link the sweep printed",
        err=True,
    )
    server = subprocess.Popen(command)
    # Stopped as a service is (SIGTERM, SIGHUP to this process alone), the server stops with it.
    for stop in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, lambda signum, _frame: server.send_signal(signum))
    try:
        sys.exit(server.wait())
    except KeyboardInterrupt:  # Ctrl-C reached the server too: wait for it to finish
        sys.exit(server.wait())


if __name__ == "__main__":
    cli()
