"""The one writer and staleness check of the generated trees (policy docs, webhook policy folder, Gatekeeper)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollguard.errors import ConfigError
from rollguard.generated import GeneratedTree

HEADER = "# generated\n"


def tree(files: dict[str, str]) -> GeneratedTree:
    return GeneratedTree(files, header=HEADER)


def test_differences_name_missing_changed_and_stale_files(tmp_path: Path) -> None:
    tree({"a.yaml": HEADER + "a: 1\n", "b/c.yaml": HEADER + "c: 1\n"}).write(tmp_path)
    (tmp_path / "mine.yaml").write_text("hand: written\n")
    assert tree({"a.yaml": HEADER + "a: 2\n", "d.yaml": HEADER}).differences(tmp_path) == [
        "changed a.yaml",
        "missing d.yaml",
        "stale b/c.yaml",
    ]


def test_write_removes_only_its_own_stale_files(tmp_path: Path) -> None:
    tree({"a.yaml": HEADER + "a: 1\n", "old/b.yaml": HEADER + "b: 1\n"}).write(tmp_path)
    (tmp_path / "mine.yaml").write_text("hand: written\n")
    changes = tree({"a.yaml": HEADER + "a: 1\n", "new/c.yaml": HEADER + "c: 1\n"}).write(tmp_path)
    assert changes.written == ("new/c.yaml",)
    assert changes.removed == ("old/b.yaml",)
    assert not (tmp_path / "old").exists(), "an emptied folder is left behind"
    assert (tmp_path / "mine.yaml").read_text() == "hand: written\n"
    assert tree({"a.yaml": HEADER + "a: 1\n", "new/c.yaml": HEADER + "c: 1\n"}).differences(tmp_path) == []


def test_a_tree_without_a_header_owns_what_its_glob_matches(tmp_path: Path) -> None:
    (tmp_path / "retired.md").write_text("old page\n")
    (tmp_path / "notes.txt").write_text("kept\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deeper.md").write_text("kept: the glob is one folder deep\n")
    pages = GeneratedTree({"a.md": "A\n"}, owned="*.md")
    assert pages.differences(tmp_path) == ["missing a.md", "stale retired.md"]
    changes = pages.write(tmp_path)
    assert (changes.written, changes.removed) == (("a.md",), ("retired.md",))
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        "a.md",
        "notes.txt",
        "sub/deeper.md",
    ]


def test_it_is_a_mapping_of_path_to_text() -> None:
    files = {"b.md": "B\n", "a.md": "A\n"}
    pages = GeneratedTree(files)
    assert pages == files and dict(pages) == files and len(pages) == 2 and pages["a.md"] == "A\n"


def test_writing_over_a_file_is_a_config_error(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.write_text("")
    with pytest.raises(ConfigError, match="is a file; give a directory"):
        GeneratedTree({"a.md": "A\n"}).write(target)
