#!/usr/bin/env bash
# Once per Google Cloud project, before the first `ray up cluster/gcp-gpu.yaml`: what the cluster
# needs and what outlives it. Safe to run again: what exists is left as it is.
#
#   cluster/gcp-setup.sh             # needs gcloud, logged in as Owner of the project, or Editor plus
#                                    # Project IAM Admin: `ray up` binds IAM roles, which Editor may not
#   cluster/gcp-setup.sh --dry-run   # print the gcloud commands, run nothing
#
# First it checks what the project allows (cluster/gcp_preflight.py): the quotas the full cluster
# needs (vCPUs 72, N2 CPUs 8, Spot L4 GPUs 8, GPUs in all regions 8, external IPs 9; a new project
# has 0 GPUs), an organisation policy that enforces OS Login (`ray up` would wait for SSH for ever)
# and your IAM role. It lists every shortfall and stops before it creates anything.
#
# From the metadata block of cluster/gcp-gpu.yaml (PROJECT, REGION, ZONE, BUCKET) it makes:
#   - gs://BUCKET in REGION, uniform access, public access prevented: checkpoints, sweeps, MLflow artifacts;
#   - the VPC network "chromasweep" (custom mode: no default rules) with one subnet, 10.42.0.0/24,
#     in REGION, and two firewall rules, the only ones: SSH (tcp:22) from your own address only
#     (found by asking Google's DNS which address asks it; SSH_SOURCE_RANGES=RANGE[,RANGE] to name
#     others, such as where `ray up` will run if not here), and anything between the cluster's own
#     nodes. No other port of any node can be reached from outside. Run again, it moves the SSH rule
#     to the range of this run;
#   - the service account chromasweep-worker, the GPU workers' identity, allowed to read and write
#     objects of that bucket and nothing else; and the head's account that `ray up` fills with its
#     own roles (ray-autoscaler-sa-v1), made here so that it too may read the bucket's metadata.
#     Both get roles/storage.legacyBucketReader on the bucket: pyarrow reads the bucket itself
#     (storage.buckets.get) when it first writes under gs://BUCKET/sweeps, which
#     roles/storage.objectAdmin does not allow;
#   - the 10 GB disk chromasweep-mlflow in ZONE for MLflow's store, with daily snapshots kept 14 days.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
config="$here/gcp-gpu.yaml"
dry_run=false
[ "${1:-}" = "--dry-run" ] && dry_run=true
subnet_range="10.42.0.0/24"

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
head_account_id="ray-autoscaler-sa-v1"  # Ray's own name for it (ray.autoscaler._private.gcp.config)
head_account="$head_account_id@$project.iam.gserviceaccount.com"

if [ -n "${SSH_SOURCE_RANGES:-}" ]; then
  ssh_sources="$SSH_SOURCE_RANGES"
elif $dry_run; then
  ssh_sources="YOUR_ADDRESS/32"
else
  address=$(dig +short -4 TXT o-o.myaddr.l.google.com @ns1.google.com 2>/dev/null | tr -d '"' || true)
  if ! [[ "$address" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
    echo "cannot find this machine's public address (dig missing or no answer): set SSH_SOURCE_RANGES=YOUR.ADDRESS/32" >&2
    exit 1
  fi
  ssh_sources="$address/32"
fi
[[ "$ssh_sources" == *0.0.0.0/0* ]] && echo "SSH_SOURCE_RANGES=$ssh_sources opens SSH to the whole internet" >&2

run() {  # run a gcloud command, or print it as a shell would read it
  if $dry_run; then printf '%q ' "$@"; echo; else echo "+ $*" >&2; "$@"; fi
}
exists() {  # does the thing this describe command names exist already?
  ! $dry_run && "$@" >/dev/null 2>&1
}

run gcloud services enable compute.googleapis.com iam.googleapis.com cloudresourcemanager.googleapis.com \
  storage.googleapis.com --project "$project"

# What the project allows, before anything is made: asked of the APIs just enabled (a new project
# has Compute Engine's off, and its describe would fail).
if ! $dry_run; then
  facts=$(mktemp -d)
  trap 'rm -rf "$facts"' EXIT
  gcloud compute regions describe "$region" --project "$project" --format json > "$facts/region.json"
  gcloud compute project-info describe --project "$project" --format json > "$facts/project.json"
  gcloud resource-manager org-policies describe compute.requireOsLogin --project "$project" --effective \
    --format json > "$facts/oslogin.json" 2>/dev/null || echo '{}' > "$facts/oslogin.json"
  gcloud projects get-iam-policy "$project" --flatten 'bindings[].members' \
    --filter "bindings.members:$(gcloud config get-value account 2>/dev/null)" --format 'value(bindings.role)' \
    > "$facts/roles.txt" 2>/dev/null || rm -f "$facts/roles.txt"
  "$py" "$here/gcp_preflight.py" "$config" "$facts" || { echo "nothing was made: fix the above first" >&2; exit 1; }
fi

exists gcloud storage buckets describe "gs://$bucket" --project "$project" ||
  run gcloud storage buckets create "gs://$bucket" --project "$project" --location "$region" \
    --uniform-bucket-level-access --public-access-prevention

exists gcloud compute networks describe chromasweep --project "$project" ||
  run gcloud compute networks create chromasweep --project "$project" --subnet-mode custom
exists gcloud compute networks subnets describe chromasweep --project "$project" --region "$region" ||
  run gcloud compute networks subnets create chromasweep --project "$project" --network chromasweep \
    --region "$region" --range "$subnet_range"
if exists gcloud compute firewall-rules describe chromasweep-allow-ssh --project "$project"; then
  run gcloud compute firewall-rules update chromasweep-allow-ssh --project "$project" --source-ranges "$ssh_sources"
else
  run gcloud compute firewall-rules create chromasweep-allow-ssh --project "$project" --network chromasweep \
    --direction INGRESS --allow tcp:22 --source-ranges "$ssh_sources"
fi
exists gcloud compute firewall-rules describe chromasweep-allow-internal --project "$project" ||
  run gcloud compute firewall-rules create chromasweep-allow-internal --project "$project" --network chromasweep \
    --direction INGRESS --allow tcp,udp,icmp --source-ranges "$subnet_range"

exists gcloud iam service-accounts describe "$worker_account" --project "$project" ||
  run gcloud iam service-accounts create chromasweep-worker --project "$project" \
    --display-name "chromasweep GPU workers"
run gcloud storage buckets add-iam-policy-binding "gs://$bucket" --project "$project" \
  --member "serviceAccount:$worker_account" --role roles/storage.objectAdmin
exists gcloud iam service-accounts describe "$head_account" --project "$project" ||
  run gcloud iam service-accounts create "$head_account_id" --project "$project" \
    --display-name "Ray Autoscaler Service Account (v1)"
for account in "$worker_account" "$head_account"; do
  run gcloud storage buckets add-iam-policy-binding "gs://$bucket" --project "$project" \
    --member "serviceAccount:$account" --role roles/storage.legacyBucketReader
done

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
