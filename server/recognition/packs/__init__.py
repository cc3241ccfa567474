"""Model packs: installable, checksum-verified bundles of ONNX face models with their licence.

See :mod:`server.recognition.packs.manifest` for the format and
:mod:`server.recognition.packs.install` for the sources ``vigil models install`` accepts.
"""

from server.recognition.packs.install import install
from server.recognition.packs.manifest import (
    PackManifest,
    read_manifest,
    sha256_file,
    verify_files,
)
from server.recognition.packs.registry import InstalledPack, find_pack, list_packs

__all__ = [
    "InstalledPack",
    "PackManifest",
    "find_pack",
    "install",
    "list_packs",
    "read_manifest",
    "sha256_file",
    "verify_files",
]
