"""Region parity: pointer globs, pairing, the exact patches and values, the findings and the bounds."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from rollguard.errors import InputError
from rollguard.fleet.parity import (
    ABSENT,
    IMAGE_REGISTRY_RULE,
    LONG_LIST,
    PARITY_POLICY,
    ParityLimits,
    Side,
    compare_set,
    compare_sides,
    comparison_findings,
    parity_findings,
    pointer_matches,
    read_side,
)
from rollguard.model import Artifact, InputProblem, Resource, Severity
from rollguard.policy.config import Parity, ParitySet, load_config

DATA = Path(__file__).parent / "data" / "shop"
needs_kustomize = pytest.mark.skipif(
    not (shutil.which("kubectl") or shutil.which("kustomize")), reason="needs kubectl or kustomize"
)


@pytest.mark.parametrize(
    ("pattern", "pointer", "expected"),
    [
        ("/spec/replicas", "/spec/replicas", True),
        ("/spec/replicas", "/spec/replicasets", False),
        ("/spec", "/spec/replicas", True),  # a pattern covers the fields below it
        ("/spec/replicas", "/spec", False),
        ("/spec/template/spec/containers/*/image", "/spec/template/spec/containers/3/image", True),
        ("/spec/template/spec/containers/*/image", "/spec/template/spec/initContainers/0/image", False),
        ("/**/resources", "/spec/template/spec/containers/0/resources/limits/cpu", True),
        ("/**/resources", "/resources", True),  # `**` may match no token at all
        ("/spec/**/cpu", "/spec/template/spec/containers/0/resources/requests/memory", False),
        ("/metadata/labels/topology.kubernetes.io~1region", "/metadata/labels/topology.kubernetes.io~1region", True),
        ("/metadata/labels/topology.kubernetes.io~1*", "/metadata/labels/topology.kubernetes.io~1zone", True),
        ("/metadata/labels/topology.kubernetes.io~1region", "/metadata/labels/topology.kubernetes.io~1zone", False),
        ("/metadata/annotations/a~0b", "/metadata/annotations/a~0b", True),
        ("/metadata/annotations/a~0b", "/metadata/annotations/a~1b", False),
    ],
)
def test_pointer_globs(pattern: str, pointer: str, expected: bool) -> None:
    assert pointer_matches(pattern, pointer) is expected


_token = st.text(alphabet=st.characters(codec="utf-8"), max_size=8)


@given(st.lists(_token, max_size=12), st.lists(st.sampled_from(["*", "**", "a", "~1", "?"]), max_size=12))
def test_pointer_globs_take_any_text(tokens: list[str], pattern: list[str]) -> None:
    pointer = "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)
    # Every pointer covers itself, `/**` covers every pointer, and no pattern raises.
    assert pointer_matches(pointer, pointer)
    assert pointer_matches("/**", pointer)
    pointer_matches("".join("/" + p for p in pattern), pointer)


def test_a_key_with_glob_characters_matches_itself() -> None:
    # Found by the property above: `[0]` as a glob is a character class that matches only `0`.
    assert pointer_matches("/metadata/annotations/[0]", "/metadata/annotations/[0]")
    assert pointer_matches("/metadata/annotations/[0]", "/metadata/annotations/0")
    assert not pointer_matches("/metadata/annotations/[0]", "/metadata/annotations/1")


def test_rendered_files_exact_differences() -> None:
    parity = Parity(allowed=("/spec/replicas",), allowed_image_registry=True)
    comparison = compare_sides(
        read_side(f"{DATA}/rendered/prod-eu.yaml"), read_side(f"{DATA}/rendered/prod-us.yaml"), parity=parity
    )
    assert not comparison.in_parity
    deployment, secret, service = comparison.objects
    # Paired although the regions use their own namespaces: kind and name are unique on both sides.
    assert (deployment.a and deployment.a.resource.namespace, deployment.b and deployment.b.resource.namespace) == (
        "shop-eu",
        "shop-us",
    )
    rows = [(dict(d.operation), d.before, d.after, d.line_a, d.line_b, d.allowed_by) for d in deployment.differences]
    assert rows == [
        ({"op": "remove", "path": "/metadata/annotations"}, {"example.com/owner": "team-shop"}, ABSENT, 7, 4, None),
        ({"op": "replace", "path": "/metadata/namespace", "value": "shop-us"}, "shop-eu", "shop-us", 6, 6, None),
        ({"op": "replace", "path": "/spec/replicas", "value": 5}, 3, 5, 10, 8, "/spec/replicas"),
        (
            # The registry differs, and so does the tag: the registry rule does not cover it.
            {
                "op": "replace",
                "path": "/spec/template/spec/containers/0/image",
                "value": "us.registry.example.com/shop/web:2.6.0",
            },
            "eu.registry.example.com/shop/web:2.5.0",
            "us.registry.example.com/shop/web:2.6.0",
            15,
            13,
            None,
        ),
        (
            {
                "op": "add",
                "path": "/spec/template/spec/containers/1",
                "value": {"name": "proxy", "image": "envoyproxy/envoy:v1.31.0"},
            },
            ABSENT,
            {"name": "proxy", "image": "envoyproxy/envoy:v1.31.0"},
            13,
            14,
            None,
        ),
    ]
    assert (secret.a, secret.b and secret.b.line) == (None, 17)
    assert (service.a and service.a.line, service.b) == (17, None)


def test_findings_name_both_files_the_pointer_and_both_values() -> None:
    parity = Parity(allowed=("/spec/replicas", "/metadata/namespace", "/metadata/annotations", "/spec/template"))
    comparison = compare_sides(
        read_side(f"{DATA}/rendered/prod-eu.yaml"), read_side(f"{DATA}/rendered/prod-us.yaml"), parity=parity
    )
    eu, us = f"{DATA}/rendered/prod-eu.yaml", f"{DATA}/rendered/prod-us.yaml"
    findings = comparison_findings(comparison)
    assert [(f.policy, f.severity, f.file, f.line, f.message) for f in findings] == [
        (
            PARITY_POLICY,
            Severity.HIGH,
            us,
            17,
            f"Secret shop-us/web-tls is in {us}:17 but not in {eu}; add it there or remove it here",
        ),
        (
            PARITY_POLICY,
            Severity.HIGH,
            eu,
            17,
            f"Service shop-eu/web is in {eu}:17 but not in {us}; add it there or remove it here",
        ),
    ]


def test_one_finding_per_difference_not_allowed() -> None:
    eu = Side("eu.yaml", read_side(f"{DATA}/rendered/prod-eu.yaml").artifacts[:1])
    us = Side("us.yaml", read_side(f"{DATA}/rendered/prod-us.yaml").artifacts[:1])
    comparison = compare_sides(eu, us, parity=Parity(allowed=("/metadata",)), parity_set=ParitySet("web", ()))
    messages = [(f.line, f.message, f.details["pointer"]) for f in comparison_findings(comparison)]
    eu_file, us_file = f"{DATA}/rendered/prod-eu.yaml", f"{DATA}/rendered/prod-us.yaml"
    assert messages == [
        (
            8,
            f"Deployment shop-us/web: /spec/replicas is 3 in {eu_file}:10 but 5 in {us_file}:8 (parity set web); "
            "make them alike or allow the pointer under parity.allowed",
            "/spec/replicas",
        ),
        (
            13,
            f'Deployment shop-us/web: /spec/template/spec/containers/0/image is "eu.registry.example.com/shop/web:2.5.0" '
            f'in {eu_file}:15 but "us.registry.example.com/shop/web:2.6.0" in {us_file}:13 (parity set web); '
            "make them alike or allow the pointer under parity.allowed",
            "/spec/template/spec/containers/0/image",
        ),
        (
            14,
            f"Deployment shop-us/web: /spec/template/spec/containers/1 is absent in {eu_file}:13 but "
            f'{{"image": "envoyproxy/envoy:v1.31.0", "name": "proxy"}} in {us_file}:14 (parity set web); '
            "make them alike or allow the pointer under parity.allowed",
            "/spec/template/spec/containers/1",
        ),
    ]


@pytest.mark.parametrize(
    ("a", "b", "allowed"),
    [
        ("eu.registry.example.com/shop/web:2.5.0", "us.registry.example.com/shop/web:2.5.0", True),
        ("registry:5000/shop/web@sha256:ab", "localhost/shop/web@sha256:ab", True),
        ("docker.io/library/nginx:1.27", "nginx:1.27", True),
        ("eu.registry.example.com/shop/web:2.5.0", "eu.registry.example.com/shop/web:2.5.1", False),
        ("eu.registry.example.com/shop/web:2.5.0", "us.registry.example.com/team/web:2.5.0", False),
        ("eu.registry.example.com/shop/web@sha256:ab", "us.registry.example.com/shop/web@sha256:cd", False),
    ],
)
def test_image_registry_rule(tmp_path: Path, a: str, b: str, allowed: bool) -> None:
    def side(name: str, image: str) -> Side:
        doc = {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "report"},
            "spec": {
                "jobTemplate": {"spec": {"template": {"spec": {"initContainers": [{"name": "i", "image": image}]}}}}
            },
        }
        (tmp_path / name).write_text(yaml.safe_dump(doc))
        return read_side(str(tmp_path / name))

    left, right = side("a.yaml", a), side("b.yaml", b)
    (difference,) = compare_sides(left, right, parity=Parity(allowed_image_registry=True)).objects[0].differences
    assert difference.allowed_by == (IMAGE_REGISTRY_RULE if allowed else None)
    # Without the rule the same difference is never allowed.
    (plain,) = compare_sides(left, right, parity=Parity()).objects[0].differences
    assert plain.allowed_by is None


def test_server_set_fields_are_not_differences(tmp_path: Path) -> None:
    base: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "flags", "namespace": "shop"},
        "data": {},
    }
    exported = {
        **base,
        "metadata": {
            **base["metadata"],
            "uid": "0b5e",
            "resourceVersion": "42",
            "managedFields": [{"manager": "kubectl"}],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
        },
        "status": {"phase": "x"},
    }
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(base))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(exported))
    comparison = compare_sides(
        read_side(str(tmp_path / "a.yaml")), read_side(str(tmp_path / "b.yaml")), parity=Parity()
    )
    # Only the annotations map, emptied by leaving out kubectl's copy, remains.
    assert [dict(d.operation) for d in comparison.objects[0].differences] == [
        {"op": "add", "path": "/metadata/annotations", "value": {}}
    ]


@needs_kustomize
def test_overlays_of_the_config_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(DATA)
    config = load_config(DATA / "rollguard.yaml")
    (web,) = config.parity.sets
    eu_us, eu_ap = compare_set(config.parity, web)
    assert (eu_us.a, eu_us.b, eu_ap.b) == ("overlays/prod-eu", "overlays/prod-us", "overlays/prod-ap")
    assert eu_ap.in_parity and not eu_us.in_parity
    assert [(o.resource.display(), [(d.pointer, d.allowed_by) for d in o.differences]) for o in eu_ap.objects] == [
        (
            "Deployment shop/web",
            [
                ("/metadata/labels/topology.kubernetes.io~1region", "/metadata/labels/topology.kubernetes.io~1region"),
                ("/spec/replicas", "/spec/replicas"),
                ("/spec/template/spec/containers/0/image", IMAGE_REGISTRY_RULE),
                (
                    "/spec/template/spec/containers/0/resources/requests/cpu",
                    "/spec/template/spec/containers/*/resources",
                ),
            ],
        ),
        (
            "Service shop/web",
            [("/metadata/labels/topology.kubernetes.io~1region", "/metadata/labels/topology.kubernetes.io~1region")],
        ),
    ]
    findings = parity_findings(config.parity, source="rollguard.yaml")
    assert [(f.file, f.line, f.message) for f in findings] == [
        (
            "overlays/prod-us (kustomize)",
            1,
            "ConfigMap shop/flags is in overlays/prod-us (kustomize):1 but not in overlays/prod-eu "
            "(parity set web); add it there or remove it here",
        ),
        (
            "overlays/prod-us (kustomize)",
            46,
            'Deployment shop/web: /spec/template/spec/containers/0/env/0/value is "info" in '
            'overlays/prod-eu (kustomize):36 but "debug" in overlays/prod-us (kustomize):46 (parity set web); '
            "make them alike or allow the pointer under parity.allowed",
        ),
    ]


def test_a_set_that_cannot_be_read_is_an_input_problem(tmp_path: Path) -> None:
    parity = Parity(sets=(ParitySet("web", (tmp_path / "eu.yaml", tmp_path / "us.yaml"), line=7),))
    problems: list[InputProblem] = []
    assert parity_findings(parity, source="rollguard.yaml", problems=problems) == []
    assert problems == [
        InputProblem(
            f"{tmp_path}/eu.yaml",
            None,
            "file not found; check the path (a rendering of parity set web, rollguard.yaml:7); "
            "fix the path or the rendering",
        )
    ]
    with pytest.raises(InputError, match="file not found"):
        parity_findings(parity)


def test_bounds_are_input_errors(tmp_path: Path) -> None:
    many = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}"}} for i in range(6)]
    (tmp_path / "many.yaml").write_text(yaml.safe_dump_all(many))
    with pytest.raises(InputError, match="holds 6 Kubernetes objects, more than the 5 compared at once"):
        read_side(str(tmp_path / "many.yaml"), limits=ParityLimits(max_objects=5))
    big = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"k": "x" * 2000}}
    (tmp_path / "big.yaml").write_text(yaml.safe_dump(big))
    with pytest.raises(InputError, match="ConfigMap big is [0-9]+ bytes as JSON, more than the 1000 compared"):
        read_side(str(tmp_path / "big.yaml"), limits=ParityLimits(max_object_bytes=1000))


def test_differences_beyond_the_listed_ones_are_counted(tmp_path: Path) -> None:
    def write(name: str, values: list[int]) -> Side:
        doc = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c"},
            "data": {f"k{i}": str(v) for i, v in enumerate(values)},
        }
        (tmp_path / name).write_text(yaml.safe_dump(doc))
        return read_side(str(tmp_path / name))

    comparison = compare_sides(
        write("a.yaml", [0] * 30),
        write("b.yaml", [1] * 30),
        parity=Parity(allowed=("/data/k1*",)),
        limits=ParityLimits(max_listed=10),
    )
    (diff,) = comparison.objects
    # k1 and k10..k19 are allowed: 11 of 30. Ten are listed, twenty counted, and what is counted is still judged.
    assert (len(diff.differences), diff.unlisted) == (10, 20)
    assert len(diff.denied) + diff.unlisted_denied == 19
    (*_, summary) = comparison_findings(comparison)
    assert f"in {diff.unlisted_denied} more fields not allowed" in summary.message


def _artifact(document: dict[str, Any], file: str) -> Artifact:
    resource = Resource(document["apiVersion"], document["kind"], None, document["metadata"]["name"])
    return Artifact(kind="k8s", document=document, file=file, line=1, resource=resource)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4),
    max_leaves=12,
)


@given(_json, _json)
def test_the_listed_patch_turns_a_into_b(left: Any, right: Any) -> None:
    a = _artifact({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": left}, "a.yaml")
    b = _artifact({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": right}, "b.yaml")
    (diff,) = compare_sides(Side("a", (a,)), Side("b", (b,)), parity=Parity()).objects
    patched = jsonpatch.apply_patch(dict(a.document), [dict(d.operation) for d in diff.differences])
    assert patched == b.document
    for d in diff.differences:
        if d.operation["op"] in ("add", "replace"):
            assert d.after == d.operation["value"]


def test_long_lists_differ_as_one_replace() -> None:
    items = [f"i{n}" for n in range(LONG_LIST + 1)]
    base = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    a = _artifact({**base, "data": {"long": items, "short": ["x", "y"]}}, "a.yaml")
    b = _artifact({**base, "data": {"long": items[::-1], "short": ["y", "x"]}}, "b.yaml")
    (diff,) = compare_sides(Side("a", (a,)), Side("b", (b,)), parity=Parity()).objects
    assert [dict(d.operation) for d in diff.differences] == [
        {"op": "replace", "path": "/data/long", "value": items[::-1]},
        {"op": "move", "from": "/data/short/1", "path": "/data/short/0"},
    ]
    assert (diff.differences[0].before, diff.differences[1].before, diff.differences[1].after) == (items, "y", "y")


_yaml_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5) | st.dates(),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=3) | st.integers(0, 3) | st.dates(), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(_yaml_value, _yaml_value)
def test_any_yaml_compares_or_is_an_input_error(
    tmp_path_factory: pytest.TempPathFactory, left: Any, right: Any
) -> None:
    folder = tmp_path_factory.mktemp("yaml")
    sides = []
    for name, data in (("a.yaml", left), ("b.yaml", right)):
        (folder / name).write_text(
            yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data})
        )
    try:
        sides = [read_side(str(folder / "a.yaml")), read_side(str(folder / "b.yaml"))]
        comparison_findings(compare_sides(*sides, parity=Parity(allowed=("/data/**",))))
    except InputError as exc:
        # The two things YAML can hold and JSON cannot: a key that is not a string, and .inf.
        assert "is not a string; quote it" in exc.message or "is not a number JSON can carry; quote it" in exc.message
