"""Benchmark 3's trainable: a Tune trial that trains in its own process, keeping every report.

It was the prototype of the product's in-trial training (``runner/in_trial.py``, which benchmark 4
now measures as shipped). It stays as the search benchmark's lean trainable: same spec compilation
(``sweeps.plan.search_space``, ``sweeps.search.searcher/scheduler``, ``sweeps.tune_sweep.trial_config``),
same metrics each epoch, no
checkpoints or MLflow, and timing fields in every report.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}


def inprocess_trial(params: dict, spec, base, storage: str) -> None:
    entered = time.time()
    import keras
    from ray import tune

    from colorize_core.training.trainer import prepare_trainer
    from sweeps.naming import trial_name
    from sweeps.tune_sweep import trial_config

    imported = time.time()
    name = trial_name(tune.get_context().get_trial_id())
    # The spec's constants first, as run_sweep does (applying them twice changes nothing).
    shared = base.with_overrides(spec.constants)
    config = trial_config(spec, shared, params, name, storage)
    keras.backend.clear_session()  # a reused actor: drop the previous trial's graphs
    trainer = prepare_trainer(config, progress=False)
    built = time.time()
    last, blocked = [built], [0.0]
    # The objective's per-image values, caught as validation scores them (no second pass): the
    # search benchmark's tolerance is their standard error.
    key, per_image, scorer = spec.objectives[0].name.removeprefix("val_"), [], trainer._scorer

    def scoring(L, ab):
        out = scorer(L, ab)
        if key in out:
            per_image.extend(float(x) for x in out[key].numpy().ravel())
        return out

    trainer._scorer = scoring

    def on_report(report) -> None:
        if not report.epoch_end:
            return
        now = time.time()
        train_s = trainer.steps_per_epoch * trainer.global_batch / max(report.metrics["images_per_second"], 1e-9)
        tune.report(
            {
                **report.metrics,
                "step": report.step,
                "epoch": report.epoch,
                "bench_entered": entered,
                "bench_imported": imported,
                "bench_built": built,
                "bench_epoch_wall_s": now - last[0],
                "bench_train_s": train_s,
                "bench_pid": os.getpid(),
                "bench_prev_report_blocked_s": blocked[0],
                "bench_time": now,
                "bench_val_values": json.dumps(per_image),
            }
        )
        per_image.clear()
        last[0] = time.time()
        blocked[0] = last[0] - now  # how long tune.report held the training thread

    trainer.fit(on_report)


@dataclass
class SweepRun:
    method: str
    seed: int
    wall_s: float  # Tuner.fit
    started_at: float = 0.0  # time.time() when Tuner.fit started (reports carry bench_time)
    trials: list[dict] = field(default_factory=list)  # per trial: params, reports (dicts), status
    error: str | None = None


def tune_config(spec, reuse_actors: bool = True):
    """The spec's search and scheduler, compiled for Tune by ``sweeps.search``, one trial after
    another as the spec says."""
    from ray import tune

    from sweeps.search import scheduler, searcher

    return tune.TuneConfig(
        search_alg=searcher(spec),
        scheduler=scheduler(spec),
        num_samples=spec.trial_cap,
        max_concurrent_trials=spec.chromasweep.budget.max_concurrent,
        reuse_actors=reuse_actors,
    )


def run_inprocess_sweep(spec, base, storage: str, trial_cpus: float = 1.0, reuse_actors: bool = True) -> SweepRun:
    """The spec's search and scheduler over in-process trials; every report of every trial kept.
    A trial that raised is this benchmark's own failure: it raises, with that trial's error."""
    import ray
    from ray import tune

    if not ray.is_initialized():
        ray.init(  # a new local Ray, never one that something else on this machine started
            address="local", runtime_env={"env_vars": ENV}, include_dashboard=False, log_to_driver=False
        )
    trainable = tune.with_resources(
        tune.with_parameters(
            inprocess_trial,
            spec=spec,
            base=base,
            storage=storage,
        ),
        {"cpu": trial_cpus},
    )
    tuner = tune.Tuner(
        trainable,
        tune_config=tune_config(spec, reuse_actors),
        run_config=tune.RunConfig(
            name=f"{spec.name}-{spec.method.value}-{spec.chromasweep.seed}",
            storage_path=str(Path(storage).resolve()),
            verbose=0,
        ),
    )
    started_at, started = time.time(), time.perf_counter()
    results = tuner.fit()
    out = SweepRun(spec.method.value, spec.chromasweep.seed, time.perf_counter() - started, started_at)
    for r in results:
        frame = r.metrics_dataframe
        reports = [] if frame is None else frame.to_dict("records")
        out.trials.append(
            {
                "params": dict(r.config or {}),
                "reports": reports,
                "error": str(r.error) if r.error else None,
            }
        )
    failed = [t["error"] for t in out.trials if t["error"]]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(out.trials)} trials failed; the first:\n{failed[0]}")
    return out
