"""Where the development data lives: ``../shared`` beside the checkout (CI has it too).

``$VIGIL_DATASETS`` points elsewhere; tests that need the data skip with a reason when absent.
"""

from __future__ import annotations

import os
from pathlib import Path

DATASETS = Path(
    os.environ.get("VIGIL_DATASETS")
    or Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
)
