"""``data prepare SRC OUT --address``: one Ray task a shard, across every node of the cluster.

The driver catalogs SRC and plans the shards exactly as a prepare in one process does
(``colorize_core.data.shards.plan_shards``), so the same input gives the same shards either way. Each task
checks and encodes its shard's images and writes the shard whole, then its record; a prepare killed
and run again hands out only the shards without a record. ``meta.json`` is written last, by the driver.
Before any shard, one probe task on each node checks that it can read SRC and write OUT: a path that
only the driver's machine has is refused, naming the node.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
from tqdm import tqdm

from colorize_core.data.shards import (
    PROGRESS_DIR,
    PreparedMeta,
    ShardPlan,
    ShardRecord,
    finish,
    located,
    open_catalog,
    plan_shards,
    write_shard,
)
from colorize_core.data.sources import ImageItem
from colorize_core.errors import ChromasweepError
from runner.ray_train import connect

THREADS_PER_TASK = 4  # a task waits on reads (a bucket's latency) as much as it decodes


class UnreachableFromNodes(ChromasweepError):
    """SRC or OUT is not there for some node of the cluster."""


def _probe(item: ImageItem, out: str) -> str | None:
    """On one node: read one image of SRC and write (then remove) a file in OUT; what failed, or None."""
    try:
        item.path.read_bytes()
    except OSError as err:
        return f"cannot read {item.path} ({err.strerror or err})"
    try:
        fs, path = located(out, f"{PROGRESS_DIR}/probe-{uuid.uuid4().hex}")
        fs.create_dir(path.rsplit("/", 1)[0])
        with fs.open_output_stream(path) as probe:
            probe.write(b"")
        fs.delete_file(path)
    except OSError as err:
        return f"cannot write to {out} ({err})"
    return None


def _check_every_node_reaches(item: ImageItem, out: str) -> None:
    probe = ray.remote(num_cpus=0)(_probe)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    answers = ray.get(
        [
            probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(item, out)
            for n in nodes
        ]
    )
    failed = [
        f"node {n['NodeManagerAddress']} ({n['NodeID'][:8]}): {a}" for n, a in zip(nodes, answers, strict=True) if a
    ]
    if failed:
        raise UnreachableFromNodes(
            "every node must reach SRC and OUT (a bucket, or a folder every node mounts): " + "; ".join(failed)
        )


def prepare_on_ray(
    source: str | Path,
    out: str,
    address: str,
    val_fraction: float = 0.1,
    seed: int = 0,
    images_per_shard: int | None = None,
    progress: bool = True,
) -> PreparedMeta:
    """``colorize_core.data.shards.prepare``, its shards written by Ray tasks on the cluster at ``address``."""
    cat = open_catalog(source, out, val_fraction, seed)
    connect(address)
    _check_every_node_reaches(cat.train[0], out)
    plans = [
        plan for split, items in (("train", cat.train), ("val", cat.val)) if items
        for plan in plan_shards(split, items, images_per_shard)
    ]  # fmt: skip
    write = ray.remote(num_cpus=1, max_retries=2)(write_shard)
    pending = {write.remote(plan, out, THREADS_PER_TASK): plan for plan in plans}
    done: dict[str, ShardRecord] = {}
    with tqdm(total=sum(len(p.items) for p in plans), unit="img", disable=not progress) as bar:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            plan: ShardPlan = pending.pop(ready[0])
            done[plan.name] = ray.get(ready[0])
            bar.update(len(plan.items))
    records: dict[str, list[tuple[ShardPlan, ShardRecord]]] = {}
    for plan in plans:
        records.setdefault(plan.split, []).append((plan, done[plan.name]))
    return finish(source, cat, records, out, progress)
