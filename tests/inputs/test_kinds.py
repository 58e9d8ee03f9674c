"""The input-kind registry: it and the loader modules cover each other, and detection, the walk and
the document kinds the policies rely on all come from it."""

from __future__ import annotations

import pkgutil
from pathlib import Path

import pytest

import rollguard.inputs
from rollguard.governance.change import CHANGE_KIND
from rollguard.inputs import INPUT_KINDS, WALKED_SUFFIXES, InputKind, LoadOptions, iter_input_files, kind_of
from rollguard.model import ARTIFACT_KINDS

from ..conftest import FIXTURES

# Modules of the package that read no input kind of their own.
_NOT_LOADERS = {"kinds", "jsontext", "yamltext", "pending", "render", "sniff", "usage"}


def test_every_loader_module_is_a_registered_kind_and_every_kind_has_its_module() -> None:
    modules = {m.name for m in pkgutil.iter_modules(rollguard.inputs.__path__)}
    assert modules >= _NOT_LOADERS
    assert modules - _NOT_LOADERS == set(INPUT_KINDS)


def test_kinds_named_before_their_reader_is_imported_are_the_readers_kinds() -> None:
    # The registry spells these out so that a manifest-only change never imports the readers.
    from rollguard.inputs import migration, pipeline, terraform

    assert INPUT_KINDS["terraform"].document_kinds == {terraform.KIND}
    assert INPUT_KINDS["pipeline"].document_kinds == {pipeline.KIND}
    assert INPUT_KINDS["migration"].document_kinds == {migration.KIND}


def test_registry_keys_are_the_kinds_names() -> None:
    assert all(name == kind.name for name, kind in INPUT_KINDS.items())


def test_artifact_kinds_are_the_document_kinds_of_the_inputs_and_the_change_request() -> None:
    # model sits below inputs and keeps its own copy: this is what keeps the two equal.
    documents = set().union(*(kind.document_kinds for kind in INPUT_KINDS.values()))
    assert documents | {CHANGE_KIND} == ARTIFACT_KINDS


def _first_fixture(kind: InputKind) -> Path:
    found = sorted((FIXTURES / kind.domain).glob(f"*/allowed_*{kind.fixture_suffix}"))
    assert found, f"no allowed_*{kind.fixture_suffix} fixture under fixtures/{kind.domain}"
    return found[0]


@pytest.mark.parametrize("kind", INPUT_KINDS.values(), ids=list(INPUT_KINDS))
def test_each_kind_detects_and_reads_its_own_fixtures(kind: InputKind) -> None:
    path = _first_fixture(kind)
    name, text = path.as_posix(), path.read_text(encoding="utf-8")
    assert kind_of(name, text) is kind
    assert path.suffix in kind.suffixes  # the walk picks its fixtures up
    artifacts, problems = kind.load([(name, text)], LoadOptions())
    assert problems == []
    assert artifacts and {a.kind for a in artifacts} == {kind.name}
    for artifact in artifacts:
        if kind.document_kinds:
            assert artifact.document["kind"] in kind.document_kinds
        else:  # Kubernetes objects: judged through input.review, never as artifacts
            assert artifact.document["kind"] not in ARTIFACT_KINDS


def test_manifests_are_the_fallback_and_last() -> None:
    assert list(INPUT_KINDS)[-1] == "k8s"
    assert kind_of("notes.txt", "hello").name == "k8s"
    assert kind_of("<stdin>", "").name == "k8s"


def test_a_sql_name_decides_before_content() -> None:
    plan = '{"format_version": "1.2", "resource_changes": []}'
    assert kind_of("plan.json", plan).name == "terraform"
    assert kind_of("V1__plan.sql", plan).name == "migration"


def test_the_walk_takes_exactly_the_suffixes_of_the_kinds(tmp_path: Path) -> None:
    suffixes = {suffix for kind in INPUT_KINDS.values() for suffix in kind.suffixes}
    assert set(WALKED_SUFFIXES) == suffixes
    for index, suffix in enumerate(sorted(suffixes)):
        (tmp_path / f"input{index}{suffix.upper() if index % 2 else suffix}").write_text("")
    (tmp_path / "notes.txt").write_text("")
    found = [Path(name).suffix.lower() for name, _ in iter_input_files([str(tmp_path)])]
    assert sorted(found) == sorted(suffixes)
