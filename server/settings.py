"""Server settings, with safe defaults (the clients take their options on the command line).

Each field can be set from the environment as ``VIGIL_<FIELD>`` (upper case), e.g.
``VIGIL_DATA_DIR=/srv/vigil``; command-line flags override the environment. Nothing reads the
environment at import time: call :func:`load_settings`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec


class QualitySettings(msgspec.Struct, kw_only=True, frozen=True):
    """Quality gate applied before a face is embedded (live frames and enrolment)."""

    min_inter_eye_px: float = 14.0
    """Smallest distance between the eye centres, in pixels (about a 36 px face)."""
    min_face_px: float = 32.0
    """Smallest face box side, in pixels."""
    min_score: float = -0.5
    """Smallest detector score accepted (dlib HOG scores can be slightly negative at the
    detection threshold; ONNX detectors report probabilities, see ``min_score_prob``)."""
    min_score_prob: float = 0.7
    """Smallest detector probability for engines whose score is a probability."""
    min_sharpness: float = 15.0
    """Smallest variance of the Laplacian of the face, grey levels squared (lower = blurrier).
    Checked against the development sets (``vigil eval``): their faces measure 135 to 2,700
    (at least 157 when scaled down to 40 px), so none is rejected; Gaussian blur of sigma 4 %
    of the face height gives a median of 14, where dlib's rank-1 falls to 0.57. The measure
    also falls with contrast: exposure x0.3 gives 32 and up, x0.1 a median of 18."""
    max_yaw: float = 0.45
    """Largest yaw proxy: nose offset from the eye midpoint over the inter-eye distance."""
    max_pitch: float = 0.9
    """Largest pitch proxy: deviation of the nose-to-eye-line distance from a frontal face,
    over the inter-eye distance."""


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    """Top-level settings."""

    data_dir: str = "./data"
    """Folder for the SQLite file, watchlist photos, index files and probe crops."""
    db_url: str = ""
    """SQLAlchemy async URL; empty means ``sqlite+aiosqlite:///<data_dir>/vigil.db``."""
    engine: str = "auto"
    """``auto`` (best installed model pack, else dlib), ``dlib`` or ``onnx``."""
    model_root: str = ""
    """Folder of installed model packs; empty means the model root shared by every data dir,
    ``$XDG_DATA_HOME/vigil/models`` (``~/.local/share/vigil/models``), where ``make install``
    and ``vigil models install`` put packs; ``<data_dir>/models`` is still read after it."""
    model_pack: str = ""
    """Name of the installed pack to use with ``engine=onnx``; empty picks the best one."""
    embedder_runtime: str = "auto"
    """Which runtime runs the ONNX engine's embedder on the CPU: ``auto`` (OpenVINO when it is
    installed and gives ONNX Runtime's templates, else ONNX Runtime), ``openvino`` (or an
    error) or ``onnxruntime`` (see ``server.recognition.openvino_runtime``)."""
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    workers: int = 2
    """Inference worker threads (decode, detect, embed, search run there, never on the loop)."""
    max_image_bytes: int = 8_000_000
    """Largest accepted encoded image (camera frame or enrolment photo)."""
    max_image_pixels: int = 4096 * 4096
    """Largest accepted decoded image, width x height."""
    max_frame_pixels: int = 3840 * 2160
    """Largest accepted camera frame, width x height (4K). Checked from the frame's header on
    receipt, before any worker decodes it (a 49 KB PNG can claim 4096x4096 and cost ~1 GB
    decoded)."""
    downscale_frames: bool = False
    """A JPEG frame over ``max_frame_pixels`` is decoded at 1/2, 1/4 or 1/8 size instead of
    refused with ``image_too_large`` (other formats are always refused)."""
    max_message_bytes: int = 64_000
    """Largest accepted JSON websocket message."""
    max_messages_per_second: float = 50.0
    """Per-connection message rate; a connection that floods is closed."""
    send_queue_size: int = 256
    """Per-websocket bounded send queue; a client that falls behind is disconnected."""
    ws_compression: bool = False
    """Negotiate permessage-deflate on websockets. Off: alerts and updates are small JSON
    (about 1.2 KB for an alert card) that a link carries as fast uncompressed, camera frames
    are JPEG (incompressible), and deflate costs a compression per message per socket, CPU
    on every camera for its frames, and ~44 KB of compressor state per connection (measured at
    1,010 sockets: 85.9 -> 41.8 KB per connection)."""
    min_face_px: float = 40.0
    """Smallest face side, in frame pixels, that detection must find in camera frames (a
    camera's own ``min_face_px`` overrides it). The ONNX engine tiles a frame only as finely
    as this needs: 40 px (what the dlib engine finds at ``upsample`` 1) costs 12 detector
    tiles per 1280x720 frame instead of 27 for every face the detector can see; 0 means
    every face. Enrolment photos always use every face."""
    upsample: int = 1
    """dlib HOG upsampling passes: 1 finds faces of about 40 px and up (costs ~4x of 0)."""
    threshold: float = 0.0
    """Default deployment threshold; 0 means the engine's calibrated default."""
    cooldown_s: float = 60.0
    """One alert per (camera, watchlist entry) within this window; later sightings update it."""
    track_faces: bool = True
    """Follow faces across a camera's frames and decide on the track (aggregate template of
    its best views), embedding a tracked face again only when needed; false: every face of
    every frame is embedded and decided on alone."""
    track_max_age_s: float = 1.0
    """A track not seen for this long ends (its template and crop are dropped)."""
    track_max_life_s: float = 30.0
    """A track ends this long after it started, seen or not (a lingering face starts anew)."""
    track_max_per_camera: int = 32
    """Most live tracks per camera; past it the least recently seen track ends."""
    track_refresh_s: float = 1.0
    """A tracked face is embedded again when its track's last template is this old (capture
    time), even if no better: someone who took over a track's place unnoticed is recognised
    within this time. 0: never (only new, uncertain or better views are embedded)."""
    detect_full_every: int = 5
    """With ``track_faces`` and the ONNX engine's whole levels: every this many frames a
    camera's frame is searched for faces everywhere; in the frames between, the finer levels
    look only where the frame changed and around the live tracks (docs/tracking.md,
    "Detecting where needed"). 1: every frame everywhere."""
    ack_timeout_s: float = 120.0
    """An assignment not accepted within this time returns to the queue, flagged."""
    retention_days: float = 31.0
    """Alerts and probe crops are purged after this many days (at least 1)."""
    watchlist_size_cap: int = 2000
    """Largest number of entries in one watchlist."""
    counter_flush_s: float = 1.0
    """Frame counters (frames and faces processed, refused, without a deployment) are kept in
    memory and written this often, and at shutdown: a crash loses at most this many seconds
    of counts (never an alert)."""
    quality: QualitySettings = msgspec.field(default_factory=QualitySettings)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite+aiosqlite:///{self.data_path / 'vigil.db'}"

    @property
    def model_path(self) -> Path:
        """Where packs are installed: ``model_root``, else the shared model root."""
        return Path(self.model_root) if self.model_root else shared_model_root()

    @property
    def model_paths(self) -> tuple[Path, ...]:
        """Folders searched for installed packs, in order (a pack name found twice: the first
        wins): ``model_root`` alone when set; else the shared model root, then
        ``<data_dir>/models`` (where earlier versions installed packs, one copy per data dir)."""
        if self.model_root:
            return (Path(self.model_root),)
        return (shared_model_root(), self.data_path / "models")


def shared_model_root() -> Path:
    """The model root shared by every data dir of this user: ``$XDG_DATA_HOME/vigil/models``,
    else ``~/.local/share/vigil/models`` (read when called, never at import)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "vigil" / "models"


def load_settings(
    env: dict[str, str] | None = None, **overrides: Any
) -> Settings:
    """Build settings from ``VIGIL_*`` environment variables and explicit overrides.

    Args:
        env: environment to read (defaults to ``os.environ``).
        **overrides: field values that win over the environment; ``None`` values are ignored.

    Raises:
        msgspec.ValidationError: a value has the wrong type.
    """
    env = dict(os.environ) if env is None else env
    values: dict[str, Any] = {}
    quality: dict[str, Any] = {}
    for field in msgspec.structs.fields(Settings):
        raw = env.get(f"VIGIL_{field.name.upper()}")
        if raw is not None and field.name != "quality":
            values[field.name] = raw
    for field in msgspec.structs.fields(QualitySettings):
        raw = env.get(f"VIGIL_QUALITY_{field.name.upper()}")
        if raw is not None:
            quality[field.name] = raw
    values.update({k: v for k, v in overrides.items() if v is not None})
    if quality and "quality" not in overrides:
        values["quality"] = quality
    # strict=False lets environment strings convert to numbers.
    return msgspec.convert(values, Settings, strict=False)
