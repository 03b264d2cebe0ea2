"""Check a configuration before it replaces the live one.

A config with a checker (promtool, amtool, ``rsyslogd -N1``) is first written as a candidate
into a staging directory on the host, laid out like the live files so that relative paths
inside it (Prometheus's rule_files) resolve to the other candidates. The checker reads the
candidates; only when it accepts them is each one installed beside its live file and renamed
over it (atomic), and the daemon reloaded. A rejected candidate leaves every live file as it
was and fails the run with the checker's output.

Pure functions: the deploy (deploys/tasks/checked_config.py) runs the script they build, the
tests run it with the real checkers against temporary directories.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

STAGING_ROOT = "/var/lib/kafkaform/candidates"
q = shlex.quote


@dataclass(frozen=True)
class Candidate:
    name: str  # path inside the staging directory, e.g. "rules/kafka.rules.yml"
    dest: str  # the live file it becomes
    text: str
    mode: str = "644"
    user: str = "root"
    group: str = "root"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def staging_dir(component: str, root: str = STAGING_ROOT) -> str:
    return f"{root}/{component}"


def stage_script(stage: str, candidate: Candidate) -> str:
    """Shell: write ``candidate`` into ``stage`` when the command runs. For a file written a
    second time in one run: what the run read before it started cannot tell that content."""
    path = q(f"{stage}/{candidate.name}")
    new = q(f"{stage}/{candidate.name}.kafkaform-new")
    return (
        f"printf '%s' {q(candidate.text)} > {new}"
        f" && chown {q(candidate.user)}:{q(candidate.group)} {new}"
        f" && chmod {q(candidate.mode)} {new} && mv -f {new} {path}"
    )


def place_script(
    host: str,
    what: str,
    stage: str,
    candidates: Sequence[Candidate],
    check: str,
    checker: str,
    activate: str | None = None,
) -> str:
    """Shell script: run ``check`` on the staged candidates; if it passes, replace each live
    file that differs (content, mode or owner), then ``activate`` (a reload) if any did."""
    names = ", ".join(c.name for c in candidates)
    refused = (
        f"{host}: {checker} rejected {what} (candidate {names} in {stage}); "
        f"nothing was placed, the live files ({', '.join(c.dest for c in candidates)}) are "
        "unchanged:"
    )
    lines = [
        "set -e",
        "placed=0",
        f'if ! out=$( ( {check} ) 2>&1 ); then printf "%s\\n" {q(refused)} "$out" >&2; exit 1; fi',
    ]
    for c in candidates:
        src, dest, new = q(f"{stage}/{c.name}"), q(c.dest), q(f"{c.dest}.kafkaform-new")
        owner = q(f"{int(c.mode, 8):o}:{c.user}:{c.group}")
        # Separate statements, not an && chain: set -e stops at a failed install or mv.
        lines += [
            f'if ! cmp -s {src} {dest} || [ "$(stat -c %a:%U:%G {dest})" != {owner} ]; then',
            f"  install -D -m {q(c.mode)} -o {q(c.user)} -g {q(c.group)} {src} {new}",
            f"  mv -f {new} {dest}",
            f"  echo placed {dest}",
            "  placed=1",
            "fi",
        ]
    if activate:
        lines.append(f'if [ "$placed" = 1 ]; then {activate}; fi')
    return "\n".join(lines)


def rsyslog_check(
    stage: str,
    names: Sequence[str],
    main_conf: str = "/etc/rsyslog.conf",
    conf_dir: str = "/etc/rsyslog.d",
) -> str:
    """``rsyslogd -N1`` on the host's whole configuration with our candidates in place of
    their live files: a copy of ``conf_dir`` overlaid with the candidates, and a copy of the
    main file that includes that copy instead of ``conf_dir``."""
    copies = " ".join(q(f"{stage}/{name}") for name in names)
    return (
        "d=$(mktemp -d) && trap 'rm -rf \"$d\"' EXIT && "
        f'{{ cp -p {q(conf_dir)}/*.conf "$d"/ 2>/dev/null || true; }} && cp {copies} "$d"/ && '
        f'sed "s#{conf_dir}/#$d/#g" {q(main_conf)} > "$d/main.check" && '
        # A main file that does not include conf_dir would leave the candidates unchecked.
        f'{{ grep -q "$d/" "$d/main.check" || echo "include(file=\\"$d/*.conf\\")" '
        '>> "$d/main.check"; } && '
        'rsyslogd -N1 -f "$d/main.check"'
    )
