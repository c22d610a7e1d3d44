#!/usr/bin/env bash
# Stop every Ray node that cluster/local-up.sh started on this machine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ray_bin="${RAY_BIN:-$here/../.venv/bin/ray}"
[ -x "$ray_bin" ] || ray_bin="$(command -v ray)"
"$ray_bin" stop --force >/dev/null 2>&1 || true
echo "Ray cluster stopped" >&2
