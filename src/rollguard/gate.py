"""Judge a change set: build policy inputs, ask the engine, apply enforcement and waivers."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from rollguard.contract import build_changeset, build_inventory, review_for
from rollguard.engine import Engine
from rollguard.errors import EngineError
from rollguard.governance.change import CHANGE_KIND, change_request
from rollguard.inputs.yamltext import line_at
from rollguard.links import artifact_links
from rollguard.model import (
    ARTIFACT_KINDS,
    Artifact,
    ChangeSet,
    Decision,
    Finding,
    InputProblem,
    Release,
)
from rollguard.policy.bundle import ANY_KUBERNETES_KIND, PolicyBundle, PolicyInfo
from rollguard.policy.config import Settings
from rollguard.policy.entry import ENTRY_FILE, ENTRY_PACKAGE, bind_parameters, entry_module
from rollguard.policy.waivers import applied, apply_waivers
from rollguard.simulate import SimulationOptions, policy_simulation

# Documents judged per engine call. Larger windows save little time (a call costs about a
# millisecond besides its documents) and the engine's working memory grows with them.
JUDGE_WINDOW = 256


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
    # Documents per engine call (`evaluate`): bounds what the engine holds while it evaluates.
    window: int = JUDGE_WINDOW
    # Kinds of the documents to judge, when known up front (the command line reads its inputs
    # first): only the policies that judge one of them, and with an environment those on the
    # ChangeRequest, are compiled. None compiles every selected policy (the webhook).
    kinds: frozenset[str] | None = None
    # Controller steps one admission request may simulate per rollout (`admission.simulation_steps`);
    # None is the model's own bound (the command line). A longer rollout is reported as not judged
    # by the policies that read the simulation, so a request cannot hold a worker for seconds.
    simulation_steps: int | None = None
    # Objects of the cluster outside the change (`--namespace-usage`: running Pods, ResourceQuotas,
    # LimitRanges): in every inventory the gate builds from a change, never judged themselves.
    outside: tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        self.settings.check(self.bundle)
        self.policies: tuple[PolicyInfo, ...] = tuple(
            p
            for p in self.bundle.policies
            if self.settings.selects(p.id) and (self.domains is None or p.domain in self.domains)
        )
        self._by_id = {p.id: p for p in self.policies}
        self.parameters = {p.id: self.settings.parameters_of(p) for p in self.policies}
        dispatch: dict[str, list[str]] = {}
        for p in self.policies:
            for kind in p.applies_to:
                dispatch.setdefault(kind, []).append(p.id)
        self.dispatch = dispatch
        self._any_kind = dispatch.get(ANY_KUBERNETES_KIND, [])
        modules = dict(self.bundle.runtime_modules())
        self.compiled = self.policies
        if self.kinds is not None:
            self.compiled = tuple(p for p in self.policies if _judges_any(p, self.kinds, self.settings.environment))
            left_out = {p.file for p in self.bundle.policies} - {p.file for p in self.compiled}
            modules = _without_unused_libraries({k: v for k, v in modules.items() if k not in left_out})
        for info in self.compiled:
            modules[info.file] = bind_parameters(info, modules[info.file])
        modules[ENTRY_FILE] = entry_module(self.compiled)
        # Simulated only when a compiled policy reads it: it costs a simulation per workload.
        self.simulation: SimulationOptions | None = (
            SimulationOptions.from_config(self.settings.simulation)
            if any(p.needs_simulation for p in self.compiled)
            else None
        )
        self.engine.load(modules)
        self._loaded: tuple[Any, ...] | None = None
        self._set_data(
            inventory=self.inventory or {"namespace": {}, "cluster": {}},
            reviews=[],
            artifacts=[],
            changeset=self.changeset or {},
        )
        if self.warm:
            self._warm()

    def policies_for(self, kind: str) -> list[str]:
        """Ids of the selected policies that judge `kind` (with the any-kind ones for Kubernetes kinds)."""
        named = self.dispatch.get(kind, [])
        return [*named, *self._any_kind] if self._any_kind and kind not in ARTIFACT_KINDS else named

    def _set_data(
        self,
        *,
        inventory: Mapping[str, Any],
        reviews: list[dict[str, Any]],
        artifacts: list[Mapping[str, Any]],
        changeset: Mapping[str, Any],
        releases: list[dict[str, Any]] | None = None,
    ) -> None:
        """Load the inventory, the change set and the documents to judge (with `releases`, those
        of each release beside them); a no-op when unchanged.

        Documents go to data rather than input: the OPA bridge converts data several times
        faster than input, and the data has to be loaded for the inventory anyway.
        """
        loaded = self._loaded
        if (
            loaded is not None
            and not releases
            and not loaded[4]
            and loaded[0] is inventory
            and loaded[1] == reviews
            and loaded[3] == changeset
            and loaded[2] == artifacts
        ):
            return
        self._loaded = (inventory, reviews, artifacts, changeset, releases)
        self.engine.set_data(
            {
                "inventory": inventory,
                "rollguard": {
                    "parameters": self.parameters,
                    "context": self.context(),
                    "reviews": reviews,
                    "artifacts": artifacts,
                    "changeset": changeset,
                    "releases": releases or [],
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
            "rollouts": list(history.rollouts) if history is not None else [],
            "promotion": {
                "previous": s.previous,
                "store": history is not None,
                "passed_digests": list(history.passed_digests) if history is not None else [],
                "error": history.error if history is not None else None,
            },
            "now_ns": int(self.now.timestamp() * 1_000_000_000),
            "slo": [dict(layer) for layer in s.slo],
            "quotas": [dict(q) for q in s.quotas],
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

    def judge(
        self,
        change: ChangeSet,
        *,
        inventory: Mapping[str, Any] | None = None,
        releases: Sequence[Release] = (),
        judged: Sequence[Artifact] | None = None,
    ) -> Decision:
        """Judge every artifact of `change` (or only those `judged`) with every selected policy.

        `inventory` defaults to the change's own Kubernetes objects (the cluster's, when connected).
        With several `releases`, each is judged as its own change (`evaluate_releases`). Artifacts
        left out of `judged` (unchanged files, `check --since`) still fill the inventory and the
        change set: cross-object rules see them, but no finding names them.
        """
        share = list(change.artifacts if judged is None else judged)
        if len(releases) > 1:
            findings = self.evaluate_releases(share, change, releases)
            return replace(self.decide(change, findings, judged=judged), releases=tuple(releases))
        if inventory is None:
            inventory = self.inventory_of(change.artifacts)
        changeset = self.changeset if self.changeset is not None else self.changeset_for(change.artifacts)
        findings = self.evaluate(share, inventory=inventory, changeset=changeset)
        return self.decide(change, findings, judged=judged)

    def evaluate_releases(
        self, share: Sequence[Artifact], change: ChangeSet, releases: Sequence[Release]
    ) -> list[Finding]:
        """Raw findings for `share` (the artifacts of `change`, or one worker's part of them).

        The Kubernetes objects of each release are judged against that release's own inventory.
        The change set is every release's: it holds the artifacts that are not Kubernetes
        objects (migrations, pipelines, scans, plans), which belong to the whole change and are
        judged once, against the whole change.
        """
        wanted = {id(a) for a in share}
        parts: list[_Part] = []
        for release in releases:
            mine = [a for a in release.artifacts if id(a) in wanted]
            if mine:
                simulated = self._simulate(release.artifacts) if self.simulation is not None else None
                parts.append(_Part(mine, self.inventory_of(release.artifacts), simulated))
        others = [a for a in share if a.kind != "k8s"]
        if others:
            parts.append(_Part(others, self.inventory_of(change.artifacts)))
        return self._evaluate_parts(parts, changeset=self.changeset_for(change.artifacts))

    def inventory_of(self, artifacts: Iterable[Artifact]) -> dict[str, Any]:
        """`data.inventory` for a change judged alone: its Kubernetes objects and the `outside` ones."""
        return build_inventory([*self.outside, *(a.document for a in artifacts if a.kind == "k8s")])

    def changeset_for(self, artifacts: Iterable[Artifact]) -> dict[str, Any]:
        """`data.rollguard.changeset` of a change: its artifacts by kind, and the simulation of its
        workloads when a compiled policy needs it."""
        if self.simulation is None:
            return build_changeset(artifacts)
        artifacts = tuple(artifacts)
        return build_changeset(artifacts, simulation=self._simulate(artifacts))

    def _simulate(
        self, artifacts: Iterable[Artifact], *, limit_ranges: tuple[Mapping[str, Any], ...] = ()
    ) -> list[Mapping[str, Any]]:
        """The simulated rollouts of `artifacts` for the policies (`policy_simulation`), within the
        gate's step budget when it has one (the webhook)."""
        assert self.simulation is not None
        options = self.simulation
        if self.simulation_steps is not None:
            options = replace(options, max_instants=self.simulation_steps)
        if not limit_ranges and self.outside:
            limit_ranges = tuple(o for o in self.outside if o.get("kind") == "LimitRange")
        return policy_simulation(artifacts, options=options, limit_ranges=limit_ranges)

    def _evaluate_parts(self, parts: Sequence[_Part], *, changeset: Mapping[str, Any]) -> list[Finding]:
        """Raw findings for several parts, each against its own inventory, in one engine call:
        every part is loaded into `data.rollguard.releases` at once, so the data is loaded (and
        on OPA the bundle compiled) once however many releases there are.

        The change set is shared: `data.rollguard.changeset` also holds the packages of the
        changeset policies, which replacing it per release (`with`) would hide.
        """
        if not parts:
            return []
        assert self._loaded is not None
        entries = [
            {
                "inventory": part.inventory,
                "reviews": [review_for(a) for a in part.artifacts if a.kind == "k8s"],
                "artifacts": [a.document for a in part.artifacts if a.kind != "k8s"],
                **({"simulation": _simulation_of(part, changeset)} if self.simulation is not None else {}),
            }
            for part in parts
        ]
        self._set_data(inventory=self._loaded[0], reviews=[], artifacts=[], changeset=changeset, releases=entries)
        try:
            batch = self.engine.evaluate(f"{ENTRY_PACKAGE}.batch", {})
        except EngineError:
            # A document raised a builtin error: each part on its own, which finds and names it.
            return [
                f
                for part in parts
                for f in self.evaluate(
                    part.artifacts,
                    inventory=part.inventory,
                    changeset={**changeset, "simulation": _simulation_of(part, changeset)}
                    if self.simulation is not None
                    else changeset,
                )
            ]
        results = batch.get("releases") if isinstance(batch, dict) else None
        if not isinstance(results, list) or len(results) != len(parts):
            raise EngineError(f"entry module returned {type(results).__name__} for {len(parts)} releases")
        findings: list[Finding] = []
        for part, result in zip(parts, results, strict=True):
            objects = [a for a in part.artifacts if a.kind == "k8s"]
            others = [a for a in part.artifacts if a.kind != "k8s"]
            findings += self._collect(objects, result.get("results")) + self._collect(
                others, result.get("artifact_results")
            )
        return findings

    def evaluate(
        self,
        artifacts: Sequence[Artifact],
        *,
        inventory: Mapping[str, Any] | None = None,
        changeset: Mapping[str, Any] | None = None,
    ) -> list[Finding]:
        """Raw findings (no waivers) for `artifacts`: the Kubernetes objects, then the other artifacts.

        The inventory and the change set are loaded once; the documents go to the engine as
        input, `window` at a time (`input.documents`). The engine then holds one window's
        documents beside the inventory instead of a second copy of every document for the whole
        evaluation, which on 20,000 objects more than doubled the peak memory (docs/performance.md).
        """
        objects = [a for a in artifacts if a.kind == "k8s"]
        others = [a for a in artifacts if a.kind != "k8s"]
        assert self._loaded is not None
        self._set_data(
            inventory=inventory if inventory is not None else self._loaded[0],
            reviews=[],
            artifacts=[],
            changeset=changeset if changeset is not None else self._loaded[3],
        )
        size = max(1, self.window)
        findings: list[Finding] = []
        for start in range(0, len(objects), size):
            findings += self._evaluate_window(objects[start : start + size], [])
        for start in range(0, len(others), size):
            findings += self._evaluate_window([], others[start : start + size])
        return findings

    def _evaluate_window(self, objects: Sequence[Artifact], others: Sequence[Artifact]) -> list[Finding]:
        """Raw findings for one window of documents, in one engine call."""
        reviews = [review_for(a) for a in objects]
        documents = [a.document for a in others]
        window = {"documents": {"reviews": reviews, "artifacts": documents}}
        try:
            batch = self.engine.evaluate(f"{ENTRY_PACKAGE}.batch", window)
        except EngineError:
            # A document raised a builtin error: each list on its own, and one by one within it.
            return self._evaluate_all(
                "results", objects, [self._review_input(r) for r in reviews], window
            ) + self._evaluate_all("artifact_results", others, [{"artifact": d} for d in documents], window)
        if not isinstance(batch, dict):
            raise EngineError(
                f"entry module returned {type(batch).__name__} for {len(objects) + len(others)} documents"
            )
        return self._collect(objects, batch.get("results")) + self._collect(others, batch.get("artifact_results"))

    def _evaluate_all(
        self,
        rule: str,
        artifacts: Sequence[Artifact],
        inputs: Sequence[Mapping[str, Any]],
        window: Mapping[str, Any],
    ) -> list[Finding]:
        if not artifacts:
            return []
        try:
            results = self.engine.evaluate(f"{ENTRY_PACKAGE}.{rule}", window)
        except EngineError:
            # One document raised a builtin error: judge one by one to name it, keep the rest.
            return [f for a, i in zip(artifacts, inputs, strict=True) for f in self._judge_alone(a, i)]
        return self._collect(artifacts, results)

    def _review_input(self, review: Mapping[str, Any]) -> dict[str, Any]:
        """`input` for one review judged on its own: with its simulated rollout when one was loaded
        (what the entry module's `review_input` gives it in a batch)."""
        assert self._loaded is not None
        simulated = self._loaded[3].get("simulation") if self.simulation is not None else None
        key = (review.get("namespace"), (review.get("kind") or {}).get("kind"), review.get("name"))
        for s in simulated or ():
            if (s.get("namespace"), s.get("kind"), s.get("name")) == key:
                return {"review": review, "simulation": s}
        return {"review": review}

    def _collect(self, artifacts: Sequence[Artifact], results: Any) -> list[Finding]:
        """Findings from the entry module's per-document results, in the order of `artifacts`."""
        if not isinstance(results, list) or len(results) != len(artifacts):
            raise EngineError(f"entry module returned {type(results).__name__} for {len(artifacts)} documents")
        findings: list[Finding] = []
        for artifact, by_policy in zip(artifacts, results, strict=True):
            for pid, violations in sorted(by_policy.items()):
                findings.extend(self._findings(pid, artifact, violations))
        return findings

    def judge_review(
        self,
        artifact: Artifact,
        review: Mapping[str, Any],
        *,
        isolate: bool = True,
        now: dt.datetime | None = None,
    ) -> Decision:
        """Judge one admission request (`input.review` exactly as Gatekeeper builds it).

        The document travels as input, so the loaded data (inventory) stays as it is and the
        engine does not recompile: this is the webhook's path. Without `isolate`, an engine
        error is raised instead of re-judging policy by policy (which prepares a query per
        policy on OPA: far too slow for an admission deadline). `now` is the request's time,
        for waiver expiry (default: the gate's).
        """
        policy_input = self.admission_input(artifact, review)
        try:
            by_policy = self.engine.evaluate(f"{ENTRY_PACKAGE}.judged", policy_input)
        except EngineError:
            if not isolate:
                raise
            findings = self._judge_alone(artifact, policy_input)
        else:
            if by_policy is not None and not isinstance(by_policy, dict):
                raise EngineError(f"entry module returned {type(by_policy).__name__} for one document")
            findings = [f for pid, v in sorted((by_policy or {}).items()) for f in self._findings(pid, artifact, v)]
        if self.synced_kinds is not None:
            findings = self._flag_unsynced(artifact, findings, self.synced_kinds)
        return self.decide(ChangeSet(artifacts=(artifact,)), findings, now=now)

    def admission_input(self, artifact: Artifact, review: Mapping[str, Any]) -> dict[str, Any]:
        """`input` for one admission request: the review, and when a compiled policy needs it the
        object's simulated rollout, with the LimitRanges of its namespace from the inventory."""
        if self.simulation is None or review.get("operation") == "DELETE":
            return {"review": review}
        assert self._loaded is not None
        namespace = review.get("namespace") or "default"
        by_api = self._loaded[0].get("namespace", {}).get(namespace, {})
        limit_ranges = [o for kinds in by_api.values() for o in (kinds.get("LimitRange") or {}).values()]
        simulated = self._simulate([artifact], limit_ranges=tuple(limit_ranges))
        return {"review": review, "simulation": simulated[0]} if simulated else {"review": review}

    def _flag_unsynced(self, artifact: Artifact, findings: list[Finding], synced: frozenset[str]) -> list[Finding]:
        """Replace the findings of policies that read kinds the inventory lacks with one that says so."""
        kind = artifact.document["kind"]
        for pid in self.policies_for(kind):
            info = self._by_id[pid]
            missing = [k for k in info.required_inventory_for(kind) if k not in synced]
            if missing:
                findings = [f for f in findings if f.policy != pid]
                message = (
                    f"not judged: needs {', '.join(missing)} from the cluster, which are not synced (add to --sync)"
                )
                findings.append(self._finding(info, artifact, message, {"unsynced": missing}))
        return findings

    def decide(
        self,
        change: ChangeSet,
        findings: list[Finding],
        *,
        now: dt.datetime | None = None,
        judged: Sequence[Artifact] | None = None,
    ) -> Decision:
        """Apply waivers (expiring at `now`, default the gate's time) to raw findings and build the decision.

        With an environment, the decision carries the change request its second pass judged.
        `judged` (default: every artifact of `change`) are the artifacts the findings come from:
        they alone count as resources and make the change request.
        """
        when = now or self.now
        judged = list(change.artifacts if judged is None else judged)
        artifacts = list(judged)
        problems = list(change.problems)
        findings = self._apply_waivers([*findings, *self._parity_findings(problems)], artifacts, problems, now=when)
        request = self._change_request(artifacts, findings)
        approval = self.settings.approval
        if request is not None:
            # The second pass: the whole change, once every other finding (and waiver) is known.
            findings += self._apply_waivers(self._judge_change(request), [request], problems, now=when)
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
            expired_waivers=tuple(applied(w, "expired") for w in self.settings.waivers if w.expired(on=when)),
            links=artifact_links(change.artifacts),
            approval=approval,
            unjudged=tuple(a.resource for a in judged if not self.policies_for(document_kind(a))),
            change_request=request,
        )

    def _parity_findings(self, problems: list[InputProblem]) -> list[Finding]:
        """governance.region_parity on the config's `parity.sets` (docs/fleet.md), when the change was
        read up front (`kinds` known: `check`, `baseline create`); a set that cannot be read is added
        to `problems`. The webhook and the cluster audit judge objects one at a time and hold no
        renderings to compare."""
        s = self.settings
        if not s.parity.sets or self.kinds is None:
            return []
        from rollguard.fleet.parity import PARITY_POLICY, parity_findings

        if not s.selects(PARITY_POLICY):
            return []
        found = parity_findings(s.parity, source=s.source, problems=problems)
        return [replace(f, enforcement=s.enforcement_for(f.policy, f.enforcement)) for f in found]

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
        for pid in self.policies_for(artifact.document["kind"]):
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
        return Finding(
            policy=info.id,
            title=info.title,
            severity=info.severity_for(details),
            message=message,
            resource=artifact.resource,
            file=artifact.file,
            line=_finding_line(artifact, details),
            controls=info.controls,
            remediation=info.remediation_for(details),
            enforcement=self.settings.enforcement_for(info.id, info.custom.get("enforcement", "deny")),
            details=details,
            error=error,
        )

    def _apply_waivers(
        self,
        findings: list[Finding],
        artifacts: Sequence[Artifact],
        problems: list[InputProblem],
        *,
        now: dt.datetime | None = None,
    ) -> list[Finding]:
        waived, bad = apply_waivers(
            findings,
            artifacts,
            waivers=self.settings.waivers,
            now=now or self.now,
            environment=self.settings.environment,
        )
        problems.extend(bad)
        return waived


@dataclass(frozen=True)
class _Part:
    """Artifacts judged together against one inventory (a release)."""

    artifacts: Sequence[Artifact]
    inventory: Mapping[str, Any]
    # The release's simulated rollouts, when a policy needs them; else the change's.
    simulation: list[Mapping[str, Any]] | None = None


def _simulation_of(part: _Part, changeset: Mapping[str, Any]) -> Any:
    """The simulated rollouts a part is judged with: its release's, else the whole change's."""
    return part.simulation if part.simulation is not None else changeset.get("simulation", [])


def _judges_any(info: PolicyInfo, kinds: frozenset[str], environment: str | None) -> bool:
    """Whether `info` judges a document of one of `kinds` (or, with an environment, the ChangeRequest)."""
    for kind in info.applies_to:
        if kind in kinds or (kind == CHANGE_KIND and environment is not None):
            return True
        if kind == ANY_KUBERNETES_KIND and any(k not in ARTIFACT_KINDS for k in kinds):
            return True
    return False


_LIBRARY_PATH = re.compile(r"^rollguard/lib/(\w+)/")
_LIBRARY_USE = re.compile(r"\blib(?:\.(\w+)|\[\s*\"(\w+)\"\s*\])")


def _without_unused_libraries(modules: Mapping[str, str]) -> dict[str, str]:
    """`modules` without the pack's libraries (`rollguard/lib/<name>/`) that no other kept module
    names: OPA compiles every module it holds, used or not. A module naming `lib` in a way this
    cannot follow keeps them all."""
    libraries = {path: m.group(1) for path in modules if (m := _LIBRARY_PATH.match(path))}
    used: set[str] = set()
    pending = [path for path in modules if path not in libraries]
    while pending:
        source = modules[pending.pop()]
        for match in _LIBRARY_USE.finditer(source):
            name = match.group(1) or match.group(2)
            if name not in used:
                used.add(name)
                pending += [path for path, lib in libraries.items() if lib == name]
        if re.search(r"\blib\s*\[(?!\s*\")", source):
            return dict(modules)
    return {path: source for path, source in modules.items() if path not in libraries or libraries[path] in used}


def document_kind(artifact: Artifact) -> str:
    """The kind policies dispatch on: the object's kind, or the artifact document's (MigrationFile, ...)."""
    kind = artifact.document.get("kind")
    return kind if isinstance(kind, str) else artifact.resource.kind


def _finding_line(artifact: Artifact, details: Mapping[str, Any]) -> int:
    """The line a finding is about: the field at `details.path` (a JSON path into the document),
    or `details.line` (a statement of a migration), else the document's first line."""
    path = details.get("path")
    if isinstance(path, str) and artifact.source is not None:
        found = line_at(artifact.source, path)
        if found is not None:
            return found
    line = details.get("line")
    return line if isinstance(line, int) and not isinstance(line, bool) and line > 0 else artifact.line


def _finding_order(f: Finding) -> tuple[str, int, str, str]:
    return (f.file or "", f.line or 0, f.policy, f.message)
