"""rollguard.yaml: schema validation with key and line, environments, waivers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from rollguard.errors import ConfigError
from rollguard.model import Resource, Severity
from rollguard.policy.config import find_config, load_config

GOOD = """\
version: 1
fail_on: medium
policies:
  exclude: ["k8s.version_label"]
parameters:
  k8s.replicas_minimum: {min_replicas: 2}
enforcement:
  "k8s.*": deny
  k8s.secret_env: warn
environments:
  prod:
    risk: high
    fail_on: low
    parameters:
      k8s.replicas_minimum: {min_replicas: 3}
    enforcement:
      k8s.secret_env: deny
waivers:
  - id: W-1
    policy: k8s.spread
    match: {kind: Deployment, namespace: shop, name: "web-*"}
    reason: single zone until Q2
    owner: team-web
    ticket: OPS-1
    expires: 2027-01-31
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rollguard.yaml"
    path.write_text(text)
    return path


def test_environment_overrides_parameters_enforcement_and_threshold(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, GOOD))
    base = config.resolve(None)
    prod = config.resolve("prod")
    assert base.fail_on is Severity.MEDIUM and prod.fail_on is Severity.LOW
    assert base.parameters_for("k8s.replicas_minimum", {"min_replicas": 2, "x": 1}) == {"min_replicas": 2, "x": 1}
    assert prod.parameters_for("k8s.replicas_minimum", {"min_replicas": 2}) == {"min_replicas": 3}
    assert base.enforcement_for("k8s.secret_env") == "warn" and prod.enforcement_for("k8s.secret_env") == "deny"
    assert prod.risk == "high" and base.risk == "medium"
    assert base.selects("k8s.spread") and not base.selects("k8s.version_label")
    assert config.resolve("prod", fail_on=Severity.CRITICAL).fail_on is Severity.CRITICAL


def test_waiver_matching_and_expiry(tmp_path: Path) -> None:
    (waiver,) = load_config(_write(tmp_path, GOOD)).waivers
    assert waiver.expires == dt.date(2027, 1, 31) and waiver.line == 19
    assert waiver.matches("k8s.spread", Resource("apps/v1", "Deployment", "shop", "web-2"), environment=None)
    assert not waiver.matches("k8s.spread", Resource("apps/v1", "Deployment", "shop", "api"), environment=None)
    assert not waiver.matches("k8s.rbac", Resource("apps/v1", "Deployment", "shop", "web-2"), environment=None)
    end_of_day = dt.datetime(2027, 1, 31, 23, 59, tzinfo=dt.timezone.utc)
    assert not waiver.expired(on=end_of_day)
    assert waiver.expired(on=end_of_day + dt.timedelta(minutes=1))


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ("waivers:\n  - id: W\n    policy: k8s.spread\n    owner: me\n    expires: 2027-01-01\n", "waivers.0", 2),
        ("waivers:\n  - id: W\n    policy: k8s.spread\n    owner: me\n    reason: r\n", "waivers.0", 2),
        ("fail_on: severe\n", "fail_on", 1),
        ("enforcement:\n  k8s.spread: block\n", "enforcement.k8s.spread", 2),
        ("environments:\n  prod:\n    rsik: high\n", "environments.prod", 3),
        (
            "waivers:\n  - {id: W, policy: k8s.spread, reason: r, owner: o, expires: 2027-02-30}\n",
            "waivers[0].expires",
            2,
        ),
    ],
)
def test_invalid_config_names_key_and_line(tmp_path: Path, text: str, key: str, line: int) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, text))
    assert info.value.message.startswith(key)
    assert info.value.line == line
    assert info.value.file == str(tmp_path / "rollguard.yaml")


def test_waiver_without_reason_or_expiry_says_what_is_needed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="waivers need id, policy, reason, owner and expires"):
        load_config(_write(tmp_path, "waivers:\n  - {id: W, policy: k8s.spread, owner: o}\n"))


def test_unknown_environment_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown environment 'qa'.*prod"):
        load_config(_write(tmp_path, GOOD)).resolve("qa")


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, "version: 1\nfail_on: [high\n"))
    assert info.value.line == 3 and "invalid YAML" in info.value.message


def test_config_is_found_upward(tmp_path: Path) -> None:
    _write(tmp_path, GOOD)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_config(deep) == tmp_path / "rollguard.yaml"


def test_no_config_gives_defaults() -> None:
    settings = load_config(None).resolve(None)
    assert settings.fail_on is Severity.HIGH and settings.selects("k8s.anything") and settings.waivers == ()
