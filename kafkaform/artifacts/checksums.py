"""Checksums: digests of local files, Apache's .sha512 format (read and written), and the
checksum files that Apache, Maven repositories and Prometheus releases publish beside a file."""

from __future__ import annotations

import hashlib
import re
import urllib.error
import urllib.request
from pathlib import Path

from kafkaform.artifacts.errors import ArtifactError

_HEX128_RE = re.compile(r"^[0-9a-fA-F]{128}$")


def file_digest(path: Path, algorithm: str) -> str:
    """Lowercase hex digest of a file, read in chunks (tarballs and boxes are large)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha512_of(path: Path) -> str:
    return file_digest(path, "sha512")


def parse_sha512(text: str) -> str:
    """The SHA-512 in a checksum file, as 128 lowercase hex characters.

    Accepts Apache's ``gpg --print-md SHA512`` output (``name: 1A2B3C4D ...`` wrapped over
    lines), ``sha512sum`` output (``<hex>  name``), BSD ``SHA512 (name) = <hex>`` and a bare
    digest. Raises ValueError for anything else.
    """
    stripped = text.strip()
    if not stripped:
        raise ValueError("empty SHA-512 checksum file")
    lines = stripped.splitlines()

    # sha512sum / bare digest: the hex comes first on a single line.
    first = lines[0].split()
    if len(lines) == 1 and first and _HEX128_RE.match(first[0]):
        return first[0].lower()

    bsd = re.match(r"^SHA512 ?\(.*\) ?= ?([0-9a-fA-F]{128})$", stripped)
    if bsd:
        return bsd.group(1).lower()

    # Apache/gpg: "name:" then hex groups; gpg also breaks after "name:" when the name is long.
    if ":" in stripped:
        digits = "".join(stripped.split(":", 1)[1].split())
        if _HEX128_RE.match(digits):
            return digits.lower()

    preview = stripped[:80].replace("\n", "\\n")
    raise ValueError(
        "not a SHA-512 checksum: expected Apache's 'NAME: 1A2B3C4D ...' or sha512sum's "
        f"'<128 hex>  NAME', got {preview!r}"
    )


def format_apache_sha512(filename: str, hexdigest: str) -> str:
    """Checksum text laid out as ``gpg --print-md SHA512 FILE`` writes it (Apache's .sha512).

    Upper-case groups of 8 hex digits, wrapped at 80 columns with continuation lines aligned
    under the first group; a name longer than 38 characters puts the digest on its own lines.
    """
    if not _HEX128_RE.match(hexdigest):
        raise ValueError(f"not a SHA-512 hex digest: {hexdigest!r}")
    groups = [hexdigest[i : i + 8].upper() for i in range(0, 128, 8)]
    head = f"{filename}: "
    if len(head) > 40:
        lines, indent = [head], " "
        line = groups[0]
    else:
        lines, indent = [], " " * len(head)
        line = head + groups[0]
    for group in groups[1:]:
        if len(line) + 1 + len(group) > 80:
            lines.append(line)
            line = indent + group
        else:
            line += " " + group
    lines.append(line)
    return "\n".join(lines) + "\n"


def _fetch(url: str, limit: int, timeout: float) -> str:
    """The start of a small published file (a cap keeps a wrong URL from streaming a tarball)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.read(limit).decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        raise ArtifactError(f"cannot fetch {url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ArtifactError(f"cannot fetch {url}: {getattr(exc, 'reason', exc)}") from exc


def fetch_sha512(url: str, timeout: float = 30) -> str:
    """Fetch and parse ``<url>.sha512`` (Apache publishes one beside every tarball)."""
    sums_url = url + ".sha512"
    body = _fetch(sums_url, 64 * 1024, timeout)
    try:
        return parse_sha512(body)
    except ValueError as exc:
        raise ArtifactError(f"bad checksum file {sums_url}: {exc}") from exc


def fetch_maven_sha1(url: str, timeout: float = 30) -> str:
    """The ``.sha1`` Maven repositories publish beside every file."""
    sums_url = url + ".sha1"
    body = _fetch(sums_url, 4096, timeout)
    words = body.split()
    if not words or not re.fullmatch(r"[0-9a-fA-F]{40}", words[0]):
        raise ArtifactError(f"{sums_url} is not a SHA-1 checksum: {body[:60]!r}")
    return words[0].lower()


def fetch_sha256_from_sums(url: str, timeout: float = 30) -> str:
    """A release's sha256 from the ``sha256sums.txt`` beside it (Prometheus projects' layout)."""
    base, _, name = url.rpartition("/")
    sums_url = f"{base}/sha256sums.txt"
    body = _fetch(sums_url, 256 * 1024, timeout)
    for line in body.splitlines():
        words = line.split()
        if (
            len(words) == 2
            and words[1].lstrip("*") == name
            and re.fullmatch(r"[0-9a-fA-F]{64}", words[0])
        ):
            return words[0].lower()
    raise ArtifactError(f"{sums_url} lists no sha256 for {name}")
