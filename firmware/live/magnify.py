"""Punch-in magnification through the camera's ``ScalerCrop``, so the view shows sensor pixels.

Magnifying by ``factor`` at ``(x, y)`` shows the window ``1/factor`` of the unmagnified field
(the live-view sensor mode's crop) wide and high, centred on that point and moved inside the
field where it would cross an edge, with the field's aspect ratio. The ISP then scales that
window to the preview size, so a 10× punch-in on the HQ camera's 4056-pixel-wide field reads
a 406-pixel-wide patch of the sensor. Coordinates are in full-resolution sensor pixels, as
libcamera's ``ScalerCrop`` takes them, and even, so the window starts on a Bayer quad.

>>> magnify_crop((0, 0, 4056, 3040), 2, 0.5, 0.5)
(1014, 760, 2028, 1520)
>>> magnify_crop((0, 0, 4056, 3040), 10, 1.0, 0.0)   # moved inside at the top right corner
(3650, 0, 406, 304)
>>> magnify_state((0, 0, 4056, 3040), (3650, 0, 406, 304))
(10, 0.95, 0.05)
"""

from __future__ import annotations

Crop = tuple[int, int, int, int]

FACTORS = (1, 2, 5, 10)
"""The punch-in steps offered: 1 (whole field), 2×, 5×, 10×."""


def _even(v: float) -> int:
    return 2 * round(v / 2)


def magnify_crop(field: Crop, factor: int, x: float, y: float) -> Crop | None:
    """The ``scaler_crop`` for ``factor`` × at ``(x, y)`` (fractions of the field), or None for 1×.

    Raises ValueError for a factor below 1 or a point outside [0, 1].
    """
    if factor < 1:
        raise ValueError(f"magnification must be at least 1, not {factor}")
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise ValueError(f"the point must lie in the frame (0..1), not ({x}, {y})")
    if factor == 1:
        return None
    fx, fy, fw, fh = field
    w = max(2, _even(fw / factor))
    h = max(2, _even(fh / factor))
    left = min(max(_even(fx + x * fw - w / 2), fx), fx + fw - w)
    top = min(max(_even(fy + y * fh - h / 2), fy), fy + fh - h)
    return (left, top, w, h)


def magnify_state(field: Crop, crop: Crop | None) -> tuple[float, float, float]:
    """``(factor, x, y)`` of a ``scaler_crop`` within ``field``: the inverse of
    :func:`magnify_crop` (the centre after any move inside the field, to 4 decimals)."""
    fx, fy, fw, fh = field
    if crop is None or tuple(crop) == tuple(field):
        return (1, 0.5, 0.5)
    left, top, w, h = crop
    factor: float = fw / w
    nearest = min(FACTORS, key=lambda f: abs(f - factor))
    factor = nearest if abs(nearest - factor) <= 0.02 * nearest else round(factor, 2)
    return (
        factor,
        round((left + w / 2 - fx) / fw, 4),
        round((top + h / 2 - fy) / fh, 4),
    )
