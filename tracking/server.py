"""``chromasweep ui``: a real ``mlflow server`` for the local store, on loopback only."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from tracking.store import ARTIFACTS_DIR, TrackingUnavailable, resolve_uri, sqlite_path


def server_command(tracking_uri: str | None = None, host: str = "127.0.0.1", port: int = 5000) -> list[str]:
    uri = resolve_uri(tracking_uri)
    db = sqlite_path(uri)
    if db is None:
        raise TrackingUnavailable(f"{uri} is a tracking server already: open it in a browser instead")
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    return [
        str(mlflow_bin) if mlflow_bin.exists() else shutil.which("mlflow") or "mlflow",
        "server",
        "--backend-store-uri",
        uri,
        # New experiments made in the UI put artifacts where ours do: beside the sqlite file.
        "--artifacts-destination",
        str(db.parent / ARTIFACTS_DIR),
        "--host",
        host,
        "--port",
        str(port),
        # The server refuses other Host headers: a page elsewhere cannot rebind a name to it.
        "--allowed-hosts",
        f"{host}:{port},localhost:{port}",
        "--workers",
        "1",
    ]
