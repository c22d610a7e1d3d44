"""The READMEs as a newcomer reads them: every `chromasweep` command they show exists with the flags
they show, and the command table lists every command and flag the CLI has."""

import re
import shlex
from pathlib import Path

import click
import pytest

from chromasweep.cli import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "cluster" / "README.md"]
# Where `chromasweep` is the command run: a line's start, after a prompt, a venv path or `ray job submit ... --`.
COMMAND = re.compile(r"(?:^|\$ |\.venv/bin/|-- |`)chromasweep (.+)")


def code_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the `chromasweep ...` commands in fenced blocks, table cells and inline code."""
    found, fenced, pending = [], False, ""
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            line = pending + line
            pending = line[:-1] + " " if line.endswith("\\") else ""
            if pending:
                continue
            match = COMMAND.search(line.strip())
            if match:
                found.append((n, match[1]))
        else:
            for span in re.findall(r"`chromasweep ([^`]+)`", line.replace("\\|", "|")):
                found.append((n, span))
    return found


def leaf(args: list[str]) -> tuple[click.Command, list[str], list[str]]:
    """The command the words name, the words that named it, and the rest."""
    command, path = cli, []
    while isinstance(command, click.Group) and args:
        if args[0] in flags_of(command):  # the group's own flag, such as chromasweep --verbose
            args.pop(0)
        elif args[0] in command.commands:
            path.append(args[0])
            command = command.commands[args.pop(0)]
        else:
            break
    return command, path, args


def flags_of(command: click.Command) -> set[str]:
    return {o for p in command.params if isinstance(p, click.Option) for o in (*p.opts, *p.secondary_opts)}


def shown(text: str) -> list[str]:
    """The words of a documented command; a table's `[--flag VALUE]` and `A|B` placeholders count as written."""
    text = text.split(" #")[0].replace("[", " ").replace("]", " ").replace("...", " ")
    return shlex.split(text, posix=True)


def every_command(group: click.Group = cli, path: tuple[str, ...] = ()) -> dict[str, click.Command]:
    out = {}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out |= every_command(command, (*path, name))
        else:
            out[" ".join((*path, name))] = command
    return out


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_documented_command_and_flag_exists(doc):
    problems = []
    for n, text in code_lines(doc):
        command, path, rest = leaf(shown(text))
        if not path or isinstance(command, click.Group):
            problems.append(f"{doc.name}:{n}: `chromasweep {text}`: no such command")
            continue
        for word in rest:
            flag = word.split("=")[0]
            if flag.startswith("-") and flag != "-" and flag not in flags_of(command):
                problems.append(f"{doc.name}:{n}: `chromasweep {' '.join(path)}` has no option {flag}")
    assert not problems, "\n".join(problems)


def test_the_command_table_has_a_row_for_every_command_naming_each_of_its_flags():
    rows = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        match = re.match(r"\| `chromasweep ([^`]+)` \|", line.replace("\\|", "|"))
        if match:
            _, path, rest = leaf(shown(match[1]))
            # A command may have several rows (evaluate --model, evaluate --sweep): their flags together.
            rows.setdefault(" ".join(path), set()).update(w.split("=")[0] for w in rest if w.startswith("-"))
    problems = []
    for name, command in every_command().items():
        if name not in rows:
            problems.append(f"README.md's command table has no row for `chromasweep {name}`")
            continue
        for param in command.params:
            if isinstance(param, click.Option) and "--help" not in param.opts and not set(param.opts) & rows[name]:
                problems.append(f"`chromasweep {name}`'s row lacks {param.opts[-1]}")
    assert not problems, "\n".join(problems)


def test_every_sweep_spec_the_readme_shows_is_accepted(tmp_path):
    from sweeps.spec import load_spec

    text = (ROOT / "README.md").read_text()
    specs = [block for block in re.findall(r"```yaml\n(.*?)```", text, re.S) if re.search(r"^method:", block, re.M)]
    assert specs, "README.md shows no sweep spec"
    for i, block in enumerate(specs):
        # A relative chromasweep.base means what it would beside the shipped specs.
        block = re.sub(
            r"^(\s+base: )(\.\S+)",
            lambda m: m[1] + str((ROOT / "sweeps" / "specs" / m[2]).resolve()),
            block,
            flags=re.M,
        )
        path = tmp_path / f"readme-{i}.yaml"
        path.write_text(block)
        load_spec(path)
