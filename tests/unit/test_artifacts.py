"""Offline tests for kafkaform.artifacts: checksums, mirror layout, the reproducible tarball,
the JMX agent fetch and the CLI.

mvn is never run here: the assembly test swaps in a fake resolver that drops a few jars.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.server
import os
import tarfile
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kafkaform import artifacts, settings
from kafkaform.artifacts import distribution, maven

# sha512(b"kafkaform") and what `gpg --print-md SHA512` (GnuPG 2.2.40) prints for it.
DIGEST = (
    "011187c54eec92cf9f9986f8d189d04f6f008c15f4d27dc44514f4048bbf5207"
    "19569321fa8a95b29f8648bad8b58a41ee866c0ee0f86b688bf58e4ce36659ec"
)
GPG_SHORT = (
    "kafka_2.13-3.9.2.tgz: 011187C5 4EEC92CF 9F9986F8 D189D04F 6F008C15 F4D27DC4\n"
    "                      4514F404 8BBF5207 19569321 FA8A95B2 9F8648BA D8B58A41\n"
    "                      EE866C0E E0F86B68 8BF58E4C E36659EC\n"
)
LONG_NAME = "kafka_2.13-3.9.2-assembled-from-maven-central.tgz"
GPG_LONG = (
    f"{LONG_NAME}: \n"
    "011187C5 4EEC92CF 9F9986F8 D189D04F 6F008C15 F4D27DC4 4514F404 8BBF5207 19569321\n"
    " FA8A95B2 9F8648BA D8B58A41 EE866C0E E0F86B68 8BF58E4C E36659EC\n"
)


def test_digest_fixture_is_sha512_of_kafkaform() -> None:
    assert hashlib.sha512(b"kafkaform").hexdigest() == DIGEST


# --- parse_sha512 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        GPG_SHORT,
        GPG_LONG,
        GPG_SHORT.replace("\n", "\r\n"),
        f"{DIGEST}  kafka_2.13-3.9.2.tgz\n",  # sha512sum
        f"{DIGEST} *kafka_2.13-3.9.2.tgz\n",  # sha512sum --binary
        f"{DIGEST.upper()}  kafka_2.13-3.9.2.tgz",
        f"SHA512 (kafka_2.13-3.9.2.tgz) = {DIGEST}\n",  # BSD / openssl
        f"  {DIGEST}\n",  # bare digest
    ],
    ids=["apache", "apache-long-name", "crlf", "sha512sum", "binary", "upper", "bsd", "bare"],
)
def test_parse_sha512_accepts_known_formats(text: str) -> None:
    assert artifacts.parse_sha512(text) == DIGEST


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n",
        "<html><body>404 Not Found</body></html>",
        f"kafka_2.13-3.9.2.tgz: {DIGEST[:-8].upper()}",  # truncated
        f"kafka_2.13-3.9.2.tgz: {DIGEST[:-1]}Z",  # not hex
        f"{DIGEST}0  kafka.tgz",  # too long
        hashlib.sha256(b"x").hexdigest() + "  kafka.tgz",  # wrong algorithm
        f"{DIGEST}  a.tgz\n{DIGEST}  b.tgz\n",  # several files: which one?
    ],
    ids=["empty", "blank", "html", "truncated", "non-hex", "too-long", "sha256", "two-entries"],
)
def test_parse_sha512_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="SHA-512"):
        artifacts.parse_sha512(text)


# --- format_apache_sha512 ---------------------------------------------------------------------


def test_format_matches_gpg_byte_for_byte() -> None:
    assert artifacts.format_apache_sha512("kafka_2.13-3.9.2.tgz", DIGEST) == GPG_SHORT
    assert artifacts.format_apache_sha512(LONG_NAME, DIGEST) == GPG_LONG


@pytest.mark.parametrize("length", range(1, 70))
def test_format_parse_round_trip(length: int) -> None:
    name = "k" * length
    text = artifacts.format_apache_sha512(name, DIGEST.upper())
    assert artifacts.parse_sha512(text) == DIGEST
    assert text.startswith(f"{name}: ") and text.endswith("\n")
    assert all(len(line) <= 80 for line in text.splitlines() if not line.startswith(name))


def test_format_rejects_non_digest() -> None:
    with pytest.raises(ValueError):
        artifacts.format_apache_sha512("x.tgz", "abc")


def test_sha512_of(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"kafkaform")
    assert artifacts.sha512_of(path) == DIGEST


# --- names and places -------------------------------------------------------------------------


def test_distribution_name_and_tarball_url() -> None:
    assert artifacts.distribution_name("3.9.2", "2.13") == "kafka_2.13-3.9.2"
    expected = "https://archive.apache.org/dist/kafka/3.9.2/kafka_2.13-3.9.2.tgz"
    assert artifacts.tarball_url("https://archive.apache.org/dist/kafka", "3.9.2", "2.13") == (
        expected
    )
    assert artifacts.tarball_url("https://archive.apache.org/dist/kafka/", "3.9.2") == expected
    assert artifacts.tarball_url("http://10.0.0.1:8000/kafka", "3.8.1", "2.12") == (
        "http://10.0.0.1:8000/kafka/3.8.1/kafka_2.12-3.8.1.tgz"
    )


def test_cache_dir_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KAFKAFORM_CACHE", str(tmp_path))
    assert artifacts.default_cache_dir() == tmp_path
    assert artifacts.mirror_root() == tmp_path / "mirror"
    assert artifacts.mirror_root(Path("/x")) == Path("/x/mirror")
    monkeypatch.delenv("KAFKAFORM_CACHE")
    assert artifacts.default_cache_dir() == Path.home() / ".cache" / "kafkaform"


# --- pom --------------------------------------------------------------------------------------


def test_pom_lists_kafka_tools_and_logging() -> None:
    coords = artifacts.maven_coordinates("3.9.2", "2.13")
    root = ET.fromstring(artifacts.render_pom(coords))
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    deps = {
        (d.findtext("m:groupId", namespaces=ns), d.findtext("m:artifactId", namespaces=ns))
        for d in root.iterfind("m:dependencies/m:dependency", ns)
    }
    assert ("org.apache.kafka", "kafka_2.13") in deps
    assert ("org.apache.kafka", "kafka-tools") in deps
    assert ("org.slf4j", "slf4j-reload4j") in deps
    assert ("ch.qos.reload4j", "reload4j") in deps


@pytest.mark.parametrize(
    ("kafka", "scala"),
    [("4.0.0", "2.13"), ("3.9", "2.13"), ("3.9.2</version>", "2.13"), ("3.9.2", "../x")],
)
def test_bad_versions_rejected(kafka: str, scala: str) -> None:
    with pytest.raises(ValueError):
        artifacts.maven_coordinates(kafka, scala)


# --- reproducible tarball ---------------------------------------------------------------------


def _tiny_tree(root: Path, stamp: int, mode: int) -> Path:
    (root / "libs").mkdir(parents=True)
    (root / "config").mkdir()
    files = {
        "libs/b.jar": b"bbb",
        "libs/a.jar": b"a" * 5000,
        "config/tools-log4j.properties": b"log4j.rootLogger=WARN\n",
        "README": b"hi\n",
    }
    for rel, data in files.items():
        path = root / rel
        path.write_bytes(data)
        path.chmod(mode)
        os.utime(path, (stamp, stamp))
    return root


def test_tarball_is_reproducible(tmp_path: Path) -> None:
    one = _tiny_tree(tmp_path / "one", stamp=1_000_000_000, mode=0o600)
    two = _tiny_tree(tmp_path / "two", stamp=1_700_000_000, mode=0o755)
    out1, out2 = tmp_path / "1.tgz", tmp_path / "2.tgz"
    artifacts.write_reproducible_tgz(one, out1, "kafka_2.13-9.9.9")
    artifacts.write_reproducible_tgz(two, out2, "kafka_2.13-9.9.9")
    assert out1.read_bytes() == out2.read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))  # temp file renamed away

    raw = out1.read_bytes()
    assert raw[4:8] == b"\0\0\0\0"  # gzip header mtime
    with tarfile.open(out1) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == [
            "kafka_2.13-9.9.9",
            "kafka_2.13-9.9.9/README",
            "kafka_2.13-9.9.9/config",
            "kafka_2.13-9.9.9/config/tools-log4j.properties",
            "kafka_2.13-9.9.9/libs",
            "kafka_2.13-9.9.9/libs/a.jar",
            "kafka_2.13-9.9.9/libs/b.jar",
        ]
        assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {
            (0, 0, "root", "root", 946684800)
        }
        assert {m.mode for m in members if m.isfile()} == {0o644}
        assert {m.mode for m in members if m.isdir()} == {0o755}
        extracted = tar.extractfile("kafka_2.13-9.9.9/libs/a.jar")
        assert extracted is not None and extracted.read() == b"a" * 5000
    with gzip.open(out1) as gz:
        gz.read()  # stream is complete and valid


def test_tarball_refuses_symlinks(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "link").symlink_to("/etc/hostname")
    with pytest.raises(artifacts.ArtifactError, match="link"):
        artifacts.write_reproducible_tgz(src, tmp_path / "x.tgz", "top")
    assert not (tmp_path / "x.tgz").exists()


# --- build_distribution without mvn -----------------------------------------------------------


def _fake_mvn(calls: list[Path]) -> Callable[[Path, Path], None]:
    def run(work: Path, libs: Path) -> None:
        calls.append(work)
        assert "kafka-tools" in (work / "pom.xml").read_text()
        for jar in ("kafka_2.13-3.9.2.jar", "kafka-tools-3.9.2.jar", "reload4j-1.2.25.jar"):
            (libs / jar).write_bytes(jar.encode())

    return run


def test_build_writes_mirror_layout_and_reuses_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(distribution, "resolve_jars", _fake_mvn(calls))
    messages: list[str] = []

    tgz = artifacts.build_distribution("3.9.2", "2.13", tmp_path, progress=messages.append)
    assert tgz == tmp_path / "mirror" / "kafka" / "3.9.2" / "kafka_2.13-3.9.2.tgz"
    sums = tgz.with_name("kafka_2.13-3.9.2.tgz.sha512")
    assert sums.read_text() == artifacts.format_apache_sha512(tgz.name, artifacts.sha512_of(tgz))
    assert any("mvn" in m for m in messages)  # the long step is announced
    with tarfile.open(tgz) as tar:
        names = tar.getnames()
        provenance = tar.extractfile("kafka_2.13-3.9.2/kafkaform-assembled.txt")
        assert provenance is not None
        assert b"org.apache.kafka:kafka-tools:3.9.2" in provenance.read()
    assert "kafka_2.13-3.9.2/libs/kafka_2.13-3.9.2.jar" in names
    assert "kafka_2.13-3.9.2/config/tools-log4j.properties" in names

    first = tgz.read_bytes()
    assert artifacts.build_distribution("3.9.2", "2.13", tmp_path, progress=messages.append)
    assert len(calls) == 1  # cached: no second resolve
    assert messages[-1].startswith("Using cached")

    # A damaged tarball is rebuilt, byte-identical to the first.
    tgz.write_bytes(b"truncated")
    artifacts.build_distribution("3.9.2", "2.13", tmp_path, progress=messages.append)
    assert len(calls) == 2
    assert tgz.read_bytes() == first


def test_build_fails_clearly_when_core_jar_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(distribution, "resolve_jars", lambda work, libs: None)
    with pytest.raises(artifacts.ArtifactError, match="kafka_2.13-3.9.2.jar"):
        artifacts.build_distribution("3.9.2", "2.13", tmp_path, progress=lambda m: None)
    assert not (tmp_path / "mirror").exists()


def test_missing_mvn_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(maven.shutil, "which", lambda name: None)
    with pytest.raises(artifacts.ArtifactError, match="mvn not found"):
        artifacts.build_distribution("3.9.2", "2.13", tmp_path, progress=lambda m: None)


# --- fetch_sha512 over loopback HTTP ----------------------------------------------------------


@pytest.fixture
def mirror_server(tmp_path: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving tmp_path, like `python -m http.server`."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_sha512_from_mirror_layout(tmp_path: Path, mirror_server: str) -> None:
    target = tmp_path / "kafka" / "3.9.2"
    target.mkdir(parents=True)
    (target / "kafka_2.13-3.9.2.tgz.sha512").write_text(GPG_SHORT)
    url = artifacts.tarball_url(f"{mirror_server}/kafka", "3.9.2", "2.13")
    assert artifacts.fetch_sha512(url, timeout=5) == DIGEST


def test_fetch_sha512_errors_name_the_url(tmp_path: Path, mirror_server: str) -> None:
    url = artifacts.tarball_url(f"{mirror_server}/kafka", "0.0.1", "2.13")
    with pytest.raises(
        artifacts.ArtifactError, match=r"0\.0\.1/kafka_2\.13-0\.0\.1\.tgz\.sha512.*404"
    ):
        artifacts.fetch_sha512(url, timeout=5)

    (tmp_path / "junk.tgz.sha512").write_text("<html>not a checksum</html>")
    with pytest.raises(artifacts.ArtifactError, match=r"junk\.tgz\.sha512"):
        artifacts.fetch_sha512(f"{mirror_server}/junk.tgz", timeout=5)


# --- CLI --------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kafkaform")
    artifacts.add_cli(parser.add_subparsers(dest="command", required=True))
    return parser


def test_cli_checksum(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "kafka_2.13-3.9.2.tgz"
    path.write_bytes(b"kafkaform")
    args = _parser().parse_args(["artifacts", "checksum", str(path)])
    assert args.func(args) == 0
    assert capsys.readouterr().out == GPG_SHORT


def test_cli_build_defaults_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(["artifacts", "build"])
    assert (args.kafka_version, args.scala_version, args.cache_dir) == ("3.9.2", "2.13", None)
    args = _parser().parse_args(["artifacts", "build", "--kafka-version", "nope"])
    assert args.func(args) == 1
    assert "3.9.2" in capsys.readouterr().err


def test_mvn_errors_keep_the_cause_not_the_boilerplate() -> None:
    output = (
        "\x1b[0m\x1b[0m[ERROR] Failed to execute goal: Could not find artifact "
        "org.apache.kafka:kafka_2.13:jar:3.9.9 in central\n"
        "[ERROR] \n"
        "[ERROR] To see the full stack trace of the errors, re-run Maven with the -e switch.\n"
    )
    assert maven.mvn_errors(output) == (
        "[ERROR] Failed to execute goal: Could not find artifact "
        "org.apache.kafka:kafka_2.13:jar:3.9.9 in central"
    )


# --- published checksums of the other artifacts -----------------------------------------------


def test_fetch_maven_sha1_and_a_release_sha256(tmp_path: Path, mirror_server: str) -> None:
    sha1, sha256 = "a" * 40, "b" * 64
    (tmp_path / "agent.jar.sha1").write_text(f"{sha1.upper()}  agent.jar\n")
    (tmp_path / "sha256sums.txt").write_text(f"{'c' * 64}  other.tar.gz\n{sha256} *ne.tar.gz\n")
    assert artifacts.fetch_maven_sha1(f"{mirror_server}/agent.jar", timeout=5) == sha1
    assert artifacts.fetch_sha256_from_sums(f"{mirror_server}/ne.tar.gz", timeout=5) == sha256
    with pytest.raises(artifacts.ArtifactError, match="lists no sha256 for missing.tar.gz"):
        artifacts.fetch_sha256_from_sums(f"{mirror_server}/missing.tar.gz", timeout=5)
    (tmp_path / "bad.jar.sha1").write_text("<html>")
    with pytest.raises(artifacts.ArtifactError, match="is not a SHA-1 checksum"):
        artifacts.fetch_maven_sha1(f"{mirror_server}/bad.jar", timeout=5)
    with pytest.raises(artifacts.ArtifactError, match=r"nothing\.jar\.sha1: HTTP 404"):
        artifacts.fetch_maven_sha1(f"{mirror_server}/nothing.jar", timeout=5)


# --- the JMX agent, with a stand-in for mvn on PATH --------------------------------------------

FAKE_MVN = """\
#!/bin/sh
# Records its arguments, then copies the artifact as maven-dependency-plugin:copy would.
echo "$*" >> "$(dirname "$0")/calls"
[ -n "$FAIL" ] && { echo "[ERROR] Could not find artifact $FAIL"; echo "[ERROR]"; exit 1; }
for arg; do
  case "$arg" in -DoutputDirectory=*) out="${arg#*=}";; -Dartifact=*) a="${arg#*=}";; esac
done
version="${a##*:}"
printf 'agent %s' "$version" > "$out/jmx_prometheus_javaagent-$version.jar"
"""


@pytest.fixture
def fake_mvn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mvn").write_text(FAKE_MVN)
    (bin_dir / "mvn").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir / "calls"


def test_fetch_jmx_agent_stores_maven_layout_and_reuses_it(tmp_path: Path, fake_mvn: Path) -> None:
    messages: list[str] = []
    jar = artifacts.fetch_jmx_agent("9.9.9", tmp_path / "cache", progress=messages.append)
    layout = "io/prometheus/jmx/jmx_prometheus_javaagent/9.9.9/jmx_prometheus_javaagent-9.9.9.jar"
    assert jar == tmp_path / "cache" / "mirror" / "maven2" / layout
    assert jar.read_bytes() == b"agent 9.9.9"
    sha256 = hashlib.sha256(b"agent 9.9.9").hexdigest()
    assert jar.with_name(jar.name + ".sha256").read_text() == f"{sha256}  {jar.name}\n"
    assert jar.with_name(jar.name + ".sha1").read_text().strip() == (
        hashlib.sha1(b"agent 9.9.9").hexdigest()
    )
    calls = fake_mvn.read_text().splitlines()
    assert len(calls) == 1 and " -C " in f" {calls[0]} ", "strict checksums against Central"
    assert "-Dartifact=io.prometheus.jmx:jmx_prometheus_javaagent:9.9.9" in calls[0]

    assert artifacts.fetch_jmx_agent("9.9.9", tmp_path / "cache", progress=messages.append) == jar
    assert messages[-1] == f"Using cached {jar}"
    assert len(fake_mvn.read_text().splitlines()) == 1


def test_fetch_jmx_agent_holds_a_known_version_to_its_sha256(
    tmp_path: Path, fake_mvn: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(settings.JMX_EXPORTER_SHA256, "9.9.9", "0" * 64)
    with pytest.raises(artifacts.ArtifactError, match="expected 0000"):
        artifacts.fetch_jmx_agent("9.9.9", tmp_path, progress=lambda m: None)
    assert not list((tmp_path / "mirror").rglob("*.jar")), "nothing unchecked is served"


def test_fetch_jmx_agent_reports_mavens_cause(
    tmp_path: Path, fake_mvn: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIL", "io.prometheus.jmx:jmx_prometheus_javaagent:jar:9.9.9")
    with pytest.raises(artifacts.ArtifactError, match=r"(?s)exit 1\).*Could not find artifact"):
        artifacts.fetch_jmx_agent("9.9.9", tmp_path, progress=lambda m: None)
    with pytest.raises(ValueError, match="must look like 1.0.1"):
        artifacts.fetch_jmx_agent("1.0", tmp_path, progress=lambda m: None)
