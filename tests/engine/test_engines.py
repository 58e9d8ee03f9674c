"""Engine backends: versions, the fork guard, and the same answers for the same query."""

from __future__ import annotations

import os

import pytest

from rollguard.engine import ENGINE_CHOICES, create_engine, resolve_engine_name
from rollguard.errors import ConfigError, EngineError

MODULE = {"t.rego": 'package t\n\ngreeting := sprintf("hello %s", [input.name])\n\nnumber := to_number(input.n)\n'}


@pytest.mark.parametrize("name", ["opa", "regorus"])
def test_engine_evaluates_and_reports_undefined(name: str) -> None:
    engine = create_engine(name)
    engine.load(MODULE)
    engine.set_data({})
    assert engine.evaluate("t.greeting", {"name": "rollguard"}) == "hello rollguard"
    assert engine.evaluate("t.greeting", {}) is None
    with pytest.raises(EngineError, match="to_number|parse"):
        engine.evaluate("t.number", {"n": "twelve"})


@pytest.mark.parametrize("name", ["opa", "regorus"])
def test_set_data_replaces_the_data_document(name: str) -> None:
    engine = create_engine(name)
    engine.load({"d.rego": "package d\n\nv := data.value\n"})
    engine.set_data({"value": 1})
    assert engine.evaluate("d.v", {}) == 1
    engine.set_data({"value": 2})
    assert engine.evaluate("d.v", {}) == 2


def test_auto_prefers_opa_and_unknown_names_are_errors() -> None:
    assert resolve_engine_name("auto") == "opa"
    assert ENGINE_CHOICES == ("auto", "opa", "regorus", "opa-server")
    with pytest.raises(ConfigError, match="unknown engine 'wasm'"):
        resolve_engine_name("wasm")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_opa_engine_refuses_a_forked_process() -> None:
    create_engine("opa")  # the Go runtime now lives in this process
    pid = os.fork()
    if pid == 0:  # child: must refuse before touching the bridge
        try:
            create_engine("opa")
        except EngineError as exc:
            os._exit(0 if "spawn" in str(exc) else 2)
        os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
