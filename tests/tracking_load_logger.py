"""One trial's logger under load, as a process of its own (tests/test_tracking_load.py starts 16):
``python tracking_load_logger.py URI EXPERIMENT_ID PARENT_RUN_ID NAME SECONDS``.

Logs an epoch's report (the metrics a trial reports, at step = epoch) as fast as the store takes
it, a sample grid every tenth epoch, until SECONDS have passed, then finishes the run. Prints
``logged N`` with the epochs it logged; any error ends it with a traceback and a non-zero status."""

import sys
import time

import numpy as np

from colorize_core.metric_registry import REGISTRY
from colorize_core.status import RunStatus
from tracking.trial_run import TrackingContext, TrialRun, sample_name


def main(uri: str, experiment_id: str, parent: str, name: str, seconds: float) -> None:
    run = TrialRun(TrackingContext(uri=uri, experiment_id=experiment_id, parent_run_id=parent), name, {"lr": 1e-4})
    png = _png()
    deadline, epoch = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        epoch += 1
        run.log_epoch(epoch, {"epoch": epoch, **{m: float(epoch) for m in REGISTRY}})
        if epoch % 10 == 0:
            run.log_sample_png(sample_name(epoch), png)
    run.finish(RunStatus.FINISHED)
    print(f"logged {epoch}", flush=True)


def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 256, 3), np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
