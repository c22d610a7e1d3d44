"""Sweep specs as a W&B user writes them: each means what it means in W&B, or is refused, naming the
file, the key and what to write instead; `chromasweep sweep --dry-run` shows the plan. No Ray here."""

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from colorize_core.metric_registry import Goal
from sweeps.plan import changed_keys, describe, draw, raised_cap, record, search_space
from sweeps.spec import SpecError, load_spec

ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = ROOT / "colorize_core" / "configs" / "demo.yaml"

SPEC = f"""
name: spec-test
method: bayes
metric: {{name: val_psnr, goal: maximize}}
parameters:
  loss.adversarial_weight: {{distribution: log_uniform_values, min: 0.01, max: 0.5}}
  optim.generator_lr: {{values: [1.0e-4, 4.0e-4]}}
early_terminate: {{type: hyperband, min_iter: 1, eta: 2}}
run_cap: 4
chromasweep:
  base: {DEMO_CONFIG}
  budget: {{epochs_per_trial: 3}}
"""


def spec_file(tmp_path, text, name="my-sweep.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def refused(tmp_path, text) -> str:
    path = spec_file(tmp_path, text)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    message = str(err.value)
    assert message.startswith(f"{path}: "), message
    return message


def edit(*changes, text=SPEC):
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new)
    return text


# -- the rows of issue 13's table -----------------------------------------------------------


def test_an_omitted_goal_is_the_metrics_own_direction_and_a_goal_against_it_is_refused(tmp_path):
    spec, _ = load_spec(spec_file(tmp_path, edit(("{name: val_psnr, goal: maximize}", "{name: val_ab_mse}"))))
    assert spec.metric.goal is Goal.MINIMIZE and spec.metric.mode == "min"
    message = refused(tmp_path, edit(("{name: val_psnr, goal: maximize}", "{name: val_ab_mse, goal: maximize}")))
    assert "metric: goal maximize for val_ab_mse, which is better when it is lower; write goal: minimize" in message


def test_log_uniform_bounds_are_exponents_as_in_wandb(tmp_path):
    text = edit(
        ("{distribution: log_uniform_values, min: 0.01, max: 0.5}", "{distribution: log_uniform, min: 1, max: 3}")
    )
    spec, _ = load_spec(spec_file(tmp_path, text))
    d = search_space(spec)["loss.adversarial_weight"]
    assert (d.low, d.high, d.log) == (math.exp(1), math.exp(3), True)
    assert all(math.e <= t["loss.adversarial_weight"] <= math.e**3 for t in draw(spec, 4))

    text = edit(
        ("{distribution: log_uniform_values, min: 0.01, max: 0.5}", "{distribution: log_uniform, min: -9.2, max: -4.6}")
    )
    spec, _ = load_spec(spec_file(tmp_path, text))
    d = search_space(spec)["loss.adversarial_weight"]
    assert d.low == pytest.approx(1.0e-4, rel=0.02) and d.high == pytest.approx(1.0e-2, rel=0.01)

    message = refused(tmp_path, edit(("min: 0.01, max: 0.5", "min: -9.2, max: -4.6")))
    assert "parameters.loss.adversarial_weight: log_uniform_values needs positive bounds, got min -9.2" in message
    assert "for exponents of e, write distribution: log_uniform" in message


def test_a_value_for_a_field_the_budget_sets_is_refused(tmp_path):
    message = refused(tmp_path, edit(("parameters:\n", "parameters:\n  epochs: {value: 20}\n")))
    assert "parameters.epochs: the trial length is chromasweep.budget.epochs_per_trial, not a parameter" in message


def test_a_section_value_sets_only_the_fields_it_names(tmp_path):
    spec, base = load_spec(
        spec_file(tmp_path, edit(("parameters:\n", "parameters:\n  model: {value: {width: 0.25}}\n")))
    )
    assert spec.constants == {"model.width": 0.25}
    trial = base.with_overrides(spec.constants)
    assert trial.model.width == 0.25 and trial.model.image_size == base.model.image_size

    message = refused(tmp_path, edit(("parameters:\n", "parameters:\n  optim: {values: [{critic_lr: 1.0e-4}]}\n")))
    assert "optim: 'values' of whole sections are not merged field by field" in message


def test_a_grid_runs_each_configuration_once_and_says_how_run_cap_cuts_it(tmp_path):
    grid = edit(
        ("method: bayes", "method: grid"),
        ("{distribution: log_uniform_values, min: 0.01, max: 0.5}", "{values: [0.05, 0.1]}"),
    )
    spec, _ = load_spec(spec_file(tmp_path, grid.replace("run_cap: 4\n", "")))
    assert (spec.grid_size, spec.trial_cap) == (4, 4)
    trials = draw(spec, 10)
    assert len(trials) == 4 and len({json.dumps(t, sort_keys=True) for t in trials}) == 4

    spec, _ = load_spec(spec_file(tmp_path, grid.replace("run_cap: 4", "run_cap: 8")))
    assert spec.trial_cap == 4 and "grid of 4 configurations, run_cap 8: the grid ends after 4" in "\n".join(
        describe(spec)
    )
    spec, _ = load_spec(spec_file(tmp_path, grid.replace("run_cap: 4", "run_cap: 3")))
    assert spec.trial_cap == 3 and "run_cap 3: only 3 of them run" in "\n".join(describe(spec))


def test_only_a_raised_run_cap_lets_a_resumed_sweep_go_on(tmp_path):
    kept = record(load_spec(spec_file(tmp_path, SPEC))[0])
    for text, goes_on in [
        (SPEC, False),
        (edit(("run_cap: 4", "run_cap: 6")), True),
        (edit(("run_cap: 4", "run_cap: 2")), False),
        (edit(("run_cap: 4", "run_cap: 6"), ("min: 0.01", "min: 0.02")), False),
    ]:
        spec, _ = load_spec(spec_file(tmp_path, text))
        assert raised_cap(spec, kept) is goes_on
        assert record(spec)["trial_cap"] == spec.trial_cap  # what a resumed Tune search reads as its count
    grid = edit(
        ("method: bayes", "method: grid"),
        ("{distribution: log_uniform_values, min: 0.01, max: 0.5}", "{values: [0.05]}"),
    )
    kept = record(load_spec(spec_file(tmp_path, grid))[0])
    spec, _ = load_spec(spec_file(tmp_path, grid.replace("run_cap: 4", "run_cap: 9")))
    assert changed_keys(spec, kept) == ["run_cap"] and record(spec)["trial_cap"] == 2  # a grid of 2 still ends at 2


@pytest.mark.parametrize(
    "parameter, message",
    [
        (
            "loss.semantic: {values: [labels, teacher]}",
            "parameters.loss.semantic: 'teacher': loss.semantic is 'teacher' but loss.teacher_weights is not set",
        ),
        (
            "loss.semantic: {values: [labels, teachr]}",
            "parameters.loss.semantic: 'teachr': Input should be 'teacher', 'labels' or 'off'",
        ),
        (
            "optim.critic_lr: {values: [1.0e-4, -1.0]}",
            "parameters.optim.critic_lr: -1.0: Input should be greater than 0",
        ),
        (
            "optim.critic_lr: {distribution: uniform, min: -1.0, max: 1.0e-3}",
            "parameters.optim.critic_lr: -1.0: Input should be greater than 0",
        ),
    ],
)
def test_every_value_a_parameter_can_take_is_checked(tmp_path, parameter, message):
    assert message in refused(tmp_path, edit(("parameters:\n", f"parameters:\n  {parameter}\n")))


def test_integer_fields_take_integer_distributions(tmp_path):
    message = refused(
        tmp_path,
        edit(("parameters:\n", "parameters:\n  optim.critic_steps: {distribution: uniform, min: 1, max: 3}\n")),
    )
    assert (
        "parameters.optim.critic_steps: an integer field; distribution uniform draws fractions. "
        "Write distribution: int_uniform" in message
    )
    # W&B infers int_uniform from integer bounds, uniform from any float one.
    spec, _ = load_spec(
        spec_file(tmp_path, edit(("parameters:\n", "parameters:\n  optim.critic_steps: {min: 1, max: 3}\n")))
    )
    assert spec.parameters["optim.critic_steps"].distribution == "int_uniform"
    assert {t["optim.critic_steps"] for t in draw(spec, 4)} <= {1, 2, 3}
    message = refused(tmp_path, edit(("parameters:\n", "parameters:\n  optim.critic_steps: {min: 1, max: 3.0}\n")))
    assert "distribution uniform draws fractions" in message


def test_early_termination_is_checked_against_the_trial_length(tmp_path):
    message = refused(tmp_path, edit(("min_iter: 1", "min_iter: 5")))
    assert "early_terminate: its first milestone, epoch 5, is not before the last epoch of a trial" in message
    assert "chromasweep.budget.epochs_per_trial 3" in message
    # W&B's max_iter/s form: brackets max_iter / eta^k, the same epochs as ASHA's rungs or refused.
    text = edit(
        ("{type: hyperband, min_iter: 1, eta: 2}", "{type: hyperband, s: 2, eta: 3, max_iter: 27}"),
        ("epochs_per_trial: 3", "epochs_per_trial: 27"),
    )
    spec, _ = load_spec(spec_file(tmp_path, text))
    assert spec.early_terminate.bands(27) == [3, 9] and spec.early_terminate.grace == 3
    # ASHA's grace is W&B's first band, also where max_iter / eta^s falls below 1 (W&B stops dividing).
    text = edit(
        ("{type: hyperband, min_iter: 1, eta: 2}", "{type: hyperband, s: 3, eta: 3, max_iter: 6}"),
        ("epochs_per_trial: 3", "epochs_per_trial: 6"),
    )
    spec, _ = load_spec(spec_file(tmp_path, text))
    assert spec.early_terminate.bands(6) == [2] and spec.early_terminate.grace == 2
    message = refused(
        tmp_path,
        edit(
            ("{type: hyperband, min_iter: 1, eta: 2}", "{type: hyperband, min_iter: 1, eta: 2.5}"),
            ("epochs_per_trial: 3", "epochs_per_trial: 9"),
        ),
    )
    assert "W&B would compare trials at epochs [1, 2, 6], Ray's ASHA at [1, 2.5, 6.25]" in message


def test_a_refused_spec_starts_neither_ray_nor_mlflow_and_takes_seconds(tmp_path):
    path = spec_file(tmp_path, edit(("min_iter: 1", "min_iter: 5")))
    store = tmp_path / "mlflow.db"
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "chromasweep.cli",
            "sweep",
            str(path),
            "--storage",
            str(tmp_path / "runs"),
            "--tracking-uri",
            f"sqlite:///{store}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"Error: {path}: early_terminate: its first milestone" in proc.stderr
    assert time.monotonic() - started < 30
    assert not store.exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        (("method: bayes", "method: tpe"), "method: tpe is written 'method: bayes'"),
        (
            ("early_terminate: {type: hyperband, min_iter: 1, eta: 2}", "early_stop: {type: asha, grace_epochs: 1}"),
            "early_stop: the previous spec format; write 'early_terminate: {type: hyperband, min_iter: GRACE_EPOCHS",
        ),
        (("run_cap: 4", "budget: {max_trials: 4}"), "budget: the previous spec format; write 'run_cap: MAX_TRIALS'"),
        (
            ("budget: {epochs_per_trial: 3}", "budget: {epochs_per_trial: 3, max_trials: 4}"),
            "chromasweep.budget: max_trials is W&B's run_cap now: write 'run_cap: N' at the top level",
        ),
        (("name: spec-test", "name: spec-test\nprogram: train.py"), "program: W&B's key has no meaning here"),
        (
            ("name: spec-test", "name: spec-test\nentity: my-team"),
            "entity: W&B's key has no meaning here (runs are tracked in MLflow",
        ),
        (
            ("{name: val_psnr, goal: maximize}", "{name: val_psnr, goal: maximize, impute: worst}"),
            "impute: W&B's bayes imputes",
        ),
        (
            ("{distribution: log_uniform_values, min: 0.01, max: 0.5}", "{distribution: normal, mu: 0.1, sigma: 0.02}"),
            "distribution normal cannot be sampled exactly by Optuna's samplers; the nearest one that can is uniform",
        ),
        (
            (
                "{distribution: log_uniform_values, min: 0.01, max: 0.5}",
                "{distribution: q_log_uniform_values, min: 0.01, max: 0.5, q: 0.01}",
            ),
            "the nearest one that can is log_uniform_values",
        ),
        (
            ("{values: [1.0e-4, 4.0e-4]}", "{values: [1.0e-4, 4.0e-4], probabilities: [0.9, 0.1]}"),
            "probabilities: Optuna's samplers draw 'values' uniformly",
        ),
        (
            ("{type: hyperband, min_iter: 1, eta: 2}", "{type: hyperband, min_iter: 1, eta: 2, strict: false}"),
            "strict: false compares a trial's best value so far",
        ),
        (("run_cap: 4\n", ""), "run_cap: method bayes draws trials until stopped (as in W&B); write run_cap: N"),
        (
            (
                "budget: {epochs_per_trial: 3}",
                "budget: {epochs_per_trial: 3}\n  resources: {workers: 1, gpus_per_worker: 2}",
            ),
            "gpus_per_worker 2: a worker trains one replica on one GPU, the others would sit idle; "
            "write workers: 2, gpus_per_worker: 1",
        ),
        (
            ("method: bayes", "method: grid"),
            "method grid enumerates values; ['loss.adversarial_weight'] are continuous",
        ),
        (
            ("optim.generator_lr: {values", "optim.generator_lr: {valuez"),
            "parameters.optim.generator_lr: valuez: unknown key",
        ),
        (
            ("loss.adversarial_weight:", "loss.adversarial_wait:"),
            "parameters.loss.adversarial_wait: unknown config path",
        ),
        (("min: 0.01, max: 0.5", "min: 0.5, max: 0.01"), "loss.adversarial_weight: min 0.5 is above max 0.01"),
        (("name: val_psnr", "name: val_fid"), "metric.name: no trial reports metric 'val_fid'"),
        (("metric: {", "metric {"), "not valid YAML"),
        (
            ("budget: {epochs_per_trial: 3}", "budget: {epochs_per_trial: 3}\n  resources: {workers: 3}"),
            "data.batch_size 16 does not split evenly over chromasweep.resources.workers",
        ),
    ],
)
def test_bad_specs_are_refused_with_file_key_and_what_to_write(tmp_path, change, message):
    assert message in refused(tmp_path, edit(change))


def test_nested_parameters_are_dotted_paths(tmp_path):
    text = edit(
        (
            "  optim.generator_lr: {values: [1.0e-4, 4.0e-4]}\n",
            "  optim:\n    parameters:\n      generator_lr: {values: [1.0e-4, 4.0e-4]}\n      beta1: {value: 0.9}\n",
        )
    )
    spec, _ = load_spec(spec_file(tmp_path, text))
    assert set(spec.searched) == {"loss.adversarial_weight", "optim.generator_lr"} and spec.constants == {
        "optim.beta1": 0.9
    }
    message = refused(
        tmp_path,
        edit(
            (
                "  optim.generator_lr: {values: [1.0e-4, 4.0e-4]}\n",
                "  optim:\n    parameters: {generator_lr: {value: 1.0e-4}}\n    values: [1]\n",
            )
        ),
    )
    assert "optim: a nested block holds only 'parameters:'" in message


def test_warm_start_points_are_the_first_trials(tmp_path):
    text = SPEC + "  warm_start:\n    - {loss.adversarial_weight: 0.1, optim.generator_lr: 4.0e-4}\n"
    spec, _ = load_spec(spec_file(tmp_path, text))
    first, second = draw(spec, 2)
    assert first == {"loss.adversarial_weight": 0.1, "optim.generator_lr": 4.0e-4, "epochs": 3}
    assert second != first
    message = refused(
        tmp_path, SPEC + "  warm_start:\n    - {loss.adversarial_weight: 0.9, optim.generator_lr: 4.0e-4}\n"
    )
    assert (
        "chromasweep.warm_start[0].loss.adversarial_weight: 0.9 is outside parameters.loss.adversarial_weight"
        in message
    )


def test_a_warm_start_point_is_checked_as_a_whole_configuration(tmp_path):
    arms = """name: arms
method: random
metric: {name: val_psnr, goal: maximize}
parameters:
  model.generator: {values: [chromagan, cic]}
  model.encoder_weights: {values: [hed-bsds500, null]}
run_cap: 2
chromasweep:
  warm_start:
    - {model.generator: chromagan, model.encoder_weights: hed-bsds500}
    - {model.generator: cic, model.encoder_weights: null}
"""
    spec, _ = load_spec(spec_file(tmp_path, arms))
    assert [point["model.generator"] for point in draw(spec, 2)] == ["chromagan", "cic"]
    # Each value alone fits the chromagan base; together they do not.
    message = refused(
        tmp_path,
        arms.replace(
            "generator: cic, model.encoder_weights: null", "generator: cic, model.encoder_weights: hed-bsds500"
        ),
    )
    assert (
        "chromasweep.warm_start[1]: {model.generator: 'cic', model.encoder_weights: 'hed-bsds500'} together:" in message
    )
    assert "cic has no VGG16 encoder" in message


def test_a_target_ends_the_search_once_a_trial_reaches_it(tmp_path):
    from ray.tune.search import Searcher

    from sweeps.search import searcher

    spec, _ = load_spec(spec_file(tmp_path, edit(("goal: maximize}", "goal: maximize, target: 21.5}"))))
    search = searcher(spec)
    assert isinstance(search.suggest("a"), dict)
    search.on_trial_result("a", {"val_psnr": 20.0, "training_iteration": 1})
    assert isinstance(search.suggest("b"), dict)  # below the target: the search goes on
    search.on_trial_result("b", {"val_psnr": 21.7, "training_iteration": 1})
    assert search.suggest("c") == Searcher.FINISHED


def test_shipped_specs_are_valid():
    for path in (ROOT / "sweeps" / "specs").glob("*.yaml"):
        spec, _ = load_spec(path)
        assert spec.trial_cap, path
        # A spec searches something, except a smoke run: one trial of fixed values.
        assert spec.searched or spec.trial_cap == 1, path


# -- a W&B documentation example, names changed to this project's ---------------------------

# docs.wandb.ai "Define a sweep configuration", its basic structure, with the metric and the
# parameters renamed (validation_loss, learning_rate, batch_size, epochs, optimizer) and the
# launcher key (program) left out; plus the page's "Bayes hyperband" early_terminate.
WANDB_EXAMPLE = """
name: sweepdemo
method: bayes
metric:
  goal: minimize
  name: val_ab_mse
parameters:
  optim.generator_lr:
    min: 0.0001
    max: 0.1
  data.batch_size:
    values: [16, 32, 64]
  optim.critic_steps:
    values: [1, 2, 3]
  loss.semantic:
    values: ["labels", "off"]
early_terminate:
  type: hyperband
  s: 2
  eta: 3
  max_iter: 27
run_cap: 20
chromasweep:
  budget: {epochs_per_trial: 27}
"""


def test_a_wandb_documentation_example_runs_through_dry_run(tmp_path):
    path = spec_file(tmp_path, WANDB_EXAMPLE, "wandb-example.yaml")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from chromasweep.cli import cli\n"
            "try:\n    cli(sys.argv[1:])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print('ray imported' if 'ray' in sys.modules else 'no ray', "
            "'mlflow imported' if 'mlflow' in sys.modules else 'no mlflow')",
            "sweep",
            str(path),
            "--dry-run",
            "--samples",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[-1] == "no ray no mlflow"
    plan = "\n".join(lines)
    assert "sweep sweepdemo: val_ab_mse (minimize)" in plan
    assert "sampler    bayes = Optuna TPESampler, seed 0" in plan
    assert "hyperband = Ray ASHA, grace 3 epoch(s), reduction factor 3; trials compared at epochs [3, 9]" in plan
    assert "worst case 540 trial-epochs" in plan
    assert "optim.generator_lr: uniform: 0.0001 .. 0.1, uniform" in plan
    trials = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(trials) == 3
    for t in trials:
        assert 0.0001 <= t["optim.generator_lr"] <= 0.1 and t["data.batch_size"] in (16, 32, 64)
        assert t["loss.semantic"] in ("labels", "off") and t["epochs"] == 27


def one_trial_searched(tmp_path):
    """SPEC's search (run_cap 4, one trial at a time), its first trial finished, and the folder its
    state is saved to and restored from, holding the spec record a resumed search reads."""
    from sweeps.search import SPEC_RECORD, search_algorithm

    spec, _ = load_spec(spec_file(tmp_path, SPEC))
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / SPEC_RECORD).write_text(json.dumps(record(spec)))
    search = search_algorithm(spec, [])
    first = search.searcher.suggest("first")
    search.on_trial_complete("first", {"val_psnr": 20.0, "training_iteration": 3, "config": {**first, "epochs": 3}})
    return spec, search, first, tmp_path / "state"


def restored(spec, state):
    from sweeps.search import search_algorithm

    search = search_algorithm(spec, [])
    search.restore_from_dir(str(state))
    return search


def tune_list(folder, **trials):
    """Tune's trial list as Ray 2.60 saves it (one JSON state per trial) in ``folder``."""
    data = [[json.dumps({"trial_id": trial, "status": status}), "{}"] for trial, status in trials.items()]
    (folder / "experiment_state-s.json").write_text(json.dumps({"trial_data": data}))


def test_a_trial_restored_by_tune_but_not_by_its_searcher_is_adopted_not_a_crash(tmp_path):
    """Tune saves its trial list and its searcher's state as separate files, and uploads them one by
    one: a driver killed between the two leaves a trial list newer than the searcher. The restored
    searcher then meets results of a trial it never drew (Optuna's KeyError, raised in Tune's
    ``actor_manager._actor_task_resolved``); it takes the trial in from the config Tune reports."""
    spec, before, first, state = one_trial_searched(tmp_path)
    before.save_to_dir(str(state), session_str="s")  # the searcher's last save ...
    drawn = before.searcher.suggest("second")  # ... then a trial drawn, and saved in Tune's list only
    assert isinstance(first, dict) and isinstance(drawn, dict)
    tune_list(state, first="TERMINATED", second="RUNNING")

    search = restored(spec, state)
    report = {"training_iteration": 1, "config": {**drawn, "epochs": 3}}
    search.on_trial_result("second", {**report, "val_psnr": 21.0})
    search.on_trial_complete("second", {**report, "val_psnr": 22.0, "training_iteration": 2})
    study = search.searcher.searcher._ot_study
    told = sorted((t.value, t.params) for t in study.trials if t.value is not None)
    assert told == [(20.0, first), (22.0, drawn)]
    assert search._counter == 2  # the cap counts both: run_cap 4 leaves two more to draw, not three
    assert isinstance(search.searcher.suggest("third"), dict)  # and the search goes on


def test_a_searcher_restored_newer_than_tunes_trial_list_does_not_wait_for_a_trial_that_never_runs(tmp_path):
    """The other order: the searcher's state saved with a trial drawn that Tune's list never got. The
    limiter would count it as running for ever (with max_concurrent 1, the sweep would wait for ever);
    restored, it counts what Tune's list will run."""
    spec, before, _, state = one_trial_searched(tmp_path)
    assert isinstance(before.searcher.suggest("second"), dict)
    before.save_to_dir(str(state), session_str="s")
    tune_list(state, first="TERMINATED")  # saved before "second" was drawn

    search = restored(spec, state)
    assert isinstance(search.searcher.suggest("third"), dict)
    assert search._counter == 1  # "second" never ran: run_cap 4 still draws three more


def test_a_weight_only_one_family_reads_is_searched_only_in_a_sweep_of_that_family(tmp_path):
    both = edit(("parameters:\n", "parameters:\n  model.generator: {values: [chromagan, cic]}\n"))
    message = refused(tmp_path, both)
    assert message.endswith(
        "parameters.loss.adversarial_weight: only chromagan trials read it, so this sweep's cic trials would "
        "draw it for nothing; search it in a sweep of chromagan trials alone; cic's critic weight is "
        "loss.cic_adversarial_weight"
    )
    cic_only = edit(
        ("loss.adversarial_weight:", "loss.cic_adversarial_weight:"),
        ("parameters:\n", "parameters:\n  model.generator: {value: cic}\n"),
    )
    spec, _ = load_spec(spec_file(tmp_path, cic_only))  # cic trials do read their own weight
    assert "loss.cic_adversarial_weight" in spec.searched
    load_spec(spec_file(tmp_path, SPEC))  # the demo's base is chromagan: its weight is read
