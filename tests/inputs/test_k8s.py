"""Reading manifests: multi-document YAML, JSON, Lists, lines, and bad input that never crashes."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from rollguard.inputs import load_change_set
from rollguard.inputs.k8s import load_text


def _pod(name: str) -> str:
    return f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: ns\nspec: {{}}\n"


def test_multi_document_yaml_keeps_each_documents_first_line() -> None:
    text = "# leading comment\n" + _pod("a") + "---\n" + _pod("b") + "---\n\n" + _pod("c")
    artifacts, problems = load_text("m.yaml", text)
    assert problems == []
    assert [(a.resource.name, a.line) for a in artifacts] == [("a", 2), ("b", 9), ("c", 17)]
    assert artifacts[0].resource.namespace == "ns" and artifacts[0].resource.kind == "Pod"


def test_list_is_flattened() -> None:
    doc = {"apiVersion": "v1", "kind": "List", "items": [yaml.safe_load(_pod("a")), yaml.safe_load(_pod("b"))]}
    artifacts, problems = load_text("list.json", json.dumps(doc))
    assert problems == [] and [a.resource.name for a in artifacts] == ["a", "b"]


def test_typed_list_kind_is_flattened() -> None:
    doc = {"apiVersion": "v1", "kind": "PodList", "items": [yaml.safe_load(_pod("a"))]}
    artifacts, _ = load_text("list.yaml", yaml.safe_dump(doc))
    assert [a.resource.kind for a in artifacts] == ["Pod"]


def test_broken_document_is_reported_and_the_others_are_kept() -> None:
    text = _pod("a") + "---\n" + "apiVersion: v1\nkind: Pod\nmetadata: {name: b\n" + "---\n" + _pod("c")
    artifacts, problems = load_text("m.yaml", text)
    assert [a.resource.name for a in artifacts] == ["a", "c"]
    assert [a.line for a in artifacts] == [1, 12]
    (problem,) = problems
    assert problem.file == "m.yaml" and problem.line is not None and 8 <= problem.line <= 11
    assert "invalid YAML in the document starting at line 8" in problem.message


def test_document_without_kind_is_a_problem_with_its_line() -> None:
    _, problems = load_text("m.yaml", _pod("a") + "---\nmetadata: {name: x}\n")
    assert [(p.line, p.message.split(";")[0]) for p in problems] == [(8, "document has no apiVersion or kind")]


def test_scalar_document_is_a_problem() -> None:
    _, problems = load_text("m.yaml", "just a string\n")
    assert "expected a Kubernetes object" in problems[0].message


def test_invalid_json_names_the_line() -> None:
    _, problems = load_text("x.json", '{\n  "apiVersion": "v1",\n  "kind": \n}')
    assert problems[0].line == 4 and problems[0].message.startswith("invalid JSON")


def test_directories_are_walked_and_missing_files_reported(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.yaml").write_text(_pod("a"))
    (tmp_path / "b.yml").write_text(_pod("b"))
    (tmp_path / "notes.txt").write_text("not a manifest")
    (tmp_path / "rollguard.yaml").write_text("version: 1\n")
    change = load_change_set([str(tmp_path), str(tmp_path / "missing.yaml")])
    assert sorted(a.resource.name for a in change.artifacts) == ["a", "b"]
    assert [(p.file, p.message) for p in change.problems] == [
        ((tmp_path / "missing.yaml").as_posix(), "file not found; check the path")
    ]


def test_stdin_is_read_for_dash(monkeypatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(_pod("from-stdin")))
    change = load_change_set(["-"])
    assert [(a.file, a.resource.name) for a in change.artifacts] == [("<stdin>", "from-stdin")]


def test_undecodable_file_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    change = load_change_set([str(path)])
    assert change.artifacts == ()
    assert change.problems[0].line == 1 and "not UTF-8 text (byte 0xff at offset 0)" in change.problems[0].message


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_random_text_never_crashes_the_loader(text: str) -> None:
    artifacts, problems = load_text("fuzz.yaml", text)
    for p in problems:
        assert p.file == "fuzz.yaml" and p.message
    for a in artifacts:
        assert isinstance(a.document, dict) and a.resource.kind


@settings(max_examples=200, deadline=None)
@given(st.lists(yaml_values, min_size=1, max_size=4))
def test_random_yaml_documents_are_judged_or_reported(docs: list[object]) -> None:
    text = "---\n".join(yaml.safe_dump(d) for d in docs)
    artifacts, problems = load_text("fuzz.yaml", text)
    # Nothing is silently skipped: every document that is not empty is judged or reported.
    present = [d for d in docs if d is not None]
    assert len(artifacts) + len(problems) >= len(present)
    judged = {id(a.document) for a in artifacts}
    assert len(judged) == len(artifacts)
    for a in artifacts:
        assert isinstance(a.document["apiVersion"], str) and isinstance(a.document["kind"], str)


def test_a_directory_without_manifests_is_reported(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("no manifests here")
    change = load_change_set([str(tmp_path)])
    assert change.artifacts == ()
    assert [(p.file, p.message) for p in change.problems] == [
        (
            tmp_path.as_posix(),
            "nothing to judge: no .yaml, .yml, .json or .sql files in this folder; check the path (or pass --allow-empty)",
        )
    ]


def test_a_broken_document_after_a_leading_marker_keeps_the_first_one() -> None:
    # A file that opens with `---` once lost its first document when a later one was broken.
    text = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: first}\n---\nkind: [\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: last}\n"
    artifacts, problems = load_text("split.yaml", text)
    assert [a.resource.name for a in artifacts] == ["first", "last"]
    assert [(p.line, "document starting at line 6" in p.message) for p in problems] == [(7, True)]
