"""Releases: the documents of one run are grouped into the applications they ship, and
cross-object policies compare objects of one release only."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from rollguard.cli import main
from rollguard.errors import ConfigError
from rollguard.gate import Gate
from rollguard.inputs import load_change_set
from rollguard.model import ChangeSet, Decision, Release, Resource
from rollguard.releases import check_release_by, group_releases


def deployment(name: str, image: str, **labels: str) -> str:
    return textwrap.dedent(
        f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {name}
          labels: {json.dumps(labels)}
        spec:
          selector: {{matchLabels: {{app: {name}}}}}
          template:
            metadata: {{labels: {{app: {name}}}}}
            spec:
              containers:
              - name: {name}
                image: {image}
        """
    )


def service(name: str) -> str:
    return f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec: {{selector: {{app: {name}}}}}\n"


def two_projects(root: Path) -> Path:
    """Two unrelated applications that both run busybox, at different tags."""
    (root / "billing").mkdir(parents=True)
    (root / "search").mkdir()
    (root / "billing" / "app.yaml").write_text(deployment("invoices", "registry.example.com/busybox:1.36"))
    (root / "search" / "app.yaml").write_text(deployment("indexer", "registry.example.com/busybox:1.35"))
    return root


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def consistency(result_output: str) -> list[dict[str, object]]:
    return [f for f in json.loads(result_output)["findings"] if f["policy"] == "changeset.image_consistency"]


def test_unrelated_projects_are_not_compared(tmp_path: Path) -> None:
    root = two_projects(tmp_path)
    whole = run("check", str(root), "--release-by", "none", "--format", "json")
    [one, two] = consistency(whole.stdout)
    assert (
        "registry.example.com/busybox runs at 1.35 here but at 1.36 in Deployment default/invoices"
        in one["message"] + two["message"]
    )
    assert "releases" not in json.loads(whole.stdout)
    split = run("check", str(root), "--format", "json")  # auto is the default
    assert consistency(split.stdout) == []
    releases = json.loads(split.stdout)["releases"]
    assert [(r["name"], [d["resource"] for d in r["documents"]]) for r in releases] == [
        (f"directory {root / 'billing'}", ["Deployment invoices"]),
        (f"directory {root / 'search'}", ["Deployment indexer"]),
    ]


def test_one_release_still_compares_its_own_objects(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(
        deployment("web", "registry.example.com/busybox:1.36")
        + "---\n"
        + deployment("worker", "registry.example.com/busybox:1.35")
    )
    result = run("check", str(tmp_path), "--format", "json")
    assert len(consistency(result.stdout)) == 2
    assert "releases" not in json.loads(result.stdout), "one release is the whole change: nothing to list"


def test_labels_group_across_directories_and_adopt_unlabelled_neighbours(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    part_of = {"app.kubernetes.io/part-of": "shop"}
    (tmp_path / "a" / "web.yaml").write_text(deployment("web", "web:1", **part_of) + "---\n" + service("web"))
    (tmp_path / "b" / "api.yaml").write_text(deployment("api", "api:1", **{"app.kubernetes.io/instance": "api-prod"}))
    (tmp_path / "b" / "cart.yaml").write_text(deployment("cart", "cart:1", **part_of))
    change = load_change_set([str(tmp_path)])
    names = {
        r.name: sorted(a.resource.display() for a in r.artifacts) for r in group_releases(change.artifacts, "auto")
    }
    # The unlabelled Service joins the one labelled release of its directory; in b/ two
    # releases are labelled, so nothing there would be adopted.
    assert names == {
        "label instance=api-prod": ["Deployment api"],
        "label part-of=shop": ["Deployment cart", "Deployment web", "Service web"],
    }
    by_label = group_releases(change.artifacts, "label:app.kubernetes.io/part-of")
    # With one label named, objects without it fall back to their directory, and nothing is adopted.
    assert {r.name for r in by_label} == {
        "label app.kubernetes.io/part-of=shop",
        f"directory {tmp_path / 'a'}",
        f"directory {tmp_path / 'b'}",
    }
    assert [r.name for r in group_releases(change.artifacts, "none")] == ["the whole change"]
    assert len(group_releases(change.artifacts, "directory")) == 2


def test_a_kustomization_directory_is_one_release(tmp_path: Path) -> None:
    base = tmp_path / "deploy"
    (base / "web").mkdir(parents=True)
    (base / "worker").mkdir()
    (base / "kustomization.yaml").write_text("resources: [web/app.yaml, worker/app.yaml]\n")
    (base / "web" / "app.yaml").write_text(deployment("web", "web:1"))
    (base / "worker" / "app.yaml").write_text(deployment("worker", "worker:1"))
    change = load_change_set([str(base)])
    [release] = group_releases(change.artifacts, "auto")
    assert len(release.artifacts) == 2 and release.name == f"directory {base}"


def test_non_kubernetes_artifacts_are_shared_by_every_release(tmp_path: Path) -> None:
    root = two_projects(tmp_path)
    (root / "db").mkdir()
    (root / "db" / "001_drop.sql").write_text("ALTER TABLE invoices DROP COLUMN total;\n")
    result = run("check", str(root), "--format", "json")
    findings = json.loads(result.stdout)["findings"]
    drops = [f for f in findings if f["policy"] == "migration.drop_column"]
    assert len(drops) == 1, "the migration is judged once, not once per release"
    assert consistency(result.stdout) == []


@pytest.mark.parametrize("value", ["auto", "directory", "none", "label:team"])
def test_release_by_values(value: str) -> None:
    assert check_release_by(value) == value


@pytest.mark.parametrize("value", ["", "label:", "labels", "Auto"])
def test_unknown_release_by_is_refused(value: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="use auto, directory, label:KEY or none"):
        check_release_by(value)
    two_projects(tmp_path)
    result = run("check", str(tmp_path), "--release-by", value)
    assert result.exit_code == 2 and "--release-by" in result.stderr


# --- the real corpus -----------------------------------------------------------------------------

_OBJECT = re.compile(r"\b([A-Z][A-Za-z]+) ([a-z0-9][a-z0-9.-]*/[a-z0-9][a-z0-9.-]*)\b")


def _project(file: str, root: Path) -> str:
    return Path(file).relative_to(root).parts[0]


def _cross_project_links(decision: Decision, change: ChangeSet, root: Path) -> list[str]:
    """Findings that name an object (`Kind namespace/name`) which exists in another project of
    the run but not in the finding's own."""
    where: dict[str, set[str]] = {}
    for a in change.artifacts:
        if a.kind == "k8s":
            r = a.resource
            where.setdefault(f"{r.kind} {r.namespace or 'default'}/{r.name}", set()).add(_project(a.file, root))
    linked = []
    for f in decision.findings:
        own = _project(f.file or "", root)
        text = f"{f.message} {json.dumps(dict(f.details), default=str)}"
        for kind, name in _OBJECT.findall(text):
            projects = where.get(f"{kind} {name}", set())
            if projects and own not in projects:
                linked.append(f"{f.policy} on {f.file}:{f.line} names {kind} {name} of {sorted(projects)}")
    return linked


def _cross_release_links(decision: Decision, releases: tuple[Release, ...]) -> list[str]:
    """Findings that name an object (`Kind namespace/name`) of another release but not of their own."""
    where: dict[str, set[str]] = {}
    release_of: dict[tuple[str, Resource], str] = {}
    for release in releases:
        for a in release.artifacts:
            r = a.resource
            where.setdefault(f"{r.kind} {r.namespace or 'default'}/{r.name}", set()).add(release.name)
            release_of[(a.file, r)] = release.name
    linked = []
    for f in decision.findings:
        own = release_of.get((f.file or "", f.resource))
        if own is None:
            continue  # a migration, pipeline or scan: judged against the whole change
        text = f"{f.message} {json.dumps(dict(f.details), default=str)}"
        for kind, name in _OBJECT.findall(text):
            named = where.get(f"{kind} {name}", set())
            if named and own not in named:
                linked.append(f"{f.policy} on {f.file}:{f.line} names {kind} {name} of {sorted(named)}")
    return linked


def test_no_finding_links_objects_of_two_corpus_projects(corpus: Path, gates: dict[str, Gate]) -> None:
    """The whole manifest corpus in one run, as a monorepo: with releases, a finding never names
    an object of another project; judged as one change, it does (which shows the check can fail)."""
    root = corpus / "k8s-manifests"
    change = load_change_set([str(root)])
    gate = gates["opa"]
    releases = group_releases(change.artifacts, "auto")
    assert len({_project(a.file, root) for r in releases for a in r.artifacts[:1]}) == len(
        {_project(a.file, root) for a in change.artifacts}
    ), "every project has at least one release of its own"
    for release in releases:
        assert len({_project(a.file, root) for a in release.artifacts}) == 1, release.name
    judged = gate.judge(change, releases=releases)
    assert _cross_project_links(judged, change, root) == []
    # Within a project too: a kustomize component is not compared with another's objects.
    assert _cross_release_links(judged, releases) == []
    whole = gate.judge(change)
    assert _cross_project_links(whole, change, root) != []
    assert _cross_release_links(whole, releases) != []


def test_an_object_defined_in_two_releases_is_not_a_duplicate(tmp_path: Path) -> None:
    # An overlay per cluster, or a copy in a release folder: never applied together.
    for folder in ("cluster-a", "cluster-b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "settings.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: shop}\ndata: {a: '1'}\n"
        )
    split = json.loads(run("check", str(tmp_path), "--format", "json").stdout)
    assert split["errors"] == []
    whole = json.loads(run("check", str(tmp_path), "--release-by", "none", "--format", "json").stdout)
    [error] = whole["errors"]
    assert "ConfigMap shop/settings is defined twice in this change" in error["message"]
    # Twice within one release is still an error.
    (tmp_path / "cluster-a" / "copy.yaml").write_text((tmp_path / "cluster-a" / "settings.yaml").read_text())
    again = json.loads(run("check", str(tmp_path), "--format", "json").stdout)
    assert [e["file"] for e in again["errors"]] == [(tmp_path / "cluster-a" / "settings.yaml").as_posix()]
