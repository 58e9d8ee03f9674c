"""Rego sources as Gatekeeper accepts them: libraries moved under `lib.`, data references checked."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rollguard.errors import PolicyError
from rollguard.policy.bundle import PolicyBundle, PolicyInfo

# rollguard keeps its helpers in `rollguard.lib.*`; Gatekeeper only accepts library packages
# under `lib.` (and rewrites them itself to a per-template path).
SOURCE_LIB_PREFIX = "rollguard.lib"
GATEKEEPER_LIB_PREFIX = "lib.rollguard"

# The only parts of `data` a template may read: Gatekeeper's synced objects and its libraries.
ALLOWED_DATA_ROOTS = ("inventory", "lib")
# What Gatekeeper passes as input to a template.
ALLOWED_INPUT_FIELDS = ("review", "parameters")

_PACKAGE = re.compile(r"^package[ \t]+([\w.]+)", re.MULTILINE)
_IMPORT = re.compile(r"^import[ \t]+([\w.]+)", re.MULTILINE)
_REGO_V1_IMPORT = re.compile(r"^[ \t]*import[ \t]+rego\.v1[ \t]*$", re.MULTILINE)
_DATA_LIB = re.compile(r"(?<![\w.])data\.rollguard\.lib\b")
_LIB_PACKAGE = re.compile(r"^(package[ \t]+)rollguard\.lib\b", re.MULTILINE)
_DATA_REF = re.compile(r"(?<![\w.])data\b((?:\.\w+)*)(\[?)")
_INPUT_REF = re.compile(r"(?<![\w.])input\b(?:\.(\w+)|(\[))?")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_KIND = re.compile(r"^[A-Z][A-Za-z0-9]*$")
# A rule head at the start of a line (opa fmt style); group 2 is set for functions, e.g. `inventory(ns, kind) := [`.
_RULE_HEAD = re.compile(r"^(?:default[ \t]+)?(?!package\b|import\b)([a-z_]\w*)(\()?", re.MULTILINE)


@dataclass(frozen=True)
class Segment:
    """A stretch of Rego source: code, a comment, or a string literal (quoted or raw)."""

    kind: str  # "code" | "comment" | "string"
    text: str


_SEGMENT_START = re.compile(r'[#"`]')
_QUOTED = re.compile(r'"(?:[^"\\\n]|\\.)*"?')


def segments(source: str) -> list[Segment]:
    """Split Rego source so rewrites and checks touch code only, never comments or strings."""
    out: list[Segment] = []
    i = 0
    n = len(source)
    while i < n:
        m = _SEGMENT_START.search(source, i)
        start = m.start() if m else n
        if start > i:
            out.append(Segment("code", source[i:start]))
        if m is None:
            break
        ch = source[start]
        if ch == "#":
            end = source.find("\n", start)
            end = n if end < 0 else end
        elif ch == '"':
            quoted = _QUOTED.match(source, start)
            end = quoted.end() if quoted else n
        else:
            end = source.find("`", start + 1)
            end = n if end < 0 else end + 1
        out.append(Segment("comment" if ch == "#" else "string", source[start:end]))
        i = end
    return out


def code_only(source: str) -> str:
    """`source` with comments and strings blanked out (same length, same lines) for scanning."""
    return "".join(
        s.text if s.kind == "code" else re.sub(r"[^\n]", " ", s.text) if s.kind == "comment" else _blank_string(s.text)
        for s in segments(source)
    )


def _blank_string(text: str) -> str:
    # Keep the quotes so a blanked string still reads as a term, and the newlines of raw strings.
    return text[0] + re.sub(r"[^\n]", " ", text[1:-1]) + text[-1] if len(text) >= 2 else text


def package_of(source: str, *, file: str) -> str:
    """The package a module declares."""
    m = _PACKAGE.search(code_only(source))
    if not m:
        raise PolicyError("no package declaration", file=file, line=1)
    return m.group(1)


def data_paths(source: str) -> set[str]:
    """Dotted paths under `data` the code of `source` refers to (imports included)."""
    return {m.group(1).lstrip(".") for m in _DATA_REF.finditer(code_only(source))}


def library_modules(bundle: PolicyBundle) -> dict[str, tuple[str, str]]:
    """Display path → (package, source) of every `rollguard.lib.*` module (tests left out)."""
    libs: dict[str, tuple[str, str]] = {}
    for path, source in sorted(bundle.runtime_modules().items()):
        package = package_of(source, file=path)
        if package == SOURCE_LIB_PREFIX or package.startswith(SOURCE_LIB_PREFIX + "."):
            libs[path] = (package, source)
    return libs


def _refers_to(paths: Iterable[str], package: str) -> bool:
    # `data.rollguard.lib.k8s.obj` needs package rollguard.lib.k8s; `import data.rollguard.lib`
    # needs every package under it.
    return any(p == package or p.startswith(package + ".") or package.startswith(p + ".") for p in paths)


def required_libraries(source: str, libs: Mapping[str, tuple[str, str]]) -> list[str]:
    """Display paths of the library modules `source` uses, directly or through other libraries."""
    needed: set[str] = set()
    pending = [source]
    while pending:
        paths = data_paths(pending.pop())
        for path, (package, lib_source) in libs.items():
            if path not in needed and _refers_to(paths, package):
                needed.add(path)
                pending.append(lib_source)
    return sorted(needed, key=lambda p: (libs[p][0], p))


def to_gatekeeper(source: str, *, library: bool) -> str:
    """Rewrite `rollguard.lib.*` to `lib.rollguard.*`, drop `import rego.v1`, indent with spaces.

    Gatekeeper parses `version: "v1"` sources as Rego v1, where `import rego.v1` is a no-op its
    import check would refuse. Tabs become spaces (in code and comments, never in strings) so the
    YAML can hold the source as a readable block; trailing spaces go for the same reason.
    """

    def rewrite(code: str) -> str:
        code = _DATA_LIB.sub("data." + GATEKEEPER_LIB_PREFIX, code)
        if library:
            code = _LIB_PACKAGE.sub(r"\g<1>" + GATEKEEPER_LIB_PREFIX, code)
        code = _REGO_V1_IMPORT.sub("", code)
        return re.sub(r"[ \t]+(?=\n)", "", code.replace("\t", "    "))

    text = "".join(
        rewrite(s.text)
        if s.kind == "code"
        else s.text.rstrip().replace("\t", "    ")
        if s.kind == "comment"
        else s.text
        for s in segments(source)
    )
    return text.rstrip("\n") + "\n"


def check_gatekeeper_source(source: str, *, file: str, library: bool) -> None:
    """Refuse what Gatekeeper would reject or cannot feed: other `data`, other input, bad imports."""
    code = code_only(source)
    package = package_of(source, file=file)
    if library and not package.startswith("lib."):
        raise PolicyError(f"library package {package} is not under lib.; Gatekeeper refuses it", file=file)
    if not library and not re.search(r"^violation\b", code, re.MULTILINE):
        raise PolicyError("defines no `violation` rule, which Gatekeeper requires of a template", file=file)
    for m in _IMPORT.finditer(code):
        target = m.group(1)
        if not (target.startswith("data.lib.") or target.startswith("future.")):
            raise PolicyError(
                f"imports {target}: a Gatekeeper template may import only data.lib.* libraries",
                file=file,
                line=_line(code, m.start()),
            )
    for m in _DATA_REF.finditer(code):
        path, bracket = m.group(1).lstrip("."), m.group(2)
        if path.split(".", 1)[0] not in ALLOWED_DATA_ROOTS:
            shown = "data" + (m.group(1) or "") + (bracket and "[...]")
            raise PolicyError(
                f"refers to {shown}; inside Gatekeeper a policy can read only data.inventory and data.lib "
                "(read other input through input.parameters, or leave the policy out of the Gatekeeper build)",
                file=file,
                line=_line(code, m.start()),
            )
    for m in _INPUT_REF.finditer(code):
        name, bracket = m.group(1), m.group(2)
        if bracket or (name is not None and name not in ALLOWED_INPUT_FIELDS):
            raise PolicyError(
                f"refers to input.{name or '[...]'}; Gatekeeper gives a template only input.review and input.parameters",
                file=file,
                line=_line(code, m.start()),
            )


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


@dataclass(frozen=True)
class TemplateSource:
    """A policy's Rego as a Gatekeeper template carries it: the main module and its libraries."""

    rego: str
    libs: tuple[str, ...]


def template_source(
    bundle: PolicyBundle, info: PolicyInfo, *, libs: Mapping[str, tuple[str, str]] | None = None
) -> TemplateSource:
    """The policy's own source (still reading `input.parameters`) plus exactly the libraries it uses.

    `libs` is `library_modules(bundle)`, passed in when building many templates.
    """
    if info.file not in bundle.modules:
        raise PolicyError(f"{info.id}: module {info.file} is not in the bundle")
    source = bundle.modules[info.file]
    libs = library_modules(bundle) if libs is None else libs
    lib_files = required_libraries(source, libs)
    rego = to_gatekeeper(source, library=False)
    check_gatekeeper_source(rego, file=info.file, library=False)
    rewritten = []
    for path in lib_files:
        lib = to_gatekeeper(libs[path][1], library=True)
        check_gatekeeper_source(lib, file=path, library=True)
        rewritten.append(lib)
    return TemplateSource(rego=rego, libs=tuple(rewritten))


def inventory_readers(libs: Mapping[str, tuple[str, str]]) -> set[str]:
    """Names of library functions that read synced objects (`data.inventory.namespace|cluster`)."""
    readers: set[str] = set()
    for _package, source in libs.values():
        code = code_only(source)
        heads = list(_RULE_HEAD.finditer(code))
        for i, head in enumerate(heads):
            body = code[head.start() : heads[i + 1].start() if i + 1 < len(heads) else len(code)]
            if head.group(2) and re.search(r"data\.inventory\.(namespace|cluster)\b", body):
                readers.add(head.group(1))
    return readers


def literal_inventory_kinds(source: str, readers: Iterable[str]) -> set[str]:
    """Kinds a policy names literally when it reads the inventory, directly or through a library reader.

    Kinds chosen at run time (a variable) are not seen here; METADATA `custom.inventory` declares
    them, and this is the cross-check that it does not forget a literal one.
    """
    code_and_strings = "".join(s.text if s.kind != "comment" else " " * len(s.text) for s in segments(source))
    names = "|".join(re.escape(r) for r in sorted(readers))
    kinds: set[str] = set()
    starts = [m.end() for m in re.finditer(rf"\.(?:{names})\(", code_and_strings)] if names else []
    starts += [m.end() for m in re.finditer(r"(?<![\w.])data\.inventory\.(?:namespace|cluster)\b", code_and_strings)]
    for start in starts:
        arguments = _balanced(code_and_strings, start)
        kinds.update(s for s in _STRING.findall(arguments) if _KIND.match(s))
    return kinds


def _balanced(text: str, start: int) -> str:
    """The text from `start` up to where the bracket or parenthesis open before it closes, or the ref ends."""
    depth = 1 if start > 0 and text[start - 1] == "(" else 0
    i = start
    while i < len(text):
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0 or (depth == 0 and ch == ")"):
                break
        elif depth == 0 and not (ch.isalnum() or ch in "._"):
            break
        elif ch == '"':
            close = _STRING.match(text, i)
            i = close.end() if close else i + 1
            continue
        i += 1
    return text[start:i]
