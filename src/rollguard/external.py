"""Other tools' policies judged beside rollguard's: Conftest modules and Gatekeeper constraints.

`check --policy DIR` finds Conftest modules (`package main`) among a team's own Rego, and
`check --gatekeeper DIR` loads ConstraintTemplates and Constraints. Both judge the same inputs
as the pack, and their findings join the decision like a scanner's (`Gate.add_findings`), so
config selection, enforcement and waivers apply to them by id (`conftest.*`, `gatekeeper.*`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rollguard.errors import PolicyError, RollguardError
from rollguard.model import Finding, InputProblem, Resource, Severity

if TYPE_CHECKING:
    from rollguard.gatekeeper.constraint_match import KindSelector
    from rollguard.parallel import Judgement

DEFAULT_NAMESPACES = ("main",)


@dataclass(frozen=True)
class ExternalPolicies:
    """How to run the other tools' policies: Conftest's namespaces, data and combine, and the
    Gatekeeper directories."""

    namespaces: tuple[str, ...] | None = DEFAULT_NAMESPACES  # None: every namespace
    data: tuple[Path, ...] = ()
    combine: bool = False
    gatekeeper: tuple[Path, ...] = ()

    def conftest_asked(self) -> bool:
        """Whether a Conftest-only option was given (then Conftest modules must exist)."""
        return bool(self.data) or self.combine or self.namespaces != DEFAULT_NAMESPACES


def judge_external(
    judgement: Judgement,
    external: ExternalPolicies,
    *,
    paths: Sequence[str],
    extra: Sequence[tuple[str, str]],
    engine: str,
    max_bytes: int,
    unchanged: frozenset[str] = frozenset(),
) -> Judgement:
    """`judgement` with the findings of the Conftest modules of its bundle and of the Gatekeeper
    constraints under `external.gatekeeper` added; unreadable inputs are added as problems.
    Findings about `unchanged` files (`check --since`) are left out, as the pack's are. The
    summary counts their rules and constraints as policies, and what they judged as judged."""
    run = _Run()
    modules = judgement.gate.bundle.conftest_modules
    if modules:
        _conftest(run, modules, external, paths=paths, extra=extra, engine=engine, max_bytes=max_bytes)
    elif external.conftest_asked():
        raise PolicyError(
            "--namespace, --all-namespaces, --data and --combine are for Conftest policies, and no --policy "
            "directory holds any (modules in `package main` or another namespace with deny/violation/warn rules)"
        )
    if external.gatekeeper:
        _gatekeeper(run, judgement, external.gatekeeper, engine=engine)
    found = [f for f in run.findings if f.file not in unchanged]
    decision = judgement.gate.add_findings(judgement.decision, judgement.change, found)
    decision = replace(
        decision,
        problems=(*decision.problems, *run.problems),
        policies=decision.policies + run.policies,
        unjudged=tuple(r for r in decision.unjudged if not run.judged(r)),
    )
    return replace(judgement, decision=decision)


@dataclass
class _Run:
    """What the other tools' policies found, and what they judged."""

    findings: list[Finding] = field(default_factory=list)
    problems: list[InputProblem] = field(default_factory=list)
    policies: int = 0
    files: set[str] = field(default_factory=set)  # every document of these files was judged (Conftest)
    any_kind: bool = False  # a constraint matches every kind
    kinds: list[KindSelector] = field(default_factory=list)  # the kinds constraints match
    resources: set[Resource] = field(default_factory=set)

    def judged(self, resource: Resource) -> bool:
        group = resource.api_version.rpartition("/")[0]
        return (
            resource in self.resources
            or self.any_kind
            or any(selector.matches(group, resource.kind) for selector in self.kinds)
        )


def _conftest(
    run: _Run,
    modules: Mapping[str, str],
    external: ExternalPolicies,
    *,
    paths: Sequence[str],
    extra: Sequence[tuple[str, str]],
    engine: str,
    max_bytes: int,
) -> None:
    from rollguard.inputs import iter_input_files, read_input
    from rollguard.policy.conftest import load_conftest
    from rollguard.policy.conftest_documents import format_of, load_data_files, read_documents

    data = load_data_files(list(external.data)) if external.data else None
    policies = load_conftest(modules, namespaces=external.namespaces, data=data, engine=engine)
    files: list[tuple[str, str]] = []
    for name, path in iter_input_files([p for p in paths if p != "-"]):
        if path is None or format_of(name) is None:
            continue
        # An unreadable file is reported by the pack's own reading already.
        text, _unreadable = read_input(name, path, max_bytes=max_bytes)
        if text is not None:
            files.append((name, text))
    files.extend((name, text) for name, text in extra if format_of(name) is not None)
    run.findings += policies.judge(files, combine=external.combine, problems=run.problems)
    run.policies += len(policies.rules)
    for name, text in files:
        try:
            run.resources.update(d.resource() for d in read_documents(name, text))
        except RollguardError:
            continue  # reported as a problem by `judge`


def _gatekeeper(run: _Run, judgement: Judgement, dirs: Sequence[Path], *, engine: str) -> None:
    from rollguard.gatekeeper.constraints import load_constraints

    constraints = load_constraints(dirs, engine=engine)
    if not constraints.constraints and not constraints.problems:
        raise PolicyError(
            "no Gatekeeper constraints found: --gatekeeper needs ConstraintTemplates and the Constraints "
            "that use them (constraints.gatekeeper.sh)",
            file=", ".join(d.as_posix() for d in dirs),
        )
    objects = [a for a in judgement.change.artifacts if a.kind == "k8s"]
    run.findings += constraints.judge(objects) if objects else []
    # A template or constraint that cannot be used is an error the report names; the others judged.
    run.findings += [_load_error(p) for p in constraints.problems]
    run.policies += len(constraints.constraints)
    for constraint in constraints.constraints:
        run.any_kind = run.any_kind or not constraint.match.kinds
        run.kinds += constraint.match.kinds


def _load_error(problem: PolicyError) -> Finding:
    return Finding(
        policy="gatekeeper.load",
        title="Gatekeeper template or constraint",
        severity=Severity.HIGH,
        message=f"could not be loaded: {problem.message}",
        resource=Resource(api_version="", kind="File", namespace=None, name=problem.file or "gatekeeper"),
        file=problem.file,
        line=problem.line,
        error=True,
    )
