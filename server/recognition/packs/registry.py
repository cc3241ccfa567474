"""Installed packs: listing them and choosing the best one for ``engine=auto``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgspec

from server.errors import PackError
from server.recognition.packs.manifest import (
    MANIFEST_NAME,
    PACK_NAME,
    PackManifest,
    read_manifest,
)


class InstalledPack(msgspec.Struct, frozen=True):
    """One folder under the model root: its manifest, or why it cannot be read."""

    name: str
    path: str
    manifest: PackManifest | None
    error: str = ""


def list_packs(model_root: Path) -> list[InstalledPack]:
    """Every pack folder under ``model_root``, best (highest priority) first.

    Folders whose manifest is missing or invalid are listed with the error, never skipped in
    silence: an operator should see a broken pack.
    """
    if not model_root.is_dir():
        return []
    packs: list[InstalledPack] = []
    for folder in sorted(model_root.iterdir()):
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        try:
            packs.append(InstalledPack(folder.name, str(folder), read_manifest(folder)))
        except PackError as exc:
            packs.append(InstalledPack(folder.name, str(folder), None, f"{exc.code}: {exc}"))
    packs.sort(key=lambda p: (p.manifest is None, -(p.manifest.priority if p.manifest else 0),
                              p.name))
    return packs


def find_pack(model_root: Path, name: str) -> Path:
    """The folder of the installed pack ``name``.

    Raises:
        PackError: ``pack_not_found``.
    """
    folder = model_root / name
    if not PACK_NAME.fullmatch(name) or not (folder / MANIFEST_NAME).is_file():
        known = ", ".join(p.name for p in list_packs(model_root) if p.manifest) or "none"
        raise PackError(
            "pack_not_found",
            f"no installed model pack {name!r} in {model_root} (installed: {known}); "
            "install one with `vigil models install SOURCE`",
        )
    return folder


def list_packs_in(model_roots: Sequence[Path]) -> list[InstalledPack]:
    """Every pack under several model roots, best first; a name found in two roots is taken
    from the first root that has it (the shared root before a data dir's own ``models``)."""
    seen: set[str] = set()
    packs: list[InstalledPack] = []
    for root in model_roots:
        for pack in list_packs(root):
            if pack.name not in seen:
                seen.add(pack.name)
                packs.append(pack)
    packs.sort(key=lambda p: (p.manifest is None, -(p.manifest.priority if p.manifest else 0),
                              p.name))
    return packs


def find_pack_in(model_roots: Sequence[Path], name: str) -> Path:
    """The folder of the installed pack ``name`` in the first of ``model_roots`` holding it.

    Raises:
        PackError: ``pack_not_found`` (the message lists the packs of every root).
    """
    for root in model_roots:
        folder = root / name
        if PACK_NAME.fullmatch(name) and (folder / MANIFEST_NAME).is_file():
            return folder
    known = ", ".join(p.name for p in list_packs_in(model_roots) if p.manifest) or "none"
    where = ", ".join(str(r) for r in model_roots)
    raise PackError(
        "pack_not_found",
        f"no installed model pack {name!r} in {where} (installed: {known}); "
        "install one with `vigil models install SOURCE`",
    )
