"""The decision record: what is stored for every decision, and how it is hashed into the chain.

A record's hash is the SHA-256 of the canonical JSON of `{"seq", "prev", "record"}`, so editing
a record, moving it to another position or cutting it out of the chain changes a hash that a
later record (or the store's head) vouches for.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from rollguard.kube.images import ImageRef
from rollguard.kube.workloads import workloads_of
from rollguard.model import AppliedWaiver, Artifact, Decision, Resource, Severity

RECORD_SCHEMA = 1
GENESIS = "0" * 64
Source = Literal["ci", "admission", "audit", "canary", "rollout"]
SOURCES: tuple[Source, ...] = ("ci", "admission", "audit", "canary", "rollout")


class DescribedPolicy(Protocol):
    """What a record says of each policy that judged: its id, severity, controls and kinds."""

    @property
    def id(self) -> str: ...

    @property
    def severity(self) -> Severity: ...

    @property
    def controls(self) -> tuple[str, ...]: ...

    @property
    def applies_to(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class History:
    """What the decision store says about the environments of a promotion path.

    `passed_digests`: image digests of passed, non-dry-run decisions in the previous environment;
    `deployed`: the latest version of each workload passed in this environment; `error`: why
    the store could not be read (then both are empty and promotion cannot be verified);
    `rollouts`: rollouts started in this environment that recorded no finish
    (`governance.rollouts.open_rollouts`), for governance.concurrent_rollouts.
    """

    passed_digests: tuple[str, ...] = ()
    deployed: tuple[Mapping[str, Any], ...] = ()
    error: str | None = None
    rollouts: tuple[Mapping[str, Any], ...] = ()


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text: one byte string per value, whoever writes it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def chain_hash(seq: int, prev: str, body: Mapping[str, Any]) -> str:
    """The hash that links record `seq` (with content `body`) to the record before it."""
    return chain_hash_text(seq, prev, canonical_json(body))


def chain_hash_text(seq: int, prev: str, body_text: str) -> str:
    """`chain_hash` from the record's canonical JSON text, without serialising it again.

    Canonical JSON sorts keys, so `{"seq", "prev", "record"}` is written prev, record, seq.
    """
    payload = f'{{"prev":{canonical_json(prev)},"record":{body_text},"seq":{int(seq)}}}'
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChangeIdentity:
    """What was deployed: commit, pipeline run and the images with their digests when pinned.

    `ci` is what the CI system said about its run (`ci_run`), kept so a report can link the
    commit and the run long after the variables are gone.
    """

    commit: str | None = None
    run_id: str | None = None
    images: tuple[str, ...] = ()
    description: str | None = None
    ci: Mapping[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        """The `change` object of a record."""
        return {
            "commit": self.commit,
            "run_id": self.run_id,
            "description": self.description,
            "images": [{"image": i, "digest": ImageRef.parse(i).sha256} for i in self.images],
            "ci": dict(self.ci) if self.ci is not None else None,
        }


@dataclass(frozen=True)
class StoredRecord:
    """A record as it sits in the store: its position, its links and its content."""

    seq: int
    prev_hash: str
    hash: str
    body: Mapping[str, Any] = field(repr=False)

    @property
    def time(self) -> str:
        """ISO 8601 UTC time the decision was taken as of (`--now` when given)."""
        return str(self.body["time"])

    @property
    def recorded_at(self) -> str | None:
        """When the store wrote the record (its own clock), or None for records older than that field."""
        value = self.body.get("recorded_at")
        return value if isinstance(value, str) else None

    @property
    def environment(self) -> str | None:
        """Environment the decision was taken for, if any."""
        env = self.body.get("environment")
        return env if isinstance(env, str) else None

    @property
    def verdict(self) -> str:
        """`pass` or `fail`."""
        return str(self.body["verdict"])

    @property
    def source(self) -> str:
        """`ci`, `admission`, `audit`, `canary` or `rollout` (SOURCES)."""
        return str(self.body["source"])

    def to_json(self) -> dict[str, Any]:
        """The record with its chain fields, as `audit log --format json` prints it."""
        return {"seq": self.seq, "prev_hash": self.prev_hash, "hash": self.hash, "record": dict(self.body)}


def format_time(when: dt.datetime) -> str:
    """`2026-11-26T12:00:00.123456Z`: UTC, sortable as text."""
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_RECORD_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z", re.ASCII)


def is_record_time(text: str) -> bool:
    """Whether `text` is a time as `format_time` writes it (so comparing two as text orders them)."""
    return _RECORD_TIME.fullmatch(text) is not None


def build_record(
    decision: Decision,
    *,
    source: Source,
    when: dt.datetime,
    policies: Sequence[DescribedPolicy],
    artifacts: Sequence[Artifact],
    bundle_digest: str,
    rollguard_version: str,
    change: ChangeIdentity,
    actor: str | None,
    dry_run: bool = False,
    admission: Mapping[str, Any] | None = None,
    resources: Sequence[Resource] | None = None,
    config_digest: str | None = None,
) -> dict[str, Any]:
    """The JSON content of the record for `decision` (docs/decision-log.md describes each field).

    `admission` (webhook decisions only) carries the request uid, operation and, when the
    request could not be judged, the failure reason and the answer the failure mode gave.
    `resources` replaces the artifacts' identities when the artifacts were not kept (a cluster audit).
    `config_digest` is the digest of the settings the gate judged with (`audit.recording.config_digest`).
    """
    waivers: dict[tuple[str, str], AppliedWaiver] = {}
    for f in decision.findings:
        if f.waiver is not None:
            waivers[(f.waiver.id, f.waiver.status)] = f.waiver
    for w in decision.expired_waivers:
        waivers.setdefault((w.id, w.status), w)
    body = {
        "schema": RECORD_SCHEMA,
        "time": format_time(when),
        "source": source,
        "environment": decision.environment,
        "actor": actor,
        "change": change.to_json(),
        "dry_run": dry_run,
        "verdict": decision.verdict,
        "exit_code": decision.exit_code(),
        "engine": decision.engine,
        "rollguard_version": rollguard_version,
        "bundle_digest": bundle_digest,
        "config_digest": config_digest,
        "policies": [
            {"id": p.id, "severity": p.severity.label, "controls": list(p.controls), "applies_to": list(p.applies_to)}
            for p in policies
        ],
        "resources": [r.to_json() for r in (resources if resources is not None else [a.resource for a in artifacts])],
        "workloads": workloads_of(a.document for a in artifacts if a.kind == "k8s"),
        "approval": decision.approval,
        "summary": decision.summary(),
        "findings": [f.to_json() for f in decision.findings],
        "waivers": [w.to_json() for _, w in sorted(waivers.items())],
        "errors": [p.to_json() for p in decision.problems],
    }
    if admission is not None:
        body["admission"] = dict(admission)
    return body


# CI systems and the variables that identify a run; the first one present wins.
_CI_IDENTITY = (
    ("GITHUB_ACTIONS", "GITHUB_SHA", "GITHUB_RUN_ID", "GITHUB_ACTOR", "github"),
    ("GITLAB_CI", "CI_COMMIT_SHA", "CI_JOB_ID", "GITLAB_USER_LOGIN", "gitlab"),
    ("JENKINS_URL", "GIT_COMMIT", "BUILD_TAG", "BUILD_USER_ID", "jenkins"),
    ("BUILDKITE", "BUILDKITE_COMMIT", "BUILDKITE_BUILD_ID", "BUILDKITE_BUILD_CREATOR_EMAIL", "buildkite"),
)


def ci_identity(environ: Mapping[str, str] | None = None) -> tuple[str | None, str | None, str | None]:
    """(commit, run id, actor) from the CI system's environment, else git and the login name."""
    env = os.environ if environ is None else environ
    for marker, commit_var, run_var, actor_var, system in _CI_IDENTITY:
        if env.get(marker):
            actor = env.get(actor_var)
            run = env.get(run_var)
            return env.get(commit_var), f"{system}:{run}" if run else None, f"{system}:{actor}" if actor else system
    user = env.get("USER") or env.get("USERNAME") or _login_name()
    return _git_commit(), None, f"local:{user}" if user else None


def ci_run(environ: Mapping[str, str] | None = None) -> dict[str, str] | None:
    """What the CI system says about its run, to link the commit and the run later; None outside CI.

    Only the variables are kept (base URLs, repository, run id): `ci_links` builds the links,
    so a record never holds a URL that was not checked.
    """
    env = os.environ if environ is None else environ
    for system, marker, fields in _CI_RUN:
        if env.get(marker):
            found = {key: env[var] for key, var in fields if env.get(var)}
            return {"system": system, **found}
    return None


# CI systems and the variables a run's links are built from (`ci_links`).
_CI_RUN: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "github",
        "GITHUB_ACTIONS",
        (
            ("server_url", "GITHUB_SERVER_URL"),
            ("repository", "GITHUB_REPOSITORY"),
            ("run_id", "GITHUB_RUN_ID"),
            ("run_attempt", "GITHUB_RUN_ATTEMPT"),
        ),
    ),
    (
        "gitlab",
        "GITLAB_CI",
        (("project_url", "CI_PROJECT_URL"), ("pipeline_url", "CI_PIPELINE_URL"), ("job_url", "CI_JOB_URL")),
    ),
    ("jenkins", "JENKINS_URL", (("run_url", "BUILD_URL"),)),
    ("buildkite", "BUILDKITE", (("run_url", "BUILDKITE_BUILD_URL"),)),
)


@dataclass(frozen=True)
class CiLinks:
    """Links to the commit and the CI run of a decision, when the record holds what they are built from."""

    commit_url: str | None = None
    run_url: str | None = None


# No quotes, brackets, spaces or `|`: a checked URL is safe as an HTML attribute and a Markdown link.
_WEB_URL = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%!$&*+,;=:@/-]*)?", re.ASCII)
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", re.ASCII)
_COMMIT = re.compile(r"[0-9a-fA-F]{7,64}", re.ASCII)
_RUN_NUMBER = re.compile(r"[0-9]{1,20}", re.ASCII)


def ci_links(ci: Mapping[str, Any] | None, *, commit: str | None) -> CiLinks:
    """Links to `commit` and the run from a record's `change.ci`: GitHub Actions and GitLab CI
    give both, Jenkins and Buildkite the run.

    Every part is checked before it becomes a link (an http(s) URL without quotes or spaces, a
    hex commit, a numeric run id): a report never links where a forged variable points.
    """
    if not ci:
        return CiLinks()

    def text(key: str, pattern: re.Pattern[str]) -> str | None:
        value = ci.get(key)
        return value if isinstance(value, str) and pattern.fullmatch(value) else None

    sha = commit if commit is not None and _COMMIT.fullmatch(commit) else None
    match ci.get("system"):
        case "github":
            server, repository = text("server_url", _WEB_URL), text("repository", _REPOSITORY)
            if server is None or repository is None:
                return CiLinks()
            base = f"{server.rstrip('/')}/{repository}"
            run = text("run_id", _RUN_NUMBER)
            return CiLinks(
                commit_url=f"{base}/commit/{sha}" if sha else None,
                run_url=f"{base}/actions/runs/{run}" if run else None,
            )
        case "gitlab":
            project = text("project_url", _WEB_URL)
            return CiLinks(
                commit_url=f"{project.rstrip('/')}/-/commit/{sha}" if project and sha else None,
                run_url=text("pipeline_url", _WEB_URL),
            )
        case "jenkins" | "buildkite":
            return CiLinks(run_url=text("run_url", _WEB_URL))
    return CiLinks()


def _login_name() -> str | None:
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None


def _git_commit() -> str | None:
    try:
        # `--end-of-options` is git's `--` for rev-parse (where `--` separates paths).
        proc = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", "--end-of-options", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = proc.stdout.strip()
    return commit if proc.returncode == 0 and commit else None
