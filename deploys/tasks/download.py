"""A single file fetched by the host from a URL and checked before it is put in place."""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.files import Sha1File, Sha256File
from pyinfra.operations import server

CHECKSUM_FACTS = {"sha256": Sha256File, "sha1": Sha1File}


def fetch_verified(
    name: str, url: str, dest: str, checksum: tuple[str, str], mode: str = "644"
) -> OperationMeta | None:
    """Download ``url`` to ``dest`` unless dest already has ``checksum`` (algorithm, hex).

    The file is downloaded beside dest and renamed only once its checksum matches, so a
    corrupt or tampered download never replaces a good file; None when nothing was to do.
    """
    algorithm, digest = checksum
    if host.get_fact(CHECKSUM_FACTS[algorithm], path=dest) == digest:
        return None
    q = shlex.quote
    tmp = f"{dest}.download"
    script = " && ".join(
        [
            "set -e",
            f"curl -sSLf --retry 3 -o {q(tmp)} {q(url)}",
            f"if ! echo {q(digest + '  ' + tmp)} | {algorithm}sum -c --status; then "
            f"echo {q(f'{algorithm} of {url} does not match {digest}')} >&2; "
            f"rm -f {q(tmp)}; exit 1; fi",
            f"chmod {mode} {q(tmp)}",
            f"mv -f {q(tmp)} {q(dest)}",
        ]
    )
    return server.shell(name=name, commands=[script])
