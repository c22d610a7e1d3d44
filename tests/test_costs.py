"""What a trial costs: the dated price table, a trial's rate from what it books, the running meter and
the sweep's budget, as the driver, the trials and --dry-run use them (no Ray, no MLflow)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from costs.budget import CostBudget
from costs.meter import CostMeter
from costs.prices import CostError, load_prices, price_trial, shipped_prices
from sweeps.spec import SpecError, load_spec, trial_rate

ROOT = Path(__file__).resolve().parents[1]
GCP_SPEC = ROOT / "sweeps" / "specs" / "imagenet-gcp.yaml"


def test_the_shipped_table_is_dated_sourced_and_prices_every_machine_of_the_gcp_cluster():
    table = shipped_prices()
    assert re.fullmatch(r"\d{4}-\d\d", table.as_of) and "cloud.google.com" in table.source
    cluster = yaml.safe_load((ROOT / "cluster" / "gcp-gpu.yaml").read_text())
    machines = {n["node_config"]["machineType"] for n in cluster["available_node_types"].values()}
    assert machines <= table.node_types.keys()
    for name in machines:
        node = table.node_types[name]
        assert node.spot is not None and 0 < node.spot < node.on_demand, name


def test_a_worker_pays_for_the_share_of_a_node_it_books():
    table = shipped_prices()
    g2 = table.node_types["g2-standard-8"]
    whole = price_trial(table, "g2-standard-8", spot=True, workers=2, cpus_per_worker=8, gpus_per_worker=1)
    assert whole.usd_per_hour == pytest.approx(2 * g2.spot)
    assert "2 worker(s) x 1 of a g2-standard-8" in whole.basis and "Spot" in whole.basis
    # The GPU is the scarce part: 2 of 8 CPUs but its only GPU is the whole node.
    assert price_trial(table, "g2-standard-8", False, 1, 2, 1).usd_per_hour == pytest.approx(g2.on_demand)
    half_cpu = price_trial(table, "n2-standard-8", False, 1, 4, 0)
    assert half_cpu.usd_per_hour == pytest.approx(table.node_types["n2-standard-8"].on_demand / 2)
    # This machine: its share of this machine's CPUs, never more than all of it.
    cores = os.cpu_count()
    local = table.node_types["local"].on_demand
    assert price_trial(table, "local", False, 1, 1, 0).usd_per_hour == pytest.approx(local / cores)
    assert price_trial(table, "local", False, 3, cores * 4, 1).usd_per_hour == pytest.approx(3 * local)


@pytest.mark.parametrize(
    ("node", "spot", "cpus", "gpus", "message"),
    [
        ("a100-pod", False, 1, 0, "'a100-pod' is not in the price table; known: g2-standard-4, g2-standard-8, local"),
        ("local", True, 1, 0, "the price table has no Spot price for local"),
        ("g2-standard-8", True, 16, 1, "cpus_per_worker 16: a g2-standard-8 node has 8 vCPUs"),
        ("n2-standard-8", False, 8, 1, "gpus_per_worker 1: a n2-standard-8 node has 0 GPU(s)"),
    ],
)
def test_a_trial_the_table_cannot_price_is_refused_naming_what_to_change(node, spot, cpus, gpus, message):
    with pytest.raises(CostError, match=re.escape(message)):
        price_trial(shipped_prices(), node, spot, 1, cpus, gpus)


def test_a_price_file_replaces_and_adds_node_types_and_bad_ones_are_refused_naming_file_and_key(tmp_path):
    own = tmp_path / "prices.yaml"
    own.write_text(
        "as_of: 2026-11\nsource: our negotiated rates\n"
        "node_types:\n  g2-standard-8: {vcpus: 8, gpus: 1, on_demand: 0.7, spot: 0.2}\n"
        "  workstation: {vcpus: 32, gpus: 2, on_demand: 0.5}\n"
    )
    table = load_prices(own)
    assert table.node_types["g2-standard-8"].spot == 0.2 and "workstation" in table.node_types
    assert "local" in table.node_types and "our negotiated rates" in table.source and table.as_of == "2026-11"
    assert price_trial(table, "workstation", False, 1, 16, 1).usd_per_hour == pytest.approx(0.25)

    own.write_text("as_of: 2026-11\nsource: x\nnode_types:\n  box: {vcpus: 4, on_demand: cheap}\n")
    with pytest.raises(CostError, match=rf"{re.escape(str(own))}: node_types\.box\.on_demand: .*'cheap'"):
        load_prices(own)
    own.write_text("node_types:\n  box: {vcpus: 4, on_demand: 1}\n")  # no date, no source: a figure nobody can check
    with pytest.raises(CostError, match="as_of: Field required; source: Field required"):
        load_prices(own)
    with pytest.raises(CostError, match=r"nowhere\.yaml: price file not found \(chromasweep.cost.price_file\)"):
        load_prices(tmp_path / "nowhere.yaml")


def test_a_spec_that_cannot_be_priced_is_refused_when_it_is_loaded(tmp_path):
    text = GCP_SPEC.read_text().replace("cost: {node_type: g2-standard-8, spot: true}", "cost: {node_type: l4-box}")
    spec = tmp_path / "gcp.yaml"
    spec.write_text(text)
    with pytest.raises(SpecError, match=rf"{re.escape(str(spec))}: chromasweep.cost.node_type: 'l4-box' is not"):
        load_spec(spec)


def test_dry_run_prints_the_gcp_sweeps_rate_and_worst_case_cost():
    spec, _ = load_spec(GCP_SPEC)
    rate = trial_rate(spec)
    out = subprocess.run(
        [sys.executable, "-m", "chromasweep.cli", "sweep", str(GCP_SPEC), "--dry-run", "--samples", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    budget = spec.chromasweep.budget
    worst = budget.time_budget / 3600 * budget.max_concurrent * rate.usd_per_hour
    assert (
        f"  cost       {rate.usd_per_hour:.2f} USD/h a trial, an estimate: 2 worker(s) x 1 of a g2-standard-8"
        in out.stdout
    )
    assert f"  worst cost {worst:.2f} USD (time_budget 48 h x 4 trials at a time" in out.stdout
    assert f"at most max_cost_usd {budget.max_cost_usd:g}" in out.stdout


def test_the_meter_adds_this_attempts_wall_time_to_what_earlier_attempts_spent():
    now = [100.0]
    meter = CostMeter(usd_per_hour=3.6, spent=0.25, clock=lambda: now[0])
    assert meter.reading() == pytest.approx(0.25)
    now[0] += 50  # 50 s at 3.6 USD/h = 0.05 USD
    assert meter.reading() == pytest.approx(0.30)


def test_the_budget_draws_another_trial_only_while_spent_running_and_one_more_fit():
    budget = CostBudget(max_usd=10.0, epochs_per_trial=4)
    assert budget.refusal() is None  # nothing known yet: the first trials start
    budget.observe("a", cost_usd=1.0, epoch=1)  # 1 USD an epoch: 3 more to go, and a new trial ~4
    assert budget.spent == 1.0 and budget.committed == 3.0 and budget.expected_trial == 4.0
    assert budget.refusal() is None  # 1 + 3 + 4 = 8
    budget.observe("b", cost_usd=0.5, epoch=1)  # mean 0.75 USD an epoch
    why = budget.refusal()  # 1.5 spent + 4.5 to come + 3 expected = 9: fits
    assert why is None
    budget.observe("b", cost_usd=1.5, epoch=2)  # b slows down: 0.75 USD an epoch...
    budget.observe("a", cost_usd=2.0, epoch=2)  # ...and a keeps its 1 USD: 3.5 + 3.5 + 3.5 = 10.5
    assert budget.refusal() == (
        "max_cost_usd 10: spent 3.50 USD + running trials' rest 3.50 USD + one more trial ~3.50 USD = "
        "10.50 USD would pass it; no new trials"
    )
    budget.close("a")  # a stopped early (ASHA) at 2 USD: nothing more to come from it
    assert budget.committed == pytest.approx(1.5) and budget.refusal() is None  # 3.5 + 1.5 + 3.5 = 8.5


def test_the_sweeps_searcher_stops_drawing_when_the_budget_refuses(tmp_path):
    from ray.tune.search import Searcher

    from sweeps.search import searcher

    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(
        "name: budgeted\nmethod: random\nmetric: {name: val_psnr, goal: maximize}\nrun_cap: 10\n"
        "parameters:\n  loss.adversarial_weight: {min: 0.01, max: 0.2}\n"
        f"chromasweep:\n  base: {ROOT / 'colorize_core' / 'configs' / 'demo.yaml'}\n"
        "  budget: {epochs_per_trial: 2, max_cost_usd: 1.0}\n"
    )
    spec, _ = load_spec(spec_file)
    search = searcher(spec)
    search.set_search_properties(None, None, {})
    assert search.suggest("t1") not in (None, Searcher.FINISHED)
    search.on_trial_result(
        "t1", {"epoch": 1, "training_iteration": 1, "val_psnr": 20.0, "cost_usd": 0.3}
    )  # 0.3 + 0.3 + 0.6 = 1.2
    assert search.suggest("t2") == Searcher.FINISHED
    assert search.suggest("t3") == Searcher.FINISHED  # it stays spent: Tune's generator stops asking
