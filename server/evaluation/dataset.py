"""Labelled photo folders (``DATASET/<identity>/<image>``) and the evaluation protocol split.

Identity names are prefixed with their dataset folder (``faceapi_bbt/amy``) so that two
datasets never merge identities. Files at a dataset's top level (a MANIFEST.md) are ignored,
as are hidden files and files whose extension is not an image format.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgspec

from server.errors import VigilError

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".pbm", ".bmp", ".tif", ".tiff", ".webp"}
)


class DatasetError(VigilError):
    """A dataset folder is missing or holds no labelled images."""

    def __init__(self, message: str) -> None:
        super().__init__("bad_dataset", message)


class Sample(msgspec.Struct, frozen=True):
    """One labelled image."""

    identity: str
    """``<dataset folder>/<identity folder>``."""
    path: str


class Protocol(msgspec.Struct, frozen=True):
    """The open-set split, as indices into the sample list.

    Attributes:
        gallery: one enrolment sample per enrolled identity.
        mated: searches by images of enrolled identities (their other images).
        nonmated: searches by every image of identities that are not enrolled.
    """

    gallery: list[int]
    mated: list[int]
    nonmated: list[int]


def list_samples(datasets: Sequence[str | Path]) -> list[Sample]:
    """Every labelled image of the given dataset folders, sorted by identity then file name.

    Raises:
        DatasetError: a folder does not exist, two datasets share a folder name, or no image
            was found at all.
    """
    samples: list[Sample] = []
    seen: set[str] = set()
    for dataset in datasets:
        root = Path(dataset)
        if not root.is_dir():
            raise DatasetError(f"{root} is not a folder")
        prefix = root.resolve().name
        if prefix in seen:
            raise DatasetError(f"two datasets are named {prefix}; identities would merge")
        seen.add(prefix)
        for ident in sorted(p for p in root.iterdir() if p.is_dir()):
            if ident.name.startswith("."):
                continue
            for image in sorted(ident.iterdir()):
                if image.is_file() and image.suffix.lower() in IMAGE_SUFFIXES and not (
                    image.name.startswith(".")
                ):
                    samples.append(Sample(f"{prefix}/{ident.name}", str(image)))
    if not samples:
        raise DatasetError("no labelled images found (layout: DATASET/<identity>/<image>)")
    samples.sort(key=lambda s: (s.identity, Path(s.path).name))
    return samples


def split(samples: Sequence[Sample]) -> Protocol:
    """The open-set 1:N split.

    Take the identities with two or more images, in sorted order, and enrol every other one,
    starting with the first, using its first image by sorted file name. The remaining images
    of enrolled identities are mated searches; every image of the other identities (those not
    enrolled, single-image identities included) is a non-mated search.

    Args:
        samples: sorted as :func:`list_samples` returns them.
    """
    by_identity: dict[str, list[int]] = {}
    for i, sample in enumerate(samples):
        by_identity.setdefault(sample.identity, []).append(i)
    multi = sorted(name for name, idx in by_identity.items() if len(idx) >= 2)
    enrolled = set(multi[::2])
    gallery: list[int] = []
    mated: list[int] = []
    nonmated: list[int] = []
    for name in sorted(by_identity):
        idx = sorted(by_identity[name], key=lambda i: Path(samples[i].path).name)
        if name in enrolled:
            gallery.append(idx[0])
            mated.extend(idx[1:])
        else:
            nonmated.extend(idx)
    return Protocol(gallery, mated, nonmated)
