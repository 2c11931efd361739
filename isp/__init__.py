"""numpy raw-to-image pipeline for the IMX477: one stage per module, calibrated by libcamera tuning.

Public entry points: :func:`demosaic` (a Bayer mosaic to RGB) and :func:`develop` (a
:class:`hal.camera.RawFrame` to 8-bit sRGB). The stage order lives in :mod:`isp.pipeline`.
"""

from isp.demosaic import demosaic

__all__ = ["demosaic", "develop"]


def __getattr__(name: str):
    # develop pulls in the whole pipeline; import it on first use so ``import isp`` stays light.
    if name == "develop":
        from isp.render import develop

        return develop
    raise AttributeError(f"module 'isp' has no attribute {name!r}")
