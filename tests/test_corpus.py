"""Real manifests nobody here wrote (../shared/corpus): judged or reported, and identical on both engines."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rollguard.contract import build_inventory
from rollguard.gate import Gate
from rollguard.inputs import load_change_set
from rollguard.model import Decision

from .conftest import FIXTURES


def _key(decision: Decision) -> list[tuple[object, ...]]:
    return sorted(
        (f.file, f.line, f.policy, f.resource.display(), f.message, repr(sorted(f.details.items())), f.error)
        for f in decision.findings
    )


@pytest.fixture(scope="module")
def corpus_decisions(corpus: Path, gates: dict[str, Gate]) -> dict[str, Decision]:
    change = load_change_set([str(corpus / "k8s-manifests")])
    return {name: gate.judge(change) for name, gate in gates.items()}


def _count_documents(path: Path) -> int | None:
    """Documents PyYAML itself finds in a file (Lists flattened), None when it cannot parse it."""
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    except yaml.YAMLError:
        return None
    # Kubernetes lists are `List` or `<Kind>List` with an items array (e.g. RoleBindingList).
    return sum(
        len(d["items"])
        if isinstance(d, dict) and str(d.get("kind", "")).endswith("List") and isinstance(d.get("items"), list)
        else 1
        for d in docs
    )


def test_document_counts_match_an_independent_parse(corpus: Path) -> None:
    change = load_change_set([str(corpus / "k8s-manifests")])
    per_file: dict[str, int] = {}
    for a in change.artifacts:
        per_file[a.file] = per_file.get(a.file, 0) + 1
    # Many projects in one change repeat object names (kube-score's test data defines `foo` many
    # times): those are reported as duplicates across files, not as problems of one file's parse.
    duplicates = [p for p in change.problems if "is defined twice in this change" in p.message]
    assert any(p.file.endswith("argo-rollouts/examples/rollout-canary.yaml") for p in duplicates)
    for p in change.problems:
        if p not in duplicates:
            per_file[p.file] = per_file.get(p.file, 0) + 1
    unparsable = 0
    for path in sorted((corpus / "k8s-manifests").rglob("*")):
        if path.suffix not in (".yaml", ".yml", ".json"):
            continue
        expected = _count_documents(path)
        if expected is None:
            unparsable += 1
            assert per_file.get(path.as_posix(), 0) >= 1, f"{path} is broken but nothing was reported"
        else:
            assert per_file.get(path.as_posix(), 0) == expected, path
    assert unparsable == 1  # argo-rollouts' rollout-linkerd.yaml, see SOURCES.md


def test_every_corpus_document_is_judged_or_reported(corpus: Path, corpus_decisions: dict[str, Decision]) -> None:
    decision = corpus_decisions["opa"]
    files = sorted(p for p in (corpus / "k8s-manifests").rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
    judged_files = {f.file for f in decision.findings}
    problem_files = {p.file for p in decision.problems}
    # Nothing crashes, every problem names a file and a line, and no evaluation errors.
    assert decision.errors == ()
    for problem in decision.problems:
        assert problem.line is not None and problem.message
    assert decision.resources >= 1100
    linkerd = [p for p in decision.problems if p.file.endswith("traffic-management/rollout-linkerd.yaml")]
    assert len(linkerd) == 1 and linkerd[0].line is not None and 95 <= linkerd[0].line <= 101
    assert judged_files | problem_files <= {p.as_posix() for p in files}


def test_corpus_findings_are_identical_on_both_engines(corpus_decisions: dict[str, Decision]) -> None:
    opa, regorus = _key(corpus_decisions["opa"]), _key(corpus_decisions["regorus"])
    only_opa = sorted(set(opa) - set(regorus))[:10]
    only_regorus = sorted(set(regorus) - set(opa))[:10]
    assert opa == regorus, f"only on opa: {only_opa}\nonly on regorus: {only_regorus}"


def test_fixture_findings_are_identical_on_both_engines(gates: dict[str, Gate]) -> None:
    change = load_change_set([str(FIXTURES / "k8s"), str(FIXTURES / "demo")])
    decisions = {name: gate.judge(change) for name, gate in gates.items()}
    assert _key(decisions["opa"]) == _key(decisions["regorus"])
    assert decisions["opa"].findings, "the fixtures should produce findings"


def test_selector_index_changes_no_finding(corpus: Path, gates: dict[str, Gate], corpus_decisions) -> None:
    """The gate's selector index is only a shortcut: scanning the whole namespace agrees."""
    change = load_change_set([str(corpus / "k8s-manifests")])
    plain = build_inventory((a.document for a in change.artifacts), index=False)
    assert "rollguard_selectors" not in plain
    scanned = gates["opa"].judge(change, inventory=plain)
    assert _key(scanned) == _key(corpus_decisions["opa"])
    assert any(f.policy == "k8s.graceful_shutdown" for f in scanned.findings)


def test_argo_rollouts_examples_are_judged_for_their_rollback_triggers(corpus_decisions: dict[str, Decision]) -> None:
    """The Argo Rollouts project's own examples, read by hand: the plain canary and blue-green
    have no analysis; the analysis examples use `random-fail`, a Job metric with no condition
    on errors and nothing on latency, and so does the experiment step's analysis, which blocks
    the rollout like an analysis step."""
    found = {
        (Path(f.file or "").name, f.line, f.message)
        for f in corpus_decisions["opa"].findings
        if f.policy == "k8s.rollout_analysis" and "/argo-rollouts/examples/" in (f.file or "")
    }
    no_analysis = (
        "has no automated analysis in its {} strategy ({}): nothing rolls it back on an error-rate or latency breach"
    )
    canary = no_analysis.format("canary", "spec.strategy.canary.analysis or an analysis step")
    blue_green = no_analysis.format("blueGreen", "prePromotionAnalysis or postPromotionAnalysis")
    random_fail = (
        'metric "random-fail" of AnalysisTemplate default/random-fail: no successCondition or failureCondition'
    )
    expected = {
        # Each at the line of the field it is about: the strategy block, or the template reference.
        ("rollout-canary.yaml", 26, f"Rollout default/rollout-canary {canary}"),
        ("rollout-bluegreen.yaml", 25, f"Rollout default/rollout-bluegreen {blue_green}"),
        (
            "rollout-background-analysis.yaml",
            34,
            f"Rollout default/rollout-background-analysis has no error-rate metric that can abort it: {random_fail}",
        ),
        (
            "rollout-background-analysis.yaml",
            34,
            "Rollout default/rollout-background-analysis has no latency metric in AnalysisTemplate "
            "default/random-fail: nothing aborts it on a latency breach",
        ),
        (
            "rollout-analysis-step.yaml",
            37,
            "Rollout default/rollout-analysis-step has no latency metric in AnalysisTemplate default/random-fail, "
            "ClusterAnalysisTemplate always-pass: nothing aborts it on a latency breach",
        ),
        (
            "rollout-experiment-step.yaml",
            43,
            f"Rollout default/rollout-experiment-step has no error-rate metric that can abort it: {random_fail}",
        ),
        (
            "rollout-experiment-step.yaml",
            43,
            "Rollout default/rollout-experiment-step has no latency metric in AnalysisTemplate "
            "default/random-fail: nothing aborts it on a latency breach",
        ),
    }
    assert expected <= found
    # The experiment step's analyses count as analysis and as a hold before full traffic.
    assert not {m for name, _, m in found if name == "rollout-experiment-step.yaml"} - {m for _, _, m in expected}
    # The ClusterAnalysisTemplate of cluster-analysis-templates.yaml is found, never reported missing.
    assert not any("always-pass, which is neither" in message for _, _, message in found)


def test_deployments_run_through_a_rollout_workload_ref_are_not_judged_for_replicas(
    corpus_decisions: dict[str, Decision],
) -> None:
    """argo-rollouts' workloadRef examples scale the referenced Deployment to 0 on purpose: the
    Rollout beside it runs the pods, and its replicas are the ones judged."""
    files = (
        "/argo-rollouts/examples/rollout-template-ref.yaml",
        "/argo-rollouts/examples/workload-ref/workload-ref.yaml",
    )
    findings = [f for f in corpus_decisions["opa"].findings if (f.file or "").endswith(files)]
    assert {f.resource.kind for f in findings} >= {"Deployment", "Rollout"}  # both documents are judged
    assert not [f for f in findings if f.policy == "k8s.replicas_minimum" and f.resource.kind == "Deployment"]
