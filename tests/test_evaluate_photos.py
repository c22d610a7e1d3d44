"""Bootstrap intervals over photos of ``chromasweep evaluate``'s scores, on made-up scores (no model)."""

import math

import numpy as np
import pytest

from colorize_core.evaluation.photos import (
    BASELINES,
    COLUMNS,
    COMPARED,
    Evaluation,
    PhotoScores,
    Protocol,
    intervals,
)


def evaluation(**columns: list[float]) -> Evaluation:
    """Photos scoring ``columns`` (name -> one score per photo); every other column scores 1.0."""
    n = len(next(iter(columns.values())))
    photos = [
        PhotoScores(f"p{i}.png", {c: float(columns[c][i]) if c in columns else 1.0 for c in COLUMNS}) for i in range(n)
    ]
    return Evaluation(Protocol.CHROMAGAN_224, photos, {}, (0.0, 0.0))


def column(result, name):
    return next(i for i in result.columns if i.quantity == name)


def difference(result, name):
    return next(i for i in result.differences if i.quantity == name)


def test_an_interval_holds_its_mean_and_narrows_as_photos_agree():
    rng = np.random.default_rng(1)
    spread, agreeing = rng.normal(22, 3, 40), rng.normal(22, 0.3, 40)
    wide = column(intervals(evaluation(psnr=spread)), "psnr")
    narrow = column(intervals(evaluation(psnr=agreeing)), "psnr")
    assert wide.mean == pytest.approx(spread.mean()) and wide.low < wide.mean < wide.high
    assert narrow.low < narrow.mean < narrow.high
    assert narrow.high - narrow.low < (wide.high - wide.low) / 5
    # Every photo alike: no spread left, the interval is the point.
    same = column(intervals(evaluation(psnr=[20.0] * 5)), "psnr")
    assert same.low == same.high == same.mean == 20.0


def test_a_model_better_than_gray_on_every_photo_is_above_it_and_a_tie_with_an_equal_baseline():
    rng = np.random.default_rng(2)
    gray = rng.normal(21, 4, 12)
    model = gray + rng.uniform(0.1, 0.5, 12)  # photos differ a lot, the model beats gray on each by a little
    result = intervals(evaluation(psnr=model, gray_psnr=gray, mean_ab_psnr=model + rng.normal(0, 1, 12)))
    beats_gray = difference(result, "psnr_minus_gray")
    assert beats_gray.mean == pytest.approx((model - gray).mean())
    assert 0 < beats_gray.low < beats_gray.high < 0.5 and beats_gray.verdict == "above"
    assert difference(result, "psnr_minus_mean_ab").verdict == "tie"
    worse = intervals(evaluation(ssim=[0.5, 0.6, 0.7], gray_ssim=[0.6, 0.7, 0.8]))
    assert difference(worse, "ssim_minus_gray").verdict == "below"
    head, *lines = result.lines()
    assert head == "mean [95% CI] over 12 photos"
    line = next(line for line in lines if line.lstrip().startswith("psnr - gray_psnr"))
    mean, low, high = (f"{v:+.2f}" for v in (beats_gray.mean, beats_gray.low, beats_gray.high))
    assert line.split()[3:] == [mean, f"[{low},", f"{high}]", "above"]


def test_one_photo_gives_undefined_bounds_not_a_crash():
    result = intervals(evaluation(psnr=[23.0], gray_psnr=[21.0]))
    assert column(result, "psnr").mean == 23.0
    assert all(math.isnan(i.low) and math.isnan(i.high) for i in (*result.columns, *result.differences))
    assert difference(result, "psnr_minus_gray").mean == 2.0 and difference(result, "psnr_minus_gray").verdict == "n/a"
    assert result.lines()[0] == "mean [95% CI] over 1 photo"
    line = next(line for line in result.lines() if "psnr - gray_psnr" in line)
    assert line.split()[3:] == ["+2.00", "[nan,", "nan]", "n/a"]
    assert result.rows()[1] == ["psnr", "23.0", "nan", "nan"]


def test_the_same_seed_gives_the_same_intervals():
    scores = evaluation(psnr=np.random.default_rng(3).normal(22, 3, 15))
    assert intervals(scores, seed=7) == intervals(scores, seed=7)
    assert column(intervals(scores, seed=7), "psnr") != column(intervals(scores, seed=8), "psnr")


def test_rows_and_metric_names_cover_every_column_and_difference():
    from tracking.models import evaluation_interval_metrics

    result = intervals(evaluation(psnr=[20.0, 21.0, 22.0]), resamples=200)
    header, *rows = result.rows()
    assert header == ["quantity", "mean", "ci_low", "ci_high"]
    assert [r[0] for r in rows] == [*COLUMNS, *(f"{k}_minus_{b}" for k in COMPARED for b in BASELINES)]
    metrics = evaluation_interval_metrics("224", result)
    assert {
        "eval_224_psnr_ci_low",
        "eval_224_psnr_ci_high",
        "eval_224_colorfulness_gap_ci_high",
        "eval_224_psnr_minus_gray",
        "eval_224_psnr_minus_gray_ci_low",
        "eval_224_auc_rebalanced_minus_mean_ab_ci_high",
    } <= set(metrics)
    assert "eval_224_psnr" not in metrics  # the mean itself is log_evaluation's, from the table
    assert all(name.replace("_", "").isalnum() for name in metrics)
    # One photo: the differences' means are still logged, the undefined bounds are not.
    alone = evaluation_interval_metrics("224", intervals(evaluation(psnr=[20.0])))
    assert set(alone) == {f"eval_224_{k}_minus_{b}" for k in COMPARED for b in BASELINES}


def test_log_evaluation_puts_the_bounds_and_differences_on_the_run(isolated_tracking, tmp_path):
    from mlflow import MlflowClient

    from tracking.models import log_evaluation

    client = MlflowClient(isolated_tracking)
    run_id = client.create_run(client.create_experiment("eval", artifact_location=str(tmp_path / "art"))).info.run_id
    scores = evaluation(psnr=[20.0, 22.0, 24.0], gray_psnr=[19.0, 21.0, 22.0])
    result = intervals(scores, resamples=200)
    log_evaluation(run_id, isolated_tracking, "224", str(tmp_path / "photos"), "photo,psnr\n", scores.mean, result)
    logged = client.get_run(run_id).data.metrics
    beats_gray = difference(result, "psnr_minus_gray")
    assert logged["eval_224_psnr"] == 22.0 and logged["eval_224_psnr_minus_gray"] == pytest.approx(4 / 3)
    assert logged["eval_224_psnr_minus_gray_ci_low"] == beats_gray.low
    assert logged["eval_224_gray_psnr_ci_high"] == column(result, "gray_psnr").high
    artifacts = [a.path for a in client.list_artifacts(run_id, "evaluation/224")]
    assert artifacts == ["evaluation/224/photos-intervals.csv", "evaluation/224/photos.csv"]


def test_a_comparison_puts_each_model_beside_the_baselines_it_must_beat():
    from colorize_core.evaluation.photos import COMPARISON, comparison

    rng = np.random.default_rng(3)
    gray, constant = rng.normal(21, 3, 30), rng.normal(21.5, 3, 30)
    better = intervals(evaluation(psnr=gray + 1.0, gray_psnr=gray, mean_ab_psnr=constant))
    worse = intervals(evaluation(psnr=gray - 1.0, gray_psnr=gray, mean_ab_psnr=constant))
    header, gray_row, constant_row, *rows = comparison([("better", better), ("worse", worse)])
    assert header == ["model", *COMPARISON] and [r[0] for r in rows] == ["better", "worse"]
    assert gray_row[1].startswith(f"{gray.mean():.2f} [") and gray_row[2] == ""  # a baseline has no difference
    assert constant_row[1].startswith(f"{constant.mean():.2f} [")
    assert rows[0][2] == "+1.00 [+1.00, +1.00] above" and rows[1][2].endswith(" below")
