"""Choosing and building the face engine from settings.

``engine`` setting:

- ``auto`` (default): the best installed model pack (highest manifest priority that loads),
  else the dlib engine, with a log line saying which and why;
- ``onnx``: the pack named by ``model_pack`` (or the best installed one); a missing, partial or
  tampered pack is an error, never a silent fallback;
- ``dlib``: the dlib engine.
"""

from __future__ import annotations

import logging

from server.errors import PackError
from server.recognition.engine import FaceEngine
from shared.settings import Settings

log = logging.getLogger(__name__)

ENGINES = ("auto", "onnx", "dlib")


def create_engine(settings: Settings) -> FaceEngine:
    """The engine the settings ask for (see module docstring).

    Raises:
        PackError: ``engine=onnx`` and the pack is missing, invalid, tampered or unloadable;
            ``unknown_engine`` for an engine name that does not exist.
    """
    name = settings.engine.strip().lower()
    if name == "dlib":
        return _dlib(settings)
    if name == "onnx":
        return _onnx(settings)
    if name != "auto":
        raise PackError("unknown_engine", f"unknown engine {settings.engine!r}; use one of "
                        f"{', '.join(ENGINES)}")
    return _auto(settings)


def _dlib(settings: Settings) -> FaceEngine:
    from server.recognition.dlib_engine import DlibEngine

    return DlibEngine(upsample=settings.upsample)


def _onnx(settings: Settings) -> FaceEngine:
    from server.recognition.onnx_engine import OnnxEngine
    from server.recognition.packs.registry import find_pack, list_packs

    root = settings.model_path
    if settings.model_pack:
        return OnnxEngine(find_pack(root, settings.model_pack))
    usable = [p for p in list_packs(root) if p.manifest is not None]
    if not usable:
        raise PackError(
            "pack_not_found",
            f"engine=onnx but no model pack is installed in {root}; install one with "
            "`vigil models install SOURCE` (or `make install`)",
        )
    return OnnxEngine(find_pack(root, usable[0].name))


def _auto(settings: Settings) -> FaceEngine:
    from server.recognition.onnx_engine import OnnxEngine
    from server.recognition.packs.registry import list_packs

    root = settings.model_path
    packs = list_packs(root)
    if settings.model_pack:
        packs = [p for p in packs if p.name == settings.model_pack]
    for pack in packs:
        if pack.manifest is None:
            log.warning("model pack %s in %s is unusable (%s); skipping it", pack.name, root,
                        pack.error)
            continue
        try:
            engine = OnnxEngine(root / pack.name)
        except PackError as exc:
            log.warning("model pack %s is unusable (%s: %s); skipping it", pack.name, exc.code,
                        exc.message)
            continue
        log.info("engine auto: using model pack %s (%s)", pack.name, engine.model_id)
        return engine
    log.warning(
        "engine auto: no usable model pack in %s, using the dlib engine (less accurate; "
        "install the FacePlugin pack with `make install` or `vigil models install SOURCE`)",
        root,
    )
    return _dlib(settings)
