"""A stand-in for libcamera's Python bindings: only the control enums the backend names.

Values follow libcamera's ``control_ids_core.yaml`` (``AwbAuto`` = 0 … ``AwbCustom`` = 7;
``MeteringCentreWeighted`` = 0 … ``MeteringCustom`` = 3); the Python bindings drop the common
prefix, so ``AwbModeEnum.Daylight`` and ``AeMeteringModeEnum.Matrix``.
"""

from libcamera import controls

__all__ = ["controls"]
