"""Where an entry's reference photos are kept, and their removal with the entry.

An entry's photos live in a folder of its own, ``<data_dir>/watchlists/<watchlist>/<entry>/``,
named ``1.img``, ``2.img``... in the order they were added; ``Entry.photo_path`` names the first
(the one an alert card shows). Entries enrolled before several photos were possible have a
single file ``watchlists/<watchlist>/<entry>.img`` and no folder; both layouts are read and
removed. Removing an entry's photos removes the folder, so no photo outlives its entry
(privacy invariant 4: entry removal calls :func:`remove_photos` after its commit; the expiry
sweep registers the same file and folder with ``server.store.file_deletions.doomed``).

These are blocking file operations: call them off the event loop.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

PHOTO_DIR = "watchlists"
"""Reference photos of a watchlist live under ``<data_dir>/watchlists/<watchlist_id>/``."""


def entry_dir(data_path: Path, watchlist_id: str, entry_id: str) -> Path:
    """The folder of one entry's photos."""
    return data_path / PHOTO_DIR / watchlist_id / entry_id


def _number(path: Path) -> int:
    try:
        return int(path.stem)
    except ValueError:
        return 0


def stored_photos(data_path: Path, watchlist_id: str, entry_id: str, photo_path: str) -> list[Path]:
    """The entry's photos in the order they were added (the first is ``photo_path``)."""
    out: list[Path] = []
    if photo_path and (data_path / photo_path).is_file():
        out.append(data_path / photo_path)
    folder = entry_dir(data_path, watchlist_id, entry_id)
    if folder.is_dir():
        extra = sorted((p for p in folder.glob("*.img") if _number(p) > 0), key=_number)
        out += [p for p in extra if p not in out]
    return out


def write_photos(data_path: Path, watchlist_id: str, entry_id: str,
                 photos: Sequence[bytes]) -> list[str]:
    """Store new photos of an entry after those it has; their paths relative to the data dir."""
    folder = entry_dir(data_path, watchlist_id, entry_id)
    folder.mkdir(parents=True, exist_ok=True)
    start = max((_number(p) for p in folder.glob("*.img")), default=0) + 1
    rel: list[str] = []
    for i, photo in enumerate(photos):
        path = folder / f"{start + i}.img"
        path.write_bytes(photo)
        rel.append(str(path.relative_to(data_path)))
    return rel


def remove_photos(data_path: Path, watchlist_id: str, entry_id: str, photo_path: str) -> None:
    """Delete every photo of an entry (both layouts); missing files are fine."""
    if photo_path:
        (data_path / photo_path).unlink(missing_ok=True)
    shutil.rmtree(entry_dir(data_path, watchlist_id, entry_id), ignore_errors=True)


def count_photos(data_path: Path, watchlist_id: str,
                 entries: Sequence[tuple[str, str]]) -> int:
    """Reference photos of a watchlist's ``(entry id, photo_path)`` entries, at least one
    per entry (an entry whose photos were destroyed with its watchlist still counts once)."""
    return sum(max(1, len(stored_photos(data_path, watchlist_id, entry_id, photo_path)))
               for entry_id, photo_path in entries)
