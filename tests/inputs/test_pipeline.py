"""Reading CI pipelines: detection, the PipelineDefinition document of both systems, bad input, and the corpus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from rollguard.cli import main
from rollguard.errors import ConfigError
from rollguard.gate import Gate
from rollguard.inputs import load_change_set
from rollguard.inputs.pipeline import deploy_commands, environment_pattern, is_pipeline, load_text
from rollguard.policy.config import load_config

GITHUB = """\
name: deploy
on:
  push:
    branches: [main]
  workflow_dispatch:
env:
  API_TOKEN: abc123
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
  deploy:
    name: Deploy to production
    needs: build
    runs-on: ubuntu-latest
    container: alpine/k8s:1.31.2
    environment:
      name: production
      url: https://shop.example.com
    timeout-minutes: 15
    concurrency: deploy-production
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683
      - name: Apply
        run: |
          kubectl apply -f k8s/
          kubectl rollout status deployment/web \\
            --timeout=5m
      - uses: ./local-action
      - name: Undo
        if: ${{ failure() }}
        run: helm rollback web
"""


def _one(name: str, text: str) -> dict[str, Any]:
    artifacts, problems = load_text(name, text)
    assert problems == [], [p.display() for p in problems]
    assert len(artifacts) == 1
    assert artifacts[0].kind == "pipeline"
    return dict(artifacts[0].document)


def _job(doc: dict[str, Any], job_id: str) -> dict[str, Any]:
    return next(j for j in doc["jobs"] if j["id"] == job_id)


def test_github_workflow_document() -> None:
    doc = _one("wf.yml", GITHUB)
    assert doc["kind"] == "PipelineDefinition" and doc["system"] == "github" and doc["file"] == "wf.yml"
    assert doc["triggers"] == ["push", "workflow_dispatch"]
    assert doc["variables"] == [
        {"name": "API_TOKEN", "value": "abc123", "scope": "workflow", "job": None, "step": None, "line": 7}
    ]
    build = _job(doc, "build")
    assert build["line"] == 9 and build["environment"] is None and build["approval"] is False
    assert build["actions_used"] == [
        {"uses": "actions/checkout@v4", "owner": "actions", "ref": "v4", "pinned_sha": False, "line": 12}
    ]
    deploy = _job(doc, "deploy")
    assert deploy["name"] == "Deploy to production" and deploy["line"] == 13 and deploy["needs"] == ["build"]
    assert deploy["environment"] == {"name": "production", "url": "https://shop.example.com", "action": None}
    assert (
        deploy["approval"] is True and deploy["timeout_minutes"] == 15 and deploy["concurrency"] == "deploy-production"
    )
    assert deploy["image"] == {
        "ref": "alpine/k8s:1.31.2",
        "name": "alpine/k8s",
        "tag": "1.31.2",
        "digest": None,
        "line": 17,
    }
    assert [a["pinned_sha"] for a in deploy["actions_used"]] == [True]  # ./local-action is not listed
    assert [(s["name"], s["line"]) for s in deploy["steps"]] == [
        ("actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683", 24),
        ("Apply", 25),
        ("./local-action", 30),
        ("Undo", 31),
    ]
    assert deploy["runs_on_failure"] is True and deploy["deploys"] is True
    assert [(c["tool"], c["verb"], c["timeout"], c["line"]) for c in deploy["deploy_commands"]] == [
        ("kubectl", "apply", False, 27),
        ("kubectl", "rollout-status", True, 28),
        ("helm", "rollout-undo", False, 33),
    ]


GITLAB = """\
stages: [build, deploy]
variables:
  DB_PASSWORD:
    value: hunter2
    description: not a secret store
.kubectl: &kubectl
  image: bitnami/kubectl@sha256:0123
  timeout: 1h 30m
.notify:
  script:
    - echo done
deploy:
  <<: *kubectl
  stage: deploy
  environment: production
  resource_group: production
  when: manual
  script:
    - kubectl set image deployment/web web=$IMAGE
    - !reference [.notify, script]
    - timeout 300 kubectl rollout status deployment/web
rollback:
  extends: .kubectl
  stage: deploy
  when: on_failure
  script: kubectl rollout undo deployment/web
"""


def test_gitlab_document_with_anchors_extends_and_reference() -> None:
    doc = _one(".gitlab-ci.yml", GITLAB)
    assert doc["system"] == "gitlab" and [j["id"] for j in doc["jobs"]] == ["deploy", "rollback"]
    assert doc["variables"][0] == {
        "name": "DB_PASSWORD",
        "value": "hunter2",
        "scope": "workflow",
        "job": None,
        "step": None,
        "line": 3,
    }
    deploy = _job(doc, "deploy")
    assert deploy["line"] == 12 and deploy["stage"] == "deploy" and deploy["approval"] is True
    assert deploy["timeout_minutes"] == 90 and deploy["concurrency"] == "production"
    assert deploy["image"]["digest"] == "sha256:0123" and deploy["image"]["tag"] is None
    assert [(s["run"], s["line"]) for s in deploy["steps"]] == [
        ("kubectl set image deployment/web web=$IMAGE", 19),
        (None, 20),
        ("timeout 300 kubectl rollout status deployment/web", 21),
    ]
    assert [(c["verb"], c["timeout"], c["line"]) for c in deploy["deploy_commands"]] == [
        ("set-image", False, 19),
        ("rollout-status", True, 21),
    ]
    rollback = _job(doc, "rollback")
    assert rollback["runs_on_failure"] is True and rollback["timeout_minutes"] == 90
    assert rollback["image"]["ref"] == "bitnami/kubectl@sha256:0123"
    assert rollback["deploy_commands"][0]["verb"] == "rollout-undo" and rollback["deploy_commands"][0]["line"] == 26


def test_gitlab_local_include_is_merged(tmp_path: Path) -> None:
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "deploy.yml").write_text(
        "deploy:\n  stage: deploy\n  image: docker:latest\n  script:\n    - helm upgrade --install web ./chart\n"
    )
    main = tmp_path / ".gitlab-ci.yml"
    main.write_text("include:\n  - local: /ci/deploy.yml\nstages: [deploy]\n")
    change = load_change_set([str(main)])
    assert change.problems == ()
    (artifact,) = change.artifacts
    (job,) = artifact.document["jobs"]
    assert job["file"] == (tmp_path / "ci" / "deploy.yml").as_posix() and job["line"] == 1
    assert job["image"]["tag"] == "latest" and job["deploy_commands"][0]["verb"] == "upgrade"
    assert artifact.document["includes"][0]["resolved"] is True


def test_missing_local_include_is_a_problem_with_line(tmp_path: Path) -> None:
    main = tmp_path / ".gitlab-ci.yml"
    main.write_text("stages: [deploy]\ninclude:\n  - local: missing.yml\n  - template: Jobs/Deploy.gitlab-ci.yml\n")
    change = load_change_set([str(main)])
    assert [(p.file, p.line) for p in change.problems] == [(main.as_posix(), 3)]
    assert "missing.yml" in change.problems[0].message
    assert len(change.artifacts) == 1  # the rest of the pipeline is still judged


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        (".gitlab-ci.yml", "deploy:\n  script: [a\n  stage: x\n", 3),
        ("wf.yml", "on: push\njobs:\n  a:\n    runs-on: x\n    steps: !Ref foo\n", 5),
        (".github/workflows/x.yml", "on: push\njobs: [1, 2]\n", 2),
        (".gitlab-ci.yml", "- just\n- a list\n", 1),
    ],
)
def test_unusable_input_is_a_problem_never_a_crash(name: str, text: str, line: int) -> None:
    artifacts, problems = load_text(name, text)
    assert artifacts == [] and len(problems) == 1
    assert problems[0].file == name and problems[0].line == line and problems[0].message


def test_detection_from_content() -> None:
    assert is_pipeline("anything.yaml", GITHUB)
    assert is_pipeline("anything.yaml", GITLAB)
    assert not is_pipeline("deploy.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: jobs\n")
    # A Kubernetes object that happens to have jobs/steps keys stays a manifest.
    assert not is_pipeline("x.yaml", "apiVersion: v1\nkind: Job\nmetadata: {name: a}\njobs:\n  a: {steps: []}\non: x\n")
    assert not is_pipeline("values.yaml", "stages: 3\n")
    assert is_pipeline(".gitlab-ci.yml", "broken: [\n")  # broken YAML named like a pipeline is reported as one
    change = load_change_set(
        [], extra=[("ci.yaml", GITHUB), ("pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")]
    )
    assert sorted(a.kind for a in change.artifacts) == ["k8s", "pipeline"]


def test_deploy_command_parsing() -> None:
    found = deploy_commands(
        "./kustomize build . | kubectl apply -f -\nargocd app sync web --timeout 300\nkubectl -n x rollout undo deploy/a",
        10,
    )
    assert [(c["tool"], c["verb"], c["timeout"], c["line"]) for c in found] == [
        ("kustomize", "build", False, 10),
        ("kubectl", "apply", False, 10),
        ("argocd", "sync", True, 11),
        ("kubectl", "rollout-undo", False, 12),
    ]
    assert deploy_commands("echo kubectl is great; curl kustomize_v5.tar.gz", 1) == []


_yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "on",
                    "jobs",
                    "steps",
                    "script",
                    "stages",
                    "image",
                    "run",
                    "uses",
                    "include",
                    "environment",
                    "extends",
                    "timeout",
                    "needs",
                    "variables",
                    "env",
                    "when",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(_yaml_values)
def test_random_yaml_never_crashes(value: Any) -> None:
    text = yaml.safe_dump(value)
    for name in (".gitlab-ci.yml", ".github/workflows/x.yml", "random.yaml"):
        artifacts, problems = load_text(name, text)
        assert all(p.file == name for p in problems)
        if is_pipeline(name, text):
            load_change_set([], extra=[(name, text)])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text_never_crashes(text: str) -> None:
    for name in (".gitlab-ci.yml", "wf.yml"):
        load_text(name, text)
        is_pipeline(name, text)


# --- the corpus: real pipelines nobody here wrote ---


def _corpus_change(corpus: Path):  # type: ignore[no-untyped-def]
    return load_change_set([str(corpus / "ci-pipelines")])


def test_every_corpus_pipeline_loads(corpus: Path) -> None:
    change = _corpus_change(corpus)
    assert change.problems == ()
    pipelines = [a for a in change.artifacts if a.kind == "pipeline"]
    assert len(pipelines) == 25  # 19 workflows + 6 GitLab files; the 3 companion manifests stay k8s
    assert {a.document["system"] for a in pipelines} == {"github", "gitlab"}
    assert sum(a.kind == "k8s" for a in change.artifacts) >= 3
    for a in pipelines:
        for job in a.document["jobs"]:
            assert isinstance(job["line"], int) and job["line"] > 0


def test_corpus_findings(corpus: Path, gate: Gate) -> None:
    decision = gate.judge(_corpus_change(corpus))
    assert decision.errors == ()
    found = {(Path(f.file or "").parent.name, Path(f.file or "").name, f.policy, f.line) for f in decision.findings}
    # chembl_beaker runs its jobs in `docker:latest` (line 10) and deploys with lachlanevenson/k8s-kubectl:latest.
    assert ("chembl_beaker", ".gitlab-ci.yml", "pipeline.pinned_actions", 10) in found
    assert ("chembl_beaker", ".gitlab-ci.yml", "pipeline.pinned_actions", 102) in found
    # stackage-server: `kubectl set image` straight to production, rollout status without --timeout (line 65),
    # no timeout, no resource_group and nothing on failure.
    for policy, line in (
        ("pipeline.deploy_timeout", 65),
        ("pipeline.deploy_timeout", 44),
        ("pipeline.concurrency", 44),
        ("pipeline.rollback_path", 44),
    ):
        assert ("stackage-server", ".gitlab-ci.yml", policy, line) in found, policy
    # GitLab's ECS template pins its deploy image to :latest (line 12, reached through `extends`).
    assert ("Deploy", "ECS.gitlab-ci.yml", "pipeline.pinned_actions", 12) in found
    # starter-workflows pin actions by SHA in google.yml, but not in ibm.yml (actions/checkout@v4, line 35).
    assert not any(f[1] == "google.yml" and f[2] == "pipeline.pinned_actions" for f in found)
    assert ("deployments", "ibm.yml", "pipeline.pinned_actions", 35) in found
    # GitLab's Auto-DevOps manual rollouts serialise on `resource_group: production`.
    assert not any(f[1] == "Deploy.gitlab-ci.yml" and f[2] == "pipeline.concurrency" and f[3] >= 247 for f in found)


# --- facts for the release policies ---

PR_TARGET = """\
on: pull_request_target
permissions:
  contents: read
env:
  HEAD: ${{ github.event.pull_request.head.sha }}
  REGISTRY_PASSWORD: ${{ secrets.REGISTRY_PASSWORD }}
jobs:
  test:
    runs-on: ubuntu-latest
    permissions:
      contents: read
      id-token: write
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ env.HEAD }}
      - uses: ./.github/actions/setup
      - run: |
          echo start
          gh pr checkout ${{ github.event.number }}
          make test
        env:
          NPM_TOKEN: ${{ secrets['NPM_TOKEN'] }}
  label:
    runs-on: ubuntu-latest
    secrets: inherit
    steps:
      - uses: actions/checkout@v4
      - run: git fetch origin main
  cleanup:
    runs-on: ubuntu-latest
    environment: preview
    steps:
      - run: kubectl delete namespace pr-${{ github.event.number }}
"""


def test_github_permissions_secrets_and_checkouts() -> None:
    doc = _one("wf.yml", PR_TARGET)
    assert doc["permissions"] == {"write": [], "line": 2}
    test = _job(doc, "test")
    assert test["permissions"] == {"source": "job", "write": ["id-token"], "line": 10}
    assert test["secrets_used"] == [{"name": "REGISTRY_PASSWORD", "line": 6}, {"name": "NPM_TOKEN", "line": 23}]
    assert test["checkouts"] == [
        {  # the ref comes through the workflow `env:`; the local action after it runs the pull request's code
            "kind": "action",
            "ref": "${{ env.HEAD }}",
            "repository": None,
            "untrusted": True,
            "line": 14,
            "runs_code_at": 17,
        },
        {
            "kind": "gh",
            "ref": "gh pr checkout ${{ github.event.number }}",
            "repository": None,
            "untrusted": True,
            "line": 20,
            "runs_code_at": 21,
        },
    ]
    label = _job(doc, "label")
    assert label["permissions"] == {"source": "workflow", "write": [], "line": 2}
    assert [s["name"] for s in label["secrets_used"]] == ["REGISTRY_PASSWORD", "*"]
    # The base branch's checkout is listed but trusted; a plain `git fetch` is not a checkout of pull-request code.
    assert [(c["kind"], c["untrusted"], c["runs_code_at"]) for c in label["checkouts"]] == [("action", False, 29)]
    cleanup = _job(doc, "cleanup")
    assert cleanup["deploys"] is True and cleanup["teardown"] is True and cleanup["checkouts"] == []
    assert _job(_one("wf.yml", "on: push\njobs:\n  a:\n    runs-on: x\n    steps: []\n"), "a")["permissions"] == {
        "source": "default",
        "write": None,
        "line": None,
    }


RELEASE = """\
on: push
env:
  TAG: ${{ github.sha }}
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: docker build -t app:$TAG . && docker push app:$TAG
      - uses: docker/build-push-action@v6
        with:
          tags: app:${{ github.sha }}
  canary:
    needs: build
    runs-on: ubuntu-latest
    environment: canary
    steps:
      - run: |
          export RELEASE="web-${GITHUB_RUN_ID}"
          helm upgrade --install web ./chart --set release=$RELEASE
          kubectl rollout status deployment/web-canary --timeout=5m
  smoke:
    needs: canary
    runs-on: ubuntu-latest
    steps:
      - name: Probe
        run: curl -fsS https://canary.example.com/healthz
      - run: helm test web
  production:
    needs: [smoke]
    runs-on: ubuntu-latest
    environment: production
    steps:
      - uses: Azure/k8s-deploy@v5
        with:
          images: app:${{ env.TAG }}
      - run: kubectl annotate deployment/web kubernetes.io/change-cause="release"
      - run: kubectl apply -f k8s/ --record
"""


def test_builds_stamps_smoke_tests_and_order() -> None:
    doc = _one("wf.yml", RELEASE)
    build = _job(doc, "build")
    assert [(b["tool"], b["line"]) for b in build["builds_images"]] == [
        ("docker", 8),
        ("docker/build-push-action", 9),
    ]
    assert build["stamps"] == []  # tagging the image being built is not a stamp on a deployment
    canary = _job(doc, "canary")
    assert canary["after"] == ["build"]
    assert canary["stamps"] == [
        {"kind": "commit", "command": "helm upgrade --install web ./chart --set release=$RELEASE", "line": 19}
    ]
    assert [(s["kind"], s["line"]) for s in canary["smoke_tests"]] == [("canary-rollout", 20)]
    smoke = _job(doc, "smoke")
    assert [(s["kind"], s["line"]) for s in smoke["smoke_tests"]] == [
        ("job-name", 21),
        ("health-check", 26),
        ("helm-test", 27),
    ]
    production = _job(doc, "production")
    assert production["after"] == ["build", "canary", "smoke"]
    assert [(s["kind"], s["line"]) for s in production["stamps"]] == [
        ("action-input", 35),
        ("change-cause", 36),
        ("record", 37),
    ]
    assert production["builds_images"] == [] and production["teardown"] is False


GITLAB_ORDER = """\
stages: [build, canary, production]
build:
  stage: build
  script: [/kaniko/executor --context . --destination "$IMAGE"]
canary:
  stage: canary
  script: [kubectl set image deployment/web web=app:$CI_COMMIT_SHORT_SHA]
lint:
  script: [make lint]
production:
  stage: production
  needs: [canary]
  variables:
    VERSION: "$CI_PIPELINE_ID"
  script:
    - sed -i "s/VERSION/$VERSION/" k8s.yaml
    - kubectl apply -f k8s.yaml
odd:
  stage: somewhere
  script: [echo]
"""


def test_gitlab_stages_and_order() -> None:
    doc = _one(".gitlab-ci.yml", GITLAB_ORDER)
    assert doc["stages"] == [".pre", "build", "canary", "production", ".post"]
    assert doc["permissions"] is None
    assert [(j["id"], j["stage_index"]) for j in doc["jobs"]] == [
        ("build", 1),
        ("canary", 2),
        ("lint", None),  # `test` is not a stage of this pipeline
        ("production", 3),
        ("odd", None),
    ]
    assert _job(doc, "canary")["after"] == ["build"]  # every job of an earlier stage
    assert _job(doc, "production")["after"] == ["build", "canary"]  # `needs`, followed transitively
    assert _job(doc, "lint")["after"] == [] and _job(doc, "odd")["after"] == []
    assert [(b["tool"], b["line"]) for b in _job(doc, "build")["builds_images"]] == [("executor", 4)]
    assert [s["line"] for s in _job(doc, "production")["stamps"]] == [16]  # the variable carries the run id
    assert [s["kind"] for s in _job(doc, "canary")["stamps"]] == ["commit"]
    assert _one(".gitlab-ci.yml", "deploy:\n  script: [x]\n")["stages"] == [".pre", "build", "test", "deploy", ".post"]


# --- the environment of a deploy job that declares none ---

INFERRED = """\
on: push
env:
  TARGET: production
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: docker build -t app .
  declared:
    runs-on: ubuntu-latest
    environment: staging
    steps:
      - run: kubectl apply -f prod/
  deploy-prod:
    name: Deploy (eu)
    runs-on: ubuntu-latest
    steps:
      - run: kubectl -n staging apply -f k8s/
  by-namespace:
    runs-on: ubuntu-latest
    steps:
      - run: |
          kubectl apply -f k8s/ -n staging
          kubectl apply -f k8s/ --namespace=$TARGET
  by-context:
    runs-on: ubuntu-latest
    steps:
      - run: kubectl --context=stg-eu apply -f k8s/
  by-use-context:
    runs-on: ubuntu-latest
    steps:
      - run: |
          kubectl config use-context prd
          kubectl set image deployment/web web=app:1.2
  by-helm-context:
    runs-on: ubuntu-latest
    steps:
      - run: helm upgrade --install --kube-context "dev-cluster" web ./chart
  by-release:
    runs-on: ubuntu-latest
    steps:
      - run: helm upgrade -f values.yaml --install --atomic web-staging ./chart
  by-arguments:
    runs-on: ubuntu-latest
    steps:
      - run: kubectl apply -k overlays/production
  by-action:
    runs-on: ubuntu-latest
    steps:
      - uses: Azure/k8s-deploy@v5
        with:
          namespace: prod-eu
          manifests: k8s/
  product-api:
    runs-on: ubuntu-latest
    steps:
      - run: kubectl -n product-api apply -f products/
  rollback-production:
    runs-on: ubuntu-latest
    steps:
      - run: kubectl rollout undo deployment/web
"""


def _inferred(doc: dict[str, Any]) -> dict[str, tuple[str, str, str, int | None] | None]:
    return {
        j["id"]: (e["name"], e["inferred_from"], e["value"], e["line"]) if (e := j["inferred_environment"]) else None
        for j in doc["jobs"]
    }


def test_environment_inferred_from_each_source() -> None:
    assert _inferred(_one("wf.yml", INFERRED)) == {
        "build": None,  # builds, deploys nothing
        "declared": None,  # declares its environment: nothing to infer
        "deploy-prod": ("prod", "job name", "deploy-prod", 14),  # the id, when `name:` says nothing
        # Within one kind of clue, prod is tried first; a variable the workflow sets is read through.
        "by-namespace": ("prod", "kubectl --namespace", "production", 24),
        "by-context": ("staging", "kubectl --context", "stg-eu", 28),
        "by-use-context": ("prod", "kubectl config use-context", "prd", 33),
        "by-helm-context": ("dev", "helm --kube-context", "dev-cluster", 38),
        "by-release": ("staging", "helm release", "web-staging", 42),  # after -f's value and the flags
        "by-arguments": ("prod", "kubectl command", "kubectl apply -k overlays/production", 46),
        "by-action": ("prod", "Azure/k8s-deploy input namespace", "prod-eu", 52),
        "product-api": None,  # `prod` only as a whole word
        "rollback-production": None,  # a recovery job, not a release
    }


def test_clues_in_order_of_strength() -> None:
    # The job's name comes before its namespace; within one kind of clue prod comes first, so a
    # job whose name and id disagree is judged by the riskier one.
    text = (
        "on: push\njobs:\n  ship:\n    name: Deploy to dev\n    runs-on: x\n"
        "    steps:\n      - run: kubectl -n production apply -f k8s/\n"
    )
    assert _inferred(_one("wf.yml", text))["ship"] == ("dev", "job name", "Deploy to dev", 3)
    disagree = text.replace("  ship:", "  ship-prod:")
    assert _inferred(_one("wf.yml", disagree))["ship-prod"] == ("prod", "job name", "ship-prod", 3)


GITLAB_INFERRED = """\
stages: [build, staging, production]
variables:
  KUBE_NAMESPACE: shop-prd
build:
  stage: build
  script: [docker build -t app .]
deploy_eu:
  stage: production
  script: [kubectl apply -f k8s/]
release:
  stage: deploy
  script: [kubectl apply -f k8s/ -n $KUBE_NAMESPACE]
promote:
  stage: staging
  script: [kubectl -n production apply -f k8s/]
named:
  stage: production
  environment:
    name: live
  script: [kubectl apply -f k8s/]
"""


def test_gitlab_environment_inferred() -> None:
    assert _inferred(_one(".gitlab-ci.yml", GITLAB_INFERRED)) == {
        "build": None,
        "deploy_eu": ("prod", "GitLab stage", "production", 7),
        "release": ("prod", "kubectl --namespace", "shop-prd", 12),
        "promote": ("staging", "GitLab stage", "staging", 13),
        "named": None,
    }


def test_configured_patterns_replace_and_extend_the_defaults() -> None:
    environments = {"prod": ["live", "prd"], "qa": ["qa\\d*"], "dev": []}
    doc = _one_with(".gitlab-ci.yml", GITLAB_INFERRED, environments)
    assert _inferred(doc) == {
        "build": None,
        "deploy_eu": None,  # `production` is no longer a prod pattern; staging still is
        "release": ("prod", "kubectl --namespace", "shop-prd", 12),
        "promote": ("staging", "GitLab stage", "staging", 13),
        "named": None,
    }
    qa = "deploy-qa2:\n  script: [kubectl apply -f k8s/]\ndeploy-dev:\n  script: [kubectl apply -f k8s/]\n"
    assert _inferred(_one_with(".gitlab-ci.yml", qa, environments)) == {
        "deploy-qa2": ("qa", "job name", "deploy-qa2", 1),
        "deploy-dev": None,  # `dev: []` switched the default off
    }


def _one_with(name: str, text: str, environments: dict[str, list[str]]) -> dict[str, Any]:
    artifacts, problems = load_text(name, text, environments=environments)
    assert problems == [] and len(artifacts) == 1
    return dict(artifacts[0].document)


@given(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8),
    st.sampled_from(["-", "_", "/", ".", " ", ":"]),
)
def test_environment_words_are_whole_words(glued: str, separator: str) -> None:
    pattern = environment_pattern("prod")
    assert not pattern.search(f"{glued}prod{glued}")  # `product`, `reprod`, `prod2`: other words
    assert pattern.search(f"{glued}{separator}PROD{separator}{glued}")


def test_rollguard_yaml_patterns_reach_the_check(tmp_path: Path) -> None:
    workflow = tmp_path / ".github" / "workflows" / "deploy.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(
        "on: push\npermissions: {contents: read}\nconcurrency: live\njobs:\n"
        "  ship-live:\n    runs-on: ubuntu-latest\n    timeout-minutes: 10\n"
        "    steps:\n      - run: kubectl apply -f k8s/\n"
    )
    config = tmp_path / "rollguard.yaml"

    def check(text: str | None) -> Any:
        # deploy_gate is medium: fail on it so the exit code shows whether the pattern reached it.
        args = ["check", "--format", "json", "--fail-on", "medium", str(workflow)]
        if text is not None:
            config.write_text(text)
            args[1:1] = ["--config", str(config)]
        return CliRunner().invoke(main, args, catch_exceptions=False)

    assert check(None).exit_code == 0  # `live` is no default pattern
    result = check("pipelines:\n  environments:\n    prod: [prod, production, live]\n")
    assert result.exit_code == 1
    gate = next(f for f in json.loads(result.output)["findings"] if f["policy"] == "pipeline.deploy_gate")
    assert gate["details"] == {
        "job": "ship-live",
        "line": 5,
        "environment": "prod",
        "environment_inferred_from": "job name",
        "environment_evidence": "ship-live",
    }
    assert "inferred from its job name" in gate["message"] and "declare `environment: prod`" in gate["message"]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "pipelines:\n  environments:\n    prod:\n      - prod\n      - '(live'\n",
            5,
            "is not a valid regular expression",
        ),
        ("pipelines:\n  environments:\n    prod: ['x?']\n", 3, "matches empty text"),
        ("pipelines:\n  environment:\n    prod: [prod]\n", 2, "'environment' was unexpected"),
        ("pipelines:\n  environments:\n    prod: prod\n", 3, "is not of type 'array'"),
    ],
)
def test_bad_environment_patterns_are_config_errors(tmp_path: Path, text: str, line: int, message: str) -> None:
    config = tmp_path / "rollguard.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert caught.value.line == line and message in str(caught.value)


def test_corpus_release_policy_findings(corpus: Path, gate: Gate) -> None:
    decision = gate.judge(_corpus_change(corpus))
    assert decision.errors == ()

    def found(policy: str) -> set[tuple[str, str, int | None]]:
        return {
            (Path(f.file or "").parent.name, Path(f.file or "").name, f.line)
            for f in decision.findings
            if f.policy == policy
        }

    # GitHub's single-job starter workflows build the image inside the job that deploys to production; the
    # Azure ones build in a job of their own and deploy what it pushed. microservices-demo's PR previews build
    # into gke-staging, which is the first and only environment of that workflow and not named like a later one.
    assert found("pipeline.promote_not_rebuild") == {
        ("deployments", "google.yml", 95),
        ("deployments", "ibm.yml", 56),
        ("deployments", "tencent.yml", 45),
        ("deployments", "alibabacloud.yml", 65),
        ("deployments", "alibabacloud.yml", 92),
        ("deployments", "openshift.yml", 140),  # redhat-actions/buildah-build
    }
    # Straight to production with neither `when: manual` nor an earlier smoke test: stackage-server and casa
    # (`# when: manual` is commented out), GitLab's ECS template and Auto DevOps' automatic and timed rollouts.
    # Auto DevOps' canary, production_manual and manual `rollout N%` jobs are manual; the starter workflows'
    # `environment: production` is GitHub's approval gate.
    assert found("pipeline.deploy_gate") == {
        ("stackage-server", ".gitlab-ci.yml", 44),
        ("fpco-casa", ".gitlab-ci.yml", 38),
        ("Deploy", "ECS.gitlab-ci.yml", 105),
        ("Deploy", "ECS.gitlab-ci.yml", 116),
        ("Jobs", "Deploy.gitlab-ci.yml", 135),
        ("Jobs", "Deploy.gitlab-ci.yml", 222),
        ("Jobs", "Deploy.gitlab-ci.yml", 228),
        ("Jobs", "Deploy.gitlab-ci.yml", 234),
        ("Jobs", "Deploy.gitlab-ci.yml", 240),
    }
    # deploy-pr.yaml (workflow_run) checks out the pull request's head SHA from its fork and runs steps after it
    # with id-token, pull-requests and statuses write; cleanup.yaml (pull_request_target) checks nothing out.
    assert found("pipeline.untrusted_trigger") == {("workflows", "deploy-pr.yaml", 42)}
    # openshift.yml deploys `registry-path`, the first tag pushed, which is `latest`; the PR previews are
    # tagged with the PR number. The others tag with the commit ($GITHUB_SHA, $TAG set from github.sha,
    # Azure/k8s-deploy `images:`), the pipeline id ($CI_PIPELINE_ID through DEPLOYMENT_IMAGE), or deploy with
    # GitLab's auto-deploy / ECS scripts, which tag with the commit SHA themselves.
    assert found("pipeline.traceability") == {
        ("deployments", "openshift.yml", 76),
        ("workflows", "deploy-pr.yaml", 28),
    }
    # Jobs without `environment:` judged by the environment their name gives. Read by hand: both chembl
    # pipelines run `kubectl apply -n ${CHEMBL_NS_PROD}` in deploy-prod-hx and deploy-prod-hh (two production
    # clusters, HX and HH) and no job runs on failure. Both are `when: manual`, a real gate on GitLab, so
    # deploy_gate stays quiet; their deploy-staging jobs are staging, and no deploy job builds an image. The
    # Azure starter workflows' `deploy` jobs name no environment anywhere (placeholders), and the kind-cluster
    # e2e jobs of kyverno, argo-rollouts and kube-prometheus name none either: nothing is inferred for them.
    inferred = {
        (Path(f.file or "").parent.name, f.policy, f.line, f.details["environment_evidence"])
        for f in decision.findings
        if "environment_inferred_from" in f.details
    }
    assert inferred == {
        ("chembl_beaker", "pipeline.rollback_path", 100, "deploy-prod-hx"),
        ("chembl_beaker", "pipeline.rollback_path", 123, "deploy-prod-hh"),
        ("chembl_webservices_py3", "pipeline.rollback_path", 68, "deploy-prod-hx"),
        ("chembl_webservices_py3", "pipeline.rollback_path", 93, "deploy-prod-hh"),
    }
    message = next(f.message for f in decision.findings if f.policy == "pipeline.untrusted_trigger")
    assert (
        "github.event.workflow_run.head_sha" in message
        and "write permissions (id-token, pull-requests, statuses)" in message
    )
