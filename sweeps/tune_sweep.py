"""Running a sweep spec: Ray Tune over a function trainable that trains one config per trial.

    spec --plan--> Optuna space + sampler (sweeps/plan.py) in an OptunaSearch + ASHA
         --Tuner.fit--> run_trial(params) --> 1 worker:  in_trial.train_in_trial (in the trial's process)
                                          --> N workers: TensorflowTrainer(train_loop_per_worker).fit()
                                           <-- each epoch's metrics, by tune.report or TuneReportCallback

Both run ``worker_loop.run_worker``. Interrupted sweeps resume with ``Tuner.restore``: finished
trials stay finished, unfinished ones restart, and their run (named after the trial) resumes from
its own latest checkpoint under ``<storage>/<sweep>/trials/<trial>``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import ray
from ray import tune
from ray.tune.integration.ray_train import TuneReportCallback

from colorize_core.config import TrainConfig
from colorize_core.data.buckets import ray_storage
from colorize_core.errors import ChromasweepError
from colorize_core.locations import is_uri
from colorize_core.networks.weights import WEIGHT_KEYS, check_searched, check_sources
from colorize_core.report import EpochReport
from colorize_core.status import LOST_WHY, RunStatus, TrainingDiverged
from costs.meter import COST_METRIC
from costs.prices import Rate, usd
from runner.checkpoint_store import CheckpointStore
from runner.ray_train import TRAIN_ENV, absolute_paths, build_trainer, check_address, connect
from runner.worker_loop import read_result
from sweeps.naming import trial_name
from sweeps.outcome import error_status
from sweeps.plan import changed_keys, raised_cap, record, search_space
from sweeps.search import SPEC_RECORD, earlier_trials, scheduler, search_algorithm
from sweeps.spec import SweepSpec, trial_rate
from sweeps.sweep_lock import sweep_lock

if TYPE_CHECKING:
    from sweeps.console import SweepConsole
    from tracking.trial_run import TrackingContext

# A trial of several workers only waits on its Ray Train run: it books a sliver of a CPU, so that
# a 2-core machine can still run a trial beside its one-CPU training workers...
TRIAL_DRIVER_CPUS = 0.1
# ...or, where the cluster offers this resource, a share of it instead: nodes that are never
# preempted offer it (the head in cluster/gcp-gpu.yaml), so a Spot worker's preemption costs a trial
# its worker group, which Ray Train restarts, never its driver. 100 trials' drivers per unit.
TRIAL_DRIVER_RESOURCE = "chromasweep_trial_driver"
TRIAL_DRIVER_SHARE = 0.01
KEEP_CHECKPOINTS = 2


class EpochReportCallback(TuneReportCallback):
    """Forward epoch results to Tune, but not a divergence marker: it has no objective to rank,
    and the trial's failure (TrainingDiverged) is how Tune and Optuna learn of it."""

    def after_report(self, run_context, metrics, checkpoint):
        if metrics and EpochReport.read(metrics[0]).diverged:
            return
        super().after_report(run_context, metrics, checkpoint)


class SweepResourcesError(ChromasweepError, ValueError):
    pass


class SpecChangedError(ChromasweepError, ValueError):
    pass


def trial_config(spec: SweepSpec, shared: TrainConfig, params: dict, name: str, storage: str) -> TrainConfig:
    """The trial's training config: ``shared`` (the base with the spec's constants), then the
    sampled values."""
    return shared.with_overrides(
        {**params, "epochs": spec.chromasweep.budget.epochs_per_trial, "name": name, "out_dir": storage}
    )


def runs_in_trial(spec: SweepSpec) -> bool:
    """A one-worker trial trains in its Tune trial's own process; wider ones fit a Ray Train run."""
    return spec.chromasweep.resources.workers == 1 and spec.chromasweep.resources.train_in_trial


def trial_resources(spec: SweepSpec, cluster: dict) -> dict:
    """What a trial's own actor books, given the cluster's total resources."""
    r = spec.chromasweep.resources
    if runs_in_trial(spec):
        return {"cpu": r.cpus_per_worker, "gpu": r.gpus_per_worker}
    if cluster.get(TRIAL_DRIVER_RESOURCE):
        return {"cpu": 0, TRIAL_DRIVER_RESOURCE: TRIAL_DRIVER_SHARE}
    return {"cpu": TRIAL_DRIVER_CPUS}


def run_trial(
    params: dict,
    spec: SweepSpec,
    shared: TrainConfig,
    storage: str,
    usd_per_hour: float,
    tracking: TrackingContext | None = None,
) -> None:
    """One trial: the trial's config trained in this process (one worker) or by a Ray Train run
    (several), reporting each epoch to Tune; ``usd_per_hour``: its price, from the driver's table."""
    name = trial_name(tune.get_context().get_trial_id())
    config = trial_config(spec, shared, params, name, storage)
    r = spec.chromasweep.resources
    if runs_in_trial(spec):
        from runner.in_trial import train_in_trial

        result = train_in_trial(
            config,
            storage,
            tracking,
            keep_checkpoints=KEEP_CHECKPOINTS,
            side_by_side=spec.chromasweep.budget.max_concurrent,
            usd_per_hour=usd_per_hour,
        )
    else:
        trainer = build_trainer(
            config,
            r.workers,
            r.cpus_per_worker,
            r.gpus_per_worker,
            storage,
            max_failures=r.max_failures,
            startup_retries=5,
            keep_checkpoints=KEEP_CHECKPOINTS,
            callbacks=[EpochReportCallback()],
            tracking=tracking,
            usd_per_hour=usd_per_hour,
        )
        store = CheckpointStore.for_run(storage, name, keep=KEEP_CHECKPOINTS)
        store.check_layout()
        fitted = trainer.fit()
        result = read_result(store, 0.0, str(fitted.error) if fitted.error else None)
    if result.status is RunStatus.DIVERGED:
        raise TrainingDiverged(EpochReport.read(result.metrics).message or "non-finite loss")
    if result.status is RunStatus.ERROR:  # the trial's Ray Train run failed past its restarts
        raise RuntimeError(f"{name}: {result.error}")


def check_resources(spec: SweepSpec) -> dict:
    """Refuse, before the first trial, a trial that this cluster can never place; returns what the
    trial's own actor books (``trial_resources``)."""
    total = ray.cluster_resources()
    r = spec.chromasweep.resources
    own = trial_resources(spec, total)
    if runs_in_trial(spec):
        need_cpu, cpu_parts = own["cpu"], f"1 worker x {r.cpus_per_worker:g}, trained in the trial itself"
    else:
        need_cpu = r.workers * r.cpus_per_worker + own["cpu"]
        driver = f"the trial's own {own['cpu']:g}" if own["cpu"] else f"its driver on a {TRIAL_DRIVER_RESOURCE} node"
        cpu_parts = f"{r.workers} workers x {r.cpus_per_worker:g} + {driver}"
    need_gpu = r.workers * r.gpus_per_worker
    problems = []
    if need_cpu > total.get("CPU", 0):
        problems.append(f"{need_cpu:g} CPUs ({cpu_parts}) but the cluster has {total.get('CPU', 0):g}")
    if need_gpu > total.get("GPU", 0):
        problems.append(
            f"{need_gpu:g} GPUs ({r.workers} workers x {r.gpus_per_worker:g}) "
            f"but the cluster has {total.get('GPU', 0):g}"
        )
    # A single worker must also fit on one node.
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    if not any(n.get("CPU", 0) >= r.cpus_per_worker and n.get("GPU", 0) >= r.gpus_per_worker for n in nodes):
        problems.append(f"no node has {r.cpus_per_worker:g} CPUs and {r.gpus_per_worker:g} GPUs for one worker")
    if problems:
        raise SweepResourcesError("resources: each trial needs " + "; ".join(problems))
    return own


@dataclass
class TrialRow:
    trial_id: str
    status: RunStatus
    params: dict
    metric: float | None
    epochs: int
    model_path: str | None
    cost_usd: float | None = None  # an estimate (costs/prices.py); None: the trial never reported one

    @property
    def name(self) -> str:
        return trial_name(self.trial_id)


@dataclass
class SweepOutcome:
    rows: list[TrialRow]
    best: TrialRow | None
    experiment_path: str
    seconds: float
    rate: Rate
    incomplete: list[str] = field(default_factory=list)  # runs MLflow could not be brought up to date on

    @property
    def cost_usd(self) -> float:
        return sum(row.cost_usd or 0.0 for row in self.rows)


def trial_status(result, epochs_per_trial: int) -> RunStatus:
    """A Tune result's status. Tune fills ``metrics`` with its own bookkeeping (trial id, config) even
    for a trial an interrupted sweep never started, so only a reported epoch means it ran."""
    epochs = EpochReport.read(result.metrics).completed_epochs
    if result.error is not None:
        return error_status(result.error)
    if epochs >= epochs_per_trial:
        return RunStatus.FINISHED
    return RunStatus.STOPPED_EARLY if epochs > 0 else RunStatus.NOT_RUN


def _rows(results, spec: SweepSpec, storage: str) -> list[TrialRow]:
    metric = spec.objectives[0]
    rows = []
    for r in results:
        m, report = r.metrics or {}, EpochReport.read(r.metrics)
        status = trial_status(r, spec.chromasweep.budget.epochs_per_trial)
        value = m.get(metric.name) if status is not RunStatus.DIVERGED else None
        trial_id = _trial_id(r)
        model = CheckpointStore.for_run(storage, trial_name(trial_id), keep=KEEP_CHECKPOINTS).model_location()
        rows.append(
            TrialRow(trial_id, status, dict(r.config or {}), value, report.completed_epochs, model, report.cost_usd)
        )
    # Best first; trials without a finite metric (diverged, errored, not run) last.
    sign = -1 if metric.mode == "max" else 1
    scored = [r for r in rows if r.metric is not None and math.isfinite(r.metric)]
    return sorted(scored, key=lambda r: sign * r.metric) + [r for r in rows if r not in scored]


def check_unchanged(spec: SweepSpec, kept: dict | None, where: str) -> bool:
    """A resumed sweep runs the spec it started with: refuse an edited one, naming what changed, except
    a raised run_cap, which extends the sweep (True)."""
    if kept is None:
        raise SpecChangedError(
            f"{where}: missing, so the spec this sweep started with is unknown; "
            "give the edited sweep another name (or move its folder away)"
        )
    changed = changed_keys(spec, kept)
    if raised_cap(spec, kept):
        return True
    if changed:
        detail = ", ".join(f"{k} ({kept.get(k)!r} -> {record(spec).get(k)!r})" for k in changed[:8])
        raise SpecChangedError(
            f"sweep {spec.name} exists with another spec ({where}); changed: {detail}. "
            "A resumed sweep keeps its spec (only a raised run_cap extends it): give the edited "
            f"sweep another name, with 'chromasweep: {{warm_start_from: {spec.name}}}' to start "
            "from what this one learned"
        )
    return False


def _shared_config(spec: SweepSpec, base: TrainConfig) -> TrainConfig:
    """What every trial shares, the spec's constants (data.source among them) included, with its
    paths made absolute here on the driver and its data checked before any trial."""
    from colorize_core.data.datasets import resolve_dataset

    shared = absolute_paths(base.with_overrides(spec.constants))
    resolve_dataset(shared.data, shared.seed)
    check_sources(shared.model.encoder_weights, shared.loss.teacher_weights)
    for key in WEIGHT_KEYS.keys() & spec.searched.keys():
        check_searched(key, spec.searched[key].choices)
    return shared


def _open_parent(
    spec: SweepSpec, tracking_uri: str, experiment: str, restoring: bool, spec_yaml: str, shared: TrainConfig, say
):
    from tracking.sweep_run import SweepRun

    parent = SweepRun(tracking_uri, spec.name, experiment, resume=restoring)
    parent.log_start(spec.model_dump(mode="json", exclude_none=True), spec_yaml, shared.data.source or "sample dataset")
    say(
        f"MLflow: {'continuing' if parent.resumed else 'sweep'} run {parent.run_id} "
        f"at {tracking_uri} ({parent.url_path})"
    )
    return parent


def _restore_path(experiment: str) -> dict:
    """Tune's ``path`` and ``storage_filesystem`` for a sweep's folder (``Tuner.restore``'s names)."""
    found = ray_storage(experiment)
    return {"path": found.pop("storage_path"), **found}


def _tuner(
    spec: SweepSpec,
    trainable,
    storage: str,
    experiment: str,
    restoring: bool,
    callbacks: list,
    say,
    evaluated: list[tuple[dict, float]],
) -> tune.Tuner:
    if restoring:
        say(f"resuming sweep {spec.name} from {experiment}")
        return tune.Tuner.restore(
            **_restore_path(experiment), trainable=trainable, resume_unfinished=True, restart_errored=False
        )
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=search_algorithm(spec, evaluated),
            scheduler=scheduler(spec),
            num_samples=spec.trial_cap if spec.trial_cap is not None else -1,
            time_budget_s=spec.chromasweep.budget.time_budget,
            # In-trial training keeps TensorFlow imported in the actor from trial to trial.
            reuse_actors=runs_in_trial(spec),
        ),
        run_config=tune.RunConfig(
            name=spec.name,
            **ray_storage(storage),
            callbacks=callbacks,
            # A crashed trial restarts from its latest checkpoint: Tune restarts in-trial ones, Ray
            # Train the worker group of wider ones (build_trainer), so Tune must not restart those too.
            failure_config=tune.FailureConfig(
                max_failures=spec.chromasweep.resources.max_failures if runs_in_trial(spec) else 0
            ),
        ),
    )


def run_sweep(
    spec: SweepSpec,
    base: TrainConfig,
    storage: str,
    address: str | None = None,
    resume: bool = False,
    tracking_uri: str | None = None,
    spec_yaml: str = "",
    console: SweepConsole | None = None,
) -> SweepOutcome:
    """Run (or continue) the sweep; with ``tracking_uri`` (already checked by ``tracking.store.connect``)
    it is a parent MLflow run with a child per trial; with ``console``, a live table stands in for
    everything Ray, Tune and the trials print, which goes to the sweep's log."""
    check_address(address)  # before the live table: a cluster that is not there is one line
    storage = storage if is_uri(storage) else str(Path(storage).resolve())
    shared = _shared_config(spec, base)
    experiment = f"{storage}/{spec.name}"
    with sweep_lock(experiment):
        return _run_held(spec, shared, storage, experiment, address, resume, tracking_uri, spec_yaml, console)


def _run_held(
    spec: SweepSpec,
    shared: TrainConfig,
    storage: str,
    experiment: str,
    address: str | None,
    resume: bool,
    tracking_uri: str | None,
    spec_yaml: str,
    console: SweepConsole | None,
) -> SweepOutcome:
    """``run_sweep``'s work, while this driver holds the sweep."""
    trials_storage = f"{experiment}/trials"
    restoring = (resume or is_uri(experiment) or Path(experiment).is_dir()) and tune.Tuner.can_restore(
        **_restore_path(experiment)
    )
    folder = CheckpointStore(experiment, keep=1)
    kept = folder.read_json(SPEC_RECORD) if restoring else None
    extended = restoring and check_unchanged(spec, kept, folder.location(SPEC_RECORD))
    os.environ.update({k: v for k, v in TRAIN_ENV.items() if k not in os.environ})
    say = console.note if console else partial(print, flush=True)
    with console.attached(experiment) if console else nullcontext():
        connect(address)
        own_resources = check_resources(spec)
        evaluated = [] if restoring else earlier_trials(spec, tracking_uri, say)
        if extended:
            say(f"run_cap {kept['run_cap']} -> {spec.run_cap}: sweep {spec.name} goes on to {spec.trial_cap} trials")
        if extended or not restoring:  # before Tune's restore, which reads the trial count from it
            folder.write_text(SPEC_RECORD, json.dumps(record(spec), indent=1))
        parent = (
            _open_parent(spec, tracking_uri, experiment, restoring, spec_yaml, shared, say) if tracking_uri else None
        )
        if parent and extended:
            parent.log_extension(spec.run_cap, spec_yaml)
        context = (
            parent.context(spec.chromasweep.tracking.sample_every, spec.chromasweep.tracking.sample_images)
            if parent
            else None
        )
        rate = trial_rate(spec)
        say(f"cost: {usd(rate.usd_per_hour)}/h a trial, an estimate ({rate.basis})")
        trainable = tune.with_resources(
            tune.with_parameters(
                run_trial,
                spec=spec,
                shared=shared,
                storage=trials_storage,
                usd_per_hour=rate.usd_per_hour,
                tracking=context,
            ),
            own_resources,
        )
        started = time.perf_counter()
        callbacks = [console.callback()] if console else []
        try:
            results = _tuner(spec, trainable, storage, experiment, restoring, callbacks, say, evaluated).fit()
        except BaseException as err:
            if parent:
                with contextlib.suppress(Exception):  # an unreachable server must not hide the error itself
                    parent.fail(err)
            raise
        rows = _rows(results, spec, trials_storage)
        best = next((r for r in rows if r.status.ranked and r.metric is not None), None)
        lost = _set_aside_lost(trials_storage, rows, say)
        incomplete = _deliver_outcome(parent, spec, rows, results, best, trials_storage, lost, rate) if parent else []
    return SweepOutcome(rows, best, experiment, time.perf_counter() - started, rate, incomplete)


def _set_aside_lost(trials_storage: str, rows: list[TrialRow], say) -> list[CheckpointStore]:
    """The folders of trials Tune does not know: started by a sweep killed before Tune saved its
    state, whose configuration the resumed sweep drew afresh under another name. One that saved no
    checkpoint is deleted (its MLflow run, which logged no epoch, is deleted too); one that did is
    kept, marked lost, and returned, so that its record still reaches MLflow."""
    from runner.run_record import write_status

    known = {trial_name(row.trial_id) for row in rows}
    kept = []
    for name in CheckpointStore(trials_storage, keep=1).subfolders():
        store = CheckpointStore.for_run(trials_storage, name, keep=KEEP_CHECKPOINTS)
        if name in known:
            continue
        if store.complete():
            write_status(store, RunStatus.LOST)
            kept.append(store)
            say(f"{name}: {RunStatus.LOST} ({LOST_WHY}); its folder is kept, marked lost")
        else:
            store.delete()
            say(f"{name}: {RunStatus.LOST} before its first checkpoint ({LOST_WHY}); its folder is removed")
    return kept


def _deliver_outcome(
    parent,
    spec: SweepSpec,
    rows: list[TrialRow],
    results,
    best: TrialRow | None,
    trials_storage: str,
    lost: list[CheckpointStore],
    rate: Rate,
) -> list[str]:
    """Each trial's final status into its store, then whatever MLflow has not heard (each trial's
    record, the lost trials' too, the sweep's outcome); returns the runs MLflow could not be brought
    up to date on."""
    from runner.run_record import reachable, sync_run, write_status

    incomplete = []
    for row in rows:
        store = CheckpointStore.for_run(trials_storage, trial_name(row.trial_id), keep=KEEP_CHECKPOINTS)
        if row.status is not RunStatus.NOT_RUN:
            write_status(store, row.status)
        if sync_run(store) is False:  # None: never tracked (not run)
            incomplete.append(trial_name(row.trial_id))
    incomplete += [store.uri.rsplit("/", 1)[-1] for store in lost if sync_run(store) is False]
    if not reachable(parent.uri):
        return [*incomplete, f"sweep run {parent.run_id}"]
    try:
        _log_outcome(parent, spec, rows, results, best, rate)
    except Exception as err:  # noqa: BLE001  the sweep's result stands; its MLflow record waits for sync
        print(f"[mlflow] the sweep's own run could not be closed: {type(err).__name__}: {str(err)[:200]}", flush=True)
        incomplete.append(f"sweep run {parent.run_id}")
    return incomplete


def _log_outcome(parent, spec: SweepSpec, rows: list[TrialRow], results, best: TrialRow | None, rate: Rate) -> None:
    histories = {_trial_id(r): _history(r) for r in results}
    trials = [
        {
            "name": row.name,
            "status": row.status,
            "params": row.params,
            "metric": row.metric,
            "epochs": row.epochs,
            "history": histories.get(row.trial_id, []),
            COST_METRIC: row.cost_usd,
        }
        for row in rows
    ]
    first = spec.objectives[0]
    parent.log_outcome(
        trials,
        first.name,
        first.mode,
        search_space(spec),
        next((t for t in trials if best and t["name"] == best.name), None),
        rate.explained,
    )


def _trial_id(result) -> str:
    return str((result.metrics or {}).get("trial_id") or Path(result.path).name)


def _history(result) -> list[dict]:
    frame = result.metrics_dataframe
    return [] if frame is None else frame.to_dict("records")
