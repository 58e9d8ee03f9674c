"""The `opa-server` backend: a running OPA server judges, driven over its REST API."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import requests
from opa_client import OpaClient
from opa_client.errors import DeleteDataError, DeletePolicyError, PolicyNotFoundError, RegoParseError, TypeException

from rollguard.errors import ConfigError, EngineError, PolicyError, RollguardError, one_line

# Policy ids rollguard owns on the server. Other tenants' modules are never touched; a module
# under this prefix that the current bundle lacks is removed as stale.
MODULE_PREFIX = "rollguard/"
# The only data roots rollguard writes; each is replaced whole, so no other tenant's data moves.
DATA_ROOTS = ("inventory", "rollguard")
# Judging a whole change in one call takes seconds on large inputs; the client's 1.5 s is too short.
DEFAULT_TIMEOUT = 30.0

# The in-process engines always fail on builtin errors; the server must do the same for parity.
_STRICT = {"strict-builtin-errors": "true"}
_PACKAGE = re.compile(r"^package\s+([\w.]+)", re.MULTILINE)
_IMPORT = re.compile(r"^import\s+data\.([\w.]+)", re.MULTILINE)
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")
_SSL = re.compile(r"\[SSL: [A-Z_]+\] ([^'\"(]+)")

T = TypeVar("T")


class OpaServerEngine:
    """Evaluator on an OPA server; owns policy ids under `rollguard/` and `data.inventory`, `data.rollguard`."""

    name = "opa-server"

    def __init__(self, url: str, *, token: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> None:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"--opa-url {url!r} is not an OPA server URL; give http(s)://HOST[:PORT]")
        if parts.username or parts.password:
            raise ConfigError("--opa-url must not carry credentials; pass a bearer token with --opa-token")
        if parts.path.strip("/") or parts.query or parts.fragment:
            raise ConfigError(f"--opa-url {url!r} has a path; give only http(s)://HOST[:PORT], OPA serves /v1 there")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise ConfigError(f"--opa-url {url!r}: {exc}") from None
        token = token.strip() if token else None  # a token read from a file keeps its newline
        if token and any(c.isspace() for c in token):
            raise ConfigError("--opa-token contains whitespace; give the bearer token alone")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        self.url = f"{parts.scheme}://{host}:{port}"
        self._timeout = timeout
        self._client = OpaClient(host=host, port=port, ssl=parts.scheme == "https", token=token, timeout=timeout)
        self._modules: dict[str, str] = {}

    def close(self) -> None:
        """Release the HTTP connections."""
        self._client.close_connection()

    def versions(self) -> dict[str, str]:
        """The server's OPA version (from Data API provenance), the client's version and the URL."""
        from importlib import metadata

        # OPA reports its build on any Data API read with `provenance`; a small path keeps it cheap.
        body = self._call(
            "read the OPA version",
            lambda: self._client.query_rule({}, "rollguard/context", query_params={**_STRICT, "provenance": "true"}),
        )
        provenance = body.get("provenance") if isinstance(body, dict) else None
        version = provenance.get("version") if isinstance(provenance, dict) else None
        return {
            "opa": str(version or "unknown"),
            "opa-python-client": metadata.version("opa-python-client"),
            "url": self.url,
        }

    def load(self, modules: Mapping[str, str]) -> None:
        """Upload modules as policies `rollguard/<path>` and remove rollguard's modules the bundle lacks."""
        target = {MODULE_PREFIX + path: source for path, source in {**self._modules, **modules}.items()}
        before = self._server_modules()
        try:
            self._sync(target, before)
        except PolicyError as failure:
            # Put the previous modules back: a broken bundle must not leave a half-updated set
            # behind for whoever still judges with it (a webhook keeps its old bundle on a bad reload).
            try:
                self._sync(before, self._server_modules())
            except RollguardError as exc:
                raise EngineError(
                    f"{failure}; restoring the previous policies on {self.url} failed too ({exc}): "
                    "load a bundle that compiles before judging with this server"
                ) from exc
            raise
        self._modules.update(modules)

    def set_data(self, data: Mapping[str, Any]) -> None:
        """Replace `data.inventory` and `data.rollguard` whole; data elsewhere on the server stays."""
        foreign = sorted(set(data) - set(DATA_ROOTS))
        if foreign:
            raise EngineError(
                f"load data: the opa-server engine writes only data.{' and data.'.join(DATA_ROOTS)}, not data.{foreign[0]}"
            )
        for root in DATA_ROOTS:
            if root in data:
                self._put_data(root, data[root])
            else:
                self._delete_data(root)

    def evaluate(self, path: str, input: Any) -> Any:
        """POST `input` to /v1/data/<path> with strict builtin errors; None when undefined."""
        route = "/".join(quote(segment, safe="") for segment in path.split("."))
        body = self._call(
            f"evaluate data.{path}",
            lambda: self._client.query_rule(input, route, query_params=_STRICT),
        )
        # OPA leaves `result` out when the document is undefined.
        return body.get("result") if isinstance(body, dict) else None

    # -- policies ----------------------------------------------------------------------------

    def _server_modules(self) -> dict[str, str]:
        """Source of every module under rollguard's prefix on the server, by policy id."""
        ids = self._call("list policies", self._client.get_policies_list)
        modules: dict[str, str] = {}
        for module_id in ids:
            if not isinstance(module_id, str) or not module_id.startswith(MODULE_PREFIX):
                continue
            try:
                body = self._call(f"read policy {module_id}", partial(self._client.get_policy, _quoted(module_id)))
            except PolicyNotFoundError:
                continue  # removed meanwhile
            modules[module_id] = str(body.get("result", {}).get("raw", ""))
        return modules

    def _sync(self, target: Mapping[str, str], current: Mapping[str, str]) -> None:
        """Make rollguard's modules on the server equal `target`, in passes.

        OPA compiles every module on each change, so an upload can fail until a library it
        calls is uploaded or a stale module it conflicts with is removed; each pass retries
        what failed, and a pass without progress means a real compile error.
        """
        pending: list[tuple[str, str | None]] = [
            (module_id, target[module_id])
            for module_id in _upload_order(target)
            if current.get(module_id) != target[module_id]
        ]
        pending += [(module_id, None) for module_id in sorted(current) if module_id not in target]
        while pending:
            failed: list[tuple[str, str | None]] = []
            errors: list[PolicyError] = []
            for module_id, source in pending:
                try:
                    if source is None:
                        self._delete_policy(module_id)
                    else:
                        self._put_policy(module_id, source)
                except PolicyError as exc:
                    failed.append((module_id, source))
                    errors.append(exc)
            if len(failed) == len(pending):
                # A module that failed only because another one is missing says less than that one's own error.
                raise next((e for e in errors if "undefined function" not in e.message), errors[0])
            pending = failed

    def _put_policy(self, module_id: str, source: str) -> None:
        action = f"upload policy {module_id.removeprefix(MODULE_PREFIX)}"
        try:
            self._call(
                action,
                lambda: self._client.update_policy_from_string(source, _quoted(module_id), rego_compat=False),
            )
        except TypeException:
            raise PolicyError("compile policy: empty module", file=module_id.removeprefix(MODULE_PREFIX)) from None
        except RegoParseError as exc:
            raise self._server_error(action, None, _body(exc)) from exc

    def _delete_policy(self, module_id: str) -> None:
        action = f"remove stale policy {module_id.removeprefix(MODULE_PREFIX)}"
        try:
            self._call(action, lambda: self._client.delete_policy(_quoted(module_id)))
        except DeletePolicyError as exc:
            if exc.expression == "resource_not_found":
                return
            if exc.expression == "invalid_operation":  # the remaining modules do not compile without it
                raise PolicyError(f"{action}: other modules still use it ({exc.message})") from exc
            raise self._server_error(action, None, _body(exc)) from exc

    # -- data --------------------------------------------------------------------------------

    def _put_data(self, root: str, value: Any) -> None:
        action = f"load data.{root}"
        if not isinstance(value, Mapping):
            raise EngineError(f"{action}: expected an object, got {type(value).__name__}")
        try:
            self._call(action, lambda: self._client.update_or_create_data(dict(value), root))
        except RegoParseError as exc:  # the client's name for any non-204 answer
            raise self._server_error(action, None, _body(exc)) from exc
        except TypeError as exc:
            raise EngineError(f"{action}: not JSON ({exc})") from exc

    def _delete_data(self, root: str) -> None:
        action = f"remove data.{root}"
        try:
            self._call(action, lambda: self._client.delete_data(root))
        except DeleteDataError as exc:
            if exc.expression != "resource_not_found":
                raise self._server_error(action, None, _body(exc)) from exc

    # -- errors ------------------------------------------------------------------------------

    def _call(self, action: str, request: Callable[[], T]) -> T:
        """Run one client call, turning transport failures and HTTP errors into rollguard errors."""
        try:
            return request()
        except requests.Timeout as exc:
            raise EngineError(f"{action}: OPA server at {self.url} did not answer within {self._timeout:g} s") from exc
        except requests.exceptions.SSLError as exc:
            m = _SSL.search(str(exc))
            reason = m.group(1).strip() if m else "handshake failed"
            raise EngineError(f"{action}: TLS to OPA server at {self.url} failed ({reason})") from exc
        except requests.ConnectionError as exc:
            m = _ERRNO.search(str(exc))
            reason = m.group(1).strip() if m else "connection failed"
            raise EngineError(f"{action}: OPA server at {self.url} is unreachable ({reason})") from exc
        except requests.HTTPError as exc:
            response = exc.response
            status = response.status_code if response is not None else None
            try:
                body = response.json() if response is not None else {}
            except ValueError:
                body = {}
            raise self._server_error(action, status, body if isinstance(body, dict) else {}) from exc
        except requests.JSONDecodeError as exc:  # the client decodes every answer as JSON; a proxy's HTML page is not
            raise EngineError(f"{action}: OPA server at {self.url} sent an answer that is not JSON") from exc
        except requests.RequestException as exc:
            raise EngineError(f"{action}: request to OPA server at {self.url} failed ({type(exc).__name__})") from exc

    def _server_error(self, action: str, status: int | None, body: Mapping[str, Any]) -> RollguardError:
        """The rollguard error for an OPA error body `{code, message, errors: [{code, message, location}]}`."""
        code = str(body.get("code") or "error")
        message = one_line(body.get("message") or "")
        details = [e for e in body.get("errors") or [] if isinstance(e, dict)]
        if code == "unauthorized" or status in (401, 403):
            return EngineError(f"{action}: OPA server at {self.url} refused the request ({message}); check --opa-token")
        if details and str(details[0].get("code", "")).startswith("rego_"):
            return _compile_error(details)
        if details:
            # Same text as the in-process engine's, so an isolated document's error finding reads the same.
            return EngineError(_located(details[0]))
        said = [f"HTTP {status}" if status else "", f"{code}: {message}" if body.get("code") or message else ""]
        return EngineError(f"{action}: OPA server at {self.url} answered {', '.join(s for s in said if s)}")


def _quoted(module_id: str) -> str:
    return quote(module_id, safe="/")


def _body(exc: Exception) -> dict[str, Any]:
    """The error body the client unpacked into one of its exceptions."""
    return {
        "code": getattr(exc, "expression", None),
        "message": getattr(exc, "message", None),
        "errors": getattr(exc, "errors", None),
    }


def _located(error: Mapping[str, Any]) -> str:
    """`file:row: code: message`, the way OPA prints an error, with rollguard's id prefix dropped."""
    text = f"{error.get('code', 'error')}: {one_line(error.get('message', ''))}"
    location = error.get("location")
    if isinstance(location, dict) and location.get("file"):
        file = str(location["file"]).removeprefix(MODULE_PREFIX)
        return f"{file}:{location.get('row', 0)}: {text}"
    return text


def _compile_error(errors: list[dict[str, Any]]) -> PolicyError:
    """A PolicyError naming the first located error; OPA lists up to ten."""
    first = next((e for e in errors if isinstance(e.get("location"), dict)), errors[0])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    message = f"compile policy: {first.get('code', 'error')}: {one_line(first.get('message', ''))}{more}"
    location = first.get("location")
    if isinstance(location, dict) and location.get("file"):
        row = location.get("row")
        return PolicyError(
            message,
            file=str(location["file"]).removeprefix(MODULE_PREFIX),
            line=row if isinstance(row, int) else None,
        )
    return PolicyError(message)


def _upload_order(modules: Mapping[str, str]) -> list[str]:
    """Module ids with the modules of every imported package before the modules importing them."""
    packages = {module_id: (m.group(1) if (m := _PACKAGE.search(src)) else "") for module_id, src in modules.items()}
    order: list[str] = []
    seen: set[str] = set()

    def visit(module_id: str) -> None:
        if module_id in seen:
            return  # done, or a cycle: the upload passes sort that out
        seen.add(module_id)
        for imported in _IMPORT.findall(modules[module_id]):
            for other, package in packages.items():
                if other != module_id and (
                    package == imported or package.startswith(imported + ".") or imported.startswith(package + ".")
                ):
                    visit(other)
        order.append(module_id)

    for module_id in sorted(modules):
        visit(module_id)
    return order
