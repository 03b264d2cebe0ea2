"""Validation, second round: one or more tests per category of mistake (kafkaform.validation)."""

from __future__ import annotations

import textwrap

import pytest

from kafkaform.cli import main
from kafkaform.cluster import DERIVED_KAFKA_PROPERTIES, DERIVED_ZOOKEEPER_PROPERTIES, Cluster
from kafkaform.settings import DEFAULTS
from kafkaform.validate import check, findings


def three(**extra):
    return [
        (
            f"k{i}",
            {"ssh_hostname": f"10.0.0.{i}", "zookeeper": True, "zkid": i, "kafkaid": i, **extra},
        )
        for i in (1, 2, 3)
    ]


def messages(hosts, **kw) -> list[str]:
    return [str(p) for p in check(hosts, **kw)]


def about(field: str, hosts, **kw) -> list[str]:
    """The messages for one field, without the 'where: field: ' prefix."""
    return [p.message for p in check(hosts, **kw) if p.field == field]


# --- paths -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("kafka_data_dirs", ["/"], "/ is a system directory"),
        ("kafka_data_dirs", ["/var"], "/var is a system directory"),
        ("kafka_data_dirs", ["data"], "'data' is not an absolute path"),
        ("download_dir", "/tmp", "/tmp is a system directory"),
        ("download_dir", "/tmp/kafka", "/tmp/kafka is under /tmp"),
        ("zookeeper_data_dir", "/etc", "/etc is a system directory"),
        ("kafka_log_dir", "/var/log/kafka; rm -rf /", "characters unsafe in a shell"),
        ("log_sink_dir", "/var/log/$HOME", "'$'"),
        ("jmx_exporter_dir", "/opt/jmx\nx", "newline"),
        ("kafka_install_root", "/opt/../etc", "'..' component"),
    ],
)
def test_unsafe_paths(key, value, expected):
    field = f"{key}[0]" if key == "kafka_data_dirs" else key
    found = about(field, three(**{key: value}))
    assert len(found) == 1 and expected in found[0], found


def test_a_path_inside_a_system_tree_of_its_own_is_fine():
    assert messages(three(kafka_data_dirs=["/var/lib/kafka/a", "/data/kafka"])) == []


def test_every_path_setting_is_checked():
    from kafkaform.settings import PATH_SETTINGS

    # Every default that is a path (or list of paths) is in the validator's table.
    path_like = {
        k
        for k, v in DEFAULTS.items()
        if isinstance(v, str) and v.startswith("/") and k != "zookeeper_chroot"
    } | {"kafka_data_dirs"}
    assert path_like == set(PATH_SETTINGS)
    for key in PATH_SETTINGS:
        value = ["/"] if key == "kafka_data_dirs" else "/"
        assert any(
            "system directory" in m for p in check(three(**{key: value})) for m in [p.message]
        ), key


def test_directories_of_two_services_must_not_overlap():
    found = messages(
        three(
            kafka_data_dirs=["/srv/data", "/srv/data/more"],
            zookeeper_data_dir="/var/lib/kafka/data/zk",
            download_dir="/opt/kafka",
        )
    )
    assert (
        "k1, k2, k3: kafka_data_dirs[0], kafka_data_dirs[1]: /srv/data/more is inside "
        "/srv/data: each service directory must be its own" in found
    )
    assert any("kafka_install_root, download_dir: both are /opt/kafka" in m for m in found), found
    # The defaults and ZooKeeper's log in its own data directory are fine.
    assert messages(three(zookeeper_datalog_dir="/var/lib/zookeeper/data")) == []


def test_kafka_log_dir_inside_a_data_dir_is_refused():
    found = messages(three(kafka_log_dir="/var/lib/kafka/data/logs"))
    assert found == [
        "k1, k2, k3: kafka_data_dirs[0], kafka_log_dir: /var/lib/kafka/data/logs is inside "
        "/var/lib/kafka/data: each service directory must be its own"
    ]


# --- users -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "user", ["root", "daemon", "nobody", "bin", "systemd-network", "prometheus"]
)
def test_system_accounts_are_refused(user):
    assert about("kafka_user", three(kafka_user=user)) == [
        f"{user} is a system account: a service needs an account of its own"
    ]


@pytest.mark.parametrize("user", ["Kafka", "9kafka", "kafka user", "k$(id)", "a" * 33, ""])
def test_invalid_user_names_are_refused(user):
    (message,) = about("zookeeper_user", three(zookeeper_user=user))
    assert "is not a portable user name" in message


def test_two_services_sharing_an_account_is_reported():
    assert messages(three(zookeeper_user="kafka")) == [
        "k1, k2, k3: kafka_user, zookeeper_user: both are 'kafka': "
        "give each service its own account"
    ]


# --- properties --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "field", "expected"),
    [
        ({7: "x"}, "kafka_properties", "property names are strings, got int 7"),
        ({"log retention": 1}, "kafka_properties['log retention']", "not a property name"),
        ({"a=b": 1}, "kafka_properties['a=b']", "not a property name"),
        ({"a:b": 1}, "kafka_properties['a:b']", "not a property name"),
        ({"a\tb": 1}, "kafka_properties['a\\tb']", "not a property name"),
        ({"num.partitions": None}, "kafka_properties['num.partitions']", "None is not a value"),
        ({"num.partitions": {"a": 1}}, "kafka_properties['num.partitions']", "a dict is not"),
        ({"x.y": [1, None]}, "kafka_properties['x.y']", "list item must be"),
        ({"x.y": "1\nbroker.id=9"}, "kafka_properties['x.y']", "smuggle in another property"),
        ({"x.y": "1\r"}, "kafka_properties['x.y']", "control character"),
        ({"x.y": "a\\"}, "kafka_properties['x.y']", "joins the next line"),
    ],
)
def test_property_keys_and_values(props, field, expected):
    found = about(field, three(kafka_properties=props))
    assert len(found) == 1 and expected in found[0], found


def test_good_property_values_pass():
    props = {
        "log.retention.hours": 72,
        "ssl.endpoint.identification.algorithm": "",
        "sasl.enabled.mechanisms": ["PLAIN", "SCRAM-SHA-512"],
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": 'x required username="a";',
        "log.cleaner.min.cleanable.ratio": 0.5,
    }
    assert messages(three(kafka_properties=props, zookeeper_properties={"maxClientCnxns": 5})) == []


# --- derived keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "key", "owner"),
    [
        ("kafka_properties", "broker.id", "kafkaid"),
        ("kafka_properties", "listeners", "kafka_port"),
        ("kafka_properties", "advertised.listeners", "kafka_advertised_host / kafka_port"),
        ("kafka_properties", "log.dirs", "kafka_data_dirs"),
        ("kafka_properties", "zookeeper.connect", "the zookeeper hosts / zookeeper_chroot"),
        ("zookeeper_properties", "dataDir", "zookeeper_data_dir"),
        ("zookeeper_properties", "dataLogDir", "zookeeper_datalog_dir"),
        ("zookeeper_properties", "clientPort", "zookeeper_client_port"),
        ("zookeeper_properties", "server.12", "the ensemble"),
    ],
)
def test_derived_keys_name_the_setting_that_owns_them(setting, key, owner):
    (message,) = about(f"{setting}[{key!r}]", three(**{setting: {key: "x"}}))
    assert message.startswith(f"derived by kafkaform: set {owner}")


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("reconfigEnabled", "membership changes use reconfig"),
        ("standaloneEnabled", "a single server can then grow by reconfig"),
        ("dynamicConfigFile", "ZooKeeper's own"),
        ("DigestAuthenticationProvider.superDigest", "transient bootstrap"),
        ("skipACL", "switch off every ACL"),
    ],
)
def test_the_reconfig_and_admin_keys_of_zookeeper_cannot_be_set(key, why):
    (message,) = about(f"zookeeper_properties[{key!r}]", three(zookeeper_properties={key: "x"}))
    assert message.startswith("cannot be set: ") and why in message


@pytest.mark.parametrize("key", ["enforce.auth.enabled", "ssl.clientAuth", "sslQuorum"])
def test_a_secured_ensemble_s_security_keys_cannot_be_set(key):
    secured = three(zookeeper_properties={key: "false"}, security="sasl_ssl")
    (message,) = about(f"zookeeper_properties[{key!r}]", secured)
    assert message.startswith("cannot be set: kafkaform sets it on a secured cluster")
    assert about(f"zookeeper_properties[{key!r}]", three(zookeeper_properties={key: "x"})) == []


def test_the_derived_tables_are_what_composition_writes():
    """Validation and composition read the same tables: every key composed from a table is
    refused as an override, and an override of one never reaches the rendered file."""
    hosts = three(
        kafka_properties={k: "X" for k in DERIVED_KAFKA_PROPERTIES},
        zookeeper_properties={
            "dataDir": "X",
            "dataLogDir": "X",
            "clientPort": "X",
            "server.1": "X",
        },
    )
    cluster = Cluster.from_hosts(hosts)
    node = cluster.node("k1")
    composed = cluster.derived(DERIVED_KAFKA_PROPERTIES, node)
    assert set(composed) == set(DERIVED_KAFKA_PROPERTIES)
    assert "X" not in cluster.broker_properties(node).values()
    assert "X" not in cluster.zookeeper_properties(node).values()
    zk = set(cluster.derived(DERIVED_ZOOKEEPER_PROPERTIES, node))
    assert zk == {"dataDir", "dataLogDir", "clientPort", "server.1", "server.2", "server.3"}
    refused = {p.field for p in check(hosts)}
    assert {f"kafka_properties[{k!r}]" for k in DERIVED_KAFKA_PROPERTIES} <= refused
    assert {
        f"zookeeper_properties[{k!r}]" for k in ("dataDir", "dataLogDir", "clientPort", "server.1")
    } <= refused


# --- versions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("4.0.0", "has no ZooKeeper mode (removed in 4.0)"),
        ("three.nine", "is not a full version like '3.9.2'"),
        ("3.9", "is not a full version like '3.9.2'"),
        ("2.8.2", "kafkaform deploys 3.x"),
    ],
)
def test_kafka_versions(version, expected):
    (message,) = about("kafka_version", three(kafka_version=version))
    assert expected in message
    if version.startswith("4"):
        assert "KRaft" in message


def test_other_versions():
    found = messages(
        three(scala_version="2.11", jmx_exporter_version="1.0", node_exporter_version="v1.8.2")
    )
    assert "k1, k2, k3: scala_version: '2.11': Kafka 3.x is built for Scala 2.12 and 2.13" in found
    assert "k1, k2, k3: jmx_exporter_version: '1.0' is not a version like '1.8.2'" in found
    assert "k1, k2, k3: node_exporter_version: 'v1.8.2' is not a version like '1.8.2'" in found
    assert messages(three(kafka_version="3.8.1", scala_version="2.12")) == []


# --- ids Kafka refuses -------------------------------------------------------------------------


def test_kafkaid_above_reserved_broker_max_id():
    hosts = [
        ("k1", {"zookeeper": True, "zkid": 1, "kafkaid": 1001}),
    ]
    assert about("kafkaid", hosts) == [
        "1001 is above reserved.broker.max.id (1000): Kafka refuses it; use a lower kafkaid or "
        "raise reserved.broker.max.id in kafka_properties"
    ]
    raised = [("k1", {**hosts[0][1], "kafka_properties": {"reserved.broker.max.id": 5000}})]
    assert messages(raised) == []
    off = [("k1", {**hosts[0][1], "kafka_properties": {"broker.id.generation.enable": False}})]
    assert messages(off) == []
    low = [("k1", {**hosts[0][1], "kafka_properties": {"reserved.broker.max.id": "100"}})]
    assert "above reserved.broker.max.id (100)" in about("kafkaid", low)[0]


# --- ports -------------------------------------------------------------------------------------


@pytest.mark.parametrize("port", [[9092], None, "9092", True, 9092.0, {"port": 9092}])
def test_a_port_of_any_wrong_type_is_reported_not_traced(port):
    (message,) = about("kafka_port", three(kafka_port=port))
    assert message.startswith("expected int, got")


def test_privileged_and_out_of_range_ports():
    found = messages(three(kafka_port=80, node_exporter_port=70000))
    assert any("kafka_port: 80 is a privileged port" in m for m in found), found
    assert "k1, k2, k3: node_exporter_port: 70000 is not a TCP port" in found


def test_port_collisions_between_every_service_of_a_host():
    hosts = [
        (
            "k1",
            {
                "zookeeper": True,
                "zkid": 1,
                "kafkaid": 1,
                "monitoring": True,
                "zookeeper_jmx_exporter_port": 9090,
                "log_sink_port": 2181,
            },
        ),
    ]
    found = messages(hosts)
    assert "k1: zookeeper_jmx_exporter_port, prometheus_port: all use port 9090" in found
    assert "k1: zookeeper_client_port, log_sink_port: all use port 2181" in found
    # The same settings on hosts that run only one role collide with nothing.
    split = [
        ("k1", {"zookeeper": True, "zkid": 1, "kafkaid": 1, "zookeeper_jmx_exporter_port": 9090}),
        ("m", {"monitoring": True, "log_sink_port": 2181}),
    ]
    assert messages(split) == []


def test_ports_opened_through_properties_and_jvm_options_collide_too():
    hosts = three(
        zookeeper_properties={"admin.enableServer": True},
        kafka_jmx_exporter_port=8080,
        kafka_jvm_opts=["-Dcom.sun.management.jmxremote.port=9092"],
    )
    found = messages(hosts)
    assert any(
        "kafka_jmx_exporter_port, zookeeper_properties['admin.serverPort']: all use port 8080" in m
        for m in found
    ), found
    assert any("all use port 9092" in m and "jmxremote.port" in m for m in found), found


# --- addresses ---------------------------------------------------------------------------------


def test_two_hosts_on_one_address():
    hosts = three()
    hosts[1][1]["ssh_hostname"] = "10.0.0.1"
    found = messages(hosts)
    assert "k1, k2: ssh_hostname: 10.0.0.1 is used by 2 hosts" in found
    assert "k1, k2: kafka_advertised_host: 10.0.0.1 is the advertised address of 2 hosts" in found


def test_one_ssh_address_on_several_ports_is_several_machines():
    # Vagrant's NAT: every VM at 127.0.0.1, each on its own port, advertising its private IP.
    hosts = [
        (
            f"k{i}",
            {
                "ssh_hostname": "127.0.0.1",
                "ssh_port": 2200 + i,
                "kafka_advertised_host": f"192.168.56.{i}",
                "zookeeper": True,
                "zkid": i,
                "kafkaid": i,
            },
        )
        for i in (1, 2, 3)
    ]
    assert messages(hosts) == []


@pytest.mark.parametrize(
    ("data", "field", "expected"),
    [
        ({"ssh_hostname": "kafka_1.example.com"}, "ssh_hostname", "not a valid host name"),
        ({"ssh_hostname": "-bad.example"}, "ssh_hostname", "not a valid host name"),
        ({"ssh_hostname": "10.0.0.1; rm -rf /"}, "ssh_hostname", "not a valid host name"),
        ({"kafka_advertised_host": "a b"}, "kafka_advertised_host", "not a valid host name"),
        (
            {"kafka_advertised_host": "fd00::1"},
            "kafka_advertised_host",
            "IPv6 address cannot be advertised",
        ),
    ],
)
def test_invalid_host_names_and_addresses(data, field, expected):
    hosts = [
        ("k1", {"ssh_hostname": "10.0.0.1", "zookeeper": True, "zkid": 1, "kafkaid": 1, **data})
    ]
    found = about(field, hosts)
    assert len(found) == 1 and expected in found[0], found


def test_valid_names_and_addresses_pass():
    for address in ("kafka-1.example.com", "10.0.0.1", "KAFKA1"):
        assert (
            messages(
                [("k1", {"ssh_hostname": address, "zookeeper": True, "zkid": 1, "kafkaid": 1})]
            )
            == []
        )
    assert (
        messages(
            [
                (
                    "k1",
                    {
                        "ssh_hostname": "fd00::1",
                        "kafka_advertised_host": "k1.example",
                        "zookeeper": True,
                        "zkid": 1,
                        "kafkaid": 1,
                    },
                )
            ]
        )
        == []
    )


# --- cluster-wide values -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "a", "b"),
    [
        ("zookeeper_chroot", "/kafka", "/kafka2"),
        ("kafka_version", "3.9.2", "3.9.1"),
        ("scala_version", "2.13", "2.12"),
        ("cluster_name", "kafka", "other"),
        ("zookeeper_peer_port", 2888, 2889),
        ("zookeeper_election_port", 3888, 3889),
    ],
)
def test_cluster_wide_values_set_differently_per_host(key, a, b):
    hosts = three()
    hosts[0][1][key] = a
    hosts[2][1][key] = b
    found = about(key, hosts)
    assert len(found) == 1 and found[0].startswith("must be the same on every"), found
    assert repr(b) in found[0]


def test_per_host_ports_that_may_differ():
    hosts = three()
    hosts[0][1]["kafka_port"] = 9093
    hosts[0][1]["zookeeper_client_port"] = 2182
    assert messages(hosts) == []


# --- settings that cannot take effect (warnings) -----------------------------------------------


def test_alerting_without_a_monitoring_host_is_a_warning():
    hosts = three(alertmanager_receivers=[{"name": "pager"}], alert_for={"broker_down": "5m"})
    assert messages(hosts) == []  # not an error: a shared group_data/all.py must stay usable
    warnings = [str(p) for p in findings(hosts) if p.warning]
    unused = "no host has monitoring: True, so nothing uses this setting"
    assert warnings == [
        f"k1, k2, k3: alertmanager_receivers: {unused}",
        f"k1, k2, k3: alert_for: {unused}",
    ]
    monitored = [*hosts, ("m", {"ssh_hostname": "10.0.0.9", "monitoring": True})]
    assert [p for p in findings(monitored) if p.warning] == []


ONE_HOST_INVENTORY = (
    'brokers = [("h1", {"ssh_hostname": "192.0.2.1", "zookeeper": True, "zkid": 1, '
    '"kafkaid": 1})]\n'
)


@pytest.fixture
def inventory_dir(tmp_path, monkeypatch):
    (tmp_path / "group_data").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_group_data_for_a_group_that_does_not_exist(inventory_dir, capsys):
    (inventory_dir / "cluster.py").write_text(ONE_HOST_INVENTORY)
    (inventory_dir / "group_data" / "brokers.py").write_text('kafka_heap = "1g"\n')
    (inventory_dir / "group_data" / "borkers.py").write_text('kafka_heap = "2g"\n')
    assert main(["validate", str(inventory_dir / "cluster.py")]) == 0
    out = capsys.readouterr().out
    assert "group_data/borkers.py: group: no host of this inventory is in group 'borkers'" in out
    assert "brokers.py: group" not in out


def test_cli_fails_on_errors_and_shows_warnings_too(inventory_dir, capsys):
    (inventory_dir / "cluster.py").write_text(
        textwrap.dedent(
            """
        brokers = [("h1", {"ssh_hostname": "192.0.2.1", "zookeeper": True, "zkid": 1,
                           "kafkaid": 1, "kafka_user": "root"})]
        """
        )
    )
    (inventory_dir / "group_data" / "all.py").write_text("alert_for = {'broker_down': '2m'}\n")
    assert main(["validate", str(inventory_dir / "cluster.py")]) == 1
    out = capsys.readouterr().out
    assert "h1: kafka_user: root is a system account" in out
    assert "group_data/all.py: alert_for: no host has monitoring: True" in out


# --- pyinfra connector keys --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("ssh_hostnme", "ssh_hostname"),
        ("ssh_usr", "ssh_user"),
        ("ssh_key_pasword", "ssh_key_password"),
        ("_sduo", "_sudo"),
        ("docker_identifer", "docker_identifier"),
    ],
)
def test_connector_key_typos(key, suggestion):
    assert messages(three(**{key: "x"})) == [
        f"k1, k2, k3: {key}: pyinfra does not know this key (did you mean '{suggestion}'?)"
    ]


def test_every_key_the_lab_and_vagrant_use_is_known():
    keys = {
        "ssh_user": "root",
        "ssh_key": "/k",
        "ssh_known_hosts_file": "/dev/null",
        "ssh_strict_host_key_checking": "off",
        "ssh_port": 2222,
        "_sudo": True,
    }
    assert messages(three(**keys)) == []


# --- heaps and checksums -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("kafka_heap", "128m", "too small: at least 256m"),
        ("kafka_heap", "32g", "implausibly large: at most 31g (compressed oops"),
        ("zookeeper_heap", "64m", "too small: at least 128m"),
        ("zookeeper_heap", "32g", "implausibly large: at most 16g"),
        ("kafka_heap", 4, "expected a string, got 4"),
        ("kafka_heap", "4 g", "is not a size"),
    ],
)
def test_implausible_heaps(key, value, expected):
    (message,) = about(key, three(**{key: value}))
    assert expected in message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("kafka_sha512", "0" * 64, "128 hex digits, got 64 characters"),
        ("kafka_sha512", "g" * 128, "(not all hex)"),
        ("node_exporter_sha256", "0" * 128, "64 hex digits, got 128"),
        ("jmx_exporter_sha256", "abc", "64 hex digits, got 3"),
    ],
)
def test_checksums_of_the_wrong_length(key, value, expected):
    (message,) = about(key, three(**{key: value}))
    assert expected in message


# --- values that reach a shell -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("sysctl", {"vm.swappiness": "1\nkernel.panic = 0"}, "sysctl['vm.swappiness']"),
        ("sysctl", {"vm swappiness": 1}, "sysctl"),
        ("node_exporter_flags", ["--collector.x='a'"], "node_exporter_flags[0]"),
        ("node_exporter_flags", ["--web.config.file=${HOME}/x"], "node_exporter_flags[0]"),
        ("kafka_jvm_opts", ["-Dx=a b"], "kafka_jvm_opts[0]"),
        ("zookeeper_jvm_opts", ["-Dx=%p"], "zookeeper_jvm_opts[0]"),
        ("kafka_jvm_opts", ["$(reboot)"], "kafka_jvm_opts[0]"),
        ("kafka_mirror", "https://mirror/x'; reboot; '", "kafka_mirror"),
        ("maven_mirror", "file:///srv/maven", "maven_mirror"),
        ("kafka_url", "https://x/a b.tgz", "kafka_url"),
        ("node_exporter_url", "https://x/\nreboot", "node_exporter_url"),
        ("cluster_name", "prod`reboot`", "cluster_name"),
        ("java_package", "openjdk-17 && reboot", "java_package"),
        ("zookeeper_chroot", "/kafka\nx", "zookeeper_chroot"),
        ("prometheus_retention_size", "20GB --web.enable-admin-api", "prometheus_retention_size"),
        ("log_queue_max_disk", '2g" x="', "log_queue_max_disk"),
    ],
)
def test_values_that_reach_a_shell_are_restricted(key, value, field):
    found = about(field, three(**{key: value}))
    assert len(found) == 1, found


def test_the_lab_node_exporter_flag_is_accepted():
    flag = "--collector.filesystem.fs-types-exclude=^(autofs|proc|sysfs|tmpfs|devpts|cgroup2?)$"
    assert (
        messages(
            three(node_exporter_flags=[flag], sysctl={"net.ipv4.tcp_rmem": "4096 87380 16777216"})
        )
        == []
    )


# --- secrets -----------------------------------------------------------------------------------

SECRET = "hunter2-s3cr3t"


def test_secret_values_are_never_echoed(inventory_dir, capsys):
    """Feed the secret through every check that shows a value; it never appears."""
    hosts = three(
        kafka_properties={
            "ssl.key.password": SECRET + "\n",
            "ssl.keystore.password": {"x": SECRET},
            "sasl.jaas.config": [SECRET, None],
            "ssl.truststore.password": SECRET + "\\",
            "listener.name.x.sasl.jaas.config": None,
            "min.insync.replicas": {"password": SECRET},
            "reserved.broker.max.id": {"token": SECRET},
        },
        zookeeper_properties={"ssl.quorum.keyStore.password": SECRET + "\x00"},
        alertmanager_receivers={"name": "x", "webhook_configs": [{"url": f"https://h/{SECRET}"}]},
        alertmanager_route=[{"api_key": SECRET}],
        alert_thresholds={"disk_free_ratio": {"secret": SECRET}},
        kafka_jvm_opts=[f"-Djavax.net.ssl.keyStorePassword={SECRET} x"],
        node_exporter_flags=[f"--web.password={SECRET} x"],
        kafka_mirror=f"https://user:{SECRET}@mirror/x y",
        maven_mirror=f"ftp://user:{SECRET}@mirror/",
        kafka_url=f"https://user:{SECRET}@mirror/\n",
        kafka_version={"password": SECRET},
        cluster_name={"secret": SECRET},
        sysctl={"vm.x": {"password": SECRET}},
        kafka_data_dirs=[{"token": SECRET}],
        kafka_port={"password": SECRET},
        ssh_password=[SECRET],
        ssh_key_pasword=SECRET,
    )
    hosts[0][1]["zookeeper_chroot"] = {"credential": SECRET}
    found = findings(hosts)
    text = "\n".join(str(p) for p in found)
    assert len(found) > 15, text  # the checks did run and report
    assert "<hidden>" in text
    assert SECRET not in text
    # Through the CLI too (group data, warnings, errors).
    (inventory_dir / "cluster.py").write_text(ONE_HOST_INVENTORY)
    (inventory_dir / "group_data" / "all.py").write_text(
        f"alertmanager_receivers = {{'name': '{SECRET}'}}\n"
        f"kafka_properties = {{'sasl.jaas.config': '{SECRET}\\n'}}\n"
    )
    assert main(["validate", str(inventory_dir / "cluster.py")]) == 1
    assert SECRET not in capsys.readouterr().out


# --- robustness --------------------------------------------------------------------------------

ODD_VALUES = [
    None,
    [],
    {},
    [None],
    {"a": None},
    0,
    -1,
    1.5,
    True,
    "",
    "x\ny",
    object(),
    (1, 2),
    {1, 2},
    b"x",
]


@pytest.mark.parametrize("value", ODD_VALUES, ids=repr)
def test_any_value_of_any_setting_is_reported_never_traced(value):
    """Every setting and role key given an odd value: problems come back, no check breaks."""
    for key in [
        *DEFAULTS,
        "zookeeper",
        "zkid",
        "kafkaid",
        "monitoring",
        "base_box",
        "ssh_hostname",
        "ssh_port",
    ]:
        for roles in (True, False):
            found = findings(three(**{key: value}), roles_too=roles)
            broken = [str(p) for p in found if "could not be checked" in p.message]
            assert broken == [], (key, value, broken)


def test_odd_values_inside_dict_settings():
    for key in (
        "kafka_properties",
        "zookeeper_properties",
        "sysctl",
        "alert_for",
        "alert_thresholds",
    ):
        for value in ODD_VALUES:
            found = findings(three(**{key: {"a.b": value, None: 1, 3: value}}))
            assert not [p for p in found if "could not be checked" in p.message], (key, value)
