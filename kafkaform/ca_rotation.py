"""The cluster's CA in ``pki_dir`` and its rotation, three deploys with no downtime.

``<pki_dir>/ca/`` holds the CA in use: ``ca.crt``, and either ``ca.key`` (kafkaform's own CA,
0600) or ``key_file`` (the path of a site CA's key, which stays where the site keeps it).
A rotation adds ``<pki_dir>/ca-next/`` (the same layout) and ``<pki_dir>/rotation.json``:

  step 1 "trust-both":      hosts keep their certificates, and trust the old and new CA;
  step 2 "new-certificates": hosts get certificates from the new CA, and still trust both
                            (hosts not yet rolled present old ones);
  step 3 "drop-old":        hosts trust the new CA only.

A step is over when a deploy has put it on every host (:func:`deployed`); the next deploy
then does the next step. After step 3 the new CA becomes ``ca/`` and the old one is kept
under ``retired/``. Each step can be deployed again (a failed deploy is simply run again).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kafkaform import certificates
from kafkaform.secrets import private_dir, read_private, write_private

CURRENT, NEXT, RETIRED = "ca", "ca-next", "retired"
STATE_FILE = "rotation.json"
STEPS = {1: "trust-both", 2: "new-certificates", 3: "drop-old"}
# What the hosts' files do at each step, for the services that must reload them.
STEP_CHANGES = {
    1: "the CA bundle (ca.crt) gains the new CA",
    2: "each host's key and certificate (host.key, host.crt) come from the new CA",
    3: "the CA bundle (ca.crt) loses the old CA",
}


class PkiError(Exception):
    """The CA or a certificate cannot be had as the inventory asks; says what to do."""


@dataclass(frozen=True)
class CaDir:
    """One CA as kept in ``pki_dir``: its certificate, and where its key is."""

    path: Path

    @property
    def exists(self) -> bool:
        return (self.path / "ca.crt").exists()

    @property
    def cert_pem(self) -> str:
        return (self.path / "ca.crt").read_text()

    @property
    def own(self) -> bool:
        """kafkaform made it (its key is here), rather than a site."""
        return (self.path / "ca.key").exists()

    def key_pem(self) -> str:
        if self.own:
            return read_private(self.path / "ca.key")
        key_file = Path((self.path / "key_file").read_text().strip())
        try:
            return key_file.read_text()
        except OSError as error:
            raise PkiError(
                f"the CA key {key_file} (recorded in {self.path}) cannot be read: {error.strerror}"
            ) from None

    def fingerprint(self) -> str:
        return certificates.fingerprint(certificates.load_cert(self.cert_pem))

    def make(self, common_name: str, days: int) -> None:
        """A new CA of kafkaform's own here."""
        key_pem, cert_pem = certificates.make_ca(common_name, days)
        private_dir(self.path)
        write_private(self.path / "ca.key", key_pem)
        (self.path / "ca.crt").write_text(cert_pem)

    def adopt(self, cert_pem: str, key_file: Path) -> None:
        """Record a site's CA here: a copy of its certificate, the path of its key."""
        private_dir(self.path)
        (self.path / "ca.crt").write_text(cert_pem)
        write_private(self.path / "key_file", f"{key_file}\n")


@dataclass
class Rotation:
    step: int
    started: str
    deployed: list[str] = field(default_factory=list)  # hosts done with this step

    @property
    def name(self) -> str:
        return STEPS[self.step]


def current(root: Path) -> CaDir:
    return CaDir(root / CURRENT)


def upcoming(root: Path) -> CaDir:
    return CaDir(root / NEXT)


def state(root: Path) -> Rotation | None:
    path = root / STATE_FILE
    if not path.exists():
        return None
    data = json.loads(read_private(path))
    return Rotation(int(data["step"]), str(data["started"]), list(data.get("deployed", [])))


def save(root: Path, rotation: Rotation) -> None:
    write_private(root / STATE_FILE, json.dumps(rotation.__dict__, indent=2) + "\n")


def start(root: Path, common_name: str, days: int, site: tuple[str, Path] | None) -> Rotation:
    """Begin a rotation to a new CA: kafkaform's own (``site`` None) or the site's
    (certificate PEM, key path). A rotation under way is returned as it is."""
    if (under_way := state(root)) is not None:
        return under_way
    if not current(root).exists:
        raise PkiError("there is no CA to rotate yet: the first deploy makes or adopts one")
    nxt = upcoming(root)
    shutil.rmtree(nxt.path, ignore_errors=True)  # a start that stopped before its state
    if site is None:
        nxt.make(common_name, days)
    else:
        cert_pem, key_file = site
        if (
            certificates.fingerprint(certificates.load_cert(cert_pem))
            == current(root).fingerprint()
        ):
            raise PkiError(
                "the inventory's tls_ca_cert_file is the CA in use already: name the new CA's "
                "files (tls_ca_cert_file, tls_ca_key_file) in the inventory first"
            )
        nxt.adopt(cert_pem, key_file)
    rotation = Rotation(1, certificates.now().isoformat(timespec="seconds"))
    save(root, rotation)
    return rotation


def abort(root: Path) -> None:
    """Give up a rotation in step 1 (no host has a certificate of the new CA yet); the next
    deploy takes the new CA out of the hosts' bundles again."""
    rotation = state(root)
    if rotation is None:
        raise PkiError("no CA rotation is under way")
    if rotation.step != 1:
        raise PkiError(
            f"the rotation is in step {rotation.step} ({rotation.name}): hosts already have "
            "certificates of the new CA, so it can only be finished"
        )
    (root / STATE_FILE).unlink()
    shutil.rmtree(upcoming(root).path)


def deployed(root: Path, step: int, hosts: Iterable[str], every_host: Iterable[str]) -> int | None:
    """Record that a deploy put ``step`` on ``hosts``; once ``every_host`` has it, the
    rotation moves on (after step 3 it is over). The step now under way (None: no rotation).
    A record for a step that is not the current one changes nothing (a rerun is harmless)."""
    rotation = state(root)
    if rotation is None or rotation.step != step:
        return rotation.step if rotation else None
    rotation.deployed = sorted(set(rotation.deployed) | set(hosts))
    if not set(every_host) <= set(rotation.deployed):
        save(root, rotation)
        return rotation.step
    if rotation.step < 3:
        save(root, Rotation(rotation.step + 1, rotation.started))
        return rotation.step + 1
    finish(root)
    return None


def finish(root: Path) -> None:
    """The new CA becomes the CA in use; the old one is kept under ``retired/``."""
    stamp = certificates.now().strftime("%Y%m%dT%H%M%SZ")
    old = current(root)
    private_dir(root / RETIRED)
    old.path.rename(root / RETIRED / f"ca-{stamp}-{old.fingerprint()[:12]}")
    upcoming(root).path.rename(old.path)
    (root / STATE_FILE).unlink()


def signing(root: Path, rotation: Rotation | None) -> CaDir:
    """The CA that issues host certificates now: the old one until step 2."""
    return upcoming(root) if rotation and rotation.step >= 2 else current(root)


def trusted(root: Path, rotation: Rotation | None, hosts: bool) -> list[CaDir]:
    """The CAs trusted now, by the hosts (``hosts``) or by the control machine, which trusts
    both until the rotation is over (it talks to hosts in the middle of a roll)."""
    if rotation is None:
        return [current(root)]
    if rotation.step == 3 and hosts:
        return [upcoming(root)]
    return [current(root), upcoming(root)]
