"""Kubernetes label selectors (`matchLabels`, `matchExpressions`), read strictly and matched with
the API's semantics: for Gatekeeper's `spec.match` and for the pods a workload owns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


class SelectorError(ValueError):
    """A malformed selector; `path` is the field, e.g. `labelSelector.matchExpressions[0].operator`."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Requirement:
    """One `matchExpressions` entry."""

    key: str
    operator: str
    values: tuple[str, ...]

    def matches(self, labels: Mapping[str, Any]) -> bool:
        """Kubernetes' semantics: `NotIn` and `DoesNotExist` also hold when the label is absent."""
        present = self.key in labels
        if self.operator == "In":
            return present and labels[self.key] in self.values
        if self.operator == "NotIn":
            return not present or labels[self.key] not in self.values
        if self.operator == "Exists":
            return present
        return not present


@dataclass(frozen=True)
class LabelSelector:
    """A Kubernetes label selector: every `matchLabels` pair and every expression must hold."""

    match_labels: tuple[tuple[str, str], ...] = ()
    expressions: tuple[Requirement, ...] = ()

    def matches(self, labels: Any) -> bool:
        """Whether `labels` (an object's `metadata.labels`) satisfy the selector; `{}` selects everything."""
        labels = labels if isinstance(labels, Mapping) else {}
        return all(labels.get(k) == v for k, v in self.match_labels) and all(
            e.matches(labels) for e in self.expressions
        )

    @classmethod
    def parse(cls, value: Any, *, path: str) -> LabelSelector:
        """Read a selector; SelectorError names the bad field under `path`."""
        if not isinstance(value, Mapping):
            raise SelectorError(path, "must be a mapping with matchLabels and/or matchExpressions")
        unknown = sorted(set(value) - {"matchLabels", "matchExpressions"})
        if unknown:
            raise SelectorError(f"{path}.{unknown[0]}", "is not a label selector field (matchLabels, matchExpressions)")
        labels = value.get("matchLabels") or {}
        if not isinstance(labels, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise SelectorError(
                f"{path}.matchLabels", "must map label keys to string values (quote numbers and booleans)"
            )
        expressions = value.get("matchExpressions") or []
        if not isinstance(expressions, list):
            raise SelectorError(f"{path}.matchExpressions", "must be a list")
        return cls(
            match_labels=tuple(sorted(labels.items())),
            expressions=tuple(_requirement(e, path=f"{path}.matchExpressions[{i}]") for i, e in enumerate(expressions)),
        )


def _requirement(value: Any, *, path: str) -> Requirement:
    if not isinstance(value, Mapping):
        raise SelectorError(path, "must be a mapping with key, operator and values")
    key, operator, values = value.get("key"), value.get("operator"), value.get("values") or []
    if not isinstance(key, str) or not key:
        raise SelectorError(f"{path}.key", "must be a label key")
    if operator not in _OPERATORS:
        raise SelectorError(f"{path}.operator", f"{operator!r} is not one of {', '.join(_OPERATORS)}")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise SelectorError(f"{path}.values", "must be a list of strings")
    if operator in ("In", "NotIn") and not values:
        raise SelectorError(f"{path}.values", f"must not be empty with operator {operator}")
    if operator in ("Exists", "DoesNotExist") and values:
        raise SelectorError(f"{path}.values", f"must be empty with operator {operator}")
    return Requirement(key=key, operator=operator, values=tuple(values))
