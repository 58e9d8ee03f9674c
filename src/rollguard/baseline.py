"""Baseline files: the findings a repository already had when it adopted rollguard, accepted so only new ones fail."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from rollguard.errors import InputError
from rollguard.fingerprint import fingerprints
from rollguard.inputs.jsontext import parse_json
from rollguard.model import AppliedBaseline, BaselineEntry, Decision

BASELINE_VERSION = 1

_CREATE = "rollguard baseline create PATHS --output {path}"
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class Baseline:
    """A baseline file: its entries, sorted as written, and when and by which rollguard it was made."""

    entries: tuple[BaselineEntry, ...]
    created: str
    tool_version: str
    path: str

    def by_fingerprint(self) -> dict[str, BaselineEntry]:
        """The entries by fingerprint (unique in a file that `read_baseline` accepted)."""
        return {e.fingerprint: e for e in self.entries}

    def to_text(self) -> str:
        """The file's JSON, keys in a fixed order and entries sorted, so a regenerated file diffs to what changed."""
        doc = {
            "version": BASELINE_VERSION,
            "created": self.created,
            "tool": {"name": "rollguard", "version": self.tool_version},
            "findings": [e.to_json() for e in self.entries],
        }
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def create_baseline(decision: Decision, *, path: str, now: dt.datetime, previous: Baseline | None) -> Baseline:
    """A baseline accepting the findings of `decision`, for the file `path`.

    Waived findings have their own, time-boxed exception and evaluation errors are no finding
    to accept, so neither is written. An entry already in `previous` (the file being
    regenerated) keeps its `since`, so regenerating never resets how long a finding has waited.
    """
    today = now.astimezone(dt.timezone.utc).date().isoformat()
    kept = previous.by_fingerprint() if previous is not None else {}
    entries = []
    for finding, fingerprint in zip(decision.findings, fingerprints(decision.findings), strict=True):
        if finding.error or finding.waived:
            continue
        old = kept.get(fingerprint)
        entries.append(
            BaselineEntry(
                fingerprint=fingerprint,
                policy=finding.policy,
                resource=finding.resource.display(),
                file=finding.file,
                message=finding.message,
                since=old.since if old is not None else today,
            )
        )
    entries.sort(key=lambda e: (e.file or "", e.resource, e.policy, e.fingerprint))
    created = now.astimezone(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return Baseline(entries=tuple(entries), created=created, tool_version=metadata.version("rollguard"), path=path)


def apply_baseline(
    decision: Decision, baseline: Baseline, *, now: dt.datetime, max_age: dt.timedelta | None
) -> Decision:
    """`decision` with the findings `baseline` holds marked, and its entries no finding matches listed as fixed.

    A marked finding stops blocking (`Finding.blocks`) until its entry is older than `max_age`
    on `now`; then it blocks again and says since when its entry has expired. A waived finding
    keeps its waiver (and its entry counts as still in use); an evaluation error is never
    baselined.
    """
    entries = baseline.by_fingerprint()
    seen: set[str] = set()
    findings = []
    for finding, fingerprint in zip(decision.findings, fingerprints(decision.findings), strict=True):
        entry = entries.get(fingerprint)
        if entry is None or finding.error:
            findings.append(finding)
            continue
        seen.add(fingerprint)
        findings.append(finding if finding.waived else replace(finding, baseline=_applied(entry, now, max_age)))
    fixed = tuple(e for e in baseline.entries if e.fingerprint not in seen)
    return replace(decision, findings=tuple(findings), baseline=baseline.path, baseline_fixed=fixed)


def _applied(entry: BaselineEntry, now: dt.datetime, max_age: dt.timedelta | None) -> AppliedBaseline:
    if max_age is None:
        return AppliedBaseline(status="baselined", since=entry.since)
    start = dt.datetime.combine(dt.date.fromisoformat(entry.since), dt.time.min, tzinfo=dt.timezone.utc)
    end = start + max_age
    return AppliedBaseline(
        status="expired" if now >= end else "baselined", since=entry.since, expires=end.date().isoformat()
    )


def read_baseline(path: Path) -> Baseline:
    """The baseline file at `path`; missing, not JSON, of another version or malformed is an InputError saying what to do."""
    name = str(path)
    create = _CREATE.format(path=name)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"baseline file not found; create it with `{create}`, or drop --baseline", file=name) from None
    except OSError as exc:
        raise InputError(f"read baseline: {exc.strerror or exc}", file=name) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"a baseline file is UTF-8 JSON; regenerate it with `{create}`", file=name, line=line
        ) from None
    value, problem = parse_json(name, text, what="a baseline file", advice=f"regenerate it with `{create}`")
    if problem is not None:
        raise InputError(problem.message, file=name, line=problem.line)
    if not isinstance(value, dict) or "version" not in value:
        raise InputError(
            f"not a rollguard baseline (a JSON object with version, created, tool and findings); "
            f"regenerate it with `{create}`",
            file=name,
        )
    version = value["version"]
    if version != BASELINE_VERSION or isinstance(version, bool):
        raise InputError(
            f"baseline version {json.dumps(version)} is not one this rollguard reads ({BASELINE_VERSION}); "
            f"upgrade rollguard, or regenerate the baseline with `{create}`",
            file=name,
            line=_line_of(text, '"version"'),
        )
    tool = value.get("tool")
    return Baseline(
        entries=_entries(value.get("findings"), text, name, create),
        created=str(value.get("created", "")),
        tool_version=str(tool.get("version", "")) if isinstance(tool, dict) else "",
        path=name,
    )


def _entries(raw: Any, text: str, name: str, create: str) -> tuple[BaselineEntry, ...]:
    if not isinstance(raw, list):
        raise InputError(
            f"`findings` must be a list of baseline entries; regenerate the baseline with `{create}`",
            file=name,
            line=_line_of(text, '"findings"'),
        )
    entries: list[BaselineEntry] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        fingerprint = item.get("fingerprint") if isinstance(item, dict) else None
        line = _line_of(text, f'"{fingerprint}"') if isinstance(fingerprint, str) else _line_of(text, '"findings"')
        problem = _entry_problem(item)
        if problem is None and fingerprint in seen:
            problem = "its fingerprint appears twice"
        if problem is not None:
            raise InputError(f"findings[{i}]: {problem}; regenerate the baseline with `{create}`", file=name, line=line)
        assert isinstance(item, dict) and isinstance(fingerprint, str)
        seen.add(fingerprint)
        entries.append(
            BaselineEntry(
                fingerprint=fingerprint,
                policy=item["policy"],
                resource=item["resource"],
                file=item["file"],
                message=item["message"],
                since=item["since"],
            )
        )
    return tuple(entries)


def _entry_problem(item: Any) -> str | None:
    """Why `item` is not a baseline entry, or None."""
    if not isinstance(item, Mapping):
        return "an entry is an object with fingerprint, policy, resource, file, message and since"
    missing = [k for k in ("fingerprint", "policy", "resource", "file", "message", "since") if k not in item]
    if missing:
        return f"missing {', '.join(missing)}"
    if not isinstance(item["fingerprint"], str) or not _FINGERPRINT.fullmatch(item["fingerprint"]):
        return "fingerprint is not 64 lower-case hex digits (a SHA-256)"
    for key in ("policy", "resource", "message"):
        if not isinstance(item[key], str):
            return f"{key} is not a string"
    if item["file"] is not None and not isinstance(item["file"], str):
        return "file is neither a string nor null"
    since = item["since"]
    if not isinstance(since, str) or not _DATE.fullmatch(since) or not _is_date(since):
        return f"since {json.dumps(since)} is not a date (YYYY-MM-DD)"
    return None


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _line_of(text: str, needle: str) -> int | None:
    at = text.find(needle)
    return text.count("\n", 0, at) + 1 if at >= 0 else None
