"""Servers the tests start as their users would (an MLflow server, a GCS emulator): a process of its
own with its output in a log file, ready once its URL answers, stopped on leaving. A file, not a
pipe: nobody reads a pipe while the server runs, and a full one (an access log under load, the
emulator's stderr) blocks the server."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
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
