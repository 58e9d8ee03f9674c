"""One answer in three places: every policy fixture through `rollguard check`, the webhook over HTTPS,
and the generated Gatekeeper template with Gatekeeper's input shape, compared finding by finding.

The webhook runs in this process (uvicorn on a thread, real TLS); its findings are read back from
the decision log it writes, since a response carries only blocking findings and short warnings.
Gatekeeper's input is the same `input.review`, the constraint's parameters and `data.inventory`
without rollguard's selector index.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml

from rollguard.audit.store import open_store
from rollguard.contract import build_inventory, review_for
from rollguard.engine import create_engine
from rollguard.gate import Gate
from rollguard.gatekeeper import constraint_template, gatekeeper_policies, inventory_kinds
from rollguard.gatekeeper.evaluate import TemplateEvaluator
from rollguard.gatekeeper.tree import fixture_parameters
from rollguard.inputs import load_change_set
from rollguard.model import Artifact
from rollguard.policy.bundle import PolicyInfo, PolicySources, load_bundle
from rollguard.policy.config import load_config
from rollguard.webhook.app import create_app
from rollguard.webhook.certs import issue_certificates, write_certificates
from rollguard.webhook.metrics import Metrics
from rollguard.webhook.recorder import DecisionRecorder
from rollguard.webhook.server import TlsConfig
from rollguard.webhook.service import AdmissionService, PolicySource

from .conftest import FIXTURES, NOW, POLICIES

BUNDLE = load_bundle(POLICIES)
K8S = [p for p in BUNDLE.policies if p.domain == "k8s"]
SNI = "rollguard.rollguard-system.svc"


@dataclass(frozen=True)
class Case:
    info: PolicyInfo
    fixture: Path


CASES = [Case(info, path) for info in K8S for path in sorted((FIXTURES / "k8s" / info.name).glob("*.yaml"))]


@dataclass
class Webhook:
    service: AdmissionService
    url: str
    ca: Path
    store: str
    config_dir: Path

    def use(self, case: Case, others: list[Mapping[str, Any]]) -> None:
        """Serve with only this case's policy, its parameters, and the fixture's other objects as inventory."""
        config = self.config_dir / f"{case.info.name}-{case.fixture.stem}.yaml"
        config.write_text(yaml.safe_dump(config_for(case)))
        self.service.source = PolicySource(
            policies=PolicySources(base=POLICIES), config_path=config, environment=None, engine="opa"
        )
        inventory = build_inventory(others)
        kinds = frozenset(k for k in inventory_kinds(case.info))
        self.service.inventory = lambda: (inventory, kinds)
        assert self.service.reload(f"three-ways {case.fixture.name}")

    def validate(self, review: Mapping[str, Any]) -> dict[str, Any]:
        context = ssl.create_default_context(cafile=str(self.ca))
        with httpx.Client(base_url=self.url, verify=context, timeout=30) as client:
            response = client.post("/validate", json=review, extensions={"sni_hostname": SNI})
        response.raise_for_status()
        return dict(response.json()["response"])


def config_for(case: Case) -> dict[str, Any]:
    parameters = fixture_parameters(case.fixture) or {}
    return {"policies": {"include": [case.info.id]}, "parameters": {case.info.id: parameters} if parameters else {}}


@pytest.fixture(scope="module")
def webhook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webhook]:
    work = tmp_path_factory.mktemp("three-ways")
    write_certificates(issue_certificates(service="rollguard", namespace="rollguard-system"), work / "certs")
    store = f"sqlite:///{work / 'decisions.db'}"
    metrics = Metrics()
    service = AdmissionService(
        PolicySource(policies=PolicySources(base=POLICIES), config_path=None, environment=None, engine="opa"),
        metrics=metrics,
        recorder=DecisionRecorder(store, metrics),
    )
    service.load()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = TlsConfig(
        create_app(service),
        host="127.0.0.1",
        port=port,
        ssl_certfile=str(work / "certs" / "tls.crt"),
        ssl_keyfile=str(work / "certs" / "tls.key"),
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield Webhook(service, f"https://127.0.0.1:{port}", work / "certs" / "ca.crt", store, work)
    server.should_exit = True
    thread.join(timeout=10)
    service.close()


def admission_review(artifact: Artifact, uid: str) -> dict[str, Any]:
    """The AdmissionReview the API server would send for a document `rollguard check` judges."""
    request = dict(review_for(artifact))
    request["uid"] = uid
    request["dryRun"] = False  # judged and recorded like a real change
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def as_set(items: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps({"msg": i["msg"], "details": i["details"]}, sort_keys=True) for i in items)


_GATES: dict[str, Gate] = {}
_EVALUATORS: dict[str, TemplateEvaluator] = {}


def cli_gate(case: Case, config_dir: Path) -> Gate:
    key = json.dumps(config_for(case), sort_keys=True)
    if key not in _GATES:
        path = config_dir / f"cli-{len(_GATES)}.yaml"
        path.write_text(yaml.safe_dump(config_for(case)))
        _GATES[key] = Gate(BUNDLE, create_engine("opa"), load_config(path).resolve(None), NOW)
    return _GATES[key]


def evaluator(info: PolicyInfo) -> TemplateEvaluator:
    if info.id not in _EVALUATORS:
        _EVALUATORS[info.id] = TemplateEvaluator(constraint_template(BUNDLE, info), engine="opa")
    return _EVALUATORS[info.id]


def recorded_findings(store: str, uid: str) -> list[dict[str, Any]]:
    """The findings the webhook recorded for request `uid` (the recorder writes in the background)."""
    deadline = time.monotonic() + 10
    while True:
        with open_store(store) as opened:
            for record in opened.records():
                if record.body.get("admission", {}).get("uid") == uid:
                    return [{"msg": f["message"], "details": f["details"]} for f in record.body["findings"]]
        if time.monotonic() > deadline:
            raise AssertionError(f"no record for {uid}")
        time.sleep(0.05)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.info.name}/{c.fixture.name}" for c in CASES])
def test_cli_webhook_and_gatekeeper_decide_alike(case: Case, webhook: Webhook) -> None:
    change = load_change_set([case.fixture.as_posix()])
    gate = cli_gate(case, webhook.config_dir)
    decision = gate.judge(change)
    parameters = gate.parameters[case.info.id]
    read = set(inventory_kinds(case.info))
    judged = [a for a in change.artifacts if a.document["kind"] in case.info.applies_to]
    if not judged:
        assert not decision.findings  # the constraint would not match; the CLI must stay silent too
        return
    for n, artifact in enumerate(judged):
        # The object under review is not in the cluster yet: the inventory holds the others.
        others = [o.document for o in change.artifacts if o is not artifact and o.document["kind"] in read]
        cli = [{"msg": f.message, "details": dict(f.details)} for f in decision.findings if f.is_about(artifact)]
        if case.info.needs_simulation:
            # Gatekeeper cannot compute the rollout simulation: the policy is left out of its tree.
            assert case.info not in gatekeeper_policies(BUNDLE, gate.settings)
        else:
            gatekeeper = evaluator(case.info).violations(
                review_for(artifact), parameters, build_inventory(others, index=False)
            )
            assert as_set(gatekeeper) == as_set(cli), f"Gatekeeper vs CLI: {artifact.resource.display()}"
        webhook.use(case, others)
        uid = f"{case.info.name}/{case.fixture.stem}/{n}"
        answer = webhook.validate(admission_review(artifact, uid))
        blocking = any(f.blocks(decision.fail_on) for f in decision.findings if f.is_about(artifact))
        assert answer["uid"] == uid and answer["allowed"] is not blocking
        assert as_set(recorded_findings(webhook.store, uid)) == as_set(cli), (
            f"webhook vs CLI: {artifact.resource.display()}"
        )
