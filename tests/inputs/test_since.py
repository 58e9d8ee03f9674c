"""`check --since REF`: only the files added or changed since a git ref (and untracked ones) are judged;
every file still fills the inventory, so cross-object rules see the unchanged ones."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from rollguard.cli import main
from rollguard.inputs.pending import UnchangedInputs, unchanged_since

# A clean Deployment whose container declares no port: it serves traffic only because a Service
# selects it, so k8s.readiness_probe needs that Service from the inventory.
WEB = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels:
    app.kubernetes.io/name: web
spec:
  replicas: 3
  revisionHistoryLimit: 5
  progressDeadlineSeconds: 600
  minReadySeconds: 10
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  selector:
    matchLabels:
      app.kubernetes.io/name: web
  template:
    metadata:
      labels:
        app.kubernetes.io/name: web
        app.kubernetes.io/version: "TAG"
    spec:
      terminationGracePeriodSeconds: 45
      securityContext:
        runAsNonRoot: true
        seccompProfile:
          type: RuntimeDefault
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: DoNotSchedule
          labelSelector:
            matchLabels:
              app.kubernetes.io/name: web
      containers:
        - name: web
          image: registry.example.com/shop/web:TAG
          livenessProbe:
            exec:
              command: ["/bin/healthcheck"]
            initialDelaySeconds: 20
            periodSeconds: 10
          lifecycle:
            preStop:
              exec:
                command: ["sleep", "10"]
          resources:
            requests:
              cpu: 250m
              memory: 256Mi
            limits:
              memory: 256Mi
          securityContext:
            runAsNonRoot: true
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: ["ALL"]
"""

# Sticky sessions: k8s.session_affinity reports the Service only when a workload it selects is known.
SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  labels:
    tier: COLOR
spec:
  selector:
    app.kubernetes.io/name: web
  sessionAffinity: ClientIP
  ports:
    - name: http
      port: 80
      targetPort: 8080
"""

# What keeps every other policy quiet about web; never changed in these tests.
GUARDS = """\
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
  namespace: shop
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: web
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-ingress
  namespace: shop
spec:
  podSelector: {}
  policyTypes: ["Ingress"]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web
  namespace: shop
spec:
  podSelector:
    matchLabels:
      app.kubernetes.io/name: web
  policyTypes: ["Ingress"]
  ingress:
    - from:
        - podSelector:
            matchLabels:
              app.kubernetes.io/name: frontend
      ports:
        - port: 8080
"""

NO_READINESS = ("k8s.readiness_probe", "Deployment shop/web", "deploy/web.yaml")
STICKY = ("k8s.session_affinity", "Service shop/web", "deploy/service.yaml")

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="--since reads the change with git")


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.name=rollguard-test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"]
        + list(args),
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return proc.stdout


def check(*args: str) -> tuple[Result, dict[str, Any]]:
    result = CliRunner().invoke(main, ["check", "--format", "json", "--engine", "regorus", *args])
    return result, json.loads(result.stdout) if result.stdout.startswith("{") else {}


def reported(report: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(policy, resource, file) of every finding."""
    found = set()
    for f in report["findings"]:
        r = f["resource"]
        found.add((f["policy"], f"{r['kind']} {r['namespace']}/{r['name']}", f["file"]))
    return found


def write(folder: Path, *, tag: str = "1.0.0", color: str = "blue") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "web.yaml").write_text(WEB.replace("TAG", tag), encoding="utf-8")
    (folder / "service.yaml").write_text(SERVICE.replace("COLOR", color), encoding="utf-8")
    (folder / "guards.yaml").write_text(GUARDS, encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository whose last commit holds deploy/ (web, its Service, its guards); the cwd is its top."""
    monkeypatch.chdir(tmp_path)  # relative paths in reports, no rollguard.yaml from the surroundings
    git(tmp_path, "init", "-q")
    write(tmp_path / "deploy")
    git(tmp_path, "add", "deploy")
    git(tmp_path, "commit", "-q", "-m", "web, deployed")
    return tmp_path


def test_without_since_every_file_is_judged(repo: Path) -> None:
    result, report = check("deploy")
    assert result.exit_code == 1, result.output
    assert reported(report) == {NO_READINESS, STICKY}
    assert "since" not in report["summary"] and report["summary"]["resources"] == 5


def test_a_changed_workload_is_judged_against_its_unchanged_service(repo: Path) -> None:
    write(repo / "deploy", tag="1.1.0")  # only web.yaml differs from the commit
    result, report = check("deploy", "--since", "HEAD")
    assert result.exit_code == 1, result.output
    # The Deployment serves because the unchanged Service selects it; the Service itself is not judged.
    assert reported(report) == {NO_READINESS}
    [finding] = report["findings"]
    assert finding["message"] == 'container "web" has no readinessProbe'
    assert report["summary"]["resources"] == 1
    assert report["summary"]["since"] == {"ref": "HEAD", "judged_files": 1, "context_files": 2, "context_resources": 4}

    text = CliRunner().invoke(main, ["check", "--engine", "regorus", "deploy", "--since", "HEAD"]).output
    assert (
        text.rstrip()
        .splitlines()[-1]
        .endswith(
            "in 1 resource, 74 policies, engine regorus; judged 1 changed file of 3 since HEAD; "
            "2 unchanged files (4 resources) gave context"
        )
    ), text


def test_a_changed_service_is_judged_against_its_unchanged_workload(repo: Path) -> None:
    write(repo / "deploy", color="green")  # only service.yaml differs
    result, report = check("deploy", "--since", "HEAD")
    assert result.exit_code == 0, result.output  # session_affinity is low: reported, not blocking
    assert reported(report) == {STICKY}
    [finding] = report["findings"]
    assert "Deployment web" in finding["message"] and "ClientIP" in finding["message"], finding["message"]
    assert report["summary"]["since"]["judged_files"] == 1


def test_untracked_and_staged_files_count_as_changed(repo: Path) -> None:
    (repo / "deploy" / "worker.yaml").write_text(
        WEB.replace("name: web", "name: worker").replace("TAG", "2.0.0").replace("replicas: 3", "replicas: 1"),
        encoding="utf-8",
    )
    result, report = check("deploy", "--since", "HEAD")
    assert result.exit_code == 0, result.output
    # The new worker runs web's image at another tag: compared with the unchanged web, reported on worker only.
    assert reported(report) == {
        ("k8s.replicas_minimum", "Deployment shop/worker", "deploy/worker.yaml"),
        ("changeset.image_consistency", "Deployment shop/worker", "deploy/worker.yaml"),
    }
    [mixed] = [f for f in report["findings"] if f["policy"] == "changeset.image_consistency"]
    assert mixed["message"] == (
        "image registry.example.com/shop/web runs at 2.0.0 here but at 1.0.0 in Deployment shop/web: "
        "a half-promoted release"
    )
    git(repo, "add", "deploy/worker.yaml")
    _, staged = check("deploy", "--since", "HEAD")
    assert reported(staged) == reported(report)
    git(repo, "commit", "-q", "-m", "worker")
    _, committed = check("deploy", "--since", "HEAD")
    assert committed["findings"] == [] and committed["summary"]["since"]["judged_files"] == 0
    _, before = check("deploy", "--since", "HEAD~1")
    assert reported(before) == reported(report)


def test_a_deleted_file_is_neither_judged_nor_context(repo: Path) -> None:
    (repo / "deploy" / "service.yaml").unlink()
    write_web = WEB.replace("TAG", "1.1.0")
    (repo / "deploy" / "web.yaml").write_text(write_web, encoding="utf-8")
    result, report = check("deploy", "--since", "HEAD")
    # Without the Service nothing routes to web, so its missing readiness probe is no finding.
    assert result.exit_code == 0, result.output
    assert report["findings"] == [] and report["errors"] == []
    assert report["summary"]["since"] == {"ref": "HEAD", "judged_files": 1, "context_files": 1, "context_resources": 3}


def test_nothing_changed_judges_nothing(repo: Path) -> None:
    result, report = check("deploy", "--since", "HEAD")
    assert result.exit_code == 0, result.output
    assert report["findings"] == [] and report["summary"]["resources"] == 0
    assert report["summary"]["since"] == {"ref": "HEAD", "judged_files": 0, "context_files": 3, "context_resources": 5}


def test_only_the_changed_release_is_judged(repo: Path) -> None:
    write(repo / "blog", tag="3.0.0")
    for name in ("web.yaml", "service.yaml", "guards.yaml"):
        path = repo / "blog" / name
        path.write_text(path.read_text().replace("namespace: shop", "namespace: blog"), encoding="utf-8")
    git(repo, "add", "blog")
    git(repo, "commit", "-q", "-m", "blog")
    write(repo / "deploy", tag="1.1.0")
    result, report = check("deploy", "blog", "--since", "HEAD", "--release-by", "directory")
    assert result.exit_code == 1, result.output
    assert reported(report) == {NO_READINESS}
    assert [r["name"] for r in report["releases"]] == ["directory blog", "directory deploy"]
    assert report["summary"]["since"]["context_files"] == 5


def test_workers_judge_the_same_files(repo: Path) -> None:
    write(repo / "deploy", tag="1.1.0", color="green")
    (repo / "deploy" / "guards.yaml").write_text(GUARDS + "\n", encoding="utf-8")
    one, report = check("deploy", "--since", "HEAD", "--jobs", "1")
    two, parallel = check("deploy", "--since", "HEAD", "--jobs", "2")
    assert one.exit_code == two.exit_code == 1, two.output
    assert reported(parallel) == reported(report) == {NO_READINESS, STICKY}
    assert parallel["summary"] == report["summary"]


MIGRATION_CREATE = "CREATE TABLE orders (id bigint PRIMARY KEY, note text);\n"
MIGRATION_DROP = "SET lock_timeout = '5s';\nALTER TABLE orders DROP COLUMN note;\n"


def test_migrations_keep_their_pending_semantics(repo: Path) -> None:
    db = repo / "db"
    db.mkdir()
    (db / "V1__create_orders.sql").write_text(MIGRATION_CREATE, encoding="utf-8")
    git(repo, "add", "db")
    git(repo, "commit", "-q", "-m", "orders")
    (db / "V2__drop_note.sql").write_text(MIGRATION_DROP, encoding="utf-8")  # new: pending
    result, report = check("deploy", "db", "--since", "HEAD")
    # V1 ran already, so orders is an existing table: dropping its column is reported on V2; and the
    # unchanged Deployment is still part of the change set that V2 is judged with.
    assert result.exit_code == 1, result.output
    assert {(f["policy"], f["file"], f["line"]) for f in report["findings"]} == {
        ("migration.drop_column", "db/V2__drop_note.sql", 2),
        ("changeset.contract_with_rollout", "db/V2__drop_note.sql", 2),
    }
    assert report["summary"]["since"]["judged_files"] == 1
    # Once V2 is committed it has run: unchanged, it is neither pending nor judged.
    git(repo, "add", "db")
    git(repo, "commit", "-q", "-m", "drop note")
    result, report = check("deploy", "db", "--since", "HEAD")
    assert result.exit_code == 0 and report["findings"] == []


def test_an_unknown_ref_is_an_input_error_naming_it(repo: Path) -> None:
    result, _ = check("deploy", "--since", "no-such-branch")
    assert result.exit_code == 2
    assert "rollguard: --since no-such-branch: no such commit in " in result.stderr
    assert "check the ref (is it fetched?" in result.stderr


def test_inputs_outside_a_git_work_tree_are_an_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "deploy")
    result, _ = check("deploy", "--since", "main")
    assert result.exit_code == 2
    assert f"--since: {(tmp_path / 'deploy').resolve().as_posix()} is not in a git repository" in result.stderr
    assert "run in a clone, or drop --since" in result.stderr


def test_stdin_is_always_judged(repo: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["check", "--format", "json", "--engine", "regorus", "deploy", "-", "--since", "HEAD"],
        input=WEB.replace("name: web", "name: api").replace("TAG", "1.0.0").replace("replicas: 3", "replicas: 1"),
    )
    report = json.loads(result.stdout)
    assert reported(report) == {
        ("k8s.replicas_minimum", "Deployment shop/api", "<stdin>"),
        ("k8s.network_policy", "Deployment shop/api", "<stdin>"),
    }


def test_unchanged_since_names_inputs_as_their_documents_do(repo: Path) -> None:
    write(repo / "deploy", tag="1.1.0")
    assert unchanged_since("HEAD", ["deploy", "-"]) == UnchangedInputs(
        ref="HEAD", names=frozenset({"deploy/service.yaml", "deploy/guards.yaml"})
    )
