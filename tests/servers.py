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
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(command: list[str], log: Path, ready_url: str, what: str, timeout_s: float = 120, cwd=None) -> Iterator[None]:
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
                raise RuntimeError(f"{what} did not answer within {timeout_s:.0f} s: {log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
