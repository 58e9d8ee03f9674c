"""Which migration files of a change are pending (not yet applied): from a version, from git, or from the
migration tool's own history table; and, for `check --since`, which inputs are unchanged since a git ref."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rollguard.errors import ConfigError
from rollguard.model import InputProblem

if TYPE_CHECKING:
    import psycopg

GIT_TIMEOUT = 30.0  # seconds per git command
HISTORY_TIMEOUT = "30s"  # statement_timeout of the history queries
HISTORY_TABLES = ("flyway_schema_history", "schema_migrations", "alembic_version", "django_migrations")

_NUMERIC_VERSION = re.compile(r"^[vV]?(\d+(?:[._]\d+)*)$")


@dataclass(frozen=True)
class PendingFrom:
    """`--pending-from VERSION`: this version and every later one are pending, earlier ones applied."""

    version: str


@dataclass(frozen=True)
class ChangedSince:
    """`--since REF`: files added or changed since a git ref, and untracked files, are pending."""

    ref: str
    paths: frozenset[str]  # resolved absolute paths
    deleted: frozenset[str] = frozenset()  # resolved absolute paths of files deleted since the ref


@dataclass(frozen=True)
class UnchangedInputs:
    """`check --since REF`: the inputs (by the name their documents carry) unchanged since `ref`.

    Their documents fill the inventory and the change set, so cross-object rules still see
    them, but they are not judged: a change is judged, not the repository it sits in.
    """

    ref: str
    names: frozenset[str]


@dataclass(frozen=True)
class AppliedHistory:
    """`--dsn URL`: what the migration tool's history table records as applied (None: no such table)."""

    database: str  # host:port/dbname, for messages
    option: str = "--dsn"  # the option that named the database, for messages
    flyway_versions: frozenset[str] | None = None  # versions of successful migrations, as `1.2`
    flyway_scripts: frozenset[str] = frozenset()  # scripts of successful repeatable migrations
    flyway_baseline: tuple[int, ...] | None = None  # versions up to a BASELINE row count as applied
    schema_versions: frozenset[int] | None = None  # schema_migrations rows
    schema_current: int | None = None  # golang-migrate: the one current version, when dirty is recorded
    schema_dirty: bool = False  # golang-migrate: the current version failed halfway
    alembic_heads: frozenset[str] | None = None
    django_applied: frozenset[tuple[str, str]] | None = None  # (app, name)


PendingSelection = PendingFrom | ChangedSince | AppliedHistory


@dataclass(frozen=True)
class MigrationRef:
    """What deciding needs to know about one migration file."""

    name: str
    tool: str
    version: str | None
    direction: str
    revisions: tuple[tuple[str, str], ...] = ()  # alembic: (from, to) of every upgrade in the file


def pending_by(selection: PendingSelection) -> str:
    """How a document's `pending_by` names the way the user told: `pending_from`, `since` or `history`."""
    if isinstance(selection, PendingFrom):
        return "pending_from"
    if isinstance(selection, ChangedSince):
        return "since"
    return "history"


def decide(selection: PendingSelection, files: Sequence[MigrationRef]) -> tuple[list[bool | None], list[InputProblem]]:
    """Whether each file (in the order the tool applies them) is pending; None when the selection cannot tell."""
    if isinstance(selection, PendingFrom):
        return _from_version(selection.version, files)
    if isinstance(selection, ChangedSince):
        return [_changed(selection, f) for f in files], []
    return _from_history(selection, files)


# --------------------------------------------------------------------------- --pending-from


def _numeric(version: str | None) -> tuple[int, ...] | None:
    match = _NUMERIC_VERSION.match(version.strip()) if version else None
    return tuple(int(p) for p in re.split(r"[._]", match.group(1))) if match else None


def _stem(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return base[: -len(".sql")] if base.lower().endswith(".sql") else base


def _from_version(version: str, files: Sequence[MigrationRef]) -> tuple[list[bool | None], list[InputProblem]]:
    wanted = _numeric(version)
    states: list[bool | None] = [None] * len(files)
    # Files with a numeric version compare by number, so the version need not exist (`--pending-from 8`
    # when 8 is the next one to write); files without one (alembic revisions, Django names, plain
    # names) are pending from the first file whose version or name is the one given, in apply order.
    ups = [i for i, f in enumerate(files) if f.direction == "up"]
    for i in ups:
        own = _numeric(files[i].version) if files[i].tool in ("flyway", "golang-migrate", "numbered") else None
        if wanted is not None and own is not None:
            states[i] = _padded(own, wanted) >= _padded(wanted, own)
    named = [i for i in ups if states[i] is None]
    first = next((i for i in named if version in (files[i].version, _stem(files[i].name))), None)
    if first is not None:
        for i in named:
            states[i] = i >= first
    problems: list[InputProblem] = []
    if ups and all(states[i] is None for i in ups):
        problems.append(
            InputProblem(
                "--pending-from",
                None,
                f"no migration of the change has version or name {version!r}; give the version of the first "
                "migration that has not run yet (e.g. 8 for V8__x.sql or 008_x.sql)",
            )
        )
    return states, problems


def _padded(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    # Flyway compares 1.2 and 1.2.0 as equal: missing parts are zeros.
    return a + (0,) * (len(b) - len(a))


# --------------------------------------------------------------------------- --since


def _changed(selection: ChangedSince, file: MigrationRef) -> bool | None:
    path = Path(file.name)
    if file.direction != "up" or not path.is_file():
        return None  # stdin, a rendered text: git knows nothing of it
    return str(path.resolve()) in selection.paths


def changed_since(ref: str, files: Iterable[Path], *, git: str = "git") -> ChangedSince:
    """Files added or modified since `ref` in the git repositories holding `files` (files or folders),
    plus untracked ones: `git diff --name-only REF` (the work tree against the ref, staged changes
    included) and `git ls-files --others --exclude-standard`. Deleted files are listed apart."""
    if not ref.strip() or ref.startswith("-"):
        raise ConfigError(f"--since {ref!r} is not a git ref; give a branch, tag or commit such as origin/main")
    tops: set[Path] = set()
    for folder in sorted({f.resolve() if f.is_dir() else f.resolve().parent for f in files}):
        found = _git(git, folder, ["rev-parse", "--show-toplevel"], what=f"--since: {folder.as_posix()}")
        tops.add(Path(found.strip()))
    changed: set[str] = set()
    deleted: set[str] = set()
    for top in sorted(tops):
        where = f"--since {ref}"
        _git(git, top, ["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], what=where)
        diff = _git(git, top, ["diff", "--name-only", "--no-renames", "--diff-filter=AM", "-z", ref, "--"], what=where)
        untracked = _git(git, top, ["ls-files", "--others", "--exclude-standard", "-z", "--"], what=where)
        gone = _git(git, top, ["diff", "--name-only", "--no-renames", "--diff-filter=D", "-z", ref, "--"], what=where)
        changed.update(str((top / name).resolve()) for name in (diff + untracked).split("\0") if name)
        deleted.update(str((top / name).resolve()) for name in gone.split("\0") if name)
    return ChangedSince(ref=ref, paths=frozenset(changed), deleted=frozenset(deleted))


def unchanged_since(
    ref: str, paths: Sequence[str], *, kustomize: Sequence[str] = (), git: str = "git"
) -> UnchangedInputs:
    """The inputs of `check PATHS --kustomize DIR...` unchanged since `ref` (see `changed_since`).

    A rendered folder (a kustomization or chart found by the walk, or `--kustomize DIR`) is
    changed when a file was added, changed or deleted in it or in a base, component or local
    chart it reaches. Standard input is always judged: git knows nothing of it. A ref git does
    not know, or an input outside a git work tree, is a ConfigError naming the ref.
    """
    from rollguard.inputs import iter_input_files
    from rollguard.inputs.render import render_sources, rendered_name, rendered_origin

    named = [p for p in paths if p != "-"]
    inputs = [
        *iter_input_files(named, render=True),
        *((rendered_name(d, "kustomize"), Path(d)) for d in kustomize),
    ]
    selection = changed_since(ref, [Path(p) for p in [*named, *kustomize]], git=git)
    touched = [Path(p) for p in selection.paths | selection.deleted]
    unchanged: set[str] = set()
    for name, path in inputs:
        if path is None:
            continue
        origin = rendered_origin(name)
        if origin is not None and path.is_dir():
            sources = render_sources(path, origin[1])
            if not any(t.is_relative_to(folder) for t in touched for folder in sources):
                unchanged.add(name)
        elif str(path.resolve()) not in selection.paths:
            unchanged.add(name)
    return UnchangedInputs(ref=ref, names=frozenset(unchanged))


def _git(git: str, cwd: Path, args: list[str], *, what: str) -> str:
    """Run one git command (an argument list, a timeout); any failure is a ConfigError naming `what`."""
    command = [git, "-C", str(cwd), *args]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False)  # noqa: S603
    except FileNotFoundError as exc:
        raise ConfigError(f"{what}: git is not installed (or not on PATH); --since reads the change with git") from exc
    except subprocess.TimeoutExpired as exc:
        raise ConfigError(f"{what}: `git {args[0]}` did not finish within {GIT_TIMEOUT:g} s") from exc
    if proc.returncode != 0:
        reason = proc.stderr.strip().splitlines()[0] if proc.stderr.strip() else f"exit code {proc.returncode}"
        if args[0] == "rev-parse" and "--show-toplevel" in args:
            raise ConfigError(
                f"{what} is not in a git repository ({reason}); --since reads the change with git: run in a clone, "
                "or drop --since to judge every file"
            )
        if "--verify" in args:
            raise ConfigError(
                f"{what}: no such commit in {cwd.as_posix()}; check the ref (is it fetched? a shallow CI clone "
                "needs `git fetch origin main` or a deeper clone)"
            )
        raise ConfigError(f"{what}: `git {args[0]}` failed: {reason}")
    return proc.stdout


# --------------------------------------------------------------------------- --dsn


def read_history(dsn: str, *, option: str = "--dsn") -> AppliedHistory:
    """Read the migration history tables the database at `dsn` holds, in a read-only transaction.

    `option` names the command-line option that gave `dsn`, for messages.
    """
    history = _read(dsn, option=option, required=True)
    assert history is not None
    return history


def history_if_any(dsn: str, *, option: str = "--dsn") -> AppliedHistory | None:
    """The history tables of the database at `dsn`, or None when it holds none (read-only, like `read_history`)."""
    return _read(dsn, option=option, required=False)


def _read(dsn: str, *, option: str, required: bool) -> AppliedHistory | None:
    try:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict
    except ImportError as exc:
        raise ConfigError(f"{option} needs psycopg; install it with `pip install 'rollguard[postgres]'`") from exc
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"{option} is not a PostgreSQL connection string: {_first_line(exc)}") from exc
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    where = f"{host}:{params.get('port') or 5432}/{params.get('dbname') or ''}"
    try:
        conn = psycopg.connect(dsn, connect_timeout=10, application_name="rollguard migration history")
    except psycopg.Error as exc:
        raise ConfigError(f"{option}: cannot connect to PostgreSQL at {where}: {_first_line(exc)}") from exc
    try:
        conn.read_only = True  # BEGIN READ ONLY: rollguard never writes to this database
        conn.execute(f"SET LOCAL statement_timeout = '{HISTORY_TIMEOUT}'")
        history = _history(conn, where, option=option, required=required)
    except psycopg.Error as exc:
        raise ConfigError(f"{option}: cannot read the migration history at {where}: {_first_line(exc)}") from exc
    finally:
        conn.rollback()
        conn.close()
    return history


def _history(conn: psycopg.Connection[Any], where: str, *, option: str, required: bool) -> AppliedHistory | None:
    present = {
        name
        for name in HISTORY_TABLES
        if (row := conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()) and row[0] is not None
    }
    if not present:
        if not required:
            return None
        raise ConfigError(
            f"{option}: {where} has no migration history table (looked for {', '.join(HISTORY_TABLES)} on the "
            "search_path); name the database the migrations run on, or use --pending-from or --since"
        )
    values: dict[str, Any] = {"database": where, "option": option}
    if "flyway_schema_history" in present:
        values.update(_flyway(conn))
    if "schema_migrations" in present:
        values.update(_schema_migrations(conn))
    if "alembic_version" in present:
        rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        values["alembic_heads"] = frozenset(str(r[0]) for r in rows if r[0] is not None)
    if "django_migrations" in present:
        rows = conn.execute("SELECT app, name FROM django_migrations").fetchall()
        values["django_applied"] = frozenset((str(app), str(name)) for app, name in rows)
    return AppliedHistory(**values)


def _flyway(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    rows = conn.execute("SELECT version, script, type, success FROM flyway_schema_history").fetchall()
    versions: set[str] = set()
    scripts: set[str] = set()
    baseline: tuple[int, ...] | None = None
    for version, script, kind, success in rows:
        if success is not True:
            continue  # a failed migration is still pending
        number = _numeric(str(version)) if version is not None else None
        if number is None:
            scripts.add(str(script))
        elif str(kind).upper() == "BASELINE":
            baseline = max(baseline or number, number)
        else:
            versions.add(".".join(map(str, number)))
    return {"flyway_versions": frozenset(versions), "flyway_scripts": frozenset(scripts), "flyway_baseline": baseline}


def _schema_migrations(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    cursor = conn.execute("SELECT * FROM schema_migrations")
    columns = [c.name for c in cursor.description or ()]
    rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    versions = frozenset(int(v) for r in rows if (v := _int(r.get("version"))) is not None)
    if "dirty" not in columns:  # one row per applied version (dbmate and others)
        return {"schema_versions": versions}
    # golang-migrate keeps one row: the version the database is at, and whether it failed halfway.
    current = max(versions) if versions else None
    dirty = any(r.get("dirty") is True and _int(r.get("version")) == current for r in rows)
    return {"schema_versions": versions, "schema_current": current, "schema_dirty": dirty}


def _int(value: Any) -> int | None:
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isdigit() else None


def _from_history(
    history: AppliedHistory, files: Sequence[MigrationRef]
) -> tuple[list[bool | None], list[InputProblem]]:
    missing: dict[str, str] = {}  # table → first file that needs it
    states: list[bool | None] = []
    applied_revisions = _alembic_applied(history.alembic_heads, files)
    for file in files:
        state, table = _file_in_history(history, file, applied_revisions)
        if table is not None:
            missing.setdefault(table, file.name)
        states.append(state)
    problems = [
        InputProblem(
            name,
            None,
            f"{history.option}: {history.database} has no {table} table, so whether this {_tool_display(table)} migration "
            "has run is unknown; name the database it runs on, or use --pending-from or --since",
        )
        for table, name in missing.items()
    ]
    return states, problems


def _tool_display(table: str) -> str:
    return {
        "flyway_schema_history": "Flyway",
        "schema_migrations": "numbered",
        "alembic_version": "Alembic",
        "django_migrations": "Django",
    }[table]


def _file_in_history(
    history: AppliedHistory, file: MigrationRef, alembic_applied: frozenset[str] | None
) -> tuple[bool | None, str | None]:
    """(pending, the table that would tell but is missing) of one file."""
    if file.direction != "up":
        return None, None
    if file.tool == "flyway":
        if history.flyway_versions is None:
            return None, "flyway_schema_history"
        number = _numeric(file.version)
        if number is None:  # repeatable: rerun whenever it changes, which the checksum would tell
            return (None if _stem(file.name) + ".sql" in history.flyway_scripts else True), None
        if history.flyway_baseline is not None and _padded(number, history.flyway_baseline) <= _padded(
            history.flyway_baseline, number
        ):
            return False, None
        return ".".join(map(str, number)) not in history.flyway_versions, None
    if file.tool in ("golang-migrate", "numbered"):
        if history.schema_versions is None:
            return None, "schema_migrations"
        version = _int(file.version)
        if version is None:
            return None, None
        if history.schema_current is not None:
            done = version < history.schema_current or (version == history.schema_current and not history.schema_dirty)
            return not done, None
        return version not in history.schema_versions, None
    if file.tool == "alembic":
        if alembic_applied is None:
            return None, "alembic_version"
        targets = [to for _, to in file.revisions]
        return (not all(t in alembic_applied for t in targets)) if targets else None, None
    if file.tool == "django":
        if history.django_applied is None:
            return None, "django_migrations"
        # `sqlmigrate` output saved as <app>/<migration>.sql; else the migration name alone, when no two apps share it.
        name = _stem(file.name)
        if (Path(file.name).parent.name, name) in history.django_applied:
            return False, None
        apps = [a for a, n in history.django_applied if n == name]
        return (True if not apps else False if len(apps) == 1 else None), None
    return None, None


def _alembic_applied(heads: frozenset[str] | None, files: Sequence[MigrationRef]) -> frozenset[str] | None:
    """Revisions at or before the database's heads, following the `a -> b` chain the files print."""
    if heads is None:
        return None
    parents: Mapping[str, str] = {to: src for f in files for src, to in f.revisions if src}
    applied: set[str] = set()
    for head in heads:
        revision: str | None = head
        while revision is not None and revision not in applied:
            applied.add(revision)
            revision = parents.get(revision)
    return frozenset(applied)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------- the command line


def select_pending(
    *,
    pending_from: str | None,
    since: str | None,
    dsn: str | None,
    files: Iterable[Path],
    dsn_option: str = "--dsn",
) -> PendingSelection | None:
    """The one way the user said which migrations are pending (`files`: the .sql inputs, for --since); None
    when they did not. Two ways at once, an empty version, a bad ref or an unreadable history: ConfigError."""
    given = [flag for flag, value in (("--pending-from", pending_from), ("--since", since), (dsn_option, dsn)) if value]
    if len(given) > 1:
        raise ConfigError(f"{' and '.join(given)} each say which migrations are pending; give only one of them")
    if pending_from is not None:
        if not pending_from.strip():
            raise ConfigError("--pending-from needs the version of the first migration that has not run yet")
        return PendingFrom(pending_from.strip())
    if since is not None:
        return changed_since(since, files)
    if dsn is not None:
        return read_history(dsn, option=dsn_option)
    return None
