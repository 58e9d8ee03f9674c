"""Imports point one way (docs/architecture.md): a package imports only its own layer and those below.

Read from the source with `ast`, function-level imports included, so a lazy import cannot hide a
dependency. The few imports that still point the wrong way are listed with the reason they
remain; the list may only shrink.
"""

from __future__ import annotations

import ast
from collections import defaultdict

from .conftest import ROOT

SOURCE = ROOT / "src" / "rollguard"

# The decision log's records and store sit below the rest of `audit`: governance reads them.
SPLIT_UNITS = ("audit.record", "audit.store")

# Lower layers first. A unit is a top-level module or package of rollguard.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"model", "errors", "generated", "schemas", "fingerprint"}),
    frozenset({"kube", "contract"}),
    frozenset(
        {
            "inputs",
            "engine",
            "formats",
            "policy",
            "governance",
            "links",
            "releases",
            "plan",
            "simulate",
            "canary",
            "fleet",
            "migrate",
            "scanners",
            "baseline",
            *SPLIT_UNITS,
        }
    ),
    frozenset({"gate", "parallel", "eval_events"}),
    frozenset({"audit", "webhook", "gatekeeper", "external", "dashboard"}),
    frozenset({"cli"}),
)

# (importer, imported): imports that break the direction today, each with why it is still here.
KNOWN: dict[tuple[str, str], str] = {}

# Units of one layer may use each other, but never in a circle.
KNOWN_CYCLES: dict[frozenset[str], str] = {}


def _unit(module: str) -> str:
    parts = module.split(".")
    for split in SPLIT_UNITS:
        if module == f"rollguard.{split}" or module.startswith(f"rollguard.{split}."):
            return split
    return parts[1] if len(parts) > 1 else parts[0]


def _imports() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for path in SOURCE.rglob("*.py"):
        relative = path.relative_to(SOURCE.parent).with_suffix("").as_posix().replace("/", ".")
        unit = _unit(relative.removesuffix(".__init__"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rollguard"):
                targets = [a.name for a in node.names] if node.module == "rollguard" else [_unit(node.module)]
            elif isinstance(node, ast.Import):
                targets = [_unit(a.name) for a in node.names if a.name.startswith("rollguard.")]
            else:
                continue
            edges[unit].update(t for t in targets if t != unit)
    return edges


def _layer(unit: str) -> int:
    found = [i for i, layer in enumerate(LAYERS) if unit in layer]
    assert found, f"{unit} is in no layer of LAYERS: place it there and in docs/architecture.md"
    return found[0]


def test_every_unit_has_a_layer() -> None:
    units = {_unit(p.relative_to(SOURCE.parent).with_suffix("").as_posix().replace("/", ".")) for p in SOURCE.iterdir()}
    units -= {"__init__", "__main__", "py", "templates", "__pycache__"}
    units |= set(SPLIT_UNITS)
    for unit in sorted(units):
        _layer(unit)


def test_imports_point_down() -> None:
    upward = {
        (source, target)
        for source, targets in _imports().items()
        for target in targets
        if _layer(target) > _layer(source)
    }
    assert upward - set(KNOWN) == set(), "imports against the direction of docs/architecture.md"
    assert set(KNOWN) - upward == set(), "an import listed in KNOWN is gone: remove it from the list"


def _reach(edges: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    stack = [start]
    while stack:
        for target in edges.get(stack.pop(), set()):
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


def test_no_cycles_within_a_layer() -> None:
    edges = _imports()
    reach = {unit: _reach(edges, unit) for unit in edges}
    # Units that reach each other form one cycle (a strongly connected set).
    cycles = {
        frozenset({unit} | {other for other in reach[unit] if unit in reach.get(other, set())})
        for unit in edges
        if unit in reach[unit]
    }
    assert cycles - set(KNOWN_CYCLES) == set()
    assert set(KNOWN_CYCLES) - cycles == set(), "a cycle listed in KNOWN_CYCLES is gone: remove it from the list"
