"""``kafkaform certs rotate-ca``: start, follow, record and give up a CA rotation."""

from __future__ import annotations

from kafkaform import ca_rotation, certificates, cli, pki
from kafkaform.cluster import Cluster
from tests.unit.pki_fixtures import fast_keys  # noqa: F401 (autouse fixture)


def inventory(tmp_path) -> str:
    data = {"kafkaid": 1, "zookeeper": True, "zkid": 1, "security": "sasl_ssl"}
    hosts = [(f"kafka-{i}", {**data, "kafkaid": i, "zkid": i}) for i in (1, 2, 3)]
    path = tmp_path / "inventory.py"
    path.write_text(
        f"hosts = {hosts!r}\nfor _, d in hosts: d['pki_dir'] = {str(tmp_path / 'pki')!r}\n"
    )
    return str(path)


def test_rotate_ca_starts_shows_records_and_finishes(tmp_path, capsys):
    inv = inventory(tmp_path)
    assert cli.main(["certs", "rotate-ca", inv]) == 1  # nothing to rotate before a deploy
    assert "first deploy makes or adopts one" in capsys.readouterr().err
    node = Cluster.from_hosts([("kafka-1", {"pki_dir": str(tmp_path / "pki")})]).nodes[0]
    pki.host_tls(node)
    assert cli.main(["certs", "rotate-ca", inv]) == 0
    out = capsys.readouterr().out
    assert "new CA: " in out and "step 1 of 3 (trust-both)" in out
    assert "still to deploy this step: kafka-1, kafka-2, kafka-3" in out
    assert cli.main(["certs", "rotate-ca", inv]) == 0  # again: the same rotation, shown
    out = capsys.readouterr().out
    assert "new CA: " not in out and "step 1 of 3" in out
    assert cli.main(["certs", "rotate-ca", inv, "--deployed", "1"]) == 0
    assert "step 2 of 3 (new-certificates)" in capsys.readouterr().out
    assert cli.main(["certs", "rotate-ca", inv, "--deployed", "1"]) == 0  # a rerun: no step
    assert "step 2 of 3" in capsys.readouterr().out
    assert cli.main(["certs", "rotate-ca", inv, "--abort"]) == 1
    assert "can only be finished" in capsys.readouterr().err
    for step in (2, 3):
        assert cli.main(["certs", "rotate-ca", inv, "--deployed", str(step)]) == 0
    assert "no CA rotation is under way" in capsys.readouterr().out
    assert ca_rotation.state(tmp_path / "pki") is None


def test_rotate_ca_can_be_given_up_in_step_1(tmp_path, capsys):
    inv = inventory(tmp_path)
    pki.host_tls(Cluster.from_hosts([("kafka-1", {"pki_dir": str(tmp_path / "pki")})]).nodes[0])
    assert cli.main(["certs", "rotate-ca", inv]) == 0
    assert cli.main(["certs", "rotate-ca", inv, "--abort"]) == 0
    assert cli.main(["certs", "rotate-ca", inv, "--status"]) == 0
    assert "no CA rotation is under way" in capsys.readouterr().out


def test_a_site_that_gives_every_certificate_is_told_how_to_rotate_its_ca(tmp_path, capsys):
    inv = tmp_path / "inventory.py"
    data = {"kafkaid": 1, "zookeeper": True, "zkid": 1, "pki_dir": str(tmp_path / "pki")}
    ca = tmp_path / "ca.crt"
    ca.write_text(certificates.make_ca("site", 100)[1])
    inv.write_text(f"hosts = [('kafka-1', {{**{data!r}, 'tls_ca_cert_file': {str(ca)!r}}})]\n")
    assert cli.main(["certs", "rotate-ca", str(inv)]) == 1
    assert "put the old and the new CA in tls_ca_cert_file" in capsys.readouterr().err
    assert not (tmp_path / "pki" / "rotation.json").exists()


def control_bundle(tmp_path) -> list[str]:
    """The fingerprints in the control machine's CA file, as its clients read it."""
    text = (tmp_path / "pki" / "control" / "ca.crt").read_text()
    return [certificates.fingerprint(c) for c in certificates.load_certs(text)]


def test_the_control_machine_s_ca_file_follows_the_rotation_from_its_start(tmp_path, capsys):
    inv = inventory(tmp_path)
    node = Cluster.from_hosts([("kafka-1", {"pki_dir": str(tmp_path / "pki")})]).nodes[0]
    pki.host_tls(node)
    pki.control_files(node.settings)  # a client built before the rotation: the old CA
    old = ca_rotation.current(tmp_path / "pki").fingerprint()
    assert control_bundle(tmp_path) == [old]
    # A client started right after `rotate-ca` (no other command in between) trusts both.
    assert cli.main(["certs", "rotate-ca", inv]) == 0
    new = ca_rotation.upcoming(tmp_path / "pki").fingerprint()
    assert control_bundle(tmp_path) == [old, new]
    assert "trust both CAs until the end" in capsys.readouterr().out
    assert cli.main(["certs", "rotate-ca", inv, "--abort"]) == 0
    assert control_bundle(tmp_path) == [old]
    assert cli.main(["certs", "rotate-ca", inv]) == 0
    newer = ca_rotation.upcoming(tmp_path / "pki").fingerprint()
    for step in (1, 2, 3):
        assert control_bundle(tmp_path) == [old, newer]
        assert cli.main(["certs", "rotate-ca", inv, "--deployed", str(step)]) == 0
    assert control_bundle(tmp_path) == [newer]  # the rotation is over: the new CA alone
