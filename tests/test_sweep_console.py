"""The sweep's live table, driven by the Tune events it listens to (no Ray cluster: Tune calls
these on the driver with its Trial objects; here they are stand-ins with the same attributes)."""

import io
from types import SimpleNamespace

from rich.console import Console

from colorize_core.status import RunStatus
from sweeps import console as console_module
from sweeps.console import SweepConsole
from sweeps.spec import SweepSpec

SPEC = SweepSpec.model_validate(
    {
        "name": "demo",
        "method": "bayes",
        "metric": {"name": "val_psnr"},
        "run_cap": 3,
        "parameters": {"optim.generator_lr": {"values": [1.0e-4, 2.0e-4]}},
        "chromasweep": {"budget": {"epochs_per_trial": 2, "max_concurrent": 1}},
    }
)


def shown(view: SweepConsole) -> str:
    out = io.StringIO()
    Console(file=out, width=160).print(view.render())
    return out.getvalue()


def test_the_table_follows_the_trials_and_marks_the_best(monkeypatch):
    view = SweepConsole(SPEC)
    monkeypatch.setattr(console_module, "_active", view)
    listener = view.callback()
    a = SimpleNamespace(trial_id="aaaa0001", config={"optim.generator_lr": 1.0e-4})
    b = SimpleNamespace(trial_id="bbbb0002", config={"optim.generator_lr": 2.0e-4})

    listener.on_trial_start(0, [], a)
    listener.on_trial_result(0, [], a, {"epoch": 1, "val_psnr": 19.0, "time_this_iter_s": 24.0})
    table = shown(view)
    assert "demo: 1 of 3 trials started, val_psnr (maximize)" in table
    assert "aaaa0001 *" in table and "running" in table and "1/2" in table
    # Left at most: a's last epoch and two each for the two trials not started, 24 s an epoch, one at a time.
    assert view._eta() == 5 * 24.0 and "ETA at most 2 min" in table

    listener.on_trial_result(0, [], a, {"epoch": 2, "val_psnr": 19.5, "time_this_iter_s": 30.0})
    listener.on_trial_complete(0, [], a)
    listener.on_trial_start(0, [], b)
    listener.on_trial_result(0, [], b, {"epoch": 1, "val_psnr": 18.0, "time_this_iter_s": 30.0})
    listener.on_trial_complete(0, [], b)  # ended by the scheduler after its first epoch
    table = shown(view)
    assert "best so far: aaaa0001 (19.5000)" in table
    lines = {line.split()[1]: line for line in table.splitlines() if "aaaa0001" in line or "bbbb0002" in line}
    assert "finished" in lines["aaaa0001"] and "stopped early" in lines["bbbb0002"]


def test_a_listener_unpickled_without_its_sweep_changes_nothing():
    view = SweepConsole(SPEC)  # not attached: no sweep is running in this process
    view.callback().on_trial_start(0, [], SimpleNamespace(trial_id="x", config={}))
    assert view.trials == {}


def test_a_failed_trial_shows_whether_it_diverged_or_errored(monkeypatch, tmp_path):
    import cloudpickle
    from ray.exceptions import RayTaskError

    from colorize_core.status import TrainingDiverged

    view = SweepConsole(SPEC)
    monkeypatch.setattr(console_module, "_active", view)
    listener = view.callback()
    errors = {  # as Tune pickles them: the trial's exception inside Ray's wrapper
        "dddd0001": RayTaskError("run_trial", "tb", TrainingDiverged("non-finite loss")).as_instanceof_cause(),
        "eeee0002": RayTaskError("run_trial", "tb", ValueError("bad batch")).as_instanceof_cause(),
    }
    for trial_id, error in errors.items():
        (tmp_path / trial_id).write_bytes(cloudpickle.dumps(error))
        trial = SimpleNamespace(trial_id=trial_id, config={}, pickled_error_file=str(tmp_path / trial_id))
        listener.on_trial_start(0, [], trial)
        listener.on_trial_error(0, [], trial)
    listener.on_trial_error(0, [], SimpleNamespace(trial_id="ffff0003", config={}, pickled_error_file=None))
    listener.on_trial_start(0, [], SimpleNamespace(trial_id="aaaa0004", config={}))
    assert {t: line.status for t, line in view.trials.items()} == {
        "dddd0001": RunStatus.DIVERGED,
        "eeee0002": RunStatus.ERROR,
        "ffff0003": RunStatus.ERROR,
        "aaaa0004": RunStatus.RUNNING,
    }
    table = shown(view)
    assert "diverged" in table and "error" in table and "failed" not in table


def test_the_closing_table_tells_a_never_started_trial_from_one_stopped_early():
    from sweeps.tune_sweep import trial_status

    def result(**metrics):  # what Tune hands back: its bookkeeping in metrics even for an unstarted trial
        return SimpleNamespace(metrics={"trial_id": "a1b2c3d4", "config": {}, **metrics}, error=None)

    assert trial_status(result(), epochs_per_trial=3) is RunStatus.NOT_RUN
    assert trial_status(SimpleNamespace(metrics=None, error=None), epochs_per_trial=3) is RunStatus.NOT_RUN
    assert trial_status(result(epoch=1, val_psnr=23.0), epochs_per_trial=3) is RunStatus.STOPPED_EARLY
    assert trial_status(result(epoch=3, val_psnr=23.0), epochs_per_trial=3) is RunStatus.FINISHED
