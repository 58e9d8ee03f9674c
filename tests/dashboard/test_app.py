"""The dashboard's pages and their JSON over a store filled by real runs: the matrix, a service, the waivers."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import markupsafe
import pytest

from rollguard.dashboard.app import DashboardSettings, create_app

from .conftest import NOW, WEB_250, WEB_260

JSON = {"accept": "application/json"}


def get(settings: DashboardSettings, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(settings))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.get(path, headers=headers or {})

    return asyncio.run(go())


def document(settings: DashboardSettings, path: str) -> Any:
    response = get(settings, path, JSON)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def cell(matrix: Any, service: str, env: str) -> Any:
    (row,) = [r for r in matrix["services"] if r["service"] == service]
    return row["cells"][matrix["environments"].index(env)]


def test_the_matrix_holds_the_last_gate_decision_per_service_and_environment(settings: DashboardSettings) -> None:
    matrix = document(settings, "/")
    # The promotion path first, in its order; the demo's environments are on it too.
    assert matrix["environments"] == ["dev", "staging", "prod"]
    assert [r["service"] for r in matrix["services"]] == ["storefront", "web"]
    assert matrix["chain"]["ok"] is True and matrix["chain"]["records"] == 9

    prod = cell(matrix, "web", "prod")
    # 2.6.0 was refused in prod (staging never passed its digest), so prod's last decision is that refusal.
    assert (prod["decision"]["verdict"], prod["decision"]["version"], prod["decision"]["approval"]) == (
        "fail",
        "2.6.0",
        "CHG-1077",
    )
    assert prod["decision"]["digests"] == [WEB_260]
    assert prod["decision"]["actor"] == "ci:carol" and prod["decision"]["time"] == "2026-11-26T09:00:00.000000Z"
    assert (prod["canary"]["verdict"], prod["canary"]["canary"]["score"]) == ("fail", 80.0)
    staging = cell(matrix, "web", "staging")
    assert (staging["decision"]["verdict"], staging["decision"]["digests"], staging["canary"]) == (
        "pass",
        [WEB_250],
        None,
    )
    assert cell(matrix, "web", "dev")["decision"]["version"] == "2.6.0"

    store_prod = cell(matrix, "storefront", "prod")
    assert (store_prod["decision"]["verdict"], store_prod["decision"]["blocking"]) == ("fail", 4)
    assert [(w["id"], w["state"]) for w in store_prod["waivers"]] == [("WVR-112", "in_force")]
    assert cell(matrix, "storefront", "dev") == {"decision": None, "canary": None, "waivers": []}


@pytest.mark.parametrize(
    ("query", "services", "environments"),
    [
        ("?q=web", ["web"], ["dev", "staging", "prod"]),
        ("?q=STORE", ["storefront"], ["dev", "staging", "prod"]),
        ("?env=prod&env=staging", ["storefront", "web"], ["staging", "prod"]),
        ("?env=dev,prod", ["storefront", "web"], ["dev", "prod"]),
        # A service shows when one of its shown cells has the verdict: storefront passed staging only.
        ("?verdict=fail&env=staging", [], ["staging"]),
        ("?verdict=pass&env=staging", ["storefront", "web"], ["staging"]),
        ("?verdict=pass&env=prod", [], ["prod"]),
        ("?q=nothing-like-it", [], ["dev", "staging", "prod"]),
    ],
)
def test_matrix_filters_are_query_parameters(
    settings: DashboardSettings, query: str, services: list[str], environments: list[str]
) -> None:
    matrix = document(settings, "/" + query)
    assert [r["service"] for r in matrix["services"]] == services
    assert matrix["environments"] == environments
    page = get(settings, "/" + query).text
    assert page.count('<tr data-service="') == len(services)


def test_the_service_page_has_its_history_findings_promotion_and_canaries(settings: DashboardSettings) -> None:
    web = document(settings, "/service/web")
    assert [(d["seq"], d["environment"], d["source"], d["verdict"]) for d in web["decisions"]] == [
        (9, "prod", "canary", "fail"),
        (7, "prod", "ci", "fail"),
        (6, "dev", "ci", "pass"),
        (8, "prod", "canary", "pass"),
        (3, "prod", "ci", "pass"),
        (2, "staging", "ci", "pass"),
        (1, "dev", "ci", "pass"),
    ]
    assert web["last"]["seq"] == 7
    assert [f["policy"] for f in web["findings"] if f["blocking"]] == ["governance.promotion"]
    # Newest image first; where each digest passed, and when it first did.
    assert [(p["digest"], p["version"], p["passed"]) for p in web["promotion"]] == [
        (WEB_260, "2.6.0", ["2026-11-25T09:00:00.000000Z", None, None]),
        (
            WEB_250,
            "2.5.0",
            ["2026-11-20T09:00:00.000000Z", "2026-11-21T09:00:00.000000Z", "2026-11-22T09:00:00.000000Z"],
        ),
    ]
    assert [(c["verdict"], c["version"], c["canary"]["score"]) for c in web["canaries"]] == [
        ("fail", "1.5.0", 80.0),
        ("pass", "1.5.0", 100.0),
    ]
    assert web["canaries"][0]["canary"]["reasons"][0].startswith("critical metric error_rate is fail")


def test_service_filters_and_the_chart(settings: DashboardSettings) -> None:
    only = document(settings, "/service/web?env=prod&source=ci")
    assert [d["seq"] for d in only["decisions"]] == [7, 3] and only["canaries"] == []
    page = get(settings, "/service/web").text
    # A mark per decision, each linking to its row of the history.
    marks = re.findall(r'<a href="#d(\d+)">\s*<(circle|rect) ', page)
    assert sorted(int(seq) for seq, _ in marks) == [1, 2, 3, 6, 7, 8, 9]
    assert sum(1 for _, shape in marks if shape == "rect") == 2  # the canary judgements
    for seq in (1, 2, 3, 6, 7, 8, 9):
        assert f'<tr id="d{seq}">' in page


def test_an_unknown_service_is_a_404(settings: DashboardSettings) -> None:
    response = get(settings, "/service/nobody", JSON)
    assert response.status_code == 404
    assert response.json() == {"error": "no decision in the log names a service 'nobody'"}
    assert get(settings, "/service/nobody").status_code == 404


def test_waivers_by_state(settings: DashboardSettings) -> None:
    waivers = document(settings, "/waivers")["waivers"]
    (wvr,) = waivers
    assert (wvr["id"], wvr["state"], wvr["owner"], wvr["ticket"], wvr["expires"]) == (
        "WVR-112",
        "in_force",
        "team-storefront",
        "OPS-4411",
        "2027-03-31",
    )
    assert (wvr["findings"], wvr["decisions"], wvr["sources"]) == (2, 2, ["config", "records"])
    assert document(settings, "/waivers?state=expiring")["waivers"] == []
    assert [w["id"] for w in document(settings, "/waivers?state=in_force,expired")["waivers"]] == ["WVR-112"]


def test_a_waiver_past_its_expiry_shows_as_expired_but_referenced(settings: DashboardSettings) -> None:
    import dataclasses
    import datetime as dt

    later = dataclasses.replace(settings, clock=lambda: dt.datetime(2027, 4, 2, tzinfo=dt.timezone.utc))
    (wvr,) = document(later, "/waivers")["waivers"]
    assert (wvr["state"], wvr["days_left"]) == ("expired_referenced", -2)
    soon = dataclasses.replace(settings, clock=lambda: dt.datetime(2027, 3, 10, tzinfo=dt.timezone.utc))
    assert [w["state"] for w in document(soon, "/waivers?state=expiring")["waivers"]] == ["expiring"]


def test_pages_are_self_contained_and_escape_what_the_records_say(settings: DashboardSettings) -> None:
    for path in ("/", "/service/web", "/service/storefront", "/waivers"):
        response = get(settings, path)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'nonce-" in policy
        # No asset from anywhere else: every src and href is on this server, an anchor, or the empty
        # icon (which keeps the browser from asking for /favicon.ico).
        for ref in re.findall(r'(?:src|href)="([^"]*)"', response.text):
            assert ref.startswith(("/", "#")) or ref == "data:,", f"{path} links {ref}"
        nonce = re.search(r"'nonce-([^']+)'", policy)
        assert nonce is not None
        for script in re.findall(r"<script([^>]*)>", response.text):
            assert f'nonce="{nonce.group(1)}"' in script
    finding = document(settings, "/service/storefront")["findings"][0]["message"]
    assert '"' in finding and str(markupsafe.escape(finding)) in get(settings, "/service/storefront").text


def test_an_empty_store_shows_an_empty_fleet(tmp_path: Any) -> None:
    empty = DashboardSettings(store=f"sqlite:///{tmp_path / 'none.db'}", rollguard_version="test")
    matrix = document(empty, "/")
    assert (matrix["services"], matrix["chain"]["records"]) == ([], 0)
    assert "No decision about a workload is recorded" in get(empty, "/").text
    assert not (tmp_path / "none.db").exists()  # read only: the dashboard never creates a store


def test_a_store_that_is_no_decision_log_says_why(tmp_path: Any) -> None:
    import sqlite3

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("create table notes (text)")
    broken = DashboardSettings(store=f"sqlite:///{other}", rollguard_version="test")
    response = get(broken, "/", JSON)
    assert response.status_code == 503
    assert response.json()["error"].startswith("cannot read the decision log: no decision log here:")
    page = get(broken, "/waivers")
    assert page.status_code == 503 and "cannot read the decision log" in page.text


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("10.0.0.7", False), ("dashboard.example.com", False)],
)  # fmt: skip
def test_what_counts_as_localhost(host: str, loopback: bool) -> None:
    from rollguard.dashboard.server import is_loopback

    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("query", "seconds"), [("?refresh=60", "60"), ("?refresh=1", "10"), ("?refresh=x", None), ("", None)]
)
def test_refresh_reloads_the_page_without_javascript(
    settings: DashboardSettings, query: str, seconds: str | None
) -> None:
    for path in ("/", "/waivers", "/service/web"):
        page = get(settings, path + query).text
        found = re.findall(r'<meta http-equiv="refresh" content="(\d+)">', page)
        assert found == ([seconds] if seconds else [])


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0 s"), (59.9, "59 s"), (60, "1 min"), (75, "1 min"), (3600, "1 h"), (3900, "1 h 5 min"),
     (86400, "1 d"), (90000, "1 d 1 h"), (7 * 86400 + 59, "7 d")],
)  # fmt: skip
def test_durations_read_as_people_say_them(seconds: float, shown: str) -> None:
    from rollguard.dashboard.app import duration

    assert duration(seconds) == shown


def test_a_tampered_log_shows_a_broken_chain_on_every_page(settings: DashboardSettings, tmp_path: Any) -> None:
    import dataclasses
    import shutil
    import sqlite3

    from rollguard.audit.store import DECISIONS_TABLE

    copy = tmp_path / "tampered.db"
    shutil.copy(settings.store.removeprefix("sqlite:///"), copy)
    with sqlite3.connect(copy) as db:
        # As someone with write access to the file would: drop the append-only triggers, then edit.
        for (trigger,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            db.execute(f'DROP TRIGGER "{trigger}"')
        db.execute(f"UPDATE {DECISIONS_TABLE} SET body = replace(body, 'ci:alice', 'ci:mallory') WHERE seq = 2")
    tampered = dataclasses.replace(settings, store=f"sqlite:///{copy}")
    chain = document(tampered, "/")["chain"]
    assert (chain["ok"], chain["broken_at"]) == (False, 2)
    assert "content was changed after it was written" in chain["problem"]
    for path in ("/", "/service/web", "/waivers"):
        page = get(tampered, path).text
        assert '<p class="chain-broken" role="alert"><strong>The decision log does not verify:</strong>' in page
    assert 'class="chain-broken"' not in get(settings, "/").text


def test_open_rollouts_are_listed_and_never_taken_for_services(tmp_path: Any) -> None:
    from click.testing import CliRunner

    from rollguard.cli import main

    store = f"sqlite:///{tmp_path / 'rollouts.db'}"

    def rollout(*args: str) -> None:
        result = CliRunner().invoke(main, ["rollout", *args, "--store", store, "--env", "prod"])
        assert result.exit_code == 0, result.output

    rollout("start", "--id", "payments-42", "--workload", "Deployment/shop/payments", "--duration", "1200",
            "--now", "2026-12-06T10:00:00Z", "--actor", "team-a")  # fmt: skip
    rollout("start", "--id", "search-7", "--namespace", "search", "--now", "2026-12-06T10:01:00Z")
    rollout("finish", "--id", "search-7", "--now", "2026-12-06T10:02:00Z")
    settings = DashboardSettings(store=store, rollguard_version="test", clock=lambda: NOW)
    matrix = document(settings, "/")
    assert matrix["services"] == []  # rollout records name no service
    assert [
        (r["id"], r["environment"], r["namespaces"], r["duration_seconds"], r["actor"]) for r in matrix["rollouts"]
    ] == [("payments-42", "prod", ["shop"], 1200.0, "team-a")]
    assert document(settings, "/?env=dev")["rollouts"] == []
    html = get(settings, "/", {"accept": "text/html"}).text
    assert '<tr data-rollout="payments-42">' in html and "search-7" not in html
    assert "20.0 min" in html
