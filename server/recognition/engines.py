"""Choosing and building the face engine from settings.

``engine`` setting:

- ``auto`` (default): the best installed model pack (highest manifest priority that loads),
  else the dlib engine, with a log line saying which and why;
- ``onnx``: the pack named by ``model_pack`` (or the best installed one); a missing, partial or
  tampered pack is an error, never a silent fallback;
- ``dlib``: the dlib engine.

Packs are looked up in ``settings.model_paths``: ``model_root`` when set, else the model root
shared by every data dir (``~/.local/share/vigil/models``, where ``make install`` puts the
FacePlugin pack), then ``<data_dir>/models`` (packs installed there by earlier versions). So
``vigil serve --data-dir NEW``, ``vigil demo`` and the benchmark all run the installed pack.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from server.errors import PackError
from server.recognition.engine import FaceEngine
from server.recognition.openvino_runtime import parse_runtime
from server.settings import Settings

log = logging.getLogger(__name__)

ENGINES = ("auto", "onnx", "dlib")


@dataclass(frozen=True)
class EngineChoice:
    """The engine the settings led to, and why (for the server's start-up line)."""

    engine: FaceEngine
    reason: str
    pack: Path | None = None


def create_engine(settings: Settings) -> FaceEngine:
    """The engine the settings ask for (see module docstring).

    Raises:
        PackError: ``engine=onnx`` and the pack is missing, invalid, tampered or unloadable;
            ``unknown_engine`` for an engine name that does not exist, ``unknown_runtime``
            for an ``embedder_runtime`` that does not exist, ``runtime_*`` when
            ``embedder_runtime=openvino`` cannot be honoured.
    """
    return choose_engine(settings).engine


def choose_engine(settings: Settings) -> EngineChoice:
    """Like :func:`create_engine`, with the reason for the choice.

    Raises:
        PackError: as :func:`create_engine`.
    """
    name = settings.engine.strip().lower()
    parse_runtime(settings.embedder_runtime)  # a typo is an error whichever engine runs
    if name == "dlib":
        return EngineChoice(_dlib(settings), "engine=dlib was asked for")
    if name == "onnx":
        return _onnx(settings)
    if name != "auto":
        raise PackError("unknown_engine", f"unknown engine {settings.engine!r}; use one of "
                        f"{', '.join(ENGINES)}")
    return _auto(settings)


def describe(engine: FaceEngine, settings: Settings) -> str:
    """One line for the operator: engine, model, pack and why (printed by ``vigil serve``)."""
    pack = getattr(engine, "pack_dir", None)
    where = f" pack {pack}" if pack is not None else ""
    name = settings.engine.strip().lower()
    if name == "auto" and engine.name == "dlib":
        roots = ", ".join(str(r) for r in settings.model_paths)
        why = (f"no usable model pack in {roots}; install one with `make install` or "
               "`vigil models install SOURCE`")
    elif name == "auto":
        why = "best installed model pack"
    else:
        why = f"engine={name} was asked for"
    return f"engine {engine.name} model {engine.model_id}{where} ({why})"


def _dlib(settings: Settings) -> FaceEngine:
    from server.recognition.dlib_engine import DlibEngine

    return DlibEngine(upsample=settings.upsample)


def _onnx(settings: Settings) -> EngineChoice:
    from server.recognition.onnx_engine import OnnxEngine
    from server.recognition.packs.registry import find_pack_in, list_packs_in

    roots = settings.model_paths
    if settings.model_pack:
        folder = find_pack_in(roots, settings.model_pack)
        return EngineChoice(OnnxEngine(folder, runtime=settings.embedder_runtime),
                            f"engine=onnx, pack {settings.model_pack}", folder)
    usable = [p for p in list_packs_in(roots) if p.manifest is not None]
    if not usable:
        raise PackError(
            "pack_not_found",
            f"engine=onnx but no model pack is installed in {', '.join(map(str, roots))}; "
            "install one with `vigil models install SOURCE` (or `make install`)",
        )
    folder = Path(usable[0].path)
    return EngineChoice(OnnxEngine(folder, runtime=settings.embedder_runtime),
                        "engine=onnx, best installed pack", folder)


def _auto(settings: Settings) -> EngineChoice:
    from server.recognition.onnx_engine import OnnxEngine
    from server.recognition.packs.registry import list_packs_in

    roots = settings.model_paths
    shown = ", ".join(str(r) for r in roots)
    packs = list_packs_in(roots)
    if settings.model_pack:
        packs = [p for p in packs if p.name == settings.model_pack]
    for pack in packs:
        if pack.manifest is None:
            log.warning("model pack %s in %s is unusable (%s); skipping it", pack.name,
                        pack.path, pack.error)
            continue
        try:
            engine = OnnxEngine(Path(pack.path), runtime=settings.embedder_runtime)
        except PackError as exc:
            if exc.code.startswith("runtime_"):
                raise  # embedder_runtime=openvino could not be honoured: not the pack's fault
            log.warning("model pack %s is unusable (%s: %s); skipping it", pack.name, exc.code,
                        exc.message)
            continue
        reason = f"best installed model pack {pack.name} in {Path(pack.path).parent}"
        log.info("engine auto: using %s (%s)", reason, engine.model_id)
        return EngineChoice(engine, reason, Path(pack.path))
    log.warning(
        "engine auto: no usable model pack in %s, using the dlib engine (less accurate; "
        "install the FacePlugin pack with `make install` or `vigil models install SOURCE`)",
        shown,
    )
    return EngineChoice(_dlib(settings), f"no usable model pack in {shown}")
