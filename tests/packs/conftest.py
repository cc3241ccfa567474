"""Fixtures for model pack and ONNX engine tests: one installed FacePlugin pack and one loaded
engine per session (loading and installing cost seconds on a 2-core machine)."""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec
import pytest

from server.recognition.onnx_engine import OnnxEngine
from server.recognition.packs import install
from server.recognition.packs.manifest import LandmarkSpec, read_manifest, write_manifest
from server.recognition.packs_bootstrap import SHARED_COPY
from server.settings import load_settings
from tests.packs import graphs, scenes

ROOT = Path(__file__).resolve().parents[2]


def _installed_default() -> Path | None:
    """The pack ``make install`` put in the default model root (CI machines with npm)."""
    folder = load_settings().model_path
    if not folder.is_absolute():
        folder = ROOT / folder
    pack = folder / "faceplugin"
    return pack if (pack / "manifest.json").is_file() else None


@pytest.fixture(scope="session")
def faceplugin_source() -> Path:
    """The published FacePlugin files (``../shared/models/faceplugin``)."""
    if not (SHARED_COPY / "fr_detect.onnx").is_file():
        pytest.skip(f"FacePlugin models not found at {SHARED_COPY} (development copy absent)")
    return SHARED_COPY


@pytest.fixture(scope="session")
def faceplugin_pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An installed FacePlugin pack: installed fresh from ``../shared/models/faceplugin``, else
    the one ``make install`` installed with npm; skipped when neither exists."""
    if (SHARED_COPY / "fr_detect.onnx").is_file():
        root = tmp_path_factory.mktemp("models")
        install(SHARED_COPY, root)
        return root / "faceplugin"
    pack = _installed_default()
    if pack is None:
        pytest.skip("no FacePlugin pack: neither ../shared/models/faceplugin nor an installed "
                    "pack in the default model root (run `make install` with npm)")
    return pack


@pytest.fixture(scope="session")
def engine(faceplugin_pack: Path) -> OnnxEngine:
    """The ONNX engine on the FacePlugin pack, one intra-op thread (several tests share 2 cores)."""
    return OnnxEngine(faceplugin_pack, threads=1)


@pytest.fixture(scope="session")
def dlib68_engine(faceplugin_pack: Path, tmp_path_factory: pytest.TempPathFactory) -> OnnxEngine:
    """The engine with dlib's 68-point predictor for the landmarks (``landmarks.kind =
    "dlib68"``, as InsightFace packs without detector points have): the pack's files with
    only that line of the manifest changed."""
    pack = tmp_path_factory.mktemp("dlib68") / "faceplugin"
    shutil.copytree(faceplugin_pack, pack)
    manifest = read_manifest(pack)
    write_manifest(pack, msgspec.structs.replace(manifest, landmarks=LandmarkSpec(kind="dlib68")))
    return OnnxEngine(pack, threads=1, verify=False)


@pytest.fixture(scope="session")
def tiled_engine(faceplugin_pack: Path) -> OnnxEngine:
    """The same engine with overlapping tiles only (no whole levels): the comparison."""
    return OnnxEngine(faceplugin_pack, threads=1, verify=False, whole_levels=False)


@pytest.fixture(scope="session")
def buffalo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A buffalo-style folder of small SCRFD/ArcFace stand-in graphs (see ``graphs``)."""
    return graphs.buffalo(tmp_path_factory.mktemp("src") / "buffalo_tiny")


@pytest.fixture(scope="session")
def buffalo_pack(buffalo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    install(buffalo_dir, root)
    return root / "buffalo_tiny"


@pytest.fixture(scope="session")
def scene_sources() -> list[scenes.FaceSource]:
    """Face crops for composed scenes (dlib HOG on the source photos: a few seconds, once)."""
    return scenes.face_sources()


@pytest.fixture(scope="session")
def scene_backgrounds() -> list[scenes.Image]:
    return scenes.backgrounds()
