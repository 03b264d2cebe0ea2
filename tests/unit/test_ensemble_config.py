"""kafkaform.ensemble_config: the static zoo.cfg, member lines, the bootstrap digest."""

from __future__ import annotations

import base64
import hashlib
import subprocess

from deploys.tasks.zookeeper import ZOO_CFG_CHECK
from kafkaform.cluster import Cluster
from kafkaform.ensemble_config import (
    bootstrap_text,
    join_text,
    static_properties,
    super_password,
    wanted_members,
)
from kafkaform.templating import render


def cluster() -> Cluster:
    return Cluster.from_hosts(
        [(f"kafka-{i}", {"ssh_hostname": f"10.0.0.{10 + i}", "kafkaid": i, "zookeeper": True,
                         "zkid": i}) for i in (1, 2, 3)]
    )  # fmt: skip


def test_the_static_zoo_cfg_has_no_server_list_and_turns_reconfig_on():
    c = cluster()
    props = static_properties(c, c.nodes[0])
    assert not [k for k in props if k.startswith("server.")]
    assert props["reconfigEnabled"] == "true" and props["standaloneEnabled"] == "false"
    assert props["clientPort"] == "2181"


def test_member_lines_bind_the_client_port_on_every_address():
    assert join_text(wanted_members(cluster())) == "".join(
        f"server.{i}=10.0.0.{10 + i}:2888:3888:participant;2181\n" for i in (1, 2, 3)
    )


def test_the_bootstrap_digest_is_zookeepers_sha1_of_the_derived_super_password():
    password = super_password("admin-pw")
    assert password == super_password("admin-pw") != super_password("other")
    sha1 = hashlib.sha1(f"super:{password}".encode()).digest()
    expected = f"super:{base64.b64encode(sha1).decode()}"
    assert bootstrap_text("admin-pw") == (f"DigestAuthenticationProvider.superDigest={expected}\n")


def test_the_candidate_check_refuses_a_membership_in_kafkaforms_zoo_cfg(tmp_path):
    c = cluster()
    good = render("zookeeper/zoo.cfg.j2", zkid=1, properties=static_properties(c, c.nodes[0]))
    for extra, ok in (("", True), ("server.1=a:1:2\n", False), ("dynamicConfigFile=/x\n", False)):
        path = tmp_path / "zoo.cfg"
        path.write_text(good + extra)
        done = subprocess.run(
            ["sh", "-c", ZOO_CFG_CHECK.replace("{candidate}", str(path))],
            capture_output=True,
            text=True,
        )
        assert (done.returncode == 0) is ok, done.stdout
