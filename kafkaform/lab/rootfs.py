"""The lab's root filesystems: this machine's lab tools, the debootstrap base every host
starts from (no host identity in it), and lab boxes unpacked in its place."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

from kafkaform import hostops, identity
from kafkaform.hostops import Progress, ensure_ssh_key, remove_tree, run, umount_under, which
from kafkaform.lab.plan import LabError, State
from kafkaform.lab.state import get_lab_dir, lab_lock, ssh_key_path

SUITE = "bookworm"
BASE_NAME = f"base-{SUITE}"
BASE_PACKAGES = (
    "systemd,systemd-sysv,openssh-server,python3,iproute2,dbus,sudo,ca-certificates,procps,"
    "iputils-ping,less"
)
# Commands the lab runs on this machine, and the Debian package that provides each.
HOST_PREREQUISITES = {
    "debootstrap": "debootstrap",
    "systemd-nspawn": "systemd-container",
    "iptables": "iptables",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "ip": "iproute2",
    "zstd": "zstd",  # lab boxes (`kafkaform box package --provider lab`, `lab up --box`)
}
# Numeric ids (the box's users, not this machine's) and file capabilities (ping, ...).
TAR_FLAGS = ["--numeric-owner", "--xattrs", "--xattrs-include=*"]


def require_root() -> None:
    hostops.require_root("the lab needs root (containers, mounts, bridge, iptables)")


def ensure_prerequisites(progress: Progress = print) -> None:
    """Install this machine's lab tools with apt-get when any is missing."""
    require_root()
    missing = sorted({pkg for cmd, pkg in HOST_PREREQUISITES.items() if not which(cmd)})
    if missing:
        hostops.apt_install(missing, progress)


def lab_public_key(lab: Path) -> str:
    return ensure_ssh_key(ssh_key_path(lab), "kafkaform-lab")


def base_dir(lab_dir: str | Path | None = None) -> Path:
    return get_lab_dir(lab_dir).parent / BASE_NAME


def node_base(state: State, lab: Path) -> Path:
    """The lower layer of every host's disk: the debootstrap base, or a lab box's rootfs."""
    return Path(state["base"]) if state.get("base") else base_dir(lab)


# ---------------------------------------------------------------------------------------------
# This machine's Debian mirrors, so the lab uses what works here.


def parse_deb822_sources(text: str) -> tuple[str | None, str | None]:
    """(main mirror, security mirror) for bookworm from a deb822 .sources file."""
    mirror = security = None
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split() or not fields.get("uris"):
            continue
        uri = fields["uris"].split()[0]
        suites = fields.get("suites", "").split()
        if SUITE in suites and mirror is None:
            mirror = uri
        if f"{SUITE}-security" in suites and security is None:
            security = uri
    return mirror, security


def parse_sources_list(text: str) -> tuple[str | None, str | None]:
    """(main mirror, security mirror) for bookworm from a one-line-style sources.list."""
    mirror = security = None
    for line in text.splitlines():
        words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
        if len(words) < 3 or words[0] != "deb":
            continue
        if words[2] == SUITE and mirror is None:
            mirror = words[1]
        if words[2] == f"{SUITE}-security" and security is None:
            security = words[1]
    return mirror, security


def apt_sources(mirror: str, security: str) -> str:
    return (
        f"Types: deb\nURIs: {mirror}\nSuites: {SUITE} {SUITE}-updates\nComponents: main\n\n"
        f"Types: deb\nURIs: {security}\nSuites: {SUITE}-security\nComponents: main\n"
    )


def apt_mirrors() -> tuple[str, str]:
    """This machine's Debian mirror and security mirror."""
    mirror = security = None
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        mirror, security = parse_deb822_sources(sources.read_text())
    legacy = Path("/etc/apt/sources.list")
    if mirror is None and legacy.exists():
        mirror, security = parse_sources_list(legacy.read_text())
    if mirror is None:
        raise LabError(f"no Debian {SUITE} mirror found in {sources} or {legacy}")
    if security is None:
        security = mirror.rstrip("/") + "-security"  # deb.debian.org's layout
    return mirror, security


# ---------------------------------------------------------------------------------------------
# The base rootfs.


def _debootstrap(target: Path, mirror: str, log: Path, progress: Progress) -> None:
    argv = [
        which("debootstrap") or "debootstrap",
        "--variant=minbase",
        f"--include={BASE_PACKAGES}",
        SUITE,
        str(target),
        mirror,
    ]
    started = time.monotonic()
    seen: set[str] = set()
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            words = line.split()
            # Hundreds of per-package lines: show one line per phase.
            if len(words) >= 2 and words[0] == "I:" and words[1] not in seen:
                seen.add(words[1])
                progress(f"  debootstrap [{time.monotonic() - started:4.0f}s] {line[3:].strip()}")
            elif words[:1] in (["E:"], ["W:"]):
                progress(f"  debootstrap: {line.strip()}")
        if proc.wait() != 0:
            raise LabError(f"debootstrap failed (exit {proc.returncode}); see {log}")


def install_authorized_key(root: Path, public_key: str) -> None:
    ssh_dir = root / "root" / ".ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    ssh_dir.chmod(0o700)
    hostops.write_atomic(ssh_dir / "authorized_keys", public_key.strip() + "\n", mode=0o600)


def _configure_base(root: Path, mirror: str, security: str, public_key: str) -> None:
    etc = root / "etc"
    (etc / "apt" / "sources.list").unlink(missing_ok=True)
    (etc / "apt" / "sources.list.d").mkdir(parents=True, exist_ok=True)
    (etc / "apt" / "sources.list.d" / "debian.sources").write_text(apt_sources(mirror, security))
    install_authorized_key(root, public_key)
    # Host keys and the machine-id are made on each host's first boot: no two share them.
    identity.scrub_root(root)
    units = etc / "systemd" / "system"
    # apt's daily timers would take the dpkg lock in the middle of a deploy.
    for unit in ("apt-daily.service", "apt-daily-upgrade.service"):
        (units / unit).unlink(missing_ok=True)
        (units / unit).symlink_to("/dev/null")
    run(["systemctl", f"--root={root}", "enable", "systemd-networkd.service"])


def ensure_base(
    public_key: str, lab_dir: str | Path | None = None, progress: Progress = print
) -> Path:
    """The cached base rootfs, built with debootstrap when missing."""
    base = base_dir(lab_dir)
    if (base / "etc" / "os-release").exists():
        return base
    if base.exists():
        raise LabError(f"{base} exists but is not a rootfs; `kafkaform lab down --purge` clears it")
    base.parent.mkdir(parents=True, exist_ok=True)
    for stale in base.parent.glob(f"{BASE_NAME}.partial-*"):
        progress(f"removing an interrupted base build: {stale}")
        remove_tree(stale)
    mirror, security = apt_mirrors()
    partial = base.parent / f"{BASE_NAME}.partial-{os.getpid()}"
    log = base.parent / f"{BASE_NAME}.log"
    progress(f"building the base rootfs ({SUITE} from {mirror}; about a minute) into {base}")
    started = time.monotonic()
    try:
        _debootstrap(partial, mirror, log, progress)
        _configure_base(partial, mirror, security, public_key)
    except BaseException:
        remove_tree(partial)
        raise
    umount_under(partial)
    # Only a complete build gets the real name, so an interrupted one is never used.
    os.rename(partial, base)
    progress(f"base rootfs ready in {time.monotonic() - started:.0f}s")
    return base


def ensure_base_for_image(progress: Progress = print) -> Path:
    """The base rootfs for a user outside the lab (the Docker image), built under the lab
    lock when missing."""
    ensure_prerequisites(progress)
    lab = get_lab_dir()
    with lab_lock(lab, progress):
        return ensure_base(lab_public_key(lab), lab, progress)


def boxes_dir(lab: Path) -> Path:
    """Where lab boxes are unpacked for `lab up --box`: beside the base."""
    return lab.parent / "boxes"


def box_root(sha256: str, lab: Path) -> Path:
    """Where the lab box with this sha256 is unpacked (once per content)."""
    return boxes_dir(lab) / sha256[:16]


def ensure_box_root(box: Path, sha256: str, lab: Path, progress: Progress = print) -> Path:
    """A lab box's rootfs, unpacked once per content (keyed by its sha256) beside the base."""
    root = box_root(sha256, lab)
    if (root / "etc" / "os-release").exists():
        return root
    partial = root.with_name(f"{root.name}.partial-{os.getpid()}")
    remove_tree(partial)
    partial.mkdir(parents=True)
    progress(f"unpacking lab box {box} into {root}")
    try:
        run(["tar", "--zstd", "-xf", str(box), "-C", str(partial), *TAR_FLAGS])
        if not (partial / "etc" / "os-release").exists():
            raise LabError(f"{box} is not a lab box (no etc/os-release inside)")
    except BaseException:
        remove_tree(partial)
        raise
    os.rename(partial, root)
    return root
