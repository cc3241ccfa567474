"""An entry's photo files: both layouts (one file from before several photos were possible,
and the entry's own folder) are listed in order, counted and removed together."""

from __future__ import annotations

from pathlib import Path

from server.services.entry_photos import (
    count_photos,
    entry_dir,
    remove_photos,
    stored_photos,
    write_photos,
)


def test_legacy_and_folder_photos(tmp_path: Path) -> None:
    legacy = Path("watchlists") / "wl" / "ent-1.img"
    (tmp_path / legacy).parent.mkdir(parents=True)
    (tmp_path / legacy).write_bytes(b"first")
    assert stored_photos(tmp_path, "wl", "ent-1", str(legacy)) == [tmp_path / legacy]

    added = write_photos(tmp_path, "wl", "ent-1", [b"second", b"third"])
    assert added == ["watchlists/wl/ent-1/1.img", "watchlists/wl/ent-1/2.img"]
    more = write_photos(tmp_path, "wl", "ent-1", [b"fourth"])
    assert more == ["watchlists/wl/ent-1/3.img"]
    listed = stored_photos(tmp_path, "wl", "ent-1", str(legacy))
    assert [p.read_bytes() for p in listed] == [b"first", b"second", b"third", b"fourth"]

    fresh = write_photos(tmp_path, "wl", "ent-2", [b"a"])
    # an entry with no photo left (destroyed with its watchlist) still counts once
    assert count_photos(tmp_path, "wl", [("ent-1", str(legacy)), ("ent-2", fresh[0]),
                                         ("ent-3", "")]) == 4 + 1 + 1

    remove_photos(tmp_path, "wl", "ent-1", str(legacy))
    assert not (tmp_path / legacy).exists()
    assert not entry_dir(tmp_path, "wl", "ent-1").exists()
    assert stored_photos(tmp_path, "wl", "ent-2", fresh[0]) == [tmp_path / fresh[0]]
