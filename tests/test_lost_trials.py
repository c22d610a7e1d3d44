"""A sweep killed in the second between starting a trial and Ray Tune saving its state: on resume the
trial is drawn afresh under another name, and the old one is accounted for as lost, in its folder and
in MLflow, never left looking like a trial of the sweep."""

from mlflow import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from colorize_core.status import LOST_WHY, RunStatus
from runner.checkpoint_store import CheckpointStore
from runner.run_folder import STATUS_FILE
from sweeps.tune_sweep import TrialRow, _set_aside_lost
from tracking.sweep_run import SweepRun
from tracking.trial_run import KIND_TAG, RUN_TAG, STATUS_TAG


def trial_folder(trials, name, checkpoint: bool):
    store = CheckpointStore.for_run(str(trials), name, keep=2)
    store.write_text("tracking.json", "{}")
    if checkpoint:
        saved = trials.parent / f"{name}-weights"
        saved.mkdir()
        (saved / "weights.h5").write_bytes(b"weights")
        store.save(str(saved), "checkpoint_step_00000004")
    return store


def test_lost_trials_folders_go_when_empty_and_stay_marked_when_they_hold_a_checkpoint(tmp_path):
    trials = tmp_path / "sweep" / "trials"
    trial_folder(trials, "trial-known", checkpoint=True)
    trial_folder(trials, "trial-lostearly", checkpoint=False)
    trial_folder(trials, "trial-lostlate", checkpoint=True)
    rows = [TrialRow("known", RunStatus.FINISHED, {}, 24.0, 2, None)]
    said = []

    kept = _set_aside_lost(str(trials), rows, said.append)

    assert sorted(p.name for p in trials.iterdir()) == ["trial-known", "trial-lostlate"]
    assert [store.uri.rsplit("/", 1)[-1] for store in kept] == ["trial-lostlate"]
    assert kept[0].read_json(STATUS_FILE) == {"status": "lost"}
    assert not (trials / "trial-known" / STATUS_FILE).exists()  # the sweep's own trials are not touched here
    assert len(said) == 2 and all(LOST_WHY in line for line in said)
    assert "trial-lostearly" in said[0] and "removed" in said[0]
    assert "trial-lostlate" in said[1] and "kept" in said[1]


def test_lost_trials_runs_are_deleted_when_empty_and_killed_and_tagged_when_they_logged(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    sweep = SweepRun(uri, "tiny", str(tmp_path / "tiny"), resume=False)
    client = MlflowClient(uri)

    def child(name, metric: bool):
        tags = {MLFLOW_PARENT_RUN_ID: sweep.run_id, KIND_TAG: "trial", RUN_TAG: name}
        run_id = client.create_run(sweep.experiment_id, run_name=name, tags=tags).info.run_id
        if metric:
            client.log_metric(run_id, "val_psnr", 23.0, step=1)
        return run_id

    known, early, late = child("trial-known", True), child("trial-lostearly", False), child("trial-lostlate", True)
    sweep._close_children({"trial-known": RunStatus.FINISHED})

    assert client.get_run(known).info.status == "FINISHED"
    assert client.get_run(known).data.tags[STATUS_TAG] == "finished"
    assert client.get_run(early).info.lifecycle_stage == "deleted"
    lost = client.get_run(late)
    assert lost.info.status == "KILLED" and lost.data.tags[STATUS_TAG] == f"lost: {LOST_WHY}"

    # `chromasweep sync` closes from the folders' statuses, where a kept lost trial says "lost".
    sweep._close_children({"trial-known": RunStatus.FINISHED, "trial-lostlate": RunStatus.LOST})
    assert client.get_run(late).data.tags[STATUS_TAG] == f"lost: {LOST_WHY}"
