"""`rollguard dashboard` serves a read-only web view of the decision log."""

from __future__ import annotations

from pathlib import Path

import click

from rollguard.cli.options import (
    config_option,
    context_option,
    fail,
    found_config,
    kubeconfig_option,
    store_choice,
    store_option,
)
from rollguard.errors import RollguardError

_FILE = click.Path(path_type=Path, dir_okay=False, exists=True)


@click.command()
@store_option
@config_option(help="rollguard.yaml: its waivers, promotion path and `store:` (default: found upward from here).")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; beyond localhost needs TLS and an auth method.",
)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--cert", type=_FILE, default=None, help="Serving certificate (PEM): serve HTTPS.")
@click.option("--key", type=_FILE, default=None, help="Its private key (PEM).")
@click.option(
    "--token-file",
    type=_FILE,
    default=None,
    help="File holding a bearer token every request must send (Authorization: Bearer <token>).",
)
@click.option(
    "--client-ca",
    type=_FILE,
    default=None,
    help="CA certificates (PEM): clients must present a certificate one of them signed (needs --cert).",
)
@click.option(
    "--live",
    is_flag=True,
    help="Show live rollouts (/rollouts) from the cluster; implied by --kubeconfig and --context.",
)
@kubeconfig_option
@context_option
@click.option("--namespace", default=None, help="Only this namespace's live rollouts (default: every namespace).")
def dashboard(
    store: str | None,
    config_path: Path | None,
    host: str,
    port: int,
    cert: Path | None,
    key: Path | None,
    token_file: Path | None,
    client_ca: Path | None,
    live: bool,
    kubeconfig: str | None,
    context: str | None,
    namespace: str | None,
) -> None:
    """Serve the fleet dashboard: the last decision per service and environment, each service's
    history, promotion path and canary verdicts, the waivers, and (with a cluster) live rollouts.
    Read-only; each page's JSON is served at the same path to `Accept: application/json`."""
    from rollguard.audit.recording import rollguard_version
    from rollguard.audit.store import redact_url
    from rollguard.dashboard.app import ClusterSettings, DashboardSettings
    from rollguard.dashboard.server import DashboardOptions, read_token, serve, server_config

    options = DashboardOptions(host=host, port=port, cert=cert, key=key, token_file=token_file, client_ca=client_ca)
    try:
        config = found_config(config_path)
        settings = DashboardSettings(
            store=store_choice(store, config).to_read(),
            rollguard_version=rollguard_version(),
            config_waivers=config.waivers,
            promotion=config.promotion,
            token=read_token(token_file) if token_file is not None else None,
            cluster=ClusterSettings(kubeconfig=kubeconfig, context=context, namespace=namespace)
            if live or kubeconfig or context
            else None,
        )
        server = server_config(settings, options)
    except RollguardError as exc:
        fail(exc)
    click.echo(f"rollguard: dashboard of {redact_url(settings.store)} on {options.scheme}://{host}:{port}/", err=True)
    serve(server)
