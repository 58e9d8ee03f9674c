"""Conftest policies judged unchanged: `deny`, `violation` and `warn` rules of chosen namespaces become findings.

`conftest test` queries every rule named `deny`, `violation` or `warn` (or `deny_<x>`, ...) of a
namespace (`main` by default) once per input document, and first asks `exception` whether the
rule is exempted for that document. This module does the same on rollguard's engines: each
message becomes a finding `conftest.<namespace>.<rule>`, an exempted one a finding carrying the
`conftest-exception` waiver, and a rule that cannot be evaluated an error finding. Most
published Conftest policies are Rego v0 (`deny[msg] { ... }`), which only regorus still parses,
so a set of modules holding one is run on regorus (docs/conftest.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import regorus

from rollguard.engine import Engine, create_engine, resolve_engine_name
from rollguard.engine.rego_errors import policy_error
from rollguard.engine.regorus import RegorusEngine
from rollguard.engine.upgrade import upgrade_v0
from rollguard.errors import EngineError, InputError, PolicyError, one_line
from rollguard.model import AppliedWaiver, Finding, InputProblem, Resource, Severity
from rollguard.policy.conftest_documents import Document, combined, read_documents

POLICY_PREFIX = "conftest."
DEFAULT_NAMESPACES = ("main",)
EXCEPTION_WAIVER = "conftest-exception"
# Conftest's own patterns: `deny`, `deny_foo`, `deny_foo_bar`, ...
_FAILURE = re.compile(r"^(deny|violation)(_[a-zA-Z0-9]+)*$")
_WARNING = re.compile(r"^warn(_[a-zA-Z0-9]+)*$")
_IDENTIFIER = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_MESSAGE_FIELD, _LOCATION_FIELD = "msg", "_loc"
# regorus: "--> a.rego:7:71 7 | <source> error: <what> --> ..." once folded to one line.
_REGORUS_ERROR = re.compile(r"-->\s*(?P<file>\S+\.rego):(?P<line>\d+)(?::\d+)?.*?\berror:\s*(?P<error>.*?)(?:\s+-->|$)")

RegoVersion = Literal["v0", "v1"]


@dataclass(frozen=True)
class ConftestModule:
    """One parsed Rego module: its package, the Rego version it parses as, and the Conftest rules it defines."""

    path: str
    source: str
    package: str  # as OPA writes it without `data.`: `main`, `team.k8s`, `a["b-c"]`
    rego_version: RegoVersion
    rules: tuple[str, ...]  # deny/violation/warn rule names, in order of appearance
    defines_exception: bool
    # (line, why) of rules named like Conftest's that can never give a message, e.g. `deny if { ... }`.
    mistakes: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class ConftestRule:
    """A deny, violation or warn rule of one namespace, as `conftest test` queries it."""

    namespace: str
    name: str
    files: tuple[str, ...]  # the modules defining it

    @property
    def policy_id(self) -> str:
        """`conftest.main.deny`: the id findings, waivers and enforcement settings use."""
        return f"{POLICY_PREFIX}{self.namespace}.{self.name}"

    @property
    def title(self) -> str:
        return f"Conftest {self.namespace}.{self.name}"

    @property
    def fails(self) -> bool:
        """deny and violation rules fail `conftest test`; warn rules only warn."""
        return _FAILURE.match(self.name) is not None

    @property
    def exception_name(self) -> str:
        """The name an `exception` rule lists to exempt this rule (`run_as_root` for `deny_run_as_root`)."""
        if self.name in ("deny", "violation", "warn"):
            return ""
        for prefix in ("violation_", "deny_", "warn_"):
            if self.name.startswith(prefix):
                return self.name.removeprefix(prefix)
        return self.name


def parse_module(path: str, source: str) -> ConftestModule:
    """Parse `source` as Rego v1, else as v0 (regorus parses both); PolicyError with file and line if neither.

    When both fail, the error reported is the one found further into the file: the parser of
    the wrong version stops early, at the first construct it does not know (v0's rule bodies
    without `if`, v1's `contains`).
    """
    try:
        return _parsed(path, source, "v1")
    except PolicyError as v1_error:
        try:
            return _parsed(path, source, "v0")
        except PolicyError as v0_error:
            further = (v0_error.line or 0) - (v1_error.line or 0)
            # "`if` keyword is required" says the module is written in v0: the v0 parser's complaint is the real one.
            error = (
                v0_error if further > 0 or (further == 0 and "keyword is required" in v1_error.message) else v1_error
            )
            raise PolicyError(
                f"{error.message} (read as Rego v1 and as v0; neither parses)", file=path, line=error.line
            ) from None


def is_conftest_module(source: str, namespaces: Sequence[str] | None) -> bool:
    """Whether `source` is a Conftest policy: a package of `namespaces` (None: any but rollguard's) with
    deny, violation or warn rules. A module that does not parse is not one (loading it says why)."""
    try:
        module = parse_module("policy.rego", source)
    except PolicyError:
        return False
    if _is_rollguard(module.package) or (namespaces is not None and module.package not in namespaces):
        return False
    return bool(module.rules or module.mistakes)


def load_conftest(
    modules: Mapping[str, str],
    *,
    namespaces: Sequence[str] | None = DEFAULT_NAMESPACES,
    data: Mapping[str, Any] | None = None,
    engine: str = "auto",
) -> ConftestPolicies:
    """Load Conftest's policy modules (path → source) to judge the rules of `namespaces` (None: all).

    Pass every module of the policy directories, libraries included: rules import them
    (`data.kubernetes.is_deployment`). Test modules (`*_test.rego`) are left out, since they are
    for `conftest verify` and may call Conftest's own builtins; so are rollguard's own packages.
    `data` is the data document (`--data`, see `conftest_documents.load_data_files`). Modules that
    are all Rego v1 run on `engine`; one v0 module puts the set on regorus, the one engine that
    parses v0. Raises PolicyError naming the file and line of a module that does not parse or
    compile, of a rule that could never report, or a namespace without rules.
    """
    parsed = [parse_module(path, source) for path, source in sorted(modules.items()) if not _is_test(path)]
    parsed = [m for m in parsed if not _is_rollguard(m.package)]
    if not parsed:
        raise PolicyError("no Conftest policies to load: the policy directory holds no .rego modules besides tests")
    for module in parsed:
        if module.mistakes and (namespaces is None or module.package in namespaces):
            line, why = module.mistakes[0]
            raise PolicyError(why, file=module.path, line=line)
    rules = _select(parsed, namespaces)
    exceptions = {
        ns: files for ns in rules if (files := tuple(m.path for m in parsed if m.package == ns and m.defines_exception))
    }
    backend = _engine_for(parsed, engine)
    if data:
        backend.set_data(data)
    return ConftestPolicies(backend, rules, exceptions)


class ConftestPolicies:
    """Conftest rules loaded on one engine, judging inputs as `conftest test` does (one engine, one thread)."""

    def __init__(
        self, engine: Engine, rules: Mapping[str, tuple[ConftestRule, ...]], exceptions: Mapping[str, tuple[str, ...]]
    ) -> None:
        self._engine = engine
        self._rules = dict(rules)
        self._exceptions = dict(exceptions)  # namespace → the modules defining its `exception` rule

    @property
    def engine_name(self) -> str:
        """The engine the rules run on (regorus whenever a module is Rego v0)."""
        return self._engine.name

    @property
    def rules(self) -> tuple[ConftestRule, ...]:
        """Every rule judged, namespace by namespace."""
        return tuple(rule for rules in self._rules.values() for rule in rules)

    def judge(
        self, files: Sequence[tuple[str, str]], *, combine: bool = False, problems: list[InputProblem] | None = None
    ) -> list[Finding]:
        """Findings of every rule on every document of `files` ((display name, text) of YAML or JSON).

        Each document is one `input`, as Conftest gives it; with `combine`, all of them together
        are one input (`[{"path", "contents"}, ...]`) and findings name no file but their own
        `_loc`. A file that cannot be used is added to `problems` and the others are judged;
        without `problems` it raises InputError.
        """
        documents: list[Document] = []
        for name, text in files:
            try:
                documents.extend(read_documents(name, text))
            except InputError as exc:
                if problems is None:
                    raise
                problems.append(InputProblem(exc.file or name, exc.line, exc.message))
        if not combine:
            return [f for d in documents for f in self._judge(_Subject(d.value, d.file, d.line, d.resource()))]
        if not documents:
            return []
        count = len({d.file for d in documents})
        whole = Resource(
            api_version="", kind="Combined", namespace=None, name=f"{count} files" if count != 1 else "1 file"
        )
        return self._judge(_Subject(combined(documents), None, None, whole))

    def _judge(self, subject: _Subject) -> list[Finding]:
        findings: list[Finding] = []
        for namespace, rules in self._rules.items():
            exempt = self._exempted(namespace, subject, findings)
            for rule in rules:
                try:
                    value = self._engine.evaluate(f"{namespace}.{rule.name}", subject.value)
                except (EngineError, PolicyError) as exc:
                    findings.append(_error(rule, subject, exc.message))
                    continue
                waiver = self._exception_waiver(rule) if rule.exception_name in exempt else None
                findings.extend(_findings(rule, subject, value, waiver))
        return findings

    def _exempted(self, namespace: str, subject: _Subject, findings: list[Finding]) -> set[str]:
        """The rule names `data.<namespace>.exception` lists for this input (Conftest's `exception[_][_]`)."""
        if namespace not in self._exceptions:
            return set()
        files = self._exceptions[namespace]
        try:
            value = self._engine.evaluate(f"{namespace}.exception", subject.value)
        except (EngineError, PolicyError) as exc:
            rule = ConftestRule(namespace, "exception", files)
            findings.append(_error(rule, subject, f"{exc.message}; the rules were judged without exceptions"))
            return set()
        names: set[str] = set()
        for entry in _members(value):
            names.update(name for name in _members(entry) if isinstance(name, str))
        return names

    def _exception_waiver(self, rule: ConftestRule) -> AppliedWaiver:
        return AppliedWaiver(
            id=EXCEPTION_WAIVER,
            status="applied",
            reason=f'an exception rule of package {rule.namespace} lists "{rule.exception_name}" for this input; '
            "Conftest reports it as an exception, not a failure",
            owner=", ".join(self._exceptions[rule.namespace]),
            ticket=None,
            expires="",  # an exception rule holds until the policy changes
        )


@dataclass(frozen=True)
class _Subject:
    """One `input` and what its findings are about."""

    value: Any
    file: str | None
    line: int | None
    resource: Resource


def _findings(rule: ConftestRule, subject: _Subject, value: Any, waiver: AppliedWaiver | None) -> list[Finding]:
    """A finding per message of a rule's value: a set or array of strings or `{"msg": ...}` objects."""
    if value is None:
        return []  # undefined: nothing to report, as in Conftest
    if not isinstance(value, list):
        return [_error(rule, subject, f"it evaluated to {_shown(value)}, not a set or array of messages")]
    findings = []
    for item in value:
        if isinstance(item, str):
            message, details, file, line = item, {}, subject.file, subject.line
        elif isinstance(item, dict) and isinstance(item.get(_MESSAGE_FIELD), str):
            message = item[_MESSAGE_FIELD]
            details = {k: v for k, v in item.items() if k not in (_MESSAGE_FIELD, _LOCATION_FIELD)}
            file, line = _location(item.get(_LOCATION_FIELD), subject)
        else:
            what = (
                "an object without a string msg field" if isinstance(item, dict) else "neither a string nor an object"
            )
            findings.append(_error(rule, subject, f'it gave {_shown(item)}, {what}; give a string or {{"msg": ...}}'))
            continue
        if not message:
            continue  # Conftest counts an empty message as a pass
        findings.append(
            Finding(
                policy=rule.policy_id,
                title=rule.title,
                severity=Severity.HIGH if rule.fails else Severity.MEDIUM,
                message=message,
                resource=subject.resource,
                file=file,
                line=line,
                enforcement="deny" if rule.fails else "warn",
                waiver=waiver,
                details=details,
            )
        )
    return findings


def _location(loc: Any, subject: _Subject) -> tuple[str | None, int | None]:
    """Where a message's `_loc` (Conftest's `{"file", "line"}`) says it is, else where its document is."""
    if not isinstance(loc, dict):
        return subject.file, subject.line
    file, line = loc.get("file"), loc.get("line")
    if isinstance(line, str) and line.isdigit():
        line = int(line)
    return (
        file if isinstance(file, str) and file else subject.file,
        line if isinstance(line, int) and not isinstance(line, bool) and line > 0 else subject.line,
    )


def _error(rule: ConftestRule, subject: _Subject, detail: str) -> Finding:
    return Finding(
        policy=rule.policy_id,
        title=rule.title,
        severity=Severity.HIGH if rule.fails or rule.name == "exception" else Severity.MEDIUM,
        message=f"rule {rule.namespace}.{rule.name} ({', '.join(rule.files)}) could not be evaluated: {_detail(detail)}",
        resource=subject.resource,
        file=subject.file,
        line=subject.line,
        enforcement="warn" if _WARNING.match(rule.name) else "deny",
        error=True,
    )


def _detail(text: str) -> str:
    """An engine's error in one line; regorus's source excerpt folded to `file:line: error`."""
    text = one_line(text)
    match = _REGORUS_ERROR.search(text)
    return f"{match['file']}:{match['line']}: {match['error']}" if match else text


def _shown(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."


def _members(value: Any) -> list[Any]:
    """What `value[_]` iterates in Rego: an array's items, an object's values; nothing for a scalar."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return []


# --- modules -----------------------------------------------------------------------------------


class _VersionedRegorus(RegorusEngine):
    """regorus parsing each module in its own Rego version: v0 modules beside v1 libraries."""

    def load_module(self, path: str, source: str, *, version: RegoVersion) -> None:
        """Add one module, parsed as `version`."""
        self._engine.set_rego_v0(version == "v0")
        try:
            self._engine.add_policy(path, source)
        except RuntimeError as exc:
            raise policy_error(str(exc), action="compile policy") from exc


def _engine_for(modules: Sequence[ConftestModule], name: str) -> Engine:
    """`name`'s engine for v1 modules. v0 modules run on OPA upgraded to v1 (the upgrade is built
    on regorus's syntax tree and keeps every line), or, on regorus or when a module cannot be
    upgraded, on regorus parsing each module in its own version."""
    if all(m.rego_version == "v1" for m in modules):
        engine = create_engine(name)
        engine.load({m.path: m.source for m in modules})
        return engine
    if resolve_engine_name(name) == "opa":
        try:
            upgraded = {
                m.path: m.source if m.rego_version == "v1" else upgrade_v0(m.source, file=m.path) for m in modules
            }
        except PolicyError:
            upgraded = None
        if upgraded is not None:
            engine = create_engine("opa")
            engine.load(upgraded)
            return engine
    versioned = _VersionedRegorus()
    for m in modules:
        versioned.load_module(m.path, m.source, version=m.rego_version)
    return versioned


def _select(modules: Sequence[ConftestModule], namespaces: Sequence[str] | None) -> dict[str, tuple[ConftestRule, ...]]:
    """namespace → its rules, for the namespaces asked for (each must have rules) or every one that has some."""
    found: dict[str, dict[str, list[str]]] = {}  # namespace → rule → files
    for m in modules:
        for name in m.rules:
            found.setdefault(m.package, {}).setdefault(name, []).append(m.path)
    chosen = sorted(found) if namespaces is None else list(dict.fromkeys(namespaces))
    if not chosen:
        raise PolicyError("no Conftest policies: no module defines a deny, violation or warn rule")
    missing = [ns for ns in chosen if ns not in found]
    if missing:
        have = ", ".join(sorted(found)) or "none"
        raise PolicyError(
            f"namespace {', '.join(missing)} has no deny, violation or warn rules "
            f"(namespaces with rules: {have}); pass --namespace with one of those, or --all-namespaces"
        )
    return {
        ns: tuple(ConftestRule(ns, name, tuple(dict.fromkeys(files))) for name, files in found[ns].items())
        for ns in chosen
    }


def _is_test(path: str) -> bool:
    return path.endswith("_test.rego")


def _is_rollguard(package: str) -> bool:
    return package == "rollguard" or package.startswith(("rollguard.", 'rollguard["'))


def _parsed(path: str, source: str, version: RegoVersion) -> ConftestModule:
    engine = regorus.Engine()
    engine.set_rego_v0(version == "v0")
    try:
        engine.add_policy(path, source)
        tree = json.loads(engine.get_ast_as_json())[0]["ast"]
    except RuntimeError as exc:
        raise policy_error(str(exc), action="parse policy") from exc
    rules: list[str] = []
    mistakes: list[tuple[int, str]] = []
    defines_exception = False
    for entry in tree["rules"]:
        name, line, mistake = _rule_head(entry)
        if name == "exception":
            defines_exception = True
        elif name is not None and (_FAILURE.match(name) or _WARNING.match(name)):
            if mistake:
                mistakes.append((line, mistake))
            elif name not in rules:
                rules.append(name)
    return ConftestModule(
        path=path,
        source=source,
        package=_ref_text(_ref_parts(tree["package"]["refr"])),
        rego_version=version,
        rules=tuple(rules),
        defines_exception=defines_exception,
        mistakes=tuple(mistakes),
    )


def _rule_head(entry: Mapping[str, Any]) -> tuple[str | None, int, str | None]:
    """(rule name, line, why it can never give a message) of a rule in regorus's AST; no name for
    functions and rules with a dotted head (`deny.x contains ...`), which Conftest does not query."""
    ((kind, rule),) = entry.items()
    if kind == "Default":
        refr = rule["refr"]
        return (refr["Var"]["value"] if "Var" in refr else None), rule["span"]["line"], None
    ((head_kind, head),) = rule["head"].items()
    refr, line = head["refr"], head["span"]["line"]
    if head_kind == "Set":
        return (refr["Var"]["value"] if "Var" in refr else None), line, None
    if head_kind != "Compr":
        return None, line, None
    if "Var" in refr:
        name = refr["Var"]["value"]
        if head.get("assign") is None:
            return (
                name,
                line,
                (
                    f"rule `{name} if {{ ... }}` is a boolean, and Conftest reads messages only from a set or array, "
                    f'so it could never report; write `{name} contains msg if {{ ... msg := "..." }}`'
                ),
            )
        return name, line, None
    if "RefBrack" in refr and "Var" in refr["RefBrack"]["refr"]:
        name = refr["RefBrack"]["refr"]["Var"]["value"]
        return (
            name,
            line,
            (
                f"rule `{name}[...] if` defines an object, not a set of messages (Rego v1 reads it so, "
                f"and Conftest refuses it); write `{name} contains msg if {{ ... }}`"
            ),
        )
    return None, line, None


def _ref_parts(refr: Mapping[str, Any]) -> tuple[str, ...]:
    """`a.b["c-d"]` of a package's reference in regorus's AST, as its parts."""
    if "Var" in refr:
        return (refr["Var"]["value"],)
    if "RefDot" in refr:
        return (*_ref_parts(refr["RefDot"]["refr"]), refr["RefDot"]["field"][1])
    if "RefBrack" in refr:
        index = refr["RefBrack"]["index"]
        return (*_ref_parts(refr["RefBrack"]["refr"]), str(index.get("String", {}).get("value", "")))
    raise PolicyError(f"unexpected package reference {json.dumps(refr)[:80]}")


def _ref_text(parts: Sequence[str]) -> str:
    """The parts as OPA writes the reference: `a.b`, `a["b-c"]`."""
    text = parts[0]
    for part in parts[1:]:
        text += f".{part}" if _IDENTIFIER.match(part) else f"[{json.dumps(part)}]"
    return text
