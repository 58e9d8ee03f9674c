"""Run the dashboard: plain HTTP on a loopback address only; anywhere else HTTPS and an auth method.

The server is the webhook's uvicorn configuration (`TlsConfig`: TLS 1.2 as the floor, deadlines
for slow clients); client certificates, when asked for, are checked by the TLS handshake itself.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from rollguard.dashboard.app import DashboardSettings, create_app
from rollguard.errors import ConfigError
from rollguard.webhook.server import TlsConfig

DEFAULT_PORT = 8080


@dataclass(frozen=True)
class DashboardOptions:
    """How `rollguard dashboard` listens and whom it lets in."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    cert: Path | None = None
    key: Path | None = None
    token_file: Path | None = None
    client_ca: Path | None = None

    @property
    def tls(self) -> bool:
        """Whether the dashboard serves HTTPS."""
        return self.cert is not None

    @property
    def scheme(self) -> str:
        """`https` or `http`."""
        return "https" if self.tls else "http"


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only (localhost, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_options(options: DashboardOptions) -> None:
    """Raise ConfigError for a dashboard that must not start: beyond localhost without TLS and an auth method."""
    if (options.cert is None) != (options.key is None):
        raise ConfigError("--cert and --key go together: give both for HTTPS, or neither for plain HTTP on localhost")
    if options.client_ca is not None and not options.tls:
        raise ConfigError("--client-ca checks client certificates during the TLS handshake: give --cert and --key too")
    if is_loopback(options.host):
        return
    if not options.tls:
        raise ConfigError(
            f"--host {options.host} listens beyond this machine: serve HTTPS there (--cert and --key, e.g. from "
            "`rollguard webhook certs`) with an auth method (--token-file or --client-ca), or listen on 127.0.0.1"
        )
    if options.token_file is None and options.client_ca is None:
        raise ConfigError(
            f"--host {options.host} listens beyond this machine: give an auth method, --token-file FILE "
            "(clients send Authorization: Bearer <token>) or --client-ca FILE (clients present a certificate it signed)"
        )


def read_token(path: Path) -> str:
    """The bearer token in `path` (surrounding whitespace dropped); a ConfigError when it is missing or too short."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--token-file: cannot read the token: {exc}", file=str(path)) from exc
    if len(token) < 16 or any(c.isspace() for c in token):
        raise ConfigError(
            "--token-file: the token must be one word of at least 16 characters, e.g. from `openssl rand -hex 32`",
            file=str(path),
        )
    return token


def check_tls(options: DashboardOptions) -> None:
    """Load the certificate, key and client CA now, so a bad file stops the command before it listens."""
    if options.cert is None or options.key is None:
        return
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(str(options.cert), str(options.key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"--cert/--key: cannot load the certificate and key: {exc}") from exc
    if options.client_ca is not None:
        try:
            context.load_verify_locations(cafile=str(options.client_ca))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"--client-ca: cannot load the CA certificates: {exc}", file=str(options.client_ca)
            ) from exc


def server_config(settings: DashboardSettings, options: DashboardOptions) -> uvicorn.Config:
    """The uvicorn configuration serving the dashboard as `options` say (checked first)."""
    check_options(options)
    check_tls(options)
    tls: dict[str, Any] = {}
    if options.tls:
        tls = {"ssl_certfile": str(options.cert), "ssl_keyfile": str(options.key)}
        if options.client_ca is not None:
            tls |= {"ssl_ca_certs": str(options.client_ca), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    return TlsConfig(
        create_app(settings),
        host=options.host,
        port=options.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        **tls,
    )


def serve(config: uvicorn.Config) -> None:
    """Serve the dashboard (as `server_config` configured it) until interrupted."""
    uvicorn.Server(config).run()
