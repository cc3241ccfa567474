"""Reading a QR code back in tests."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt


def read_qr(image: npt.NDArray[np.uint8]) -> str:
    """The text of the QR code in a greyscale image ('' when none is read).

    OpenCV's classic detector misses some valid codes (2 of 300 segno codes of pairing links,
    rendered at the app's scale); the ArUco-based one read all 300, so it goes first.
    """
    for detector in (cv2.QRCodeDetectorAruco(), cv2.QRCodeDetector()):
        text, _points, _ = detector.detectAndDecode(image)
        if text:
            return str(text)
    return ""
