"""deploys.tasks.host_files.put_secret on @fake hosts: the secret reaches the host through the
upload alone, never through a command, the log or a diff, and is 0600 before it has a byte."""

from __future__ import annotations

import logging

import pytest
from pyinfra.api import Config

from deploys.tasks import host_files
from tests.unit import deployrun
from tests.unit.fakes import fake_hosts, host_paths, responses
from tests.unit.pki_fixtures import record_uploads

DEPLOY = "tests/unit/pki_deploy.py"
H1 = "@fake/kafka-1"
DEST = "/etc/kafka/secret.jaas"
SECRET = 'KafkaServer { password="Sup3r-s3cret-Value" };\n'
PLAIN = "a plain line anybody may see\n"
OP = "Secret file (secret: content not shown)"


@pytest.fixture
def uploads(monkeypatch):
    return record_uploads(monkeypatch)


@pytest.fixture
def diff_on(monkeypatch):
    monkeypatch.setattr(deployrun, "Config", lambda: Config(DIFF=True))


def run(answers=None, mode="640", **data):
    hosts = fake_hosts(
        "debian12",
        1,
        fake_responses=responses("debian12") | (answers or {}),
        pki_test="secret",
        secret_dest=DEST,
        secret_text=SECRET,
        secret_mode=mode,
        plain_text=PLAIN,
        **data,
    )
    return deployrun.run_deploy(hosts, deploy=DEPLOY)


def test_the_secret_goes_up_only_as_a_file_and_never_shows(uploads, diff_on, caplog):
    caplog.set_level(logging.DEBUG)
    result = run()
    assert OP in result.ops(H1)
    assert (DEST, uploads[0][1], SECRET.encode()) in uploads  # it did reach the host
    assert "Sup3r-s3cret-Value" not in result.executed(H1)
    assert "Sup3r-s3cret-Value" not in caplog.text
    assert "Sup3r-s3cret-Value" not in " ".join(result.ops(H1))
    # The diff was on: the plain file's content is in the log, the secret's is not.
    assert PLAIN.strip() in caplog.text


def test_the_file_is_0600_before_its_first_byte_and_gets_its_mode_after(uploads):
    result = run()
    commands = result.commands[H1]
    start = commands.index(f"[ -e {DEST} ] || install -m 600 /dev/null {DEST}")
    temp = uploads[0][1]
    assert temp and temp != DEST
    sequence = [
        "umask 077 && mkdir -p /etc/kafka",
        f"[ -e {DEST} ] || install -m 600 /dev/null {DEST}",
        f'install -m 600 -o "${{SUDO_USER:-$(id -un)}}" /dev/null {temp}',
        f"UPLOAD {DEST}",
        f"rm -f {temp}",
        f"chown root:kafka {DEST} && chmod 640 {DEST}",
    ]
    assert commands[start - 1 : start + 5] == sequence


@pytest.mark.parametrize("mode", ["644", "604", "601", "777"])
def test_a_mode_every_user_could_read_is_refused(mode):
    with pytest.raises(ValueError, match="lets every user read it") as error:
        host_files.put_secret("Secret", DEST, SECRET, mode=mode)
    assert "Sup3r" not in str(error.value)


def test_a_host_that_has_the_secret_already_gets_no_operation(uploads):
    have = host_paths(files={DEST: (SECRET, "640", "root", "kafka")})
    result = run(answers=have)
    assert OP not in result.ops(H1)
    assert all(dest != DEST for dest, _, _ in uploads)
    stale = host_paths(files={DEST: (SECRET, "644", "root", "kafka")})  # right text, wrong mode
    assert OP in run(answers=stale).ops(H1)
