"""Kubernetes objects that put the webhook in front of the API server: its configurations, policy folder and base."""

from __future__ import annotations

import base64
import re
import shutil
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509

from rollguard.errors import ConfigError, InputError, PolicyError
from rollguard.generated import GeneratedTree
from rollguard.inputs.render import render, rendered_name
from rollguard.inputs.yamltext import SafeLoader, problem_of
from rollguard.kube.images import ImageRef, is_valid_reference
from rollguard.kube.kinds import KINDS
from rollguard.kube.workloads import containers
from rollguard.model import ARTIFACT_KINDS
from rollguard.policy.bundle import PolicyBundle
from rollguard.policy.config import Config
from rollguard.webhook.certs import CA_CERT, check_service

FAILURE_POLICIES = ("Fail", "Ignore")
WEBHOOK_PORT = 8443
# The webhook answers within its deadline (`admission.deadline_seconds`, 2 s by default) by
# applying its own failure mode; the API server must wait longer than that, or it gives up
# first and applies the configuration's failurePolicy instead.
WEBHOOK_DEADLINE_SECONDS = 2.0
MAX_TIMEOUT_SECONDS = 30  # the API server's upper bound for timeoutSeconds
DEFAULT_TIMEOUT_SECONDS = 5
DEFAULT_EXEMPT_NAMESPACES = ("kube-system", "kube-public")
OPERATIONS = ("CREATE", "UPDATE")
POLICY_CONFIGMAP = "rollguard-policies"
# The image deploy/deployment.yaml names until `webhook manifest --image` (or a kustomize
# `images:` entry) sets the real one. The base pins it by a digest, so rollguard's own gate
# judges deploy/ exactly as it judges a real pinned image (prod requires digests); the reserved
# `.invalid` domain (RFC 2606) and the zero digest make a forgotten placeholder fail to pull.
PLACEHOLDER_IMAGE = "rollguard.invalid/rollguard"

# Kind (as policies name it in METADATA applies_to) → (API group, resource). Versions stay
# open ("*"): the policies judge every version a client may send, and matchPolicy Equivalent
# also sends a covered resource reached through another API group.
KIND_RESOURCES: dict[str, tuple[str, str]] = {kind: (api.group, api.plural) for kind, api in KINDS.items()}

_GLOB = re.compile(r"[*?\[]")
# ConfigMap keys allow letters, digits, '-', '_' and '.' only, and at most 253 of them.
_CONFIGMAP_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")
_CONFIGMAP_LIMIT = 1024 * 1024  # bytes the API server stores in one object


# Policy domains the webhook loads: an admission request is one object, not a whole change, so
# the change-set, governance and observability rules (which need the whole change) are not run.
CLUSTER_DOMAINS = frozenset({"k8s"})


def judged_kinds(bundle: PolicyBundle, config: Config) -> list[str]:
    """Every Kubernetes kind that a policy the webhook runs (`CLUSTER_DOMAINS`) and `config` switches
    on judges (METADATA applies_to), sorted.

    Migrations, scans and other artifacts never reach the API server.
    """
    settings = config.resolve(None)
    kinds = {
        kind for p in bundle.policies if p.domain in CLUSTER_DOMAINS and settings.selects(p.id) for kind in p.applies_to
    }
    return sorted(kinds - ARTIFACT_KINDS)


def admission_rules(kinds: Iterable[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """One rule per API group covering `kinds`, and the kinds with no known group and resource."""
    by_group: dict[str, set[str]] = {}
    unknown: list[str] = []
    for kind in kinds:
        if kind not in KIND_RESOURCES:
            unknown.append(kind)
            continue
        group, resource = KIND_RESOURCES[kind]
        by_group.setdefault(group, set()).add(resource)
    rules = [
        {
            "apiGroups": [group],
            "apiVersions": ["*"],
            "operations": list(OPERATIONS),
            "resources": sorted(resources),
            "scope": "*",
        }
        for group, resources in sorted(by_group.items())
    ]
    return rules, sorted(set(unknown))


def exempt_namespaces(config: Config, *, own_namespace: str) -> list[str]:
    """Namespaces whose requests are never sent: `admission.exempt_namespaces` or the defaults, plus its own.

    The webhook's own namespace is always exempt: with failurePolicy Fail, judging it would
    let a webhook that is down block the very pods that bring it back. Glob patterns are left
    out (a label selector matches exact values only); the webhook applies them itself.
    """
    configured = config.admission.get("exempt_namespaces")
    if configured is not None and (
        not isinstance(configured, (list, tuple)) or not all(isinstance(n, str) and n for n in configured)
    ):
        raise ConfigError(
            "admission.exempt_namespaces must be a list of namespace names",
            file=str(config.path) if config.path else None,
        )
    names = list(configured) if configured is not None else list(DEFAULT_EXEMPT_NAMESPACES)
    return sorted({n for n in names if not _GLOB.search(n)} | {own_namespace})


def admission_deadline(config: Config) -> float:
    """Seconds the webhook allows itself to judge one request (`admission.deadline_seconds`)."""
    value = config.admission.get("deadline_seconds", WEBHOOK_DEADLINE_SECONDS)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(
            "admission.deadline_seconds must be a number of seconds", file=str(config.path) if config.path else None
        )
    return float(value)


def read_ca_bundle(ca_dir: Path) -> bytes:
    """The PEM of `ca_dir`/ca.crt, checked to hold only CA certificates."""
    path = ca_dir / CA_CERT
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"read CA certificate: {exc.strerror or exc}; create it with `rollguard webhook certs`", file=str(path)
        ) from exc
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise ConfigError(f"not a PEM certificate: {exc}", file=str(path)) from exc
    for cert in certs:
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            raise ConfigError(
                f"{cert.subject.rfc4514_string()} is not a CA certificate; pass the directory holding ca.crt",
                file=str(path),
            )
    return pem


def webhook_configurations(
    *,
    service: str,
    namespace: str,
    ca_bundle: bytes,
    rules: Sequence[Mapping[str, Any]],
    exempt: Sequence[str],
    failure_policy: str = "Fail",
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
    deadline_seconds: float = WEBHOOK_DEADLINE_SECONDS,
) -> list[dict[str, Any]]:
    """The ValidatingWebhookConfiguration and MutatingWebhookConfiguration for the Service."""
    check_service(service, namespace)
    if failure_policy not in FAILURE_POLICIES:
        raise ConfigError(f"--failure-policy {failure_policy!r}: use Fail or Ignore")
    if not deadline_seconds < timeout_seconds <= MAX_TIMEOUT_SECONDS:
        raise ConfigError(
            f"--timeout-seconds {timeout_seconds}: use more than the webhook's {deadline_seconds:g} s deadline "
            f"(admission.deadline_seconds) and at most {MAX_TIMEOUT_SECONDS}"
        )
    if not rules:
        raise PolicyError("no policy judges a kind the webhook can register for; nothing to send to the webhook")
    labels = {"app.kubernetes.io/name": "rollguard", "app.kubernetes.io/component": "webhook"}

    def webhook(name: str, path: str) -> dict[str, Any]:
        return {
            "name": f"{name}.rollguard.io",
            "clientConfig": {
                "service": {"name": service, "namespace": namespace, "path": path, "port": WEBHOOK_PORT},
                "caBundle": base64.b64encode(ca_bundle).decode("ascii"),
            },
            "rules": [dict(r) for r in rules],
            "failurePolicy": failure_policy,
            "matchPolicy": "Equivalent",
            "namespaceSelector": {
                "matchExpressions": [
                    {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": list(exempt)}
                ]
            },
            "objectSelector": {},
            "sideEffects": "None",
            "timeoutSeconds": timeout_seconds,
            "admissionReviewVersions": ["v1"],
        }

    mutate = webhook("mutate", "/mutate")
    # Never: rollguard's mutations do not depend on what later mutating webhooks change.
    mutate["reinvocationPolicy"] = "Never"
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": service, "labels": labels},
            "webhooks": [webhook("validate", "/validate")],
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": service, "labels": labels},
            "webhooks": [mutate],
        },
    ]


def check_image(reference: str) -> bool:
    """Whether `reference` (`--image`) is pinned by a sha256 digest; a ConfigError when it is no image reference."""
    if not is_valid_reference(reference):
        raise ConfigError(
            f"--image {reference!r} is not an image reference; give registry/name:tag@sha256:<digest>, "
            "e.g. registry.example.com/rollguard:0.1.0@sha256:<the digest your registry reports>"
        )
    return ImageRef.parse(reference).sha256 is not None


def deploy_documents(directory: str, *, image: str, service: str, namespace: str) -> list[dict[str, Any]]:
    """The objects of the kustomization `directory` (deploy/) with `image` in place of the placeholder image.

    The base is rendered by kustomize, which names the ConfigMaps by their content; a
    Deployment taken out of it alone would point at ConfigMaps that do not exist. The base must
    hold the Service the webhook configurations send reviews to.
    """
    check_image(image)
    if not (shutil.which("kubectl") or shutil.which("kustomize")):
        raise ConfigError(
            f"--image renders {directory} with kubectl or kustomize; install one, or set the image with "
            "kustomize `images:` in an overlay and apply that (docs/webhook.md)"
        )
    source = rendered_name(directory, "kustomize")
    try:
        loaded = list(yaml.load_all(render(directory, "kustomize"), Loader=SafeLoader))
    except yaml.YAMLError as exc:
        line, problem = problem_of(exc)
        raise InputError(
            f"read the rendered objects: {problem}", file=source, line=line + 1 if line is not None else None
        ) from exc
    documents = [d for d in loaded if d is not None]
    if not all(isinstance(d, dict) for d in documents):
        raise InputError("the rendered objects are not all mappings; check the kustomization", file=source)
    replaced = 0
    for doc in documents:
        for container in containers(doc):
            if (
                isinstance(container, MutableMapping)
                and isinstance(container.get("image"), str)
                and ImageRef.parse(container["image"]).name == PLACEHOLDER_IMAGE
            ):
                container["image"] = image
                replaced += 1
    if not replaced:
        raise ConfigError(
            f"no container runs the placeholder image {PLACEHOLDER_IMAGE}, so --image has nothing to set; "
            "point --deploy at rollguard's deploy/ base (or an overlay that keeps its image)",
            file=directory,
        )
    services = {
        (d["metadata"].get("name"), d["metadata"].get("namespace"))
        for d in documents
        if d.get("kind") == "Service" and isinstance(d.get("metadata"), dict)
    }
    if (service, namespace) not in services:
        raise ConfigError(
            f"no Service {service!r} in namespace {namespace!r} is deployed here; pass the --service and "
            "--namespace it deploys, so that the webhook configurations reach its pods",
            file=directory,
        )
    return documents


class _PlainDumper(yaml.SafeDumper):
    """A safe dumper that writes shared values out in full: manifests read by people have no `&id001`."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # Multi-line values (a ConfigMap's rollguard.yaml) as literal blocks, as kubectl shows them;
    # PyYAML quotes the ones a block cannot hold exactly (tabs, as in Rego sources).
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_PlainDumper.add_representer(str, _represent_str)


def render_yaml(documents: Iterable[Mapping[str, Any]]) -> str:
    """Documents as one multi-document YAML stream, keys in the order given."""
    # A wide line keeps the caBundle on one line, as `kubectl get -o yaml` shows it.
    return yaml.dump_all(
        [dict(d) for d in documents], Dumper=_PlainDumper, sort_keys=False, explicit_start=True, width=1 << 20
    )


def flat_policy_name(rel: str) -> str:
    """The ConfigMap key for a module at `rel` (`rollguard/k8s/rbac/rbac.rego` → `rollguard.k8s.rbac.rbac.rego`)."""
    return rel.replace("/", ".")


def policy_folder(bundle: PolicyBundle) -> GeneratedTree:
    """The bundle's runtime modules flat in one folder, with the kustomization generating their ConfigMap.

    ConfigMap keys cannot contain '/', so the tree becomes one folder; the loader reads it
    unchanged, since packages come from the sources, not the paths. The folder's `*.rego`
    files are the tree's own: those of an earlier bundle are removed when it is written.
    """
    modules = {flat_policy_name(rel): source for rel, source in sorted(bundle.runtime_modules().items())}
    if len(modules) != len(bundle.runtime_modules()):
        raise PolicyError(f"two policy files of {bundle.root} flatten to the same name; rename one")
    for key in modules:
        if not _CONFIGMAP_KEY.match(key):
            raise PolicyError(
                f"{key!r} cannot be a ConfigMap key; use letters, digits, '-', '_' and '.' in policy paths"
            )
    size = sum(len(s.encode()) for s in modules.values())
    if size > _CONFIGMAP_LIMIT:
        raise PolicyError(f"the policies take {size} bytes, more than one ConfigMap holds ({_CONFIGMAP_LIMIT})")
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "configMapGenerator": [{"name": POLICY_CONFIGMAP, "files": sorted(modules)}],
    }
    header = "# Generated by `rollguard webhook policies` from the policy directory; do not edit.\n"
    files = {**modules, "kustomization.yaml": header + yaml.safe_dump(kustomization, sort_keys=False)}
    return GeneratedTree(files, owned="*.rego")
