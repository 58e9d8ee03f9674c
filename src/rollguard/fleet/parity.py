"""Region parity: pair the objects of renderings of one service and list how they differ as JSON Patch.

Two renderings of a service (overlays per region, per environment) are meant to differ in a few
known fields (replicas, region labels, the registry close to the region) and nowhere else. The
differences are computed here in Python, where RFC 6902 patches and file lines are at hand, and
judged against `parity:` in rollguard.yaml: `rollguard compare` shows them, and `check` reports the
ones not allowed as governance.region_parity findings (docs/fleet.md).
"""

from __future__ import annotations

import copy
import datetime as dt
import fnmatch
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollguard.errors import InputError
from rollguard.inputs import MAX_INPUT_BYTES, ReadOptions, load_change_set
from rollguard.inputs.yamltext import line_at
from rollguard.kube.images import ImageRef
from rollguard.model import Artifact, Finding, InputProblem, Resource, Severity
from rollguard.policy.config import Parity, ParitySet

PARITY_POLICY = "governance.region_parity"
PARITY_TITLE = "Renderings of one service stay in parity"
PARITY_SEVERITY = Severity.HIGH
PARITY_REMEDIATION = (
    "Make the renderings alike, or, when the field may differ between regions, list its JSON Pointer "
    "under `parity.allowed` in rollguard.yaml (docs/fleet.md)."
)
# What the API server sets on an object: an exported object differs there from every other.
_SERVER_METADATA = ("managedFields", "uid", "resourceVersion", "generation", "creationTimestamp", "selfLink")
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_CONTAINER_LISTS = frozenset({"containers", "initContainers", "ephemeralContainers"})
_PLAIN_KEY = re.compile(r'^[^.\[\]"]+$')
IMAGE_REGISTRY_RULE = "allowed_image_registry"


@dataclass(frozen=True)
class ParityLimits:
    """Bounds on what one comparison reads and lists, so hostile input costs bounded time and memory."""

    max_objects: int = 10_000  # Kubernetes objects per rendering
    max_object_bytes: int = 1024 * 1024  # one object as JSON; jsonpatch's list diff grows faster than linearly
    max_listed: int = 500  # differences listed per object; the rest are counted
    max_bytes: int = MAX_INPUT_BYTES  # per input file


class _Absent:
    """The value of a field one side does not have."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class Side:
    """One rendering of the service: its name as given and its Kubernetes objects."""

    name: str
    artifacts: tuple[Artifact, ...]


@dataclass(frozen=True)
class Difference:
    """One operation of the RFC 6902 patch from A to B, the values on each side and what allows it."""

    operation: Mapping[str, Any]
    before: Any  # the value on side A (ABSENT when A has no such field)
    after: Any  # the value on side B (ABSENT when B has no such field)
    line_a: int | None
    line_b: int | None
    allowed_by: str | None  # the `parity.allowed` glob, IMAGE_REGISTRY_RULE, or None: not allowed

    @property
    def pointer(self) -> str:
        """The JSON Pointer the operation changes."""
        return str(self.operation["path"])

    def to_json(self) -> dict[str, Any]:
        """An entry of `rollguard compare --format json`'s `differences`; a side without the field has no `value`."""

        def side(value: Any, line: int | None) -> dict[str, Any]:
            return {"line": line} | ({} if value is ABSENT else {"value": value})

        return {
            "op": dict(self.operation),
            "allowed_by": self.allowed_by,
            "a": side(self.before, self.line_a),
            "b": side(self.after, self.line_b),
        }


@dataclass(frozen=True)
class ObjectDiff:
    """One object of either rendering: the pair and its differences, or the side that alone has it."""

    a: Artifact | None
    b: Artifact | None
    differences: tuple[Difference, ...] = ()
    unlisted: int = 0  # differences beyond ParityLimits.max_listed
    unlisted_denied: int = 0  # of those, the ones not allowed

    @property
    def resource(self) -> Resource:
        """The object's identity (B's when both sides have it)."""
        found = self.b or self.a
        assert found is not None
        return found.resource

    @property
    def denied(self) -> tuple[Difference, ...]:
        """The listed differences no rule allows."""
        return tuple(d for d in self.differences if d.allowed_by is None)

    @property
    def in_parity(self) -> bool:
        """Both sides have the object and every difference is allowed."""
        return self.a is not None and self.b is not None and not self.denied and not self.unlisted_denied


@dataclass(frozen=True)
class Comparison:
    """Rendering B compared with the reference rendering A, object by object."""

    a: str
    b: str
    objects: tuple[ObjectDiff, ...]
    set_name: str | None = None
    allowed: tuple[str, ...] = field(default=())

    @property
    def in_parity(self) -> bool:
        """Every object is on both sides and differs only where allowed."""
        return all(o.in_parity for o in self.objects)


def read_side(path: str, *, limits: ParityLimits = ParityLimits()) -> Side:
    """The Kubernetes objects `path` holds or renders to (a file, a folder, a kustomization or a chart);
    an InputError naming the input when it cannot be read, holds none or is beyond `limits`."""
    change = load_change_set([path], reading=ReadOptions(max_bytes=limits.max_bytes))
    if change.problems:
        first = change.problems[0]
        more = f" (and {len(change.problems) - 1} more problems)" if len(change.problems) > 1 else ""
        raise InputError(f"{first.message}{more}", file=first.file, line=first.line)
    objects = tuple(a for a in change.artifacts if a.kind == "k8s")
    if not objects:
        raise InputError("holds no Kubernetes objects to compare; check the path", file=path)
    if len(objects) > limits.max_objects:
        raise InputError(
            f"holds {len(objects)} Kubernetes objects, more than the {limits.max_objects} compared at once; "
            "compare smaller renderings",
            file=path,
        )
    for artifact in objects:
        size = len(json.dumps(_json_value(artifact, artifact.document, ()), separators=(",", ":")))
        if size > limits.max_object_bytes:
            raise InputError(
                f"{artifact.resource.display()} is {size} bytes as JSON, more than the "
                f"{limits.max_object_bytes} compared per object",
                file=artifact.file,
                line=artifact.line,
            )
    return Side(name=path, artifacts=objects)


def compare_sides(
    a: Side,
    b: Side,
    *,
    parity: Parity,
    parity_set: ParitySet | None = None,
    limits: ParityLimits = ParityLimits(),
) -> Comparison:
    """Pair the objects of `a` and `b` and list each pair's differences, judged against `parity`."""
    allowed = parity.allowed_in(parity_set)
    objects: list[ObjectDiff] = []
    pairs, only_a, only_b = _pair(a.artifacts, b.artifacts)
    for left, right in pairs:
        listed, unlisted, unlisted_denied = _differences(
            left, right, allowed=allowed, image_registry=parity.allowed_image_registry, limit=limits.max_listed
        )
        objects.append(ObjectDiff(left, right, tuple(listed), unlisted, unlisted_denied))
    objects += [ObjectDiff(x, None) for x in only_a] + [ObjectDiff(None, y) for y in only_b]
    objects.sort(key=lambda o: _order(o.resource))
    return Comparison(
        a=a.name,
        b=b.name,
        objects=tuple(objects),
        set_name=parity_set.name if parity_set is not None else None,
        allowed=allowed,
    )


def compare_set(parity: Parity, parity_set: ParitySet, *, limits: ParityLimits = ParityLimits()) -> list[Comparison]:
    """Every rendering of `parity_set` compared with its first."""
    sides = [read_side(_shown_path(p), limits=limits) for p in parity_set.paths]
    return [compare_sides(sides[0], other, parity=parity, parity_set=parity_set, limits=limits) for other in sides[1:]]


def parity_findings(
    parity: Parity,
    *,
    source: str | None = None,
    problems: list[InputProblem] | None = None,
    limits: ParityLimits = ParityLimits(),
) -> list[Finding]:
    """governance.region_parity findings for every set of `parity` (read from the config file `source`):
    one per difference not allowed and per object on one side only. A set that cannot be read is
    added to `problems` (an input error: exit 2), or raised when there is no such list."""
    findings: list[Finding] = []
    for parity_set in parity.sets:
        try:
            comparisons = compare_set(parity, parity_set, limits=limits)
        except InputError as exc:
            if problems is None:
                raise
            where = f"{source}:{parity_set.line}" if source and parity_set.line else source or "rollguard.yaml"
            problems.append(
                InputProblem(
                    exc.file or where,
                    exc.line,
                    f"{exc.message} (a rendering of parity set {parity_set.name}, {where}); "
                    "fix the path or the rendering",
                )
            )
            continue
        for comparison in comparisons:
            findings.extend(comparison_findings(comparison))
    return findings


def comparison_findings(comparison: Comparison) -> list[Finding]:
    """The governance.region_parity findings of one comparison, on side B's object (A's when B lacks it)."""
    findings: list[Finding] = []
    where = f" (parity set {comparison.set_name})" if comparison.set_name else ""
    for o in comparison.objects:
        if o.a is None or o.b is None:
            present, missing = (o.a, comparison.b) if o.b is None else (o.b, comparison.a)
            assert present is not None
            message = (
                f"{present.resource.display()} is in {present.file}:{present.line} but not in {missing}{where}; "
                "add it there or remove it here"
            )
            findings.append(
                _finding(present, message, present.line, {"set": comparison.set_name, "only_in": present.file})
            )
            continue
        for d in o.denied:
            message = (
                f"{o.b.resource.display()}: {d.pointer} is {_shown(d.before)} in {o.a.file}:{d.line_a or o.a.line} "
                f"but {_shown(d.after)} in {o.b.file}:{d.line_b or o.b.line}{where}; make them alike or allow "
                "the pointer under parity.allowed"
            )
            details = {
                "set": comparison.set_name,
                "pointer": d.pointer,
                "op": dict(d.operation),
                "a": {"file": o.a.file, **d.to_json()["a"]},
                "b": {"file": o.b.file, **d.to_json()["b"]},
            }
            findings.append(_finding(o.b, message, d.line_b, details))
        if o.unlisted_denied:
            message = (
                f"{o.b.resource.display()} differs from {o.a.file}:{o.a.line} in {o.unlisted_denied} more fields "
                f"not allowed{where}; run `rollguard compare` on the two renderings to list them"
            )
            findings.append(
                _finding(o.b, message, o.b.line, {"set": comparison.set_name, "unlisted": o.unlisted_denied})
            )
    return findings


def pointer_matches(pattern: str, pointer: str) -> bool:
    """Whether the glob `pattern` covers `pointer` or a field above it: tokens match with shell
    wildcards (`*`, `?`, `[...]`) or literally (a key such as `[0]` matches itself), and a `**`
    token matches any number of tokens."""
    return _glob_prefix(tuple(_tokens(pattern)), tuple(_tokens(pointer)))


def _glob_prefix(pattern: tuple[str, ...], tokens: tuple[str, ...]) -> bool:
    # The token positions the pattern so far can end at; no recursion, so no pattern is too long.
    reach = {0}
    for part in pattern:
        if part == "**":
            reach = set(range(min(reach), len(tokens) + 1))
        else:
            reach = {
                j + 1 for j in reach if j < len(tokens) and (tokens[j] == part or fnmatch.fnmatchcase(tokens[j], part))
            }
        if not reach:
            return False
    return True


def _tokens(pointer: str) -> list[str]:
    """The unescaped reference tokens of a JSON Pointer (RFC 6901)."""
    if not pointer:
        return []
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def _pair(
    a: Sequence[Artifact], b: Sequence[Artifact]
) -> tuple[list[tuple[Artifact, Artifact]], list[Artifact], list[Artifact]]:
    """Objects paired by API group, kind, namespace and name; those left over by group, kind and name
    alone when that is unique on both sides (a region's own namespace). Then those on one side only."""

    def full(x: Artifact) -> tuple[str, str, str, str]:
        r = x.resource
        return (_group(r.api_version), r.kind, r.namespace or "", r.name)

    def loose(x: Artifact) -> tuple[str, str, str]:
        r = x.resource
        return (_group(r.api_version), r.kind, r.name)

    by_full = {full(y): y for y in b}
    pairs: list[tuple[Artifact, Artifact]] = []
    rest_a: list[Artifact] = []
    for x in a:
        y = by_full.pop(full(x), None)
        if y is not None:
            pairs.append((x, y))
        else:
            rest_a.append(x)
    rest_b = list(by_full.values())
    count_a, count_b = Counter(map(loose, rest_a)), Counter(map(loose, rest_b))
    by_loose = {loose(y): y for y in rest_b if count_b[loose(y)] == 1}
    only_a: list[Artifact] = []
    for x in rest_a:
        y = by_loose.pop(loose(x), None) if count_a[loose(x)] == 1 else None
        if y is not None:
            pairs.append((x, y))
        else:
            only_a.append(x)
    paired_b = {id(y) for _, y in pairs}
    return pairs, only_a, [y for y in rest_b if id(y) not in paired_b]


def _json_value(artifact: Artifact, value: Any, at: tuple[str, ...]) -> Any:
    """`value` as the API server reads it (YAML timestamps as text); an InputError at a key that is no
    string, which no Kubernetes object may have and no JSON Pointer can name."""
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                pointer = "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in at)
                raise InputError(
                    f"{artifact.resource.display()}: key {key!r} under {pointer or '/'} is not a string; quote it",
                    file=artifact.file,
                    line=artifact.line,
                )
        return {k: _json_value(artifact, v, (*at, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(artifact, v, (*at, str(i))) for i, v in enumerate(value)]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _comparable(artifact: Artifact) -> dict[str, Any]:
    """The object as JSON, without what the API server sets (status, managed fields, uid, ...)."""
    doc = {k: v for k, v in _json_value(artifact, artifact.document, ()).items() if k != "status"}
    metadata = doc.get("metadata")
    if isinstance(metadata, dict):
        metadata = {k: v for k, v in metadata.items() if k not in _SERVER_METADATA}
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict) and _LAST_APPLIED in annotations:
            metadata["annotations"] = {k: v for k, v in annotations.items() if k != _LAST_APPLIED}
        doc["metadata"] = metadata
    return doc


def _differences(
    a: Artifact, b: Artifact, *, allowed: Sequence[str], image_registry: bool, limit: int
) -> tuple[list[Difference], int, int]:
    """(listed differences, how many more, how many of those are not allowed) from `a` to `b`.

    The values of each listed operation are read from the document as the operations before it
    left it, so list indexes mean what they mean when the patch is applied.
    """
    import jsonpatch  # only `compare` and `check` with parity sets need it

    left, right = _comparable(a), _comparable(b)
    folded = jsonpatch.JsonPatch.from_diff(_fold(left), _fold(right), dumps=_dumps).patch
    operations = [{key: _unfold(value) for key, value in op.items()} for op in folded]
    state: Any = copy.deepcopy(left)
    listed: list[Difference] = []
    unlisted = unlisted_denied = 0
    for op in operations:
        if len(listed) >= limit:
            # Counted and judged by the globs only: applying every operation of a huge patch to
            # learn its values costs more than computing the patch (docs/fleet.md, limits).
            unlisted += 1
            unlisted_denied += _allowed_by(op, ABSENT, ABSENT, allowed=allowed, image_registry=False) is None
            continue
        source = op["from"] if op["op"] == "move" else op["path"]
        before = ABSENT if op["op"] in ("add", "copy") else _resolve(state, source)
        state = jsonpatch.apply_patch(state, [op], in_place=True)
        after = ABSENT if op["op"] == "remove" else _resolve(state, op["path"])
        listed.append(
            Difference(
                operation=op,
                before=before,
                after=after,
                line_a=_line(a, left, source),
                line_b=_line(b, right, op["path"]),
                allowed_by=_allowed_by(op, before, after, allowed=allowed, image_registry=image_registry),
            )
        )
    return listed, unlisted, unlisted_denied


class _Folded:
    """A list jsonpatch compares as one value (`_fold`): its list diff costs about 150 µs per
    operation, so a shuffled list of 60,000 items took 9 s to diff, 120 lists of 1,000 items 9 s."""

    __slots__ = ("items",)

    def __init__(self, items: list[Any]) -> None:
        self.items = items


LONG_LIST = 1000  # items; a longer list that differs at all is one `replace` operation
LIST_ITEM_BUDGET = 10_000  # list items per object diffed item by item; lists beyond it are folded too


def _fold(document: Any) -> Any:
    """`document` with its long lists, and every list once LIST_ITEM_BUDGET items were spent, folded."""
    spent = 0

    def fold(value: Any) -> Any:
        nonlocal spent
        if isinstance(value, dict):
            return {k: fold(v) for k, v in value.items()}
        if isinstance(value, list):
            if len(value) > LONG_LIST or spent + len(value) > LIST_ITEM_BUDGET:
                return _Folded(value)
            spent += len(value)
            return [fold(v) for v in value]
        return value

    return fold(document)


def _unfold(value: Any) -> Any:
    if isinstance(value, _Folded):
        return value.items
    if isinstance(value, dict):
        return {k: _unfold(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unfold(v) for v in value]
    return value


def _dumps(value: Any) -> str:
    """jsonpatch's comparison of values that are neither maps nor lists, folded lists included."""
    return json.dumps(value, default=lambda o: o.items if isinstance(o, _Folded) else str(o))


def _resolve(document: Any, pointer: str) -> Any:
    node = document
    for token in _tokens(pointer):
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return ABSENT
    return copy.deepcopy(node)


def _allowed_by(
    op: Mapping[str, Any], before: Any, after: Any, *, allowed: Sequence[str], image_registry: bool
) -> str | None:
    """The rule that allows `op`: a glob covering every pointer it touches, or the image registry rule."""
    pointers = [op["path"], *([op["from"]] if "from" in op else [])]
    for pattern in allowed:
        if all(pointer_matches(pattern, p) for p in pointers):
            return pattern
    same_image = (
        isinstance(before, str) and isinstance(after, str) and _without_registry(before) == _without_registry(after)
    )
    if image_registry and op["op"] == "replace" and _is_image_field(op["path"]) and same_image:
        return IMAGE_REGISTRY_RULE
    return None


def _is_image_field(pointer: str) -> bool:
    """`.../containers/N/image` (or initContainers, ephemeralContainers) anywhere in the object."""
    tokens = _tokens(pointer)
    return len(tokens) >= 3 and tokens[-1] == "image" and tokens[-2].isdigit() and tokens[-3] in _CONTAINER_LISTS


def _without_registry(reference: str) -> str:
    """The reference without its registry host: the first component is a host when it has a `.` or a
    `:` or is `localhost` (the container runtimes' rule), and `docker.io` is the default one."""
    ref = ImageRef.parse(reference)
    first, slash, rest = ref.name.partition("/")
    name = rest if slash and (first == "localhost" or "." in first or ":" in first) else ref.name
    if "/" not in name:
        name = f"library/{name}"  # `web` on Docker Hub is `library/web`
    return f"{name}:{ref.tag or ''}@{ref.digest or ''}"


def _line(artifact: Artifact, document: Any, pointer: str) -> int:
    """The file line of the field at `pointer` (or of its nearest existing parent) in `artifact`."""
    if artifact.source is None:
        return artifact.line
    parts: list[str] = []
    node = document
    for token in _tokens(pointer):
        if isinstance(node, list) and token.isdigit() and int(token) < len(node):
            parts.append(f"[{token}]")
            node = node[int(token)]
        elif isinstance(node, dict) and token in node:
            parts.append(
                f".{token}"
                if _PLAIN_KEY.match(token)
                else '["' + token.replace("\\", "\\\\").replace('"', '\\"') + '"]'
            )
            node = node[token]
        else:
            break
    if not parts:
        return artifact.line
    return line_at(artifact.source, "".join(parts).removeprefix(".")) or artifact.line


def _shown(value: Any, width: int = 80) -> str:
    """A value for a message: JSON, shortened; `absent` when the side lacks the field."""
    if value is ABSENT:
        return "absent"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def _order(resource: Resource) -> tuple[str, str, str]:
    return (resource.kind, resource.namespace or "", resource.name)


def _finding(artifact: Artifact, message: str, line: int | None, details: Mapping[str, Any]) -> Finding:
    return Finding(
        policy=PARITY_POLICY,
        title=PARITY_TITLE,
        severity=PARITY_SEVERITY,
        message=message,
        resource=artifact.resource,
        file=artifact.file,
        line=line or artifact.line,
        remediation=PARITY_REMEDIATION,
        details=details,
    )


def _shown_path(path: Path) -> str:
    """`path` relative to the working directory when it is below it, as a user would type it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix() or "."
    except ValueError:
        return path.as_posix()
