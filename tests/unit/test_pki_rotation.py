"""kafkaform.ca_rotation through kafkaform.pki: what every host gets at each step of a CA
rotation, so that at every moment each host trusts the certificates every other host shows."""

from __future__ import annotations

import itertools
import shutil
import subprocess

import pytest

from kafkaform import ca_rotation, certificates, pki
from kafkaform.cluster import Cluster
from tests.unit.pki_fixtures import fast_keys  # noqa: F401 (autouse fixture)

HOSTS = ("kafka-1", "kafka-2", "kafka-3")


def cluster(tmp_path, **extra):
    data = {"pki_dir": str(tmp_path / "pki"), "security": "sasl_ssl", **extra}
    return Cluster.from_hosts(
        [(name, {**data, "ssh_hostname": f"10.0.0.{i}"}) for i, name in enumerate(HOSTS, 1)]
    )


def snapshot(c: Cluster) -> dict[str, pki.HostTLS]:
    return {n.name: pki.host_tls(n) for n in c.nodes}


def cas(tls: pki.HostTLS):
    return certificates.load_certs(tls.ca_pem)


def everyone_trusts_everyone(hosts: dict[str, pki.HostTLS]) -> bool:
    return all(
        certificates.chains_to(certificates.load_cert(b.cert_pem), cas(a), [])
        for a, b in itertools.permutations(hosts.values(), 2)
    )


def advance(root, step: int) -> int | None:
    return ca_rotation.deployed(root, step, HOSTS, HOSTS)


def test_a_rotation_keeps_every_host_trusting_every_other_at_every_mix_of_steps(tmp_path):
    c = cluster(tmp_path)
    root = tmp_path / "pki"
    before = snapshot(c)
    old_ca = certificates.load_cert(before["kafka-1"].ca_pem)
    assert [len(cas(t)) for t in before.values()] == [1, 1, 1]

    rotation = ca_rotation.start(root, "next", 3650, site=None)
    assert rotation.step == 1 and ca_rotation.start(root, "again", 3650, None) == rotation
    step1 = snapshot(c)
    new_ca = certificates.load_cert(ca_rotation.upcoming(root).cert_pem)
    assert new_ca.subject != old_ca.subject  # the bundle never holds two CAs of one name
    for name in HOSTS:  # step 1: the same certificate, the new CA trusted beside the old
        assert step1[name].cert_pem == before[name].cert_pem
        assert [certificates.fingerprint(x) for x in cas(step1[name])] == [
            certificates.fingerprint(old_ca),
            certificates.fingerprint(new_ca),
        ]

    assert ca_rotation.deployed(root, 1, ["kafka-1"], HOSTS) == 1  # not every host yet
    assert ca_rotation.deployed(root, 1, ["kafka-2", "kafka-3"], HOSTS) == 2
    step2 = snapshot(c)
    for name in HOSTS:
        cert = certificates.load_cert(step2[name].cert_pem)
        assert certificates.issued_by(cert, new_ca) and step2[name].key_pem != before[name].key_pem
        assert step2[name].ca_pem == step1[name].ca_pem
    # The roll of step 2 reaches hosts one by one: any mix of old and new certificates works.
    mixed = {"kafka-1": step2["kafka-1"], "kafka-2": step1["kafka-2"], "kafka-3": step1["kafka-3"]}
    assert everyone_trusts_everyone(mixed)
    assert advance(root, 1) == 2  # a rerun of step 1's record changes nothing

    assert advance(root, 2) == 3
    step3 = snapshot(c)
    for name in HOSTS:
        assert step3[name].cert_pem == step2[name].cert_pem
        assert [certificates.fingerprint(x) for x in cas(step3[name])] == [
            certificates.fingerprint(new_ca)
        ]
    # The control machine trusts both until the rotation is over (hosts mid-roll).
    assert len(certificates.load_certs(pki.ca_bundle(c.nodes[0].settings, hosts=False))) == 2
    assert everyone_trusts_everyone({"kafka-1": step3["kafka-1"], "kafka-2": step2["kafka-2"]})

    assert advance(root, 3) is None
    assert ca_rotation.state(root) is None
    assert ca_rotation.current(root).fingerprint() == certificates.fingerprint(new_ca)
    assert len(list((root / "retired").iterdir())) == 1
    assert snapshot(c) == step3  # finishing changes nothing on the hosts
    assert len(certificates.load_certs(pki.ca_bundle(c.nodes[0].settings, hosts=False))) == 1


def test_a_host_that_needs_a_certificate_in_step_1_gets_it_from_the_old_ca(tmp_path):
    snapshot(cluster(tmp_path))
    root = tmp_path / "pki"
    ca_rotation.start(root, "next", 3650, site=None)
    moved = Cluster.from_hosts(
        [("kafka-1", {"pki_dir": str(root), "ssh_hostname": "10.9.9.9"})]
    ).nodes[0]
    cert = certificates.load_cert(pki.host_tls(moved).cert_pem)
    old = certificates.load_cert(ca_rotation.current(root).cert_pem)
    assert certificates.issued_by(cert, old)  # the other hosts may not trust the new CA yet


def test_a_rotation_can_be_given_up_in_step_1_only(tmp_path):
    c = cluster(tmp_path)
    root = tmp_path / "pki"
    before = snapshot(c)
    with pytest.raises(ca_rotation.PkiError, match="no CA rotation"):
        ca_rotation.abort(root)
    ca_rotation.start(root, "next", 3650, site=None)
    ca_rotation.abort(root)
    assert snapshot(c) == before and not (root / "ca-next").exists()
    ca_rotation.start(root, "next", 3650, site=None)
    advance(root, 1)
    with pytest.raises(ca_rotation.PkiError, match="can only be finished"):
        ca_rotation.abort(root)


def test_there_is_nothing_to_rotate_before_the_first_ca(tmp_path):
    with pytest.raises(ca_rotation.PkiError, match="no CA to rotate"):
        ca_rotation.start(tmp_path / "pki", "x", 10, site=None)


def test_the_rotation_state_is_private(tmp_path):
    snapshot(cluster(tmp_path))
    ca_rotation.start(tmp_path / "pki", "next", 3650, site=None)
    for path in (tmp_path / "pki" / "rotation.json", tmp_path / "pki" / "ca-next" / "ca.key"):
        assert path.stat().st_mode & 0o077 == 0


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")
def test_openssl_accepts_a_new_certificate_against_a_bundle_of_step_1(tmp_path):
    """The host not yet rolled (step 1's bundle) accepts a rolled host's certificate (step 2)
    as a TLS server's and a TLS client's, and the old ones still."""
    c = cluster(tmp_path)
    root = tmp_path / "pki"
    before = snapshot(c)
    ca_rotation.start(root, "next", 3650, site=None)
    bundle = tmp_path / "step1-ca.crt"
    bundle.write_text(snapshot(c)["kafka-1"].ca_pem)
    advance(root, 1)
    for name, cert_pem in (
        ("new", snapshot(c)["kafka-2"].cert_pem),
        ("old", before["kafka-3"].cert_pem),
    ):
        path = tmp_path / f"{name}.crt"
        path.write_text(cert_pem)
        for purpose in ("sslserver", "sslclient"):
            subprocess.run(
                ["openssl", "verify", "-CAfile", str(bundle), "-purpose", purpose, str(path)],
                check=True,
                capture_output=True,
            )
