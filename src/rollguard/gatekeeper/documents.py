"""The Gatekeeper documents for rollguard's policies: ConstraintTemplates, Constraints, Suites and sync Config."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rollguard.errors import PolicyError
from rollguard.gatekeeper.rego import (
    inventory_readers,
    library_modules,
    literal_inventory_kinds,
    template_source,
)
from rollguard.gatekeeper.schema import openapi_schema
from rollguard.kube.kinds import KINDS
from rollguard.model import Enforcement
from rollguard.policy.bundle import PolicyBundle, PolicyInfo

TEMPLATE_API_VERSION = "templates.gatekeeper.sh/v1"
CONSTRAINT_API_VERSION = "constraints.gatekeeper.sh/v1beta1"
SUITE_API_VERSION = "test.gatekeeper.sh/v1alpha1"
CONFIG_API_VERSION = "config.gatekeeper.sh/v1alpha1"
KUSTOMIZATION_API_VERSION = "kustomize.config.k8s.io/v1beta1"
TARGET = "admission.k8s.gatekeeper.sh"
GATEKEEPER_NAMESPACE = "gatekeeper-system"

ID_ANNOTATION = "rollguard.io/policy-id"
VERSION_ANNOTATION = "metadata.gatekeeper.sh/version"
SYNC_ANNOTATION = "metadata.gatekeeper.sh/requires-sync-data"

# The group and version Gatekeeper syncs each kind under. Policies look objects up by kind in
# any apiVersion (data.inventory.namespace[ns][_][kind]), so one served version per kind is enough.
KIND_GROUP_VERSIONS: dict[str, tuple[str, str]] = {kind: (api.group, api.version) for kind, api in KINDS.items()}


def constraint_kind(info: PolicyInfo) -> str:
    """The CRD kind of the policy's constraints, e.g. `RollguardReadinessProbe`."""
    return "Rollguard" + "".join(part.capitalize() for part in info.name.split("_"))


def template_name(info: PolicyInfo) -> str:
    """The ConstraintTemplate's name: Gatekeeper requires the constraint kind in lower case."""
    return constraint_kind(info).lower()


def constraint_name(info: PolicyInfo) -> str:
    """The name of the policy's deployable constraint, e.g. `readiness-probe`."""
    return info.name.replace("_", "-")


def inventory_kinds(info: PolicyInfo) -> tuple[str, ...]:
    """Every kind the policy reads from data.inventory, whatever kind it judges (METADATA `inventory`)."""
    return tuple(sorted({k for kind in (*info.applies_to, "*") for k in info.inventory_for(kind)}))


def group_version(kind: str, *, policy: PolicyInfo) -> tuple[str, str]:
    """The (group, version) Gatekeeper syncs `kind` under."""
    if kind not in KIND_GROUP_VERSIONS:
        raise PolicyError(
            f"{policy.id} reads {kind} from data.inventory, and the Gatekeeper build does not know its API "
            "group; add it to KIND_GROUP_VERSIONS in rollguard/gatekeeper/documents.py",
            file=policy.file,
        )
    return KIND_GROUP_VERSIONS[kind]


def check_inventory_declared(
    bundle: PolicyBundle, info: PolicyInfo, *, libs: Mapping[str, tuple[str, str]] | None = None
) -> None:
    """Refuse a policy whose Rego names an inventory kind its METADATA `inventory` leaves out.

    Gatekeeper holds only the kinds the sync Config lists, which come from METADATA: an undeclared
    kind would be missing there, and Gatekeeper would then decide differently from the CLI.
    """
    libs = library_modules(bundle) if libs is None else libs
    read = literal_inventory_kinds(bundle.modules[info.file], inventory_readers(libs))
    missing = sorted(read - set(inventory_kinds(info)))
    if missing:
        raise PolicyError(
            f"{info.id} reads {', '.join(missing)} from data.inventory but METADATA custom.inventory does not "
            "list it; add it there so the Gatekeeper sync config includes it",
            file=info.file,
        )


def constraint_template(
    bundle: PolicyBundle, info: PolicyInfo, *, libs: Mapping[str, tuple[str, str]] | None = None
) -> dict[str, Any]:
    """The policy as a `templates.gatekeeper.sh/v1` ConstraintTemplate with Rego v1 source and its libraries.

    `libs` is `library_modules(bundle)`, passed in when building many templates.
    """
    libs = library_modules(bundle) if libs is None else libs
    source = template_source(bundle, info, libs=libs)
    check_inventory_declared(bundle, info, libs=libs)
    schema = openapi_schema(info.parameters_schema, where=f"{info.file}: METADATA custom.parameters")
    code: dict[str, Any] = {"version": "v1", "rego": source.rego}
    if source.libs:
        code["libs"] = list(source.libs)
    annotations = {
        "metadata.gatekeeper.sh/title": info.title,
        VERSION_ANNOTATION: template_version(code, schema),
        "description": info.description,
        ID_ANNOTATION: info.id,
        "rollguard.io/severity": info.severity.label,
        "rollguard.io/controls": ", ".join(info.controls),
    }
    kinds = inventory_kinds(info)
    if kinds:
        annotations[SYNC_ANNOTATION] = json.dumps(sync_requirements(kinds, policy=info), separators=(",", ":"))
    return {
        "apiVersion": TEMPLATE_API_VERSION,
        "kind": "ConstraintTemplate",
        "metadata": {"name": template_name(info), "annotations": annotations},
        "spec": {
            "crd": {"spec": {"names": {"kind": constraint_kind(info)}, "validation": {"openAPIV3Schema": schema}}},
            "targets": [{"target": TARGET, "code": [{"engine": "Rego", "source": code}]}],
        },
    }


def template_version(code: Mapping[str, Any], schema: Mapping[str, Any]) -> str:
    """A version that changes exactly when what Gatekeeper runs (Rego, libraries, schema) changes."""
    digest = hashlib.sha256(json.dumps([code, schema], sort_keys=True).encode()).hexdigest()
    return f"sha256-{digest[:16]}"


def sync_requirements(kinds: Iterable[str], *, policy: PolicyInfo) -> list[list[dict[str, list[str]]]]:
    """Gatekeeper's `requires-sync-data` form: every kind is required (ANDed), one GVK each."""
    out = []
    for kind in sorted(kinds):
        group, version = group_version(kind, policy=policy)
        out.append([{"groups": [group], "versions": [version], "kinds": [kind]}])
    return out


def template_code(template: Mapping[str, Any]) -> tuple[str, list[str]]:
    """(rego, libs) of a ConstraintTemplate's Rego engine code for the admission target."""
    for target in template.get("spec", {}).get("targets", []):
        if target.get("target") != TARGET:
            continue
        for code in target.get("code") or []:
            if code.get("engine") == "Rego":
                source = code.get("source") or {}
                return str(source.get("rego", "")), [str(lib) for lib in source.get("libs") or []]
    name = template.get("metadata", {}).get("name", "?")
    raise PolicyError(f"ConstraintTemplate {name} has no Rego code for target {TARGET}")


def constraint(
    info: PolicyInfo, *, name: str, parameters: Mapping[str, Any], enforcement: Enforcement
) -> dict[str, Any]:
    """A Constraint of the policy's kind matching the kinds it judges, with `parameters` and `enforcement`."""
    return {
        "apiVersion": CONSTRAINT_API_VERSION,
        "kind": constraint_kind(info),
        "metadata": {"name": name, "annotations": {ID_ANNOTATION: info.id}},
        "spec": {
            "enforcementAction": enforcement,
            # Any API group: rollguard dispatches on the kind alone, so Gatekeeper judges the same
            # objects (extensions/v1beta1 Deployments for deprecated_api, Argo Rollouts, ...).
            "match": {"kinds": [{"apiGroups": ["*"], "kinds": sorted(info.applies_to)}]},
            "parameters": dict(parameters),
        },
    }


def synced_kinds(policies: Iterable[PolicyInfo]) -> dict[str, tuple[str, str]]:
    """Kind → (group, version) of every kind `policies` read from data.inventory."""
    return {kind: group_version(kind, policy=info) for info in policies for kind in inventory_kinds(info)}


def sync_config(kinds: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """Gatekeeper's `Config` syncing `kinds` (kind → (group, version)) into data.inventory."""
    entries = sorted((group, version, kind) for kind, (group, version) in kinds.items())
    return {
        "apiVersion": CONFIG_API_VERSION,
        "kind": "Config",
        "metadata": {"name": "config", "namespace": GATEKEEPER_NAMESPACE},
        "spec": {"sync": {"syncOnly": [{"group": g, "version": v, "kind": k} for g, v, k in entries]}},
    }


def suite(name: str, tests: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A `gator verify` Suite."""
    return {"apiVersion": SUITE_API_VERSION, "kind": "Suite", "metadata": {"name": name}, "tests": list(tests)}


def kustomization(resources: Sequence[str]) -> dict[str, Any]:
    """A kustomization listing `resources` in order."""
    return {"apiVersion": KUSTOMIZATION_API_VERSION, "kind": "Kustomization", "resources": list(resources)}


def go_regex_literal(text: str) -> str:
    """`text` as a Go (RE2) regular expression matching it literally; gator reads `message` as one.

    Python's re.escape also escapes spaces and other characters RE2 refuses to see escaped.
    """
    return "".join("\\" + ch if ch in r"\.+*?()|[]{}^$" else ch for ch in text)
