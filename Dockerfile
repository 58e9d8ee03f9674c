# rollguard's container image: `rollguard serve`, the admission webhook, as a non-root process
# on a read-only root filesystem. Build it with `make image`; docs/webhook.md walks through
# pushing and deploying it.

# One base for both stages: the virtual environment made in the first stage points at this
# image's Python. Pinned by version tag and by the digest of its multi-arch index; change both
# together (`docker buildx imagetools inspect python:3.13.16-slim-bookworm` shows the digest).
ARG PYTHON_IMAGE=python:3.13.16-slim-bookworm@sha256:a1165e272e578941b84abc79e4ab38a0305cd12803a5c4247979ac7655f4d641

FROM ${PYTHON_IMAGE} AS builder

# The OPA engine's bindings declare Python >= 3.14 but run on 3.10+, so they are installed
# outside the resolver, as `make install` does; `make image` passes the Makefile's pin.
ARG OPA_BINDINGS=opa-golib-python-bindings==0.4.4
# `postgres` lets `--store postgresql://...` keep one decision log for every replica; build
# with `--build-arg EXTRAS=` for an image without it.
ARG EXTRAS=postgres

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src/ src/
COPY policies/ policies/

# The wheel carries the policies (bundled_policies). The environment is made without pip and
# filled by the base image's pip from outside, so the final image has no installer in it. Byte
# code is compiled here: the running container cannot write it.
RUN python -m pip wheel --no-deps --wheel-dir /dist . \
 && set -- /dist/rollguard-*.whl \
 && python -m venv --without-pip /opt/rollguard \
 && python -m pip --python /opt/rollguard/bin/python install "$1${EXTRAS:+[${EXTRAS}]}" \
 && python -m pip --python /opt/rollguard/bin/python install --ignore-requires-python "${OPA_BINDINGS}" \
 && /opt/rollguard/bin/rollguard --version

FROM ${PYTHON_IMAGE}

ARG VERSION=unknown
ARG SOURCE=https://github.com/rollguard/rollguard
LABEL org.opencontainers.image.title="rollguard" \
      org.opencontainers.image.description="Policy-as-code gate for safe rolling deployments: rollguard serve, the admission webhook." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}"

# Nothing installs anything at run time: the base's own pip goes too. The Debian userland
# stays, since removing essential packages by force would leave the package database that
# image scanners read describing files that are gone.
RUN ["python", "-m", "pip", "uninstall", "--yes", "--quiet", "pip"]

COPY --from=builder /opt/rollguard /opt/rollguard

# The root filesystem is read-only in deploy/ (readOnlyRootFilesystem): every path rollguard or
# a library may write to points at /tmp, an emptyDir there. A relative default such as the
# decision store's `.rollguard/` lands there too.
ENV PATH=/opt/rollguard/bin:$PATH \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    XDG_CONFIG_HOME=/tmp/.config \
    XDG_DATA_HOME=/tmp/.local/share \
    XDG_STATE_HOME=/tmp/.local/state \
    TMPDIR=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /tmp

# The UID and GID deploy/deployment.yaml runs as (runAsUser, fsGroup); numeric, so that
# Kubernetes can verify runAsNonRoot without a passwd entry.
USER 65532:65532
EXPOSE 8443

# No HEALTHCHECK: Kubernetes ignores it; the Deployment's startup, readiness (/readyz) and
# liveness (/healthz) probes ask the server itself over HTTPS.
ENTRYPOINT ["rollguard"]
# The serving certificate and key come from a mounted Secret (`rollguard webhook certs`); the
# policies are the ones shipped in the image unless --policies names a mounted folder.
CMD ["serve", "--cert=/etc/rollguard/tls/tls.crt", "--key=/etc/rollguard/tls/tls.key", "--port=8443"]
