#!/usr/bin/env bash
# Start a real multi-node Ray cluster on this machine: a head node that runs no training and
# N worker nodes with their own CPUs, each a separate raylet, like machines of a cloud cluster.
#
#   cluster/local-up.sh [WORKER_NODES=2] [CPUS_PER_NODE=1]
#   eval "$(cluster/local-up.sh --env)"   # only print the variables clients need
#
# Ray 2.60 authenticates every connection with a token: the same token file (~/.ray/auth_token)
# and RAY_AUTH_MODE=token must be seen by every node and every client (ray.init, ray job submit).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ray_bin="${RAY_BIN:-$here/../.venv/bin/ray}"
[ -x "$ray_bin" ] || ray_bin="$(command -v ray)" || { echo "ray not found: run 'make install' first" >&2; exit 1; }
port="${RAY_PORT:-6390}"
dashboard_port="${RAY_DASHBOARD_PORT:-8265}"
address="127.0.0.1:$port"

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

# Everything listens on loopback only: this is a cluster for one machine.
"$ray_bin" start --head --node-ip-address=127.0.0.1 --port="$port" --num-cpus=0 \
  --dashboard-host=127.0.0.1 --dashboard-port="$dashboard_port" --disable-usage-stats >/dev/null
for i in $(seq 1 "$workers"); do
  "$ray_bin" start --address="$address" --node-ip-address=127.0.0.1 --num-cpus="$cpus" \
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
