"""Engine choice from settings: best installed pack, else dlib with a clear message."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from server.errors import PackError
from server.recognition.dlib_engine import DlibEngine
from server.recognition.engines import create_engine, describe
from server.recognition.onnx_engine import OnnxEngine
from server.settings import load_settings


def test_auto_without_packs_falls_back_to_dlib(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(env={}, engine="auto", model_root=str(tmp_path / "none"))
    with caplog.at_level(logging.WARNING, logger="server.recognition.engines"):
        engine = create_engine(settings)
    assert isinstance(engine, DlibEngine)
    assert "no usable model pack" in caplog.text
    assert "using the dlib engine" in caplog.text


def test_auto_picks_the_installed_pack(faceplugin_pack: Path, tmp_path: Path) -> None:
    root = tmp_path / "models"
    shutil.copytree(faceplugin_pack, root / "faceplugin")
    engine = create_engine(load_settings(env={}, model_root=str(root)))
    assert isinstance(engine, OnnxEngine)
    assert engine.model_id == "faceplugin-fr-feature-512@87aacdfe5751"
    assert engine.name == "onnx"
    assert engine.dim == 512
    assert engine.score_is_probability


def test_auto_skips_a_tampered_pack_and_says_so(
    faceplugin_pack: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "models"
    shutil.copytree(faceplugin_pack, root / "faceplugin")
    (root / "faceplugin" / "LICENSE").write_text("changed")
    with caplog.at_level(logging.WARNING, logger="server.recognition.engines"):
        engine = create_engine(load_settings(env={}, model_root=str(root)))
    assert isinstance(engine, DlibEngine)
    assert "pack_tampered" in caplog.text


def test_onnx_without_pack_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PackError) as exc:
        create_engine(load_settings(env={}, engine="onnx", model_root=str(tmp_path)))
    assert exc.value.code == "pack_not_found"
    with pytest.raises(PackError) as named:
        create_engine(load_settings(env={}, engine="onnx", model_root=str(tmp_path),
                                    model_pack="buffalo_l"))
    assert named.value.code == "pack_not_found"
    assert "vigil models install" in named.value.message


def test_dlib_and_unknown_engines(tmp_path: Path) -> None:
    assert isinstance(create_engine(load_settings(env={}, engine="dlib")), DlibEngine)
    with pytest.raises(PackError) as exc:
        create_engine(load_settings(env={}, engine="tensorflow"))
    assert exc.value.code == "unknown_engine"


def test_packs_live_in_one_model_root_shared_by_data_dirs(
    faceplugin_pack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The shared root comes from XDG_DATA_HOME (never the real home dir in a test).
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    shared = tmp_path / "xdg" / "vigil" / "models"
    fresh = load_settings(env={}, data_dir=str(tmp_path / "new-data"))
    assert fresh.model_path == shared
    assert fresh.model_paths == (shared, tmp_path / "new-data" / "models")
    assert isinstance(create_engine(fresh), DlibEngine)  # nothing installed yet
    shutil.copytree(faceplugin_pack, shared / "faceplugin")
    engine = create_engine(load_settings(env={}, data_dir=str(tmp_path / "another")))
    assert isinstance(engine, OnnxEngine)
    assert engine.pack_dir == shared / "faceplugin"
    line = describe(engine, fresh)
    assert "engine onnx" in line
    assert "best installed" in line


def test_a_data_dirs_own_models_folder_is_still_read(
    faceplugin_pack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    data = tmp_path / "old-data"
    shutil.copytree(faceplugin_pack, data / "models" / "faceplugin")
    settings = load_settings(env={}, data_dir=str(data))
    engine = create_engine(settings)
    assert isinstance(engine, OnnxEngine)
    assert engine.pack_dir == data / "models" / "faceplugin"
    # an explicit model root is the only place looked at
    alone = load_settings(env={}, data_dir=str(data), model_root=str(tmp_path / "empty"))
    assert isinstance(create_engine(alone), DlibEngine)
    assert "no usable model pack" in describe(create_engine(alone), alone)


@pytest.mark.parametrize("cores", [1, 2, 3, 8, 16])
def test_session_threads_never_oversubscribe_the_cores(
    monkeypatch: pytest.MonkeyPatch, cores: int
) -> None:
    from server.recognition import onnx_engine

    monkeypatch.setattr(onnx_engine.os, "cpu_count", lambda: cores)
    for workers in range(1, cores + 1):
        threads = onnx_engine.default_threads(workers)
        assert threads >= 1
        assert workers * threads <= cores
    assert onnx_engine.default_threads(cores + 4) == 1  # more workers than cores: one each


def test_worker_factory_sizes_threads_for_the_worker_count(
    faceplugin_pack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.recognition import onnx_engine

    monkeypatch.setattr(onnx_engine.os, "cpu_count", lambda: 8)
    engine = OnnxEngine(faceplugin_pack)
    assert engine.threads == 4  # one process: cores // 1, capped at 4
    for workers, expected in ((1, 4), (2, 4), (4, 2), (8, 1)):
        factory = engine.factory(workers)
        assert factory.keywords["tuning"] == engine._tuning
        assert factory.args[1] == expected
    pinned = OnnxEngine(faceplugin_pack, threads=1)
    assert pinned.factory(2).args[1] == 1  # explicit threads are kept
