"""A stand-in for `opa run --server`: OPA's Policy and Data APIs over real in-process OPA, for the tests.

It serves the subset rollguard uses, with OPA's status codes and error bodies:
GET/PUT/DELETE /v1/policies/{id}, GET /v1/policies, GET/PUT/DELETE/POST /v1/data/{path} and
GET /health. Every policy change is compiled against all modules and the data, as OPA does,
and refused with OPA's error body when it does not compile. Differences: POST /v1/data
requires `strict-builtin-errors=true` and GET evaluates strictly too (the embedded OPA always
runs strict, so a client that forgot the flag would pass here and not on a real server);
data writes are not checked for conflicts with rule paths until the next evaluation; policy
listings carry no `ast`.

The embedded OPA is not fork-safe and is used from one worker thread only, which also
serialises changes the way OPA's store transactions do.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import re
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from opa_bindings import OpaEngine, OpaError

STAND_IN_VERSION = "0.0.0-rollguard-stand-in"
COMPILE_MODULES = "error(s) occurred while compiling module(s)"
EVALUATING = "error(s) occurred while evaluating query"
# "a.rego:4: rego_parse_error: unexpected eof token", one per line after "N errors occurred:".
_LOCATED = re.compile(r"^(?P<file>\S.*?):(?P<row>\d+): (?P<code>[a-z_]+_error): (?P<message>.*)$")
_COUNT = re.compile(r"^(?:bundle activation failed: )?\d+ errors? occurred:\s*")

Reply = tuple[int, Any]  # status, JSON body (None: no body)


def opa_errors(text: str) -> list[dict[str, Any]]:
    """OPA's error objects `{code, message, location: {file, row}}` from the embedded engine's error text."""
    lines = _COUNT.sub("", text.removeprefix("bundle activation failed: ")).splitlines()
    errors = []
    for line in lines:
        m = _LOCATED.match(line)
        if m:
            errors.append(
                {
                    "code": m["code"],
                    "message": m["message"],
                    "location": {"file": m["file"], "row": int(m["row"])},
                }
            )
    return errors or [{"code": "rego_compile_error", "message": text}]


class OpaRestStandIn:
    """An HTTP server on 127.0.0.1 answering like OPA; `requests` records what clients sent."""

    def __init__(self, *, token: str | None = None) -> None:
        self.token = token
        self.modules: dict[str, str] = {}
        self.data: dict[str, Any] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._engine: OpaEngine | None = None  # compiled modules + data; None after a data change
        self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="opa-stand-in")
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="opa-stand-in-http", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:40123."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        """Stop serving and release the embedded engine."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._worker.submit(self._drop_engine).result()
        self._worker.shutdown()

    def on_worker(self, fn: Callable[[], Reply]) -> Reply:
        """Run `fn` on the one thread that owns the embedded engine."""
        return self._worker.submit(fn).result()

    # -- everything below runs on the worker thread ------------------------------------------

    def _drop_engine(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def _compile(self, modules: dict[str, str]) -> OpaEngine | list[dict[str, Any]]:
        """A fresh engine with `modules` and the data, or OPA's error objects."""
        engine = OpaEngine()
        engine.print_handler = lambda message, location: None
        try:
            for module_id, source in modules.items():
                engine.add_policy(module_id, source)
            engine.add_data(self.data)
            engine.eval_query("true")  # compiles every module, as OPA does on each policy change
        except OpaError as exc:
            engine.close()
            return opa_errors(exc.message)
        return engine

    def _install(self, modules: dict[str, str], *, status_on_error: int, code_on_error: str) -> Reply:
        compiled = self._compile(modules)
        if isinstance(compiled, list):
            return status_on_error, {"code": code_on_error, "message": COMPILE_MODULES, "errors": compiled}
        self._drop_engine()
        self.modules, self._engine = modules, compiled
        return 200, {}

    def put_policy(self, module_id: str, source: str) -> Reply:
        if self.modules.get(module_id) == source:
            return 200, {}  # OPA skips the compile when the text is unchanged
        if not source.strip():
            return 400, {"code": "invalid_parameter", "message": "empty module"}
        return self._install(
            {**self.modules, module_id: source}, status_on_error=400, code_on_error="invalid_parameter"
        )

    def delete_policy(self, module_id: str) -> Reply:
        if module_id not in self.modules:
            return 404, _not_found(f'policy id "{module_id}"')
        rest = {k: v for k, v in self.modules.items() if k != module_id}
        return self._install(rest, status_on_error=400, code_on_error="invalid_operation")

    def get_policy(self, module_id: str | None) -> Reply:
        if module_id is None:
            return 200, {"result": [{"id": k, "raw": v} for k, v in self.modules.items()]}
        if module_id not in self.modules:
            return 404, _not_found(f'policy id "{module_id}"')
        return 200, {"result": {"id": module_id, "raw": self.modules[module_id]}}

    def put_data(self, path: list[str], value: Any) -> Reply:
        if not path:
            if not isinstance(value, dict):
                return 400, {"code": "invalid_parameter", "message": "root must be object"}
            self.data = value
        else:
            node = self.data
            for key in path[:-1]:
                child = node.setdefault(key, {})
                if not isinstance(child, dict):
                    return 404, {"code": "resource_conflict", "message": "storage_write_conflict_error: /" + key}
                node = child
            node[path[-1]] = value
        self._drop_engine()
        return 204, None

    def delete_data(self, path: list[str]) -> Reply:
        node: Any = self.data
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if not path or not isinstance(node, dict) or path[-1] not in node:
            return 404, _not_found(f"/{'/'.join(path)}: document does not exist")
        del node[path[-1]]
        self._drop_engine()
        return 204, None

    def read_data(self, path: list[str], input: Any, *, strict: bool, provenance: bool) -> Reply:
        if not strict:
            return 400, {
                "code": "invalid_parameter",
                "message": "this stand-in evaluates only with strict-builtin-errors=true, like the in-process engine",
            }
        if self._engine is None:
            compiled = self._compile(self.modules)
            if isinstance(compiled, list):
                return 400, {"code": "invalid_parameter", "message": COMPILE_MODULES, "errors": compiled}
            self._engine = compiled
        ref = "data" + "".join(f"[{seg}]" if seg.isdigit() else f"[{json.dumps(seg)}]" for seg in path)
        body: dict[str, Any] = {}
        if provenance:
            body["provenance"] = {"version": STAND_IN_VERSION, "build_commit": "", "build_timestamp": ""}
        try:
            rows = self._engine.eval_query(f"x = {ref}", input)
        except OpaError as exc:
            return 500, {"code": "internal_error", "message": EVALUATING, "errors": opa_errors(exc.message)[:1]}
        if rows:
            body["result"] = rows[0]["x"]
        return 200, body


def _not_found(what: str) -> dict[str, Any]:
    return {"code": "resource_not_found", "message": f"storage_not_found_error: {what}"}


def _handler(stand_in: OpaRestStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest output clean

        def _reply(self, status: int, body: Any) -> None:
            raw = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _route(self) -> Reply:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query, keep_blank_values=True)
            stand_in.requests.append((self.command, parts.path, dict(self.headers.items())))
            if stand_in.token is not None and self.headers.get("Authorization") != f"Bearer {stand_in.token}":
                return 401, {"code": "unauthorized", "message": "request rejected by administrative policy"}
            if parts.path == "/health" and self.command == "GET":
                return 200, {}
            if parts.path.rstrip("/") == "/v1/policies" and self.command == "GET":
                return stand_in.on_worker(lambda: stand_in.get_policy(None))
            if parts.path.startswith("/v1/policies/"):
                module_id = unquote(parts.path.removeprefix("/v1/policies/"))
                if self.command == "GET":
                    return stand_in.on_worker(lambda: stand_in.get_policy(module_id))
                if self.command == "PUT":
                    source = self._body().decode()
                    return stand_in.on_worker(lambda: stand_in.put_policy(module_id, source))
                if self.command == "DELETE":
                    return stand_in.on_worker(lambda: stand_in.delete_policy(module_id))
            if parts.path == "/v1/data" or parts.path.startswith("/v1/data/"):
                path = [unquote(s) for s in parts.path.removeprefix("/v1/data").split("/") if s]
                strict = query.get("strict-builtin-errors", ["false"])[-1].lower() in ("", "true")
                provenance = query.get("provenance", ["false"])[-1].lower() in ("", "true")
                if self.command == "PUT":
                    value = json.loads(self._body())
                    return stand_in.on_worker(lambda: stand_in.put_data(path, value))
                if self.command == "DELETE":
                    return stand_in.on_worker(lambda: stand_in.delete_data(path))
                if self.command == "POST":
                    input = json.loads(self._body() or b"{}").get("input")
                    return stand_in.on_worker(
                        lambda: stand_in.read_data(path, input, strict=strict, provenance=provenance)
                    )
                if self.command == "GET":
                    return stand_in.on_worker(
                        lambda: stand_in.read_data(path, None, strict=True, provenance=provenance)
                    )
            return 405, {"code": "invalid_operation", "message": f"{self.command} {parts.path} is not served here"}

        def _serve(self) -> None:
            try:
                status, body = self._route()
            except json.JSONDecodeError as exc:
                status, body = 400, {"code": "invalid_parameter", "message": f"body is not JSON: {exc}"}
            self._reply(status, body)

        do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _serve

    return Handler


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def real_opa_server(opa: str) -> Iterator[str]:
    """Run `opa run --server` on a free port; yield its base URL."""
    url = f"http://127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [opa, "run", "--server", "--disable-telemetry", "--log-level", "error", "--addr", url.removeprefix("http://")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise RuntimeError(f"`opa run --server` did not become healthy: {err.strip()}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
