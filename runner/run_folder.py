"""The names of everything in a run's folder (STORAGE/NAME/, a local folder or a bucket), once: every
way to train writes this one layout, and the modules named beside each entry write and read it.

    chromasweep-run.json              the layout marker, with the first checkpoint   (checkpoint_store)
    checkpoint_step_NNNNNNNN/         weights, optimizers, step, metrics.json,        (epoch_end)
                                      history.json and, at the last epoch, model/
        .complete                     written last: only then does the checkpoint count
    checkpoint_diverged_step_NNNNNNNN/DIVERGED.json
                                      a divergence, outranking the weights of its step (epoch_end)
    metrics.jsonl                     every epoch's metrics so far, one line each     (epoch_end)
    model/                            the final model (colorize_core.model_files)    (checkpoint_store)
    tracking.json                     where the run is tracked and its params         (run_record)
    samples/epoch_NNN.png             sample grids, named as in its MLflow run        (tracking.trial_run)
    status.json                       the run's final status, once known              (run_record)
"""

from __future__ import annotations

from colorize_core.model_files import MODEL_DIR

LAYOUT_FILE, LAYOUT_VERSION = "chromasweep-run.json", 2
CHECKPOINT_PREFIX = "checkpoint_"
COMPLETE = ".complete"
METRICS_FILE = "metrics.json"  # the reported metrics, kept with the checkpoint they belong to
HISTORY_FILE = "history.json"  # every epoch's metrics up to that checkpoint
DIVERGED_MARKER = "DIVERGED.json"
METRICS_LOG = "metrics.jsonl"
ADDRESS_FILE = "tracking.json"
STATUS_FILE = "status.json"
# What chromasweep's earlier layouts left in a run folder (Ray's own files there are not ours).
OLD_LAYOUT_SIGNS = ("checkpoints", METRICS_LOG, MODEL_DIR)


def checkpoint_name(step: int) -> str:
    return f"{CHECKPOINT_PREFIX}step_{step:08d}"


def diverged_name(step: int) -> str:
    return f"{CHECKPOINT_PREFIX}diverged_step_{step:08d}"
