"""kafkaform.validation.tls through the validator: TLS files and password sources are checked
before any host is touched, each message naming host and field, none showing a secret."""

from __future__ import annotations

from kafkaform import certificates, validate
from tests.unit.pki_fixtures import fast_keys  # noqa: F401 (autouse fixture)

BASE = {"kafkaid": 1, "zookeeper": True, "zkid": 1, "ssh_hostname": "10.0.0.1"}


def found(**data):
    problems = validate.findings([("kafka-1", {**BASE, **data})])
    for p in problems:
        assert "PRIVATE KEY" not in str(p) and "hunter2" not in str(p)
    return [str(p) for p in problems if not p.warning], [str(p) for p in problems if p.warning]


def write(tmp_path, name, text, mode=0o600):
    path = tmp_path / name
    path.write_text(text)
    path.chmod(mode)
    return str(path)


def site(tmp_path, name="site", ca_days=3650):
    key, cert = certificates.make_ca(f"{name} CA", ca_days)
    return write(tmp_path, f"{name}.crt", cert), write(tmp_path, f"{name}.key", key)


def host_files(tmp_path, ca, names=("kafka-1", "10.0.0.1"), days=365, stem="kafka-1"):
    cert_file, key_file = ca
    key, cert = certificates.issue(list(names), open(key_file).read(), open(cert_file).read(), days)
    return {
        "cert_file": write(tmp_path, f"{stem}.crt", cert),
        "key_file": write(tmp_path, f"{stem}.key", key),
    }


def test_a_plaintext_cluster_and_a_secured_one_of_kafkaforms_own_ca_pass():
    assert found() == ([], [])
    assert found(security="sasl_ssl") == ([], [])


def test_the_security_level_and_the_renewal_window_are_checked():
    errors, _ = found(security="sasl-ssl")
    assert errors == [
        "kafka-1: security: 'sasl-ssl': one of plaintext, sasl_ssl (did you mean 'sasl_ssl'?)"
    ]
    errors, _ = found(tls_renew_days=400)
    assert errors == [
        "kafka-1: tls_renew_days: 400 is not below tls_cert_days (365): every deploy would "
        "issue every certificate again"
    ]


def test_a_site_ca_must_be_readable_a_ca_and_the_pair_of_its_key(tmp_path):
    cert_file, key_file = site(tmp_path)
    assert found(security="sasl_ssl", tls_ca_cert_file=cert_file, tls_ca_key_file=key_file) == (
        [],
        [],
    )
    errors, _ = found(tls_ca_cert_file=str(tmp_path / "none.crt"))
    assert errors == [
        f"kafka-1: tls_ca_cert_file: cannot read {tmp_path / 'none.crt'}: No such file or directory"
    ]
    _, other_key = site(tmp_path, "other")
    errors, _ = found(tls_ca_cert_file=cert_file, tls_ca_key_file=other_key)
    assert errors == ["kafka-1: tls_ca_key_file: is the key of no certificate in tls_ca_cert_file"]
    errors, _ = found(tls_ca_key_file=key_file)
    assert errors == ["kafka-1: tls_ca_key_file: needs tls_ca_cert_file beside it"]
    errors, _ = found(tls_ca_cert_file=write(tmp_path, "junk.crt", "junk"))
    assert errors == ["kafka-1: tls_ca_cert_file: not a PEM certificate bundle"]
    open_key = write(tmp_path, "open.key", open(key_file).read(), mode=0o644)
    _, warnings = found(tls_ca_cert_file=cert_file, tls_ca_key_file=open_key)
    assert warnings == [
        f"kafka-1: tls_ca_key_file: {open_key} is readable by every user of this machine "
        "(chmod 600)"
    ]
    short_cert, short_key = site(tmp_path, "short", ca_days=10)
    _, warnings = found(tls_ca_cert_file=short_cert, tls_ca_key_file=short_key)
    assert warnings == [
        "kafka-1: tls_ca_cert_file (CN=short CA,O=kafkaform): the certificate has 10 days left"
    ]
    leaf = host_files(tmp_path, (cert_file, key_file))
    errors, _ = found(tls_ca_cert_file=leaf["cert_file"])
    assert errors == ["kafka-1: tls_ca_cert_file (CN=kafka-1): is not a CA certificate"]


def test_a_sites_host_certificate_must_fit_its_host_and_chain_to_the_sites_ca(tmp_path):
    ca = site(tmp_path)
    cert_file = ca[0]
    secured = {"security": "sasl_ssl", "tls_ca_cert_file": cert_file}
    where = "kafka-1: tls_host_certificates['kafka-1']"
    good = host_files(tmp_path, ca)
    assert found(**secured, tls_host_certificates={"kafka-1": good}) == ([], [])
    narrow = host_files(tmp_path, ca, names=("kafka-1",), stem="narrow")
    errors, _ = found(**secured, tls_host_certificates={"kafka-1": narrow})
    assert errors == [f"{where}.cert_file: does not name 10.0.0.1"]
    stranger = host_files(tmp_path, site(tmp_path, "stranger"), stem="stranger")
    errors, _ = found(**secured, tls_host_certificates={"kafka-1": stranger})
    assert errors == [f"{where}.cert_file: does not chain to tls_ca_cert_file"]
    crossed = {"cert_file": good["cert_file"], "key_file": stranger["key_file"]}
    errors, _ = found(**secured, tls_host_certificates={"kafka-1": crossed})
    assert errors == [f"{where}.key_file: is not the key of cert_file"]
    expired = host_files(tmp_path, ca, days=0, stem="expired")
    errors, _ = found(**secured, tls_host_certificates={"kafka-1": expired})
    assert errors == [f"{where}.cert_file: the certificate has expired"]
    short = host_files(tmp_path, ca, days=10, stem="short")
    errors, warnings = found(**secured, tls_host_certificates={"kafka-1": short})
    assert errors == [] and warnings == [f"{where}.cert_file: the certificate has 10 days left"]
    errors, _ = found(**secured, tls_host_certificates={"kafka-1": {**good, "ca_file": "x"}})
    assert errors == [f"{where}['ca_file']: unknown key (did you mean 'cert_file'?)"]


def test_every_host_of_a_site_certificate_cluster_needs_its_entry(tmp_path):
    ca = site(tmp_path)
    good = host_files(tmp_path, ca)
    errors, _ = found(
        security="sasl_ssl", tls_ca_cert_file=ca[0], tls_host_certificates={"kafka-2": good}
    )
    assert errors == [
        "kafka-1: tls_host_certificates: has no entry for this host, and there is no "
        "tls_ca_key_file to issue one with",
        "kafka-1: tls_host_certificates['kafka-2']: no such host in the inventory "
        "(did you mean 'kafka-1'?)",
    ]
    errors, _ = found(tls_host_certificates={"kafka-1": good})
    assert errors == [
        "kafka-1: tls_host_certificates: needs tls_ca_cert_file (the CA they chain to)"
    ]


def test_kafka_users_name_where_their_password_is_and_never_hold_it(tmp_path):
    errors, _ = found(kafka_users=[{"name": "app", "password": "hunter2"}])
    assert errors == [
        "kafka-1: kafka_users[0].password: a password is never written in the inventory: "
        "name it with password_env (a variable) or password_file (a file)",
        "kafka-1: kafka_users[0]: give exactly one of password_env, password_file",
    ]
    both = {"name": "app", "password_env": "A", "password_file": "/x"}
    errors, _ = found(kafka_users=[both, "app"])
    assert errors == [
        "kafka-1: kafka_users[0]: give exactly one of password_env, password_file",
        "kafka-1: kafka_users[1]: expected a dict with name and password_env or password_file",
    ]
    shared = write(tmp_path, "pw", "hunter2\n", mode=0o644)
    errors, warnings = found(kafka_users=[{"name": "app", "password_file": shared}])
    assert errors == [] and warnings == [
        f"kafka-1: kafka_users[0].password_file: {shared} is readable by every user of this "
        "machine (chmod 600)"
    ]
