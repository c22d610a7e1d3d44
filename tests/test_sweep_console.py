"""The sweep's live table, driven by the Tune events it listens to (no Ray cluster: Tune calls
these on the driver with its Trial objects; here they are stand-ins with the same attributes)."""

import io
from types import SimpleNamespace

from rich.console import Console

from sweeps import console as console_module
from sweeps.console import SweepConsole
from sweeps.spec import SweepSpec

SPEC = SweepSpec.model_validate({
    "name": "demo", "method": "bayes", "metric": {"name": "val_psnr"}, "run_cap": 3,
    "parameters": {"optim.generator_lr": {"values": [1.0e-4, 2.0e-4]}},
    "chromasweep": {"budget": {"epochs_per_trial": 2, "max_concurrent": 1}},
})  # fmt: skip


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
