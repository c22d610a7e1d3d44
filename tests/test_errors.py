"""Every error chromasweep raises on purpose is a ChromasweepError: the command line catches that one
type and prints its message as one line."""

import importlib
import inspect
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from colorize_core.errors import ChromasweepError

SETUPTOOLS = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["tool"]["setuptools"]
PACKAGES = [p.rstrip("*") for p in SETUPTOOLS["packages"]["find"]["include"]]  # the project's, as pip installs them


def defined_exceptions():
    for package in PACKAGES:
        for info in pkgutil.walk_packages(importlib.import_module(package).__path__, f"{package}."):
            module = importlib.import_module(info.name)
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, BaseException) and cls.__module__ == info.name:
                    yield cls


def test_every_error_class_of_ours_belongs_to_the_one_family():
    found = list(defined_exceptions())
    assert len(found) >= 15  # the walk did find them
    assert [f"{c.__module__}.{c.__qualname__}" for c in found if not issubclass(c, ChromasweepError)] == []


@pytest.mark.parametrize("name", ["ConfigError", "DatasetError", "SpecError"])
def test_a_family_error_keeps_its_builtin_base(name):
    from colorize_core.config import ConfigError
    from colorize_core.data.sources import DatasetError
    from sweeps.spec import SpecError

    assert issubclass(
        {"ConfigError": ConfigError, "DatasetError": DatasetError, "SpecError": SpecError}[name], ValueError
    )


def test_an_error_no_command_handles_is_still_one_line(tmp_path):
    """The root command turns any ChromasweepError into 'Error: <message>' and exit status 1."""
    script = (
        "import click, sys\n"
        "from chromasweep.cli import cli\n"
        "from colorize_core.errors import ChromasweepError\n"
        "@cli.command('boom')\n"
        "def boom():\n"
        "    raise ChromasweepError('x.yaml: key: expected a number')\n"
        "cli(['boom'])\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1 and proc.stderr.strip() == "Error: x.yaml: key: expected a number", proc.stderr


def test_a_config_with_several_mistakes_is_refused_once_naming_each(tmp_path):
    from colorize_core.config import ConfigError, load_config

    path = tmp_path / "my.yaml"
    path.write_text("epochs: 0\nloss: {adversarial_weight: -1, adversarial_wait: 2}\n")
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: ") and message.count("; ") == 2
    assert "epochs: Input should be greater than 0 (got 0)" in message
    assert "loss.adversarial_weight: Input should be greater than or equal to 0 (got -1)" in message
    assert "loss.adversarial_wait: unknown key (got 2)" in message


def test_an_address_where_no_ray_cluster_answers_is_one_line_at_once(tmp_path):
    """Ray itself retries an address where nothing listens for minutes; the command says so in seconds."""
    from servers import free_port

    address = f"127.0.0.1:{free_port()}"
    (tmp_path / "spec.yaml").write_text(
        "name: nowhere\nmethod: random\nmetric: {name: val_psnr, goal: maximize}\n"
        "parameters:\n  loss.adversarial_weight: {values: [0.1]}\nrun_cap: 1\n"
    )
    for command in (["sweep", "spec.yaml", "--storage", "st"], ["train", "--out-dir", "out"]):
        proc = subprocess.run(
            [sys.executable, "-m", "chromasweep.cli", *command, "--address", address],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert proc.stderr.strip().splitlines()[-1] == (
            f"Error: {'spec.yaml: ' if command[0] == 'sweep' else ''}--address {address}: nothing answers there "
            f"(Connection refused); is the cluster up? (`ray status --address {address}`)"
        )
        assert "sweep nowhere" not in proc.stdout  # refused before the live table
