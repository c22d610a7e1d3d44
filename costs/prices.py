"""The price table and a trial's rate.

A trial is priced at the share of a node it books, for as long as it runs: each worker books
``cpus_per_worker`` CPUs and ``gpus_per_worker`` GPUs of a node of the spec's type, which is
``max(cpus / node vCPUs, gpus / node GPUs)`` of that node, so a worker that books a whole
g2-standard-8 (8 CPUs, 1 GPU) pays for all of it and one that books 1 CPU of a 2-core laptop pays for
half (one that books more than this machine has pays for all of it). What nobody books (idle nodes,
the head, a cluster waiting for its autoscaler) is not a trial's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from colorize_core.errors import ChromasweepError, describe_invalid

SHIPPED = "prices.yaml"


class CostError(ChromasweepError, ValueError):
    pass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class NodePrice(_Strict):
    vcpus: int | None = Field(gt=0, description="The node's vCPUs; null: the count of the machine pricing it.")
    gpus: int = Field(0, ge=0)
    on_demand: float = Field(ge=0, description="USD per hour of the whole node.")
    spot: float | None = Field(None, ge=0, description="USD per hour as a Spot (preemptible) node; null: none.")


class PriceTable(_Strict):
    as_of: str = Field(min_length=1, description="When the prices were read.")
    source: str = Field(min_length=1, description="Where they were read.")
    node_types: dict[str, NodePrice] = Field(min_length=1)


@dataclass(frozen=True)
class Rate:
    """What one trial costs per hour of its wall time, and how that figure was reached."""

    usd_per_hour: float
    basis: str

    @property
    def explained(self) -> str:
        """How a cost at this rate was reached, for whoever shows one."""
        return f"an estimate: each trial's wall time x {self.basis}"


def _read(path: Path, text: str) -> PriceTable:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise CostError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise CostError(f"{path}: expected a mapping with as_of, source and node_types; got {type(raw).__name__}")
    try:
        return PriceTable.model_validate(raw)
    except ValidationError as err:
        raise CostError(f"{path}: {describe_invalid(err, show_input=True)}") from None


@cache
def shipped_prices() -> PriceTable:
    resource = files("costs") / SHIPPED
    return _read(Path(str(resource)), resource.read_text())


def load_prices(price_file: str | Path | None = None) -> PriceTable:
    """The shipped table, with the node types of ``price_file`` (same form, its own as_of and source)
    replacing or adding to it."""
    table = shipped_prices()
    if price_file is None:
        return table
    path = Path(price_file)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise CostError(f"{path}: price file not found (chromasweep.cost.price_file)") from None
    own = _read(path, text)
    return PriceTable(
        as_of=own.as_of,
        source=f"{own.source} ({path}); the rest: {table.source.strip()}",
        node_types={**table.node_types, **own.node_types},
    )


def price_trial(
    table: PriceTable, node_type: str, spot: bool, workers: int, cpus_per_worker: float, gpus_per_worker: float
) -> Rate:
    """The hourly rate of a trial of ``workers`` workers, each booking the given CPUs and GPUs of one
    node of ``node_type``; refuses a node type the table lacks or a worker that does not fit one."""
    node = table.node_types.get(node_type)
    if node is None:
        raise CostError(
            f"chromasweep.cost.node_type: {node_type!r} is not in the price table; "
            f"known: {', '.join(sorted(table.node_types))} (or add it with chromasweep.cost.price_file)"
        )
    price = node.spot if spot else node.on_demand
    if price is None:
        raise CostError(f"chromasweep.cost.spot: the price table has no Spot price for {node_type}")
    if node.vcpus is None:  # this machine, GPUs and all: a worker books its share of its CPUs, at most all
        vcpus = os.cpu_count() or 1
        share = min(1.0, cpus_per_worker / vcpus)
    else:
        vcpus = node.vcpus
        if cpus_per_worker > vcpus:
            raise CostError(
                f"chromasweep.resources.cpus_per_worker {cpus_per_worker:g}: a {node_type} node has {vcpus} vCPUs"
            )
        if gpus_per_worker > node.gpus:
            raise CostError(
                f"chromasweep.resources.gpus_per_worker {gpus_per_worker:g}: a {node_type} node has "
                f"{node.gpus} GPU(s) in the price table"
            )
        share = max(cpus_per_worker / vcpus, gpus_per_worker / node.gpus if node.gpus else 0.0)
    kind = "Spot" if spot else "on-demand"
    basis = (
        f"{workers} worker(s) x {share:.3g} of a {node_type} ({vcpus} vCPU, {node.gpus} GPU) at {price:g} USD/h "
        f"{kind}, list price of {table.as_of}"
    )
    return Rate(workers * share * price, basis)


def usd(amount: float) -> str:
    """An amount as people read it: cents above a dollar cent, four decimals below (a laptop's trials)."""
    return f"{amount:.2f} USD" if amount >= 0.01 or amount == 0 else f"{amount:.4f} USD"
