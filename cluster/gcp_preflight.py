"""What a Google Cloud project must allow before `ray up cluster/gcp-gpu.yaml` can work, checked
against what gcloud reports (cluster/gcp-setup.sh gathers it into a folder). Every shortfall is
listed, then the check fails once; nothing here calls Google.

    python cluster/gcp_preflight.py cluster/gcp-gpu.yaml FOLDER

FOLDER holds gcloud's JSON: region.json (`compute regions describe`), project.json (`compute
project-info describe`), oslogin.json (`resource-manager org-policies describe
compute.requireOsLogin --effective`) and roles.txt (the caller's roles on the project, a line each;
absent when the caller may not read the project's IAM policy).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

# `ray up` binds IAM roles to its head's service account: Editor cannot, these can.
IAM_ROLES = {"roles/owner", "roles/resourcemanager.projectIamAdmin"}


def vcpus(machine_type: str) -> int:
    """vCPUs of a predefined machine type, from its name (n2-standard-8 -> 8)."""
    m = re.fullmatch(r"[a-z0-9]+-[a-z]+-(\d+)", machine_type)
    if not m:
        raise ValueError(f"machineType {machine_type}: expected a predefined type such as n2-standard-8")
    return int(m[1])


def needed(config: dict) -> dict[tuple[str, str], int]:
    """(scope, quota metric) -> what the cluster uses at its largest: the head and max_workers workers."""
    need: dict[tuple[str, str], int] = {}
    for name, node in config["available_node_types"].items():
        count = 1 if name == config["head_node_type"] else node["max_workers"]
        machine = node["node_config"]["machineType"]
        family = machine.split("-")[0].upper()
        for scope, metric, amount in [("region", "CPUS", vcpus(machine)), ("region", "IN_USE_ADDRESSES", 1)]:
            need[scope, metric] = need.get((scope, metric), 0) + count * amount
        if family == "N2":
            need["region", "N2_CPUS"] = need.get(("region", "N2_CPUS"), 0) + count * vcpus(machine)
        for gpu in node["node_config"].get("guestAccelerators", []):
            kind = gpu["acceleratorType"].upper().replace("-", "_")
            spot = node["node_config"].get("scheduling", {}).get("provisioningModel") == "SPOT"
            metric = f"{'PREEMPTIBLE_' if spot else ''}{kind}_GPUS"
            for scope, m in (("region", metric), ("project", "GPUS_ALL_REGIONS")):
                need[scope, m] = need.get((scope, m), 0) + count * gpu["acceleratorCount"]
    return need


def problems(config: dict, folder: Path) -> list[str]:
    found = []
    limits = {}
    for scope in ("region", "project"):
        for q in json.loads((folder / f"{scope}.json").read_text()).get("quotas", []):
            limits[scope, q["metric"]] = q["limit"]
    for (scope, metric), amount in sorted(needed(config).items()):
        limit = limits.get((scope, metric), 0)
        if limit < amount:
            where = "all regions" if scope == "project" else config["provider"]["region"]
            found.append(
                f"quota {metric} ({where}) is {limit:g}, the full cluster needs {amount}: "
                "ask for more under IAM & Admin > Quotas"
            )
    policy = json.loads((folder / "oslogin.json").read_text() or "{}")
    if policy.get("booleanPolicy", {}).get("enforced"):
        found.append(
            "the organisation policy compute.requireOsLogin is enforced on this project: `ray up` logs in "
            "with a key in the project's metadata, which OS Login ignores, and would wait for SSH for ever; "
            "ask your organisation's admin for an exception for this project"
        )
    roles = folder / "roles.txt"
    mine = set(roles.read_text().split()) if roles.exists() else set()
    if not mine & IAM_ROLES:
        found.append(
            f"you have none of {', '.join(sorted(IAM_ROLES))} on the project "
            f"({', '.join(sorted(mine)) or 'or may not read its IAM policy'}): `ray up` binds IAM roles to "
            "its head's service account, which Editor may not do"
        )
    return found


def main(config_path: str, folder: str) -> int:
    config = yaml.safe_load(Path(config_path).read_text())
    found = problems(config, Path(folder))
    for line in found:
        print(f"{config_path}: {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
