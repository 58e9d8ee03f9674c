"""Fuzzing every loader: generated and mutated inputs never raise, and every problem names a file.

Seeds are the project's own fixtures; mutations cut, repeat and splice lines and drop in the
tokens that broke loaders before (anchors and aliases, unclosed quotes and comments, deep
brackets, non-finite and overlong numbers, bytes that are not UTF-8). The runs are
derandomised, so CI explores the same examples every time and a failure reproduces. Inputs
that once crashed a loader are kept in tests/regressions/ and replayed by the last test.
"""

from __future__ import annotations

import resource
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollguard.errors import ConfigError
from rollguard.gate import Gate
from rollguard.inputs import load_change_set
from rollguard.model import EXIT_ERROR, EXIT_FINDINGS, EXIT_INPUT, EXIT_PASS
from rollguard.policy.config import load_config

from .conftest import FIXTURES, ROOT

REGRESSIONS = ROOT / "tests" / "regressions"

# Per loader: where the seeds are, and the name the mutated text is saved under (the name
# decides the loader for SQL and workflows; Trivy reports and plans are told by content).
SEEDS = {
    "manifest": (sorted((FIXTURES / "k8s").glob("*/*.yaml")), "input.yaml"),
    "sql": (sorted((FIXTURES / "migration").glob("*/*.sql")), "V2__change.sql"),
    "trivy": (sorted((FIXTURES / "image").glob("*/*.json")), "report.json"),
    "terraform": (sorted((FIXTURES / "terraform").glob("*/*.json")), "plan.json"),
    "workflow": (sorted((FIXTURES / "pipeline").glob("*/*.yml")), ".github/workflows/deploy.yml"),
}

TOKENS = [
    "&a ", "*a", "<<: *a", "[", "{", "]", "}", "'", '"', "$$", "$body$", "/*", "--", "\\", "\t",
    ".inf", ".nan", "-.inf", "NaN", "1e999", "9" * 400, "- ", ": ", "---", "...", "!!binary", "!reference",
    "? ", "|", ">-", "%YAML 1.1", "\ufeff", "\x00", "\u2028",
]  # fmt: skip

FUZZ = settings(
    max_examples=120, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow], deadline=None
)


@st.composite
def mutated(draw: st.DrawFn, seeds: list[Path]) -> bytes:
    """A seed file with a few line-level and token-level edits."""
    text = draw(st.sampled_from(seeds)).read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True) or [""]
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(len(lines) - 1, 0)))
        action = draw(st.sampled_from(["cut", "repeat", "token", "nest", "truncate", "swap"]))
        if action == "cut" and len(lines) > 1:
            del lines[at]
        elif action == "repeat":
            lines.insert(at, lines[at] if lines else "")
        elif action == "token":
            line = lines[at] if lines else ""
            col = draw(st.integers(0, len(line)))
            lines[at] = line[:col] + draw(st.sampled_from(TOKENS)) + line[col:]
        elif action == "nest":
            depth = draw(st.sampled_from([50, 250, 1100]))
            lines.insert(at, "x: " + "[" * depth + "]" * depth + "\n")
        elif action == "truncate":
            lines = lines[: at + 1]
            lines[-1] = lines[-1][: draw(st.integers(0, len(lines[-1])))]
        elif action == "swap" and len(lines) > 1:
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
    data = "".join(lines).encode("utf-8")
    if draw(st.integers(0, 9)) == 0:  # now and then, bytes that are not UTF-8
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + b"\xff\xfe" + data[cut:]
    return data


def _check_loader(tmp_path: Path, name: str, data: bytes, gate: Gate | None = None) -> None:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    change = load_change_set([str(path)])  # must not raise
    for problem in change.problems:
        assert problem.file == path.as_posix() and problem.message, problem
    if gate is not None:
        decision = gate.judge(change)
        assert decision.exit_code() in (EXIT_PASS, EXIT_FINDINGS, EXIT_INPUT, EXIT_ERROR)
        assert not decision.errors, [f.message for f in decision.errors]  # no input makes a policy crash


@pytest.mark.parametrize("kind", list(SEEDS))
def test_mutated_inputs_load_without_exceptions(kind: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    seeds, name = SEEDS[kind]
    assert seeds, f"no seed fixtures for {kind}"
    folder = tmp_path_factory.mktemp(kind)

    @FUZZ
    @given(mutated(seeds))
    def loads(data: bytes) -> None:
        _check_loader(folder, name, data)

    loads()


def test_mutated_manifests_are_judged_with_a_documented_exit_code(gates: dict[str, Gate], tmp_path: Path) -> None:
    seeds, name = SEEDS["manifest"]

    @settings(FUZZ, max_examples=60)
    @given(mutated(seeds))
    def judged(data: bytes) -> None:
        _check_loader(tmp_path, name, data, gates["opa"])

    judged()


@FUZZ
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=30,
    )
)
def test_generated_json_documents(value: object) -> None:
    import json

    text = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": value})
    change = load_change_set([], extra=[("generated.json", text)])
    assert all(p.file == "generated.json" for p in change.problems)


@FUZZ
@given(mutated([FIXTURES / "demo" / "rollguard.yaml", *sorted(FIXTURES.glob("governance/*/*/rollguard.yaml"))]))
def test_mutated_configs_give_config_errors_only(data: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rollguard.yaml"
        path.write_bytes(data)
        try:
            load_config(path)
        except ConfigError as exc:
            assert exc.file == str(path) and exc.message


@pytest.mark.parametrize("path", sorted(p for p in REGRESSIONS.rglob("*") if p.is_file()), ids=lambda p: p.name)
def test_inputs_that_once_crashed_a_loader(path: Path, gates: dict[str, Gate]) -> None:
    change = load_change_set([str(path)])
    assert change.problems, "each regression input is unusable and must be reported"
    assert all(p.file == path.as_posix() and p.line for p in change.problems), change.problems
    assert gates["opa"].judge(change).exit_code() == EXIT_INPUT


def test_the_fuzzing_stayed_within_a_memory_bound() -> None:
    """Peak memory of this test process (everything above included): no input expanded unchecked."""
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert peak_kib < 4 * 1024 * 1024, f"peak RSS {peak_kib // 1024} MiB"
