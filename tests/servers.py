"""Servers the tests start as their users would (an MLflow server, a GCS emulator): a process of its
own with its output in a log file, ready once its URL answers, stopped on leaving. A file, not a
pipe: nobody reads a pipe while the server runs, and a full one (an access log under load, the
emulator's stderr) blocks the server."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(
    command: list[str], log: Path, ready_url: str, what: str, timeout_s: float = 120, cwd=None
) -> Iterator[None]:
    """Run ``command`` (``what``, for messages) until the context ends, once ``ready_url`` answers."""
    with log.open("ab") as out:
        server = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(ready_url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None:
                raise RuntimeError(f"{what} exited {server.returncode}: {log.read_text(errors='replace')[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{what} did not answer within {timeout_s:.0f} s: {log.read_text(errors='replace')[-3000:]}"
                )
            time.sleep(0.5)
        yield
    finally:
        _stop(server, ready_url)


def _stop(server: subprocess.Popen, url: str) -> None:
    """Stop the whole process group, and return only once nothing answers on the server's port.
    The leader may be a launcher (``chromasweep ui``) that exits at once while the server it started
    is still shutting down and still answering: a test that goes on to an outage must not reach it."""
    address = urllib.parse.urlsplit(url)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)
    _silent_within(address.hostname, address.port, 30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)  # whatever outlived a graceful stop
    if not _silent_within(address.hostname, address.port, 10):
        raise RuntimeError(f"{url} still answers after its server was killed")


def _silent_within(host: str, port: int, seconds: float) -> bool:
    """Whether nothing answers on ``host:port`` within ``seconds``."""
    deadline = time.monotonic() + seconds
    while _answers(host, port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _answers(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


@dataclass(frozen=True)
class RayHead:
    """A running Ray head, and how a command joins it."""

    address: str

    def args(self) -> list[str]:
        return ["--address", self.address]

    def env(self) -> dict[str, str]:
        """This process's environment as it is now, as a client of the head needs it: Ray 2.60
        authenticates every connection with the token in ~/.ray/auth_token, in RAY_AUTH_MODE=token."""
        return {**os.environ, "RAY_AUTH_MODE": "token"}


@contextlib.contextmanager
def ray_head(ray_bin: str, log: Path, cpus: int) -> Iterator[RayHead]:
    """A one-node Ray cluster until the context ends. Its files, and the address file by which a bare
    ``ray.init()`` finds a running cluster, lie in a temp folder of its own, not /tmp/ray: only a
    client given its address joins it. Its ports are all chosen free, so a Ray that a test starts
    for itself meanwhile collides with none of them."""
    temp = tempfile.mkdtemp(prefix="rayhead-", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    port = free_port()
    # Its workers inherit this environment: not the MLflow store of whichever test started it.
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"} | {"RAY_AUTH_MODE": "token"}
    subprocess.run([ray_bin, "get-auth-token", "--generate"], env=env, capture_output=True, check=True)
    ports = (
        "dashboard-agent-listen-port",
        "dashboard-agent-grpc-port",
        "ray-client-server-port",
        "metrics-export-port",
    )
    command = [
        ray_bin, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}", f"--num-cpus={cpus}",
        f"--temp-dir={temp}", "--include-dashboard=false", "--disable-usage-stats",
        *[f"--{name}={free_port()}" for name in ports],
    ]  # fmt: skip
    with log.open("ab") as out:
        head = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while subprocess.run([ray_bin, "status", f"--address={address}"], env=env, capture_output=True).returncode:
            if head.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Ray head did not start: {log.read_text(errors='replace')[-3000:]}")
            time.sleep(1)
        yield RayHead(address)
    finally:
        # The head's whole process group (its GCS, raylet and their workers): a graceful stop first,
        # then a kill, since `ray start --block` can outlive its children's SIGTERM for minutes.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)
        head.wait(timeout=30)
        if not _silent_within("127.0.0.1", port, 30):
            raise RuntimeError(f"the Ray head at 127.0.0.1:{port} still answers after it was killed")
        shutil.rmtree(temp, ignore_errors=True)
