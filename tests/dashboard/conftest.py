"""A decision store filled by real `rollguard check --record` and `rollguard canary judge --record` runs."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

import rollguard.cli
from rollguard.cli import main
from rollguard.dashboard.app import DashboardSettings

from ..conftest import FIXTURES, ROOT

# The process runs the rollguard these tests import, wherever it is installed from.
SOURCE = str(Path(rollguard.cli.__file__).resolve().parents[2])
PROMOTION = FIXTURES / "governance" / "promotion" / "allowed_promoted"
DEMO = FIXTURES / "demo"
CANARY = ROOT / "tests" / "canary" / "data"
WEB_250 = "sha256:4f1c9e0a7d2b3c5e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f"
WEB_260 = "sha256:" + "6" * 64
# The dashboard's clock: after every recorded decision, so waiver states are fixed.
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)


def _run(*args: str, expect: int) -> None:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == expect, f"rollguard {' '.join(args)}: exit {result.exit_code}\n{result.output}"


@pytest.fixture(scope="session")
def fleet_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """web 2.5.0 promoted dev → staging → prod; web 2.6.0 passed dev, then refused in prod (not promoted);
    storefront passed staging and failed prod (with a waiver); canary judgements of web in prod."""
    root = tmp_path_factory.mktemp("fleet")
    store = f"sqlite:///{root / 'decisions.db'}"
    # The inputs are copied beside the store and named relative to it, so the records (and the
    # pages and screenshots showing them) hold no machine path.
    shutil.copy(PROMOTION / "web.yaml", root / "web.yaml")
    shutil.copy(PROMOTION / "rollguard.yaml", root / "promotion.yaml")
    shutil.copy(DEMO / "storefront.yaml", root / "storefront.yaml")
    shutil.copy(DEMO / "rollguard.yaml", root / "demo.yaml")
    text = (PROMOTION / "web.yaml").read_text()
    (root / "web-2.6.0.yaml").write_text(text.replace("2.5.0", "2.6.0").replace(WEB_250, WEB_260))

    def check(path: str, config: str, env: str, when: str, actor: str, *extra: str, expect: int) -> None:
        _run("check", path, "--config", config, "--env", env, "--record", "--store", store,
             "--actor", actor, "--now", when, "--commit", "0123abcd", *extra, expect=expect)  # fmt: skip

    here = Path.cwd()
    os.chdir(root)
    try:
        check("web.yaml", "promotion.yaml", "dev", "2026-11-20T09:00:00Z", "ci:alice", expect=0)
        check("web.yaml", "promotion.yaml", "staging", "2026-11-21T09:00:00Z", "ci:alice", expect=0)
        check(
            "web.yaml", "promotion.yaml", "prod", "2026-11-22T09:00:00Z", "ci:alice", "--approval", "CHG-1042", expect=0
        )
        check("storefront.yaml", "demo.yaml", "staging", "2026-11-23T09:00:00Z", "ci:bob", expect=0)
        check("storefront.yaml", "demo.yaml", "prod", "2026-11-24T09:00:00Z", "ci:bob", expect=1)
        check("web-2.6.0.yaml", "promotion.yaml", "dev", "2026-11-25T09:00:00Z", "ci:carol", expect=0)
        check(
            "web-2.6.0.yaml",
            "promotion.yaml",
            "prod",
            "2026-11-26T09:00:00Z",
            "ci:carol",
            "--approval",
            "CHG-1077",
            expect=1,
        )
        for scenario, when, code in (("healthy", "2026-11-22T10:00:00Z", 0), ("errors", "2026-11-26T10:00:00Z", 1)):
            _run("canary", "judge", "--config", str(CANARY / "rollguard.yaml"), "--recorded", str(CANARY / scenario),
                 "--record", "--store", store, "--env", "prod", "--workload", "Deployment/shop/web",
                 "--actor", "ci:canary", "--commit", "4567cdef", "--now", when, expect=code)  # fmt: skip
    finally:
        os.chdir(here)
    return store


@pytest.fixture(scope="session")
def settings(fleet_store: str) -> DashboardSettings:
    from rollguard.policy.config import load_config

    return DashboardSettings(
        store=fleet_store,
        rollguard_version="test",
        promotion=load_config(PROMOTION / "rollguard.yaml").promotion,
        config_waivers=load_config(DEMO / "rollguard.yaml").waivers,
        clock=lambda: NOW,
    )


@dataclass
class Dashboard:
    """A `rollguard dashboard` process and where it listens."""

    proc: subprocess.Popen[str]
    url: str
    log: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_dashboard(store: str, root: Path, *args: str, ready: Callable[[str], bool]) -> Iterator[Dashboard]:
    """`rollguard dashboard --store STORE ARGS` on a free port until the block ends; `ready(url)` says when it serves."""
    port = free_port()
    log = root / f"dashboard-{port}.log"
    scheme = "https" if "--cert" in args else "http"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rollguard.cli", "dashboard", "--store", store, "--port", str(port), *args],
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=root,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([SOURCE, os.environ.get("PYTHONPATH", "")])},
        )
    running = Dashboard(proc, f"{scheme}://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"the dashboard stopped: {log.read_text()}"
            try:
                if ready(running.url):
                    break
            except (httpx.HTTPError, OSError):
                pass
            assert time.monotonic() < deadline, f"the dashboard did not answer in time: {log.read_text()}"
            time.sleep(0.1)
        yield running
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
