"""A sweep trial's run name: its checkpoint folder, its Ray Train run and its MLflow run all carry it.

Built from Tune's trial id, which is stable across ``Tuner.restore``, so a resumed trial finds its
own checkpoints and its own MLflow run.
"""

PREFIX = "trial-"


def trial_name(trial_id: str) -> str:
    return f"{PREFIX}{trial_id}"
