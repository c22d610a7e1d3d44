"""What ties a recorded benchmark figure to the code and machine that produced it: the commit (and
whether the tree had uncommitted changes), the exact command, the load while it ran, and, when
RESULTS.md is rendered, whether a file the benchmark depends on has changed since that commit.

A benchmark depends on its own module, on ``benchmarks/common.py`` and on every module of the
project it imports directly (read from its source, so the list cannot drift from the code).
"""

from __future__ import annotations

import ast
import os
import shlex
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _installed() -> list[str]:
    """The project's packages, as pyproject.toml lists them for installation."""
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    return [p.rstrip("*") for p in find["include"]]


PACKAGES = (*_installed(), "benchmarks")


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_state(root: Path = ROOT) -> dict:
    """The commit checked out at ``root`` and whether its tree differs from it (uncommitted changes)."""
    commit = _git(root, "rev-parse", "HEAD")
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def command_line(argv: list[str] | None = None) -> str:
    """The command as typed to run this process (``python -m benchmarks ...``)."""
    args = sys.argv[1:] if argv is None else argv
    return shlex.join(["python", "-m", "benchmarks", *args])


def dependencies(name: str, root: Path = ROOT) -> list[str]:
    """Files benchmark ``name`` depends on, relative to ``root``: its module, ``benchmarks/common.py``
    and the project's modules it imports directly."""
    source = root / "benchmarks" / f"{name}.py"
    found = {f"benchmarks/{name}.py", "benchmarks/common.py"}
    try:
        tree = ast.parse(source.read_text())
    except (OSError, SyntaxError):
        return sorted(found)
    for node in ast.walk(tree):
        modules = []
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for module in modules:
            if module.split(".")[0] not in PACKAGES:
                continue
            path = Path(*module.split("."))
            for candidate in (path.with_suffix(".py"), path / "__init__.py"):
                if (root / candidate).is_file():
                    found.add(candidate.as_posix())
                    break
    return sorted(found)


def changed_since(commit: str, files: list[str], root: Path = ROOT) -> list[str] | None:
    """Which of ``files`` differ now (committed since, or uncommitted) from ``commit``; None when git
    cannot say (no repository, or a commit it does not have)."""
    out = _git(root, "diff", "--name-only", commit, "--", *files)
    return None if out is None else [line for line in out.splitlines() if line]


class LoadWatch:
    """The 1-minute load average sampled every ``every_s`` seconds while a benchmark runs."""

    def __init__(self, every_s: float = 5.0):
        self.every_s, self.samples = every_s, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            try:
                self.samples.append(os.getloadavg()[0])
            except OSError:
                return
            if self._stop.wait(self.every_s):
                return

    def __enter__(self) -> LoadWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> str:
        if not self.samples:
            return "?"
        mean = sum(self.samples) / len(self.samples)
        return f"mean {mean:.2f}, max {max(self.samples):.2f} ({len(self.samples)} samples)"
