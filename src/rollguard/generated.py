"""The generated trees (policy docs, the webhook's policy folder, Gatekeeper): one writer, one staleness check."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from rollguard.errors import ConfigError


@dataclass(frozen=True)
class TreeChanges:
    """What `GeneratedTree.write` did, by path relative to the directory written."""

    written: tuple[str, ...]
    removed: tuple[str, ...]


@dataclass(frozen=True, eq=False)  # compared as a mapping
class GeneratedTree(Mapping[str, str]):
    """The files a command generates under one directory: relative path → text.

    A file already under that directory is the tree's own when it matches `owned` (a glob
    relative to the directory) and, if `header` is set, starts with that line; a file of its
    own that is no longer generated is stale. Anything else there (a hand-written README) is
    left alone.
    """

    files: Mapping[str, str]
    owned: str = "**/*"
    header: str | None = None

    def __getitem__(self, path: str) -> str:
        return self.files[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def write(self, root: Path) -> TreeChanges:
        """Write the files that differ under `root`, and remove the tree's own files no longer generated."""
        if root.exists() and not root.is_dir():
            raise ConfigError(f"--out {root} is a file; give a directory")
        written: list[str] = []
        try:
            root.mkdir(parents=True, exist_ok=True)
            for rel in sorted(self.files):
                path, text = root / rel, self.files[rel]
                if path.is_file() and path.read_text(encoding="utf-8") == text:
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                written.append(rel)
            removed = [rel for rel in self.owned_files(root) if rel not in self.files]
            for rel in removed:
                (root / rel).unlink()
                # Folders the removal emptied go too (a policy or sample that no longer exists).
                folder = (root / rel).parent
                while folder != root and folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
                    folder = folder.parent
        except OSError as exc:
            raise ConfigError(f"write generated files: {exc.strerror or exc}", file=str(exc.filename or root)) from exc
        return TreeChanges(tuple(written), tuple(removed))

    def differences(self, root: Path) -> list[str]:
        """How `root` differs from the tree: `missing`, `changed` and `stale` (owned, no longer generated) paths."""
        problems = []
        for rel in sorted(self.files):
            path = root / rel
            if not path.is_file():
                problems.append(f"missing {rel}")
            elif path.read_text(encoding="utf-8") != self.files[rel]:
                problems.append(f"changed {rel}")
        problems += [f"stale {rel}" for rel in self.owned_files(root) if rel not in self.files]
        return problems

    def owned_files(self, root: Path) -> list[str]:
        """Paths (relative to `root`) of the files under it that are the tree's own."""
        if not root.is_dir():
            return []
        return sorted(
            p.relative_to(root).as_posix() for p in root.glob(self.owned) if p.is_file() and self._has_header(p)
        )

    def _has_header(self, path: Path) -> bool:
        if self.header is None:
            return True
        try:
            with path.open(encoding="utf-8") as f:
                return f.readline() == self.header
        except (OSError, UnicodeDecodeError):
            return False
