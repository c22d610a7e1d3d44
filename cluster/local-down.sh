#!/usr/bin/env bash
# Stop the Ray cluster that cluster/local-up.sh started with the same RAY_PORT (default 6390),
# and only that one: other Ray clusters and programs on this machine are left alone.
#
# Its daemons (GCS, raylets, dashboard, monitors) name the cluster's temp folder in their command
# lines, its Ray Client server names the cluster's address; the processes they started (workers,
# job drivers) are found below them in the process tree.
set -euo pipefail
port="${RAY_PORT:-6390}"
temp_dir="${TMPDIR:-/tmp}/ray-local-$port"

snapshot=$(ps -eo pid=,ppid=,args=)  # taken once, so no process of this script is in it
daemons=$(awk -v dir="$temp_dir/" -v port="$port" \
  'index($0, dir) || $0 ~ ("--address=[^ ]*:" port "( |$)") { print $1 }' <<<"$snapshot")
if [ -z "$daemons" ]; then
  echo "no Ray cluster on port $port" >&2
  exit 0
fi
cluster_pids=$(awk -v roots="$daemons" '
  BEGIN { n = split(roots, r); for (i = 1; i <= n; i++) keep[r[i]] = 1 }
  { parent[$1] = $2 }
  END {
    do { grew = 0; for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; grew = 1 } } while (grew)
    for (p in keep) print p
  }' <<<"$snapshot")

# shellcheck disable=SC2086  # one argument per process id
kill -TERM $cluster_pids 2>/dev/null || true
for _ in $(seq 1 20); do
  alive=""
  for pid in $cluster_pids; do kill -0 "$pid" 2>/dev/null && alive="$alive $pid"; done
  [ -z "$alive" ] && break
  sleep 0.5
done
# shellcheck disable=SC2086
[ -n "$alive" ] && kill -KILL $alive 2>/dev/null || true
echo "Ray cluster on port $port stopped ($(wc -w <<<"$cluster_pids") processes)" >&2
