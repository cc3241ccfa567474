"""The embedder runtime: OpenVINO where it gives ONNX Runtime's templates, else ONNX Runtime.

The calibrated thresholds rest on the templates, so the test that matters is that OpenVINO's
templates of real faces are ONNX Runtime's; the rest checks the choice and its fallbacks.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from server.errors import PackError
from server.recognition import openvino_runtime
from server.recognition.engines import create_engine
from server.recognition.onnx_engine import OnnxEngine
from server.recognition.openvino_runtime import (
    AGREEMENT,
    OpenVinoEmbedder,
    choose_embedder,
    parse_runtime,
)
from server.recognition.process_engine import ProcessEngine
from server.settings import load_settings

needs_openvino = pytest.mark.skipif(openvino_runtime.import_openvino() is None,
                                    reason="OpenVINO is not installed (pip install openvino)")


def group_photo() -> np.ndarray:
    """insightface's sample group photo (six real faces)."""
    import insightface

    path = Path(os.path.dirname(insightface.__file__)) / "data" / "images" / "t1.jpg"
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        pytest.skip(f"{path} not found (insightface's sample photos)")
    return np.asarray(image, dtype=np.uint8)


@pytest.fixture(scope="module")
def ort_engine(faceplugin_pack: Path) -> OnnxEngine:
    return OnnxEngine(faceplugin_pack, threads=1, verify=False, runtime="onnxruntime")


@pytest.fixture(scope="module")
def ov_engine(faceplugin_pack: Path) -> OnnxEngine:
    if openvino_runtime.import_openvino() is None:
        pytest.skip("OpenVINO is not installed (pip install openvino)")
    return OnnxEngine(faceplugin_pack, threads=1, verify=False, runtime="openvino")


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@needs_openvino
def test_openvino_gives_onnx_runtimes_templates_of_real_faces(
    ort_engine: OnnxEngine, ov_engine: OnnxEngine
) -> None:
    assert ort_engine.embedder_runtime == "onnxruntime"
    assert ov_engine.embedder_runtime == "openvino"
    image = group_photo()
    faces = ort_engine.detect(image)
    assert len(faces) >= 4
    ours = ov_engine.embed(image, faces)
    theirs = ort_engine.embed(image, faces)
    assert ours.shape == theirs.shape == (len(faces), 512)
    assert cosines(ours, theirs).min() >= AGREEMENT
    # and different faces still differ: the check is not passed by a constant output
    assert cosines(ours[:1].repeat(len(faces) - 1, 0), ours[1:]).max() < 0.9


@needs_openvino
def test_auto_uses_openvino_on_the_cpu(faceplugin_pack: Path) -> None:
    engine = OnnxEngine(faceplugin_pack, threads=1, verify=False)
    assert engine.runtime_setting == "auto"
    assert engine.embedder_runtime == "openvino"
    assert "cosine" in engine.embedder_runtime_reason
    # the workers get the setting as given and check agreement themselves
    assert engine.factory(2).keywords["runtime"] == "auto"


@needs_openvino
def test_a_worker_process_builds_its_own_openvino_embedder(
    faceplugin_pack: Path, ort_engine: OnnxEngine
) -> None:
    # runtime="openvino" fails the worker's start unless OpenVINO loads and agrees there
    engine = OnnxEngine(faceplugin_pack, threads=1, verify=False, runtime="openvino")
    image = group_photo()
    faces = ort_engine.detect(image)[:2]
    workers = ProcessEngine.wrap(engine, 1)
    try:
        ours = workers.embed(image, faces)
    finally:
        workers.close()
    assert cosines(ours, ort_engine.embed(image, faces)).min() >= AGREEMENT


def test_the_setting_forcing_onnx_runtime_never_loads_openvino(
    faceplugin_pack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("OpenVINO must not be loaded")

    monkeypatch.setattr(openvino_runtime, "OpenVinoEmbedder", refuse)
    engine = OnnxEngine(faceplugin_pack, threads=1, verify=False, runtime="onnxruntime")
    assert engine.embedder_runtime == "onnxruntime"
    assert engine.factory(2).keywords["runtime"] == "onnxruntime"


def test_a_graph_openvino_refuses_falls_back_to_onnx_runtime(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "embedder.onnx"
    broken.write_bytes(b"not an onnx graph")

    def reference(x: np.ndarray) -> np.ndarray:
        return np.ones((len(x), 8), dtype=np.float32)

    with caplog.at_level(logging.WARNING, logger="server.recognition.openvino_runtime"):
        chosen, why = choose_embedder("auto", broken, 1, reference, (112, 112), on_cpu=True)
    assert chosen is None
    if openvino_runtime.import_openvino() is None:
        assert "not installed" in why
    else:
        assert "cannot compile" in why
    assert len(caplog.records) == 1  # said once, at load
    assert "ONNX Runtime, not OpenVINO" in caplog.text
    with pytest.raises(PackError) as exc:
        choose_embedder("openvino", broken, 1, reference, (112, 112), on_cpu=True)
    assert exc.value.code in ("runtime_unloadable", "runtime_unavailable")


@needs_openvino
def test_templates_that_disagree_fall_back_to_onnx_runtime(
    faceplugin_pack: Path, ort_engine: OnnxEngine, caplog: pytest.LogCaptureFixture
) -> None:
    graph = faceplugin_pack / ort_engine.manifest.embedder.file

    def shuffled(x: np.ndarray) -> np.ndarray:
        # ONNX Runtime's templates with their dimensions rolled: a runtime that computes
        # something else
        return np.roll(ort_engine.embed_blob(x), 1, axis=1)

    with caplog.at_level(logging.WARNING, logger="server.recognition.openvino_runtime"):
        chosen, why = choose_embedder("auto", graph, 1, shuffled, (112, 112), on_cpu=True)
    assert chosen is None
    assert "differ from ONNX Runtime" in why
    assert "runtime_disagrees" in caplog.text
    with pytest.raises(PackError) as exc:
        choose_embedder("openvino", graph, 1, shuffled, (112, 112), on_cpu=True)
    assert exc.value.code == "runtime_disagrees"
    # the real reference agrees
    chosen, _ = choose_embedder("auto", graph, 1, ort_engine.embed_blob, (112, 112),
                                on_cpu=True)
    assert isinstance(chosen, OpenVinoEmbedder)


def test_cuda_keeps_the_embedder_on_onnx_runtime(tmp_path: Path) -> None:
    def reference(x: np.ndarray) -> np.ndarray:
        raise AssertionError("no agreement check: OpenVINO is not tried")

    chosen, why = choose_embedder("auto", tmp_path / "x.onnx", 1, reference, (112, 112),
                                  on_cpu=False)
    assert chosen is None
    assert "CUDA" in why


def test_openvino_absent_falls_back_or_fails_as_asked(
    faceplugin_pack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openvino_runtime, "import_openvino", lambda: None)
    engine = OnnxEngine(faceplugin_pack, threads=1, verify=False)
    assert engine.embedder_runtime == "onnxruntime"
    assert "not installed" in engine.embedder_runtime_reason
    with pytest.raises(PackError) as exc:
        OnnxEngine(faceplugin_pack, threads=1, verify=False, runtime="openvino")
    assert exc.value.code == "runtime_unavailable"


def test_an_unknown_runtime_is_a_typed_error(faceplugin_pack: Path, tmp_path: Path) -> None:
    assert parse_runtime(" OpenVINO ") == "openvino"
    with pytest.raises(PackError) as exc:
        parse_runtime("tensorrt")
    assert exc.value.code == "unknown_runtime"
    assert "auto, onnxruntime, openvino" in exc.value.message
    with pytest.raises(PackError) as direct:
        OnnxEngine(faceplugin_pack, threads=1, verify=False, runtime="onnx-runtime")
    assert direct.value.code == "unknown_runtime"
    # from the settings: an error, not a silent fall back to the dlib engine
    root = tmp_path / "models"
    shutil.copytree(faceplugin_pack, root / "faceplugin")
    for engine in ("auto", "onnx", "dlib"):
        settings = load_settings(env={"VIGIL_EMBEDDER_RUNTIME": "openvno"}, engine=engine,
                                 model_root=str(root))
        with pytest.raises(PackError) as from_settings:
            create_engine(settings)
        assert from_settings.value.code == "unknown_runtime"


def test_auto_engine_does_not_skip_the_pack_when_openvino_was_demanded(
    faceplugin_pack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # embedder_runtime=openvino that cannot be honoured is the operator's error to see, not a
    # reason to run the dlib engine instead of the pack
    monkeypatch.setattr(openvino_runtime, "import_openvino", lambda: None)
    root = tmp_path / "models"
    shutil.copytree(faceplugin_pack, root / "faceplugin")
    with pytest.raises(PackError) as exc:
        create_engine(load_settings(env={}, model_root=str(root),
                                    embedder_runtime="openvino"))
    assert exc.value.code == "runtime_unavailable"
