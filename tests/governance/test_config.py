"""Windows, freezes and the promotion path in rollguard.yaml: parsed, or refused with key and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rollguard.errors import ConfigError
from rollguard.governance.schedule import Freeze, Window
from rollguard.policy.config import load_config

HEAD = """\
version: 1
environments:
  dev: {risk: low}
  staging: {risk: medium}
  prod:
    risk: high
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rollguard.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_windows_freezes_and_promotion_are_parsed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD
        + """\
    windows:
      - {days: [mon, tue, wed, thu], from: 09:00, to: 16:00, timezone: Europe/Berlin}
      - {days: [fri], from: "22:00", to: "02:00"}
      - {from: "00:00", to: "24:00", timezone: UTC}
    freezes:
      - {from: 2026-12-20, to: 2027-01-04, reason: year-end freeze, timezone: Europe/Berlin}
promotion: "dev -> staging -> prod"
""",
    )
    config = load_config(path)
    settings = config.resolve("prod")
    # Unquoted 09:00 and 16:00 are times of day, not YAML 1.1 base-60 integers.
    assert settings.windows == (
        Window(days=("mon", "tue", "wed", "thu"), start=540, end=960, timezone="Europe/Berlin"),
        Window(days=("fri",), start=1320, end=120, timezone="UTC"),
        Window(days=("mon", "tue", "wed", "thu", "fri", "sat", "sun"), start=0, end=1440, timezone="UTC"),
    )
    assert settings.windows[1].overnight and not settings.windows[0].overnight
    assert settings.freezes[0].reason == "year-end freeze" and settings.freezes[0].timezone == "Europe/Berlin"
    assert isinstance(settings.freezes[0], Freeze)
    assert config.promotion == ("dev", "staging", "prod")
    assert settings.previous == "staging" and config.resolve("dev").previous is None
    assert settings.risks == {"dev": "low", "staging": "medium", "prod": "high"}
    assert settings.line == 5  # the `prod:` key
    assert config.resolve("dev").windows == ()


def test_promotion_as_a_list(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, HEAD + "promotion: [dev, prod]\n"))
    assert config.promotion == ("dev", "prod") and config.resolve("prod").previous == "dev"
    assert config.resolve("staging").previous is None  # not on the path


BAD = [
    (
        "    windows:\n      - {days: [mon], from: '09:00', to: '16:00', timezone: Europe/Berlinn}\n",
        8,
        "environments.prod.windows[0].timezone: 'Europe/Berlinn' is not a known time zone (use an IANA name such as Europe/Berlin or UTC)",
    ),
    (
        "    windows:\n      - from: '09:00'\n        to: '16:00'\n        days:\n          - mon\n          - mond\n",
        12,
        "environments.prod.windows[0].days[1]: 'mond' is not a day (use mon, tue, wed, thu, fri, sat, sun)",
    ),
    (
        "    windows:\n      - {from: '09:00', to: '16:00'}\n      - from: '9:60'\n        to: '16:00'\n",
        9,
        "environments.prod.windows[1].from: '9:60' is not a time of day (use HH:MM, 00:00 to 24:00)",
    ),
    (
        "    windows:\n      - from: '09:00'\n        to: '25:00'\n",
        9,
        "environments.prod.windows[0].to: '25:00' is not a time of day (use HH:MM, 00:00 to 24:00)",
    ),
    (
        "    windows:\n      - from: '09:00'\n        to: '09:00'\n",
        9,
        "environments.prod.windows[0].to: '09:00' is the same time as `from`: the window would be empty",
    ),
    (
        "    freezes:\n      - from: 2026-02-30\n        to: 2026-03-02\n        reason: quarter close\n",
        8,
        "environments.prod.freezes[0].from: '2026-02-30' is not a real date (use YYYY-MM-DD)",
    ),
    (
        "    freezes:\n      - from: 2026-03-02\n        to: 2026-03-01\n        reason: quarter close\n",
        9,
        "environments.prod.freezes[0].to: 2026-03-01 is before `from` (2026-03-02)",
    ),
    (
        "    freezes:\n      - {from: 2026-03-02, to: 2026-03-03, reason: close, timezone: Mars/Olympus}\n",
        8,
        "environments.prod.freezes[0].timezone: 'Mars/Olympus' is not a known time zone (use an IANA name such as Europe/Berlin or UTC)",
    ),
    (
        "promotion: dev -> stagin -> prod\n",
        7,
        "promotion: 'stagin' is not a defined environment (known: dev, prod, staging); define it under `environments:`",
    ),
    (
        "promotion:\n  - dev\n  - qa\n",
        9,
        "promotion[1]: 'qa' is not a defined environment (known: dev, prod, staging); define it under `environments:`",
    ),
    (
        "promotion: [dev, prod, dev]\n",
        7,
        "promotion[2]: 'dev' appears twice on the promotion path",
    ),
    (
        "    freezes:\n      - {from: 2026-03-02, to: 2026-03-03}\n",
        8,
        "environments.prod.freezes.0: 'reason' is a required property; freezes need from, to and reason",
    ),
]


@pytest.mark.parametrize(
    ("tail", "line", "message"), BAD, ids=[m.split(":")[0] + str(i) for i, (_, _, m) in enumerate(BAD)]
)
def test_bad_entries_name_key_file_and_line(tmp_path: Path, tail: str, line: int, message: str) -> None:
    path = write(tmp_path, HEAD + tail)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.message == message
    assert caught.value.file == str(path) and caught.value.line == line
