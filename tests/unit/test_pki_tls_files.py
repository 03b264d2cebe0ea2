"""deploys.tasks.tls_files on @fake hosts: a service's key, certificate, CA bundle and key
store reach its host once, private, and are left alone while they are right."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

from kafkaform import certificates, pki, secrets
from kafkaform.cluster import Cluster
from tests.unit.deployrun import run_deploy
from tests.unit.fakes import LISTING, fake_hosts, responses
from tests.unit.pki_fixtures import fast_keys, record_uploads  # noqa: F401 (autouse fixture)

DEPLOY = "tests/unit/pki_deploy.py"


@pytest.fixture
def uploads(monkeypatch):
    return record_uploads(monkeypatch)


H1 = "@fake/kafka-1"
TLS = "/etc/kafka/tls"
STORE = f"{TLS}/host.p12"


def run(tmp_path, have: dict[str, tuple[bytes, str]] | None = None):
    """``have``: the files the host has already (path -> (content, mode)), root:kafka."""
    lines = [f"dir 750 root kafka {TLS}"] if have else []
    for path, (content, mode) in (have or {}).items():
        lines += [
            f"file {mode} root kafka {path}",
            f"{hashlib.sha256(content).hexdigest()}  {path}",
        ]
    answers = responses("debian12") | ({LISTING: lines} if lines else {})
    hosts = fake_hosts(
        "debian12", 1, fake_responses=answers, pki_test="tls", pki_dir=str(tmp_path / "pki")
    )
    return run_deploy(hosts, deploy=DEPLOY)


def the_node(tmp_path):
    return Cluster.from_hosts(
        [("@fake/kafka-1", {"ssh_hostname": "10.0.0.11", "pki_dir": str(tmp_path / "pki")})]
    ).nodes[0]


def test_the_files_are_written_with_their_modes_and_the_key_never_shows(tmp_path, uploads, caplog):
    caplog.set_level(logging.DEBUG)
    result = run(tmp_path)
    ops = result.ops(H1)
    assert f"Directory {TLS}" in ops
    assert f"TLS key {TLS}/host.key (secret: content not shown)" in ops
    assert f"TLS certificate {TLS}/host.crt" in ops
    assert f"TLS CA certificates {TLS}/ca.crt" in ops
    assert f"TLS key and certificate {TLS}/host.pem (secret: content not shown)" in ops
    assert f"TLS key store {STORE} (secret: content not shown)" in ops
    tls = pki.host_tls(the_node(tmp_path))
    sent = {dest: content for dest, _, content in uploads}
    assert sent[f"{TLS}/host.key"] == tls.key_pem.encode()
    assert sent[f"{TLS}/host.crt"] == tls.cert_pem.encode()
    assert sent[f"{TLS}/ca.crt"] == tls.ca_pem.encode()
    assert sent[f"{TLS}/host.pem"] == (tls.key_pem + tls.cert_pem).encode()
    executed = result.executed(H1)
    assert f"chown root:kafka {TLS}/host.key && chmod 640 {TLS}/host.key" in executed
    assert f"chown root:kafka {STORE} && chmod 640 {STORE}" in executed
    assert f"chown root:kafka {TLS}/host.pem && chmod 640 {TLS}/host.pem" in executed
    assert f"chmod 750 {TLS}" in executed
    key_body = tls.key_pem.splitlines()[1]
    assert key_body not in executed and key_body not in caplog.text
    password = secrets.generated(the_node(tmp_path).settings, "keystore-kafka")
    assert password not in executed and password not in caplog.text
    # The key store holds the same key and certificate, under the password kafkaform keeps.
    store = pkcs12.load_pkcs12(sent[STORE], password.encode())
    assert store.cert is not None and store.cert.friendly_name == b"host"
    assert certificates.cert_pem(store.cert.certificate) == tls.cert_pem


def test_a_host_with_the_right_files_gets_no_operation(tmp_path, uploads):
    run(tmp_path)
    sent = {dest: content for dest, _, content in uploads}
    have = {
        dest: (content, "640" if dest.endswith((".key", ".pem", ".p12")) else "644")
        for dest, content in sent.items()
    }
    uploads.clear()
    again = run(tmp_path, have)
    assert not [op for op in again.ops(H1) if op.startswith(("TLS", "Directory"))]
    assert uploads == []  # the key store is the same bytes: nothing to restart for


def test_a_renewed_certificate_is_written_again(tmp_path, uploads):
    run(tmp_path)
    sent = {dest: content for dest, _, content in uploads}
    have = {
        d: (c, "640" if d.endswith((".key", ".pem", ".p12")) else "644") for d, c in sent.items()
    }
    (tmp_path / "pki" / "hosts" / "@fake_kafka-1.crt").unlink()  # as if it expired
    uploads.clear()
    ops = run(tmp_path, have).ops(H1)
    assert (
        f"TLS certificate {TLS}/host.crt" in ops
        and f"TLS key store {STORE} (secret: content not shown)" in ops
    )
    assert f"TLS CA certificates {TLS}/ca.crt" not in ops


@pytest.mark.skipif(not shutil.which("keytool"), reason="needs a JDK's keytool")
def test_java_reads_the_key_store(tmp_path):
    tls = pki.host_tls(the_node(tmp_path))
    path = tmp_path / "host.p12"
    path.write_bytes(keystore_bytes_for(tls))
    listing = subprocess.run(
        [
            "keytool",
            "-list",
            "-keystore",
            str(path),
            "-storetype",
            "PKCS12",
            "-storepass:env",
            "STOREPASS",
        ],
        env={**os.environ, "STOREPASS": "test-password"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "host, " in listing and "PrivateKeyEntry" in listing


def keystore_bytes_for(tls):
    from deploys.tasks.tls_files import keystore_bytes

    return keystore_bytes(tls, "test-password")


def test_a_deploy_records_the_rotation_step_each_host_reached(tmp_path):
    from kafkaform import ca_rotation

    run(tmp_path)  # the CA is made by the first deploy
    root = tmp_path / "pki"
    ca_rotation.start(root, "next", 3650, site=None)
    result = run(tmp_path)
    assert "CA rotation: step 1 (trust-both) is on this host" in result.ops(H1)
    assert ca_rotation.state(root).step == 2  # the only host had it: the next deploy does 2
    assert "CA rotation: step 2 (new-certificates) is on this host" in run(tmp_path).ops(H1)
    run(tmp_path)
    assert ca_rotation.state(root) is None  # step 3 was the last
    assert not [op for op in run(tmp_path).ops(H1) if op.startswith("CA rotation")]


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")
def test_openssl_reads_the_key_store(tmp_path):
    tls = pki.host_tls(the_node(tmp_path))
    path = tmp_path / "host.p12"
    path.write_bytes(keystore_bytes_for(tls))
    out = subprocess.run(
        ["openssl", "pkcs12", "-in", str(path), "-passin", "env:STOREPASS", "-nodes"],
        env={**os.environ, "STOREPASS": "test-password"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert tls.cert_pem.splitlines()[1] in out and "PRIVATE KEY" in out
