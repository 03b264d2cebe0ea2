"""The ZooKeeper servers' stages of a live security rollout (kafkaform.zookeeper_security
.ZOOKEEPER_STAGES): the zoo.cfg each stage renders, and the stage a live zoo.cfg is read back
as (every stage round-trips; a hand-edited mix is refused by name)."""

from __future__ import annotations

import pytest

from kafkaform import templating
from kafkaform.cluster import Cluster
from kafkaform.ensemble_change import static_member
from kafkaform.ensemble_config import member_line, static_properties
from kafkaform.zookeeper_security import (
    ZOOKEEPER_STAGES,
    live_server_stage,
    plain_client_port_open,
    server_has_security,
    server_jvm_options,
    server_properties,
    server_stage,
)
from tests.unit.test_zookeeper_security import cluster

# Every stage's keys beside the shared TLS/SASL ones (the stores, secureClientPort, Netty,
# authProvider.sasl, ssl.clientAuth): the contract's table, spelled out.
SWITCHES = {
    "secure_port_added": {
        "sslQuorum": "false",
        "portUnification": "true",
        "quorum.auth.enableSasl": "true",
        "quorum.auth.learnerRequireSasl": "false",
        "quorum.auth.serverRequireSasl": "false",
    },
    "quorum_secured": {
        "sslQuorum": "true",
        "portUnification": "true",
        "quorum.auth.enableSasl": "true",
        "quorum.auth.learnerRequireSasl": "true",
        "quorum.auth.serverRequireSasl": "false",
    },
}
SHARED = {
    "secureClientPort": "2182",
    "serverCnxnFactory": "org.apache.zookeeper.server.NettyServerCnxnFactory",
    "ssl.clientAuth": "none",
    "ssl.keyStore.location": "/etc/zookeeper/tls/host.pem",
    "ssl.keyStore.type": "PEM",
    "ssl.trustStore.location": "/etc/zookeeper/tls/ca.crt",
    "ssl.trustStore.type": "PEM",
    "ssl.quorum.keyStore.location": "/etc/zookeeper/tls/host.pem",
    "ssl.quorum.keyStore.type": "PEM",
    "ssl.quorum.trustStore.location": "/etc/zookeeper/tls/ca.crt",
    "ssl.quorum.trustStore.type": "PEM",
    "authProvider.sasl": "org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
}


def staged(stage: str, security: str = "sasl_ssl", tmp_path=None) -> Cluster:
    extra = {"pki_dir": str(tmp_path / "pki")} if tmp_path else {}
    return cluster(security=security, zookeeper_security_stage=stage, **extra)


def live_config(c: Cluster) -> dict[str, str]:
    """What facts.live reads back from the zoo.cfg the deploy renders (key=value lines)."""
    text = templating.render(
        "zookeeper/zoo.cfg.j2", zkid=1, properties=static_properties(c, c.nodes[0])
    )
    lines = [line for line in text.splitlines() if "=" in line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_without_a_rollout_each_level_is_at_its_final_stage():
    assert server_stage(cluster().nodes[0].settings) == "plaintext"
    assert server_stage(cluster(security="sasl_ssl").nodes[0].settings) == "sasl_ssl"
    # An empty stage (None) is "no rollout", as an absent key.
    settings = cluster(security="sasl_ssl", zookeeper_security_stage=None).nodes[0].settings
    assert server_stage(settings) == "sasl_ssl"


def test_an_unknown_stage_is_refused_by_name():
    with pytest.raises(ValueError, match="'half_secured' is not one of"):
        server_stage({"zookeeper_security_stage": "half_secured"})


def test_the_rollout_s_stage_wins_over_the_level_both_ways():
    # Forward from plaintext (the inventory already says sasl_ssl) and back (it says plaintext).
    for security in ("plaintext", "sasl_ssl"):
        for stage in ZOOKEEPER_STAGES:
            assert server_stage(staged(stage, security).nodes[0].settings) == stage


@pytest.mark.parametrize("stage", ["secure_port_added", "quorum_secured"])
def test_the_middle_stages_keep_the_plain_port_and_add_tls_and_quorum_sasl(stage):
    c = staged(stage)
    node = c.nodes[0]
    assert server_properties(node.settings) == {**SHARED, **SWITCHES[stage]}
    props = static_properties(c, node)
    assert props["clientPort"] == "2181"  # the brokers still connect there
    assert "enforce.auth.enabled" not in props
    assert member_line(node) == "10.0.0.11:2888:3888:participant;2181"  # every address
    assert static_member(c, {1: "kafka-1"}, 1, "10.0.0.11:2888:3888") == member_line(node)
    assert plain_client_port_open(node.settings) and server_has_security(node.settings)
    assert server_jvm_options(node.settings) == [
        "-Djava.security.auth.login.config=/etc/zookeeper/jaas.conf"
    ]


def test_the_end_stages_render_exactly_what_a_level_renders_without_a_rollout():
    for stage, security in (("plaintext", "plaintext"), ("sasl_ssl", "sasl_ssl")):
        # The other level's inventory, at the stage: the same files as the level's own.
        other = "sasl_ssl" if security == "plaintext" else "plaintext"
        c, own = staged(stage, other), cluster(security=security)
        assert static_properties(c, c.nodes[0]) == static_properties(own, own.nodes[0])
        assert member_line(c.nodes[0]) == member_line(own.nodes[0])
        assert server_jvm_options(c.nodes[0].settings) == server_jvm_options(own.nodes[0].settings)
    assert server_properties(staged("plaintext").nodes[0].settings) == {}
    final = server_properties(staged("sasl_ssl", "plaintext").nodes[0].settings)
    assert "portUnification" not in final
    assert final["quorum.auth.serverRequireSasl"] == final["enforce.auth.enabled"] == "true"


@pytest.mark.parametrize("stage", ZOOKEEPER_STAGES)
def test_every_stage_is_read_back_from_its_rendered_zoo_cfg(stage):
    assert live_server_stage(live_config(staged(stage))) == stage


def test_no_live_config_has_no_stage():
    assert live_server_stage(None) is None


def test_values_are_read_as_zookeeper_reads_them():
    config = live_config(staged("quorum_secured"))
    config["sslQuorum"] = "True "
    assert live_server_stage(config) == "quorum_secured"
    # An absent switch is ZooKeeper's default, false: as written explicitly.
    config = live_config(staged("secure_port_added"))
    del config["sslQuorum"], config["quorum.auth.serverRequireSasl"]
    assert live_server_stage(config) == "secure_port_added"


@pytest.mark.parametrize(
    "stage, edit, named",
    [
        # sasl_ssl's enforcement with the quorum still taking plain connections.
        ("sasl_ssl", {"portUnification": "true"}, "portUnification=true"),
        # A server that asks SASL of learners that may send none.
        ("secure_port_added", {"quorum.auth.serverRequireSasl": "true"}, "serverRequireSasl"),
        # The middle stage without its TLS port.
        ("quorum_secured", {"secureClientPort": None}, "secureClientPort absent"),
        # TLS between servers on an otherwise plaintext config.
        ("plaintext", {"sslQuorum": "true"}, "sslQuorum=true"),
    ],
)
def test_a_hand_edited_mix_is_refused_naming_what_it_has(stage, edit, named):
    config = live_config(staged(stage))
    for key, value in edit.items():
        if value is None:
            del config[key]
        else:
            config[key] = value
    with pytest.raises(ValueError, match="zoo.cfg is at none of the stages") as refused:
        live_server_stage(config)
    assert named in str(refused.value)


def test_the_plain_client_port_does_not_decide_the_stage():
    # A dynamic ensemble may name it in its member lines only (an older zoo.cfg has none);
    # the final config with it put back by hand is still that stage (the deploy rewrites it).
    config = live_config(staged("plaintext"))
    config.pop("clientPort", None)
    assert live_server_stage(config) == "plaintext"
    final = {**live_config(staged("sasl_ssl")), "clientPort": "2181"}
    assert live_server_stage(final) == "sasl_ssl"


def test_the_refusal_never_shows_other_keys_values():
    config = live_config(staged("quorum_secured"))
    config["ssl.keyStore.password"] = "s3cret-store-password"
    config["sslQuorum"] = "maybe"
    with pytest.raises(ValueError) as refused:
        live_server_stage(config)
    assert "s3cret" not in str(refused.value)
    assert "sslQuorum=maybe" in str(refused.value)
