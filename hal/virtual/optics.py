"""A manual lens in front of the virtual sensor: thin-lens geometry, defocus, diffraction, vignetting.

A Leica M lens has no electronics: focus distance and aperture are rings the photographer turns.
The virtual camera models what those rings do to the image, so that focus aids and exposure meters can be
tested against physics rather than a hand-tuned effect:

- **Projection**: a board point at distance *s* lands on the sensor through a lens focused at
  *s_f* with image distance ``v_f = f·s_f / (s_f − f)``; magnification ``v_f / s`` (so focusing
  closer "breathes" the framing slightly, as real lenses do).
- **Defocus**: the blur circle on the sensor is ``b = (f/N) · |v_s − v_f| / v_s`` (thin lens);
  a uniform disc of diameter *b* has standard deviation ``b/4``.
- **Diffraction**: the Airy pattern's core is close to a Gaussian of σ ≈ 0.42·λ·N
  (λ = 550 nm), which is why f/16 is visibly soft on 1.55 µm pixels.
- **Optical low-pass filter**: the HQ sensor has one; modelled as σ = 0.5 pixel.
- **Vignetting**: cos⁴ of the field angle plus a mechanical fall-off that is strongest wide open.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from hal.virtual.scene import SCENE_DISTANCE_M

WAVELENGTH_MM = 550e-6
OLPF_SIGMA_PX = 0.5


@dataclasses.dataclass(frozen=True)
class Lens:
    """The simulated lens and the positions of its two rings."""

    name: str = "Simulated 35mm f/2"
    focal_length_mm: float = 35.0
    widest_f_number: float = 2.0
    smallest_f_number: float = 16.0
    f_number: float = 2.8
    focus_distance_m: float = SCENE_DISTANCE_M
    closest_focus_m: float = 0.7

    def __post_init__(self) -> None:
        if not self.widest_f_number <= self.f_number <= self.smallest_f_number:
            raise ValueError(
                f"f_number must be between {self.widest_f_number} and {self.smallest_f_number}"
            )
        if self.focus_distance_m < self.closest_focus_m:
            raise ValueError(f"focus_distance_m must be at least {self.closest_focus_m} m")

    def replace(self, **changes: float) -> Lens:
        return dataclasses.replace(self, **changes)

    def image_distance_mm(self, distance_m: float) -> float:
        s = distance_m * 1000.0
        f = self.focal_length_mm
        if math.isinf(s):
            return f
        return f * s / (s - f)

    @property
    def magnification(self) -> float:
        """Sensor millimetres per board millimetre for the board at the scene distance."""
        return self.image_distance_mm(self.focus_distance_m) / (SCENE_DISTANCE_M * 1000.0)

    def defocus_blur_mm(self, subject_distance_m: float = SCENE_DISTANCE_M) -> float:
        """Diameter of the blur circle on the sensor for a subject at ``subject_distance_m``."""
        v_f = self.image_distance_mm(self.focus_distance_m)
        v_s = self.image_distance_mm(subject_distance_m)
        return (self.focal_length_mm / self.f_number) * abs(v_s - v_f) / v_s

    def blur_sigma_px(self, pixel_pitch_mm: float) -> float:
        """Total Gaussian blur on the sensor, in pixels of ``pixel_pitch_mm``.

        Defocus, diffraction and the low-pass filter add in quadrature; the filter is one
        sensor pixel wide whatever the output scale, hence its own term.
        """
        defocus = self.defocus_blur_mm() / 4.0
        diffraction = 0.42 * WAVELENGTH_MM * self.f_number
        optical = math.hypot(defocus, diffraction) / pixel_pitch_mm
        return math.hypot(optical, OLPF_SIGMA_PX * 1.55e-3 / pixel_pitch_mm)

    def vignetting(self, x_sensor_mm: np.ndarray, y_sensor_mm: np.ndarray) -> np.ndarray:
        """Relative illumination at sensor points (1.0 on the axis), float32."""
        r2 = x_sensor_mm**2 + y_sensor_mm**2
        v = self.image_distance_mm(self.focus_distance_m)
        natural = (v * v / (v * v + r2)) ** 2  # cos⁴ of the field angle
        mechanical = 1.0 - 0.3 * (self.widest_f_number / self.f_number) ** 2 * r2 / 4.0**2
        return (natural * np.clip(mechanical, 0.5, 1.0)).astype(np.float32)
