"""Certificates for the webhook: a private CA and a serving certificate for the in-cluster Service."""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from rollguard.errors import ConfigError

CA_CERT, CA_KEY, TLS_CERT, TLS_KEY = "ca.crt", "ca.key", "tls.crt", "tls.key"
FILES = (CA_CERT, CA_KEY, TLS_CERT, TLS_KEY)
DEFAULT_DAYS = 365
# Certificates start a few minutes in the past so an API server whose clock runs slightly
# behind this machine's does not reject a certificate that is "not yet valid".
_BACKDATE = dt.timedelta(minutes=5)
# Service names are DNS-1035 labels and namespace names DNS-1123 labels (both at most 63 characters).
_SERVICE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class CertificateSet:
    """PEM text of the CA and of the serving certificate, with their private keys."""

    ca_cert: bytes
    ca_key: bytes
    tls_cert: bytes
    tls_key: bytes

    def files(self) -> dict[str, bytes]:
        """File name → content, as `write_certificates` lays them out."""
        return {CA_CERT: self.ca_cert, CA_KEY: self.ca_key, TLS_CERT: self.tls_cert, TLS_KEY: self.tls_key}


def service_dns_names(service: str, namespace: str) -> list[str]:
    """Every name the API server or a pod may use for `service` in `namespace`."""
    check_service(service, namespace)
    return [service, f"{service}.{namespace}", f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local"]


def check_service(service: str, namespace: str) -> None:
    """Raise ConfigError unless `service` and `namespace` are valid Kubernetes names."""
    if not _SERVICE.match(service):
        raise ConfigError(
            f"--service {service!r} is not a valid Service name: use at most 63 lower-case letters, digits and '-', starting with a letter"
        )
    if not _NAMESPACE.match(namespace):
        raise ConfigError(
            f"--namespace {namespace!r} is not a valid namespace name: use at most 63 lower-case letters, digits and '-'"
        )


def issue_certificates(*, service: str, namespace: str, days: int = DEFAULT_DAYS) -> CertificateSet:
    """A new CA (EC P-256) and a serving certificate for the Service, both valid for `days`."""
    if days < 1:
        raise ConfigError(f"--days {days}: certificates must be valid for at least one day")
    names = service_dns_names(service, namespace)
    start = dt.datetime.now(dt.timezone.utc) - _BACKDATE
    end = start + _BACKDATE + dt.timedelta(days=days)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"rollguard webhook CA ({service}.{namespace})")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        # path_length 0: this CA signs serving certificates only, never another CA.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    tls_key = ec.generate_private_key(ec.SECP256R1())
    tls_cert = (
        x509.CertificateBuilder()
        # Clients match SANs only; the common name is for people reading the certificate.
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{service}.{namespace}.svc")]))
        .issuer_name(ca_name)
        .public_key(tls_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(tls_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return CertificateSet(
        ca_cert=ca_cert.public_bytes(serialization.Encoding.PEM),
        ca_key=_private_pem(ca_key),
        tls_cert=tls_cert.public_bytes(serialization.Encoding.PEM),
        tls_key=_private_pem(tls_key),
    )


def write_certificates(certs: CertificateSet, out: Path, *, force: bool = False) -> list[Path]:
    """Write the four PEM files into `out`, each readable by its owner only; the paths written.

    Without `force`, nothing is written when any of the files exists already.
    """
    targets = [out / name for name in FILES]
    existing = [p for p in targets if p.exists() or p.is_symlink()]
    if existing and not force:
        raise ConfigError(
            f"{', '.join(p.name for p in existing)} already exist in {out}; pass --force to replace them "
            "(the webhook configuration's caBundle must then be regenerated too)"
        )
    try:
        out.mkdir(parents=True, exist_ok=True, mode=0o700)
        for path, content in zip(targets, certs.files().values(), strict=True):
            if force:
                # Removed rather than truncated: truncating keeps the old file's mode and owner,
                # and a private key must never land in a file others can read.
                path.unlink(missing_ok=True)
            _write_private(path, content)
    except OSError as exc:
        raise ConfigError(f"write certificates: {exc.strerror or exc}", file=str(exc.filename or out)) from exc
    return targets


def _write_private(path: Path, content: bytes) -> None:
    # O_EXCL: the file is created here, with mode 0600 from its first byte, or not at all.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,  # EC keys agree on keys (ECDHE); they never encipher them
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # Unencrypted PKCS#8: what `kubectl create secret tls` and the webhook's TLS server read.
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
