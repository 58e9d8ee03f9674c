"""`rollguard dashboard` as a real process: plain HTTP on localhost only, HTTPS with a bearer token or
client certificates anywhere else, and the requests it refuses."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from rollguard.cli import main
from rollguard.webhook.certs import CA_CERT, CA_KEY, TLS_CERT, TLS_KEY, issue_certificates, write_certificates

from .conftest import running_dashboard

SERVER_NAME = "dashboard.rollguard-system.svc"
TOKEN = "4f9d0c1be2a7736c5d10e8a9b0c4d2e1"


def server_certs(root: Path) -> Path:
    certs = root / "server"
    write_certificates(issue_certificates(service="dashboard", namespace="rollguard-system"), certs)
    return certs


def client_cert(root: Path, name: str) -> tuple[Path, Path, Path]:
    """A CA of its own (ca.crt) and a client certificate it signed: (ca, cert, key)."""
    out = root / name
    write_certificates(issue_certificates(service=name, namespace="clients"), out)
    ca_cert = x509.load_pem_x509_certificate((out / CA_CERT).read_bytes())
    ca_key = serialization.load_pem_private_key((out / CA_KEY).read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} release manager")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (out / "client.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (out / "client.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return out / CA_CERT, out / "client.crt", out / "client.key"


def https_get(
    url: str, path: str, *, ca: Path, cert: tuple[Path, Path] | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    with httpx.Client(base_url=url, verify=context, timeout=10) as client:
        return client.get(path, headers=headers or {}, extensions={"sni_hostname": SERVER_NAME})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "--host 0.0.0.0 listens beyond this machine: serve HTTPS there"),
        (["--host", "10.1.2.3", "--cert", "{cert}", "--key", "{key}"], "give an auth method, --token-file FILE"),
        (["--cert", "{cert}"], "--cert and --key go together"),
        (["--client-ca", "{cert}"], "--client-ca checks client certificates during the TLS handshake"),
        (["--token-file", "{short}"], "--token-file: the token must be one word of at least 16 characters"),
        (["--cert", "{key}", "--key", "{key}"], "--cert/--key: cannot load the certificate and key"),
    ],
)
def test_refuses_to_start_unsafely(tmp_path: Path, fleet_store: str, args: list[str], message: str) -> None:
    certs = server_certs(tmp_path)
    (tmp_path / "short").write_text("secret\n")
    files = {"cert": certs / TLS_CERT, "key": certs / TLS_KEY, "short": tmp_path / "short"}
    result = CliRunner().invoke(main, ["dashboard", "--store", fleet_store, *[a.format(**files) for a in args]])
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_plain_http_on_localhost_needs_no_credentials(tmp_path: Path, fleet_store: str) -> None:
    with running_dashboard(fleet_store, tmp_path, ready=lambda url: httpx.get(f"{url}/healthz").text == "ok") as dash:
        page = httpx.get(f"{dash.url}/service/web", headers={"accept": "application/json"})
        assert page.status_code == 200 and page.json()["name"] == "web"
        assert "rollguard: dashboard of sqlite:///" in dash.log.read_text()


def test_a_bearer_token_beyond_localhost(tmp_path: Path, fleet_store: str) -> None:
    certs = server_certs(tmp_path)
    (tmp_path / "token").write_text(TOKEN + "\n")
    ca = certs / CA_CERT
    args = ("--host", "0.0.0.0", "--cert", str(certs / TLS_CERT), "--key", str(certs / TLS_KEY))
    args += ("--token-file", str(tmp_path / "token"))
    with running_dashboard(
        fleet_store, tmp_path, *args, ready=lambda url: https_get(url, "/healthz", ca=ca).text == "ok"
    ) as dash:
        missing = https_get(dash.url, "/", ca=ca)
        assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
        assert "authentication required" in missing.text
        wrong = https_get(dash.url, "/", ca=ca, headers={"authorization": "Bearer " + TOKEN[::-1]})
        assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["www-authenticate"]
        basic = https_get(dash.url, "/waivers", ca=ca, headers={"authorization": "Basic " + TOKEN})
        assert basic.status_code == 401
        right = {"authorization": "Bearer " + TOKEN, "accept": "application/json"}
        matrix = https_get(dash.url, "/", ca=ca, headers=right)
        assert matrix.status_code == 200 and [r["service"] for r in matrix.json()["services"]] == ["storefront", "web"]
        # Plain HTTP to the HTTPS port gets no page.
        with pytest.raises(httpx.HTTPError):
            httpx.get(dash.url.replace("https://", "http://") + "/healthz", timeout=5)


def test_client_certificates_checked_against_the_ca(tmp_path: Path, fleet_store: str) -> None:
    certs = server_certs(tmp_path)
    ca = certs / CA_CERT
    trusted_ca, cert, key = client_cert(tmp_path, "team-a")
    _, stranger_cert, stranger_key = client_cert(tmp_path, "stranger")
    args = ("--host", "0.0.0.0", "--cert", str(certs / TLS_CERT), "--key", str(certs / TLS_KEY))
    args += ("--client-ca", str(trusted_ca))
    with running_dashboard(
        fleet_store,
        tmp_path,
        *args,
        ready=lambda url: https_get(url, "/healthz", ca=ca, cert=(cert, key)).text == "ok",
    ) as dash:
        page = https_get(dash.url, "/waivers", ca=ca, cert=(cert, key))
        assert page.status_code == 200 and "WVR-112" in page.text
        # Without a certificate, or with one another CA signed, the handshake fails: no HTTP answer at all.
        with pytest.raises(httpx.HTTPError):
            https_get(dash.url, "/", ca=ca)
        with pytest.raises(httpx.HTTPError):
            https_get(dash.url, "/", ca=ca, cert=(stranger_cert, stranger_key))
