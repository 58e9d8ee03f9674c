"""`--namespace-usage`: what already runs in the namespaces a change rolls into.

The file is the cluster's own listing, e.g. `kubectl get pods,resourcequotas,limitranges -n shop
-o yaml`: its running Pods count against the quotas, its ResourceQuotas and LimitRanges apply to
the change. The objects only fill the inventory; they are never judged themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rollguard.model import InputProblem

USAGE_KINDS = ("Pod", "ResourceQuota", "LimitRange")


def read_namespace_usage(
    paths: Sequence[str], *, max_bytes: int | None = None
) -> tuple[tuple[Mapping[str, Any], ...], tuple[InputProblem, ...]]:
    """The Pods, ResourceQuotas and LimitRanges of the files at `paths`, and the problems met: a
    file that cannot be read, or an object of another kind (named, so nothing is dropped unseen)."""
    from rollguard.inputs import ReadOptions, load_change_set

    reading = ReadOptions(render=False) if max_bytes is None else ReadOptions(max_bytes=max_bytes, render=False)
    change = load_change_set(list(paths), reading=reading)
    found: list[Mapping[str, Any]] = []
    problems = list(change.problems)
    for a in change.artifacts:
        if a.kind == "k8s" and a.resource.kind in USAGE_KINDS:
            found.append(a.document)
            continue
        problems.append(
            InputProblem(
                a.file,
                a.line,
                f"{a.resource.display()}: --namespace-usage reads only Pods, ResourceQuotas and LimitRanges "
                "(kubectl get pods,resourcequotas,limitranges -o yaml); give other objects as inputs to judge",
            )
        )
    return tuple(found), tuple(problems)
