"""`rollguard compare` and governance.region_parity inside `rollguard check`: outputs, exit codes, config."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from rollguard.cli import main
from rollguard.cli.compare import COMPARE_FORMAT_NAMES
from rollguard.fleet.render import COMPARE_FORMATS

DATA = Path(__file__).parent / "data" / "shop"
needs_kustomize = pytest.mark.skipif(
    not (shutil.which("kubectl") or shutil.which("kustomize")), reason="needs kubectl or kustomize"
)
ENV_DIFFERENCE = (
    'Deployment shop/web: /spec/template/spec/containers/0/env/0/value is "info" in '
    'overlays/prod-eu (kustomize):36 but "debug" in overlays/prod-us (kustomize):46 (parity set web); '
    "make them alike or allow the pointer under parity.allowed"
)
FLAGS_ONLY_IN_US = (
    "ConfigMap shop/flags is in overlays/prod-us (kustomize):1 but not in overlays/prod-eu "
    "(parity set web); add it there or remove it here"
)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shop's overlays with its rollguard.yaml, as the working directory."""
    target = tmp_path / "shop"
    shutil.copytree(DATA, target)
    monkeypatch.chdir(target)
    return target


def configure(shop: Path, **changes: Any) -> None:
    config = yaml.safe_load((shop / "rollguard.yaml").read_text())
    config.update(changes)
    (shop / "rollguard.yaml").write_text(yaml.safe_dump(config))


@needs_kustomize
def test_compare_in_parity_exits_0(shop: Path) -> None:
    code, out, _ = run("compare", "overlays/prod-eu", "overlays/prod-ap")
    assert code == 0
    assert out.splitlines()[0] == "overlays/prod-eu ↔ overlays/prod-ap"
    assert out.splitlines()[-1] == "  in parity: 2 objects, 0 identical"


@needs_kustomize
def test_compare_the_configured_set_as_json(shop: Path) -> None:
    code, out, _ = run("compare", "--format", "json")
    report = json.loads(out)
    assert code == 1 and report["in_parity"] is False
    eu_us, eu_ap = report["comparisons"]
    assert (eu_us["set"], eu_us["a"], eu_us["b"], eu_ap["b"]) == (
        "web",
        "overlays/prod-eu",
        "overlays/prod-us",
        "overlays/prod-ap",
    )
    assert eu_ap["in_parity"] is True
    flags, deployment, service = eu_us["objects"]
    assert (flags["resource"]["kind"], flags["a"], flags["b"]) == (
        "ConfigMap",
        None,
        {"file": "overlays/prod-us (kustomize)", "line": 1},
    )
    assert deployment["patch"] == [
        {"op": "replace", "path": "/metadata/labels/topology.kubernetes.io~1region", "value": "us-east-1"},
        {"op": "replace", "path": "/spec/replicas", "value": 5},
        {"op": "replace", "path": "/spec/template/spec/containers/0/env/0/value", "value": "debug"},
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/image",
            "value": "us.registry.example.com/shop/web:2.5.0",
        },
    ]
    assert [d["allowed_by"] for d in deployment["differences"]] == [
        "/metadata/labels/topology.kubernetes.io~1region",
        "/spec/replicas",
        None,
        "allowed_image_registry",
    ]
    assert deployment["differences"][2]["a"] == {"line": 36, "value": "info"}
    assert deployment["differences"][2]["b"] == {"line": 46, "value": "debug"}
    assert service["in_parity"] is True


@needs_kustomize
def test_compare_markdown_and_allow_option(shop: Path) -> None:
    code, out, _ = run("compare", "--format", "markdown", "--set", "web")
    assert code == 1
    assert (
        '| Deployment shop/web | `/spec/template/spec/containers/0/env/0/value` | `"info"` | `"debug"` | **not allowed** |'
        in out
    )
    assert (
        "| ConfigMap shop/flags | | (absent) | `overlays/prod-us (kustomize):1` | not allowed: one side only |" in out
    )
    # Allowing the log level leaves the ConfigMap that only one region has.
    code, out, _ = run(
        "compare", "overlays/prod-eu", "overlays/prod-us", "--allow", "/spec/template/spec/containers/*/env"
    )
    assert code == 1
    assert "NOT ALLOWED" in out and "ConfigMap shop/flags: only in overlays/prod-us (kustomize):1  NOT ALLOWED" in out
    (shop / "overlays" / "prod-us" / "kustomization.yaml").write_text(
        (shop / "overlays" / "prod-us" / "kustomization.yaml").read_text().replace("  - flags.yaml\n", "")
    )
    assert (
        run("compare", "overlays/prod-eu", "overlays/prod-us", "--allow", "/spec/template/spec/containers/*/env")[0]
        == 0
    )


def test_the_format_choices_are_the_registry() -> None:
    assert tuple(COMPARE_FORMATS) == COMPARE_FORMAT_NAMES


def test_compare_rendered_files_without_a_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    eu, us = str(DATA / "rendered" / "prod-eu.yaml"), str(DATA / "rendered" / "prod-us.yaml")
    code, out, _ = run("compare", eu, us, "--format", "json")
    assert code == 1
    assert all(d["allowed_by"] is None for o in json.loads(out)["comparisons"][0]["objects"] for d in o["differences"])
    code, out, _ = run("compare", eu, eu, "--format", "markdown")
    assert code == 0 and out.endswith("✅ in parity\n\nNo differences in 2 objects.\n")
    # Only the registry differs: allowed with the flag alone.
    moved = tmp_path / "moved.yaml"
    moved.write_text(Path(eu).read_text().replace("eu.registry", "us.registry"))
    assert run("compare", eu, str(moved))[0] == 1
    code, out, _ = run("compare", eu, str(moved), "--allow-image-registry", "--format", "json")
    differences = json.loads(out)["comparisons"][0]["objects"][0]["differences"]
    assert code == 0 and [d["allowed_by"] for d in differences] == ["allowed_image_registry"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["only-one.yaml"], "give at least two renderings"),
        (["a.yaml", "missing.yaml"], "missing.yaml: file not found; check the path"),
        (["--set", "web"], "no renderings to compare: give two or more PATHS, or name sets under `parity.sets`"),
        (["a.yaml", "a.yaml", "--allow", "spec/replicas"], "'spec/replicas' is no JSON Pointer"),
        (["a.yaml", "empty.yaml"], "empty.yaml"),
        (["a.yaml", "garbage.yaml"], "garbage.yaml"),
        (["a.yaml", "deep.yaml"], "deep.yaml"),
        (["a.yaml", "huge.yaml"], "more than the 1048576 compared per object"),
        (["a.yaml", "intkey.yaml"], "ConfigMap a: key 1 under /data is not a string; quote it"),
    ],
)
def test_compare_input_errors_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.yaml").write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
    )
    (tmp_path / "empty.yaml").write_text("# nothing\n")
    (tmp_path / "garbage.yaml").write_bytes(b"\x00\xff\xfe{{{: [")
    (tmp_path / "intkey.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {1: one}\n")
    (tmp_path / "deep.yaml").write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    huge = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "x" * (1024 * 1024)}}
    (tmp_path / "huge.yaml").write_text(yaml.safe_dump(huge, width=10**9))
    code, out, err = run("compare", *args)
    assert code == 2, out + err
    assert message in err and "Traceback" not in err + out


def test_compare_unknown_set_names_the_known_ones(shop: Path) -> None:
    code, _, err = run("compare", "--set", "api")
    assert code == 2 and f"{shop}/rollguard.yaml: no parity set named 'api' (known: web)" in err


def test_config_refuses_a_malformed_parity_section(shop: Path) -> None:
    configure(shop, parity={"sets": [{"name": "web", "paths": ["overlays/prod-eu"]}]})
    code, _, err = run("compare")
    assert code == 2 and "parity" in err
    configure(shop, parity={"allowed": ["spec/replicas"]})
    assert run("compare")[0] == 2
    configure(shop, parity={"sets": [{"name": "web", "paths": ["a", "b"]}, {"name": "web", "paths": ["a", "b"]}]})
    code, _, err = run("compare")
    assert code == 2 and "a set named 'web' is defined twice" in err


def _check(*args: str) -> tuple[int, list[dict[str, Any]]]:
    code, out, err = run("check", "--format", "json", *args)
    assert code in (0, 1), err
    return code, [f for f in json.loads(out)["findings"] if f["policy"] == "governance.region_parity"]


@needs_kustomize
def test_check_reports_the_set_as_governance_region_parity(shop: Path) -> None:
    _, findings = _check("overlays/prod-us")
    assert [(f["file"], f["line"], f["message"], f["severity"], f["enforcement"]) for f in findings] == [
        ("overlays/prod-us (kustomize)", 1, FLAGS_ONLY_IN_US, "high", "deny"),
        ("overlays/prod-us (kustomize)", 46, ENV_DIFFERENCE, "high", "deny"),
    ]
    assert findings[1]["details"] == {
        "set": "web",
        "pointer": "/spec/template/spec/containers/0/env/0/value",
        "op": {"op": "replace", "path": "/spec/template/spec/containers/0/env/0/value", "value": "debug"},
        "a": {"file": "overlays/prod-eu (kustomize)", "line": 36, "value": "info"},
        "b": {"file": "overlays/prod-us (kustomize)", "line": 46, "value": "debug"},
    }


@needs_kustomize
def test_check_parity_findings_follow_waivers_enforcement_and_selection(shop: Path) -> None:
    config = yaml.safe_load((shop / "rollguard.yaml").read_text())
    configure(
        shop,
        waivers=[
            {
                "id": "W-1",
                "policy": "governance.region_parity",
                "reason": "checkout v2 is tried in the US first",
                "owner": "team-shop",
                "expires": "2099-01-01",
                "match": {"kind": "ConfigMap", "name": "flags"},
            }
        ],
        enforcement={"governance.region_parity": "warn"},
    )
    _, findings = _check("overlays/prod-us")
    assert [(f["resource"]["kind"], f["enforcement"], (f["waiver"] or {}).get("id")) for f in findings] == [
        ("ConfigMap", "warn", "W-1"),
        ("Deployment", "warn", None),
    ]
    configure(shop, **config, policies={"exclude": ["governance.*"]})
    assert _check("overlays/prod-us")[1] == []


@needs_kustomize
def test_check_without_parity_sets_compares_nothing(shop: Path) -> None:
    configure(shop, parity={"allowed": ["/spec/replicas"]})
    assert _check("overlays/prod-us")[1] == []


def test_check_names_a_set_it_cannot_read(shop: Path) -> None:
    configure(shop, parity={"sets": [{"name": "web", "paths": ["rendered/prod-eu.yaml", "rendered/gone.yaml"]}]})
    code, out, _ = run("check", "--format", "json", "rendered/prod-eu.yaml")
    assert code == 2
    assert json.loads(out)["errors"] == [
        {
            "file": "rendered/gone.yaml",
            "line": None,
            "message": f"file not found; check the path (a rendering of parity set web, {shop}/rollguard.yaml:3); "
            "fix the path or the rendering",
        }
    ]
