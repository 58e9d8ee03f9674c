"""Decisions on identical admission requests, judged once: a bounded LRU cache in front of the evaluation pool.

A rollout sends the webhook the same object many times: a ReplicaSet creates every pod from one
template. The answer to a request is a function of the request (`input.review`), the bundle, the
configuration, the inventory the runtime was built with, and the request's time (waivers expire
at it; the policies' `now` is the runtime's). The key holds each of them:

- the runtime: bundle digest, config digest and its generation (one per inventory snapshot, so
  an inventory change is a new key space; the cache is also emptied when a runtime is swapped in);
- the waivers that have expired at the request's time;
- a SHA-256 over the canonical JSON of the whole request except `uid`, the request's own
  identifier, which no answer depends on but its `response.uid` (the answer is rebuilt per request).
  From `object` and `oldObject`, the metadata the API server stamps on each object and no policy
  reads (`VOLATILE_METADATA`) is left out, unless a module of the bundle names the field.
- a name the API server generated from `metadata.generateName` (the template's pods) is keyed as
  the template's name. Policies quote the name in messages, so a hit for another pod is answered
  with the cached decision with the old name replaced by the new one, in every string it holds.

Everything else in the request is in the key: userInfo, dryRun, operation, namespace, options...
Leaving the volatile metadata and the generated suffix out is right only for policies that do no
more with them than quote the name, so it is proven per entry: the first request that differs
from the cached one in them (its "variant") is judged for real and its decision compared with
the cached one, renamed; only when they are equal does the entry answer other variants. When
they differ, the entry answers only the variant it was judged for.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from rollguard.webhook.metrics import Metrics

if TYPE_CHECKING:
    from rollguard.model import Decision
    from rollguard.policy.config import Settings

DEFAULT_SIZE = 10_000  # entries; a decision is a few KB, so at most some tens of MB
# Set by the API server on each object it stores: never the same for two pods of one template.
VOLATILE_METADATA = ("uid", "resourceVersion", "creationTimestamp", "managedFields")
# The API server's name generator appends 5 characters of this alphabet to generateName.
_GENERATED_SUFFIX = re.compile(r"[bcdfghjklmnpqrstvwxz2456789]{5}")
_TEMPLATE = "\x00generated\x00"  # what a generated name's suffix is keyed as: no real name holds NUL


@dataclass(frozen=True)
class CacheKey:
    """What an admission decision depends on, and the variant: what the key leaves out (volatile metadata, generated name)."""

    digest: bytes
    variant: bytes
    name: str | None  # the generated name, if the object has one


@dataclass
class _Entry:
    decision: Decision
    variant: bytes
    name: str | None  # the generated name the decision was judged for
    proven: bool | None = None  # whether it holds for other variants: None until a second one is judged


@dataclass(frozen=True)
class Lookup:
    """A cache answer: the decision to use, or why the request must be judged (`verify`: compare with `expected`)."""

    decision: Decision | None
    expected: Decision | None = None

    @property
    def verify(self) -> bool:
        """Whether the request must be judged, to prove that the entry holds for another variant."""
        return self.expected is not None


MISS = Lookup(None)


def volatile_fields(sources: Mapping[str, str]) -> tuple[str, ...]:
    """The fields of VOLATILE_METADATA left out of the key: those that no Rego module of the bundle names."""
    return tuple(f for f in VOLATILE_METADATA if not any(re.search(rf"\b{f}\b", text) for text in sources.values()))


def request_key(
    request: Mapping[str, Any],
    *,
    runtime: tuple[str, str, int],
    settings: Settings,
    now: dt.datetime,
    volatile: tuple[str, ...] = VOLATILE_METADATA,
) -> CacheKey | None:
    """The key of `request` under a runtime (bundle digest, config digest, generation); None when it cannot be keyed.

    A request the canonical encoding refuses (an integer beyond 64 bits, nesting deeper than
    orjson's limit) is simply judged every time.
    """
    generated = _generated_name(request.get("object"))
    keyed = {k: v for k, v in request.items() if k != "uid"}
    left_out: list[Any] = [generated]
    for field in ("object", "oldObject"):
        keyed[field], stamped = _stable(keyed.get(field), volatile, generated)
        left_out.append(stamped)
    if generated is not None and keyed.get("name") == generated:
        keyed["name"] = _template(generated)
    expired = [w.expired(on=now) for w in settings.waivers]
    try:
        body = orjson.dumps([list(runtime), expired, keyed], option=orjson.OPT_SORT_KEYS)
        variant = orjson.dumps(left_out, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return None
    return CacheKey(hashlib.sha256(body).digest(), hashlib.sha256(variant).digest(), generated)


def _generated_name(obj: Any) -> str | None:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict):
        return None
    prefix, name = meta.get("generateName"), meta.get("name")
    generated = (
        isinstance(prefix, str)
        and prefix
        and isinstance(name, str)
        and name.startswith(prefix)
        and _GENERATED_SUFFIX.fullmatch(name, len(prefix))
    )
    return name if generated else None


def _template(name: str) -> str:
    return name[:-5] + _TEMPLATE


def _stable(obj: Any, volatile: tuple[str, ...], generated: str | None) -> tuple[Any, dict[str, Any]]:
    """`obj` without the volatile metadata, its generated name keyed as the template's; and what was left out."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict):
        return obj, {}
    kept = {k: v for k, v in meta.items() if k not in volatile}
    if generated is not None and kept.get("name") == generated:
        kept["name"] = _template(generated)
    return {**obj, "metadata": kept}, {k: v for k, v in meta.items() if k in volatile}


def renamed(value: Any, old: str, new: str) -> Any:
    """`value` (a decision, or anything in one) with `old` replaced by `new` in every string it holds."""
    if isinstance(value, str):
        return value.replace(old, new) if old in value else value
    if isinstance(value, tuple):
        return tuple(renamed(v, old, new) for v in value)
    if isinstance(value, list):
        return [renamed(v, old, new) for v in value]
    if isinstance(value, dict):
        return {renamed(k, old, new): renamed(v, old, new) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for f in dataclasses.fields(value):
            if f.init:
                before = getattr(value, f.name)
                after = renamed(before, old, new)
                if after is not before:
                    changes[f.name] = after
        return dataclasses.replace(value, **changes) if changes else value
    return value  # numbers, enums, dates: no names in them


class DecisionCache:
    """At most `size` decisions, least recently used first out; thread-safe; size 0 disables it."""

    def __init__(self, size: int, metrics: Metrics | None = None) -> None:
        self.size = size
        self._metrics = metrics
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Whether decisions are kept at all."""
        return self.size > 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def get(self, key: CacheKey) -> Lookup:
        """The cached decision for `key`, renamed for its generated name; or a miss, or a proof to make."""
        with self._lock:
            entry = self._entries.get(key.digest)
            if entry is None or (entry.proven is False and entry.variant != key.variant):
                return self._counted(MISS, "miss")
            self._entries.move_to_end(key.digest)
            decision = entry.decision
            if entry.name is not None and key.name is not None and entry.name != key.name:
                decision = renamed(decision, entry.name, key.name)
            if entry.variant == key.variant or entry.proven:
                return self._counted(Lookup(decision), "hit")
        return self._counted(Lookup(None, expected=decision), "miss")

    def put(self, key: CacheKey, decision: Decision) -> None:
        """Keep `decision` for `key`, dropping the least recently used entry when full."""
        if not self.enabled:
            return
        with self._lock:
            if key.digest not in self._entries:
                self._entries[key.digest] = _Entry(decision, key.variant, key.name)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
            self._publish()

    def proven(self, key: CacheKey, *, same: bool) -> None:
        """Record whether another variant's decision, judged for real, was the cached one (`same`)."""
        with self._lock:
            entry = self._entries.get(key.digest)
            if entry is not None and entry.proven is None:
                entry.proven = same
        if self._metrics is not None:
            self._metrics.cache_proofs.labels(result="same" if same else "different").inc()

    def clear(self) -> None:
        """Forget every decision (a reload or a new inventory)."""
        with self._lock:
            self._entries.clear()
            self._publish()

    def _counted(self, lookup: Lookup, result: str) -> Lookup:
        if self._metrics is not None:
            self._metrics.cache_lookups.labels(result=result).inc()
        return lookup

    def _publish(self) -> None:
        if self._metrics is not None:
            self._metrics.cache_entries.set(len(self._entries))
