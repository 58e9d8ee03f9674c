"""Judge a change set: build policy inputs, ask the engine, apply enforcement and waivers."""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from rollguard.engine import Engine
from rollguard.errors import ConfigError, EngineError
from rollguard.governance.change import CHANGE_KIND, change_request
from rollguard.links import artifact_links
from rollguard.model import (
    AppliedWaiver,
    Artifact,
    ChangeSet,
    Decision,
    Finding,
    InputProblem,
)
from rollguard.policy.bundle import PolicyBundle, PolicyInfo
from rollguard.policy.config import Settings, Waiver
from rollguard.policy.entry import ENTRY_FILE, ENTRY_PACKAGE, bind_parameters, entry_module

WAIVE_ANNOTATION = "rollguard.io/waive."

# Id prefixes of findings that scanners run beside the policies add (`check --with-checkov`):
# waivers and enforcement may name them although no policy of the bundle has such an id.
EXTERNAL_POLICY_PREFIXES = ("checkov.",)

# Kinds that have no namespace; everything else lands in the namespaced inventory.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "ClusterRole",
        "ClusterRoleBinding",
        "StorageClass",
        "CustomResourceDefinition",
        "PriorityClass",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "APIService",
        "IngressClass",
        "RuntimeClass",
        "PodSecurityPolicy",
        "CSIDriver",
        "CSINode",
        "VolumeAttachment",
        "ClusterIssuer",
        "ComponentStatus",
        "CertificateSigningRequest",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "FlowSchema",
        "PriorityLevelConfiguration",
        "ConstraintTemplate",
        "ClusterAnalysisTemplate",
    }
)


def check_settings(settings: Settings, bundle: PolicyBundle) -> None:
    """Reject config that selects no policy, names no existing policy or sets parameters the policy refuses.

    Every error names the config file and the line of the offending key: a typo must never be
    a setting that is silently ignored.
    """
    source = settings.source
    ids = [p.id for p in bundle.policies]
    if ids and not any(settings.selects(i) for i in ids):
        raise ConfigError(
            f"policies.include/exclude select none of the {len(ids)} policies; "
            "check the globs against `rollguard policy list`",
            file=source,
            line=settings.line_of("policies", "include") or settings.line_of("policies"),
        )
    named: list[tuple[str, str, int | None]] = [
        ("parameters", k, settings.parameter_line(k)) for k in settings.parameters
    ]
    named += [("enforcement", k, _enforcement_line(settings, k)) for k in settings.enforcement]
    named += [(f"waiver {w.id}", w.policy, w.line) for w in settings.waivers]
    for where, pattern, line in named:
        if where != "parameters" and pattern.startswith(EXTERNAL_POLICY_PREFIXES):
            continue
        if not any(fnmatch.fnmatchcase(pid, pattern) for pid in ids):
            raise ConfigError(
                f"{where}: {pattern!r} matches no policy; see `rollguard policy list` for the ids",
                file=source,
                line=line,
            )
    for pattern, values in settings.parameters.items():
        matched = [i for i in bundle.policies if fnmatch.fnmatchcase(i.id, pattern)]
        known = sorted({key for info in matched for key in declared_parameters(info)})
        for key in values:
            if key not in known:
                which = "it has" if len(matched) == 1 else f"the {len(matched)} policies it matches have"
                offer = f"{which}: {', '.join(known)}" if known else f"{which} no parameters"
                raise ConfigError(
                    f"parameters.{pattern}.{key}: unknown parameter ({offer}); "
                    "check the spelling against `rollguard policy doc` or docs/policies",
                    file=source,
                    line=settings.parameter_line(pattern, key),
                )
    overridden = [i for i in bundle.policies if any(fnmatch.fnmatchcase(i.id, k) for k in settings.parameters)]
    if not overridden:
        return  # METADATA defaults are checked against their schemas by the test suite
    import jsonschema  # only needed when config overrides parameters; slow to import

    for info in overridden:
        params = policy_parameters(settings, info)
        error = jsonschema.exceptions.best_match(
            jsonschema.Draft202012Validator(info.parameters_schema).iter_errors(params)
        )
        if error is not None:
            keys = list(error.absolute_path)
            key = ".".join(str(p) for p in keys)
            line = next(
                (
                    found
                    for pattern in settings.parameters
                    if fnmatch.fnmatchcase(info.id, pattern)
                    and (found := settings.parameter_line(pattern, *keys)) is not None
                ),
                None,
            )
            raise ConfigError(f"parameters.{info.id}.{key}: {error.message}", file=source, line=line)


def _enforcement_line(settings: Settings, pattern: str) -> int | None:
    if settings.environment is not None:
        line = settings.line_of("environments", settings.environment, "enforcement", pattern)
        if line is not None:
            return line
    return settings.line_of("enforcement", pattern)


def declared_parameters(info: PolicyInfo) -> tuple[str, ...]:
    """The parameter names a policy's METADATA schema declares."""
    props = info.parameters_schema.get("properties")
    return tuple(props) if isinstance(props, Mapping) else ()


def policy_parameters(settings: Settings, info: PolicyInfo) -> dict[str, Any]:
    """The parameters a policy is judged with: METADATA defaults, then config, then the environment."""
    return settings.parameters_for(info.id, info.default_parameters(), declared=declared_parameters(info))


# Kinds whose label selectors the inventory indexes, and where their selector is.
SELECTOR_FIELDS = {
    "Service": ("spec", "selector"),
    "PodDisruptionBudget": ("spec", "selector", "matchLabels"),
    "NetworkPolicy": ("spec", "podSelector", "matchLabels"),
}


def build_inventory(documents: Iterable[Mapping[str, Any]], *, index: bool = True) -> dict[str, Any]:
    """Gatekeeper's `data.inventory` layout from the objects of a change.

    With `index`, `rollguard_selectors[ns][kind].by_label[key][value]` lists the objects
    (`[apiVersion, name]`) whose selector requires that one label; selectors without plain
    string pairs go to `unindexed`. Policies use it through `k8s.selector_candidates` to avoid matching every
    workload against every Service, PDB and NetworkPolicy of a namespace.
    """
    namespaced: dict[str, Any] = {}
    cluster: dict[str, Any] = {}
    selectors: dict[str, Any] = {}
    workloads: dict[str, Any] = {"images": {}, "names": {}}
    for doc in documents:
        meta = doc.get("metadata") or {}
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            continue
        api, kind = doc["apiVersion"], doc["kind"]
        if kind in CLUSTER_SCOPED_KINDS:
            cluster.setdefault(api, {}).setdefault(kind, {})[name] = doc
            continue
        raw_ns = meta.get("namespace")
        ns = raw_ns if isinstance(raw_ns, str) and raw_ns else "default"
        namespaced.setdefault(ns, {}).setdefault(api, {}).setdefault(kind, {})[name] = doc
        if index and kind in SELECTOR_FIELDS:
            entry = selectors.setdefault(ns, {}).setdefault(kind, {"by_label": {}, "unindexed": []})
            pair = _selector_pair(doc, SELECTOR_FIELDS[kind])
            if pair is None:
                entry["unindexed"].append([api, name])
            else:
                entry["by_label"].setdefault(pair[0], {}).setdefault(pair[1], []).append([api, name])
        if index and kind in WORKLOAD_INDEX_KINDS:
            _index_workload(workloads, doc, [ns, api, kind, name])
    inventory: dict[str, Any] = {"namespace": namespaced, "cluster": cluster}
    if index:
        inventory["rollguard_selectors"] = selectors
        inventory["rollguard_workloads"] = workloads
    return inventory


# Kinds the change-set policies compare across every namespace of a change. Indexed by image
# name and by `app.kubernetes.io/name` (`rollguard_workloads.images[name]`, `.names[value]`:
# `[namespace, apiVersion, kind, name]` lists), so judging one workload does not walk all the
# others: without the index a change of a thousand workloads took twice as long to judge.
WORKLOAD_INDEX_KINDS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "Rollout", "DeploymentConfig", "Job", "CronJob"}
)


def _index_workload(workloads: dict[str, Any], doc: Mapping[str, Any], ref: list[str]) -> None:
    """Add one workload to the image and name index (a superset: policies still compare exactly)."""
    spec: Any = doc.get("spec")
    if doc.get("kind") == "CronJob":
        for key in ("jobTemplate", "spec"):
            spec = spec.get(key) if isinstance(spec, dict) else None
    raw_template = spec.get("template") if isinstance(spec, dict) else None
    template: dict[str, Any] = raw_template if isinstance(raw_template, dict) else {}
    raw_pod = template.get("spec")
    pod: dict[str, Any] = raw_pod if isinstance(raw_pod, dict) else {}
    for field in ("containers", "initContainers", "ephemeralContainers"):
        containers = pod.get(field)
        for c in containers if isinstance(containers, list) else []:
            image = c.get("image") if isinstance(c, dict) else None
            if isinstance(image, str) and image:
                _add_ref(workloads["images"], image_name(image), ref)
    for meta in (doc.get("metadata"), template.get("metadata")):
        labels = meta.get("labels") if isinstance(meta, dict) else None
        value = labels.get("app.kubernetes.io/name") if isinstance(labels, dict) else None
        if isinstance(value, str):
            _add_ref(workloads["names"], value, ref)


def image_name(image: str) -> str:
    """The last path component of an image reference without tag or digest: `api` for `reg/shop/api:1.4`."""
    return image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]


def _add_ref(index: dict[str, Any], key: str, ref: list[str]) -> None:
    refs = index.setdefault(key, [])
    if not refs or refs[-1] != ref:  # one workload's entries come one after another
        refs.append(ref)


def build_changeset(artifacts: Iterable[Artifact]) -> dict[str, list[Mapping[str, Any]]]:
    """`data.rollguard.changeset`: the documents of every non-Kubernetes artifact, by artifact kind.

    Kubernetes objects are in `data.inventory` already; rules that look across a whole change
    (a destructive migration shipped with new pods) read both.
    """
    changeset: dict[str, list[Mapping[str, Any]]] = {}
    for a in artifacts:
        if a.kind != "k8s":
            changeset.setdefault(a.kind, []).append(a.document)
    return changeset


def _selector_pair(doc: Mapping[str, Any], path: tuple[str, ...]) -> tuple[str, str] | None:
    """The first (key, value) of a non-empty, all-string selector map; None otherwise."""
    node: Any = doc
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict) or not node:
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in node.items()):
        return None
    key = min(node)
    return key, node[key]


def review_for(artifact: Artifact) -> dict[str, Any]:
    """The AdmissionReview-shaped `input.review` the CLI builds for a file (operation CREATE)."""
    doc = artifact.document
    api = doc["apiVersion"]
    group, _, version = api.rpartition("/")
    return {
        "object": doc,
        "oldObject": None,
        "operation": "CREATE",
        "kind": {"group": group, "version": version, "kind": doc["kind"]},
        "namespace": artifact.resource.namespace or ("" if doc["kind"] in CLUSTER_SCOPED_KINDS else "default"),
        "name": artifact.resource.name,
        "userInfo": {"username": "rollguard-cli", "groups": []},
        "dryRun": True,
    }


@dataclass
class Gate:
    """A loaded policy bundle on one engine, ready to judge change sets with one set of settings."""

    bundle: PolicyBundle
    engine: Engine
    settings: Settings
    now: dt.datetime
    # Known up front (the CLI reads its inputs first), the inventory is loaded with the policies
    # and the engine compiles once; changing it later costs a recompile on OPA.
    inventory: Mapping[str, Any] | None = None
    # Evaluate once at start-up so compile errors surface before any input is read; a caller
    # that judges right away (a parallel worker) skips it and gets the same errors then.
    warm: bool = True
    # Kinds the inventory really holds (the webhook's --sync); None when it is the whole change
    # (the command line). A policy that reads an unsynced kind reports that instead of passing.
    synced_kinds: frozenset[str] | None = None
    # Every non-Kubernetes artifact of the change by kind (`data.rollguard.changeset`), for
    # rules that look across artifacts; like the inventory, known up front.
    changeset: Mapping[str, Any] | None = None
    # Policy domains to load (None: all). The cluster paths judge one object, not a change, so
    # they load only `k8s`: migration, scan and whole-change rules mean nothing there.
    domains: frozenset[str] | None = None

    def __post_init__(self) -> None:
        check_settings(self.settings, self.bundle)
        self.policies: tuple[PolicyInfo, ...] = tuple(
            p
            for p in self.bundle.policies
            if self.settings.selects(p.id) and (self.domains is None or p.domain in self.domains)
        )
        self._by_id = {p.id: p for p in self.policies}
        self.parameters = {p.id: policy_parameters(self.settings, p) for p in self.policies}
        dispatch: dict[str, list[str]] = {}
        for p in self.policies:
            for kind in p.applies_to:
                dispatch.setdefault(kind, []).append(p.id)
        self.dispatch = dispatch
        modules = dict(self.bundle.runtime_modules())
        for info in self.policies:
            modules[info.file] = bind_parameters(info, modules[info.file])
        modules[ENTRY_FILE] = entry_module(self.policies)
        self.engine.load(modules)
        self._loaded: tuple[Any, ...] | None = None
        # The ChangeRequest judged by the last `decide` (with --env), for the decision record.
        self.change_request: Artifact | None = None
        self._set_data(
            inventory=self.inventory or {"namespace": {}, "cluster": {}},
            reviews=[],
            artifacts=[],
            changeset=self.changeset or {},
        )
        if self.warm:
            self._warm()

    def _set_data(
        self,
        *,
        inventory: Mapping[str, Any],
        reviews: list[dict[str, Any]],
        artifacts: list[Mapping[str, Any]],
        changeset: Mapping[str, Any],
    ) -> None:
        """Load the inventory, the change set and the documents to judge; a no-op when unchanged.

        Documents go to data rather than input: the OPA bridge converts data several times
        faster than input, and the data has to be loaded for the inventory anyway.
        """
        loaded = self._loaded
        if (
            loaded is not None
            and loaded[0] is inventory
            and loaded[1] == reviews
            and loaded[3] == changeset
            and loaded[2] == artifacts
        ):
            return
        self._loaded = (inventory, reviews, artifacts, changeset)
        self.engine.set_data(
            {
                "inventory": inventory,
                "rollguard": {
                    "parameters": self.parameters,
                    "context": self.context(),
                    "reviews": reviews,
                    "artifacts": artifacts,
                    "changeset": changeset,
                    "exceptions": [e.to_json() for e in self.settings.vulnerability_exceptions],
                },
            }
        )

    def context(self) -> dict[str, Any]:
        """`data.rollguard.context`: the environment, its neighbours, the store's facts and the decision time."""
        s = self.settings
        history = s.history
        return {
            "environment": {
                "name": s.environment,
                "risk": s.risk,
                "windows": [w.to_context(self.now) for w in s.windows],
                "freezes": [f.to_context(self.now) for f in s.freezes],
                "previous": s.previous,
            },
            "environments": {name: {"risk": risk} for name, risk in s.risks.items()},
            "approval": s.approval,
            "dependencies": {consumer: list(entries) for consumer, entries in s.dependencies.items()},
            "store": history is not None,
            "deployed": list(history.deployed) if history is not None else [],
            "promotion": {
                "previous": s.previous,
                "store": history is not None,
                "passed_digests": list(history.passed_digests) if history is not None else [],
                "error": history.error if history is not None else None,
            },
            "now_ns": int(self.now.timestamp() * 1_000_000_000),
        }

    def _warm(self) -> None:
        """Evaluate the entry point once so compile errors surface now, with file and line.

        OPA type-checks every module when it prepares the first query, so one call covers the
        whole bundle; per-policy queries are prepared only if a document needs isolating.
        """
        self.engine.evaluate(f"{ENTRY_PACKAGE}.batch", {})

    def warm_review(self) -> None:
        """Prepare the query `judge_review` uses, so the first admission request does not pay for it."""
        self.engine.evaluate(f"{ENTRY_PACKAGE}.judged", {})

    def judge(self, change: ChangeSet, *, inventory: Mapping[str, Any] | None = None) -> Decision:
        """Judge every artifact of `change` with every selected policy.

        `inventory` defaults to the change's own Kubernetes objects (the cluster's, when connected).
        """
        if inventory is None:
            inventory = build_inventory(a.document for a in change.artifacts if a.kind == "k8s")
        changeset = self.changeset if self.changeset is not None else build_changeset(change.artifacts)
        findings = self.evaluate(list(change.artifacts), inventory=inventory, changeset=changeset)
        return self.decide(change, findings)

    def evaluate(
        self,
        artifacts: Sequence[Artifact],
        *,
        inventory: Mapping[str, Any] | None = None,
        changeset: Mapping[str, Any] | None = None,
    ) -> list[Finding]:
        """Raw findings (no waivers) for `artifacts`: one engine call for the Kubernetes objects
        and the other artifacts together."""
        objects = [a for a in artifacts if a.kind == "k8s"]
        others = [a for a in artifacts if a.kind != "k8s"]
        reviews = [review_for(a) for a in objects]
        documents = [a.document for a in others]
        assert self._loaded is not None
        self._set_data(
            inventory=inventory if inventory is not None else self._loaded[0],
            reviews=reviews,
            artifacts=documents,
            changeset=changeset if changeset is not None else self._loaded[3],
        )
        if not artifacts:
            return []
        review_inputs = [{"review": r} for r in reviews]
        artifact_inputs = [{"artifact": d} for d in documents]
        try:
            batch = self.engine.evaluate(f"{ENTRY_PACKAGE}.batch", {})
        except EngineError:
            # A document raised a builtin error: each list on its own, and one by one within it.
            return self._evaluate_all("results", objects, review_inputs) + self._evaluate_all(
                "artifact_results", others, artifact_inputs
            )
        if not isinstance(batch, dict):
            raise EngineError(f"entry module returned {type(batch).__name__} for {len(artifacts)} documents")
        return self._collect(objects, batch.get("results")) + self._collect(others, batch.get("artifact_results"))

    def _evaluate_all(
        self, rule: str, artifacts: Sequence[Artifact], inputs: Sequence[Mapping[str, Any]]
    ) -> list[Finding]:
        if not artifacts:
            return []
        try:
            results = self.engine.evaluate(f"{ENTRY_PACKAGE}.{rule}", {})
        except EngineError:
            # One document raised a builtin error: judge one by one to name it, keep the rest.
            return [f for a, i in zip(artifacts, inputs, strict=True) for f in self._judge_alone(a, i)]
        return self._collect(artifacts, results)

    def _collect(self, artifacts: Sequence[Artifact], results: Any) -> list[Finding]:
        """Findings from the entry module's per-document results, in the order of `artifacts`."""
        if not isinstance(results, list) or len(results) != len(artifacts):
            raise EngineError(f"entry module returned {type(results).__name__} for {len(artifacts)} documents")
        findings: list[Finding] = []
        for artifact, by_policy in zip(artifacts, results, strict=True):
            for pid, violations in sorted(by_policy.items()):
                findings.extend(self._findings(pid, artifact, violations))
        return findings

    def judge_review(self, artifact: Artifact, review: Mapping[str, Any], *, isolate: bool = True) -> Decision:
        """Judge one admission request (`input.review` exactly as Gatekeeper builds it).

        The document travels as input, so the loaded data (inventory) stays as it is and the
        engine does not recompile: this is the webhook's path. Without `isolate`, an engine
        error is raised instead of re-judging policy by policy (which prepares a query per
        policy on OPA: far too slow for an admission deadline).
        """
        try:
            by_policy = self.engine.evaluate(f"{ENTRY_PACKAGE}.judged", {"review": review})
        except EngineError:
            if not isolate:
                raise
            findings = self._judge_alone(artifact, {"review": review})
        else:
            if by_policy is not None and not isinstance(by_policy, dict):
                raise EngineError(f"entry module returned {type(by_policy).__name__} for one document")
            findings = [f for pid, v in sorted((by_policy or {}).items()) for f in self._findings(pid, artifact, v)]
        if self.synced_kinds is not None:
            findings = self._flag_unsynced(artifact, findings, self.synced_kinds)
        return self.decide(ChangeSet(artifacts=(artifact,)), findings)

    def _flag_unsynced(self, artifact: Artifact, findings: list[Finding], synced: frozenset[str]) -> list[Finding]:
        """Replace the findings of policies that read kinds the inventory lacks with one that says so."""
        kind = artifact.document["kind"]
        for pid in self.dispatch.get(kind, []):
            info = self._by_id[pid]
            missing = [k for k in info.required_inventory_for(kind) if k not in synced]
            if missing:
                findings = [f for f in findings if f.policy != pid]
                message = (
                    f"not judged: needs {', '.join(missing)} from the cluster, which are not synced (add to --sync)"
                )
                findings.append(self._finding(info, artifact, message, {"unsynced": missing}))
        return findings

    def decide(self, change: ChangeSet, findings: list[Finding]) -> Decision:
        """Apply waivers to raw findings and build the decision for `change`."""
        artifacts = list(change.artifacts)
        problems = list(change.problems)
        findings = self._apply_waivers(findings, artifacts, problems)
        request = self.change_request = self._change_request(artifacts, findings)
        approval = self.settings.approval
        if request is not None:
            # The second pass: the whole change, once every other finding (and waiver) is known.
            findings += self._apply_waivers(self._judge_change(request), [request], problems)
            artifacts.append(request)
            approval = (request.document.get("approval") or {}).get("reference")
        findings.sort(key=_finding_order)
        return Decision(
            findings=tuple(findings),
            problems=tuple(problems),
            fail_on=self.settings.fail_on,
            engine=self.engine.name,
            resources=len(artifacts),
            policies=len(self.policies),
            environment=self.settings.environment,
            expired_waivers=tuple(_applied(w, "expired") for w in self.settings.waivers if w.expired(on=self.now)),
            links=artifact_links(change.artifacts),
            approval=approval,
            unjudged=tuple(a.resource for a in change.artifacts if not self.dispatch.get(_document_kind(a))),
        )

    def _change_request(self, artifacts: Sequence[Artifact], findings: Sequence[Finding]) -> Artifact | None:
        """The ChangeRequest of a change to the selected environment, if any policy judges one."""
        s = self.settings
        if s.environment is None or CHANGE_KIND not in self.dispatch:
            return None
        return change_request(
            environment=s.environment,
            artifacts=artifacts,
            findings=findings,
            approval=s.approval,
            file=s.source or "rollguard.yaml",
            line=s.line or 1,
        )

    def _judge_change(self, request: Artifact) -> list[Finding]:
        """Findings on the ChangeRequest: one call with the document as input, the loaded data kept."""
        try:
            # The query of the first pass, with the document as input: prepared already.
            batch = self.engine.evaluate(f"{ENTRY_PACKAGE}.batch", {"change": request.document})
        except EngineError:
            return self._judge_alone(request, {"artifact": request.document})
        by_policy = batch.get("change") if isinstance(batch, dict) else batch
        if by_policy is not None and not isinstance(by_policy, dict):
            raise EngineError(f"entry module returned {type(by_policy).__name__} for the change request")
        return [f for pid, v in sorted((by_policy or {}).items()) for f in self._findings(pid, request, v)]

    def add_findings(self, decision: Decision, change: ChangeSet, findings: Iterable[Finding]) -> Decision:
        """`decision` with findings from a scanner run beside the policies added.

        Config applies to them as to the policies' own: selection, enforcement and waivers
        (by id, such as `checkov.CKV_K8S_14`, and resource). The order is `decide`'s.
        """
        extra = [
            replace(f, enforcement=self.settings.enforcement_for(f.policy, f.enforcement))
            for f in findings
            if self.settings.selects(f.policy)
        ]
        # Annotation problems of the change were reported by `decide` already.
        extra = self._apply_waivers(extra, list(change.artifacts), [])
        return replace(decision, findings=tuple(sorted([*decision.findings, *extra], key=_finding_order)))

    def _judge_alone(self, artifact: Artifact, policy_input: Mapping[str, Any]) -> list[Finding]:
        """Each policy on its own for one document (`{"review": ...}` or `{"artifact": ...}`)."""
        findings: list[Finding] = []
        for pid in self.dispatch.get(artifact.document["kind"], []):
            info = self._by_id[pid]
            try:
                violations = self.engine.evaluate(f"{info.package}.violation", dict(policy_input))
            except EngineError as exc:
                findings.append(
                    self._finding(info, artifact, f"policy could not be evaluated: {exc.message}", {}, error=True)
                )
                continue
            findings.extend(self._findings(pid, artifact, violations or []))
        return findings

    def _findings(self, pid: str, artifact: Artifact, violations: Iterable[Any]) -> list[Finding]:
        info = self._by_id[pid]
        out = []
        for v in violations:
            if isinstance(v, dict) and isinstance(v.get("msg"), str):
                raw = v.get("details")
                details: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
                out.append(self._finding(info, artifact, v["msg"], details))
            else:
                out.append(
                    self._finding(info, artifact, f"policy returned a malformed violation: {v!r}", {}, error=True)
                )
        return out

    def _finding(
        self, info: PolicyInfo, artifact: Artifact, message: str, details: Mapping[str, Any], *, error: bool = False
    ) -> Finding:
        # A finding about one line of a larger artifact (a statement of a migration) says which.
        line = details.get("line")
        return Finding(
            policy=info.id,
            title=info.title,
            severity=info.severity_for(details),
            message=message,
            resource=artifact.resource,
            file=artifact.file,
            line=line if isinstance(line, int) and not isinstance(line, bool) and line > 0 else artifact.line,
            controls=info.controls,
            remediation=info.remediation,
            enforcement=self.settings.enforcement_for(info.id, info.custom.get("enforcement", "deny")),
            details=details,
            error=error,
        )

    def _apply_waivers(
        self, findings: list[Finding], artifacts: Sequence[Artifact], problems: list[InputProblem]
    ) -> list[Finding]:
        by_id = {w.id: w for w in self.settings.waivers}
        annotated: dict[tuple[str, int, str], Waiver] = {}
        for a in artifacts:
            annotations = (a.document.get("metadata") or {}).get("annotations") or {}
            if not isinstance(annotations, dict):
                continue
            for key, value in annotations.items():
                if not isinstance(key, str) or not key.startswith(WAIVE_ANNOTATION):
                    continue
                pid = key[len(WAIVE_ANNOTATION) :]
                waiver = by_id.get(str(value))
                if waiver is None:
                    problems.append(
                        InputProblem(
                            a.file,
                            a.line,
                            f"annotation {key} names waiver {value!r}, which rollguard.yaml does not define; add the waiver (with reason, owner and expiry) or remove the annotation",
                        )
                    )
                elif waiver.policy != pid:
                    problems.append(
                        InputProblem(
                            a.file,
                            a.line,
                            f"annotation {key} names waiver {value!r}, which is for policy {waiver.policy}",
                        )
                    )
                else:
                    annotated[(a.file, a.line, pid)] = waiver
        out = []
        for f in findings:
            if f.error:
                out.append(f)
                continue
            waiver = annotated.get((f.file or "", f.line or 0, f.policy)) or next(
                (
                    w
                    for w in self.settings.waivers
                    if w.matches(f.policy, f.resource, environment=self.settings.environment)
                ),
                None,
            )
            if waiver is None:
                out.append(f)
            else:
                status: Literal["applied", "expired"] = "expired" if waiver.expired(on=self.now) else "applied"
                out.append(_replace_waiver(f, _applied(waiver, status)))
        return out


def _document_kind(artifact: Artifact) -> str:
    """The kind policies dispatch on: the object's kind, or the artifact document's (MigrationFile, ...)."""
    kind = artifact.document.get("kind")
    return kind if isinstance(kind, str) else artifact.resource.kind


def _finding_order(f: Finding) -> tuple[str, int, str, str]:
    return (f.file or "", f.line or 0, f.policy, f.message)


def _applied(w: Waiver, status: Literal["applied", "expired"]) -> AppliedWaiver:
    return AppliedWaiver(
        id=w.id,
        status=status,
        reason=w.reason,
        owner=w.owner,
        ticket=w.ticket,
        expires=w.expires.isoformat(),
    )


def _replace_waiver(f: Finding, waiver: AppliedWaiver) -> Finding:
    from dataclasses import replace

    return replace(f, waiver=waiver)
