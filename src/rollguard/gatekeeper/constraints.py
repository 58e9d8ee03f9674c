"""Third-party Gatekeeper ConstraintTemplates and Constraints, loaded from directories and run in CI as `gator` runs them.

A template's Rego runs as Gatekeeper runs it: input `{"review": ..., "parameters": ...}`, data
holding only `inventory` and the template's libraries, one engine per template. Rego v0 runs
natively on regorus and, upgraded to v1 (`upgrade.upgrade_v0`), on OPA. None of rollguard's
own rules for the templates it generates (`rego.check_gatekeeper_source`) applies here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from rollguard.engine import Engine, create_engine, resolve_engine_name
from rollguard.engine.regorus import RegorusEngine
from rollguard.engine.upgrade import (
    RegoVersion,
    ast_nodes,
    rego_version,
    replace_removed_builtins,
    rule_names,
    separate_bodies,
    separate_statements,
    syntax_tree,
    upgrade_v0,
)
from rollguard.errors import EngineError, PolicyError, RollguardError
from rollguard.gatekeeper.constraint_match import Match, MatchError, group_kind
from rollguard.gatekeeper.documents import TARGET
from rollguard.inputs import iter_input_files, read_input
from rollguard.inputs.k8s import load_text
from rollguard.inputs.yamltext import BaseLoader, line_at, parse_path
from rollguard.model import ENFORCEMENTS, Artifact, Enforcement, Finding, InputProblem, Resource, Severity

TEMPLATE_GROUP = "templates.gatekeeper.sh"
CONSTRAINT_GROUP = "constraints.gatekeeper.sh"
ADMISSION_GROUP = "admission.k8s.io"
POLICY_PREFIX = "gatekeeper."
TITLE_ANNOTATION = "metadata.gatekeeper.sh/title"
# Where rollguard enforces: shift-left, as gator does; `scoped` constraints choose actions per point.
ENFORCEMENT_POINT = "gator.gatekeeper.sh"
# Gatekeeper has no severities; a violation blocks admission, so it is as grave as rollguard's high.
SEVERITY = Severity.HIGH
# The parts of `data` Gatekeeper lets a template read: synced objects and the template's libraries.
DATA_ROOTS = ("inventory", "lib")
# Gatekeeper's bridge to external data providers, which need a running cluster.
EXTERNAL_DATA = "external_data"

Document = Mapping[str, Any]


@dataclass(frozen=True)
class RegoModule:
    """One Rego module of a template: `rego` or `libs[i]`, and where its text starts in the YAML."""

    name: str
    # As written, but for what regorus reads otherwise than OPA: extra rule bodies of v0 as rules
    # of their own (`upgrade.separate_bodies`), `re_match` as `regex.match` (`replace_removed_builtins`),
    # statements ended before a `(` line (`separate_statements`).
    source: str
    version: RegoVersion
    file: str
    line: int  # the YAML file's line of the module's first line

    def v1(self) -> str:
        """The module as Rego v1 (upgraded when written in v0); PolicyError when it cannot be."""
        if self.version == "v1":
            return self.source
        try:
            return upgrade_v0(self.source, file=self.engine_file)
        except PolicyError as exc:
            raise self.located(exc) from exc

    @property
    def engine_file(self) -> str:
        """The module's name inside an engine (errors name it; `located` maps it back)."""
        return f"{re.sub(r'[^A-Za-z0-9_]', '_', self.name)}.rego"

    def located(self, error: RollguardError) -> RollguardError:
        """`error` about this module's text (same class), naming the YAML file and its line."""
        line = self.line + error.line - 1 if error.line else self.line
        return type(error)(f"{self.name}: {error.message}", file=self.file, line=line)


@dataclass(frozen=True)
class Template:
    """A ConstraintTemplate: the constraint kind it defines, its Rego, and where it was read."""

    kind: str
    name: str
    title: str
    package: str
    modules: tuple[RegoModule, ...]  # the main module first, then the libraries
    parameters_schema: Mapping[str, Any] | None
    file: str
    line: int


@dataclass(frozen=True)
class Constraint:
    """A Constraint: its template's kind, match, parameters and what a violation does in CI."""

    kind: str
    name: str
    match: Match
    parameters: Mapping[str, Any]
    # None: a `scoped` constraint with no action for gator.gatekeeper.sh, which CI does not run.
    enforcement: Enforcement | None
    note: str  # why `enforcement` is not what the constraint says, or ""
    file: str
    line: int

    @property
    def policy_id(self) -> str:
        """`gatekeeper.<Kind>.<name>`, the id of its findings (for waivers and enforcement in config)."""
        return f"{POLICY_PREFIX}{self.kind}.{self.name}"


@dataclass(frozen=True)
class Reviewed:
    """One thing to judge: Gatekeeper's `input.review`, the objects to match, and what findings name."""

    review: Mapping[str, Any]
    objects: tuple[Document | None, ...]  # object and old object, for matching
    namespace: str
    resource: Resource
    file: str | None
    line: int | None


def load_constraints(dirs: Sequence[Path], *, engine: str = "auto") -> ConstraintSet:
    """Every ConstraintTemplate and Constraint in the YAML and JSON files under `dirs`.

    Templates are `templates.gatekeeper.sh` documents of kind ConstraintTemplate; constraints are
    documents of the `constraints.gatekeeper.sh` group whose kind a template defines. Everything
    else (sample objects, suites, kustomizations) is not a policy and is left alone. A template
    or constraint that cannot be used is a PolicyError with its file and line in `problems`;
    the others still load. `engine` (opa, regorus, auto) is the default of `ConstraintSet.judge`.
    """
    problems: list[PolicyError] = []
    templates: dict[str, Template] = {}
    refused: dict[str, PolicyError] = {}  # kind → why its template was not loaded
    candidates: list[Artifact] = []
    for artifact in _documents(dirs, problems):
        group = artifact.resource.api_version.rpartition("/")[0]
        if group == TEMPLATE_GROUP and artifact.resource.kind == "ConstraintTemplate":
            try:
                template = read_template(artifact)
            except PolicyError as exc:
                problems.append(exc)
                refused.setdefault(_declared_kind(artifact.document), exc)
                continue
            if template.kind in templates:
                first = templates[template.kind]
                problems.append(
                    PolicyError(
                        f"a second ConstraintTemplate for kind {template.kind} (the first is at "
                        f"{first.file}:{first.line}); remove one",
                        file=template.file,
                        line=template.line,
                    )
                )
                continue
            templates[template.kind] = template
        elif group == CONSTRAINT_GROUP:
            candidates.append(artifact)
    constraints: dict[tuple[str, str], Constraint] = {}
    for artifact in candidates:
        try:
            constraint = read_constraint(artifact, templates, refused=refused)
        except PolicyError as exc:
            problems.append(exc)
            continue
        key = (constraint.kind, constraint.name)
        if key in constraints:
            first_c = constraints[key]
            problems.append(
                PolicyError(
                    f"a second {constraint.kind} named {constraint.name} (the first is at "
                    f"{first_c.file}:{first_c.line}); constraint names are unique per kind",
                    file=constraint.file,
                    line=constraint.line,
                )
            )
            continue
        constraints[key] = constraint
    ordered = tuple(sorted(constraints.values(), key=lambda c: c.policy_id))
    return ConstraintSet(templates=templates, constraints=ordered, problems=tuple(problems), engine=engine)


def _declared_kind(doc: Document) -> str:
    kind = _mapping(_mapping(_mapping(_mapping(doc.get("spec")).get("crd")).get("spec")).get("names")).get("kind")
    return kind if isinstance(kind, str) else ""


def _documents(dirs: Sequence[Path], problems: list[PolicyError]) -> Iterator[Artifact]:
    """The documents of every file under `dirs` that mentions a Gatekeeper API group."""
    walk_problems: list[InputProblem] = []
    for name, path in iter_input_files([str(d) for d in dirs], problems=walk_problems):
        text, problem = read_input(name, path)
        if problem is not None:
            problems.append(PolicyError(problem.message, file=problem.file, line=problem.line))
        if text is None:
            continue
        # Only files naming a Gatekeeper group can hold templates or constraints: the others
        # (sample objects, kustomizations) are not parsed, so their oddities raise nothing.
        if TEMPLATE_GROUP not in text and CONSTRAINT_GROUP not in text:
            continue
        artifacts, bad = load_text(name, text)
        problems.extend(PolicyError(p.message, file=p.file, line=p.line) for p in bad)
        yield from artifacts
    problems.extend(PolicyError(p.message, file=p.file, line=p.line) for p in walk_problems)


def read_template(artifact: Artifact) -> Template:
    """A ConstraintTemplate document as a Template; PolicyError naming the field's file and line.

    What Gatekeeper itself refuses is refused: a name that is not the kind in lower case, no
    Rego for the admission target, a main module without `violation`, a library outside
    `lib.`, Rego that does not parse, `data` read outside `inventory` and `lib`.
    """
    doc = artifact.document
    here = _Locator(artifact)
    spec = _mapping(doc.get("spec"))
    kind = _mapping(_mapping(_mapping(spec.get("crd")).get("spec")).get("names")).get("kind")
    if not isinstance(kind, str) or not kind:
        raise here.error("spec.crd.spec.names.kind", "a ConstraintTemplate must name the kind of its constraints")
    meta = _mapping(doc.get("metadata"))
    name = meta.get("name")
    if name != kind.lower():
        raise here.error(
            "metadata.name",
            f"the template's name must be its kind in lower case ({kind.lower()!r}), as Gatekeeper requires",
        )
    targets = spec.get("targets")
    if not isinstance(targets, list) or len(targets) != 1 or not isinstance(targets[0], Mapping):
        raise here.error("spec.targets", f"a ConstraintTemplate has exactly one target, {TARGET}")
    target = targets[0]
    if target.get("target") != TARGET:
        raise here.error("spec.targets[0].target", f"the target must be {TARGET}")
    modules = _rego_modules(target, here)
    main = modules[0]
    rules = rule_names(main.tree)
    if "violation" not in rules:
        raise here.error(main.path, "the Rego defines no `violation` rule, which Gatekeeper requires")
    package = _package(main.tree, main.source)
    for lib in modules[1:]:
        lib_package = _package(lib.tree, lib.source)
        if not lib_package.startswith("lib."):
            raise lib.module.located(
                PolicyError(f"library package {lib_package} is not under lib., which Gatekeeper requires", line=1)
            )
    for module in modules:
        _check_references(module)
    annotations = _mapping(meta.get("annotations"))
    title = annotations.get(TITLE_ANNOTATION)
    validation = _mapping(_mapping(spec.get("crd")).get("spec")).get("validation")
    schema = _mapping(validation).get("openAPIV3Schema") if isinstance(validation, Mapping) else None
    return Template(
        kind=kind,
        name=str(name),
        title=title if isinstance(title, str) and title.strip() else kind,
        package=package,
        modules=tuple(m.module for m in modules),
        parameters_schema=schema if isinstance(schema, Mapping) else None,
        file=artifact.file,
        line=artifact.line,
    )


@dataclass(frozen=True)
class _Located:
    """A module being read, with the YAML path of its text (for errors)."""

    module: RegoModule
    path: str
    tree: dict[str, Any]

    @property
    def source(self) -> str:
        return self.module.source


def _rego_modules(target: Mapping[str, Any], here: _Locator) -> list[_Located]:
    """The Rego of a target: `code: [{engine: Rego, source: {rego, libs, version}}]`, else the legacy
    `rego` and `libs` fields (Rego v0)."""
    prefix, source, declared = "spec.targets[0]", target, None
    codes = _list(target.get("code"))
    for i, code in enumerate(codes):
        if isinstance(code, Mapping) and code.get("engine") == "Rego":
            prefix, source = f"spec.targets[0].code[{i}].source", _mapping(code.get("source"))
            declared = source.get("version") if isinstance(source.get("version"), str) else None
            break
    else:
        if not isinstance(target.get("rego"), str):
            engines = sorted({str(c.get("engine")) for c in codes if isinstance(c, Mapping)})
            unsupported = f" (its {', '.join(engines)} code is not supported)" if engines else ""
            raise here.error("spec.targets[0]", f"the template has no Rego code{unsupported}")
    rego = source.get("rego")
    if not isinstance(rego, str) or not rego.strip():
        raise here.error(f"{prefix}.rego", "the Rego source is missing or empty")
    libs = source.get("libs") or []
    if not isinstance(libs, list) or not all(isinstance(lib, str) for lib in libs):
        raise here.error(f"{prefix}.libs", "libs must be a list of Rego sources")
    texts = [("rego", f"{prefix}.rego", rego)] + [
        (f"libs[{i}]", f"{prefix}.libs[{i}]", lib) for i, lib in enumerate(libs)
    ]
    out = []
    for name, path, text in texts:
        first = here.text_line(path)
        probe = RegoModule(name=name, source=text, version="v1", file=here.file, line=first)
        try:
            version = rego_version(text, file=probe.engine_file, declared=declared)
            if version == "v0":
                text = separate_bodies(text, file=probe.engine_file)
                text = replace_removed_builtins(text, file=probe.engine_file)
            text = separate_statements(text, file=probe.engine_file, version=version)
        except PolicyError as exc:
            raise probe.located(exc) from exc
        module = RegoModule(name=name, source=text, version=version, file=here.file, line=first)
        try:
            tree = syntax_tree(module.source, file=module.engine_file, version=module.version)
        except PolicyError as exc:
            raise module.located(exc) from exc
        out.append(_Located(module=module, path=path, tree=tree))
    return out


def _package(tree: Mapping[str, Any], source: str) -> str:
    span = next(iter(tree["package"]["refr"].values()))["span"]
    return source.encode("utf-8")[span["start"] : span["end"]].decode("utf-8")


def _check_references(located: _Located) -> None:
    """Gatekeeper's rewriter refuses `data` outside inventory and lib, and has no external data here."""
    module = located.module
    data = module.source.encode("utf-8")
    for kind, node in ast_nodes(located.tree):
        if kind in ("RefDot", "RefBrack") and node["refr"].get("Var", {}).get("value") == "data":
            first = node["field"][1] if kind == "RefDot" else _literal(node.get("index"))
            if first not in DATA_ROOTS:
                shown = data[node["span"]["start"] : node["span"]["end"]].decode("utf-8")
                raise module.located(
                    PolicyError(
                        f"refers to {shown}; Gatekeeper lets a template read only data.inventory and data.lib",
                        line=node["span"]["line"],
                    )
                )
        elif kind == "Call" and node["fcn"].get("Var", {}).get("value") == EXTERNAL_DATA:
            raise module.located(
                PolicyError(
                    "calls external_data (a Gatekeeper external data provider), which needs a cluster; "
                    "rollguard cannot run this template in CI",
                    line=node["span"]["line"],
                )
            )


def _literal(node: Any) -> Any:
    if isinstance(node, Mapping) and "String" in node:
        return node["String"].get("value")
    return None


def read_constraint(
    artifact: Artifact, templates: Mapping[str, Template], *, refused: Mapping[str, PolicyError] | None = None
) -> Constraint:
    """A Constraint document; PolicyError when its template is missing or its spec is malformed.

    `refused` (kind → error) names templates that exist but could not be loaded.
    """
    doc = artifact.document
    here = _Locator(artifact)
    kind = artifact.resource.kind
    template = templates.get(kind)
    if template is None:
        why = (refused or {}).get(kind)
        if why is not None:
            raise here.error("kind", f"the ConstraintTemplate of kind {kind} ({why.location()}) could not be loaded")
        raise here.error(
            "kind",
            f"no ConstraintTemplate defines kind {kind}; add its template to the --gatekeeper directories",
        )
    name = _mapping(doc.get("metadata")).get("name")
    if not isinstance(name, str) or not name:
        raise here.error("metadata.name", "a constraint needs a name")
    spec = doc.get("spec") if doc.get("spec") is not None else {}
    if not isinstance(spec, Mapping):
        raise here.error("spec", "must be a mapping")
    try:
        match = Match.parse(spec.get("match"))
    except MatchError as exc:
        raise here.error(f"spec.match.{exc.path}".rstrip("."), exc.reason) from exc
    parameters = spec.get("parameters") if spec.get("parameters") is not None else {}
    if not isinstance(parameters, Mapping):
        raise here.error("spec.parameters", "must be a mapping")
    _check_parameters(parameters, template, here)
    enforcement, note = enforcement_of(spec)
    return Constraint(
        kind=kind,
        name=name,
        match=match,
        parameters=dict(parameters),
        enforcement=enforcement,
        note=note,
        file=artifact.file,
        line=artifact.line,
    )


def enforcement_of(spec: Mapping[str, Any]) -> tuple[Enforcement | None, str]:
    """What a violation of the constraint does in CI, and a note when that is rollguard's reading.

    `deny`, `warn` and `dryrun` are themselves; `scoped` takes the actions listed for
    gator.gatekeeper.sh or `*` (the strictest when several; None, not run, when none);
    anything else is judged as deny, with a note saying so.
    """
    action = spec.get("enforcementAction") or "deny"
    if action != "scoped":
        return _action(action, where="spec.enforcementAction")
    actions: list[tuple[Enforcement, str]] = []
    for i, entry in enumerate(_list(spec.get("scopedEnforcementActions"))):
        points = _list(_mapping(entry).get("enforcementPoints"))
        names = {str(_mapping(p).get("name", "")).lower() for p in points}
        if names & {"*", ENFORCEMENT_POINT}:
            actions.append(_action(_mapping(entry).get("action"), where=f"spec.scopedEnforcementActions[{i}].action"))
    if not actions:
        return None, ""
    strictest = min(actions, key=lambda a: ENFORCEMENTS.index(a[0]))
    return strictest[0], "; ".join(note for _, note in actions if note)


def _action(value: Any, *, where: str) -> tuple[Enforcement, str]:
    for known in ENFORCEMENTS:
        if value == known:
            return known, ""
    return "deny", (
        f"{where} {value!r} is not deny, warn, dryrun or scoped; rollguard judges it as deny: fix the constraint"
    )


def _check_parameters(parameters: Mapping[str, Any], template: Template, here: _Locator) -> None:
    """Refuse parameters the template's schema rejects, as the API server refuses such a constraint."""
    if not template.parameters_schema:
        return
    schema = _json_schema(template.parameters_schema)
    try:
        validator = jsonschema.Draft4Validator(schema)
        error = next(iter(sorted(validator.iter_errors(dict(parameters)), key=lambda e: list(e.path))), None)
    except jsonschema.exceptions.SchemaError as exc:
        raise PolicyError(
            f"the openAPIV3Schema of ConstraintTemplate {template.name} is not a valid schema: {exc.message}",
            file=template.file,
            line=template.line,
        ) from exc
    if error is not None:
        path = "spec.parameters" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
        raise here.error(path, f"does not fit the template's schema: {error.message}")


# Keywords whose value is a schema, a list of schemas, or a map of names to schemas.
_SUBSCHEMA = frozenset({"items", "additionalProperties", "not"})
_SUBSCHEMAS = frozenset({"allOf", "anyOf", "oneOf"})
_NAMED_SUBSCHEMAS = frozenset({"properties", "patternProperties", "definitions"})


def _json_schema(node: Any) -> Any:
    """An OpenAPI v3.0 schema as JSON Schema draft 4: `nullable` admits null, int-or-string admits both."""
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key in _SUBSCHEMA:
            out[key] = _json_schema(value)
        elif key in _SUBSCHEMAS and isinstance(value, list):
            out[key] = [_json_schema(v) for v in value]
        elif key in _NAMED_SUBSCHEMAS and isinstance(value, Mapping):
            out[key] = {name: _json_schema(v) for name, v in value.items()}
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    elif node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


class _Locator:
    """Errors and lines of the fields of one document."""

    def __init__(self, artifact: Artifact) -> None:
        self.artifact = artifact
        self.file = artifact.file

    def line(self, path: str) -> int:
        source = self.artifact.source
        found = line_at(source, path) if source is not None else None
        return found if found is not None else self.artifact.line

    def text_line(self, path: str) -> int:
        """The line where the text of the string at `path` starts (after `|` for a block scalar)."""
        line = self.line(path)
        node = self._node(path)
        if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
            return line + 1
        return line

    def error(self, path: str, message: str) -> PolicyError:
        return PolicyError(f"{path}: {message}", file=self.file, line=self.line(path))

    def _node(self, path: str) -> yaml.Node | None:
        source, tokens = self.artifact.source, parse_path(path)
        if source is None or tokens is None:
            return None
        try:
            node: Any = yaml.compose(source.text[source.start : source.end], Loader=BaseLoader)
        except yaml.YAMLError:
            return None
        for token in (*source.prefix, *tokens):
            if isinstance(node, yaml.MappingNode) and isinstance(token, str):
                node = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == token), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(token, int) and token < len(node.value):
                node = node.value[token]
            else:
                return None
        return node if isinstance(node, yaml.Node) else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# --- judging -----------------------------------------------------------------------------------


def inventory_of(objects: Iterable[Document | Artifact]) -> dict[str, Any]:
    """Gatekeeper's `data.inventory` holding `objects`, as gator fills it from its inputs.

    `namespace[ns][groupVersion][kind][name]` for objects with a namespace and
    `cluster[groupVersion][kind][name]` for the others (gator keys by `metadata.namespace`
    alone, so a namespaced kind written without one lands under `cluster`). AdmissionReviews
    and unnamed objects are left out.
    """
    namespaced: dict[str, Any] = {}
    cluster: dict[str, Any] = {}
    for item in objects:
        doc = item.document if isinstance(item, Artifact) else item
        api, kind = doc.get("apiVersion"), doc.get("kind")
        meta = _mapping(doc.get("metadata"))
        name, ns = meta.get("name"), meta.get("namespace")
        if not (isinstance(api, str) and isinstance(kind, str) and isinstance(name, str) and name):
            continue
        if _is_admission_review(doc):
            continue
        if isinstance(ns, str) and ns:
            namespaced.setdefault(ns, {}).setdefault(api, {}).setdefault(kind, {})[name] = doc
        else:
            cluster.setdefault(api, {}).setdefault(kind, {})[name] = doc
    return {"namespace": namespaced, "cluster": cluster}


def review_of(item: Document | Artifact) -> Reviewed:
    """Gatekeeper's `input.review` for an object (as gator builds it: no operation, no user) or for
    the request of an AdmissionReview document (as `gator verify` replays it)."""
    artifact = item if isinstance(item, Artifact) else None
    doc: Document = item.document if isinstance(item, Artifact) else item
    if _is_admission_review(doc):
        return _review_of_request(doc, artifact)
    group, kind = group_kind(doc)
    api = str(doc.get("apiVersion", ""))
    meta = _mapping(doc.get("metadata"))
    name = meta.get("name") if isinstance(meta.get("name"), str) else ""
    namespace = meta.get("namespace") if isinstance(meta.get("namespace"), str) else ""
    review: dict[str, Any] = {
        "uid": "",
        "kind": {"group": group, "version": api.rpartition("/")[2], "kind": kind},
        "resource": {"group": "", "version": "", "resource": ""},
        "operation": "",
        "userInfo": {},
        "object": doc,
        "oldObject": None,
        "options": None,
    }
    if name:
        review["name"] = name
    if namespace:
        review["namespace"] = namespace
    return Reviewed(
        review=review,
        objects=(doc,),
        namespace=str(namespace),
        resource=artifact.resource if artifact is not None else _resource(doc),
        file=artifact.file if artifact is not None else None,
        line=artifact.line if artifact is not None else None,
    )


def _review_of_request(doc: Document, artifact: Artifact | None) -> Reviewed:
    request = _mapping(doc.get("request"))
    review: dict[str, Any] = {
        "uid": "",
        "kind": {"group": "", "version": "", "kind": ""},
        "resource": {"group": "", "version": "", "resource": ""},
        "operation": "",
        "userInfo": {},
        "object": None,
        "oldObject": None,
        "options": None,
    }
    review.update(request)
    if review.get("operation") == "DELETE" and review.get("object") is None:
        review["object"] = review.get("oldObject")  # Gatekeeper judges what is being deleted
    obj = review.get("object") if isinstance(review.get("object"), Mapping) else review.get("oldObject")
    shown = obj if isinstance(obj, Mapping) else {}
    namespace = review.get("namespace") if isinstance(review.get("namespace"), str) else ""
    return Reviewed(
        review=review,
        objects=(review.get("object"), review.get("oldObject")),
        namespace=str(namespace),
        resource=_resource(shown) if shown else artifact.resource if artifact is not None else _resource(doc),
        file=artifact.file if artifact is not None else None,
        line=artifact.line if artifact is not None else None,
    )


def _is_admission_review(doc: Document) -> bool:
    return doc.get("kind") == "AdmissionReview" and str(doc.get("apiVersion", "")).startswith(ADMISSION_GROUP + "/")


def _resource(doc: Document) -> Resource:
    meta = _mapping(doc.get("metadata"))
    name, ns = meta.get("name"), meta.get("namespace")
    return Resource(
        api_version=str(doc.get("apiVersion", "")),
        kind=str(doc.get("kind", "")),
        namespace=ns if isinstance(ns, str) and ns else None,
        name=name if isinstance(name, str) and name else "<unnamed>",
    )


def _namespace_object(inventory: Mapping[str, Any], name: str) -> Document | None:
    """The synced Namespace `name` (core v1), which namespaceSelector reads, as Gatekeeper's cache holds it."""
    if not name:
        return None
    found = _mapping(_mapping(_mapping(inventory.get("cluster")).get("v1")).get("Namespace")).get(name)
    return found if isinstance(found, Mapping) else None


# regorus names the place of an evaluation error inside its message: `--> rego.rego:8:105 ... error: why`.
_REGORUS_WHERE = re.compile(r"-->\s*(?P<file>\S+?\.rego):(?P<line>\d+)")
_REGORUS_WHY = re.compile(r"\berror:\s*(?P<why>.*)$")


def _with_location(error: RollguardError) -> RollguardError:
    """An engine error whose message names a module and line, with them as its file and line."""
    where = _REGORUS_WHERE.search(error.message)
    if error.file or where is None:
        return error
    why = _REGORUS_WHY.search(error.message)
    return type(error)(why["why"] if why else error.message, file=where["file"], line=int(where["line"]))


class CompiledTemplate:
    """A template's modules loaded in one engine (compiled once, reused for every review)."""

    def __init__(self, template: Template, engine: str) -> None:
        self.template = template
        self.engine_name = engine
        self._by_file = {m.engine_file: m for m in template.modules}
        self._inventory: str | None = None
        versions = {m.version for m in template.modules}
        # regorus runs v0 natively; OPA takes v1 only, and a mixed template runs upgraded everywhere.
        native_v0 = engine == "regorus" and versions == {"v0"}
        self.engine: Engine = RegorusEngine(rego_v0=True) if native_v0 else create_engine(engine)
        try:
            sources = {m.engine_file: m.source if native_v0 else m.v1() for m in template.modules}
            self.engine.load(sources)
        except PolicyError as exc:
            raise self.located(exc) from exc

    def located(self, error: RollguardError) -> RollguardError:
        """`error` with the template's YAML file and line when it names one of its modules."""
        module = self._by_file.get(error.file or "")
        return module.located(error) if module is not None else error

    def set_inventory(self, inventory: Mapping[str, Any], key: str) -> None:
        """Replace `data.inventory` unless it already holds the inventory `key` (its JSON) stands for.

        On OPA replacing data recompiles the modules, so an unchanged inventory is not sent again.
        """
        if key != self._inventory:
            self.engine.set_data({"inventory": inventory})
            self._inventory = key

    def violations(self, review: Mapping[str, Any], parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Gatekeeper's results: `{"msg", "details"}` of each violation, duplicates merged, sorted."""
        try:
            raw = self.engine.evaluate(
                f"{self.template.package}.violation", {"review": review, "parameters": parameters}
            )
        except (EngineError, PolicyError) as exc:
            raise self.located(_with_location(exc)) from exc
        out: dict[str, dict[str, Any]] = {}
        for r in raw or []:
            if not isinstance(r, Mapping) or not isinstance(r.get("msg"), str):
                raise EngineError(f"violation gave a result without a string msg: {json.dumps(r)[:200]}")
            details = r.get("details", {})
            result = {"msg": r["msg"], "details": details}
            out[json.dumps(result, sort_keys=True)] = result
        return [out[k] for k in sorted(out)]


@dataclass
class ConstraintSet:
    """Templates and constraints loaded by `load_constraints`, and the engines compiled for them."""

    templates: Mapping[str, Template]
    constraints: tuple[Constraint, ...]
    problems: tuple[PolicyError, ...] = ()
    engine: str = "auto"
    _compiled: dict[tuple[str, str], CompiledTemplate | RollguardError] = field(default_factory=dict, repr=False)

    def judge(
        self,
        objects: Sequence[Document | Artifact],
        inventory: Mapping[str, Any] | None = None,
        *,
        engine: str | None = None,
        policies: Collection[str] | None = None,
    ) -> list[Finding]:
        """One Finding per violation of each constraint matching each of `objects`.

        `inventory` is Gatekeeper's `data.inventory`; None builds it from `objects` (`inventory_of`),
        as `gator test` does. AdmissionReview documents are judged as their request. `policies`
        limits the run to those constraint ids. A constraint that cannot be evaluated for an
        object gives a finding with `error` set, never silence.
        """
        engine_name = resolve_engine_name(engine or self.engine)
        inventory = inventory_of(objects) if inventory is None else inventory
        key = json.dumps(inventory, sort_keys=True, default=str)
        findings: list[Finding] = []
        chosen = [
            c for c in self.constraints if c.enforcement is not None and (policies is None or c.policy_id in policies)
        ]
        for item in objects:
            reviewed = review_of(item)
            namespace = _namespace_object(inventory, reviewed.namespace)
            for constraint in chosen:
                findings.extend(self._judge_one(constraint, reviewed, namespace, (inventory, key), engine_name))
        return findings

    def only(self, constraints: Iterable[Constraint]) -> ConstraintSet:
        """The same templates, with their compiled engines, judging just `constraints`."""
        return ConstraintSet(
            templates=self.templates,
            constraints=tuple(constraints),
            problems=self.problems,
            engine=self.engine,
            _compiled=self._compiled,
        )

    def _judge_one(
        self,
        constraint: Constraint,
        reviewed: Reviewed,
        namespace: Document | None,
        inventory: tuple[Mapping[str, Any], str],
        engine: str,
    ) -> list[Finding]:
        try:
            if not constraint.match.matches_any(reviewed.objects, namespace):
                return []
            compiled = self.compiled(constraint.kind, engine)
            compiled.set_inventory(*inventory)
            violations = compiled.violations(reviewed.review, constraint.parameters)
        except (EngineError, PolicyError) as exc:
            where = f" ({exc.location()})" if exc.location() else ""
            return [
                self._finding(
                    constraint, reviewed, f"constraint could not be evaluated: {exc.message}{where}", {}, error=True
                )
            ]
        return [self._finding(constraint, reviewed, v["msg"], v["details"]) for v in violations]

    def compiled(self, kind: str, engine: str) -> CompiledTemplate:
        """The template of `kind` compiled in `engine` (once; a failure is kept and raised again)."""
        key = (kind, resolve_engine_name(engine))
        if key not in self._compiled:
            try:
                self._compiled[key] = CompiledTemplate(self.templates[kind], key[1])
            except (EngineError, PolicyError) as exc:
                self._compiled[key] = exc
        found = self._compiled[key]
        if isinstance(found, RollguardError):
            raise found
        return found

    def _finding(
        self,
        constraint: Constraint,
        reviewed: Reviewed,
        message: str,
        details: Any,
        *,
        error: bool = False,
    ) -> Finding:
        template = self.templates[constraint.kind]
        assert constraint.enforcement is not None
        return Finding(
            policy=constraint.policy_id,
            title=template.title,
            severity=SEVERITY,
            message=message,
            resource=reviewed.resource,
            file=reviewed.file,
            line=reviewed.line,
            remediation=constraint.note,
            enforcement=constraint.enforcement,
            details=details if isinstance(details, Mapping) else {"details": details},
            error=error,
        )
