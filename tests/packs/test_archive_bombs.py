"""Archive bombs are refused before anything is written (issue 15, item 9): from the sizes an
archive declares (total, count, compression ratio), and while streaming when it lies."""

from __future__ import annotations

import contextlib
import io
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest

from server.errors import PackError
from server.recognition.packs import archive

ZEROS = 96 << 20
"""Unpacked size of the bombs: above the ratio floor, compresses to about 100 KB."""


def written(dest: Path) -> int:
    return sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())


def zip_bomb(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf, \
            zf.open("model.onnx", "w", force_zip64=True) as member:
        chunk = bytes(1 << 20)
        for _ in range(ZEROS >> 20):
            member.write(chunk)
    return path


def tgz_bomb(path: Path) -> Path:
    with tarfile.open(path, "w:gz", compresslevel=9) as tf:
        info = tarfile.TarInfo("package/model.onnx")
        info.size = ZEROS
        tf.addfile(info, io.BytesIO(bytes(ZEROS)))
    return path


@pytest.mark.parametrize("make", [zip_bomb, tgz_bomb])
def test_bomb_refused_before_writing(tmp_path: Path, make: object) -> None:
    bomb = make(tmp_path / "pack.bin")  # type: ignore[operator]
    assert bomb.stat().st_size * 100 < ZEROS  # a bomb by the documented 100:1 ratio
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(PackError, match="archive bomb"):
        archive.extract(bomb, dest)
    assert written(dest) == 0


def lying_zip(path: Path, real: bytes, declared: int) -> Path:
    """A stored (uncompressed) zip whose headers declare ``declared`` bytes for a member
    holding ``real`` bytes (CRC of the declared prefix, so only the size lies)."""
    name = b"model.onnx"
    crc = zlib.crc32(real[:declared])
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, crc, declared, declared,
                        len(name), 0) + name
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, crc,
                          declared, declared, len(name), 0, 0, 0, 0, 0o100644 << 16, 0) + name
    body = local + real
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(body), 0)
    path.write_bytes(body + central + end)
    return path


def test_member_streaming_past_its_declared_size_is_cut_there(tmp_path: Path) -> None:
    real = bytes(range(256)) * 4096  # 1 MiB
    zipped = lying_zip(tmp_path / "lie.zip", real, declared=1000)
    dest = tmp_path / "out"
    dest.mkdir()
    with contextlib.suppress(PackError):
        archive.extract(zipped, dest)
    # Whether refused or cut, never more than the declared size reaches the disk.
    assert written(dest) <= 1000


def test_an_honest_archive_still_unpacks(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    path = tmp_path / "ok.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("pack/model.onnx", data)
        zf.writestr("pack/sub/", b"")
    dest = tmp_path / "out"
    dest.mkdir()
    archive.extract(path, dest)
    assert (dest / "pack" / "model.onnx").read_bytes() == data
    assert (dest / "pack" / "sub").is_dir()
