"""Structural limits on an admission request, checked before it is judged: cheap, and naming the limit.

Policies cost time and memory in proportion to what they iterate over, and no engine can be
interrupted mid-evaluation. One walk over the parsed request, which stops at the first limit
exceeded, keeps an object no real cluster produces (a Deployment with 100,000 containers) from
ever reaching an engine. The defaults are far above any real object; `admission.limits` in
rollguard.yaml changes them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

CONFIG_KEY = "admission.limits"
# The lists of a pod spec that hold containers; a mapping with `containers` is a pod spec
# wherever it sits (Pod, workload template, CronJob's job template, Argo Rollout, ...).
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_PATH_CHARS = 120


@dataclass(frozen=True)
class StructuralLimits:
    """Upper bounds on the shape of an admission request (`admission.limits` in rollguard.yaml)."""

    max_containers: int = 250  # containers, init and ephemeral containers of one pod spec
    max_nodes: int = 200_000  # values in the whole request: objects, arrays and scalars
    max_depth: int = 100  # nesting of objects and arrays
    max_string_length: int = 1_048_576  # characters of one string or key
    max_object_keys: int = 10_000  # keys of one object

    @classmethod
    def from_config(cls, raw: Mapping[str, Any] | None) -> StructuralLimits:
        """Limits from `admission.limits` (validated by the config schema); unset keys keep their default."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: int(v) for k, v in (raw or {}).items() if k in known})

    def exceeded(self, request: Mapping[str, Any]) -> str | None:
        """What in `request` is over a limit, naming the limit; None when it is within all of them.

        The walk is iterative (no recursion limit) and stops at the first excess, so its cost is
        bounded by `max_nodes` however large the body is.
        """
        nodes = 1
        # (value, depth, path); a path is a (parent path, key) chain, rendered only for a message.
        stack: list[tuple[Any, int, Any]] = [(request, 1, ("request", None))]
        while stack:
            value, depth, path = stack.pop()
            if depth > self.max_depth:
                return self._over(path, f"is nested {depth} levels deep", "max_depth", self.max_depth)
            if isinstance(value, dict):
                size = len(value)
                if size > self.max_object_keys:
                    return self._over(path, f"has {size} keys", "max_object_keys", self.max_object_keys)
                if "containers" in value:
                    count = sum(len(value[k]) for k in CONTAINER_LISTS if isinstance(value.get(k), list))
                    if count > self.max_containers:
                        return self._over(path, f"has {count} containers", "max_containers", self.max_containers)
                items: Any = value.items()
            elif isinstance(value, list):
                size = len(value)
                items = enumerate(value)
            else:
                continue
            nodes += size
            if nodes > self.max_nodes:
                return f"{CONFIG_KEY}.max_nodes ({self.max_nodes}) exceeded: the request has more values"
            for key, child in items:
                if isinstance(key, str) and len(key) > self.max_string_length:
                    return self._over(
                        path, f"has a key of {len(key)} characters", "max_string_length", self.max_string_length
                    )
                if isinstance(child, (dict, list)):
                    stack.append((child, depth + 1, (path, key)))
                elif isinstance(child, str) and len(child) > self.max_string_length:
                    return self._over(
                        (path, key),
                        f"is a string of {len(child)} characters",
                        "max_string_length",
                        self.max_string_length,
                    )
        return None

    @staticmethod
    def _over(path: Any, what: str, limit: str, value: int) -> str:
        # The limit first: a warning (failure mode open) is cut to 120 characters.
        return f"{CONFIG_KEY}.{limit} ({value}) exceeded: {render_path(path)} {what}"


def render_path(path: Any) -> str:
    """`request.object.spec.template.spec` for a (parent, key) chain, shortened in the middle when long."""
    parts: list[str] = []
    while path is not None:
        path, key = path
        if key is None:  # the root's name
            parts.append(str(path))
            break
        if isinstance(key, int):
            parts.append(f"[{key}]")
        elif _IDENTIFIER.match(key) and len(key) <= 40:
            parts.append(f".{key}")
        else:
            shown = key if len(key) <= 40 else key[:37] + "..."
            parts.append(f"[{shown!r}]")
    text = "".join(reversed(parts))
    if len(text) <= _MAX_PATH_CHARS:
        return text
    half = _MAX_PATH_CHARS // 2
    return f"{text[:half]}…{text[-half:]}"
