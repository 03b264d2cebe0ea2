"""kafkaform.secrets and kafkaform.pki: generated passwords and certificates on the control
machine, private from the first byte, made once and reused."""

from __future__ import annotations

import datetime as dt
import stat

import pytest
from cryptography import x509

from kafkaform import certificates, pki, secrets
from kafkaform.cluster import Cluster
from tests.unit.pki_fixtures import fast_keys  # noqa: F401 (autouse fixture)


def settings(tmp_path, **extra):
    from kafkaform.cluster import resolve_settings

    return resolve_settings({"pki_dir": str(tmp_path / "pki"), **extra})


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_generated_password_is_kept_private_and_reused(tmp_path):
    s = settings(tmp_path)
    first = secrets.generated(s, "broker-scram")
    assert len(first) >= 32 and first == secrets.generated(s, "broker-scram")
    assert secrets.generated(s, "other") != first
    path = tmp_path / "pki" / "secrets" / "broker-scram"
    assert mode(path) == 0o600 and mode(path.parent) == 0o700 and mode(tmp_path / "pki") == 0o700


def test_a_named_password_comes_from_its_variable_or_file_and_errors_show_no_value(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("APP_PW", "s3cret-value")
    assert secrets.named({"password_env": "APP_PW"}, "kafka_users[0]") == "s3cret-value"
    (tmp_path / "pw").write_text("from-file\n")
    assert secrets.named({"password_file": str(tmp_path / "pw")}, "x") == "from-file"
    monkeypatch.delenv("APP_PW")
    with pytest.raises(secrets.SecretError, match=r"kafka_users\[0\]: environment variable APP_PW"):
        secrets.named({"password_env": "APP_PW"}, "kafka_users[0]")
    with pytest.raises(secrets.SecretError, match="cannot read password_file"):
        secrets.named({"password_file": str(tmp_path / "missing")}, "x")
    with pytest.raises(secrets.SecretError, match="give password_env or password_file"):
        secrets.named({"password": "inline"}, "x")


def node(tmp_path, name="kafka-1", address="10.213.0.11"):
    data = {"ssh_hostname": address, "kafkaid": 1, "pki_dir": str(tmp_path / "pki")}
    return Cluster.from_hosts([(name, data)]).node(name)


def test_a_host_certificate_names_the_host_chains_to_the_ca_and_is_reused(tmp_path):
    n = node(tmp_path)
    tls = pki.host_tls(n)
    cert = x509.load_pem_x509_certificate(tls.cert_pem.encode())
    ca = x509.load_pem_x509_certificate(tls.ca_pem.encode())
    cert.verify_directly_issued_by(ca)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["kafka-1"]
    assert [str(a) for a in sans.get_values_for_type(x509.IPAddress)] == ["10.213.0.11"]
    assert mode(tmp_path / "pki" / "ca" / "ca.key") == 0o600
    assert mode(tmp_path / "pki" / "hosts" / "kafka-1.key") == 0o600
    assert pki.host_tls(n) == tls  # nothing re-issued


def ca_files(tmp_path) -> tuple[str, str]:
    ca = tmp_path / "pki" / "ca"
    return (ca / "ca.key").read_text(), (ca / "ca.crt").read_text()


def test_a_certificate_is_issued_again_when_its_names_change_or_it_nears_its_end(tmp_path):
    first = pki.host_tls(node(tmp_path))
    moved = pki.host_tls(node(tmp_path, address="10.213.0.99"))
    assert moved.cert_pem != first.cert_pem and moved.ca_pem == first.ca_pem
    s = settings(tmp_path)
    short_key, short = certificates.issue(["kafka-1", "10.213.0.99"], *ca_files(tmp_path), days=10)
    (tmp_path / "pki" / "hosts" / "kafka-1.crt").write_text(short)
    renewed = pki.host_tls(node(tmp_path, address="10.213.0.99"))
    expires = x509.load_pem_x509_certificate(renewed.cert_pem.encode()).not_valid_after_utc
    assert expires - certificates.now() > dt.timedelta(days=s["tls_renew_days"])
