"""The names picamera2 imports from pykms (kms++), for the virtual setup without a display.

picamera2 0.3.38 imports ``pykms`` at import time (``previews/drm_preview.py``) for its
DRM/KMS preview window, which draws on a monitor plugged into the Pi. On a Pi, apt's
``python3-kms++`` provides it; PyPI has no kms++ (its "kms" is an unrelated package), and a
virtual camera has no display. This module sits at the *end* of ``sys.path`` in the virtual
setup only (a real pykms always wins) and offers the two names the import needs. Opening a
DRM preview here raises, as it would on a Pi with no display connected.
"""


class _Fourccs(type):
    def __getattr__(cls, name: str) -> str:
        return name


class PixelFormat(metaclass=_Fourccs):
    """DRM fourcc names (``PixelFormat.RGB888``) picamera2's DRM preview maps stream formats
    to at class definition; unused headless."""


class Card:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("no display: the DRM preview needs a monitor on the Pi")


class ResourceManager(Card):
    pass
