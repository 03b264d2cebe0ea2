"""`kafkaform docker down` removes only what kafkaform's own dockerd added to this machine."""

from __future__ import annotations

from kafkaform import dockerd, identity

# A system Docker's leftovers, there before kafkaform started its own dockerd.
FOREIGN_FILTER = """-P INPUT ACCEPT
-P FORWARD ACCEPT
-N DOCKER
-N DOCKER-USER
-A FORWARD -j DOCKER-USER
-A FORWARD -o br-0123456789ab -j DOCKER
-A DOCKER-USER -j RETURN
"""
FOREIGN_NAT = """-P PREROUTING ACCEPT
-N DOCKER
-A POSTROUTING -s 172.18.0.0/16 ! -o br-0123456789ab -j MASQUERADE
"""
# What our dockerd added on top: docker0, a network of its own, an isolation chain.
OURS_FILTER = """-N DOCKER-ISOLATION-STAGE-1
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i br-fedcba987654 ! -o br-fedcba987654 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j RETURN
"""
OURS_NAT = """-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
"""
LAB_RULE = "-A FORWARD -i kf-br0 -m comment --comment kafkaform-lab -j ACCEPT\n"


def snapshot(filter_rules: str, nat_rules: str, bridges: list[str]) -> dict:
    return {"bridges": bridges, "iptables": {"filter": filter_rules, "nat": nat_rules}}


BEFORE = snapshot(FOREIGN_FILTER + LAB_RULE, FOREIGN_NAT, ["br-0123456789ab"])
NOW = snapshot(
    FOREIGN_FILTER.replace("-P FORWARD ACCEPT", "-P FORWARD DROP") + LAB_RULE + OURS_FILTER,
    FOREIGN_NAT + OURS_NAT,
    ["br-0123456789ab", "br-fedcba987654", "docker0"],
)


def commands(before: dict | None) -> list[str]:
    return [" ".join(argv) for argv in dockerd.cleanup_commands(before, NOW, "ACCEPT")]


def test_docker_down_removes_only_what_our_dockerd_added():
    done = commands(BEFORE)
    # Ours: rules, the new chain, docker0 and our network's bridge, the FORWARD policy.
    assert "iptables -w -t filter -D FORWARD -j DOCKER-ISOLATION-STAGE-1" in done
    assert "iptables -w -t filter -D FORWARD -o docker0 -j DOCKER" in done
    assert "iptables -w -t nat -D POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE" in done
    assert "iptables -w -t filter -X DOCKER-ISOLATION-STAGE-1" in done
    assert "ip link delete docker0" in done and "ip link delete br-fedcba987654" in done
    assert done[-3] == "iptables -w -P FORWARD ACCEPT"
    # The system Docker's bridge, chains and rules, and the lab's rule, stay.
    assert not [c for c in done if "br-0123456789ab" in c or "kf-br0" in c]
    for chain in ("DOCKER", "DOCKER-USER"):
        assert not [c for c in done if c.endswith((f"-F {chain}", f"-X {chain}"))]
    assert "iptables -w -t filter -D FORWARD -j DOCKER-USER" not in done


def test_chains_are_emptied_before_they_are_deleted():
    done = commands(BEFORE)
    flush = done.index("iptables -w -t filter -F DOCKER-ISOLATION-STAGE-1")
    assert flush < done.index("iptables -w -t filter -X DOCKER-ISOLATION-STAGE-1")


def test_a_state_file_without_a_snapshot_cleans_up_as_before():
    done = commands(None)
    assert "ip link delete br-0123456789ab" in done
    assert "iptables -w -t filter -X DOCKER-USER" in done
    assert not [c for c in done if "kf-br0" in c]


def test_docker_bridges_are_recognised_by_name():
    links = ["lo", "eth0", "docker0", "br-0123456789ab", "br-short", "kf-br0", "vb-kafka-1"]
    assert dockerd.docker_bridges(links) == ["br-0123456789ab", "docker0"]


def test_the_image_gets_vagrants_login_and_loses_this_machines_key():
    script = dockerd.PREPARE_IMAGE
    assert script.startswith("set -e\n")
    assert identity.VAGRANT_INSECURE_KEY in script
    assert "useradd --create-home --shell /bin/bash vagrant" in script
    assert f"rm -f {identity.ROOT_AUTHORIZED_KEYS}" in script
    assert "systemctl mask systemd-networkd.service" in script
