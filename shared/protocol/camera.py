"""Camera <-> server messages (msgpack binary frames; the JPEG travels as raw bytes)."""

from __future__ import annotations

from typing import Literal

from shared.protocol.base import WireMessage
from shared.protocol.common import Error, Hello, Ping, Pong, Welcome
from shared.protocol.limits import Epoch, Latitude, Longitude, Seq


class Frame(WireMessage, tag="frame"):
    """One camera frame (camera -> server)."""

    seq: Seq
    """The camera's own frame counter, echoed in ``frame_result``."""
    captured_at: Epoch
    """Epoch seconds when the frame was captured."""
    jpeg: bytes
    lat: Latitude | None = None
    lon: Longitude | None = None
    """Mobile units only: position at capture."""


FrameStatus = Literal["processed", "dropped", "no_active_deployment", "refused"]


class FrameResult(WireMessage, tag="frame_result"):
    """Server -> camera: what became of a frame."""

    seq: int
    status: FrameStatus
    faces: int = 0
    """Faces found in the frame (matched or not: the camera learns no identities)."""
    latency_ms: float = 0.0
    """Server-side processing time from receipt to result."""
    dropped_total: int = 0
    """Frames this connection lost to the latest-frame-wins slot so far."""
    code: str = ""
    """Error code when ``status`` is ``refused``."""


CameraIn = Hello | Frame | Ping
CameraOut = Welcome | Error | FrameResult | Pong
