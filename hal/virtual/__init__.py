"""The virtual camera: the real picamera2 over a virtual libcamera over a physical sensor model.

Layers, top to bottom::

    firmware/ (the app)
      -> hal.picamera2_backend.Picamera2Camera
        -> picamera2 (the real library: PyPI here, apt on a Pi)
          -> libcamera: the real one on a Pi, or hal/virtual/site/libcamera (this package)
            -> hal.virtual.pipeline: the Raspberry Pi pipeline handler, IPA and ISP
              -> hal.virtual.sensor: the IMX477's pixels from hal.virtual's scene, optics and photons

:func:`install` is the only way in: it puts the virtual ``libcamera`` on ``sys.path`` (never
where a real libcamera was already imported), makes ``rig`` the one the camera manager lists,
and points picamera2's DMA-heap allocator at memfds (:mod:`hal.virtual.dma`). Nothing here
runs at import.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hal.virtual.rig import ExtraCamera, SceneLight, VirtualFaults, VirtualRig, installed

__all__ = ["ExtraCamera", "SceneLight", "VirtualFaults", "VirtualRig", "install", "installed"]

SITE = Path(__file__).resolve().parent / "site"
EXTRAS_SITE = Path(__file__).resolve().parent / "extras_site"


class RealLibcameraLoaded(RuntimeError):
    """The process already uses the real libcamera; the virtual one must not shadow it."""


def install(rig: VirtualRig | None = None) -> VirtualRig:
    """Make the virtual libcamera importable and ``rig`` the camera it lists; returns the rig."""
    from hal.virtual import rig as rig_module

    loaded = sys.modules.get("libcamera")
    if loaded is not None and not str(getattr(loaded, "__file__", "")).startswith(str(SITE)):
        raise RealLibcameraLoaded(
            f"libcamera is already loaded from {getattr(loaded, '__file__', '?')}; "
            "the virtual camera cannot run in this process")
    if str(SITE) not in sys.path:
        sys.path.insert(0, str(SITE))
    # python-prctl and pykms (kms++) come from apt on a Pi; elsewhere the extras provide the
    # few names picamera2 imports (see their docstrings). At the end of the path: real ones win.
    if str(EXTRAS_SITE) not in sys.path:
        sys.path.append(str(EXTRAS_SITE))
    import picamera2

    # picamera2 keeps the camera manager it first got (its CameraManager.cms) until its last
    # camera closes: a camera of another rig still open would be left talking to nobody.
    manager = picamera2.Picamera2._cm
    rig = rig or VirtualRig()
    if manager.cameras and getattr(manager.cms, "rig", rig) is not rig:
        raise AnotherRigOpen("a camera of another virtual rig is open in this process; close it first")
    rig_module.install_rig(rig)
    _point_picamera2(rig)
    if not manager.cameras:
        manager.reset()  # list the newly installed rig from now on
    return rig


class AnotherRigOpen(RuntimeError):
    """A camera of another virtual rig is still open in this process."""


def _point_picamera2(rig: VirtualRig) -> None:
    """picamera2 detects the platform from /dev/video* at import (``picamera2/platform.py``);
    tell it the rig's, and give it memfds for DMA buffers."""
    import picamera2
    from picamera2 import platform

    from hal.virtual import dma

    chosen = platform.Platform.PISP if rig.platform == "pisp" else platform.Platform.VC4
    platform._platform = chosen
    picamera2.Picamera2.platform = chosen
    dma.point_picamera2_at_memfds(rig)
