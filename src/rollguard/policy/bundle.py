"""Load a policy directory: Rego sources, their METADATA catalogue and the bundle digest."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from rollguard.errors import PolicyError
from rollguard.model import ENFORCEMENTS, Severity

# What a policy may declare it needs (METADATA `custom.needs`) beyond documents and inventory.
NEEDS = ("simulation",)

_PACKAGE = re.compile(r"^package\s+([\w.]+)\s*$", re.MULTILINE)
_ID = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
_POLICY_PACKAGE = re.compile(r"^rollguard\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
# A rule head at the start of a line: `violation contains`, `violation[...]`, `violation if`, ...
_VIOLATION_RULE = re.compile(r"^violation\b(?!\s*:=\s*set\(\))", re.MULTILINE)
# A rule defined at the start of a line (Rego's formatter puts every head there).
_RULE_HEAD = re.compile(
    r"^(?:default\s+)?([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:\(|\[|\{|:=|=|if\b|contains\b|else\b|$)", re.MULTILINE
)
_IMPORT = re.compile(
    r"^import\s+data\.rollguard\.lib\.([a-zA-Z0-9_]+)(?:\s+as\s+([a-zA-Z_][a-zA-Z0-9_]*))?\s*$", re.MULTILINE
)
# Strings and comments, blanked before looking for references so text in messages is not code.
_STRING_OR_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`]*`|#[^\n]*')
_LIB_REF = re.compile(r"(?<!import )\bdata\.rollguard\.lib\.([a-zA-Z0-9_]+)(?:\.([a-zA-Z_][a-zA-Z0-9_]*))?")
_DOTTED = re.compile(r"(?<![\w.])([a-zA-Z_][a-zA-Z0-9_]*)\.([a-zA-Z_][a-zA-Z0-9_]*)")
_KEYWORDS = frozenset({"import", "package", "default", "not", "some", "every", "with", "as", "else"})


@dataclass(frozen=True)
class PolicyInfo:
    """One policy's catalogue entry, read from its METADATA block."""

    id: str
    package: str
    title: str
    description: str
    severity: Severity
    controls: tuple[str, ...]
    remediation: str
    parameters_schema: Mapping[str, Any]
    applies_to: tuple[str, ...]
    file: str
    custom: Mapping[str, Any] = field(default_factory=dict)
    # METADATA `custom.case_severity`: a finding whose details name one of these `case`s has that
    # severity instead of `severity` (e.g. a low-severity note of a high-severity policy).
    case_severity: Mapping[str, Severity] = field(default_factory=dict)
    # METADATA `custom.case_remediation`: the fix for a finding of that `case`, when the cause
    # decides what to change (a PDB that is too strict, or none at all).
    case_remediation: Mapping[str, str] = field(default_factory=dict)
    # From a team's own directory (`--policy DIR`): `file` is that directory's path, not the pack's.
    own: bool = False

    @property
    def domain(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.id.split(".", 1)[1]

    def severity_for(self, details: Mapping[str, Any]) -> Severity:
        """The severity of one finding: its `details.case`'s from METADATA, else the policy's."""
        case = details.get("case")
        return self.case_severity.get(case, self.severity) if isinstance(case, str) else self.severity

    def remediation_for(self, details: Mapping[str, Any]) -> str:
        """The fix of one finding: its `details.case`'s from METADATA, else the policy's, with
        every `{{ key }}` filled from `details` (the finding's own container, image, values)."""
        case = details.get("case")
        text = self.case_remediation.get(case, self.remediation) if isinstance(case, str) else self.remediation
        return fill_template(text, details)

    def inventory_for(self, kind: str) -> tuple[str, ...]:
        """Kinds this policy reads from data.inventory when judging a `kind` (METADATA `inventory` and `inventory_optional`)."""
        return self.required_inventory_for(kind) + self._inventory("inventory_optional", kind)

    def required_inventory_for(self, kind: str) -> tuple[str, ...]:
        """Kinds without which the policy cannot judge a `kind` (METADATA `inventory`).

        `inventory_optional` kinds are only read to exempt an object; when they are missing the
        object is judged without the exemption, which can only be stricter.
        """
        return self._inventory("inventory", kind)

    def _inventory(self, key: str, kind: str) -> tuple[str, ...]:
        needs = self.custom.get(key)
        if not isinstance(needs, dict):
            return ()
        kinds = needs.get(kind, needs.get("*", []))
        return tuple(k for k in kinds if isinstance(k, str)) if isinstance(kinds, list) else ()

    @property
    def needs(self) -> frozenset[str]:
        """What the policy reads beyond the documents and the inventory (METADATA `custom.needs`):
        `simulation`, the rollout simulation as `input.simulation` (docs/simulation.md)."""
        needs = self.custom.get("needs")
        return frozenset(n for n in needs if isinstance(n, str)) if isinstance(needs, list) else frozenset()

    @property
    def needs_simulation(self) -> bool:
        """Whether the policy reads the rollout simulation, which only rollguard computes (not Gatekeeper)."""
        return "simulation" in self.needs

    @property
    def declared_parameters(self) -> tuple[str, ...]:
        """The parameter names the METADATA schema declares."""
        props = self.parameters_schema.get("properties")
        return tuple(props) if isinstance(props, Mapping) else ()

    def default_parameters(self) -> dict[str, Any]:
        """Parameter defaults from the JSON Schema in METADATA."""
        props = self.parameters_schema.get("properties", {}) or {}
        return {k: v["default"] for k, v in props.items() if isinstance(v, dict) and "default" in v}

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "package": self.package,
            "title": self.title,
            "description": self.description,
            "severity": self.severity.label,
            "controls": list(self.controls),
            "remediation": self.remediation,
            "parameters": dict(self.parameters_schema),
            "applies_to": list(self.applies_to),
            "file": self.file,
        }


@dataclass(frozen=True)
class PolicyBundle:
    """Every module of a policy directory and the catalogue of its policies."""

    root: Path
    modules: Mapping[str, str]  # display path → source (policies, libraries and tests)
    policies: tuple[PolicyInfo, ...]
    test_modules: tuple[str, ...]
    # Modules of the user's directories in other packages (`package main`): Conftest policies
    # and their helpers, judged beside the pack by `rollguard.policy.conftest`.
    conftest_modules: Mapping[str, str] = field(default_factory=dict)
    # The directories the modules were read from (the pack's, then the user's), for reloads.
    roots: tuple[Path, ...] = ()

    @property
    def digest(self) -> str:
        """sha256 over every runtime module's package and source: what decides, not where it lies.

        Tests are left out and file paths do not count, so the same policies give the same
        digest in CI (a source tree) and in the cluster (a flat ConfigMap folder).
        """
        h = hashlib.sha256()
        entries = []
        for source in self.runtime_modules().values():
            match = _PACKAGE.search(source)
            entries.append((match.group(1) if match else "", source))
        for package, source in sorted(entries):
            h.update(package.encode() + b"\0" + source.encode() + b"\0")
        return h.hexdigest()

    def runtime_modules(self) -> dict[str, str]:
        """Modules needed to judge inputs (tests excluded)."""
        return {p: s for p, s in self.modules.items() if p not in self.test_modules}

    def by_id(self) -> dict[str, PolicyInfo]:
        return {p.id: p for p in self.policies}


def _is_pack(root: Path) -> bool:
    """Whether `root` is the pack shipped with rollguard."""
    return root.resolve() == default_policy_dir().resolve()


def default_policy_dir() -> Path:
    """The policies shipped with rollguard (inside the wheel, or the source tree)."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "bundled_policies", here.parents[1] / "policies"):
        if candidate.is_dir():
            return candidate
    raise PolicyError("no bundled policies found; pass --policies DIR")


@dataclass(frozen=True)
class PolicySources:
    """Where a run's policies come from: the pack (or a directory replacing it) and the user's
    directories added beside it (`--policy DIR`, `policies.paths` in rollguard.yaml)."""

    base: Path | None = None  # `--policies DIR`: replaces the bundled pack
    extra: tuple[Path, ...] = ()
    builtin: bool = True  # `--no-builtin`: the user's directories alone

    @property
    def dirs(self) -> tuple[Path, ...]:
        """Every directory read, in load order."""
        base = (self.base or default_policy_dir(),) if self.builtin else ()
        return (*base, *self.extra)

    def load(self, *, require_policies: bool = True) -> PolicyBundle:
        """The pack and the user's policies as one bundle; ids must stay unique across them."""
        if not self.builtin and not self.extra:
            raise PolicyError("--no-builtin leaves no policies: add your own with --policy DIR")
        if self.builtin and not self.extra:
            return load_bundle(self.base or default_policy_dir(), require_policies=require_policies)
        pack = load_bundle(self.base or default_policy_dir(), require_policies=False)
        # Without the pack's policies its libraries stay: the user's policies import them.
        parts = [pack if self.builtin else _libraries_of(pack)]
        parts.extend(_load_user_dir(d) for d in self.extra)
        bundle = _merge(parts)
        if require_policies and not bundle.policies and not bundle.conftest_modules:
            where = ", ".join(d.as_posix() for d in self.extra)
            raise PolicyError(
                "no policies found: a policy is a .rego module in `package rollguard.<domain>.<name>` with a "
                "`violation` rule, or a Conftest module with deny/violation/warn rules",
                file=where,
            )
        return bundle


def _libraries_of(bundle: PolicyBundle) -> PolicyBundle:
    """`bundle` with only its library modules (`rollguard.lib.*`), without policies or tests."""
    libraries = {
        rel: source
        for rel, source in bundle.runtime_modules().items()
        if (m := _PACKAGE.search(source)) is not None and m.group(1).startswith("rollguard.lib.")
    }
    return PolicyBundle(root=bundle.root, modules=libraries, policies=(), test_modules=(), roots=bundle.roots)


def _merge(parts: list[PolicyBundle]) -> PolicyBundle:
    modules: dict[str, str] = {}
    conftest: dict[str, str] = {}
    for part in parts:
        for rel in part.modules:
            if rel in modules:
                raise PolicyError(f"two policy directories hold a module at {rel}; rename one", file=rel)
        modules.update(part.modules)
        conftest.update(part.conftest_modules)
    policies = [p for part in parts for p in part.policies]
    _check_unique_ids(policies)
    tests = tuple(t for part in parts for t in part.test_modules)
    theirs = {rel for part in parts if not any(_is_pack(r) for r in part.roots) for rel in part.modules}
    check_library_references({rel: src for rel, src in modules.items() if rel not in tests}, only=theirs)
    return PolicyBundle(
        root=parts[0].root,
        modules=modules,
        policies=tuple(policies),
        test_modules=tests,
        conftest_modules=conftest,
        roots=tuple(r for part in parts for r in part.roots),
    )


def _check_unique_ids(policies: list[PolicyInfo]) -> None:
    seen: dict[str, str] = {}
    for info in policies:
        if info.id in seen:
            raise PolicyError(f"policy id {info.id!r} is also declared in {seen[info.id]}", file=info.file)
        seen[info.id] = info.file


def _load_user_dir(root: Path) -> PolicyBundle:
    """A user's policy directory: rollguard policies with METADATA defaults, libraries, tests,
    and modules of other packages (Conftest's `package main`) kept apart for the Conftest judge."""
    if not root.is_dir():
        raise PolicyError(f"policy directory {root} does not exist; check --policy or policies.paths")
    prefix = root.as_posix().rstrip("/")
    modules: dict[str, str] = {}
    conftest: dict[str, str] = {}
    tests: list[str] = []
    policies: list[PolicyInfo] = []
    for path in sorted(root.rglob("*.rego")):
        rel = f"{prefix}/{path.relative_to(root).as_posix()}"
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"read policy: {exc}", file=rel) from exc
        m = _PACKAGE.search(source)
        if not m:
            raise PolicyError("no package declaration", file=rel, line=1)
        if m.group(1) != "rollguard" and not m.group(1).startswith("rollguard."):
            conftest[rel] = source
            continue
        modules[rel] = source
        if path.stem.endswith("_test"):
            tests.append(rel)
            continue
        info = _policy_info(rel, source, defaults=True)
        if info is not None:
            policies.append(replace(info, own=True))
    _check_unique_ids(policies)
    return PolicyBundle(
        root=root,
        modules=modules,
        policies=tuple(policies),
        test_modules=tuple(tests),
        conftest_modules=conftest,
        roots=(root,),
    )


def load_bundle(root: Path, *, require_policies: bool = True) -> PolicyBundle:
    """Read every .rego file under `root` and build the catalogue from METADATA.

    A directory that yields no policy is an error unless `require_policies` is off (then the
    caller says so itself): judging with nothing must never look like a pass.
    """
    if not root.is_dir():
        raise PolicyError(f"policy directory {root} does not exist; pass --policies DIR")
    modules: dict[str, str] = {}
    tests: list[str] = []
    policies: list[PolicyInfo] = []
    for path in sorted(root.rglob("*.rego")):
        rel = path.relative_to(root).as_posix()
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"read policy: {exc}", file=rel) from exc
        modules[rel] = source
        if path.stem.endswith("_test"):
            tests.append(rel)
            continue
        info = _policy_info(rel, source)
        if info is not None:
            policies.append(info)
    _check_unique_ids(policies)
    if not _is_pack(root):
        # The pack's own references are checked by its tests (tests/policy/test_rego.py), not on
        # every start: reading them costs about a tenth of a small check.
        check_library_references({rel: src for rel, src in modules.items() if rel not in tests})
    if require_policies and not policies:
        raise PolicyError(
            "no policies found: every policy is a .rego module in `package rollguard.<domain>.<name>` "
            "with a METADATA block; check --policies",
            file=root.as_posix(),
        )
    return PolicyBundle(root=root, modules=modules, policies=tuple(policies), test_modules=tuple(tests), roots=(root,))


# METADATA a user's policy may leave out (docs/authoring.md); the pack must give every field.
USER_DEFAULT_SEVERITY = "medium"
ANY_KUBERNETES_KIND = "*"


def _policy_info(rel: str, source: str, *, defaults: bool = False) -> PolicyInfo | None:
    """Catalogue entry for a policy module; None for libraries (`rollguard.lib.*`).

    With `defaults` (a user's directory), missing METADATA is filled in: the id from the
    package, severity medium, the id as title, and every Kubernetes kind as `applies_to`.
    """
    m = _PACKAGE.search(source)
    if not m:
        raise PolicyError("no package declaration", file=rel, line=1)
    package = m.group(1)
    package_line = source.count("\n", 0, m.start()) + 1
    if package.startswith("rollguard.lib."):
        return None
    if not _POLICY_PACKAGE.match(package):
        # Loading such a module silently would leave its rules unjudged: the entry module only
        # calls `rollguard.<domain>.<name>.violation`.
        raise PolicyError(
            f"package {package} is neither a policy (`rollguard.<domain>.<name>`) nor a library "
            "(`rollguard.lib.<name>`); rename the package so rollguard can run it",
            file=rel,
            line=package_line,
        )
    meta, line = _package_metadata(source, rel, required=not defaults)
    custom = meta.get("custom") or {}
    if defaults:
        meta, custom = _with_defaults(meta, custom, package)
    pid = custom.get("id")
    if not isinstance(pid, str) or not _ID.match(pid):
        raise PolicyError("METADATA custom.id must be '<domain>.<name>' in snake_case", file=rel, line=line)
    if package != f"rollguard.{pid}":
        raise PolicyError(
            f"package {package} does not match custom.id {pid} (expected rollguard.{pid})", file=rel, line=line
        )
    try:
        severity = Severity.parse(str(custom.get("severity", "")))
    except ValueError as exc:
        raise PolicyError(f"METADATA custom.severity: {exc}", file=rel, line=line) from None
    case_severity = _case_severity(custom.get("case_severity"), rel, line)
    case_remediation = _case_remediation(custom.get("case_remediation"), rel, line)
    for key in ("title", "description"):
        if not isinstance(meta.get(key), str) or not meta[key].strip():
            raise PolicyError(f"METADATA {key} is required", file=rel, line=line)
    params = custom.get("parameters") or {"type": "object", "properties": {}, "additionalProperties": False}
    if not isinstance(params, dict):
        raise PolicyError("METADATA custom.parameters must be a JSON Schema object", file=rel, line=line)
    applies_to = custom.get("applies_to") or []
    if not isinstance(applies_to, list) or not applies_to:
        raise PolicyError("METADATA custom.applies_to must list the kinds the policy judges", file=rel, line=line)
    if not _VIOLATION_RULE.search(source):
        raise PolicyError(
            f"policy {pid} defines no `violation` rule, so it could never report anything; "
            'add `violation contains {"msg": msg, "details": d} if { ... }`',
            file=rel,
            line=package_line,
        )
    needs = custom.get("needs", [])
    if not isinstance(needs, list) or any(n not in NEEDS for n in needs):
        raise PolicyError(f"METADATA custom.needs must list some of: {', '.join(NEEDS)}", file=rel, line=line)
    enforcement = custom.get("enforcement", "deny")
    if enforcement not in ENFORCEMENTS:
        raise PolicyError(f"METADATA custom.enforcement must be one of {', '.join(ENFORCEMENTS)}", file=rel, line=line)
    return PolicyInfo(
        id=pid,
        package=package,
        title=meta["title"].strip(),
        description=" ".join(meta["description"].split()),
        severity=severity,
        controls=tuple(str(c) for c in custom.get("controls") or ()),
        remediation=" ".join(str(custom.get("remediation", "")).split()),
        parameters_schema=params,
        applies_to=tuple(str(k) for k in applies_to),
        file=rel,
        custom=custom,
        case_severity=case_severity,
        case_remediation=case_remediation,
    )


def _with_defaults(meta: dict[str, Any], custom: Any, package: str) -> tuple[dict[str, Any], Any]:
    """METADATA of a user's policy with the fields it leaves out filled in (a malformed `custom`
    is left for the usual checks to report)."""
    if not isinstance(custom, dict):
        return meta, custom
    pid = custom.get("id") or package.removeprefix("rollguard.")
    custom = {"severity": USER_DEFAULT_SEVERITY, "applies_to": [ANY_KUBERNETES_KIND], **custom, "id": pid}
    meta = {**meta, "custom": custom}
    meta.setdefault("title", pid)
    meta.setdefault("description", f"Policy {pid}, from the organisation's own policies.")
    return meta, custom


def _case_severity(value: Any, rel: str, line: int) -> dict[str, Severity]:
    """METADATA `custom.case_severity`: a mapping of case names to severities."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PolicyError("METADATA custom.case_severity must map case names to severities", file=rel, line=line)
    try:
        return {str(case): Severity.parse(str(label)) for case, label in value.items()}
    except ValueError as exc:
        raise PolicyError(f"METADATA custom.case_severity: {exc}", file=rel, line=line) from None


def _case_remediation(value: Any, rel: str, line: int) -> dict[str, str]:
    """METADATA `custom.case_remediation`: a mapping of case names to fixes."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) and v.strip() for v in value.values()):
        raise PolicyError("METADATA custom.case_remediation must map case names to fixes (text)", file=rel, line=line)
    return {str(case): " ".join(text.split()) for case, text in value.items()}


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def fill_template(text: str, details: Mapping[str, Any]) -> str:
    """`text` with each `{{ key }}` replaced by `details[key]` (lists joined with ", ");
    a key the finding does not carry is shown as `<key>`."""

    def value(match: re.Match[str]) -> str:
        found = details.get(match.group(1))
        if isinstance(found, list | tuple):
            return ", ".join(str(v) for v in found)
        if found is None or isinstance(found, dict):
            return f"<{match.group(1)}>"
        return str(found)

    return _PLACEHOLDER.sub(value, text) if "{{" in text else text


def check_library_references(modules: Mapping[str, str], *, only: Collection[str] | None = None) -> None:
    """Refuse a module that uses a `data.rollguard.lib.*` rule no library defines.

    OPA evaluates a reference to a missing rule as undefined, so a misspelt helper would make
    a policy silently never fire; here it is an error naming the file and line. `only` limits
    the modules read for references (every module still defines the libraries).
    """
    defined: dict[str, set[str]] = {}
    for source in modules.values():
        m = _PACKAGE.search(source)
        if m and m.group(1).startswith("rollguard.lib.") and m.group(1).count(".") == 2:
            rules = {name for name in _RULE_HEAD.findall(source) if name not in _KEYWORDS}
            defined.setdefault(m.group(1).rsplit(".", 1)[1], set()).update(rules)
    for rel, source in sorted(modules.items()):
        if only is not None and rel not in only:
            continue
        # Same length, so offsets in `code` are offsets in `source`.
        code = _STRING_OR_COMMENT.sub(lambda t: " " * len(t.group(0)), source)
        refs: list[tuple[str, str, int]] = []
        for m in _LIB_REF.finditer(code):
            refs.append((m.group(1), m.group(2) or "", m.start()))
        aliases: dict[str, str] = {}
        for imported in _IMPORT.finditer(code):
            library, alias = imported.group(1), imported.group(2) or imported.group(1)
            if library not in defined:
                refs.append((library, "", imported.start()))
            else:
                aliases[alias] = library
        if aliases:
            for use in _DOTTED.finditer(code):
                library = aliases.get(use.group(1))
                if library is not None:
                    refs.append((library, use.group(2), use.start()))
        for library, rule, at in refs:
            line = source.count("\n", 0, at) + 1
            if library not in defined:
                known = ", ".join(sorted(defined)) or "none"
                raise PolicyError(
                    f"data.rollguard.lib.{library} is not a library (known: {known}); fix the import",
                    file=rel,
                    line=line,
                )
            if rule and rule not in defined[library]:
                raise PolicyError(
                    f"{library}.{rule} is not defined in data.rollguard.lib.{library}, so it would always be "
                    "undefined and the rule using it would never fire; check the name",
                    file=rel,
                    line=line,
                )


# libyaml's safe loader when PyYAML has it: METADATA of every policy is read on each start.
_METADATA_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _package_metadata(source: str, rel: str, *, required: bool = True) -> tuple[dict[str, Any], int]:
    """The YAML of the METADATA comment block with `scope: package`, and its line; without one,
    an error when `required`, else empty METADATA at the package line."""
    lines = source.splitlines()
    for i, text in enumerate(lines):
        if text.strip() != "# METADATA":
            continue
        block: list[str] = []
        for follow in lines[i + 1 :]:
            if not follow.startswith("#"):
                break
            block.append(follow[2:] if follow.startswith("# ") else follow[1:])
        try:
            meta = yaml.load("\n".join(block), Loader=_METADATA_LOADER) or {}  # noqa: S506 - a safe loader
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = i + 2 + mark.line if mark is not None else i + 1
            raise PolicyError(
                f"METADATA is not valid YAML: {getattr(exc, 'problem', exc)}", file=rel, line=line
            ) from exc
        if isinstance(meta, dict) and meta.get("scope", "rule") in ("package", "subpackages"):
            return meta, i + 1
    if not required:
        match = _PACKAGE.search(source)
        return {}, source.count("\n", 0, match.start()) + 1 if match else 1
    raise PolicyError("missing '# METADATA' block with scope: package", file=rel, line=1)
