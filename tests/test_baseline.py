"""Baselines end to end: `rollguard baseline create`, then `rollguard check --baseline` on the storefront demo."""

from __future__ import annotations

import dataclasses
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollguard.baseline import Baseline, read_baseline
from rollguard.cli import main
from rollguard.cli.baseline import create
from rollguard.cli.check import CHECK_ONLY_OPTIONS, Judging, check
from rollguard.errors import InputError
from rollguard.formats import FORMATS
from rollguard.model import BaselineEntry

from .conftest import ROOT

DEMO = ROOT / "fixtures" / "demo"
SARIF_SCHEMA = ROOT / ".venv" / "sarif-schema-2.1.0.json"
BEFORE = "2026-10-01T09:00:00Z"  # when the baseline is made
LATER = "2026-11-26T12:00:00Z"  # when a change is checked against it

# The demo's findings that are not waived (WVR-112 waives k8s.image_registry): what a baseline holds.
BASELINED = [
    "k8s.graceful_shutdown",
    "k8s.hpa_consistency",
    "k8s.image_pinning",
    "k8s.network_policy",
    "k8s.pdb_coverage",
    "k8s.probe_sanity",
    "k8s.rolling_update",
    "k8s.secret_env",
    "k8s.pdb_coverage",
]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository that adopts rollguard: the storefront demo and its rollguard.yaml."""
    (tmp_path / "storefront.yaml").write_text((DEMO / "storefront.yaml").read_text())
    (tmp_path / "rollguard.yaml").write_text((DEMO / "rollguard.yaml").read_text())
    return tmp_path


def edit(repo: Path, old: str, new: str) -> None:
    manifest = repo / "storefront.yaml"
    text = manifest.read_text()
    assert text.count(old) == 1, f"{old!r} is not once in the demo manifest"
    manifest.write_text(text.replace(old, new))


def create_baseline(repo: Path, *extra: str, now: str = BEFORE, engine: str = "regorus") -> Result:
    return run(
        "baseline", "create", str(repo / "storefront.yaml"), "--config", str(repo / "rollguard.yaml"),
        "--engine", engine, "--now", now, "--output", str(repo / "baseline.json"), *extra,
    )  # fmt: skip


def check_with_baseline(repo: Path, *extra: str, now: str = LATER, engine: str = "regorus") -> Result:
    return run(
        "check", str(repo / "storefront.yaml"), "--config", str(repo / "rollguard.yaml"), "--engine", engine,
        "--now", now, "--baseline", str(repo / "baseline.json"), *extra,
    )  # fmt: skip


def report(result: Result) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(result.output)
    return doc


def new_findings(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    """Findings neither baselined nor waived."""
    return [
        (f["policy"], f["details"].get("container")) for f in doc["findings"] if f["baseline"] is f["waiver"] is None
    ]


@pytest.mark.parametrize("engine", ["opa", "regorus"])
def test_a_baselined_change_passes_and_still_shows_its_findings(repo: Path, engine: str) -> None:
    assert run("check", str(repo / "storefront.yaml"), "--config", str(repo / "rollguard.yaml")).exit_code == 1

    made = create_baseline(repo, engine=engine)
    assert made.exit_code == 0, made.output
    assert made.output == f"baselined 9 findings in {repo / 'baseline.json'}; 1 waived left to its waiver\n"
    written = json.loads((repo / "baseline.json").read_text())
    assert written["version"] == 1 and written["created"] == "2026-10-01T09:00:00Z"
    assert written["tool"]["name"] == "rollguard"
    assert sorted(e["policy"] for e in written["findings"]) == sorted(BASELINED)
    assert {e["since"] for e in written["findings"]} == {"2026-10-01"}
    assert {e["file"] for e in written["findings"]} == {str(repo / "storefront.yaml")}
    rolling = next(e for e in written["findings"] if e["policy"] == "k8s.rolling_update")
    assert rolling["resource"] == "Deployment shop/storefront"
    assert rolling["message"].startswith("a rolling update keeps only 2 of 3 replicas available")

    checked = check_with_baseline(repo, engine=engine)
    assert checked.exit_code == 0, checked.output
    lines = checked.output.splitlines()
    assert (
        lines[-1]
        == f"PASS: 0 findings in 5 resources, {_policies(lines[-1])} policies, engine {engine}; 1 waived; 9 baselined"
    )
    rolling_line = next(line for line in lines if "k8s.rolling_update" in line)
    assert rolling_line.endswith("(line 19) (baselined since 2026-10-01)")
    assert "[blocking]" not in checked.output and "fix:" not in checked.output
    waived_line = next(line for line in lines if "k8s.image_registry" in line)
    assert waived_line.endswith("(waived by WVR-112 until 2027-03-31)")

    doc = report(check_with_baseline(repo, "--format", "json", engine=engine))
    assert doc["verdict"] == "pass"
    assert doc["summary"]["baselined"] == 9 and doc["summary"]["findings"] == 0 and doc["summary"]["waived"] == 1
    assert doc["baseline"] == {"file": str(repo / "baseline.json"), "fixed": []}
    marks = {f["policy"]: f["baseline"] for f in doc["findings"]}
    assert marks["k8s.rolling_update"] == {"status": "baselined", "since": "2026-10-01", "expires": None}
    assert marks["k8s.image_registry"] is None  # waived, so never baselined


def _policies(verdict: str) -> str:
    found = re.search(r"(\d+) policies", verdict)
    assert found, verdict
    return found.group(1)


def test_a_new_violation_fails_alone(repo: Path) -> None:
    assert create_baseline(repo).exit_code == 0
    edit(
        repo, "image: registry.example.com/shop/storefront:3.2.0", "image: registry.example.com/shop/storefront:latest"
    )

    result = check_with_baseline(repo)
    assert result.exit_code == 1
    blocking = [line for line in result.output.splitlines() if "[blocking]" in line]
    assert len(blocking) == 1 and 'container "web" image "registry.example.com/shop/storefront:latest"' in blocking[0]
    assert "baselined" not in blocking[0]
    assert result.output.splitlines()[-1].startswith("FAIL: 1 finding (1 blocking at >= high)")

    doc = report(check_with_baseline(repo, "--format", "json"))
    assert new_findings(doc) == [("k8s.image_pinning", "web")]
    assert doc["summary"]["baselined"] == 9 and doc["baseline"]["fixed"] == []


def test_a_fixed_finding_is_listed_as_fixed(repo: Path) -> None:
    assert create_baseline(repo).exit_code == 0
    edit(repo, "maxUnavailable: 50%", "maxUnavailable: 0")

    result = check_with_baseline(repo)
    assert result.exit_code == 0, result.output
    baseline = repo / "baseline.json"
    header = (
        "1 baselined finding fixed; regenerate the baseline to drop its entry:"
        f" rollguard baseline create PATHS --output {baseline}"
    )
    lines = result.output.splitlines()
    at = lines.index(header)
    assert lines[at + 1].startswith(
        f"  k8s.rolling_update  Deployment shop/storefront  ({repo / 'storefront.yaml'}): a rolling update keeps only 2 of 3"
    )
    assert lines[at + 1].endswith("(baselined since 2026-10-01)")
    assert lines[-1].endswith("; 1 waived; 8 baselined; 1 baselined fixed")

    doc = report(check_with_baseline(repo, "--format", "json"))
    (fixed,) = doc["baseline"]["fixed"]
    assert fixed["policy"] == "k8s.rolling_update" and fixed["since"] == "2026-10-01"
    assert fixed["fingerprint"] in {e["fingerprint"] for e in json.loads(baseline.read_text())["findings"]}
    assert "k8s.rolling_update" not in {f["policy"] for f in doc["findings"]}


def test_an_entry_older_than_baseline_max_age_fails_again(repo: Path) -> None:
    config = repo / "rollguard.yaml"
    config.write_text(config.read_text() + "\nbaseline_max_age: 30d\n")
    assert create_baseline(repo).exit_code == 0

    within = check_with_baseline(repo, now="2026-10-30T23:59:59Z")
    assert within.exit_code == 0, within.output

    expired = check_with_baseline(repo, now=LATER)
    assert expired.exit_code == 1
    rolling = next(line for line in expired.output.splitlines() if "k8s.rolling_update" in line)
    assert rolling.endswith("(baseline entry from 2026-10-01 expired 2026-10-31) [blocking]")
    assert "fix: Lower spec.strategy.rollingUpdate.maxUnavailable" in expired.output
    assert expired.output.splitlines()[-1].endswith("; 1 waived; 9 expired baseline entries")

    doc = report(check_with_baseline(repo, "--format", "json", now=LATER))
    marks = {f["policy"]: f["baseline"] for f in doc["findings"]}
    assert marks["k8s.rolling_update"] == {"status": "expired", "since": "2026-10-01", "expires": "2026-10-31"}
    assert doc["summary"]["baselined"] == 0 and doc["summary"]["blocking"] == 4


@pytest.mark.parametrize(
    ("value", "shown"), [("90x", "'90x'"), ("0d", "'0d'"), ("90", "90"), ("3 months", "'3 months'")]
)
def test_baseline_max_age_must_be_days_or_weeks(repo: Path, value: str, shown: str) -> None:
    config = repo / "rollguard.yaml"
    lines = config.read_text().splitlines()
    config.write_text("\n".join([*lines, f"baseline_max_age: {value}", ""]))
    result = CliRunner().invoke(main, ["check", "--config", str(config), str(repo / "storefront.yaml")])
    assert result.exit_code == 2
    assert (
        f"rollguard: {config}:{len(lines) + 1}: baseline_max_age: {shown} is not a positive number of days or weeks;"
        " write e.g. 90d or 12w" in result.output
    )


def test_regenerating_keeps_the_since_of_entries_already_there(repo: Path) -> None:
    assert create_baseline(repo).exit_code == 0
    first = (repo / "baseline.json").read_text()
    assert create_baseline(repo).exit_code == 0
    assert (repo / "baseline.json").read_text() == first, "the same findings at the same time give the same bytes"

    edit(
        repo, "image: registry.example.com/shop/storefront:3.2.0", "image: registry.example.com/shop/storefront:latest"
    )
    edit(repo, "maxUnavailable: 50%", "maxUnavailable: 0")
    again = create_baseline(repo, now=LATER)
    assert again.exit_code == 0
    assert again.output == (
        f"baselined 9 findings in {repo / 'baseline.json'} (8 already there keep their date, 1 new, 1 dropped);"
        " 1 waived left to its waiver\n"
    )
    written = json.loads((repo / "baseline.json").read_text())
    assert written["created"] == "2026-11-26T12:00:00Z"
    since = {(e["policy"], e["message"].split(" image ")[0]): e["since"] for e in written["findings"]}
    assert since[("k8s.image_pinning", 'container "web"')] == "2026-11-26"
    assert since[("k8s.image_pinning", 'container "log-shipper"')] == "2026-10-01"
    assert "k8s.rolling_update" not in {policy for policy, _ in since}
    assert sorted(set(since.values())) == ["2026-10-01", "2026-11-26"]
    keys = [(e["file"], e["resource"], e["policy"], e["fingerprint"]) for e in written["findings"]]
    assert keys == sorted(keys), "entries are sorted so a regenerated file diffs well"
    assert check_with_baseline(repo).exit_code == 0


def test_sarif_with_a_baseline_is_valid_and_carries_baseline_state(repo: Path) -> None:
    assert create_baseline(repo).exit_code == 0
    edit(
        repo, "image: registry.example.com/shop/storefront:3.2.0", "image: registry.example.com/shop/storefront:latest"
    )
    edit(repo, "maxUnavailable: 50%", "maxUnavailable: 0")
    result = check_with_baseline(repo, "--format", "sarif")
    assert result.exit_code == 1
    doc = json.loads(result.output)

    assert SARIF_SCHEMA.is_file(), f"{SARIF_SCHEMA} is missing: run `make install`, which fetches it"
    validator = jsonschema.Draft7Validator(json.loads(SARIF_SCHEMA.read_text(encoding="utf-8")))
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert not errors, "\n".join(errors)

    (run_,) = doc["runs"]
    results = run_["results"]
    states = {(r["ruleId"], r["baselineState"]) for r in results}
    assert ("k8s.image_pinning", "new") in states and ("k8s.image_pinning", "unchanged") in states
    new = [r for r in results if r["baselineState"] == "new"]
    # The new violation, and the waived finding: a waiver is no baseline entry, and suppresses it.
    assert sorted((r["ruleId"], "suppressions" in r) for r in new) == [
        ("k8s.image_pinning", False),
        ("k8s.image_registry", True),
    ]
    baselined = [r for r in results if r["properties"].get("baseline", {}).get("status") == "baselined"]
    assert len(baselined) == 8
    for r in baselined:
        assert r["baselineState"] == "unchanged"
        assert r["suppressions"] == [
            {"kind": "external", "justification": f"baselined since 2026-10-01 in {repo / 'baseline.json'}"}
        ]
        assert r["properties"]["blocking"] is False
    waived = next(r for r in results if r["ruleId"] == "k8s.image_registry")
    assert waived["suppressions"][0]["justification"].startswith("The log shipper")
    fixed = run_["properties"]["baseline"]["fixed"]
    assert [e["policy"] for e in fixed] == ["k8s.rolling_update"]
    # A fixed finding is no result: code scanning would open an alert for it whatever its state.
    assert "absent" not in {r["baselineState"] for r in results}

    # One identity for a finding in code scanning and in the baseline file.
    written = {e["fingerprint"] for e in json.loads((repo / "baseline.json").read_text())["findings"]}
    unchanged = {r["partialFingerprints"]["rollguardFinding/v2"] for r in baselined}
    assert unchanged <= written and len(unchanged) == 8


@pytest.mark.parametrize("name", [n for n, f in FORMATS.items() if f.render is not None])
def test_every_format_shows_baselined_findings_without_failing(repo: Path, name: str) -> None:
    assert create_baseline(repo).exit_code == 0
    edit(repo, "maxUnavailable: 50%", "maxUnavailable: 0")
    result = check_with_baseline(repo, "--format", name)
    assert result.exit_code == 0, result.output
    out = result.output
    match name:
        case "text" | "html":
            assert "baselined since 2026-10-01" in out and "k8s.rolling_update" in out
        case "json":
            assert report(result)["summary"]["baselined"] == 8
        case "sarif":
            assert json.loads(out)["runs"][0]["properties"]["baseline"]["fixed"][0]["policy"] == "k8s.rolling_update"
        case "junit":
            cases = ET.fromstring(out.encode()).findall(".//testcase")
            skipped = [c.find("skipped") for c in cases if c.find("skipped") is not None]
            assert len(skipped) == 9  # eight baselined, one waived
            assert sum(1 for s in skipped if s is not None and s.get("message", "").startswith("baselined since")) == 8
            assert not [c for c in cases if c.find("failure") is not None]
        case "github":
            assert "::error" not in out
            assert out.count("baselined since 2026-10-01") == 9  # eight findings and the fixed one
            assert "::notice title=rollguard%3A k8s.rolling_update fixed::" in out.replace(
                f"file={repo / 'storefront.yaml'},", ""
            )
        case "markdown":
            assert "### Baselined" in out and "### Fixed since the baseline" in out and "| baselined | 8 |" in out
            assert "### Findings" not in out
        case _:
            pytest.fail(f"no expectation for format {name}: add one")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "baseline file not found; create it with `rollguard baseline create PATHS --output {file}`"),
        ('{"version": 1, "findings": [\n', "invalid JSON in a baseline file: Expecting value"),
        ("[]", "not a rollguard baseline (a JSON object with version, created, tool and findings)"),
        ('{\n  "version": 2,\n  "findings": []\n}', "{file}:2: baseline version 2 is not one this rollguard reads (1)"),
        ('{"version": 1, "findings": {}}', "`findings` must be a list of baseline entries"),
        (
            '{"version": 1, "findings": [{"fingerprint": "' + "a" * 64 + '", "policy": "k8s.x"}]}',
            "findings[0]: missing resource, file, message, since",
        ),
        (
            '{"version": 1, "findings": [{"fingerprint": "'
            + "a" * 64
            + '", "policy": "k8s.x", "resource": "Deployment a/b", "file": null, "message": "m", "since": "2026-02-30"}]}',
            'findings[0]: since "2026-02-30" is not a date (YYYY-MM-DD)',
        ),
    ],
)
def test_an_unusable_baseline_is_an_input_error_naming_the_file(repo: Path, content: str | None, message: str) -> None:
    baseline = repo / "baseline.json"
    if content is not None:
        baseline.write_text(content)
    result = CliRunner().invoke(
        main,
        ["check", "--config", str(repo / "rollguard.yaml"), "--baseline", str(baseline), str(repo / "storefront.yaml")],
    )
    assert result.exit_code == 2
    assert f"rollguard: {baseline}" in result.output
    assert message.format(file=baseline) in result.output
    assert "Traceback" not in result.output


def test_create_never_overwrites_a_file_it_cannot_read(repo: Path) -> None:
    baseline = repo / "baseline.json"
    baseline.write_text("not json\n")
    result = create_baseline(repo)
    assert result.exit_code == 2
    assert f"rollguard: {baseline}:1: invalid JSON in a baseline file" in result.output
    assert baseline.read_text() == "not json\n"


def test_create_writes_nothing_when_an_input_cannot_be_used(repo: Path) -> None:
    (repo / "broken.yaml").write_text("kind: [\n")
    result = run(
        "baseline", "create", str(repo / "storefront.yaml"), str(repo / "broken.yaml"),
        "--config", str(repo / "rollguard.yaml"), "--output", str(repo / "baseline.json"),
    )  # fmt: skip
    assert result.exit_code == 2
    assert f"rollguard: {repo / 'broken.yaml'}:" in result.output
    assert f"rollguard: {repo / 'baseline.json'} not written: a baseline must hold every finding" in result.output
    assert not (repo / "baseline.json").exists()


def test_create_refuses_to_judge_only_changed_files(repo: Path) -> None:
    result = CliRunner().invoke(
        main, ["baseline", "create", str(repo), "--since", "HEAD", "--output", str(repo / "baseline.json")]
    )
    assert result.exit_code == 2
    assert "--since would leave out those of unchanged files; drop it" in result.output
    assert not (repo / "baseline.json").exists()


def test_create_takes_every_judging_option_of_check() -> None:
    check_options = {p.name for p in check.params}
    create_options = {p.name for p in create.params}
    assert create_options == (check_options - CHECK_ONLY_OPTIONS) | {"output"}
    # Every judging option reaches the judging (`Judging`), but `store`, which check also records into.
    exposed = {p.name for p in check.params if p.expose_value}
    fields = {f.name for f in dataclasses.fields(Judging)} - {"history_store"}
    assert fields == exposed - CHECK_ONLY_OPTIONS - {"store"}


# --- the file as user input ---------------------------------------------------------------------

ENTRY_KEYS = ("fingerprint", "policy", "resource", "file", "message", "since")
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
# Texts that reach every check: arbitrary text, arbitrary JSON, and version-1 files with odd entries.
BASELINE_TEXTS = st.one_of(
    st.text(max_size=200),
    JSON_VALUES.map(json.dumps),
    st.lists(st.dictionaries(st.sampled_from(ENTRY_KEYS), JSON_VALUES), max_size=3).map(
        lambda findings: json.dumps({"version": 1, "findings": findings})
    ),
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=BASELINE_TEXTS)
def test_any_file_reads_as_a_baseline_or_an_input_error_naming_it(tmp_path: Path, text: str) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(text, encoding="utf-8")
    try:
        read = read_baseline(path)
    except InputError as exc:
        assert exc.file == str(path) and "baseline" in exc.message
        return
    assert all(len(e.fingerprint) == 64 for e in read.entries)


ENTRIES = st.builds(
    BaselineEntry,
    fingerprint=st.text("0123456789abcdef", min_size=64, max_size=64),
    policy=st.text(max_size=30),
    resource=st.text(max_size=30),
    file=st.none() | st.text(max_size=30),
    message=st.text(max_size=80),
    since=st.dates().map(lambda d: d.isoformat()).filter(lambda d: len(d) == 10),
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.lists(ENTRIES, max_size=5, unique_by=lambda e: e.fingerprint))
def test_a_written_baseline_reads_back_as_it_was(tmp_path: Path, entries: list[BaselineEntry]) -> None:
    path = tmp_path / "baseline.json"
    written = Baseline(entries=tuple(entries), created="2026-10-01T09:00:00Z", tool_version="1.2.3", path=str(path))
    path.write_text(written.to_text(), encoding="utf-8")
    assert read_baseline(path) == written
