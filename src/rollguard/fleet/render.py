"""`rollguard compare`'s outputs: text for terminals, JSON for tools, Markdown for pull-request comments."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from rollguard.fleet.parity import ABSENT, Comparison, Difference, ObjectDiff

__all__ = ["COMPARE_FORMATS", "render_comparisons"]


def render_comparisons(name: str, comparisons: Sequence[Comparison]) -> str:
    """`comparisons` in the format `name` (a key of COMPARE_FORMATS)."""
    return COMPARE_FORMATS[name](comparisons)


def _as_json(comparisons: Sequence[Comparison]) -> str:
    document = {
        "in_parity": all(c.in_parity for c in comparisons),
        "comparisons": [_comparison_json(c) for c in comparisons],
    }
    return json.dumps(document, indent=2, default=str) + "\n"


def _comparison_json(c: Comparison) -> dict[str, Any]:
    return {
        "set": c.set_name,
        "a": c.a,
        "b": c.b,
        "allowed": list(c.allowed),
        "in_parity": c.in_parity,
        "objects": [_object_json(o) for o in c.objects],
    }


def _object_json(o: ObjectDiff) -> dict[str, Any]:
    return {
        "resource": o.resource.to_json(),
        "a": {"file": o.a.file, "line": o.a.line} if o.a is not None else None,
        "b": {"file": o.b.file, "line": o.b.line} if o.b is not None else None,
        "in_parity": o.in_parity,
        "patch": [dict(d.operation) for d in o.differences],
        "differences": [d.to_json() for d in o.differences],
        "unlisted": o.unlisted,
        "unlisted_not_allowed": o.unlisted_denied,
    }


def _value(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:59] + "…"


def _why(d: Difference) -> str:
    return f"allowed by {d.allowed_by}" if d.allowed_by is not None else "NOT ALLOWED"


def _as_text(comparisons: Sequence[Comparison]) -> str:
    lines: list[str] = []
    for c in comparisons:
        title = f"{c.a} ↔ {c.b}" + (f" (parity set {c.set_name})" if c.set_name else "")
        lines.append(title)
        for o in c.objects:
            if o.a is None or o.b is None:
                present = o.a or o.b
                assert present is not None
                lines.append(f"  {o.resource.display()}: only in {present.file}:{present.line}  NOT ALLOWED")
                continue
            if not o.differences:
                continue
            lines.append(f"  {o.resource.display()}  ({o.a.file}:{o.a.line}, {o.b.file}:{o.b.line})")
            for d in o.differences:
                op = json.dumps(dict(d.operation), sort_keys=True, default=str)
                op = op if len(op) <= 200 else op[:199] + "…"  # the JSON output holds it whole
                lines.append(f"    {op}")
                lines.append(
                    f"      {_value(d.before)} (line {d.line_a}) → {_value(d.after)} (line {d.line_b}): {_why(d)}"
                )
            if o.unlisted:
                lines.append(f"    … {o.unlisted} more differences, {o.unlisted_denied} of them not allowed")
        same = sum(1 for o in c.objects if o.a is not None and o.b is not None and not o.differences)
        verdict = "in parity" if c.in_parity else "NOT in parity"
        count = f"{len(c.objects)} object" + ("" if len(c.objects) == 1 else "s")
        lines.append(f"  {verdict}: {count}, {same} identical")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _as_markdown(comparisons: Sequence[Comparison]) -> str:
    out: list[str] = []
    for c in comparisons:
        mark = "✅ in parity" if c.in_parity else "❌ not in parity"
        title = f"`{c.a}` ↔ `{c.b}`" + (f" (parity set `{c.set_name}`)" if c.set_name else "")
        out += [f"### {title}: {mark}", ""]
        if all(o.a is not None and o.b is not None and not o.differences for o in c.objects):
            out += [f"No differences in {len(c.objects)} objects.", ""]
            continue
        out += ["| Object | Pointer | A | B | Verdict |", "|---|---|---|---|---|"]
        for o in c.objects:
            name = _cell(o.resource.display())
            if o.a is None or o.b is None:
                present = o.a or o.b
                assert present is not None
                a_cell = "(absent)" if o.a is None else f"`{_cell(present.file)}:{present.line}`"
                b_cell = "(absent)" if o.b is None else f"`{_cell(present.file)}:{present.line}`"
                out.append(f"| {name} | | {a_cell} | {b_cell} | not allowed: one side only |")
                continue
            for d in o.differences:
                verdict = f"allowed by `{_cell(d.allowed_by)}`" if d.allowed_by is not None else "**not allowed**"
                out.append(
                    f"| {name} | `{_cell(d.pointer)}` | `{_cell(_value(d.before))}` | "
                    f"`{_cell(_value(d.after))}` | {verdict} |"
                )
            if o.unlisted:
                out.append(f"| {name} | … | | | {o.unlisted} more, {o.unlisted_denied} not allowed |")
        out.append("")
    return "\n".join(out)


# One entry per format; the CLI's choices are its keys.
COMPARE_FORMATS: dict[str, Callable[[Sequence[Comparison]], str]] = {
    "text": _as_text,
    "json": _as_json,
    "markdown": _as_markdown,
}
