"""`rollguard serve` runs the admission webhook; `rollguard webhook` writes what deploys it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from rollguard.cli.options import (
    config_option,
    engine_option,
    engine_options,
    env_option,
    fail,
    policies_option,
    policy_bundle,
    policy_sources,
)
from rollguard.engine import resolve_engine_name
from rollguard.errors import RollguardError
from rollguard.policy.bundle import default_policy_dir
from rollguard.policy.config import load_config


@click.command()
@policies_option
@config_option(help="rollguard.yaml.")
@env_option()
@engine_option
@click.option("--cert", required=True, type=click.Path(dir_okay=False), help="Serving certificate (PEM).")
@click.option("--key", required=True, type=click.Path(dir_okay=False), help="Its private key (PEM).")
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", default=8443, show_default=True, type=click.IntRange(1, 65535), help="HTTPS port.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option("--store", default=None, envvar="ROLLGUARD_STORE", help="Record every decision in this store (URL).")
@click.option(
    "--failure-mode",
    type=click.Choice(["closed", "open"]),
    default=None,
    help="Answer when a request cannot be judged (default: config, else closed).",
)
@click.option(
    "--namespace",
    envvar="POD_NAMESPACE",
    default=None,
    help="rollguard's own namespace, always exempt (env POD_NAMESPACE).",
)
@click.option(
    "--sync", "sync", default="", help="Kinds to keep in memory from the cluster, e.g. PodDisruptionBudget,Service."
)
@click.option("--kubeconfig", type=click.Path(dir_okay=False), default=None, help="Kubeconfig for --sync.")
@click.option("--context", default=None, help="Kubeconfig context for --sync.")
@click.option(
    "--inventory",
    "inventory",
    multiple=True,
    help="Manifests the cluster is known to hold, as a fixed inventory instead of --sync; repeatable.",
)
@click.option(
    "--header-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds a client has for the TLS handshake, then for a request's headers.",
)
@click.option(
    "--body-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds a client has to send a request's body.",
)
@click.option(
    "--keep-alive-timeout",
    default=5,
    show_default=True,
    type=click.IntRange(1, 3600),
    help="Seconds an idle connection is kept open between requests.",
)
@click.option(
    "--max-connections",
    default=256,
    show_default=True,
    type=click.IntRange(1),
    help="Connections one worker serves at once; more get HTTP 503.",
)
@click.option(
    "--evaluators",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Evaluation processes per worker; one killed past its deadline is replaced.",
)
@click.option(
    "--evaluator-memory",
    default=160,
    show_default=True,
    type=click.IntRange(0),
    help="MiB an evaluation process may use before it is killed and its request answered by the failure mode (0: no limit).",
)
@click.option(
    "--decision-cache",
    default=10_000,
    show_default=True,
    type=click.IntRange(0),
    help="Decisions kept for identical requests (a pod storm from one template is judged once); 0 turns it off.",
)
def serve(
    policies: Path | None,
    config_path: Path | None,
    environment: str | None,
    engine: str,
    cert: str,
    key: str,
    host: str,
    port: int,
    workers: int,
    store: str | None,
    failure_mode: str | None,
    namespace: str | None,
    sync: str,
    kubeconfig: str | None,
    context: str | None,
    inventory: Sequence[str],
    header_timeout: float,
    body_timeout: float,
    keep_alive_timeout: int,
    max_connections: int,
    evaluators: int,
    evaluator_memory: int,
    decision_cache: int,
) -> None:
    """Run the admission webhook over HTTPS: /validate, /mutate, /healthz, /readyz, /metrics."""
    from rollguard.webhook.evaluation import PoolOptions
    from rollguard.webhook.protocol import ConnectionLimits
    from rollguard.webhook.server import ServeOptions, check_startup
    from rollguard.webhook.server import serve as run_server

    try:
        config = load_config(config_path) if config_path else None
        sources = policy_sources(policies, config)
    except RollguardError as exc:
        fail(exc)
    options = ServeOptions(
        policy_dir=str(policies if policies is not None else default_policy_dir()),
        extra_policy_dirs=tuple(str(d) for d in sources.extra),
        builtin_policies=sources.builtin,
        config_path=str(config_path) if config_path else None,
        environment=environment,
        engine=resolve_engine_name(engine),
        cert=cert,
        key=key,
        host=host,
        port=port,
        workers=workers,
        store=store,
        failure_mode="open" if failure_mode == "open" else "closed" if failure_mode else None,
        namespace=namespace,
        sync=tuple(k.strip() for k in sync.split(",") if k.strip()),
        kubeconfig=kubeconfig,
        context=context,
        inventory=tuple(inventory),
        engine_options=engine_options(),
        connections=ConnectionLimits(
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            keep_alive_timeout=keep_alive_timeout,
            max_connections=max_connections,
        ),
        evaluation=PoolOptions(size=evaluators, memory_limit_mib=evaluator_memory),
        decision_cache=decision_cache,
    )
    try:
        check_startup(options)
        run_server(options)
    except RollguardError as exc:
        fail(exc)


@click.group()
def webhook() -> None:
    """Deploy the admission webhook: certificates, webhook configurations and the policy folder."""


service_option = click.option("--service", required=True, help="Name of the webhook's Service.")


@webhook.command("certs")
@service_option
@click.option("--namespace", required=True, help="Namespace of the Service.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Directory for ca.crt, ca.key, tls.crt and tls.key.",
)
@click.option(
    "--days", type=click.IntRange(min=1), default=365, show_default=True, help="Validity of both certificates."
)
@click.option("--force", is_flag=True, help="Replace existing files (then regenerate the webhook manifest too).")
def webhook_certs(service: str, namespace: str, out: Path, days: int, force: bool) -> None:
    """Write a private CA and a serving certificate for the Service, readable by their owner only."""
    from rollguard.webhook.certs import issue_certificates, write_certificates

    try:
        certs = issue_certificates(service=service, namespace=namespace, days=days)
        written = write_certificates(certs, out, force=force)
    except RollguardError as exc:
        fail(exc)
    click.echo(f"wrote {', '.join(p.name for p in written)} to {out}")


@webhook.command("manifest")
@service_option
@click.option("--namespace", required=True, help="Namespace of the Service (always exempt from admission).")
@click.option(
    "--ca",
    "ca_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Directory holding ca.crt from `rollguard webhook certs`.",
)
@click.option(
    "--failure-policy",
    type=click.Choice(["Fail", "Ignore"]),
    default="Fail",
    show_default=True,
    help="What the API server does when the webhook cannot answer: reject (Fail) or admit (Ignore).",
)
@click.option(
    "--timeout-seconds",
    type=click.IntRange(1, 30),
    default=5,
    show_default=True,
    help="How long the API server waits; more than the webhook's deadline (admission.deadline_seconds, 2 s).",
)
@config_option(
    help="rollguard.yaml: the selected policies decide the rules; admission.exempt_namespaces the exemptions."
)
@policies_option
@click.option(
    "--image",
    default=None,
    help="Also print the --deploy objects, running this image: pin it by digest, "
    "e.g. registry.example.com/rollguard:0.1.0@sha256:<digest>.",
)
@click.option(
    "--deploy",
    default="deploy",
    show_default=True,
    help="Kustomization whose placeholder image --image replaces (rendered with kubectl kustomize).",
)
def webhook_manifest(
    service: str,
    namespace: str,
    ca_dir: Path,
    failure_policy: str,
    timeout_seconds: int,
    config_path: Path | None,
    policies: Path | None,
    image: str | None,
    deploy: str,
) -> None:
    """Print the Validating- and MutatingWebhookConfiguration that send reviews to the Service (with --image,
    after the deploy base running that image)."""
    from rollguard.webhook import manifest

    try:
        pinned = manifest.check_image(image) if image is not None else True
        config = load_config(config_path)
        rules, unknown = manifest.admission_rules(manifest.judged_kinds(policy_bundle(policies, config), config))
        documents = manifest.webhook_configurations(
            service=service,
            namespace=namespace,
            ca_bundle=manifest.read_ca_bundle(ca_dir),
            rules=rules,
            exempt=manifest.exempt_namespaces(config, own_namespace=namespace),
            failure_policy=failure_policy,
            timeout_seconds=timeout_seconds,
            deadline_seconds=manifest.admission_deadline(config),
        )
        if image is not None:
            objects = manifest.deploy_documents(deploy, image=image, service=service, namespace=namespace)
            documents = [*objects, *documents]
    except RollguardError as exc:
        fail(exc)
    if not pinned:
        click.echo(
            f"rollguard: --image {image} is not pinned by a sha256 digest: pods of one rollout may run different "
            "images if the tag moves; use the digest your registry reports",
            err=True,
        )
    if unknown:
        click.echo(
            f"rollguard: no rule for {', '.join(unknown)}: policies judge these kinds but their API group is unknown; "
            "add a rule for them to the printed configurations",
            err=True,
        )
    click.echo(manifest.render_yaml(documents), nl=False)


@webhook.command("policies")
@policies_option
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("deploy/policies"),
    show_default=True,
    help="Directory of the flat policy folder and its kustomization.",
)
def webhook_policies(policies: Path | None, out: Path) -> None:
    """Write the policies flat into one folder, with the kustomization that turns it into a ConfigMap."""
    from rollguard.webhook.manifest import policy_folder

    try:
        files = policy_folder(policy_bundle(policies))
        files.write(out)
    except RollguardError as exc:
        fail(exc)
    click.echo(f"wrote {len(files)} files to {out}")
