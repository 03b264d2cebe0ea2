"""kafkaform.pki with a site's CA or a site's own certificates, and renewal."""

from __future__ import annotations

import pytest

from kafkaform import ca_rotation, certificates, pki
from kafkaform.cluster import Cluster
from tests.unit.pki_fixtures import fast_keys  # noqa: F401 (autouse fixture)


def site_ca(tmp_path, name="site"):
    key, cert = certificates.make_ca(f"{name} CA", 3650)
    (tmp_path / f"{name}-ca.key").write_text(key)
    (tmp_path / f"{name}-ca.crt").write_text(cert)
    return str(tmp_path / f"{name}-ca.crt"), str(tmp_path / f"{name}-ca.key")


def node(tmp_path, name="kafka-1", **extra):
    data = {"pki_dir": str(tmp_path / "pki"), "ssh_hostname": "10.0.0.1", **extra}
    return Cluster.from_hosts([(name, data)]).nodes[0]


def test_a_site_ca_signs_and_its_key_stays_where_the_site_keeps_it(tmp_path):
    cert_file, key_file = site_ca(tmp_path)
    n = node(tmp_path, tls_ca_cert_file=cert_file, tls_ca_key_file=key_file)
    tls = pki.host_tls(n)
    ca = certificates.load_cert(open(cert_file).read())
    assert certificates.issued_by(certificates.load_cert(tls.cert_pem), ca)
    assert certificates.load_certs(tls.ca_pem) == [ca]
    recorded = tmp_path / "pki" / "ca"
    assert not (recorded / "ca.key").exists()
    assert (recorded / "key_file").read_text().strip() == key_file
    assert pki.host_tls(n) == tls


def test_naming_another_ca_on_a_running_cluster_asks_for_a_rotation_then_rotates(tmp_path):
    own = pki.host_tls(node(tmp_path))  # kafkaform's own CA first
    cert_file, key_file = site_ca(tmp_path)
    moved = node(tmp_path, tls_ca_cert_file=cert_file, tls_ca_key_file=key_file)
    with pytest.raises(pki.PkiError, match="kafkaform certs rotate-ca"):
        pki.host_tls(moved)
    root = tmp_path / "pki"
    ca_rotation.start(root, "unused", 10, site=pki.site_ca(moved.settings))
    step1 = pki.host_tls(moved)
    assert step1.cert_pem == own.cert_pem and len(certificates.load_certs(step1.ca_pem)) == 2
    ca_rotation.deployed(root, 1, ["kafka-1"], ["kafka-1"])
    site = certificates.load_cert(open(cert_file).read())
    assert certificates.issued_by(certificates.load_cert(pki.host_tls(moved).cert_pem), site)
    ca_rotation.deployed(root, 2, ["kafka-1"], ["kafka-1"])
    ca_rotation.deployed(root, 3, ["kafka-1"], ["kafka-1"])
    assert certificates.load_certs(pki.host_tls(moved).ca_pem) == [site]
    assert not ca_rotation.current(root).own
    # Back to the old setting (kafkaform's own) now needs a rotation too.
    with pytest.raises(pki.PkiError, match="is a site's"):
        pki.host_tls(node(tmp_path))
    with pytest.raises(pki.PkiError, match="in use already"):
        ca_rotation.start(root, "x", 10, site=pki.site_ca(moved.settings))


def test_a_site_ca_key_of_another_certificate_is_refused(tmp_path):
    cert_file, _ = site_ca(tmp_path)
    _, other_key = site_ca(tmp_path, "other")
    n = node(tmp_path, tls_ca_cert_file=cert_file, tls_ca_key_file=other_key)
    with pytest.raises(pki.PkiError, match="belongs to no certificate"):
        pki.host_tls(n)


def site_certificate(tmp_path, cert_file, key_file, names, stem="kafka-1"):
    key, cert = certificates.issue(names, open(key_file).read(), open(cert_file).read(), 90)
    (tmp_path / f"{stem}.key").write_text(key)
    (tmp_path / f"{stem}.crt").write_text(cert)
    return {"cert_file": str(tmp_path / f"{stem}.crt"), "key_file": str(tmp_path / f"{stem}.key")}


def test_a_sites_own_certificates_are_used_as_they_are(tmp_path):
    cert_file, key_file = site_ca(tmp_path)
    entry = site_certificate(tmp_path, cert_file, key_file, ["kafka-1", "10.0.0.1"])
    n = node(tmp_path, tls_ca_cert_file=cert_file, tls_host_certificates={"kafka-1": entry})
    tls = pki.host_tls(n)
    assert tls.cert_pem == open(entry["cert_file"]).read()
    assert tls.key_pem == open(entry["key_file"]).read()
    assert tls.ca_pem == open(cert_file).read()
    assert not (tmp_path / "pki" / "ca").exists()  # no CA of kafkaform's is made
    assert pki.control_tls(n.settings) is None
    other = node(
        tmp_path, "kafka-2", tls_ca_cert_file=cert_file, tls_host_certificates={"kafka-1": entry}
    )
    with pytest.raises(pki.PkiError, match="kafka-2: tls_host_certificates has no entry"):
        pki.host_tls(other)
    crossed = {"cert_file": entry["cert_file"], "key_file": key_file}
    wrong = node(tmp_path, tls_ca_cert_file=cert_file, tls_host_certificates={"kafka-1": crossed})
    with pytest.raises(pki.PkiError, match="key_file is not the key of cert_file"):
        pki.host_tls(wrong)


def test_a_certificate_capped_by_its_cas_end_is_not_issued_again_at_every_deploy(tmp_path):
    n = node(tmp_path, tls_ca_days=20)  # fewer days than tls_renew_days (30)
    first = pki.host_tls(n)
    cert = certificates.load_cert(first.cert_pem)
    ca = certificates.load_cert(first.ca_pem)
    assert cert.not_valid_after_utc == ca.not_valid_after_utc
    assert pki.host_tls(n) == first


def test_the_control_machine_gets_a_client_certificate_of_the_cluster_ca(tmp_path):
    n = node(tmp_path)
    control = pki.control_tls(n.settings)
    assert control is not None
    cert = certificates.load_cert(control.cert_pem)
    assert certificates.names_of(cert) == [pki.CONTROL_NAME]
    assert certificates.issued_by(cert, certificates.load_cert(control.ca_pem))
    assert certificates.key_matches(control.key_pem, control.cert_pem)
    assert pki.control_tls(n.settings) == control


def test_issued_files_lists_the_cas_hosts_and_the_sites_files(tmp_path):
    n = node(tmp_path)
    pki.host_tls(n)
    pki.control_tls(n.settings)
    found = [p.relative_to(tmp_path / "pki").as_posix() for p in pki.issued_files(n.settings)]
    assert found == ["ca/ca.crt", "hosts/kafka-1.crt", "control/client.crt"]


def test_the_control_machines_files_are_kept_in_pki_dir(tmp_path):
    n = node(tmp_path)
    files = pki.control_files(n.settings)
    assert files is not None
    key, cert, ca = files
    assert certificates.key_matches(key.read_text(), cert.read_text())
    assert ca.read_text() == pki.ca_bundle(n.settings, hosts=False)
    assert key.stat().st_mode & 0o077 == 0
    ca_rotation.start(tmp_path / "pki", "next", 3650, site=None)
    _, _, ca = pki.control_files(n.settings)
    assert len(certificates.load_certs(ca.read_text())) == 2  # both, during a rotation


def test_a_pyinfra_host_name_with_a_slash_is_one_file(tmp_path):
    pki.host_tls(node(tmp_path, "@docker/kafka-1"))
    assert (tmp_path / "pki" / "hosts" / "@docker_kafka-1.crt").exists()
