"""The spec checker, fed the shipped demo spec mutated as a new user might mistype it: every result
is the spec accepted, or one SpecError that names the file and a key, never another exception."""

import copy
import math
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sweeps.spec import SpecError, load_spec

ROOT = Path(__file__).resolve().parents[1]
DEMO = yaml.safe_load((ROOT / "sweeps" / "specs" / "demo.yaml").read_text())
DEMO["chromasweep"]["base"] = str(ROOT / "colorize_core" / "configs" / "demo.yaml")


def paths(tree, prefix=()):
    """Every key path in the spec's tree, sections and leaves."""
    out = []
    for key, value in tree.items():
        out.append((*prefix, key))
        if isinstance(value, dict):
            out += paths(value, (*prefix, key))
    return out


PATHS = paths(DEMO)
WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.just(-1),
    st.just(0),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308]),
    st.text(max_size=12),
    st.just(""),
    st.just({}),
    st.just([]),
    st.just([{}]),
    st.dictionaries(
        st.sampled_from(["name", "min", "max", "value", "values", "distribution"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=5)),
        max_size=3,
    ),
    st.lists(st.one_of(st.integers(), st.text(max_size=4), st.none()), max_size=3),
)
DELETE = object()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(st.tuples(st.sampled_from(PATHS), st.one_of(WRONG, st.just(DELETE))), min_size=1, max_size=3))
def test_a_mutated_spec_is_accepted_or_refused_once_naming_a_key(tmp_path, mutations):
    spec = copy.deepcopy(DEMO)
    for path, value in mutations:
        node = spec
        for key in path[:-1]:
            if not isinstance(node, dict) or key not in node:
                break
            node = node[key]
        else:
            if isinstance(node, dict):
                if value is DELETE:
                    node.pop(path[-1], None)
                else:
                    node[path[-1]] = value
    file = tmp_path / "mutated.yaml"
    file.write_text(yaml.safe_dump(spec))
    try:
        load_spec(file)
    except SpecError as err:
        message = str(err)
        assert message.startswith(f"{file}: ") and len(message.splitlines()) == 1, message
        named = {str(k) for path, _ in mutations for k in path} | {"parameters", "chromasweep", "metric"}
        assert any(k in message for k in named), message
