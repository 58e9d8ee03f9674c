"""Hostile and broken input costs a bounded amount and becomes an input error naming file and line.

Every case goes through `rollguard check` beside a manifest with a known finding, so each test
also shows the rest of the change is still judged (exit 2, and that finding still reported).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from rollguard.cli import main
from rollguard.inputs import load_change_set

from ..conftest import FIXTURES

NO_PROBE = FIXTURES / "k8s" / "readiness_probe" / "disallowed_no_probe.yaml"
HEAD = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hostile, namespace: shop}\n"


def laughs(indent: str = "  ") -> str:
    """Nine levels of nine aliases: 387 million strings once expanded, about 600 bytes as text."""
    rows = [f'{indent}a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        rows.append(f"{indent}{name}: &{name} [{','.join([f'*{prev}'] * 9)}]")
    return "\n".join(rows) + "\n"


def judge(tmp_path: Path, name: str, text: str | bytes, *extra: str) -> tuple[Result, dict]:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    result = CliRunner().invoke(
        main, ["check", "--format", "json", *extra, str(path), str(NO_PROBE)], catch_exceptions=False
    )
    report = json.loads(result.output)
    assert result.exit_code == 2
    assert "k8s.readiness_probe" in {f["policy"] for f in report["findings"]}  # the rest was judged
    return result, report


def only_error(report: dict, tmp_path: Path, name: str) -> dict:
    (error,) = report["errors"]
    assert error["file"] == (tmp_path / name).as_posix()
    return error


@pytest.mark.parametrize(
    ("name", "text", "line", "message"),
    [
        ("bomb.yaml", HEAD + "data:\n" + laughs(), 11, "expands to more than 1,000,000 nodes through its aliases"),
        ("cycle.yaml", HEAD + "data: &d\n  self: *d\n", 4, "an alias refers to a node that contains it"),
        ("inf.yaml", HEAD + "data:\n  a: .inf\n", 5, ".inf is not a number JSON can carry"),
        ("nan.yaml", HEAD + "spec:\n  b: .NaN\n", 5, ".NaN is not a number JSON can carry"),
        ("digits.yaml", HEAD + "spec:\n  n: " + "9" * 5000 + "\n", 5, "an integer of 5,000 digits"),
        ("deep.yaml", HEAD + "data: " + "[" * 800 + "]" * 800 + "\n", 4, "nests deeper than 200 levels"),
        (
            "deep_block.yaml",
            HEAD + "data:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(700)) + "  " * 701 + "v\n",
            204,
            "nests deeper than 200 levels",
        ),
        ("deeper.yaml", HEAD + "data: " + "[" * 5000 + "]" * 5000 + "\n", 4, "nest"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 20 else "",
)
def test_hostile_yaml_manifests(name: str, text: str, line: int, message: str, tmp_path: Path) -> None:
    _, report = judge(tmp_path, name, text)
    error = only_error(report, tmp_path, name)
    assert error["line"] == line and message in error["message"]


@pytest.mark.parametrize(
    ("name", "text", "line", "message"),
    [
        ("nan.json", '{"apiVersion": "v1",\n "kind": "ConfigMap",\n "data": NaN}', 3, "NaN is not a JSON number"),
        ("big.json", '{"apiVersion": "v1",\n "kind": "ConfigMap",\n "n": 1e999}', 3, "1e999 is too large"),
        ("long.json", '{"kind": "ConfigMap",\n "n": ' + "1" * 5000 + "}", 2, "an integer of 5,000 digits"),
        ("deep.json", '{"kind": "ConfigMap",\n "a": ' + "[" * 1200 + "]" * 1200 + "}", 2, "deeper than 200 levels"),
        (
            "plan.json",
            '{"format_version": "1.2", "terraform_version": "1.9.0",\n"planned_values": '
            + '{"a": ' * 5000
            + "{}"
            + "}" * 5000
            + ', "resource_changes": []}',
            2,
            "unusable JSON in a Terraform plan: it nests deeper than 200 levels",
        ),
        (
            "trivy.json",
            '{"SchemaVersion": 2,\n"ArtifactName": "x", "Metadata": {"Size": ' + "7" * 5000 + '}, "Results": []}',
            2,
            "unusable JSON in a Trivy report: an integer of 5,000 digits",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 20 else "",
)
def test_hostile_json_inputs(name: str, text: str, line: int, message: str, tmp_path: Path) -> None:
    _, report = judge(tmp_path, name, text)
    error = only_error(report, tmp_path, name)
    assert error["line"] == line and message in error["message"]


def test_an_alias_bomb_in_a_workflow_env(tmp_path: Path) -> None:
    text = (
        "on: push\nenv:\n" + laughs() + "jobs:\n  deploy:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make\n"
    )
    _, report = judge(tmp_path, ".github/workflows/ci.yml", text)
    error = only_error(report, tmp_path, ".github/workflows/ci.yml")
    assert error["line"] == 9 and "invalid YAML in a pipeline definition: the document expands" in error["message"]


def test_an_alias_bomb_in_rollguard_yaml(tmp_path: Path) -> None:
    config = tmp_path / "rollguard.yaml"
    config.write_text("drift:\n  ignore:\n    - x\nlol:\n" + laughs())
    result = CliRunner().invoke(main, ["check", "--config", str(config), str(NO_PROBE)])
    assert result.exit_code == 2
    assert f"{config}:11: invalid YAML: the document expands to more than 1,000,000 nodes" in result.output


def test_an_alias_bomb_stays_within_a_memory_bound(tmp_path: Path) -> None:
    """The bomb is refused before anything is built: a process capped at 1 GiB of heap judges it."""
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(HEAD + "data:\n" + laughs())
    cap = 1024**3

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))

    done = subprocess.run(
        [sys.executable, "-m", "rollguard.cli", "check", "--engine", "regorus", str(bomb), str(NO_PROBE)],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=300,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "expands to more than 1,000,000 nodes" in done.stdout


def test_a_file_above_the_size_cap_is_refused_unread(tmp_path: Path) -> None:
    _, report = judge(tmp_path, "huge.yaml", HEAD + "data:\n  x: " + "y" * 20_000 + "\n", "--max-input-size", "16KiB")
    error = only_error(report, tmp_path, "huge.yaml")
    assert error["line"] is None and "larger than the 16 KiB input cap" in error["message"]


def test_an_unreadable_folder_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The suite runs as root, which no permission bits stop; the walk is shown an unreadable folder instead.
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "cm.yaml").write_text(HEAD)
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "cm.yaml").write_text(HEAD.replace("hostile", "hidden"))
    real = os.scandir

    def scandir(path: str | os.PathLike[str] = ".") -> object:
        if Path(path).name == "secret":
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    change = load_change_set([str(tmp_path)])
    assert [a.resource.name for a in change.artifacts] == ["hostile"]
    (problem,) = change.problems
    assert problem.file == (tmp_path / "secret").as_posix()
    assert problem.message == "cannot read this folder (Permission denied); its files were not judged"


def test_invalid_utf8_in_a_file_names_the_line(tmp_path: Path) -> None:
    _, report = judge(tmp_path, "latin1.yaml", HEAD.encode() + b"data:\n  city: M\xfcnchen\n")
    error = only_error(report, tmp_path, "latin1.yaml")
    assert error["line"] == 5 and "not UTF-8 text (byte 0xfc" in error["message"]
