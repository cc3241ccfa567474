"""Unpacking untrusted pack archives (zip, tar, tar.gz / npm .tgz) without surprises.

Members with absolute paths, ``..``, links or device files are refused (no writing outside the
staging folder). Archive bombs are refused before anything is written, from the sizes the
archive declares: the total (``MAX_UNPACKED_BYTES``), the member count and the compression
ratio (``MAX_RATIO``: model weights barely compress, a bomb compresses a thousandfold). While
unpacking, every member's streamed bytes are counted against what it declared, so an archive
that lies about its sizes is stopped at the first byte past the lie.
"""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path
from typing import IO

from server.errors import PackError

MAX_UNPACKED_BYTES = 4 << 30
MAX_MEMBERS = 20_000
MAX_RATIO = 100
"""Most unpacked bytes per archive byte (ONNX weights compress about 1.1:1, text 5:1)."""
RATIO_FLOOR_BYTES = 64 << 20
"""Below this many unpacked bytes the ratio is not checked (small text-only archives)."""
CHUNK = 1 << 20


def is_archive(path: Path) -> bool:
    """True for files that look like zip or tar archives (by content, not by name)."""
    return path.is_file() and (zipfile.is_zipfile(path) or tarfile.is_tarfile(path))


def _check_name(name: str) -> None:
    parts = Path(name).parts
    if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        raise PackError("pack_invalid", f"archive member with an unsafe path: {name!r}")


def extract(archive: Path, dest: Path) -> None:
    """Unpack ``archive`` into the existing folder ``dest``.

    Raises:
        PackError: ``pack_invalid`` for an unreadable archive or an unsafe or oversized one.
    """
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, dest)
        elif tarfile.is_tarfile(archive):
            _extract_tar(archive, dest)
        else:
            raise PackError("pack_unrecognised", f"{archive} is neither a zip nor a tar archive")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise PackError("pack_invalid", f"cannot unpack {archive.name}: {exc}") from exc


def _check_totals(archive: Path, members: int, unpacked_bytes: int) -> None:
    """Refuse archive bombs before anything is written."""
    if members > MAX_MEMBERS:
        raise PackError("pack_invalid", f"{archive.name}: too many members")
    if unpacked_bytes > MAX_UNPACKED_BYTES:
        raise PackError("pack_invalid", f"{archive.name}: unpacks to more than 4 GiB")
    packed = max(1, archive.stat().st_size)
    if unpacked_bytes > RATIO_FLOOR_BYTES and unpacked_bytes > MAX_RATIO * packed:
        raise PackError("pack_invalid", f"{archive.name}: declares {unpacked_bytes:,} bytes "
                        f"from {packed:,} (more than {MAX_RATIO}:1, an archive bomb)")


def _extract_zip(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        _check_totals(archive, len(infos), sum(i.file_size for i in infos))
        for info in infos:
            _check_name(info.filename)
            mode = (info.external_attr >> 16) & 0o170000
            if mode and mode not in (0o100000, 0o040000):  # regular files and folders only
                raise PackError("pack_invalid", f"{archive.name}: {info.filename} is a link")
        for info in infos:
            target = dest / info.filename
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, target.open("wb") as out:
                _copy_counted(src, out, info.file_size, f"{archive.name}: {info.filename}")


def _copy_counted(src: IO[bytes], out: IO[bytes], declared: int, what: str) -> None:
    """Copy one member, refusing it the moment it streams more than it declared."""
    written = 0
    while chunk := src.read(min(CHUNK, declared - written + 1)):
        written += len(chunk)
        if written > declared:
            raise PackError("pack_invalid", f"{what} unpacks to more than the {declared:,} "
                            "bytes it declares")
        out.write(chunk)


def _extract_tar(archive: Path, dest: Path) -> None:
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        _check_totals(archive, len(members), sum(m.size for m in members))
        for m in members:
            _check_name(m.name)
            if not (m.isfile() or m.isdir()):
                raise PackError("pack_invalid", f"{archive.name}: {m.name} is not a plain file")
        tf.extractall(dest, filter="data")
