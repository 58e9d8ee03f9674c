"""gatekeeper-library's own suites (suite.yaml) replayed through the matching rollguard policy on both engines.

Each upstream case names an object, maybe inventory objects, and the violations Gatekeeper's
template reports for it under the sample constraint. The same object, with the constraint's
parameters translated to rollguard's, must draw the same verdict from the one rollguard policy
that covers the template, on OPA and on regorus.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollguard.contract import build_inventory
from rollguard.gate import Gate
from rollguard.inputs import load_change_set
from rollguard.model import Finding
from rollguard.policy.bundle import PolicyBundle
from rollguard.policy.config import Config

from .conftest import CORPUS, ENGINES, make_gate

LIBRARY = Path("k8s-manifests") / "gatekeeper-library" / "library" / "general"
SAMPLES = (
    "requiredprobes",
    "replicalimits",
    "poddisruptionbudget",
    "horizontalpodautoscaler",
    "disallowedtags",
    "imagedigests",
    "allowedrepos",
)

Parameters = Mapping[str, Any]


# --- constraint parameters → rollguard parameters, one function per template ---------------------


def required_probes(gk: Parameters) -> dict[str, Any]:
    """K8sRequiredProbes → k8s.readiness_probe: the same probe and handler lists."""
    # K8sRequiredProbes requires the probes of every container, serving or not.
    return {"probes": list(gk["probes"]), "probe_types": list(gk["probeTypes"]), "serving": "all"}


def replica_limits(gk: Parameters) -> dict[str, Any]:
    """K8sReplicaLimits → k8s.replicas_minimum: rollguard has one range, not a union of them."""
    ranges = gk["ranges"]
    if len(ranges) != 1:
        raise ValueError(f"k8s.replicas_minimum takes one replica range, the constraint gives {len(ranges)}")
    return {"min_replicas": ranges[0]["min_replicas"], "max_replicas": ranges[0]["max_replicas"]}


def horizontal_pod_autoscaler(gk: Parameters) -> dict[str, Any]:
    """K8sHorizontalPodAutoscaler → k8s.hpa_consistency: minReplicas floor, maxReplicas ceiling, spread."""
    # rollguard always reports a scaleTargetRef that does not exist, which is what
    # enforceScaleTargetRef: true asks for; there is no switch to turn it off.
    if not gk.get("enforceScaleTargetRef", False):
        raise ValueError(
            "k8s.hpa_consistency always checks scaleTargetRef; enforceScaleTargetRef: false has no equivalent"
        )
    ranges = gk["ranges"]
    if len(ranges) != 1:
        raise ValueError(f"k8s.hpa_consistency takes one replica range, the constraint gives {len(ranges)}")
    return {
        "min_replicas": ranges[0]["min_replicas"],
        "max_replicas": ranges[0]["max_replicas"],
        "min_spread": gk.get("minimumReplicaSpread", 0),
    }


def pod_disruption_budget(gk: Parameters) -> dict[str, Any]:
    """K8sPodDisruptionBudget → k8s.pdb_coverage: neither takes parameters."""
    if gk:
        raise ValueError(f"K8sPodDisruptionBudget takes no parameters, the constraint gives {sorted(gk)}")
    return {}


def disallowed_tags(gk: Parameters) -> dict[str, Any]:
    """K8sDisallowedTags → k8s.image_pinning: same tags, and exemptImages with the same `*` prefix form."""
    return {"disallowed_tags": list(gk["tags"]), "exempt_images": list(gk.get("exemptImages", []))}


def image_digests(gk: Parameters) -> dict[str, Any]:
    """K8sImageDigests → k8s.image_pinning with require_digest."""
    return {"require_digest": True, "exempt_images": list(gk.get("exemptImages", []))}


def allowed_repos(gk: Parameters) -> dict[str, Any]:
    """K8sAllowedRepos → k8s.image_registry, each repo prefix in rollguard's normalised form."""
    return {"allowed_registries": [normalized_repo_prefix(r) for r in gk["repos"]]}


def normalized_repo_prefix(repo: str) -> str:
    """A Gatekeeper repo prefix (matched against the image string as written) as a prefix of the
    normalised reference rollguard matches against.

    rollguard normalises `openpolicyagent/opa:0.9.2` to `docker.io/openpolicyagent/opa:0.9.2`,
    so the Docker Hub namespace prefix `openpolicyagent/` becomes `docker.io/openpolicyagent/`;
    a prefix that already starts with a registry host (a dot, a port or `localhost`) stays as it
    is. A prefix without "/" (Gatekeeper's `nginx` also admits `nginx-evil/x`) has no faithful
    equivalent and is refused rather than guessed.
    """
    first, slash, rest = repo.partition("/")
    if not slash:
        raise ValueError(f"repo prefix {repo!r} names no registry or namespace; it has no rollguard equivalent")
    if first in ("docker.io", "index.docker.io"):
        return f"docker.io/{rest}"
    if "." in first or ":" in first or first == "localhost":
        return repo
    return f"docker.io/{repo}"


TRANSLATIONS: dict[str, tuple[str, Callable[[Parameters], dict[str, Any]]]] = {
    "K8sRequiredProbes": ("k8s.readiness_probe", required_probes),
    "K8sReplicaLimits": ("k8s.replicas_minimum", replica_limits),
    "K8sHorizontalPodAutoscaler": ("k8s.hpa_consistency", horizontal_pod_autoscaler),
    "K8sPodDisruptionBudget": ("k8s.pdb_coverage", pod_disruption_budget),
    "K8sDisallowedTags": ("k8s.image_pinning", disallowed_tags),
    "K8sImageDigests": ("k8s.image_pinning", image_digests),
    "K8sAllowedRepos": ("k8s.image_registry", allowed_repos),
}

# A suite assertion's `message` is a regex over Gatekeeper's messages, which name the container
# list ("container <x> …", "initContainer <x> …"). rollguard's messages do not, so the filter is
# applied through the list the finding's container is declared in.
MESSAGE_FIELDS = {
    "container": "containers",
    "initContainer": "initContainers",
    "ephemeralContainer": "ephemeralContainers",
}

# Cases whose upstream counts rollguard cannot reproduce; their count assertions are checked as
# yes/no. Both objects declare the same container name (and image) in more than one container list,
# which Kubernetes rejects (names are unique across containers, initContainers and
# ephemeralContainers). Gatekeeper's messages differ per list, so it reports each copy; rollguard's
# violation for a container is {name, image, ...} with no list, so Rego's set semantics keep one.
IMPOSSIBLE_COUNTS = {
    ("imagedigests", "disallowed-all"): "container opa is also ephemeral container opa",
    ("allowedrepos", "all-disallowed"): "nginx names a container, an init and an ephemeral container",
}


# --- the suites ----------------------------------------------------------------------------------


def suite_cases() -> list[Any]:
    """(sample, suite test, case) for every case of every sample's suite.yaml in the corpus."""
    params: list[Any] = []
    for sample in SAMPLES:
        suite_file = CORPUS / LIBRARY / sample / "suite.yaml"
        if not suite_file.is_file():
            # Without the corpus the `corpus` fixture skips this; with it, the test reports the gap.
            params.append(pytest.param(sample, None, None, id=sample))
            continue
        suite = yaml.safe_load(suite_file.read_text(encoding="utf-8"))
        for test in suite["tests"]:
            for case in test["cases"]:
                params.append(pytest.param(sample, test, case, id=f"{sample}/{case['name']}"))
    return params


@pytest.fixture(scope="module")
def gate_for(bundle: PolicyBundle) -> Callable[[str, str, dict[str, Any]], Gate]:
    """A gate with only `policy_id` selected and `parameters` for it; one per engine and constraint."""
    cache: dict[tuple[str, str, str], Gate] = {}

    def get(engine: str, policy_id: str, parameters: dict[str, Any]) -> Gate:
        key = (engine, policy_id, repr(sorted(parameters.items())))
        if key not in cache:
            settings = Config(include=(policy_id,), parameters={policy_id: parameters}).resolve(None)
            cache[key] = make_gate(bundle, engine, settings)
        return cache[key]

    return get


def container_names(document: Mapping[str, Any], field: str) -> set[str]:
    """Names of the containers in `field` (containers, initContainers, …) of a Pod or pod template."""
    spec = document.get("spec") or {}
    pod_spec = spec if document.get("kind") == "Pod" else (spec.get("template") or {}).get("spec") or {}
    return {c["name"] for c in pod_spec.get(field) or [] if isinstance(c, dict) and "name" in c}


def matching(findings: Sequence[Finding], message: str | None, document: Mapping[str, Any]) -> list[Finding]:
    """The findings an assertion's `message` filter selects (all of them without a filter)."""
    if message is None:
        return list(findings)
    if message not in MESSAGE_FIELDS:
        pytest.fail(f"suite message filter {message!r} has no rollguard equivalent; add it to MESSAGE_FIELDS")
    names = container_names(document, MESSAGE_FIELDS[message])
    return [f for f in findings if f.details.get("container") in names]


def has_repeated_container_names(document: Mapping[str, Any]) -> bool:
    """Whether one name is used in two container lists (which Kubernetes itself rejects)."""
    names = [n for field in MESSAGE_FIELDS.values() for n in container_names(document, field)]
    return len(names) != len(set(names))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("sample", "test", "case"), suite_cases())
def test_suite_case(
    sample: str,
    test: Mapping[str, Any] | None,
    case: Mapping[str, Any] | None,
    engine: str,
    corpus: Path,
    bundle: PolicyBundle,
    gate_for: Callable[[str, str, dict[str, Any]], Gate],
) -> None:
    folder = corpus / LIBRARY / sample
    assert test is not None and case is not None, f"{folder / 'suite.yaml'} is missing from the corpus"
    object_file = folder / case["object"]
    if not object_file.is_file():
        pytest.skip(
            f"{case['object']} is an AdmissionReview (an UPDATE), kept in the corpus under admission-review/; "
            "this test judges files as CREATE, so the case belongs to the admission path"
        )
    constraint = yaml.safe_load((folder / test["constraint"]).read_text(encoding="utf-8"))
    policy_id, translate = TRANSLATIONS[constraint["kind"]]
    gate = gate_for(engine, policy_id, translate((constraint.get("spec") or {}).get("parameters") or {}))

    change = load_change_set([str(object_file)])
    inventory_files = [str(folder / f) for f in case.get("inventory") or []]
    inventory = load_change_set(inventory_files) if inventory_files else None
    problems = [*change.problems, *(inventory.problems if inventory else ())]
    assert not problems, [p.display() for p in problems]
    extra = inventory.artifacts if inventory else ()
    (artifact,) = change.artifacts
    document = artifact.document
    # A kind the policy does not judge would pass every "no" case without being looked at.
    (info,) = (p for p in bundle.policies if p.id == policy_id)
    assert document["kind"] in info.applies_to, f"{policy_id} does not judge {document['kind']}"

    decision = gate.judge(change, inventory=build_inventory([document, *(a.document for a in extra)]))
    assert not decision.errors, [f.message for f in decision.errors]
    assert {f.policy for f in decision.findings} <= {policy_id}

    impossible = IMPOSSIBLE_COUNTS.get((sample, case["name"]))
    if impossible:
        assert has_repeated_container_names(document), f"{sample}/{case['name']}: {impossible} no longer holds"
    shown = "\n".join(f.message for f in decision.findings) or "(no findings)"
    for assertion in case["assertions"]:
        expected = assertion["violations"]  # PyYAML reads yes/no as booleans
        found = matching(decision.findings, assertion.get("message"), document)
        where = f"{sample}/{case['name']} {assertion} on {engine}:\n{shown}"
        if isinstance(expected, bool) or impossible:
            assert bool(found) == bool(expected), where
        else:
            assert len(found) == expected, where


# --- the translations themselves -----------------------------------------------------------------


def test_repo_prefixes_normalise_like_image_references() -> None:
    assert normalized_repo_prefix("openpolicyagent/") == "docker.io/openpolicyagent/"
    assert normalized_repo_prefix("library/") == "docker.io/library/"
    assert normalized_repo_prefix("index.docker.io/bitnami/") == "docker.io/bitnami/"
    assert normalized_repo_prefix("docker.io/bitnami/") == "docker.io/bitnami/"
    assert normalized_repo_prefix("quay.io/prometheus/") == "quay.io/prometheus/"
    assert normalized_repo_prefix("registry.example.com:5000/shop/") == "registry.example.com:5000/shop/"
    assert normalized_repo_prefix("localhost/") == "localhost/"
    with pytest.raises(ValueError, match="no rollguard equivalent"):
        normalized_repo_prefix("nginx")


def test_translations_refuse_what_rollguard_cannot_express() -> None:
    two = [{"min_replicas": 1, "max_replicas": 3}, {"min_replicas": 5, "max_replicas": 9}]
    with pytest.raises(ValueError, match="one replica range"):
        replica_limits({"ranges": two})
    with pytest.raises(ValueError, match="enforceScaleTargetRef"):
        horizontal_pod_autoscaler({"ranges": two[:1], "enforceScaleTargetRef": False})
    translated = horizontal_pod_autoscaler(
        {"ranges": two[:1], "enforceScaleTargetRef": True, "minimumReplicaSpread": 2}
    )
    assert translated == {"min_replicas": 1, "max_replicas": 3, "min_spread": 2}


def test_every_translation_yields_parameters_the_policy_accepts(bundle: PolicyBundle) -> None:
    """The gate validates parameters against each policy's schema: a typo would raise here."""
    samples: dict[str, Parameters] = {
        "K8sRequiredProbes": {"probes": ["readinessProbe"], "probeTypes": ["httpGet"]},
        "K8sReplicaLimits": {"ranges": [{"min_replicas": 3, "max_replicas": 50}]},
        "K8sHorizontalPodAutoscaler": {
            "ranges": [{"min_replicas": 3, "max_replicas": 6}],
            "enforceScaleTargetRef": True,
        },
        "K8sPodDisruptionBudget": {},
        "K8sDisallowedTags": {"tags": ["latest"], "exemptImages": ["x/*"]},
        "K8sImageDigests": {},
        "K8sAllowedRepos": {"repos": ["openpolicyagent/"]},
    }
    assert samples.keys() == TRANSLATIONS.keys()
    for kind, (policy_id, translate) in TRANSLATIONS.items():
        parameters = translate(samples[kind])
        (info,) = (p for p in bundle.policies if p.id == policy_id)
        assert set(parameters) <= set(info.parameters_schema["properties"]), kind
        make_gate(bundle, "regorus", Config(include=(policy_id,), parameters={policy_id: parameters}).resolve(None))
