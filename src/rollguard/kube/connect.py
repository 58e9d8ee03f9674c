"""One way from a kubeconfig (or a pod's service account) to an API client of the official library.

The kubeconfig is `--kubeconfig`, else $KUBECONFIG (a path list), else ~/.kube/config, as
kubectl reads them. When none of them exists and rollguard runs in a pod, the pod's service
account is used, unless a kubeconfig was named on the command line or a context was asked for:
those need a file, and their absence is an error rather than a silent switch of cluster.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollguard.errors import ClusterError, one_line

DEFAULT_KUBECONFIG = "~/.kube/config"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True)
class Connection:
    """An API client, what to call the cluster in messages and the context's default namespace."""

    client: Any  # kubernetes.client.ApiClient
    name: str
    namespace: str | None


def kubernetes_module(module: str) -> Any:
    """A module of the official client, typed Any: the client is only partly annotated."""
    return importlib.import_module(f"kubernetes.{module}")


def connect(kubeconfig: str | None, context: str | None, *, pool_size: int | None = None) -> Connection:
    """Connect to the cluster of a kubeconfig context (default: the current one), or in-cluster.

    `pool_size` sizes the client's connection pool (one per concurrent watch, for a server);
    every failure is a one-line ClusterError naming the kubeconfig and what to pass instead.
    """
    kube_config = kubernetes_module("config")
    configuration = kubernetes_module("client").Configuration()
    if pool_size is not None:
        configuration.connection_pool_maxsize = pool_size
    source = kubeconfig or os.environ.get("KUBECONFIG") or DEFAULT_KUBECONFIG
    existing = [p for p in (os.path.expanduser(p) for p in source.split(os.pathsep) if p) if os.path.isfile(p)]
    if not existing:
        if kubeconfig is not None:
            raise ClusterError("kubeconfig not found; pass --kubeconfig FILE naming an existing file", file=kubeconfig)
        if not os.environ.get("KUBERNETES_SERVICE_HOST"):
            raise ClusterError(
                "kubeconfig not found and not running in a cluster; pass --kubeconfig FILE or set KUBECONFIG",
                file=source,
            )
        if context is not None:
            raise ClusterError(f"--context {context} needs a kubeconfig; none was found at {source}")
        return _in_cluster(kube_config, configuration)
    config_file = os.pathsep.join(existing)
    try:
        contexts, current = kube_config.list_kube_config_contexts(config_file=config_file)
    except Exception as exc:  # the loader raises ConfigException, YAML and OS errors alike
        raise ClusterError(f"unusable kubeconfig: {one_line(exc)}", file=config_file) from exc
    entries = [c for c in contexts or () if isinstance(c, dict)]
    names = [str(c.get("name")) for c in entries]
    chosen = context or (current or {}).get("name")
    known = ", ".join(names) or "none"
    if not chosen:
        raise ClusterError(f"no current-context is set; pass --context NAME (known: {known})", file=config_file)
    if chosen not in names:
        raise ClusterError(f"unknown context {chosen!r}; pass --context NAME (known: {known})", file=config_file)
    entry = next(c for c in entries if c.get("name") == chosen)
    namespace = (entry.get("context") or {}).get("namespace")
    try:
        # persist_config=False: rollguard never writes refreshed tokens back into the user's file.
        client = kube_config.new_client_from_config(
            config_file=config_file, context=chosen, persist_config=False, client_configuration=configuration
        )
    except Exception as exc:
        raise ClusterError(f"context {chosen!r}: {one_line(exc)}", file=config_file) from exc
    return Connection(client, name=f"context {chosen} at {client.configuration.host}", namespace=namespace)


def _in_cluster(kube_config: Any, configuration: Any) -> Connection:
    try:
        kube_config.load_incluster_config(client_configuration=configuration)
    except kube_config.ConfigException as exc:
        raise ClusterError(f"in-cluster configuration: {one_line(exc)}") from exc
    namespace_file = SERVICE_ACCOUNT_NAMESPACE
    namespace = namespace_file.read_text(encoding="utf-8").strip() if namespace_file.is_file() else None
    client = kubernetes_module("client").ApiClient(configuration=configuration)
    return Connection(client, name=f"in-cluster API server {configuration.host}", namespace=namespace)
