"""A local HTTP server that answers Prometheus `/api/v1/query_range` from the recorded scenarios.

Each metric's query is rendered for both sides as rollguard renders it; a request for one of
those queries gets that side's recorded file of the current scenario, anything else a
Prometheus `bad_data` error. A real server on a free port, so the code under test talks HTTP.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import yaml

from rollguard.canary import Side, read_canary_config, render_query

from .recorded import DATA

BASELINE = Side(version="1.4.2")
CANARY = Side(version="1.5.0")


@dataclass
class RecordedPrometheus:
    """The server's state: which scenario it answers from, and the queries it was asked."""

    port: int
    queries: dict[str, tuple[str, str]]  # rendered query -> (metric, side)
    scenario: str = "healthy"
    asked: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def rendered_queries(config_file: Path = DATA / "rollguard.yaml") -> dict[str, tuple[str, str]]:
    """Every query rollguard sends for the test config, baseline 1.4.2 and canary 1.5.0."""
    config = read_canary_config(yaml.safe_load(config_file.read_text())["canary"])
    found = {}
    for metric in config.metrics:
        for name, side in (("baseline", BASELINE), ("canary", CANARY)):
            found[render_query(metric.query, label=config.label, side=side, name=name)] = (metric.name, name)
    return found


@contextmanager
def recorded_prometheus() -> Iterator[RecordedPrometheus]:
    """Serve the recorded scenarios on 127.0.0.1 until the block ends."""
    state = RecordedPrometheus(port=0, queries=rendered_queries())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query).get("query", [""])[0]
            state.asked.append(query)
            found = state.queries.get(query) if parts.path == "/api/v1/query_range" else None
            if found is None:
                body = b'{"status":"error","errorType":"bad_data","error":"unknown query"}'
                self.send_response(400)
            else:
                metric, side = found
                body = (DATA / state.scenario / f"{metric}.{side}.json").read_bytes()
                self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
