"""Where `lab up --box` unpacks a lab box: once per content, under boxes_dir (which
`lab down --purge` and the integration tests' cleanup remove)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from kafkaform.lab import rootfs


@pytest.fixture
def box(tmp_path: Path) -> Path:
    if shutil.which("zstd") is None:
        pytest.skip("zstd is not installed")
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "os-release").write_text("ID=debian\n")
    path = tmp_path / "kafka-3.9.2.1-lab.tar.zst"
    subprocess.run(["tar", "--zstd", "-cf", str(path), "-C", str(tree), "."], check=True)
    return path


def test_a_box_is_unpacked_once_under_its_sha256_beside_the_base(tmp_path, box):
    lab = tmp_path / "var" / "lab"
    sha256 = "ab" * 32
    root = rootfs.ensure_box_root(box, sha256, lab, progress=lambda line: None)
    assert root == rootfs.box_root(sha256, lab) == tmp_path / "var" / "boxes" / sha256[:16]
    assert root.parent == rootfs.boxes_dir(lab)
    assert (root / "etc" / "os-release").read_text() == "ID=debian\n"
    box.unlink()  # the same content again: the unpacked rootfs is reused, the file not read
    assert rootfs.ensure_box_root(box, sha256, lab, progress=lambda line: None) == root
