"""The `canary:` section of rollguard.yaml, checked against its own schema and resolved with its defaults."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from rollguard.errors import ConfigError

Kind = Literal["sample", "trend"]
Direction = Literal["increase", "decrease", "either"]
Outliers = Literal["keep", "iqr"]

DEFAULT_LABEL = "version"
DEFAULT_CONFIDENCE = 0.95
DEFAULT_MIN_SAMPLES = 10
DEFAULT_RELATIVE_EFFECT = 0.1
DEFAULT_PASS = 95.0
DEFAULT_MARGINAL = 75.0
DEFAULT_STEP = "60s"
DEFAULT_LOOKBACK = "30m"

_DURATION = re.compile(r"([0-9]{1,6})(ms|s|m|h|d)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, *, what: str) -> float:
    """Seconds of a Prometheus duration (`30s`, `5m`, `1h`); anything else is a ConfigError naming `what`."""
    match = _DURATION.fullmatch(text.strip())
    seconds = int(match.group(1)) * _SECONDS[match.group(2)] if match else 0
    if seconds <= 0:
        raise ConfigError(f"{what}: {text!r} is not a positive duration; write e.g. 30s, 5m or 1h")
    return float(seconds)


@dataclass(frozen=True)
class Side:
    """How one side's pods are selected: a version of `label`, or an explicit PromQL label selector."""

    version: str | None = None
    selector: str | None = None


@dataclass(frozen=True)
class MetricSpec:
    """One metric to judge, with every default filled in."""

    name: str
    query: str
    kind: Kind = "sample"
    direction: Direction = "either"
    weight: float = 1.0
    critical: bool = False
    relative_effect: float = DEFAULT_RELATIVE_EFFECT
    absolute_effect: float = 0.0
    outliers: Outliers = "keep"
    min_samples: int = DEFAULT_MIN_SAMPLES
    line: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The metric's settings, as reports and the decision record show them."""
        return {
            "name": self.name,
            "query": self.query,
            "kind": self.kind,
            "direction": self.direction,
            "weight": self.weight,
            "critical": self.critical,
            "effect": {"relative": self.relative_effect, "absolute": self.absolute_effect},
            "outliers": self.outliers,
            "min_samples": self.min_samples,
        }


@dataclass(frozen=True)
class CanaryConfig:
    """The resolved `canary:` section: metrics, how each side is selected, and the thresholds."""

    metrics: tuple[MetricSpec, ...]
    label: str = DEFAULT_LABEL
    baseline: Side = field(default_factory=Side)
    canary: Side = field(default_factory=Side)
    confidence: float = DEFAULT_CONFIDENCE
    pass_score: float = DEFAULT_PASS
    marginal_score: float = DEFAULT_MARGINAL
    step: str = DEFAULT_STEP
    lookback: str = DEFAULT_LOOKBACK
    prometheus: str | None = None  # the Prometheus asked when no source is given
    source: str | None = None  # the config file, for error messages

    def with_sides(self, *, label: str | None, baseline: Side, canary: Side) -> CanaryConfig:
        """The config with the command line's label and sides over the file's (a side given there wins whole)."""
        return replace(
            self,
            label=label or self.label,
            baseline=baseline if baseline.version or baseline.selector else self.baseline,
            canary=canary if canary.version or canary.selector else self.canary,
        )

    def to_json(self) -> dict[str, Any]:
        """Every setting the judgement was made with (defaults included)."""
        return {
            "label": self.label,
            "baseline": {"version": self.baseline.version, "selector": self.baseline.selector},
            "canary": {"version": self.canary.version, "selector": self.canary.selector},
            "confidence": self.confidence,
            "thresholds": {"pass": self.pass_score, "marginal": self.marginal_score},
            "metrics": [m.to_json() for m in self.metrics],
        }


@lru_cache(maxsize=1)
def canary_schema() -> dict[str, Any]:
    """The JSON Schema of the `canary:` section."""
    text = resources.files("rollguard.canary").joinpath("canary.schema.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


def read_canary_config(
    raw: Mapping[str, Any] | None,
    *,
    source: str | None = None,
    key_lines: Mapping[tuple[Any, ...], int] | None = None,
    prefix: tuple[Any, ...] = ("canary",),
) -> CanaryConfig:
    """Check `raw` (the `canary:` mapping) against the schema and resolve its defaults.

    `key_lines` maps key paths of the config file to lines (`Config.key_lines`), so a mistake
    names the line of the offending key; `prefix` is where the section sits in that file.
    """
    lines = key_lines or {}

    def line_of(path: tuple[Any, ...]) -> int | None:
        for end in range(len(path), -1, -1):
            found = lines.get((*prefix, *path[:end]))
            if found is not None:
                return found
        return None

    where = ".".join(str(p) for p in prefix)
    if not raw:
        raise ConfigError(
            f"{where}: no canary metrics are configured; add a `canary:` section with `metrics:` (docs/canary.md)",
            file=source,
        )
    import jsonschema  # slow to import; only needed here

    validator = jsonschema.Draft202012Validator(canary_schema())
    errors = sorted(validator.iter_errors(dict(raw)), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        first = jsonschema.exceptions.best_match(errors) or errors[0]
        path = tuple(first.absolute_path)
        if first.validator == "additionalProperties" and isinstance(first.instance, dict):
            # Point at the misspelt key itself, not at the mapping that holds it.
            known = first.schema.get("properties", {})
            path = (*path, *sorted(str(k) for k in first.instance if k not in known)[:1])
        key = ".".join([where, *(str(p) for p in path)])
        hint = ""
        if first.validator == "additionalProperties":
            hint = "; check the spelling against docs/canary.md"
        elif first.validator in ("pattern", "enum") and isinstance(first.schema.get("description"), str):
            hint = f" ({first.schema['description']})"
        raise ConfigError(f"{key}: {first.message}{hint}", file=source, line=line_of(path))
    metrics = []
    seen: set[str] = set()
    outliers: Outliers = raw.get("outliers", "keep")
    min_samples = int(raw.get("min_samples", DEFAULT_MIN_SAMPLES))
    for i, item in enumerate(raw["metrics"]):
        name = item["name"]
        if name in seen:
            raise ConfigError(
                f"{where}.metrics[{i}].name: {name!r} is used twice; metric names must be unique",
                file=source,
                line=line_of(("metrics", i, "name")),
            )
        seen.add(name)
        _check_placeholders(item["query"], f"{where}.metrics[{i}].query", source, line_of(("metrics", i, "query")))
        effect = item.get("effect") or {}
        metrics.append(
            MetricSpec(
                name=name,
                query=item["query"],
                kind=item.get("kind", "sample"),
                direction=item.get("direction", "either"),
                weight=float(item.get("weight", 1)),
                critical=bool(item.get("critical", False)),
                relative_effect=float(effect.get("relative", DEFAULT_RELATIVE_EFFECT)),
                absolute_effect=float(effect.get("absolute", 0)),
                outliers=item.get("outliers", outliers),
                min_samples=int(item.get("min_samples", min_samples)),
                line=line_of(("metrics", i)),
            )
        )
    thresholds = raw.get("thresholds") or {}
    pass_score = float(thresholds.get("pass", DEFAULT_PASS))
    marginal = float(thresholds.get("marginal", DEFAULT_MARGINAL))
    if marginal > pass_score:
        raise ConfigError(
            f"{where}.thresholds: marginal ({marginal:g}) is above pass ({pass_score:g}); marginal must be at most pass",
            file=source,
            line=line_of(("thresholds", "marginal")),
        )
    for key in ("step", "lookback"):
        if key in raw:
            try:
                parse_duration(raw[key], what=f"{where}.{key}")
            except ConfigError as exc:
                raise ConfigError(exc.message, file=source, line=line_of((key,))) from None
    return CanaryConfig(
        metrics=tuple(metrics),
        label=raw.get("label", DEFAULT_LABEL),
        baseline=Side(**(raw.get("baseline") or {})),
        canary=Side(**(raw.get("canary") or {})),
        confidence=float(raw.get("confidence", DEFAULT_CONFIDENCE)),
        pass_score=pass_score,
        marginal_score=marginal,
        step=raw.get("step", DEFAULT_STEP),
        lookback=raw.get("lookback", DEFAULT_LOOKBACK),
        prometheus=raw.get("prometheus"),
        source=source,
    )


# `{{ version }}` and `{{ selector }}`, with any spacing inside the braces.
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
PLACEHOLDERS = ("version", "selector")


def _check_placeholders(query: str, where: str, source: str | None, line: int | None) -> None:
    names = PLACEHOLDER.findall(query)
    unknown = sorted(set(names) - set(PLACEHOLDERS))
    if unknown:
        raise ConfigError(
            f"{where}: unknown placeholder {{{{ {unknown[0]} }}}}; use {{{{ selector }}}} or {{{{ version }}}}",
            file=source,
            line=line,
        )
    if not names:
        raise ConfigError(
            f"{where}: the query has no {{{{ selector }}}} or {{{{ version }}}}, so baseline and canary would be "
            "the same series; select the pods with one of them",
            file=source,
            line=line,
        )
