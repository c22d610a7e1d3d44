"""One driver per sweep: a second ``chromasweep sweep`` with the same name and storage is refused while
the first is alive, and let in once it has exited or died.

In a local folder the lock is an OS file lock (``filelock``, fcntl), which the kernel releases the
moment its process exits or is killed. A bucket has no such lock: there the driver keeps a record
(``driver.json``) whose heartbeat it renews every ``HEARTBEAT_S``; a record silent for ``STALE_S``
belongs to a dead driver. Either way ``driver.json`` says who holds the sweep.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from colorize_core.errors import ChromasweepError
from colorize_core.locations import is_uri
from runner.checkpoint_store import CheckpointStore

OWNER_FILE = "driver.json"
LOCK_FILE = ".driver.lock"
HEARTBEAT_S, STALE_S = 15.0, 60.0


class SweepLocked(ChromasweepError, RuntimeError):
    """Another driver is running this sweep."""


def _owner() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time(), "heartbeat": time.time()}


def _describe(owner: dict | None) -> str:
    if not owner:
        return "another driver"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(owner["started"]))
    return f"driver pid {owner['pid']} on {owner['host']}, started {started}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _alive(owner: dict, stale_s: float) -> bool:
    if time.time() - owner.get("heartbeat", 0.0) > stale_s:
        return False
    return owner.get("host") != socket.gethostname() or _pid_alive(int(owner.get("pid", -1)))


def _refusal(experiment: str, owner: dict | None) -> SweepLocked:
    return SweepLocked(
        f"sweep {experiment} is already running ({_describe(owner)}): two drivers would run its "
        "trials twice. Wait for it, stop it, or give this sweep another name or --storage"
    )


@contextmanager
def sweep_lock(experiment: str, heartbeat_s: float = HEARTBEAT_S, stale_s: float = STALE_S) -> Iterator[None]:
    """Hold sweep ``experiment`` (STORAGE/NAME) for this process, or raise ``SweepLocked``."""
    folder = CheckpointStore(experiment, keep=1)
    if not is_uri(experiment):
        Path(experiment).mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(Path(experiment) / LOCK_FILE))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise _refusal(experiment, folder.read_json(OWNER_FILE)) from None
        try:
            folder.write_text(OWNER_FILE, json.dumps(_owner()))
            yield
        finally:
            lock.release()
        return

    found = folder.read_json(OWNER_FILE)
    if found and _alive(found, stale_s):
        raise _refusal(experiment, found)
    mine = _owner()
    folder.write_text(OWNER_FILE, json.dumps(mine))
    # Two drivers starting together both find no owner; the later write wins, and the other,
    # reading back after a moment, finds it has lost (a bucket has no atomic create to do better).
    time.sleep(1.0)
    if folder.read_json(OWNER_FILE) != mine:
        raise _refusal(experiment, folder.read_json(OWNER_FILE))
    stop = threading.Event()

    def beat():
        while not stop.wait(heartbeat_s):
            folder.write_text(OWNER_FILE, json.dumps({**mine, "heartbeat": time.time()}))

    thread = threading.Thread(target=beat, name="sweep-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        # Marked as ended rather than deleted: the record of who ran it last stays.
        folder.write_text(OWNER_FILE, json.dumps({**mine, "heartbeat": 0.0}))
