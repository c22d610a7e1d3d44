"""A training run's learning curves as a picture in its MLflow run: validation PSNR and rebalanced
AuC against the images the run has trained on, with the gray image's score as the floor to beat.

Drawn from the metric history MLflow holds, so it shows what the run's charts show, and redrawn over
the same artifact at each delivery, so a trial that is stopped or killed keeps its curve so far.
"""

from __future__ import annotations

from mlflow import MlflowClient

from colorize_core.metric_registry import REGISTRY

ARTIFACT = "learning_curves.png"
IMAGES_SEEN = "images_seen"  # logged beside each epoch's metrics (TrialRun.log_epoch) for the UI's x-axis
BATCH_PARAM = "data.batch_size"  # the global batch, as the run's flattened config names it


def _metric(name: str) -> str:
    """A reported metric's name, looked up so that a metric renamed in the registry fails here at import."""
    return REGISTRY[name].name


STEP = _metric("step")
# (title, the validation score, its gray baseline)
PANELS = (
    ("validation PSNR, dB", _metric("val_psnr"), _metric("val_gray_psnr")),
    ("validation rebalanced AuC", _metric("val_auc_rebalanced"), _metric("val_gray_auc_rebalanced")),
)


def images_seen(step: float, batch_size: int) -> int:
    """Images trained on after ``step`` steps (at an epoch's end: epoch x steps_per_epoch) of the global batch."""
    return int(step) * batch_size


def x_axis(steps: dict[int, float], batch_size: int | None) -> tuple[dict[int, float], str]:
    """Epoch -> its place on the x-axis, and the axis's label: images seen where the run has both its
    steps and its batch size (a run logged without them is drawn against epochs)."""
    if batch_size and steps:
        return {epoch: images_seen(step, batch_size) for epoch, step in steps.items()}, "images seen"
    return {}, "epoch"


def _history(client: MlflowClient, run_id: str, name: str) -> dict[int, float]:
    return {int(m.step): m.value for m in client.get_metric_history(run_id, name)}  # a repeated step: the last


def figure(series: dict[str, dict[int, float]], xs: dict[int, float], xlabel: str):
    """Two panels side by side: each score per epoch (markers), its gray baseline dashed where logged."""
    # No pyplot: no global backend or figure registry in a training worker.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, wspace=0.2)  # fixed: a constrained layout doubles savefig
    for ax, (title, score, baseline) in zip(fig.subplots(1, 2), PANELS, strict=True):
        for name, style in ((score, {"marker": "o"}), (baseline, {"linestyle": "--", "color": "gray"})):
            # Against epochs only when no epoch has its images seen: never the two mixed on one axis.
            points = [(xs[e] if xs else e, v) for e, v in sorted(series.get(name, {}).items()) if not xs or e in xs]
            if points:
                ax.plot(*zip(*points, strict=True), label=name, **style)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        if ax.has_data():
            ax.legend()
    return fig


def log_learning_curves(client: MlflowClient, run_id: str, batch_size: int | None) -> bool:
    """Draw the run's curves from its metric history and log them over ``ARTIFACT``; False when the
    run has no validation score yet (nothing is logged)."""
    series = {name: _history(client, run_id, name) for _, *names in PANELS for name in names}
    if not any(series[score] for _, score, _ in PANELS):
        return False
    xs, xlabel = x_axis(_history(client, run_id, STEP), batch_size)
    client.log_figure(run_id, figure(series, xs, xlabel), ARTIFACT, save_kwargs={"dpi": 80})
    return True
