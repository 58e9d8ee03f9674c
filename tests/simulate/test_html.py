"""The HTML page: self-contained, escaped, a chart per workload, and clean in a real Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rollguard.simulate.html import chart
from rollguard.simulate.render import render_html

from ..audit.test_report import CHROMIUM, chromium, console_messages
from .manifests import deployment, only, simulate


def test_the_chart_steps_through_the_documentation_example() -> None:
    w = only(deployment(10, "25%", "25%", startup=10))
    c = chart(w)
    lines = {line["key"]: line["d"] for line in c.lines}
    assert set(lines) == {"present", "total", "ready", "available"}
    # A step per instant after the first (10 and 20 s; old pods gone at 30, 40 and 50 s), then on to the end.
    assert lines["total"].count("H") == 6
    assert lines["total"].startswith("M44.0,")
    assert c.floor is not None and c.ceiling is not None and c.ceiling < c.floor  # 13 is above 8


def test_the_page_is_self_contained_and_escaped() -> None:
    doc = deployment(3, startup=10)
    doc["spec"]["template"]["spec"]["containers"][0]["name"] = "<b>web</b>"
    doc["spec"]["template"]["metadata"]["annotations"] = {}
    doc["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = {"periodSeconds": 3}
    page = render_html(simulate(doc, deployment(3, "bad", "25%") | {"metadata": {"name": "x", "namespace": "shop"}}))
    assert "<b>web</b>" not in page and "&lt;b&gt;web&lt;/b&gt;" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert page.count("<svg") == 1 and page.count('class="series-') == 4
    assert "Deployment shop/x: spec.strategy.rollingUpdate" in page  # the errors are on the page too


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (Debian package chromium)")
def test_the_page_renders_in_chromium_without_console_messages(tmp_path: Path) -> None:
    page = tmp_path / "simulation.html"
    page.write_text(
        render_html(
            simulate(deployment(10, startup=10), deployment(3, 1, 0) | {"metadata": {"name": "b", "namespace": "shop"}})
        ),
        encoding="utf-8",
    )
    dom = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr
    assert console_messages(dom.stderr) == []
    assert dom.stdout.count("<svg") == 2
    assert re.findall(r"<h2>(.*?)</h2>", dom.stdout) == ["Deployment shop/b", "Deployment shop/web"]
