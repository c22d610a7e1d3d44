#!/usr/bin/env bash
# Once per Google Cloud project, before the first `ray up cluster/gcp-gpu.yaml`: what the cluster
# needs and what outlives it. Safe to run again: what exists is left as it is.
#
#   cluster/gcp-setup.sh             # needs gcloud, logged in with owner/editor rights on the project
#   cluster/gcp-setup.sh --dry-run   # print the gcloud commands, run nothing
#
# From the metadata block of cluster/gcp-gpu.yaml (PROJECT, REGION, ZONE, BUCKET) it makes:
#   - gs://BUCKET in REGION, uniform access, public access prevented: checkpoints, sweeps, MLflow artifacts;
#   - the VPC network "chromasweep" (custom mode: no default rules) with one subnet, 10.42.0.0/24,
#     in REGION, and two firewall rules, the only ones: SSH (tcp:22) from outside (SSH_SOURCE_RANGES,
#     default 0.0.0.0/0: set it to your own address range to narrow it further), and anything between
#     the cluster's own nodes. No other port of any node can be reached from outside;
#   - the service account chromasweep-worker, the GPU workers' identity, allowed to read and write
#     objects of that bucket and nothing else;
#   - the 10 GB disk chromasweep-mlflow in ZONE for MLflow's store, with daily snapshots kept 14 days.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
config="$here/gcp-gpu.yaml"
dry_run=false
[ "${1:-}" = "--dry-run" ] && dry_run=true
subnet_range="10.42.0.0/24"
ssh_sources="${SSH_SOURCE_RANGES:-0.0.0.0/0}"

py="$here/../.venv/bin/python"
[ -x "$py" ] || py=python3
# The four values, and a refusal when the lines spelled out from them do not match.
values=$("$py" - "$config" <<'PY'
import shlex, sys, yaml

m = yaml.safe_load(open(sys.argv[1]))["metadata"]
p, r, z, b = m["project"], m["region"], m["zone"], m["bucket"]
expected = {
    "subnetwork": f"projects/{p}/regions/{r}/subnetworks/chromasweep",
    "worker_service_account": f"chromasweep-worker@{p}.iam.gserviceaccount.com",
    "mlflow_disk": f"projects/{p}/zones/{z}/disks/chromasweep-mlflow",
    "boot_disk_type": f"zones/{z}/diskTypes/pd-balanced",
}
wrong = [f"  {k}: {v}" for k, v in expected.items() if m.get(k) != v]
if not z.startswith(r + "-"):
    sys.exit(f"{sys.argv[1]}: zone {z} is not in region {r}")
if wrong:
    sys.exit(f"{sys.argv[1]}: the metadata lines spelled out from project/region/zone must read:\n" + "\n".join(wrong))
for name, value in (("project", p), ("region", r), ("zone", z), ("bucket", b)):
    print(f"{name}={shlex.quote(str(value))}")
PY
)
eval "$values"
if ! $dry_run && [[ "$project$bucket" == *YOUR_* ]]; then
  echo "$config: fill in the metadata block (project, region, zone, bucket) first" >&2
  exit 1
fi
worker_account="chromasweep-worker@$project.iam.gserviceaccount.com"

run() {  # run a gcloud command, or print it as a shell would read it
  if $dry_run; then printf '%q ' "$@"; echo; else echo "+ $*" >&2; "$@"; fi
}
exists() {  # does the thing this describe command names exist already?
  ! $dry_run && "$@" >/dev/null 2>&1
}

run gcloud services enable compute.googleapis.com iam.googleapis.com cloudresourcemanager.googleapis.com \
  storage.googleapis.com --project "$project"

exists gcloud storage buckets describe "gs://$bucket" --project "$project" ||
  run gcloud storage buckets create "gs://$bucket" --project "$project" --location "$region" \
    --uniform-bucket-level-access --public-access-prevention

exists gcloud compute networks describe chromasweep --project "$project" ||
  run gcloud compute networks create chromasweep --project "$project" --subnet-mode custom
exists gcloud compute networks subnets describe chromasweep --project "$project" --region "$region" ||
  run gcloud compute networks subnets create chromasweep --project "$project" --network chromasweep \
    --region "$region" --range "$subnet_range"
exists gcloud compute firewall-rules describe chromasweep-allow-ssh --project "$project" ||
  run gcloud compute firewall-rules create chromasweep-allow-ssh --project "$project" --network chromasweep \
    --direction INGRESS --allow tcp:22 --source-ranges "$ssh_sources"
exists gcloud compute firewall-rules describe chromasweep-allow-internal --project "$project" ||
  run gcloud compute firewall-rules create chromasweep-allow-internal --project "$project" --network chromasweep \
    --direction INGRESS --allow tcp,udp,icmp --source-ranges "$subnet_range"

exists gcloud iam service-accounts describe "$worker_account" --project "$project" ||
  run gcloud iam service-accounts create chromasweep-worker --project "$project" \
    --display-name "chromasweep GPU workers"
run gcloud storage buckets add-iam-policy-binding "gs://$bucket" --project "$project" \
  --member "serviceAccount:$worker_account" --role roles/storage.objectAdmin

exists gcloud compute disks describe chromasweep-mlflow --project "$project" --zone "$zone" ||
  run gcloud compute disks create chromasweep-mlflow --project "$project" --zone "$zone" \
    --size 10GB --type pd-balanced
exists gcloud compute resource-policies describe chromasweep-mlflow-daily --project "$project" --region "$region" ||
  run gcloud compute resource-policies create snapshot-schedule chromasweep-mlflow-daily --project "$project" \
    --region "$region" --daily-schedule --start-time 03:00 --max-retention-days 14
if $dry_run || ! gcloud compute disks describe chromasweep-mlflow --project "$project" --zone "$zone" \
    --format 'value(resourcePolicies)' | grep -q chromasweep-mlflow-daily; then
  run gcloud compute disks add-resource-policies chromasweep-mlflow --project "$project" --zone "$zone" \
    --resource-policies chromasweep-mlflow-daily
fi

$dry_run || echo "ready: ray up $config" >&2
