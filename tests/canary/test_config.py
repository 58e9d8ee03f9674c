"""The `canary:` section: defaults filled in, every mistake named with the file and line of its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollguard.canary import CanaryConfig, Side, read_canary_config
from rollguard.canary.config import canary_schema
from rollguard.errors import ConfigError
from rollguard.policy.config import load_config

from .recorded import DATA

MINIMAL = """\
canary:
  metrics:
    - name: error_rate
      query: sum(rate(http_requests_total{code=~"5..",{{ selector }}}[1m])) / sum(rate(http_requests_total{ {{ selector }} }[1m]))
      direction: increase      # a higher canary value is bad
      critical: true
  thresholds: {pass: 95, marginal: 75}
"""


def read(tmp_path: Path, text: str) -> CanaryConfig:
    path = tmp_path / "rollguard.yaml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    return read_canary_config(config.canary, source=str(path), key_lines=config.key_lines)


def test_the_issues_minimal_config_gets_the_documented_defaults(tmp_path: Path) -> None:
    config = read(tmp_path, MINIMAL)
    (metric,) = config.metrics
    assert (metric.kind, metric.direction, metric.critical, metric.weight) == ("sample", "increase", True, 1.0)
    assert (metric.relative_effect, metric.absolute_effect, metric.outliers, metric.min_samples) == (
        0.1,
        0.0,
        "keep",
        10,
    )
    assert metric.line == 3
    assert (config.label, config.confidence, config.pass_score, config.marginal_score) == ("version", 0.95, 95.0, 75.0)
    assert (config.step, config.lookback, config.baseline, config.canary) == ("60s", "30m", Side(), Side())


def test_the_test_data_config_is_valid() -> None:
    config = load_config(DATA / "rollguard.yaml")
    canary = read_canary_config(config.canary, source="rollguard.yaml", key_lines=config.key_lines)
    assert [m.name for m in canary.metrics] == ["error_rate", "latency_p99", "cpu", "memory"]
    assert canary.metrics[3].kind == "trend" and canary.baseline == Side(version="1.4.2")


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        (
            ("      critical: true", "      critcal: true"),
            6,
            "canary.metrics.0.critcal: Additional properties are not allowed ('critcal' was unexpected); check the spelling",
        ),
        (("direction: increase ", "direction: up "), 5, "canary.metrics.0.direction: 'up' is not one of"),
        (
            ("{pass: 95, marginal: 75}", "{pass: 95, marginal: 120}"),
            7,
            "canary.thresholds.marginal: 120 is greater than the maximum of 100",
        ),
        (("{pass: 95, marginal: 75}", "{pass: 70, marginal: 75}"), 7, "marginal (75) is above pass (70)"),
        (("{{ selector }} }[1m]))\n", "{{ selectr }} }[1m]))\n"), 4, "unknown placeholder {{ selectr }}"),
        (("- name: error_rate", "- name: error rate"), 3, "canary.metrics.0.name: 'error rate' does not match"),
    ],
)
def test_mistakes_name_the_file_and_line(tmp_path: Path, change: tuple[str, str], line: int, message: str) -> None:
    assert change[0] in MINIMAL
    with pytest.raises(ConfigError) as caught:
        read(tmp_path, MINIMAL.replace(change[0], change[1]))
    assert message in caught.value.message
    assert (caught.value.file, caught.value.line) == (str(tmp_path / "rollguard.yaml"), line)


def test_more_mistakes(tmp_path: Path) -> None:
    twice = MINIMAL.replace("  thresholds:", "    - name: error_rate\n      query: up{ {{ selector }} }\n  thresholds:")
    with pytest.raises(ConfigError, match="'error_rate' is used twice") as caught:
        read(tmp_path, twice)
    assert caught.value.line == 7
    no_placeholder = MINIMAL.replace("      direction:", "      kind: trend\n      direction:").replace(
        MINIMAL.splitlines()[3], "      query: sum(up)"
    )
    with pytest.raises(ConfigError, match="baseline and canary would be the same series") as caught:
        read(tmp_path, no_placeholder)
    assert caught.value.line == 4
    with pytest.raises(
        ConfigError, match=r"canary.step: '5 minutes' does not match .* \(A Prometheus duration: 30s, 5m, 1h.\)"
    ) as caught:
        read(tmp_path, MINIMAL + "  step: 5m\n  lookback: 0m\n".replace("5m", "'5 minutes'"))
    with pytest.raises(ConfigError, match="canary.lookback: '0m' is not a positive duration") as caught:
        read(tmp_path, MINIMAL + "  lookback: 0m\n")
    assert caught.value.line == 8
    with pytest.raises(ConfigError, match="no canary metrics are configured"):
        read_canary_config({}, source=None)


def test_the_command_line_sides_win_whole() -> None:
    config = CanaryConfig(metrics=(), baseline=Side(version="1"), canary=Side(selector='track="canary"'))
    given = config.with_sides(label="pod_template_hash", baseline=Side(), canary=Side(version="abc"))
    assert given.label == "pod_template_hash"
    assert given.baseline == Side(version="1") and given.canary == Side(version="abc")


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(canary_schema())
