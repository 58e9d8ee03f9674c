"""Load a policy directory: Rego sources, their METADATA catalogue and the bundle digest."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rollguard.errors import PolicyError
from rollguard.model import ENFORCEMENTS, Severity

_PACKAGE = re.compile(r"^package\s+([\w.]+)\s*$", re.MULTILINE)
_ID = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


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

    @property
    def domain(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.id.split(".", 1)[1]

    def inventory_for(self, kind: str) -> tuple[str, ...]:
        """Kinds this policy reads from data.inventory when judging a `kind` (METADATA `inventory`)."""
        needs = self.custom.get("inventory")
        if not isinstance(needs, dict):
            return ()
        kinds = needs.get(kind, needs.get("*", []))
        return tuple(k for k in kinds if isinstance(k, str)) if isinstance(kinds, list) else ()

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


def default_policy_dir() -> Path:
    """The policies shipped with rollguard (inside the wheel, or the source tree)."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "bundled_policies", here.parents[1] / "policies"):
        if candidate.is_dir():
            return candidate
    raise PolicyError("no bundled policies found; pass --policies DIR")


def load_bundle(root: Path) -> PolicyBundle:
    """Read every .rego file under `root` and build the catalogue from METADATA."""
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
    seen: dict[str, str] = {}
    for info in policies:
        if info.id in seen:
            raise PolicyError(f"policy id {info.id!r} is also declared in {seen[info.id]}", file=info.file)
        seen[info.id] = info.file
    return PolicyBundle(root=root, modules=modules, policies=tuple(policies), test_modules=tuple(tests))


def _policy_info(rel: str, source: str) -> PolicyInfo | None:
    """Catalogue entry for a policy module; None for libraries (`rollguard.lib.*`)."""
    m = _PACKAGE.search(source)
    if not m:
        raise PolicyError("no package declaration", file=rel, line=1)
    package = m.group(1)
    if package.startswith("rollguard.lib.") or not package.startswith("rollguard."):
        return None
    meta, line = _package_metadata(source, rel)
    custom = meta.get("custom") or {}
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
    for key in ("title", "description"):
        if not isinstance(meta.get(key), str) or not meta[key].strip():
            raise PolicyError(f"METADATA {key} is required", file=rel, line=line)
    params = custom.get("parameters") or {"type": "object", "properties": {}}
    if not isinstance(params, dict):
        raise PolicyError("METADATA custom.parameters must be a JSON Schema object", file=rel, line=line)
    applies_to = custom.get("applies_to") or []
    if not isinstance(applies_to, list) or not applies_to:
        raise PolicyError("METADATA custom.applies_to must list the kinds the policy judges", file=rel, line=line)
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
    )


# libyaml's safe loader when PyYAML has it: METADATA of every policy is read on each start.
_METADATA_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _package_metadata(source: str, rel: str) -> tuple[dict[str, Any], int]:
    """The YAML of the METADATA comment block with `scope: package`, and its line."""
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
    raise PolicyError("missing '# METADATA' block with scope: package", file=rel, line=1)
