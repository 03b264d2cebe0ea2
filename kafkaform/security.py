"""A cluster's security level, as its brokers see it: the listeners, the broker properties
the level composes, the built-in SCRAM users and the files that hold their secrets.

Levels (the ``security`` setting): "plaintext" (one PLAINTEXT listener on kafka_port, no
authentication: development) and "sasl_ssl" (TLS everywhere, SASL/SCRAM-SHA-512, the ACL
authorizer on). A level is reached through stages: what one broker's config says at one step
of a live rollout (kafkaform.rollout walks them, one safe roll per run); a deploy that is no
rollout renders its level's final stage.

No secret is ever a property here: the broker's SCRAM password is in its JAAS file
(``jaas_config``), and the TLS key is read by Kafka itself from the host's key file through
the directory config provider (``${dir:<tls dir>:host.key}``); server.properties names files.
Kafka 3.9 takes an unencrypted PKCS#8 key inline only (``ssl.keystore.key``): as a PEM
keystore *file* it insists on a key password, which would be one more secret to keep.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kafkaform.derived import Derived
from kafkaform.secrets import generated
from kafkaform.settings import KAFKA_STAGE_KEY, PLAINTEXT, SASL_SSL
from kafkaform.zookeeper_security import zookeeper_client_properties

SCRAM_MECHANISM = "SCRAM-SHA-512"
SCRAM_LOGIN_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
AUTHORIZER = "kafka.security.authorizer.AclAuthorizer"
DIRECTORY_PROVIDER = "org.apache.kafka.common.config.provider.DirectoryConfigProvider"

# The built-in SCRAM users (passwords: generated, kept in the cluster's pki_dir).
BROKER_USER = "kafka-broker"  # between brokers (inter-broker listener)
ADMIN_USER = "kafkaform-admin"  # host tools, topics step, safe restarts, status, rebalance
MONITOR_USER = "kafkaform-monitor"  # the lag exporter (Describe ACLs, from the access part)
BUILTIN_USERS = (BROKER_USER, ADMIN_USER, MONITOR_USER)
BUILTIN_SUPER_USERS = (BROKER_USER, ADMIN_USER)

# Files of a broker host's config dir (kafka_config_dir).
TLS_DIR = "tls"  # host.key, host.crt, ca.crt (kafkaform.pki's, written by tls_files)
KEY_FILE, CERT_FILE, CA_FILE = "host.key", "host.crt", "ca.crt"
JAAS_FILE = "kafka_server_jaas.conf"
TOOLS_CONFIG_FILE = "client.properties"  # the host tools' client configuration
# Group of the operators who may run Kafka's tools as kafkaform-admin on a secured cluster:
# it reads the tools' client configuration, which holds that user's password.
ADMIN_GROUP = "kafka-admins"


@dataclass(frozen=True)
class Listener:
    name: str
    protocol: str  # PLAINTEXT or SASL_SSL
    port_setting: str  # the setting that holds its port

    def port(self, settings: Mapping[str, Any]) -> int:
        return int(settings[self.port_setting])


PLAINTEXT_LISTENER = Listener("PLAINTEXT", "PLAINTEXT", "kafka_port")
INTERNAL = Listener("INTERNAL", "SASL_SSL", "kafka_internal_port")  # between brokers
CLIENT = Listener("CLIENT", "SASL_SSL", "kafka_tls_port")  # clients


@dataclass(frozen=True)
class Stage:
    """What a broker's config says at one step towards (or back from) a level."""

    name: str
    listeners: tuple[Listener, ...]
    inter_broker: Listener
    # Where kafkaform's own clients connect: a listener every broker has both at this stage
    # and at the stages next to it, so that they work while a roll is between the two.
    client: Listener
    authorizer: bool  # ACLs enforced (SASL principals); PLAINTEXT clients are super users
    zookeeper_acls: bool  # zookeeper.set.acl: new znodes belong to sasl:kafka

    @property
    def secured(self) -> bool:
        """Whether any listener is SASL_SSL (so TLS files, SASL and the JAAS file are needed)."""
        return any(listener.protocol == "SASL_SSL" for listener in self.listeners)

    @property
    def default_listeners(self) -> bool:
        """A single PLAINTEXT listener: Kafka's defaults need no protocol map."""
        return self.listeners == (PLAINTEXT_LISTENER,)

    @property
    def anonymous_super_user(self) -> bool:
        """While a PLAINTEXT listener stays beside the authorizer, its clients (and the
        brokers themselves, before they talk over INTERNAL) are User:ANONYMOUS: a super user,
        so that nothing they did before the authorizer came is refused."""
        return self.authorizer and PLAINTEXT_LISTENER in self.listeners


PLAIN = PLAINTEXT_LISTENER
BOTH = (PLAIN, INTERNAL, CLIENT)
STAGE_ORDER = (PLAINTEXT, "secure_listeners_added", "inter_broker_secured", SASL_SSL)
STAGES: dict[str, Stage] = {
    PLAINTEXT: Stage(PLAINTEXT, (PLAIN,), PLAIN, PLAIN, False, False),
    # The live rollout's steps (kafkaform.rollout): secure listeners beside PLAINTEXT, the
    # authorizer on (users' ACLs can be set before any client moves); then brokers talk over
    # INTERNAL and protect their znodes, and clients may move to CLIENT (a hold, with
    # kafka_plaintext_listener); then PLAINTEXT goes (the sasl_ssl stage).
    "secure_listeners_added": Stage("secure_listeners_added", BOTH, PLAIN, PLAIN, True, False),
    "inter_broker_secured": Stage("inter_broker_secured", BOTH, INTERNAL, CLIENT, True, True),
    SASL_SSL: Stage(SASL_SSL, (INTERNAL, CLIENT), INTERNAL, CLIENT, True, True),
}


def level(settings: Mapping[str, Any]) -> str:
    return str(settings.get("security") or PLAINTEXT)


def stage_of(settings: Mapping[str, Any]) -> Stage:
    """The stage a host's config is rendered at: the one a rollout's run chose
    (settings.KAFKA_STAGE_KEY), else its level's final one. A level that is none of
    settings.SECURITY_LEVELS is the validator's to refuse (kafkaform.validation.tls): until
    it has, the config composes as plaintext's."""
    chosen = settings.get(KAFKA_STAGE_KEY)
    if chosen in STAGES:
        return STAGES[chosen]
    return STAGES.get(level(settings), STAGES[PLAINTEXT])


def live_stage(properties: Mapping[str, str] | None) -> str | None:
    """The stage a LIVE server.properties is at (None: no config); ValueError for listeners
    that are no stage's (edited by hand)."""
    if properties is None:
        return None
    # No listeners: Kafka's default, one PLAINTEXT listener.
    listeners = str(properties.get("listeners") or f"{PLAIN.name}://:9092")
    names = tuple(sorted(x.split("://")[0] for x in listeners.split(",") if x))
    inter = properties.get("inter.broker.listener.name") or PLAIN.name
    for stage in STAGES.values():
        wanted = tuple(sorted(x.name for x in stage.listeners))
        if names == wanted and inter == stage.inter_broker.name:
            return stage.name
    raise ValueError(
        f"listeners {','.join(names) or '(none)'} with inter.broker.listener.name={inter} "
        "is no stage of kafkaform's security levels"
    )


def clients_log_in(settings: Mapping[str, Any]) -> bool:
    """Whether kafkaform's own Kafka clients connect to a SASL_SSL listener (and log in)."""
    return stage_of(settings).client.protocol != PLAIN.protocol


def client_port(settings: Mapping[str, Any]) -> int:
    """Where kafkaform's own clients (and the bootstrap list) reach a broker."""
    return stage_of(settings).client.port(settings)


def scram_password(settings: Mapping[str, Any], user: str) -> str:
    """A built-in user's password: generated once on the control machine, kept in pki_dir."""
    return generated(settings, f"scram-{user}")


def tls_dir(settings: Mapping[str, Any]) -> str:
    return f"{settings['kafka_config_dir']}/{TLS_DIR}"


def jaas_path(settings: Mapping[str, Any]) -> str:
    return f"{settings['kafka_config_dir']}/{JAAS_FILE}"


def tools_config(settings: Mapping[str, Any]) -> str:
    """The client configuration of Kafka's tools on a broker host (host_tools writes it)."""
    return f"{settings['kafka_config_dir']}/{TOOLS_CONFIG_FILE}"


def tools_login(settings: Mapping[str, Any]) -> str | None:
    """The file a Kafka tool run by kafkaform on a broker host (as root) must be given to
    log in, or None when the cluster asks for no login."""
    return tools_config(settings) if clients_log_in(settings) else None


def listener_properties(settings: Mapping[str, Any], address: str, stage: Stage) -> dict[str, Any]:
    """listeners and advertised.listeners; with more than Kafka's default listener, also the
    protocol of each and the one brokers talk over."""
    listeners = stage.listeners
    props: dict[str, Any] = {
        "listeners": ",".join(f"{x.name}://0.0.0.0:{x.port(settings)}" for x in listeners),
        "advertised.listeners": ",".join(
            f"{x.name}://{address}:{x.port(settings)}" for x in listeners
        ),
    }
    if not stage.default_listeners:
        props["listener.security.protocol.map"] = ",".join(
            f"{x.name}:{x.protocol}" for x in listeners
        )
        props["inter.broker.listener.name"] = stage.inter_broker.name
    return props


def tls_properties(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The host's key, certificate and trusted CAs, read by Kafka from their files (PEM)."""
    directory = tls_dir(settings)
    return {
        "config.providers": "dir",
        "config.providers.dir.class": DIRECTORY_PROVIDER,
        "config.providers.dir.param.allowed.paths": directory,
        "ssl.keystore.type": "PEM",
        "ssl.keystore.key": f"${{dir:{directory}:{KEY_FILE}}}",
        "ssl.keystore.certificate.chain": f"${{dir:{directory}:{CERT_FILE}}}",
        "ssl.truststore.type": "PEM",
        "ssl.truststore.certificates": f"${{dir:{directory}:{CA_FILE}}}",
        # Each host's certificate names it as clients and brokers reach it: check the name.
        "ssl.endpoint.identification.algorithm": "https",
    }


ANONYMOUS = "User:ANONYMOUS"  # Kafka's principal of an unauthenticated (PLAINTEXT) client


def super_users(settings: Mapping[str, Any]) -> list[str]:
    principals = [f"User:{user}" for user in BUILTIN_SUPER_USERS]
    principals += [str(p) for p in settings.get("kafka_super_users") or []]
    if stage_of(settings).anonymous_super_user:
        principals.append(ANONYMOUS)
    return list(dict.fromkeys(principals))


def authorizer_properties(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "authorizer.class.name": AUTHORIZER,
        "super.users": ";".join(super_users(settings)),
        "allow.everyone.if.no.acl.found": False,
    }


def sasl_properties() -> dict[str, Any]:
    return {
        "sasl.enabled.mechanisms": SCRAM_MECHANISM,
        "sasl.mechanism.inter.broker.protocol": SCRAM_MECHANISM,
    }


def _listener_entry(key: str, owner: str) -> Derived:
    return Derived(
        owner,
        lambda c, n: {key: listener_properties(n.settings, n.address, stage_of(n.settings))[key]},
    )


# What a secured stage adds to a broker's properties, declared once: composition
# (kafkaform.cluster) and validation (an override of any of these is refused on a secured
# cluster; a plaintext one may still set them freely, as before) both read it.
SECURED_KAFKA_PROPERTIES: dict[str, Derived] = {
    "listener.security.protocol.map": _listener_entry(
        "listener.security.protocol.map", "security (the listeners of its level)"
    ),
    "inter.broker.listener.name": _listener_entry(
        "inter.broker.listener.name", "security (the listeners of its level)"
    ),
    "sasl.*": Derived(
        "security (SASL/SCRAM-SHA-512)",
        lambda c, n: sasl_properties(),
        family=r"sasl\.(enabled\.mechanisms|mechanism\.inter\.broker\.protocol)",
    ),
    "ssl.*": Derived(
        "security (the TLS files kafkaform writes)",
        lambda c, n: {k: v for k, v in tls_properties(n.settings).items() if k.startswith("ssl.")},
        family=r"ssl\.(keystore|truststore)\.[a-z.]+|ssl\.endpoint\.identification\.algorithm",
    ),
    "config.providers": Derived(
        "security (the TLS files kafkaform writes)",
        lambda c, n: {
            k: v for k, v in tls_properties(n.settings).items() if k.startswith("config.")
        },
        family=r"config\.providers(\..+)?",
    ),
    "authorizer": Derived(
        "security / kafka_super_users",
        lambda c, n: authorizer_properties(n.settings) if stage_of(n.settings).authorizer else {},
        family=r"authorizer\.class\.name|super\.users|allow\.everyone\.if\.no\.acl\.found",
    ),
    "zookeeper client": Derived(
        "security (kafkaform.zookeeper_security)",
        lambda c, n: {
            **{
                k: v
                for k, v in zookeeper_client_properties(c, n).items()
                if k not in ("zookeeper.connect", "zookeeper.set.acl")
            },
            "zookeeper.set.acl": str(stage_of(n.settings).zookeeper_acls).lower(),
        },
        family=r"zookeeper\.(set\.acl|clientCnxnSocket|ssl\..+)",
    ),
}


def derived_properties(settings: Mapping[str, Any]) -> Mapping[str, Derived]:
    """The table of what this host's security stage adds (nothing for plaintext)."""
    return SECURED_KAFKA_PROPERTIES if stage_of(settings).secured else {}


def jaas_string(value: str) -> str:
    """A JAAS option value in double quotes (generated passwords are URL-safe: no escaping
    is needed, but a backslash or quote must never end the value early)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def scram_login(user: str, password: str) -> str:
    """The ScramLoginModule line of one user (a client's sasl.jaas.config, a JAAS section)."""
    credentials = f"username={jaas_string(user)} password={jaas_string(password)}"
    return f"{SCRAM_LOGIN_MODULE} required {credentials};"


def jaas_config(settings: Mapping[str, Any], zookeeper_client_section: str = "") -> str:
    """The broker's JAAS file: its SCRAM login on the inter-broker listener (KafkaServer) and,
    on an ensemble that asks for one, its ZooKeeper login (the "Client" section
    kafkaform.zookeeper_security writes). Holds passwords: a secret."""
    server = (
        "KafkaServer {\n"
        f"    {scram_login(BROKER_USER, scram_password(settings, BROKER_USER))}\n"
        "};\n"
    )
    client = zookeeper_client_section.strip()
    return server + (f"\n{client}\n" if client else "")
