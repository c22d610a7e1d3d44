"""Optuna's plots of a finished sweep (optimization history, parameter importances, parallel
coordinates), as interactive HTML (plotly) and PNG (matplotlib), for the sweep's parent run.

The study is rebuilt from the trials' results rather than taken from Tune's searcher: that is the
same data (OptunaSearch tells Optuna each trial's last result, stopped trials included), and it
works the same after ``Tuner.restore``.
"""

from __future__ import annotations

import math
from pathlib import Path

import optuna
from optuna.distributions import BaseDistribution

from colorize_core.report import EpochReport
from colorize_core.status import RunStatus

PLOTS = {
    "optimization_history": "plot_optimization_history",
    "param_importances": "plot_param_importances",
    "parallel_coordinate": "plot_parallel_coordinate",
}


def study_from_trials(
    trials: list[dict], objective: str, mode: str, space: dict[str, BaseDistribution]
) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if mode == "max" else "minimize")
    for t in trials:
        params = {k: t["params"][k] for k in space if k in t["params"]}
        value = t["metric"]
        scored = value is not None and math.isfinite(value) and RunStatus(t["status"]).ranked
        steps = {
            EpochReport.read(h).completed_epochs: h[objective]
            for h in t.get("history", [])
            if objective in h and math.isfinite(h[objective])
        }
        study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions={k: space[k] for k in params},
                value=value if scored else None,
                intermediate_values=steps,
                state=optuna.trial.TrialState.COMPLETE if scored else optuna.trial.TrialState.FAIL,
                user_attrs={"trial": t["name"], "status": t["status"]},
            )
        )
    return study


def write_plots(
    trials: list[dict], objective: str, mode: str, space: dict[str, BaseDistribution], out: Path
) -> list[str]:
    """Write every plot that the trials support; returns a note for each one that they do not."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    study = study_from_trials(trials, objective, mode, space)
    notes = []
    for name, fn in PLOTS.items():
        try:
            getattr(optuna.visualization, fn)(study, target_name=objective).write_html(out / f"{name}.html")
            ax = getattr(optuna.visualization.matplotlib, fn)(study, target_name=objective)
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            fig.set_size_inches(9, 5)
            fig.savefig(out / f"{name}.png", dpi=100, bbox_inches="tight")
            plt.close(fig)
        except (ValueError, RuntimeError, ZeroDivisionError) as err:
            # Importances need two or more finished trials and a parameter that varied.
            notes.append(f"no {name} plot: {err}")
    if notes:
        (out / "NOTES.txt").write_text("\n".join(notes) + "\n")
    return notes
