"""``vigil models install SOURCE`` and ``vigil models list``: model packs and their licences.

SOURCE is a Vigil pack folder or zip, an InsightFace pack (``buffalo_l`` folder or zip) or the
npm tarball of ``faceplugin-face-recognition-js`` (from ``npm pack
faceplugin-face-recognition-js@0.0.1``).
Every file is checked against its sha256; a tampered or partial pack is refused.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from server.recognition.packs.manifest import LandmarkSpec


def configure(parser: argparse.ArgumentParser) -> None:
    subs = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    inst = subs.add_parser(
        "install", help="install a pack from a folder, zip or npm tarball",
        description="Install a model pack (Vigil pack folder/zip, InsightFace buffalo_* "
        "folder/zip, or the faceplugin-face-recognition-js npm tarball) into the model root. "
        "Files are verified by sha256; the pack's licence notice is printed.",
    )
    inst.add_argument("source", help="pack folder, .zip, or .tgz/.tar.gz")
    listing = subs.add_parser("list", help="installed packs, model ids and licence notices")
    listing.add_argument("--verify", action="store_true",
                         help="also check every file's sha256 (slower)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    for sub in (inst, listing):
        sub.add_argument("--model-root", default=None,
                         help="folder of installed packs (default: setting model_root, "
                         "else ~/.local/share/vigil/models)")
        sub.add_argument("--data-dir", default=None)


def _wrap(label: str, text: str) -> str:
    return textwrap.fill(text, width=96, initial_indent=f"  {label}: ",
                         subsequent_indent=" " * (len(label) + 4))


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from server.errors import PackError
    from server.settings import load_settings

    settings = load_settings(model_root=args.model_root, data_dir=args.data_dir)
    root = settings.model_path
    try:
        if args.action == "install":
            return _install(Path(args.source), root)
        return _list(settings.model_paths, verify=args.verify, as_json=args.json)
    except PackError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 2


def _install(source: Any, root: Any) -> int:
    from server.recognition.packs import install

    m = install(source, root)
    print(f"installed model pack {m.name} {m.version} into {root / m.name}")
    print(f"  detector:  {m.detector.model_id} ({m.detector.kind}, batch {m.detector.batch})")
    print(f"  landmarks: {_landmarks(m.landmarks)}")
    print(f"  embedder:  {m.embedder.model_id} ({m.embedder.embedding_size}-d, "
          f"batch {m.embedder.batch})")
    print(f"  licence:   {m.licence}")
    print(_wrap("notice", m.licence_notice))
    print(_wrap("provenance", m.provenance))
    return 0


def _list(roots: Any, *, verify: bool, as_json: bool) -> int:
    from pathlib import Path

    import msgspec

    from server.errors import PackError
    from server.recognition.packs import verify_files
    from server.recognition.packs.registry import list_packs_in

    packs = list_packs_in(roots)
    root = ", ".join(str(r) for r in roots)
    rows: list[dict[str, Any]] = []
    for pack in packs:
        row: dict[str, Any] = {"name": pack.name, "path": pack.path, "error": pack.error}
        if pack.manifest is not None:
            m = pack.manifest
            if verify:
                try:
                    verify_files(Path(pack.path), m)
                except PackError as exc:
                    row["error"] = f"{exc.code}: {exc.message}"
            row.update(version=m.version, priority=m.priority,
                       detector=m.detector.model_id, embedder=m.embedder.model_id,
                       landmarks=_landmarks(m.landmarks),
                       licence=m.licence, notice=m.licence_notice, provenance=m.provenance)
        rows.append(row)
    if as_json:
        sys.stdout.write(msgspec.json.encode({"model_root": str(roots[0]),
                                              "model_roots": [str(r) for r in roots],
                                              "packs": rows}).decode()
                         + "\n")
        return 0
    if not rows:
        print(f"no model packs in {root}: engine auto uses dlib. Install one with "
              "`vigil models install SOURCE` or `make install`.")
        return 0
    default = next((r["name"] for r in rows if not r["error"]), None)
    for r in rows:
        mark = " (default for engine auto)" if r["name"] == default else ""
        if "embedder" not in r or r["error"]:
            print(f"{r['name']}: UNUSABLE: {r['error']}")
            continue
        print(f"{r['name']} {r['version']}{mark}")
        print(f"  embedder:  {r['embedder']}")
        print(f"  detector:  {r['detector']}")
        print(f"  landmarks: {r['landmarks']}")
        print(f"  licence:   {r['licence']}")
        print(_wrap("notice", r["notice"]))
        print(_wrap("provenance", r["provenance"]))
    return 0


def _landmarks(spec: LandmarkSpec) -> str:
    """Where a pack's alignment points come from, in words."""
    if spec.kind == "onnx68":
        return f"68 points, the pack's model {spec.file}"
    if spec.kind == "dlib68":
        return "68 points, dlib's predictor (face-recognition-models)"
    return "the detector's five points"
