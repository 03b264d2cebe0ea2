"""Writing artifacts so that a reader never sees half a file, and a rebuild gives the same bytes:
atomic text files, and a reproducible .tgz (sorted members, fixed metadata)."""

from __future__ import annotations

import gzip
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

from kafkaform.artifacts.errors import ArtifactError

# Fixed tar metadata: the tarball's bytes, and so its published sha512, depend only on content.
_TAR_MTIME = 946684800  # 2000-01-01T00:00:00Z
_GZIP_LEVEL = 6  # jars are already deflated; higher levels cost time for almost nothing


def _walk_sorted(root: Path) -> Iterator[Path]:
    """Every path under root, parents before children, siblings by name."""
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        yield entry
        if entry.is_dir() and not entry.is_symlink():
            yield from _walk_sorted(entry)


def _tarinfo(name: str, *, directory: bool, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory else 0o644
    info.size = size
    info.mtime = _TAR_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def write_reproducible_tgz(src: Path, dest: Path, top: str) -> None:
    """Pack src's contents under ``top/`` into dest, byte-identical for identical content.

    Members are sorted with fixed mtime/owner/mode and the gzip header carries no name or
    time. Written to a temp file beside dest and renamed, so dest is never half-written.
    """
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as raw:
            with gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, compresslevel=_GZIP_LEVEL, mtime=0
            ) as gz:
                with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                    tar.addfile(_tarinfo(top, directory=True))
                    for path in _walk_sorted(src):
                        name = f"{top}/{path.relative_to(src).as_posix()}"
                        if path.is_symlink() or not (path.is_dir() or path.is_file()):
                            raise ArtifactError(f"cannot pack {path}: not a file or directory")
                        if path.is_dir():
                            tar.addfile(_tarinfo(name, directory=True))
                        else:
                            info = _tarinfo(name, directory=False, size=path.stat().st_size)
                            with open(path, "rb") as fh:
                                tar.addfile(info, fh)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
