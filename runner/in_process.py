"""``chromasweep train --in-process``: the run loop in this process, without Ray (debugging,
notebooks). The same loop, checkpoints and folder layout as a Ray run, so either can continue the
other's run."""

from __future__ import annotations

import time

from colorize_core.config import TrainConfig
from runner.checkpoint_store import CheckpointStore
from runner.worker_loop import RunResult, read_result, run_worker


class LocalSession:
    """``epoch_end.Session`` in this process: one worker, nobody to notify."""

    rank, world = 0, 1

    def __init__(self, store: CheckpointStore):
        self.store = store

    def notify(self, metrics: dict) -> None:
        pass


def train_in_process(config: TrainConfig, storage: str, restart: bool = False, progress: bool = True) -> RunResult:
    """Train ``config`` as the run ``storage/config.name``, resuming it unless ``restart``."""
    store = CheckpointStore.for_run(storage, config.name, keep=config.keep_checkpoints)
    if restart:
        store.delete()
    store.check_layout()
    started = time.perf_counter()
    run_worker(config, None, LocalSession(store), progress=progress)
    return read_result(store, time.perf_counter() - started)
