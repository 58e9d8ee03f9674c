"""`rollguard webhook certs`: the chain verifies, names and usages are exact, keys stay private."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from rollguard.cli import main
from rollguard.errors import ConfigError
from rollguard.webhook.certs import FILES, issue_certificates, write_certificates

SERVICE, NAMESPACE = "rollguard", "rollguard-system"
NAMES = [SERVICE, f"{SERVICE}.{NAMESPACE}", f"{SERVICE}.{NAMESPACE}.svc", f"{SERVICE}.{NAMESPACE}.svc.cluster.local"]


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("certs") / "out"
    write_certificates(issue_certificates(service=SERVICE, namespace=NAMESPACE, days=30), out)
    return out


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_serving_certificate_chains_to_the_ca_for_every_service_name(cert_dir: Path) -> None:
    ca, leaf = _cert(cert_dir / "ca.crt"), _cert(cert_dir / "tls.crt")
    ca.verify_directly_issued_by(ca)
    leaf.verify_directly_issued_by(ca)
    store = Store([ca])
    for name in NAMES[1:]:  # the bare service name is not a DNS name the verifier accepts as a host
        verifier = PolicyBuilder().store(store).build_server_verifier(x509.DNSName(name))
        chain = verifier.verify(leaf, [])
        assert [c.subject for c in chain] == [leaf.subject, ca.subject]
    wrong = PolicyBuilder().store(store).build_server_verifier(x509.DNSName(f"other.{NAMESPACE}.svc"))
    with pytest.raises(VerificationError):
        wrong.verify(leaf, [])


def test_names_usages_and_validity_are_exact(cert_dir: Path) -> None:
    ca, leaf = _cert(cert_dir / "ca.crt"), _cert(cert_dir / "tls.crt")
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == NAMES
    assert not san.value.get_values_for_type(x509.IPAddress)

    ca_basic = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert ca_basic.critical and ca_basic.value.ca and ca_basic.value.path_length == 0
    ca_usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert ca_usage.critical and ca_usage.value.key_cert_sign and ca_usage.value.crl_sign

    leaf_basic = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert leaf_basic.critical and not leaf_basic.value.ca
    leaf_usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert leaf_usage.critical and leaf_usage.value.digital_signature and not leaf_usage.value.key_cert_sign
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(eku.value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest

    validity = leaf.not_valid_after_utc - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(days=29) < validity <= dt.timedelta(days=30)
    assert leaf.not_valid_before_utc < dt.datetime.now(dt.timezone.utc)


def test_keys_are_p256_and_match_their_certificates(cert_dir: Path) -> None:
    for cert_name, key_name in (("ca.crt", "ca.key"), ("tls.crt", "tls.key")):
        key = serialization.load_pem_private_key((cert_dir / key_name).read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)
        assert _cert(cert_dir / cert_name).public_key() == key.public_key()
    assert _cert(cert_dir / "ca.crt").public_key() != _cert(cert_dir / "tls.crt").public_key()


def test_files_are_private(cert_dir: Path) -> None:
    for name in FILES:
        assert stat.S_IMODE((cert_dir / name).stat().st_mode) == 0o600, name


def test_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "tls.key").write_bytes(b"keep me")
    certs = issue_certificates(service=SERVICE, namespace=NAMESPACE)
    with pytest.raises(ConfigError, match=r"tls\.key already exist.*--force"):
        write_certificates(certs, tmp_path)
    assert (tmp_path / "tls.key").read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tls.key"]


def test_force_replaces_with_private_files_even_over_readable_ones(tmp_path: Path) -> None:
    first = issue_certificates(service=SERVICE, namespace=NAMESPACE)
    write_certificates(first, tmp_path)
    (tmp_path / "tls.key").chmod(0o644)
    second = issue_certificates(service=SERVICE, namespace=NAMESPACE)
    write_certificates(second, tmp_path, force=True)
    assert (tmp_path / "tls.key").read_bytes() == second.tls_key != first.tls_key
    assert stat.S_IMODE((tmp_path / "tls.key").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("service", "namespace", "days", "message"),
    [
        ("Rollguard", NAMESPACE, 1, "--service 'Rollguard'"),
        ("1rollguard", NAMESPACE, 1, "--service"),
        (SERVICE, "bad_ns", 1, "--namespace 'bad_ns'"),
        (SERVICE, "x" * 64, 1, "--namespace"),
        (SERVICE, NAMESPACE, 0, "--days 0"),
    ],
)
def test_invalid_names_and_days_are_refused(service: str, namespace: str, days: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        issue_certificates(service=service, namespace=namespace, days=days)


@pytest.fixture
def tls_server(cert_dir: Path) -> Iterator[int]:
    """A TLS server on 127.0.0.1 with tls.crt and tls.key that says "ok" to each client; yields its port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_dir / "tls.crt", cert_dir / "tls.key")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)  # wakes up to notice `stop`
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(10)
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"ok")
            except (ssl.SSLError, OSError):
                continue  # the client refused the certificate: that is what some tests want

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=10)


def _handshake(port: int, *, ca_file: Path, server_hostname: str) -> bytes:
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the host name
    client.load_verify_locations(cafile=ca_file)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        client.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        return tls.recv(2)


def test_real_tls_handshake_trusting_only_the_ca(tls_server: int, cert_dir: Path, tmp_path: Path) -> None:
    ca_file = cert_dir / "ca.crt"
    assert _handshake(tls_server, ca_file=ca_file, server_hostname=f"{SERVICE}.{NAMESPACE}.svc") == b"ok"
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch|doesn't match"):
        _handshake(tls_server, ca_file=ca_file, server_hostname=f"{SERVICE}.elsewhere.svc")
    other = tmp_path / "other"
    write_certificates(issue_certificates(service=SERVICE, namespace=NAMESPACE), other)
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        _handshake(tls_server, ca_file=other / "ca.crt", server_hostname=f"{SERVICE}.{NAMESPACE}.svc")


def test_cli_writes_refuses_then_forces(tmp_path: Path) -> None:
    args = ["webhook", "certs", "--service", SERVICE, "--namespace", NAMESPACE, "--out", str(tmp_path / "tls")]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert sorted(p.name for p in (tmp_path / "tls").iterdir()) == sorted(FILES)
    ca = (tmp_path / "tls" / "ca.crt").read_bytes()
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 2
    assert "already exist" in again.output and "--force" in again.output
    assert (tmp_path / "tls" / "ca.crt").read_bytes() == ca
    forced = CliRunner().invoke(main, [*args, "--force", "--days", "10"])
    assert forced.exit_code == 0, forced.output
    leaf = _cert(tmp_path / "tls" / "tls.crt")
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc <= dt.timedelta(days=10, minutes=5)
    assert (tmp_path / "tls" / "ca.crt").read_bytes() != ca
