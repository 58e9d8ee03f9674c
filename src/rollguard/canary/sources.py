"""Where the samples come from: Prometheus `query_range` responses, recorded in files or asked live."""

from __future__ import annotations

import datetime as dt
import json
import math
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlencode, urlsplit

from rollguard.canary.config import PLACEHOLDER, MetricSpec, Side
from rollguard.errors import ConfigError, InputError, RollguardError, one_line

SideName = Literal["baseline", "canary"]
SIDES: tuple[SideName, ...] = ("baseline", "canary")

# Bounds on what is read: a response larger than this, or with more samples, is refused rather
# than parsed (Prometheus itself answers at most 11,000 points per series).
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
MAX_SAMPLES = 200_000
MAX_POINTS_PER_SERIES = 11_000


class SourceUnavailable(RollguardError):
    """Prometheus cannot be reached or failed on its side: nothing was judged (exit code 3)."""


@dataclass(frozen=True)
class Series:
    """The finite samples of one side of one metric, as (unix seconds, value) in time order.

    `non_finite` counts the NaN and ±Inf samples dropped; `series` how many series the query
    returned (their samples are pooled).
    """

    points: tuple[tuple[float, float], ...]
    non_finite: int = 0
    series: int = 0

    @property
    def values(self) -> tuple[float, ...]:
        """The sample values alone."""
        return tuple(v for _, v in self.points)


@dataclass(frozen=True)
class Window:
    """The time range and resolution of a live `query_range`."""

    start: dt.datetime
    end: dt.datetime
    step_seconds: float

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ConfigError(f"the window ends ({self.end.isoformat()}) before it starts ({self.start.isoformat()})")
        if self.step_seconds <= 0:
            raise ConfigError("--step must be a positive duration")
        points = (self.end - self.start).total_seconds() / self.step_seconds
        if points > MAX_POINTS_PER_SERIES:
            raise ConfigError(
                f"the window holds {points:.0f} steps; Prometheus answers at most {MAX_POINTS_PER_SERIES} "
                "points per series: use a larger --step or a shorter window"
            )

    def to_json(self) -> dict[str, Any]:
        """The window as reports show it."""
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "step_seconds": self.step_seconds}


class MetricSource(Protocol):
    """Gives the samples of one side of one metric."""

    @property
    def description(self) -> str:
        """Where the samples come from, for reports."""
        ...

    @property
    def needs_queries(self) -> bool:
        """Whether the source runs the rendered queries (recorded files do not)."""
        ...

    def fetch(self, metric: MetricSpec, side: SideName, query: str | None) -> Series:
        """The samples of `side` for `metric`; `query` is the rendered PromQL (None when it cannot be rendered)."""
        ...


def _quoted(text: str) -> str:
    """`text` as the inside of a PromQL double-quoted string."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_query(template: str, *, label: str, side: Side, name: SideName) -> str:
    """The metric's PromQL for one side: `{{ selector }}` becomes the side's selector (an explicit one, else
    label="version") and `{{ version }}` its version, escaped for a PromQL string."""

    def fill(match: Any) -> str:
        placeholder = match.group(1)
        if placeholder == "version":
            if side.version is None:
                raise ConfigError(
                    f"the query uses {{{{ version }}}} but the {name} has no version; "
                    f"give --{name}-version or canary.{name}.version"
                )
            return _quoted(side.version)
        if side.selector is not None:
            return side.selector
        if side.version is None:
            raise ConfigError(
                f"the {name} has neither a version nor a selector; give --{name}-version or --{name}-selector "
                f"(or canary.{name} in rollguard.yaml)"
            )
        return f'{label}="{_quoted(side.version)}"'

    return PLACEHOLDER.sub(fill, template)


def _error_message(document: Mapping[str, Any]) -> str:
    """What an error response of the Prometheus API says."""
    return f"Prometheus answered an error: {one_line(document.get('errorType'))}: {one_line(document.get('error'))}"


def parse_query_range(data: bytes, *, where: str, max_samples: int = MAX_SAMPLES) -> Series:
    """The samples of a Prometheus `/api/v1/query_range` response; anything else is an InputError naming `where`."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"not a JSON query_range response: {one_line(exc)}", file=where) from None
    if not isinstance(document, dict):
        raise InputError("not a Prometheus API response (expected a JSON object with status and data)", file=where)
    status = document.get("status")
    if status == "error":
        raise InputError(_error_message(document), file=where)
    if status != "success":
        raise InputError(
            f"status is {one_line(status)!r}, not 'success'; is this a Prometheus API response?", file=where
        )
    body = document.get("data")
    if not isinstance(body, dict):
        raise InputError("`data` is not an object", file=where)
    result_type = body.get("resultType")
    if result_type != "matrix":
        raise InputError(
            f"resultType is {one_line(result_type)!r}; a query_range response is a matrix "
            "(record /api/v1/query_range, not /api/v1/query)",
            file=where,
        )
    result = body.get("result")
    if not isinstance(result, list):
        raise InputError("`data.result` is not a list", file=where)
    points: list[tuple[float, float]] = []
    non_finite = 0
    for i, item in enumerate(result):
        values = item.get("values") if isinstance(item, dict) else None
        if not isinstance(values, list):
            raise InputError(f"data.result[{i}].values is not a list of [time, value] pairs", file=where)
        if len(points) + non_finite + len(values) > max_samples:
            raise InputError(f"more than {max_samples} samples; shorten the window or raise the step", file=where)
        for j, pair in enumerate(values):
            at = f"data.result[{i}].values[{j}]"
            if not (isinstance(pair, list) and len(pair) == 2):
                raise InputError(f"{at} is not a [time, value] pair", file=where)
            stamp, text = pair
            if isinstance(stamp, bool) or not isinstance(stamp, (int, float)) or not math.isfinite(stamp):
                raise InputError(f"{at}: the time {one_line(stamp)[:40]!r} is not a finite number", file=where)
            if not isinstance(text, str) or len(text) > 64:
                raise InputError(f"{at}: the value is not a string of a number as Prometheus writes it", file=where)
            try:
                value = float(text)
            except ValueError:
                raise InputError(f"{at}: the value {text!r} is not a number", file=where) from None
            if math.isfinite(value):
                points.append((float(stamp), value))
            else:
                non_finite += 1
    points.sort()
    return Series(points=tuple(points), non_finite=non_finite, series=len(result))


@dataclass(frozen=True)
class RecordedSource:
    """`--recorded DIR`: `<metric>.baseline.json` and `<metric>.canary.json`, query_range responses as the API gave them."""

    directory: Path
    max_bytes: int = MAX_RESPONSE_BYTES
    max_samples: int = MAX_SAMPLES

    @property
    def description(self) -> str:
        """`recorded responses in DIR`."""
        return f"recorded responses in {self.directory.as_posix()}"

    @property
    def needs_queries(self) -> bool:
        """Recorded responses were queried already."""
        return False

    def fetch(self, metric: MetricSpec, side: SideName, query: str | None) -> Series:
        """Read and parse `<metric>.<side>.json`."""
        path = self.directory / f"{metric.name}.{side}.json"
        where = path.as_posix()
        try:
            with path.open("rb") as handle:
                data = handle.read(self.max_bytes + 1)
        except FileNotFoundError:
            raise InputError(
                f"no recorded {side} response for metric {metric.name!r}; save its query_range answer there",
                file=where,
            ) from None
        except OSError as exc:
            raise InputError(f"read recorded response: {exc.strerror or exc}", file=where) from None
        if len(data) > self.max_bytes:
            raise InputError(f"larger than {self.max_bytes} bytes; record a shorter window", file=where)
        return parse_query_range(data, where=where, max_samples=self.max_samples)


@dataclass(frozen=True)
class PrometheusSource:
    """`--prometheus URL`: `query_range` over a window, with an optional bearer token and CA bundle."""

    url: str
    window: Window
    bearer_token: str | None = None
    ca_file: Path | None = None
    timeout_seconds: float = 30.0
    max_bytes: int = MAX_RESPONSE_BYTES
    max_samples: int = MAX_SAMPLES
    headers: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"--prometheus {self.url!r} is not an http(s) URL (e.g. http://prometheus:9090)")
        if self.ca_file is not None and parts.scheme != "https":
            raise ConfigError("--ca-file is given but --prometheus is not an https URL")

    @property
    def description(self) -> str:
        """`Prometheus at URL`, without credentials."""
        parts = urlsplit(self.url)
        return f"Prometheus at {parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"

    @property
    def needs_queries(self) -> bool:
        """Prometheus runs the rendered queries."""
        return True

    def fetch(self, metric: MetricSpec, side: SideName, query: str | None) -> Series:
        """Ask Prometheus for the side's samples over the window."""
        import urllib.error
        import urllib.request

        if query is None:
            raise ConfigError(f"metric {metric.name!r}: the {side} query cannot be rendered")
        params = urlencode(
            {
                "query": query,
                "start": f"{self.window.start.timestamp():.3f}",
                "end": f"{self.window.end.timestamp():.3f}",
                "step": f"{self.window.step_seconds:g}",
            }
        )
        url = f"{self.url.rstrip('/')}/api/v1/query_range?{params}"
        where = f"{self.description} ({metric.name}, {side})"
        request = urllib.request.Request(url, headers={"Accept": "application/json", **(self.headers or {})})
        if self.bearer_token:
            # Unredirected: a redirect to another host must not carry the token along.
            request.add_unredirected_header("Authorization", f"Bearer {self.bearer_token}")
        context = None
        if urlsplit(self.url).scheme == "https":
            try:
                context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"--ca-file {self.ca_file}: not a usable CA bundle: {one_line(exc)}") from None
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds, context=context) as response:
                data = response.read(self.max_bytes + 1)
        except urllib.error.HTTPError as exc:
            body = exc.read(64 * 1024) if exc.fp is not None else b""
            if exc.code in (400, 422):
                # Prometheus refuses a bad query with 400 (bad_data) or 422 (execution): the config's fault.
                raise InputError(_refusal(exc.code, body), file=where) from None
            raise SourceUnavailable(f"Prometheus answered HTTP {exc.code} {one_line(exc.reason)}", file=where) from None
        except (urllib.error.URLError, OSError, ssl.SSLError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise SourceUnavailable(f"cannot reach Prometheus: {one_line(reason)}", file=where) from None
        if len(data) > self.max_bytes:
            raise InputError(f"the response is larger than {self.max_bytes} bytes; shorten the window", file=where)
        return parse_query_range(data, where=where, max_samples=self.max_samples)


def _refusal(code: int, body: bytes) -> str:
    """Prometheus's own message for a refused query when it gave one, else the HTTP status."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        document = None
    if isinstance(document, dict) and document.get("status") == "error":
        return _error_message(document)
    return f"Prometheus refused the query (HTTP {code})"


def read_token_file(path: Path) -> str:
    """The bearer token in `path` (surrounding whitespace removed); a missing or empty file is a ConfigError."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"--bearer-token-file: cannot read it: {reason or exc}", file=str(path)) from None
    if not token:
        raise ConfigError("--bearer-token-file: the file is empty", file=str(path))
    return token
