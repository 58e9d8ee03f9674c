"""The SQL lexer of migrations: quotes, comments, MySQL DELIMITER and statement boundaries, with lines.

`rollguard migrate verify` reads statements with the same lexer, so both agree on where a quote ends.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*)?\$")
_MYSQL_DELIMITER = re.compile(r"DELIMITER[ \t]+(\S+)[^\n]*", re.IGNORECASE)


@dataclass(frozen=True)
class _Piece:
    """One statement as written: where it starts, its text, and its code without comments."""

    line: int
    sql: str
    code: str


@dataclass(frozen=True)
class Unterminated:
    """A string, quoted identifier, dollar quote or comment that opens and never closes."""

    line: int  # where it opens
    what: str  # `string literal '...'`, for messages
    closer: str  # what would close it

    def message(self) -> str:
        """What the user reads: why nothing after it was judged and what to do."""
        return (
            f"the {self.what} opened here is never closed, so the rest of the file was not read or judged "
            f"(the statements before it were); close it with `{self.closer}`"
        )


@dataclass
class _Split:
    pieces: list[_Piece] = field(default_factory=list)
    comments: list[tuple[int, str]] = field(default_factory=list)
    unterminated: Unterminated | None = None


class _Lines:
    """Offset → 1-based line number."""

    def __init__(self, text: str) -> None:
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def at(self, offset: int) -> int:
        return bisect.bisect_right(self._starts, offset)


def _quoted_end(text: str, i: int, quote: str, *, backslash: bool) -> int:
    """Offset just after the quote that closes the one at `i`; -1 when none does."""
    j = i + 1
    while True:
        k = text.find(quote, j)
        if k < 0:
            return -1
        if backslash and _escaped(text, j, k):
            j = k + 1
            continue
        if text.startswith(quote, k + 1):  # a doubled quote stands for itself
            j = k + 2
            continue
        return k + 1


def _escaped(text: str, start: int, k: int) -> bool:
    run = 0
    while k - run - 1 >= start and text[k - run - 1] == "\\":
        run += 1
    return run % 2 == 1


def _comment_end(text: str, i: int, *, nested: bool) -> int:
    """Offset just after the `*/` that closes the comment at `i`; -1 when none does."""
    depth, j = 0, i
    while j < len(text):
        if nested and text.startswith("/*", j) or j == i:
            depth, j = depth + 1, j + 2
        elif text.startswith("*/", j):
            depth, j = depth - 1, j + 2
            if depth == 0:
                return j
        else:
            j += 1
    return -1


def _is_escape_string(text: str, i: int) -> bool:
    # PostgreSQL E'...' strings take backslash escapes; a plain '...' does not.
    return i > 0 and text[i - 1] in "eE" and (i < 2 or not (text[i - 2].isalnum() or text[i - 2] in "_$"))


def sql_segments(text: str, *, dialect: str = "postgres") -> Iterator[tuple[str, int, int]]:
    """(kind, start, end) runs of a SQL text: `code`, `comment`, `quoted`, `delimiter`, `client` (MySQL
    DELIMITER) and, last, `unterminated` (a quote or comment that runs to the end of the text)."""
    return _segments(text, mysql=dialect == "mysql")


def _segments(text: str, *, mysql: bool) -> Iterator[tuple[str, int, int]]:
    delimiter, n, i, code_start = ";", len(text), 0, 0
    while i < n:
        kind, end = _segment_at(text, i, delimiter, mysql=mysql)
        if not kind:
            i += 1
            continue
        if end < 0:
            # Whatever follows an unclosed quote or comment is inside it: nothing after it is SQL.
            kind, end = "unterminated", n
        if kind == "client":
            match = _MYSQL_DELIMITER.match(text, i)
            assert match is not None
            delimiter = match.group(1)
        if code_start < i:
            yield "code", code_start, i
        yield kind, i, end
        i = code_start = end
    if code_start < n:
        yield "code", code_start, n


def _segment_at(text: str, i: int, delimiter: str, *, mysql: bool) -> tuple[str, int]:
    c = text[i]
    if text.startswith(delimiter, i):
        return "delimiter", i + len(delimiter)
    if text.startswith("--", i) or (mysql and c == "#"):
        newline = text.find("\n", i)
        return "comment", len(text) if newline < 0 else newline
    if text.startswith("/*", i):
        return "comment", _comment_end(text, i, nested=not mysql)
    if c == "'":
        return "quoted", _quoted_end(text, i, "'", backslash=mysql or _is_escape_string(text, i))
    if c == '"' or (mysql and c == "`"):
        return "quoted", _quoted_end(text, i, c, backslash=mysql and c == '"')
    if c == "$" and not mysql and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] in "_$")):
        tag = _DOLLAR_TAG.match(text, i)
        if tag:
            close = text.find(tag.group(0), tag.end())
            return "quoted", -1 if close < 0 else close + len(tag.group(0))
    if mysql and c in "dD" and not text[text.rfind("\n", 0, i) + 1 : i].strip():
        match = _MYSQL_DELIMITER.match(text, i)
        if match:
            return "client", match.end()
    return "", i


def _unterminated_at(text: str, offset: int, *, line: int, mysql: bool) -> Unterminated:
    """Describe the quote or comment that opens at `offset` and never closes."""
    opener = text[offset : offset + 2]
    if opener == "/*":
        return Unterminated(line, "comment /* ... */", "*/")
    if opener[0] == "$":
        tag = _DOLLAR_TAG.match(text, offset)
        mark = tag.group(0) if tag else "$$"
        return Unterminated(line, f"dollar-quoted string {mark} ... {mark}", mark)
    quote = opener[0]
    if quote == "'" or (mysql and quote == '"'):
        return Unterminated(line, f"string literal {quote}...{quote}", quote)
    return Unterminated(line, f"quoted identifier {quote}...{quote}", quote)


def find_unterminated(text: str, *, dialect: str = "postgres") -> Unterminated | None:
    """The quote or comment of a SQL text that never closes, if any."""
    for kind, start, _ in sql_segments(text, dialect=dialect):
        if kind == "unterminated":
            return _unterminated_at(text, start, line=text.count("\n", 0, start) + 1, mysql=dialect == "mysql")
    return None


def split_statements(text: str, *, dialect: str = "postgres") -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(line, statement) pairs and (line, comment) pairs of a SQL text, honouring quotes and comments.

    A statement cut short by a quote or comment that never closes is left out (`find_unterminated` says where).
    """
    split = _split(text, mysql=dialect == "mysql")
    return [(p.line, p.sql) for p in split.pieces], split.comments


def _split(text: str, *, mysql: bool) -> _Split:
    lines, split = _Lines(text), _Split()
    start: int | None = None
    code: list[str] = []

    def flush(at: int) -> None:
        nonlocal start
        if start is not None:
            sql = text[start:at].rstrip()
            split.pieces.append(_Piece(lines.at(start), sql, " ".join("".join(code).split())))
        start = None
        code.clear()

    for kind, a, b in _segments(text, mysql=mysql):
        if kind == "unterminated":
            # The statement it belongs to is cut short: judging the fragment would judge other SQL.
            split.unterminated = _unterminated_at(text, a, line=lines.at(a), mysql=mysql)
            start = None
            code.clear()
            break
        if kind == "comment":
            split.comments.append((lines.at(a), text[a:b]))
            code.append(" ")
        elif kind in ("delimiter", "client"):
            flush(a)
        elif kind == "quoted":
            start = a if start is None else start
            code.append(text[a:b])
        else:
            chunk = text[a:b]
            if start is None and chunk.strip():
                start = a + len(chunk) - len(chunk.lstrip())
            code.append(re.sub(r"\s+", " ", chunk))
    flush(len(text))
    return split
