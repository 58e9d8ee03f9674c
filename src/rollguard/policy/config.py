"""rollguard.yaml: policy selection, parameters, enforcement, environments and waivers."""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from rollguard.errors import ConfigError
from rollguard.governance.schedule import Freeze, ScheduleError, Window, parse_freeze, parse_window
from rollguard.inputs import decode_text
from rollguard.inputs.yamltext import SafeLoader, all_lines, node_line, problem_of, too_deep_error
from rollguard.model import Enforcement, Resource, Severity
from rollguard.policy.bundle import PolicyBundle, PolicyInfo

if TYPE_CHECKING:
    from rollguard.audit.record import History  # only named in annotations; imported by the store

CONFIG_NAMES = ("rollguard.yaml", "rollguard.yml", ".rollguard.yaml")

# Id prefixes of findings that scanners run beside the policies add (`check --with-checkov`), and
# governance.region_parity, which `check` computes from `parity.sets` (docs/fleet.md): waivers
# and enforcement may name them although no policy of the bundle has such an id.
EXTERNAL_POLICY_PREFIXES = ("checkov.", "conftest.", "gatekeeper.", "governance.region_parity")


class _ConfigLoader(SafeLoader):
    """Checked safe loader that keeps dates as text, so an impossible date is our error, not PyYAML's crash."""


_ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in SafeLoader.yaml_implicit_resolvers.items()
}
# YAML 1.1 reads an unquoted `16:00` as the base-60 integer 960; in rollguard.yaml it is a time of day.
_CLOCK = re.compile(r"^[0-9]{1,2}:[0-5][0-9]$")
for _digit in "0123456789":
    _ConfigLoader.yaml_implicit_resolvers[_digit] = [
        ("tag:yaml.org,2002:str", _CLOCK),
        *_ConfigLoader.yaml_implicit_resolvers.get(_digit, []),
    ]


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
class ParitySet:
    """`parity.sets[]`: renderings of one service (one per region or environment) that must stay alike."""

    name: str
    paths: tuple[Path, ...]  # relative to the config file's folder; the first is the reference
    allowed: tuple[str, ...] = ()  # pointer globs that may differ in this set, beside `parity.allowed`
    line: int | None = None


@dataclass(frozen=True)
class Parity:
    """`parity:` (docs/fleet.md): what may differ between renderings of one service, and the sets checked."""

    allowed: tuple[str, ...] = ()  # JSON Pointer globs
    allowed_image_registry: bool = False  # image references may differ in their registry host only
    sets: tuple[ParitySet, ...] = ()

    def allowed_in(self, parity_set: ParitySet | None) -> tuple[str, ...]:
        """The pointer globs that may differ: the common ones, then the set's own."""
        return self.allowed + (parity_set.allowed if parity_set is not None else ())


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
    # Governance (docs/governance.md): every environment's risk, the promotion predecessor of
    # this one, its deployment windows and freezes, and the line that defines it.
    risks: Mapping[str, str] = field(default_factory=dict)
    previous: str | None = None
    windows: tuple[Window, ...] = ()
    freezes: tuple[Freeze, ...] = ()
    line: int | None = None
    # Facts of one run rather than of the file: `check --approval` and what `--store` holds.
    approval: str | None = None
    history: History | None = None
    dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    key_lines: Mapping[tuple[Any, ...], int] = field(default_factory=dict)
    # `pipelines.environments`: patterns that name a deploy job's environment when it declares none.
    pipeline_environments: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # `simulation:` (docs/simulation.md), for the policies that read the simulated rollout.
    simulation: Mapping[str, Any] = field(default_factory=dict)
    # The rollout objectives of the environment, lowest precedence first (`slo_layers`).
    slo: tuple[Mapping[str, Any], ...] = ()
    # `quotas:` entries that apply in the environment, quantities as numbers (`_quotas`).
    quotas: tuple[Mapping[str, Any], ...] = ()
    # `parity:` (docs/fleet.md): with `sets`, `check` reports governance.region_parity on them.
    parity: Parity = Parity()

    def line_of(self, *path: Any) -> int | None:
        """The config file's line for a key path, or None (no file, or a default)."""
        return self.key_lines.get(path)

    def parameter_line(self, pattern: str, *keys: Any) -> int | None:
        """Where `parameters.<pattern>.<keys>` is set: this environment's override first, then the top level."""
        if self.environment is not None:
            line = self.line_of("environments", self.environment, "parameters", pattern, *keys)
            if line is not None:
                return line
        return self.line_of("parameters", pattern, *keys)

    def selects(self, policy_id: str) -> bool:
        """Whether `policy_id` is switched on by include/exclude globs."""
        included = any(fnmatch.fnmatchcase(policy_id, pat) for pat in self.include)
        return included and not any(fnmatch.fnmatchcase(policy_id, pat) for pat in self.exclude)

    def parameters_for(
        self, policy_id: str, defaults: Mapping[str, Any], *, declared: Collection[str] | None = None
    ) -> dict[str, Any]:
        """METADATA defaults overridden by the matching `parameters` entries (globs allowed).

        An entry named by a glob (`k8s.*`) gives each policy only the keys it `declared`; an
        entry naming the policy exactly gives all of its keys, so a misspelt one is refused.
        """
        merged = dict(defaults)
        for pattern, values in self.parameters.items():
            if pattern == policy_id:
                merged.update(values)
            elif fnmatch.fnmatchcase(policy_id, pattern):
                merged.update({k: v for k, v in values.items() if declared is None or k in declared})
        return merged

    def check(self, bundle: PolicyBundle) -> None:
        """Reject config that selects no policy, names no existing policy or sets parameters the policy refuses.

        Every error names the config file and the line of the offending key: a typo must never be
        a setting that is silently ignored.
        """
        source = self.source
        ids = [p.id for p in bundle.policies]
        if ids and not any(self.selects(i) for i in ids):
            raise ConfigError(
                f"policies.include/exclude select none of the {len(ids)} policies; "
                "check the globs against `rollguard policy list`",
                file=source,
                line=self.line_of("policies", "include") or self.line_of("policies"),
            )
        named: list[tuple[str, str, int | None]] = [("parameters", k, self.parameter_line(k)) for k in self.parameters]
        named += [("enforcement", k, self._enforcement_line(k)) for k in self.enforcement]
        named += [(f"waiver {w.id}", w.policy, w.line) for w in self.waivers]
        for where, pattern, line in named:
            if where != "parameters" and pattern.startswith(EXTERNAL_POLICY_PREFIXES):
                continue
            if not any(fnmatch.fnmatchcase(pid, pattern) for pid in ids):
                raise ConfigError(
                    f"{where}: {pattern!r} matches no policy; see `rollguard policy list` for the ids",
                    file=source,
                    line=line,
                )
        for pattern, values in self.parameters.items():
            matched = [i for i in bundle.policies if fnmatch.fnmatchcase(i.id, pattern)]
            known = sorted({key for info in matched for key in info.declared_parameters})
            for key in values:
                if key not in known:
                    which = "it has" if len(matched) == 1 else f"the {len(matched)} policies it matches have"
                    offer = f"{which}: {', '.join(known)}" if known else f"{which} no parameters"
                    raise ConfigError(
                        f"parameters.{pattern}.{key}: unknown parameter ({offer}); "
                        "check the spelling against `rollguard policy doc` or docs/policies",
                        file=source,
                        line=self.parameter_line(pattern, key),
                    )
        overridden = [i for i in bundle.policies if any(fnmatch.fnmatchcase(i.id, k) for k in self.parameters)]
        if not overridden:
            return  # METADATA defaults are checked against their schemas by the test suite
        import jsonschema  # only needed when config overrides parameters; slow to import

        for info in overridden:
            params = self.parameters_of(info)
            error = jsonschema.exceptions.best_match(
                jsonschema.Draft202012Validator(info.parameters_schema).iter_errors(params)
            )
            if error is not None:
                keys = list(error.absolute_path)
                key = ".".join(str(p) for p in keys)
                line = next(
                    (
                        found
                        for pattern in self.parameters
                        if fnmatch.fnmatchcase(info.id, pattern)
                        and (found := self.parameter_line(pattern, *keys)) is not None
                    ),
                    None,
                )
                raise ConfigError(f"parameters.{info.id}.{key}: {error.message}", file=source, line=line)

    def _enforcement_line(self, pattern: str) -> int | None:
        if self.environment is not None:
            line = self.line_of("environments", self.environment, "enforcement", pattern)
            if line is not None:
                return line
        return self.line_of("enforcement", pattern)

    def parameters_of(self, info: PolicyInfo) -> dict[str, Any]:
        """The parameters a policy is judged with: METADATA defaults, then config, then the environment."""
        return self.parameters_for(info.id, info.default_parameters(), declared=info.declared_parameters)

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
    # `simulation:` (docs/simulation.md): start-up seconds per workload, the image pull allowance.
    simulation: Mapping[str, Any] = field(default_factory=dict)
    # `canary:` (docs/canary.md), read and checked by `rollguard canary`.
    canary: Mapping[str, Any] = field(default_factory=dict)
    # `slo:`, the rollout objectives of every environment (docs/simulation.md).
    slo: Mapping[str, Any] = field(default_factory=dict)
    # `quotas:`, rollout quotas per team (docs/fleet.md), quantities as numbers.
    quotas: tuple[Mapping[str, Any], ...] = ()
    vulnerability_exceptions: tuple[VulnerabilityException, ...] = ()
    promotion: tuple[str, ...] = ()  # environments in the order a change moves through them
    # Consumer (`namespace/name` or `name`) → what it needs (docs/dependencies.md).
    dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    schedules: Mapping[str, tuple[tuple[Window, ...], tuple[Freeze, ...]]] = field(default_factory=dict)
    environment_lines: Mapping[str, int] = field(default_factory=dict)
    # The line of every mapping key in the file, by its path (`("parameters", "k8s.*", "min")`).
    key_lines: Mapping[tuple[Any, ...], int] = field(default_factory=dict)
    pipeline_environments: tuple[tuple[str, tuple[str, ...]], ...] = ()  # docs/pipelines.md
    baseline_max_age: dt.timedelta | None = None  # `check --baseline`: how long an entry accepts (docs/baseline.md)
    # `policies.paths`, `policies.builtin` and `policies.gatekeeper` (docs/authoring.md), with
    # paths relative to the config file.
    policy_paths: tuple[Path, ...] = ()
    builtin_policies: bool = True
    gatekeeper_paths: tuple[Path, ...] = ()
    # `store:`: the decision store URL when no --store is given (audit.store.locate.choose_store).
    store: str | None = None
    parity: Parity = Parity()  # `parity:` (docs/fleet.md), read by `rollguard compare` and `check`

    def previous(self, environment: str) -> str | None:
        """The environment before `environment` on the promotion path, if any."""
        path = self.promotion
        at = path.index(environment) if environment in path else 0
        return path[at - 1] if at > 0 else None

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
        # `is None`, never `or`: Severity.INFO is 0, so `--fail-on info` would fall back to the default.
        if fail_on is not None:
            threshold = fail_on
        elif env.get("fail_on") is not None:
            threshold = Severity.parse(env["fail_on"])
        else:
            threshold = self.fail_on
        windows, freezes = self.schedules.get(environment or "", ((), ()))
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
            risks={name: str(e.get("risk", "medium")) for name, e in self.environments.items()},
            previous=self.previous(environment) if environment is not None else None,
            windows=windows,
            freezes=freezes,
            line=self.environment_lines.get(environment or ""),
            dependencies=self.dependencies,
            key_lines=self.key_lines,
            pipeline_environments=self.pipeline_environments,
            simulation=self.simulation,
            slo=slo_layers(self.slo, env.get("slo") or {}, environment),
            quotas=tuple(
                q
                for q in self.quotas
                if environment is not None and environment in (q.get("environments") or [environment])
            ),
            parity=self.parity,
        )


_OBJECTIVES = ("max_rollout_minutes", "max_rollback_minutes", "min_capacity_percent")


def slo_layers(
    every: Mapping[str, Any], own: Mapping[str, Any], environment: str | None
) -> tuple[Mapping[str, Any], ...]:
    """The rollout objectives that apply in `environment`, lowest precedence first: `slo:`, its
    `services`, the environment's `slo:`, its `services`. Each layer is `match` (a workload
    pattern, or None for every workload), `objectives` and `where` (the config key, for messages);
    governance.rollout_slo takes each objective from the last layer that matches and sets it."""
    layers: list[Mapping[str, Any]] = []
    for block, prefix in ((every, "slo"), (own, f"environments.{environment}.slo")):
        objectives = {k: block[k] for k in _OBJECTIVES if k in block}
        if objectives:
            layers.append({"match": None, "objectives": objectives, "where": prefix})
        for pattern, entry in (block.get("services") or {}).items():
            objectives = {k: entry[k] for k in _OBJECTIVES if k in entry}
            if objectives:
                layers.append({"match": pattern, "objectives": objectives, "where": f"{prefix}.services.{pattern}"})
    return tuple(layers)


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
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"read config: {exc.strerror or exc}", file=str(path)) from exc
    text, undecodable = decode_text(str(path), data)
    if text is None:
        line = undecodable.line if undecodable is not None else None
        raise ConfigError(undecodable.message if undecodable else "not UTF-8 text", file=str(path), line=line)
    loader = _ConfigLoader(text)
    try:
        node = loader.get_single_node()
        raw = loader.construct_checked(node) if node is not None else None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        error = too_deep_error(text) if isinstance(exc, RecursionError) else exc
        at, problem = problem_of(error) if isinstance(error, yaml.YAMLError) else (None, str(error))
        raise ConfigError(f"invalid YAML: {problem}", file=str(path), line=at + 1 if at is not None else None) from exc
    finally:
        loader.dispose()
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
        path = list(error.absolute_path)
        if "freezes" in path:
            return f"{error.message}; freezes need from, to and reason"
        if "windows" in path:
            return f"{error.message}; windows need from and to"
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


def _relative_to(config: Path, directory: str) -> Path:
    """A directory named in the config, relative to the config file's folder as written."""
    given = Path(directory)
    return given if given.is_absolute() else config.parent / given


def _build(raw: dict[str, Any], path: Path, node: yaml.Node | None) -> Config:
    policies = raw.get("policies") or {}
    waivers = []
    seen: set[str] = set()
    for i, w in enumerate(raw.get("waivers") or []):
        line = _line_of(node, ["waivers", i])
        expires = _unique_expiring(w, f"waivers[{i}]", "waiver", seen, path=path, line=line)
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
        # An explicit empty `include: []` selects nothing (and is refused), it does not mean "all".
        include=tuple(policies["include"]) if policies.get("include") is not None else ("*",),
        exclude=tuple(policies.get("exclude") or ()),
        parameters=raw.get("parameters") or {},
        enforcement=raw.get("enforcement") or {},
        fail_on=Severity.parse(raw.get("fail_on", "high")),
        environments=raw.get("environments") or {},
        waivers=tuple(waivers),
        admission=raw.get("admission") or {},
        drift_ignore=tuple((raw.get("drift") or {}).get("ignore") or ()),
        simulation=raw.get("simulation") or {},
        canary=raw.get("canary") or {},
        slo=raw.get("slo") or {},
        quotas=_quotas(raw, path, node),
        vulnerability_exceptions=_vulnerability_exceptions(raw, path, node),
        promotion=_promotion(raw, path, node),
        dependencies=_dependencies(raw, path, node),
        pipeline_environments=_pipeline_environments(raw, path, node),
        baseline_max_age=_baseline_max_age(raw, path, node),
        policy_paths=tuple(_relative_to(path, d) for d in policies.get("paths") or ()),
        builtin_policies=bool(policies.get("builtin", True)),
        gatekeeper_paths=tuple(_relative_to(path, d) for d in policies.get("gatekeeper") or ()),
        store=raw.get("store"),
        parity=_parity(raw, path, node),
        schedules={name: _schedule(name, env, path, node) for name, env in (raw.get("environments") or {}).items()},
        key_lines=all_lines(node),
        environment_lines={
            name: line
            for name in raw.get("environments") or {}
            if (line := _key_line(node, ["environments", name])) is not None
        },
    )


_AGE = re.compile(r"\s*([0-9]+)\s*([dw])\s*")


def _baseline_max_age(raw: dict[str, Any], path: Path, node: yaml.Node | None) -> dt.timedelta | None:
    """`baseline_max_age`: whole days (`90d`) or weeks (`12w`), since a baseline entry is dated by the day."""
    value = raw.get("baseline_max_age")
    if value is None:
        return None
    match = _AGE.fullmatch(value) if isinstance(value, str) else None
    days = int(match.group(1)) * (7 if match.group(2) == "w" else 1) if match else 0
    if days <= 0:
        raise ConfigError(
            f"baseline_max_age: {value!r} is not a positive number of days or weeks; write e.g. 90d or 12w",
            file=str(path),
            line=_line_of(node, ["baseline_max_age"]),
        )
    return dt.timedelta(days=days)


def _pipeline_environments(
    raw: dict[str, Any], path: Path, node: yaml.Node | None
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`pipelines.environments`; every pattern must compile as the pipeline loader compiles it."""
    from rollguard.inputs.pipeline import environment_pattern

    found: list[tuple[str, tuple[str, ...]]] = []
    for name, patterns in ((raw.get("pipelines") or {}).get("environments") or {}).items():
        for i, pattern in enumerate(patterns):
            where = f"pipelines.environments.{name}[{i}]"
            line = _line_of(node, ["pipelines", "environments", name, i])
            try:
                re.compile(pattern)  # first on its own, so an error's position is a position in the pattern
                matches_nothing = environment_pattern(pattern).search("") is None
            except re.error as exc:
                raise ConfigError(
                    f"{where}: {pattern!r} is not a valid regular expression ({exc}); fix it (quote it in YAML)",
                    file=str(path),
                    line=line,
                ) from None
            if not matches_nothing:
                raise ConfigError(
                    f"{where}: {pattern!r} matches empty text, so it would name every deploy job's environment; "
                    "make it match a word",
                    file=str(path),
                    line=line,
                )
        found.append((str(name), tuple(patterns)))
    return tuple(found)


def _key_line(node: yaml.Node | None, path: list[Any]) -> int | None:
    """1-based line of the key that ends `path` (where a mapping entry is defined)."""
    line = node_line(node, tuple(path))
    return None if line is None else line + 1


def _dependencies(raw: dict[str, Any], path: Path, node: yaml.Node | None) -> dict[str, tuple[str, ...]]:
    """`dependencies:`; every entry must read as `name`, `name>=version` or `namespace/name>=version`."""
    from rollguard.plan import parse_requirements

    found: dict[str, tuple[str, ...]] = {}
    for consumer, entries in (raw.get("dependencies") or {}).items():
        for i, entry in enumerate(entries):
            try:
                parse_requirements(entry, namespace="default", source="rollguard.yaml dependencies")
            except ValueError as exc:
                where = f"dependencies.{consumer}[{i}]"
                raise ConfigError(
                    f"{where}: {exc}", file=str(path), line=_line_of(node, ["dependencies", consumer, i])
                ) from None
        found[str(consumer)] = tuple(entries)
    return found


def _quotas(raw: dict[str, Any], path: Path, node: yaml.Node | None) -> tuple[Mapping[str, Any], ...]:
    """`quotas:` with `max_surge_cpu` in cores and `max_surge_memory` in bytes; a quantity that
    cannot be read names its line."""
    from rollguard.simulate.pods import PodInputError, parse_quantity

    found = []
    for i, entry in enumerate(raw.get("quotas") or ()):
        quota = {k: v for k, v in entry.items()}
        quota["where"] = f"quotas[{i}]"
        for key in ("max_surge_cpu", "max_surge_memory"):
            if key in entry:
                try:
                    quota[key] = float(parse_quantity(entry[key], key))
                except PodInputError as exc:
                    raise ConfigError(
                        f"quotas[{i}].{exc}; write e.g. 4, 500m or 8Gi",
                        file=str(path),
                        line=_line_of(node, ["quotas", i, key]),
                    ) from None
        found.append(quota)
    return tuple(found)


def _parity(raw: dict[str, Any], path: Path, node: yaml.Node | None) -> Parity:
    """`parity:`; set names are unique, and set paths are relative to the config file's folder."""
    value = raw.get("parity") or {}
    sets: list[ParitySet] = []
    for i, entry in enumerate(value.get("sets") or ()):
        line = _line_of(node, ["parity", "sets", i])
        if any(s.name == entry["name"] for s in sets):
            raise ConfigError(
                f"parity.sets[{i}]: a set named {entry['name']!r} is defined twice; give each set its own name",
                file=str(path),
                line=line,
            )
        paths = tuple(_relative_to(path, p) for p in entry["paths"])
        sets.append(ParitySet(name=entry["name"], paths=paths, allowed=tuple(entry.get("allowed") or ()), line=line))
    return Parity(
        allowed=tuple(value.get("allowed") or ()),
        allowed_image_registry=bool(value.get("allowed_image_registry", False)),
        sets=tuple(sets),
    )


def _promotion(raw: dict[str, Any], path: Path, node: yaml.Node | None) -> tuple[str, ...]:
    """`promotion:` as a list or an arrow string (`dev -> staging -> prod`); each name a defined environment."""
    value = raw.get("promotion")
    if value is None:
        return ()
    names = [part.strip() for part in value.split("->")] if isinstance(value, str) else [str(v) for v in value]
    defined = raw.get("environments") or {}
    known = ", ".join(sorted(defined)) or "none are defined"
    for i, name in enumerate(names):
        where = "promotion" if isinstance(value, str) else f"promotion[{i}]"
        line = _line_of(node, ["promotion"] if isinstance(value, str) else ["promotion", i])
        if not name:
            raise ConfigError(
                f"{where}: empty environment name in {value!r}; write `dev -> staging -> prod`",
                file=str(path),
                line=line,
            )
        if name not in defined:
            raise ConfigError(
                f"{where}: {name!r} is not a defined environment (known: {known}); define it under `environments:`",
                file=str(path),
                line=line,
            )
        if name in names[:i]:
            raise ConfigError(f"{where}: {name!r} appears twice on the promotion path", file=str(path), line=line)
    return tuple(names)


def _schedule(
    name: str, env: Mapping[str, Any], path: Path, node: yaml.Node | None
) -> tuple[tuple[Window, ...], tuple[Freeze, ...]]:
    """An environment's windows and freezes; a bad entry is a ConfigError naming its key and line."""
    found: dict[str, list[Any]] = {"windows": [], "freezes": []}
    for key, parse in (("windows", parse_window), ("freezes", parse_freeze)):
        for i, entry in enumerate(env.get(key) or []):
            try:
                found[key].append(parse(entry))
            except ScheduleError as exc:
                keys = ["environments", name, key, i, *re.findall(r"[^.\[\]]+", exc.key)]
                keys = [int(k) if isinstance(k, str) and k.isdigit() else k for k in keys]
                raise ConfigError(
                    f"environments.{name}.{key}[{i}].{exc.key}: {exc.message}",
                    file=str(path),
                    line=_line_of(node, keys),
                ) from None
    return tuple(found["windows"]), tuple(found["freezes"])


def _unique_expiring(
    entry: Mapping[str, Any], where: str, noun: str, seen: set[str], *, path: Path, line: int | None
) -> dt.date:
    """The `expires` date of a waiver or exception whose `id` must be unique among `seen` (updated)."""
    if entry["id"] in seen:
        raise ConfigError(f"{where}.id: duplicate {noun} id {entry['id']!r}", file=str(path), line=line)
    seen.add(entry["id"])
    try:
        return dt.date.fromisoformat(entry["expires"])
    except ValueError:
        raise ConfigError(
            f"{where}.expires: {entry['expires']!r} is not a real date", file=str(path), line=line
        ) from None


def _vulnerability_exceptions(
    raw: dict[str, Any], path: Path, node: yaml.Node | None
) -> tuple[VulnerabilityException, ...]:
    """`vulnerability_exceptions:` entries; a duplicate id or an impossible date is a config error."""
    found: list[VulnerabilityException] = []
    seen: set[str] = set()
    for i, e in enumerate(raw.get("vulnerability_exceptions") or []):
        line = _line_of(node, ["vulnerability_exceptions", i])
        expires = _unique_expiring(e, f"vulnerability_exceptions[{i}]", "exception", seen, path=path, line=line)
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
