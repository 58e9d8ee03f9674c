"""Terraform plans (`terraform show -json PLANFILE`): one `TerraformPlan` document per plan file (docs/terraform.md)."""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from rollguard.inputs.jsontext import load_json_artifact
from rollguard.inputs.sniff import might_be_plan
from rollguard.model import Artifact, InputProblem

API_VERSION = "rollguard.io/v1"
KIND = "TerraformPlan"
SUPPORTED_MAJOR = ("0", "1")  # format_version majors; a new major is a breaking change by Terraform's promise

AUTOSCALING_GROUP = "aws_autoscaling_group"
TARGET_GROUPS = frozenset({"aws_lb_target_group", "aws_alb_target_group"})
CLASSIC_ELBS = frozenset({"aws_elb"})
LOAD_BALANCERS = frozenset({"aws_lb", "aws_alb"}) | CLASSIC_ELBS
LISTENERS = frozenset({"aws_lb_listener", "aws_alb_listener", "aws_lb_listener_rule", "aws_alb_listener_rule"})
LAUNCH_SOURCES = frozenset({"aws_launch_template", "aws_launch_configuration"})
# What a target can be attached to: target groups and classic ELBs (also as data sources).
BALANCER_TYPES = TARGET_GROUPS | CLASSIC_ELBS
# ASG attributes whose change makes the group launch different instances (what triggers an instance refresh).
LAUNCH_ATTRIBUTES = ("launch_template", "launch_configuration", "mixed_instances_policy")

_PLAN_KEYS = ('"resource_changes"', '"planned_values"', '"terraform_version"')
_INDEX = re.compile(r'\[(?:"(?:[^"\\]|\\.)*"|[^\]]*)\]')
_RESOURCE_CHANGES = re.compile(r'"resource_changes"\s*:\s*\[')
_REFERENCE_SKIP = ("var", "local", "count", "each", "path", "terraform", "self")

ModulePath = tuple[str, ...]


def is_plan(name: str, text: str) -> bool:
    """Whether an input is meant as a Terraform JSON plan: an object with `format_version` and plan keys.

    Decided from content, like Trivy reports. A truncated plan still starts with `format_version`
    (Terraform writes it first), so it is claimed here and its loader reports the JSON error.
    """
    if not might_be_plan(text):
        return False
    stripped = text.lstrip("\ufeff \t\r\n")
    try:
        doc = json.loads(stripped)
    except (ValueError, RecursionError):  # the loader reports either, with its line
        head = stripped[:512]
        return '"format_version"' in head and any(k in stripped for k in _PLAN_KEYS)
    return (
        isinstance(doc, dict)
        and "format_version" in doc
        and any(k in doc for k in ("resource_changes", "planned_values", "terraform_version"))
    )


def load_text(name: str, text: str) -> tuple[list[Artifact], list[InputProblem]]:
    """The `terraform` artifact of one plan file, and the problems met reading it."""
    return load_json_artifact(
        name,
        text,
        artifact_kind="terraform",
        resource=(API_VERSION, KIND),
        what="a Terraform plan",
        advice="write it again with `terraform show -json PLANFILE > FILE`",
        shape=_shape_problem,
        build=_document,
    )


def _shape_problem(name: str, raw: Any) -> InputProblem | None:
    """Why a parsed JSON value is not a usable plan, or None."""
    if not isinstance(raw, dict):
        return InputProblem(name, 1, f"expected a Terraform JSON plan (an object), got a JSON {type(raw).__name__}")
    version = raw.get("format_version")
    if not isinstance(version, str) or version.split(".", 1)[0] not in SUPPORTED_MAJOR:
        return InputProblem(
            name,
            1,
            f"unsupported Terraform JSON format_version {version!r}; rollguard reads format 0.x and 1.x "
            "(`terraform show -json` of Terraform 0.12 and later)",
        )
    if "resource_changes" not in raw and "planned_values" not in raw:
        return InputProblem(
            name,
            1,
            "a Terraform JSON document without resource_changes or planned_values is state, not a plan: "
            "judge the plan (`terraform plan -out=PLANFILE && terraform show -json PLANFILE`)",
        )
    if raw.get("resource_changes") is not None and not isinstance(raw["resource_changes"], list):
        return InputProblem(name, 1, "resource_changes should be a JSON array; check the file")
    return None


def _document(name: str, raw: Mapping[str, Any], text: str, problems: list[InputProblem]) -> dict[str, Any]:
    """The normalised TerraformPlan document."""
    config = Configuration.of(raw.get("configuration"))
    changes = _resource_changes(name, raw.get("resource_changes") or [], text, problems)
    edges = _load_balancing(config, changes)
    # Replaced or updated, by base address: any instance of a counted resource counts.
    changing = {c["base_address"] for c in changes if {"update", "delete"} & set(c["actions"])}
    for change in changes:
        change["references"] = config.references.get(change["base_address"], {})
        change["load_balanced_by"] = _unique(
            {"balancer": e["balancer"], "via": e["via"]} for e in edges if e["target"] == change["base_address"]
        )
        change["autoscaling"] = _autoscaling(change, config, changing) if change["type"] == AUTOSCALING_GROUP else None
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": PurePosixPath(name).name},
        "file": name,
        "format_version": raw["format_version"],
        "terraform_version": _str_or_none(raw.get("terraform_version")),
        "resource_changes": changes,
        "load_balancing": edges,
    }


# --- resource changes ---


def _resource_changes(name: str, entries: list[Any], text: str, problems: list[InputProblem]) -> list[dict[str, Any]]:
    lines = _AddressLines(text)
    changes: list[dict[str, Any]] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("address"), str):
            problems.append(InputProblem(name, None, f"resource_changes[{index}] has no address; it was not judged"))
            continue
        change = _object(entry.get("change"))
        actions = [a for a in change.get("actions") or [] if isinstance(a, str)]
        address = entry["address"]
        changes.append(
            {
                "address": address,
                "base_address": base_address(address),
                "module_address": _str_or_none(entry.get("module_address")),
                "mode": _str_or_none(entry.get("mode")) or "managed",
                "type": _str_or_none(entry.get("type")) or "",
                "name": _str_or_none(entry.get("name")) or "",
                "index": entry.get("index"),
                "provider": _str_or_none(entry.get("provider_name")),
                "actions": actions,
                "action_reason": _str_or_none(entry.get("action_reason")),
                "replace": "create" in actions and "delete" in actions,
                # Terraform writes the order it will apply: create first means create_before_destroy is in effect
                # (set on the resource or inherited from a dependent that has it).
                "create_before_destroy": actions == ["create", "delete"],
                "before": change.get("before"),
                "after": change.get("after"),
                "after_unknown": change.get("after_unknown") if change.get("after_unknown") is not None else {},
                "replace_paths": change.get("replace_paths") or [],
                "line": lines.line_of(address),
            }
        )
    return changes


class _AddressLines:
    """The line where each resource change starts: the n-th `"address": "<addr>"` after `"resource_changes": [`.

    Terraform writes each change's `address` key first, in array order, so scanning forward from the
    previous match finds each change's own key, not an attribute of the same name further on. A plan
    written on one line (`terraform show -json` prints compact JSON) has every change on line 1.
    """

    def __init__(self, text: str) -> None:
        self._text = text
        start = _RESOURCE_CHANGES.search(text)
        self._position = start.end() if start else 0
        self._newlines = [i for i, c in enumerate(text) if c == "\n"]

    def line_of(self, address: str) -> int:
        key = re.compile(r'"address"\s*:\s*' + re.escape(json.dumps(address)))
        found = key.search(self._text, self._position)
        if found is None:  # escaped differently than json.dumps would: point at the array, not at nothing
            return bisect.bisect_right(self._newlines, self._position) + 1
        self._position = found.end()
        return bisect.bisect_right(self._newlines, found.start()) + 1


def base_address(address: str) -> str:
    """A resource address without instance keys: `module.a[0].aws_instance.web["x"]` → `module.a.aws_instance.web`."""
    return _INDEX.sub("", address)


# --- configuration: references between resources, through module variables and outputs ---


@dataclass
class Configuration:
    """What the plan's `configuration` says about each resource: its type and what each attribute refers to."""

    types: dict[str, str] = field(default_factory=dict)  # base address → resource type
    references: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # address → attribute → addresses
    attributes: dict[str, set[str]] = field(default_factory=dict)  # address → attributes the configuration sets

    @classmethod
    def of(cls, raw: Any) -> Configuration:
        """Read `configuration.root_module` and every module under it; anything malformed is skipped."""
        config = cls()
        root = raw.get("root_module") if isinstance(raw, dict) else None
        if isinstance(root, dict):
            by_path = {m.path: m for m in _modules(root, (), {})}
            for module in by_path.values():
                for resource in _objects(module.body.get("resources")):
                    config._add(module.path, resource, by_path)
        return config

    def _add(self, path: ModulePath, resource: Mapping[str, Any], by_path: Mapping[ModulePath, _Module]) -> None:
        rtype, rname = resource.get("type"), resource.get("name")
        if not isinstance(rtype, str) or not isinstance(rname, str):
            return
        local = f"data.{rtype}.{rname}" if resource.get("mode") == "data" else f"{rtype}.{rname}"
        address = _prefix(path) + local
        self.types[address] = rtype
        expressions = _object(resource.get("expressions"))
        refs: dict[str, list[str]] = {}
        for attribute, expression in expressions.items():
            found = sorted({a for r in _raw_references(expression) for a in _resolve(r, path, by_path, depth=0)})
            if found:
                refs[str(attribute)] = found
        self.references[address] = refs
        self.attributes[address] = {str(a) for a, e in expressions.items() if e is not None}

    def sets(self, address: str, attribute: str) -> bool:
        """Whether the configuration gives `attribute` a value (constant or expression) for this resource."""
        return attribute in self.attributes.get(address, set())

    def referenced(self, address: str, attributes: Iterable[str], types: frozenset[str]) -> list[str]:
        """Addresses of resources of `types` that these attributes of `address` refer to."""
        refs = self.references.get(address, {})
        return sorted({a for attr in attributes for a in refs.get(attr, []) if _type_of(a) in types})


@dataclass(frozen=True)
class _Module:
    """One module of the configuration: where it sits, its body, and the `module` block that calls it."""

    path: ModulePath  # module names from the root: ("app", "iam") is module.app.module.iam
    body: Mapping[str, Any]
    call: Mapping[str, Any]


def _modules(body: Mapping[str, Any], path: ModulePath, call: Mapping[str, Any]) -> Iterator[_Module]:
    yield _Module(path, body, call)
    calls = body.get("module_calls")
    for call_name, child_call in calls.items() if isinstance(calls, dict) else []:
        child = child_call.get("module") if isinstance(child_call, dict) else None
        if isinstance(child, dict):
            yield from _modules(child, (*path, str(call_name)), child_call)


def _objects(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _prefix(path: ModulePath) -> str:
    return "".join(f"module.{p}." for p in path)


def _raw_references(expression: Any) -> Iterator[str]:
    """Every reference string in an expression, including nested blocks (lists of expression objects)."""
    if isinstance(expression, dict):
        refs = expression.get("references")
        if isinstance(refs, list):
            yield from (r for r in refs if isinstance(r, str))
        for key, value in expression.items():
            if key not in ("references", "constant_value"):
                yield from _raw_references(value)
    elif isinstance(expression, list):
        for item in expression:
            yield from _raw_references(item)


def _resolve(ref: str, path: ModulePath, by_path: Mapping[ModulePath, _Module], *, depth: int) -> set[str]:
    """The resource addresses a reference leads to, following module variables and outputs."""
    if depth > 16:
        return set()
    parts = base_address(ref).split(".")
    head = parts[0]
    if head == "var" and len(parts) >= 2 and path:
        module = by_path.get(path)
        expression = _object(module.call.get("expressions")).get(parts[1]) if module else None
        return {a for r in _raw_references(expression) for a in _resolve(r, path[:-1], by_path, depth=depth + 1)}
    if head == "module" and len(parts) >= 3:
        child = (*path, parts[1])
        child_module = by_path.get(child)
        outputs = _object(child_module.body.get("outputs")) if child_module else {}
        expression = _object(outputs.get(parts[2])).get("expression")
        return {a for r in _raw_references(expression) for a in _resolve(r, child, by_path, depth=depth + 1)}
    if head in _REFERENCE_SKIP or head == "module":
        return set()
    if head == "data" and len(parts) >= 3:
        return {_prefix(path) + ".".join(parts[:3])}
    if len(parts) >= 2:
        return {_prefix(path) + ".".join(parts[:2])}
    return set()


def _type_of(address: str) -> str:
    """The resource type of a base address (`module.a.data.aws_lb.x` → `aws_lb`)."""
    parts = address.split(".")
    while parts[:1] == ["module"]:
        parts = parts[2:]
    if parts[:1] == ["data"]:
        parts = parts[1:]
    return parts[0] if parts else ""


# --- load balancing: which targets serve which balancers ---


def _load_balancing(config: Configuration, changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Edges `{target, balancer, via}`: `target` (a base address) serves traffic for `balancer`.

    `balancer` is a target group or classic ELB address, or, when the configuration does not name
    a resource, the literal ARN or name in the planned values. See docs/terraform.md for each rule.
    """
    edges: list[dict[str, Any]] = []
    afters = {c["base_address"]: c["after"] for c in changes if isinstance(c["after"], dict)}
    for address, rtype in sorted(config.types.items()):
        if address.split(".")[0] == "data" or ".data." in address:
            continue
        if rtype == AUTOSCALING_GROUP:
            edges += _asg_edges(address, config, afters.get(address) or {})
        elif rtype in ("aws_lb_target_group_attachment", "aws_alb_target_group_attachment"):
            edges += _attachment_edges(config, address, ["target_id"], ["target_group_arn"], afters.get(address))
        elif rtype == "aws_autoscaling_attachment":
            balancer_attrs = ["lb_target_group_arn", "alb_target_group_arn", "elb"]
            edges += _attachment_edges(config, address, ["autoscaling_group_name"], balancer_attrs, afters.get(address))
        elif rtype == "aws_autoscaling_traffic_source_attachment":
            edges += _attachment_edges(config, address, ["autoscaling_group_name"], ["traffic_source"], None)
        elif rtype == "aws_elb_attachment":
            edges += _attachment_edges(config, address, ["instance"], ["elb"], afters.get(address))
        elif rtype in CLASSIC_ELBS:
            for target in config.references.get(address, {}).get("instances", []):
                edges.append({"target": target, "balancer": address, "via": f"{address}.instances"})
        elif rtype in LISTENERS:
            edges += _listener_edges(address, config)
    if not config.types:  # a plan without configuration: only the planned values can tell
        for change in changes:
            if change["type"] == AUTOSCALING_GROUP and isinstance(change["after"], dict):
                edges += _asg_edges(change["base_address"], config, change["after"])
    edges += _launch_source_edges(config, edges)
    return _unique(edges)


def _asg_edges(address: str, config: Configuration, after: Mapping[str, Any]) -> list[dict[str, Any]]:
    edges = []
    for attribute in ("target_group_arns", "load_balancers", "traffic_source"):
        named = config.referenced(address, [attribute], BALANCER_TYPES | LOAD_BALANCERS)
        literal = [] if named else _strings(after.get(attribute))
        edges += [{"target": address, "balancer": b, "via": attribute} for b in (*named, *literal)]
    return edges


def _attachment_edges(
    config: Configuration,
    address: str,
    target_attrs: list[str],
    balancer_attrs: list[str],
    after: Mapping[str, Any] | None,
) -> list[dict[str, Any]]:
    refs = config.references.get(address, {})
    targets = sorted({t for attr in target_attrs for t in refs.get(attr, [])})
    balancers: list[str] = config.referenced(address, balancer_attrs, BALANCER_TYPES | LOAD_BALANCERS)
    if not balancers and isinstance(after, dict):
        balancers = [v for attr in balancer_attrs for v in _strings([after.get(attr)])]
    return [{"target": t, "balancer": b, "via": address} for t in targets for b in balancers]


def _listener_edges(address: str, config: Configuration) -> list[dict[str, Any]]:
    """A listener (or rule) forwarding to a target group puts that group behind its load balancer."""
    groups = config.referenced(address, ["default_action", "action"], TARGET_GROUPS)
    balancers = config.referenced(address, ["load_balancer_arn"], LOAD_BALANCERS)
    if not balancers:  # a listener rule names its listener, which names the load balancer
        for listener in config.referenced(address, ["listener_arn"], LISTENERS):
            balancers += config.referenced(listener, ["load_balancer_arn"], LOAD_BALANCERS)
    return [{"target": g, "balancer": b, "via": address} for g in groups for b in (balancers or [address])]


def _launch_source_edges(config: Configuration, edges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A launch template or configuration serves every balancer of the groups that launch from it."""
    out = []
    for edge in edges:
        if config.types.get(edge["target"]) != AUTOSCALING_GROUP:
            continue
        for source in config.referenced(edge["target"], LAUNCH_ATTRIBUTES, LAUNCH_SOURCES):
            out.append({"target": source, "balancer": edge["balancer"], "via": edge["target"]})
    return out


# --- autoscaling groups ---


def _autoscaling(change: Mapping[str, Any], config: Configuration, changing: set[str]) -> dict[str, Any]:
    """Rollout facts of an aws_autoscaling_group change (docs/terraform.md, "autoscaling")."""
    address = change["base_address"]
    after = change["after"] if isinstance(change["after"], dict) else {}
    before = change["before"] if isinstance(change["before"], dict) else {}
    unknown = change["after_unknown"] if isinstance(change["after_unknown"], dict) else {}
    sources = config.referenced(address, LAUNCH_ATTRIBUTES, LAUNCH_SOURCES)
    changing_sources = [s for s in sources if s in changing]
    changed = [
        attr
        for attr in LAUNCH_ATTRIBUTES
        if "update" in change["actions"] and (before.get(attr) != after.get(attr) or _any_true(unknown.get(attr)))
    ]
    return {
        "launch_template": _launch_template(after),
        "launch_configuration": _str_or_none(after.get("launch_configuration")),
        "launch_sources": sources,
        "launch_changes": changed,
        "launch_sources_changing": changing_sources,
        "health_check_type": _health_check_type(address, after, unknown, config),
        "instance_refresh": _instance_refresh(after.get("instance_refresh")),
    }


def _launch_template(after: Mapping[str, Any]) -> dict[str, Any] | None:
    """`{id, name, version}` of the group's launch template (direct, or in its mixed instances policy)."""
    spec = _first(after.get("launch_template"))
    if spec is None:
        policy = _first(after.get("mixed_instances_policy"))
        template = _first(policy.get("launch_template")) if policy else None
        spec = _first(template.get("launch_template_specification")) if template else None
    if spec is None:
        return None
    return {
        "id": _str_or_none(spec.get("id") or spec.get("launch_template_id")),
        "name": _str_or_none(spec.get("name") or spec.get("launch_template_name")),
        "version": _str_or_none(spec.get("version")),
    }


def _health_check_type(
    address: str, after: Mapping[str, Any], unknown: Mapping[str, Any], config: Configuration
) -> str | None:
    """The planned health check type; EC2 (AWS's default) when nothing sets it; None when not known yet."""
    value = after.get("health_check_type")
    if isinstance(value, str) and value:
        return value
    if config.types and config.sets(address, "health_check_type"):
        return None  # set by an expression whose value is computed during apply
    if unknown.get("health_check_type") is True and not config.types:
        return None
    return "EC2"


def _instance_refresh(value: Any) -> dict[str, Any] | None:
    block = _first(value)
    if block is None:
        return None
    preferences = _first(block.get("preferences")) or {}
    minimum = preferences.get("min_healthy_percentage")
    return {
        "strategy": _str_or_none(block.get("strategy")),
        "min_healthy_percentage": minimum if isinstance(minimum, int) and not isinstance(minimum, bool) else None,
        "triggers": _strings(block.get("triggers")),
    }


# --- small readers ---


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _first(value: Any) -> dict[str, Any] | None:
    """The single block of a Terraform nested block list (`[{...}]`), or None."""
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return value[0]
    return value if isinstance(value, dict) and value else None


def _any_true(value: Any) -> bool:
    if value is True:
        return True
    if isinstance(value, dict):
        return any(_any_true(v) for v in value.values())
    if isinstance(value, list):
        return any(_any_true(v) for v in value)
    return False


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str) and v] if isinstance(value, list) else []


def _unique(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    out = []
    for item in items:
        key = json.dumps(item, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out
