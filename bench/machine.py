"""Description of the machine a run happened on (results are only comparable on one machine)."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

LIBRARIES = (
    "numpy", "hnswlib", "dlib-bin", "onnxruntime", "opencv-python-headless", "litestar",
    "uvicorn", "websockets", "msgspec", "psutil", "pyinstrument",
)


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> dict[str, Any]:
    """CPU model, cores, memory, OS, Python and the versions of the libraries measured."""
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    memory_gb: float | None = None
    try:
        import psutil

        memory_gb = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": memory_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "libraries": versions,
        "load_average_at_start": [round(x, 2) for x in load],
    }
