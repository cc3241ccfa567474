"""Where a camera streamer's frames come from: a folder of images, a video, a webcam, a URL.

Every source is a plain iterator of BGR images read with OpenCV, so the streamer can pull it
from a worker thread (reading a camera or decoding a video blocks) and tests can iterate it
directly. A source that cannot be opened raises :class:`SourceError`, never a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
"""``H x W x 3`` BGR uint8 array, as OpenCV reads it."""


class EncodedFrame(NamedTuple):
    """A frame the source already encoded as JPEG (a camera unit with its own encoder, or
    the benchmark replaying frames it encoded once): the streamer sends it as it is."""

    jpeg: bytes

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://", "tcp://")


class SourceError(Exception):
    """The frame source cannot be opened or read."""


def describe_source(source: str) -> str:
    """Name the kind of source a SOURCE argument denotes.

    Returns:
        ``folder``, ``webcam``, ``url`` or ``video``.
    """
    if source.isdigit():
        return "webcam"
    if source.lower().startswith(STREAM_SCHEMES):
        return "url"
    if os.path.isdir(source):
        return "folder"
    return "video"


def folder_images(folder: str | Path) -> list[Path]:
    """Image files of a folder in name order (sub-folders and other files are ignored)."""
    root = Path(folder)
    if not root.is_dir():
        raise SourceError(f"not a folder: {root}")
    return sorted(
        p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def iter_folder(folder: str | Path, *, loop: bool = False) -> Iterator[Image]:
    """Frames from the images of a folder, in name order, once or looping forever.

    Files OpenCV cannot read are skipped. The folder is listed at once, so a missing or empty
    folder raises here rather than at the first frame.

    Raises:
        SourceError: the folder is missing or holds no image (or, later, no readable one).
    """
    paths = folder_images(folder)
    if not paths:
        raise SourceError(f"no images in {folder}")
    return _folder_frames(paths, str(folder), loop)


def _folder_frames(paths: list[Path], name: str, loop: bool) -> Iterator[Image]:
    while True:
        produced = False
        for path in paths:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                continue
            produced = True
            yield np.ascontiguousarray(image, dtype=np.uint8)
        if not produced:
            raise SourceError(f"no readable images in {name}")
        if not loop:
            return


def _open_capture(target: str | int) -> Any:
    capture = cv2.VideoCapture(target)
    if not capture.isOpened():
        capture.release()
        raise SourceError(f"cannot open video source {target!r}")
    return capture


def iter_capture(source: str, *, loop: bool = False) -> Iterator[Image]:
    """Frames from a video file, a webcam index or a stream URL through ``cv2.VideoCapture``.

    The source is opened at once (errors surface here). A video file with ``loop`` starts
    again at its end; a live source (webcam, URL) ends when it stops delivering frames.

    Raises:
        SourceError: the source cannot be opened or delivers no frame at all.
    """
    kind = describe_source(source)
    target: str | int = int(source) if kind == "webcam" else source
    if kind == "video" and not os.path.isfile(source):
        raise SourceError(f"no such file or folder: {source}")
    return _capture_frames(_open_capture(target), target, loop and kind == "video")


def _capture_frames(capture: Any, target: str | int, loop: bool) -> Iterator[Image]:
    try:
        produced = False
        while True:
            ok, image = capture.read()
            if ok and image is not None:
                produced = True
                yield np.ascontiguousarray(image, dtype=np.uint8)
                continue
            if not produced:
                raise SourceError(f"no frames could be read from {target!r}")
            if not loop:
                return
            capture.release()
            capture = _open_capture(target)
            produced = False
    finally:
        capture.release()


def open_source(source: str, *, loop: bool = False) -> Iterator[Image]:
    """Open a SOURCE argument: folder of images, video file, webcam index or stream URL.

    Args:
        source: a folder path, a video file path, a webcam index such as ``0``, or a URL
            (``rtsp://``, ``http://``...).
        loop: start again at the end (folders and video files).

    Returns:
        An iterator of BGR frames.

    Raises:
        SourceError: the source cannot be opened (read errors surface while iterating).
    """
    if describe_source(source) == "folder":
        return iter_folder(source, loop=loop)
    return iter_capture(source, loop=loop)


def prepare_jpeg(image: Image, *, resize: tuple[int, int] | None, quality: int) -> bytes:
    """Resize (when asked) and JPEG-encode one frame for the wire.

    Args:
        image: BGR frame.
        resize: target ``(width, height)``, or None to keep the frame's size.
        quality: JPEG quality 1-100.

    Raises:
        SourceError: the frame could not be encoded.
    """
    if resize is not None and (image.shape[1], image.shape[0]) != resize:
        # INTER_AREA keeps small faces legible when shrinking, which is the common case.
        image = np.asarray(cv2.resize(image, resize, interpolation=cv2.INTER_AREA), np.uint8)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise SourceError("could not encode a frame as JPEG")
    return bytes(buf.tobytes())


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``WxH`` (e.g. ``1280x720``) into ``(width, height)``.

    Raises:
        ValueError: not two positive integers separated by ``x``.
    """
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"expected WIDTHxHEIGHT, got {text!r}")
    width, height = int(parts[0]), int(parts[1])
    if width <= 0 or height <= 0:
        raise ValueError(f"size must be positive, got {text!r}")
    return width, height
