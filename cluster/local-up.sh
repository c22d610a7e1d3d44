#!/usr/bin/env bash
# Start a real multi-node Ray cluster on this machine: a head node that runs no training and
# N worker nodes with their own CPUs, each a separate raylet, like machines of a cloud cluster.
#
#   cluster/local-up.sh [WORKER_NODES=2] [CPUS_PER_NODE=1]
#   eval "$(cluster/local-up.sh --env)"   # only print the variables clients need
#
# RAY_PORT (default 6390) and RAY_DASHBOARD_PORT (default 8265) pick the ports, so that several
# such clusters can live side by side. Each keeps its files in its own temp folder
# (${TMPDIR:-/tmp}/ray-local-RAY_PORT), by which cluster/local-down.sh finds its processes, and
# each node in a folder of its own inside it, as on separate machines: nodes that shared one would
# delete each other's copies of a job's working directory.
#
# Ray 2.60 authenticates every connection with a token: the same token file (~/.ray/auth_token)
# and RAY_AUTH_MODE=token must be seen by every node and every client (ray.init, ray job submit).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ray_bin="${RAY_BIN:-$here/../.venv/bin/ray}"
[ -x "$ray_bin" ] || ray_bin="$(command -v ray)" || { echo "ray not found: run 'make install' first (it builds .venv)" >&2; exit 1; }
port="${RAY_PORT:-6390}"
dashboard_port="${RAY_DASHBOARD_PORT:-8265}"
address="127.0.0.1:$port"
temp_dir="${TMPDIR:-/tmp}/ray-local-$port"

env_lines() {
  echo "export RAY_AUTH_MODE=token"
  echo "export RAY_ADDRESS=$address"
  echo "export RAY_API_SERVER_ADDRESS=http://127.0.0.1:$dashboard_port"
}
if [ "${1:-}" = "--env" ]; then env_lines; exit 0; fi

workers="${1:-2}"
cpus="${2:-1}"
export RAY_AUTH_MODE=token
"$ray_bin" get-auth-token --generate >/dev/null

# The dashboard and the nodes' addresses are on loopback: this is a cluster for one machine.
# Each node's dashboard agent (which also runs job drivers) and the Ray Client server get ports
# of their own, derived from RAY_PORT: on one machine, Ray's fixed defaults (52365, 10001) would
# collide between the nodes, and with any other Ray running here.
agent_port() { echo $((46000 + port + 10 * $1)); }
# The head, like cluster/gcp-gpu.yaml's, trains nothing and keeps the drivers of multi-worker trials.
"$ray_bin" start --head --node-ip-address=127.0.0.1 --port="$port" --num-cpus=0 --temp-dir="$temp_dir/head" \
  --resources='{"chromasweep_trial_driver": 1}' \
  --dashboard-host=127.0.0.1 --dashboard-port="$dashboard_port" --dashboard-agent-listen-port="$(agent_port 0)" \
  --ray-client-server-port=$((46000 + port + 5)) --disable-usage-stats >/dev/null
for i in $(seq 1 "$workers"); do
  "$ray_bin" start --address="$address" --node-ip-address=127.0.0.1 --num-cpus="$cpus" --temp-dir="$temp_dir/worker-$i" \
    --dashboard-agent-listen-port="$(agent_port "$i")" \
    --resources="{\"local_worker_node_$i\": 1}" --disable-usage-stats >/dev/null
done

# Wait until every node has joined.
for _ in $(seq 1 60); do
  alive=$("$ray_bin" status --address="$address" 2>/dev/null | grep -c "node_" || true)
  [ "$alive" -ge $((workers + 1)) ] && break
  sleep 1
done
echo "Ray cluster up: head + $workers worker nodes ($cpus CPU each) at $address" >&2
echo "Use it from a shell with:" >&2
env_lines
