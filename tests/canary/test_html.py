"""The HTML page: self-contained, escaped, a chart per metric, and clean in a real Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rollguard.canary import CanaryConfig, MetricSpec, RecordedSource, judge, read_canary_config
from rollguard.canary.html import LEFT, RIGHT, WIDTH, chart
from rollguard.canary.render import render_html
from rollguard.canary.result import Judgement, MetricResult, SideSummary
from rollguard.policy.config import load_config

from ..audit.test_report import CHROMIUM, chromium, console_messages
from .recorded import DATA


def scenario(name: str) -> Judgement:
    config = load_config(DATA / "rollguard.yaml")
    canary = read_canary_config(config.canary, source="rollguard.yaml", key_lines=config.key_lines)
    return judge(canary, RecordedSource(DATA / name))


def test_the_chart_draws_both_sides_over_the_same_time_axis() -> None:
    m = scenario("leak").metrics[3]
    c = chart(m)
    lines = {line["key"]: line["d"] for line in c.lines}
    assert set(lines) == {"baseline", "canary"}
    # 31 points each: a move and 30 segments, starting at the left edge and ending at the right one.
    for d in lines.values():
        assert d.startswith(f"M{LEFT}.0,") and d.count("L") == 30
        assert d.rsplit("L", 1)[1].startswith(f"{WIDTH - RIGHT}.0,")
    assert [label for _, label in c.x_ticks] == ["0 s", "7.5 min", "15 min", "22.5 min", "30 min"]
    assert {m["key"] for m in c.medians} == {"baseline", "canary"}


def test_a_metric_without_samples_has_no_chart() -> None:
    spec = MetricSpec(name="m", query="q")
    empty = MetricResult(spec, SideSummary(samples=0), SideSummary(samples=0), "nodata", reason="none")
    assert chart(empty).lines == ()
    page = render_html(Judgement(CanaryConfig(metrics=(spec,)), (empty,), source="test"))
    assert "No samples to draw." in page and "<svg" not in page


def test_the_page_is_self_contained_and_escaped() -> None:
    j = scenario("errors")
    hostile = MetricSpec(name="<script>alert(1)</script>", query="q{ {{ selector }} }")
    first = j.metrics[0]
    metric = MetricResult(hostile, first.baseline, first.canary, first.classification, reason="<b>why</b>")
    page = render_html(Judgement(j.config, (metric, *j.metrics[1:]), source="<i>src</i>"))
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;b&gt;why&lt;/b&gt;" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert page.count("<svg") == 4 and page.count('class="series-') == 8


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (Debian package chromium)")
def test_the_page_renders_in_chromium_without_console_messages(tmp_path: Path) -> None:
    page = tmp_path / "canary.html"
    page.write_text(render_html(scenario("leak")), encoding="utf-8")
    dom = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr
    assert console_messages(dom.stderr) == []
    assert dom.stdout.count("<svg") == 4
    assert re.findall(r"<h2>(.*?)</h2>", dom.stdout) == ["error_rate", "latency_p99", "cpu", "memory"]
    assert "MARGINAL (passes with a warning): score 80" in dom.stdout
