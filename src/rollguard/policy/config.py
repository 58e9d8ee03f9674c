"""rollguard.yaml: policy selection, parameters, enforcement, environments and waivers."""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from rollguard.errors import ConfigError
from rollguard.model import Enforcement, Resource, Severity

CONFIG_NAMES = ("rollguard.yaml", "rollguard.yml", ".rollguard.yaml")


class _ConfigLoader(yaml.SafeLoader):
    """Safe loader that keeps dates as text, so an impossible date is our error, not PyYAML's crash."""


_ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class Waiver:
    """A time-boxed, owned exception for one policy on matching resources."""

    id: str
    policy: str
    reason: str
    owner: str
    expires: dt.date
    ticket: str | None = None
    kind: str = "*"
    namespace: str = "*"
    name: str = "*"
    environments: tuple[str, ...] = ()
    line: int | None = None

    def expired(self, *, on: dt.datetime) -> bool:
        """A waiver holds through the last second of its `expires` day (UTC)."""
        end = dt.datetime.combine(self.expires, dt.time.max, tzinfo=dt.timezone.utc)
        return on > end

    def matches(self, policy: str, resource: Resource, *, environment: str | None) -> bool:
        """Whether this waiver is about `policy` on `resource` in `environment`."""
        if not fnmatch.fnmatchcase(policy, self.policy):
            return False
        if self.environments and environment not in self.environments:
            return False
        return (
            fnmatch.fnmatchcase(resource.kind, self.kind)
            and fnmatch.fnmatchcase(resource.namespace or "default", self.namespace)
            and fnmatch.fnmatchcase(resource.name, self.name)
        )


@dataclass(frozen=True)
class VulnerabilityException:
    """An accepted vulnerability (a CVE in an image) with a reason, an owner and an end date."""

    id: str
    cve: str
    owner: str
    expires: dt.date
    image: str = "*"
    reason: str = ""  # may be empty here: image.exceptions reports it, so the gap is visible
    line: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The entry of `data.rollguard.exceptions` the image policies read (docs/scans.md)."""
        # Like a waiver, it holds through the last second of its `expires` day (UTC).
        end = dt.datetime.combine(self.expires + dt.timedelta(days=1), dt.time.min, tzinfo=dt.timezone.utc)
        return {
            "id": self.id,
            "cve": self.cve,
            "image": self.image,
            "reason": self.reason,
            "owner": self.owner,
            "expires": self.expires.isoformat(),
            "expires_ns": int(end.timestamp()) * 1_000_000_000,
        }


@dataclass(frozen=True)
class Settings:
    """Configuration resolved for one environment: what the gate actually applies."""

    environment: str | None
    risk: str
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    parameters: Mapping[str, Mapping[str, Any]]
    enforcement: Mapping[str, Enforcement]
    fail_on: Severity
    waivers: tuple[Waiver, ...]
    source: str | None = None  # the config file these settings came from, for error messages
    vulnerability_exceptions: tuple[VulnerabilityException, ...] = ()

    def selects(self, policy_id: str) -> bool:
        """Whether `policy_id` is switched on by include/exclude globs."""
        included = any(fnmatch.fnmatchcase(policy_id, pat) for pat in self.include)
        return included and not any(fnmatch.fnmatchcase(policy_id, pat) for pat in self.exclude)

    def parameters_for(self, policy_id: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
        """METADATA defaults overridden by the matching `parameters` entries (globs allowed)."""
        merged = dict(defaults)
        for key, values in self.parameters.items():
            if fnmatch.fnmatchcase(policy_id, key):
                merged.update(values)
        return merged

    def enforcement_for(self, policy_id: str, default: Enforcement = "deny") -> Enforcement:
        found = default
        for key, action in self.enforcement.items():
            if fnmatch.fnmatchcase(policy_id, key):
                found = action
        return found


@dataclass(frozen=True)
class Config:
    """The parsed rollguard.yaml (or the defaults when there is none)."""

    path: Path | None = None
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    parameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    enforcement: Mapping[str, Enforcement] = field(default_factory=dict)
    fail_on: Severity = Severity.HIGH
    environments: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    waivers: tuple[Waiver, ...] = ()
    admission: Mapping[str, Any] = field(default_factory=dict)  # read by the webhook (docs/webhook.md)
    drift_ignore: tuple[str, ...] = ()  # JSON Pointers that `rollguard drift` leaves out
    vulnerability_exceptions: tuple[VulnerabilityException, ...] = ()

    def resolve(self, environment: str | None, *, fail_on: Severity | None = None) -> Settings:
        """Settings for `environment` (None = no environment); `fail_on` from the CLI wins."""
        env: Mapping[str, Any] = {}
        if environment is not None:
            if environment not in self.environments:
                known = ", ".join(sorted(self.environments)) or "none are defined"
                where = f"{self.path}: " if self.path else ""
                raise ConfigError(
                    f"{where}unknown environment {environment!r} (known: {known}); add it under `environments:`"
                )
            env = self.environments[environment]
        parameters: dict[str, dict[str, Any]] = {k: dict(v) for k, v in self.parameters.items()}
        for key, values in (env.get("parameters") or {}).items():
            parameters.setdefault(key, {}).update(values)
        enforcement = {**self.enforcement, **(env.get("enforcement") or {})}
        threshold = fail_on or (Severity.parse(env["fail_on"]) if env.get("fail_on") else self.fail_on)
        return Settings(
            environment=environment,
            risk=str(env.get("risk", "medium")),
            include=self.include,
            exclude=self.exclude,
            parameters=parameters,
            enforcement=enforcement,
            fail_on=threshold,
            waivers=self.waivers,
            source=str(self.path) if self.path else None,
            vulnerability_exceptions=self.vulnerability_exceptions,
        )


@lru_cache(maxsize=1)
def config_schema() -> dict[str, Any]:
    """The JSON Schema shipped with rollguard for rollguard.yaml."""
    text = resources.files("rollguard.schemas").joinpath("config.schema.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


def find_config(start: Path) -> Path | None:
    """The nearest rollguard.yaml in `start` or a parent directory."""
    for folder in (start, *start.parents):
        for name in CONFIG_NAMES:
            candidate = folder / name
            if candidate.is_file():
                return candidate
    return None


def load_config(path: Path | None) -> Config:
    """Parse and validate a config file; None gives the defaults."""
    if path is None:
        return Config()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"read config: {exc.strerror or exc}", file=str(path)) from exc
    try:
        node = yaml.compose(text, Loader=_ConfigLoader)
        raw = yaml.load(text, Loader=_ConfigLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(
            f"invalid YAML: {getattr(exc, 'problem', exc)}", file=str(path), line=mark.line + 1 if mark else None
        ) from exc
    raw = raw if raw is not None else {}
    import jsonschema  # slow to import; only needed when there is a config file

    validator = jsonschema.Draft202012Validator(config_schema())
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        key = ".".join(str(p) for p in first.absolute_path) or "(top level)"
        raise ConfigError(f"{key}: {_explain(first)}", file=str(path), line=_line_of(node, list(first.absolute_path)))
    return _build(raw, path, node)


def _explain(error: Any) -> str:
    """A jsonschema error with a hint on how to fix the usual mistakes."""
    if error.validator == "required":
        return f"{error.message}; waivers need id, policy, reason, owner and expires"
    if error.validator == "additionalProperties":
        return f"{error.message}; check the spelling against docs/configuration.md"
    return str(error.message)


def _line_of(node: yaml.Node | None, path: list[Any]) -> int | None:
    """1-based line of the YAML node at `path` (keys and list indexes), or its closest parent."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == part), None)
            if match is None:
                break
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


def _build(raw: dict[str, Any], path: Path, node: yaml.Node | None) -> Config:
    policies = raw.get("policies") or {}
    waivers = []
    seen: set[str] = set()
    for i, w in enumerate(raw.get("waivers") or []):
        line = _line_of(node, ["waivers", i])
        if w["id"] in seen:
            raise ConfigError(f"waivers[{i}].id: duplicate waiver id {w['id']!r}", file=str(path), line=line)
        seen.add(w["id"])
        try:
            expires = dt.date.fromisoformat(w["expires"])
        except ValueError:
            raise ConfigError(
                f"waivers[{i}].expires: {w['expires']!r} is not a real date", file=str(path), line=line
            ) from None
        match = w.get("match") or {}
        waivers.append(
            Waiver(
                id=w["id"],
                policy=w["policy"],
                reason=w["reason"],
                owner=w["owner"],
                ticket=w.get("ticket"),
                expires=expires,
                kind=match.get("kind", "*"),
                namespace=match.get("namespace", "*"),
                name=match.get("name", "*"),
                environments=tuple(w.get("environments") or ()),
                line=line,
            )
        )
    return Config(
        path=path,
        include=tuple(policies.get("include") or ("*",)),
        exclude=tuple(policies.get("exclude") or ()),
        parameters=raw.get("parameters") or {},
        enforcement=raw.get("enforcement") or {},
        fail_on=Severity.parse(raw.get("fail_on", "high")),
        environments=raw.get("environments") or {},
        waivers=tuple(waivers),
        admission=raw.get("admission") or {},
        drift_ignore=tuple((raw.get("drift") or {}).get("ignore") or ()),
        vulnerability_exceptions=_vulnerability_exceptions(raw, path, node),
    )


def _vulnerability_exceptions(
    raw: dict[str, Any], path: Path, node: yaml.Node | None
) -> tuple[VulnerabilityException, ...]:
    """`vulnerability_exceptions:` entries; a duplicate id or an impossible date is a config error."""
    found: list[VulnerabilityException] = []
    seen: set[str] = set()
    for i, e in enumerate(raw.get("vulnerability_exceptions") or []):
        line = _line_of(node, ["vulnerability_exceptions", i])
        where = f"vulnerability_exceptions[{i}]"
        if e["id"] in seen:
            raise ConfigError(f"{where}.id: duplicate exception id {e['id']!r}", file=str(path), line=line)
        seen.add(e["id"])
        try:
            expires = dt.date.fromisoformat(e["expires"])
        except ValueError:
            raise ConfigError(
                f"{where}.expires: {e['expires']!r} is not a real date", file=str(path), line=line
            ) from None
        found.append(
            VulnerabilityException(
                id=e["id"],
                cve=e["cve"],
                owner=e["owner"],
                expires=expires,
                image=e.get("image", "*"),
                reason=e.get("reason", ""),
                line=line,
            )
        )
    return tuple(found)
