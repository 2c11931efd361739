"""The virtual IMX477's pixels: the physical scene through the lens onto a sensor with the
flaws a real one has, read out in any of the driver's modes.

What a frame holds (photo-electrons, then DN; figures in :mod:`hal.imx477`):

- the scene's light through the lens (:mod:`hal.virtual.scene`, :mod:`hal.virtual.optics`), sampled
  per Bayer site in the mode's crop, 2×2 binned where the mode bins;
- photo-response non-uniformity (0.5 % rms gain per pixel) and a Gr/Gb imbalance (Gb 1 %
  more sensitive), the colour shading of the microlenses (red falls off 8 % more than green
  towards the corners), as a raw lens-shading table shows;
- dark current, 0.2 e⁻/s at 40 °C doubling every 6 °C, and hot pixels (0.01 % of sites, at
  500 to 5000 e⁻/s) that grow with exposure time; stuck pixels (0.001 %) at full scale or at
  black;
- fixed-pattern offset noise (1 DN rms at 12 bits) and a row noise of 0.3 DN;
- shot and read noise drawn fresh every frame.

The noise-free part depends on the lens, the light, the mode and the exposure settings only,
so it is cached; each frame then costs one multiply-add of noise over the raw. On a slow
machine the virtual sensor runs below its nominal rate, and its timestamps say so.
"""

from __future__ import annotations

import dataclasses
import functools
import threading

import numpy as np
from scipy import ndimage

from hal import imx477
from hal.camera import bayer_slices
from hal.virtual import ipa
from hal.virtual import photons as physics
from hal.virtual.driver import BLACK_LEVEL_12BIT, ModeSpec
from hal.virtual.optics import Lens
from hal.virtual.scene import radiance
from isp.tuning import Tuning

PRNU_RMS = 0.005
GB_OVER_GR = 1.01
RED_CORNER_SHADING = 0.08
DARK_CURRENT_E_PER_S_40C = 0.2
DARK_CURRENT_DOUBLING_C = 6.0
HOT_PIXEL_FRACTION = 1e-4
STUCK_PIXEL_FRACTION = 1e-5
FPN_OFFSET_DN_12BIT = 1.0
ROW_NOISE_DN_12BIT = 0.3


@dataclasses.dataclass(frozen=True)
class Exposure:
    """What the sensor was set to for one frame."""

    exposure_us: float
    analogue_gain: float
    lux: float
    colour_temperature: float
    temperature_c: float


class FixedPattern:
    """Per-site flaws of one sensor, seeded, over the full pixel array."""

    def __init__(self, seed: int | None) -> None:
        rng = np.random.default_rng(None if seed is None else seed + 7919)
        w, h = imx477.ACTIVE_ARRAY
        n = w * h
        self.hot = rng.choice(n, size=int(n * HOT_PIXEL_FRACTION), replace=False)
        self.hot_rate_e_per_s = rng.uniform(500.0, 5000.0, size=self.hot.size).astype(np.float32)
        self.stuck = rng.choice(n, size=max(1, int(n * STUCK_PIXEL_FRACTION)), replace=False)
        self.stuck_high = rng.random(self.stuck.size) < 0.5
        self._seed = seed
        self._lock = threading.Lock()
        self._maps: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def maps(self, mode: ModeSpec) -> tuple[np.ndarray, np.ndarray]:
        """(gain, offset_dn12) maps for a mode: PRNU and Gb/Gr, and the offset pattern."""
        key = (mode.size, mode.crop, mode.binning)
        with self._lock:
            if key not in self._maps:
                rng = np.random.default_rng(None if self._seed is None else self._seed + 104729)
                w, h = mode.size
                noise_scale = 1.0 / mode.binning
                gain = 1.0 + rng.standard_normal((h, w), dtype=np.float32) * np.float32(
                    PRNU_RMS * noise_scale)
                offset = rng.standard_normal((h, w), dtype=np.float32) * np.float32(
                    FPN_OFFSET_DN_12BIT * noise_scale)
                offset += rng.standard_normal((h, 1), dtype=np.float32) * np.float32(
                    ROW_NOISE_DN_12BIT)
                self._maps[key] = (gain, offset)
            return self._maps[key]

    def sites_in(self, mode: ModeSpec, which: np.ndarray) -> np.ndarray:
        """Flat indices (in the mode's frame) of full-array sites ``which`` that the mode reads."""
        w_full = imx477.ACTIVE_ARRAY[0]
        y, x = np.divmod(which, w_full)
        x0, y0, cw, ch = mode.crop
        inside = (x >= x0) & (x < x0 + cw) & (y >= y0) & (y < y0 + ch)
        mx = (x[inside] - x0) // mode.binning
        my = (y[inside] - y0) // mode.binning
        return my * mode.size[0] + mx, inside


def dark_current_e_per_s(temperature_c: float) -> float:
    return DARK_CURRENT_E_PER_S_40C * 2.0 ** ((temperature_c - 40.0) / DARK_CURRENT_DOUBLING_C)


class _SceneCache:
    """Renders of the scene per mode, lens and light, shared by every virtual sensor of the
    process (tests make many rigs of one scene); the newest few are kept (12 MP of float32 is
    49 MB)."""

    def __init__(self, keep: int = 6) -> None:
        self._keep = keep
        self._lock = threading.Lock()
        self._renders: dict[tuple, tuple[int, np.ndarray]] = {}
        self._rendering: set[tuple] = set()
        self._serial = 0

    def get(self, key: tuple, *, wait: bool) -> tuple[int, np.ndarray]:
        """``(serial, electrons per unit)``: the serial names the render for caches built on it."""
        mode, order = key[0], key[3]
        with self._lock:
            unit = self._renders.get(key)
            if unit is not None:
                self._renders[key] = self._renders.pop(key)  # most recently used last
                return unit
            stale = [k for k in self._renders if k[0] == mode and k[3] == order]
            background = bool(stale) and not wait
            if background and key not in self._rendering:
                self._rendering.add(key)
                threading.Thread(target=self._render, args=(key,), daemon=True,
                                 name="virtual-scene").start()
            if background:
                return self._renders[stale[-1]]
        return self._render(key)

    def _render(self, key: tuple) -> tuple[int, np.ndarray]:
        mode, lens, colour_temperature, bayer_order, tuning = key
        unit = _unit_electrons(mode, lens, colour_temperature, bayer_order, tuning)
        with self._lock:
            self._serial += 1
            self._renders[key] = (self._serial, unit)
            self._rendering.discard(key)
            while len(self._renders) > self._keep:
                del self._renders[next(iter(self._renders))]
            return self._renders[key]


_SCENES = _SceneCache()
_PATTERNS: dict[int | None, FixedPattern] = {}
_PATTERNS_LOCK = threading.Lock()


def fixed_pattern(seed: int | None) -> FixedPattern:
    """The flaws of the sensor with this seed (one per seed in the process; an unseeded
    sensor gets its own)."""
    if seed is None:
        return FixedPattern(None)
    with _PATTERNS_LOCK:
        if seed not in _PATTERNS:
            while len(_PATTERNS) >= 4:
                del _PATTERNS[next(iter(_PATTERNS))]
            _PATTERNS[seed] = FixedPattern(seed)
        return _PATTERNS[seed]


class VirtualSensor:
    """Renders raw frames for a mode and processed (ISP) pictures of a crop."""

    def __init__(self, tuning: Tuning, seed: int | None) -> None:
        self.tuning = tuning
        self.pattern = fixed_pattern(seed)
        self._rng = np.random.default_rng(seed)
        self._bank = np.empty(0, dtype=np.float32)
        self._lock = threading.Lock()
        self._settings_key: tuple | None = None
        self._settings: tuple[np.ndarray, np.ndarray] | None = None
        self._lut = ipa.gamma_lut(tuning)

    # --- the scene on the sensor ---------------------------------------------------------

    def prepare(self, mode: ModeSpec, lens: Lens, colour_temperature: float,
                bayer_order: str) -> None:
        """Render the scene for a mode now (at start), so the first frames are on time."""
        self._unit(mode, lens, colour_temperature, bayer_order, wait=True)

    def _unit(self, mode: ModeSpec, lens: Lens, colour_temperature: float,
              bayer_order: str, *, wait: bool = False) -> tuple[int, np.ndarray]:
        """Electrons per unit exposure for the scene as it is. When a ring was turned or the
        light changed, the frames go on with the last picture of this mode while the new one
        renders on another thread (a 12 MP render takes seconds here), as a lens's image
        follows its ring a moment later; with none yet for the mode, it renders now."""
        key = (mode, lens, colour_temperature, bayer_order, self.tuning)
        return _SCENES.get(key, wait=wait)

    def mean_and_sigma(self, mode: ModeSpec, lens: Lens, e: Exposure, bayer_order: str):
        """Noise-free DN and per-site noise sigma (float32, the mode's shape) for ``e``."""
        serial, unit = self._unit(mode, lens, e.colour_temperature, bayer_order)
        key = (serial, mode, lens.f_number, e, bayer_order)
        with self._lock:
            if key == self._settings_key and self._settings is not None:
                return self._settings
        gain_map, offset_map = self.pattern.maps(mode)
        e_per_unit = physics.electrons_per_unit(e.lux, e.exposure_us, lens.f_number)
        mean_e = unit * np.float32(e_per_unit)
        mean_e *= gain_map
        dark = dark_current_e_per_s(e.temperature_c) * e.exposure_us * 1e-6
        mean_e += np.float32(dark)
        flat = mean_e.reshape(-1)
        hot, inside = self.pattern.sites_in(mode, self.pattern.hot)
        flat[hot] += self.pattern.hot_rate_e_per_s[inside] * np.float32(e.exposure_us * 1e-6)
        np.clip(mean_e, 0.0, imx477.FULL_WELL_E, out=mean_e)
        dn_per_e = np.float32(
            imx477.CONVERSION_GAIN_DN_PER_E * e.analogue_gain / (1 << (12 - mode.bit_depth)))
        sigma = mean_e + np.float32(imx477.READ_NOISE_E**2)
        np.sqrt(sigma, out=sigma)
        sigma *= dn_per_e / np.float32(mode.binning)
        mean = mean_e
        mean *= dn_per_e
        scale12 = np.float32(1.0 / (1 << (12 - mode.bit_depth)))
        mean += offset_map * scale12
        mean += np.float32(BLACK_LEVEL_12BIT >> (12 - mode.bit_depth)) + np.float32(0.5)
        with self._lock:
            self._settings_key, self._settings = key, (mean, sigma)
        return mean, sigma

    def read_out(self, mode: ModeSpec, lens: Lens, e: Exposure, bayer_order: str,
                 out: np.ndarray) -> None:
        """Write one frame's DN into ``out`` (uint16, the mode's shape, any strides)."""
        mean, sigma = self.mean_and_sigma(mode, lens, e, bayer_order)
        noise = self._standard_normal(mean.size).reshape(mean.shape)
        noise *= sigma
        noise += mean
        np.clip(noise, 0.0, float((1 << mode.bit_depth) - 1), out=noise)
        np.copyto(out, noise, casting="unsafe")  # truncation after +0.5: rounding
        flat_stuck, inside = self.pattern.sites_in(mode, self.pattern.stuck)
        high = self.pattern.stuck_high[inside]
        rows, cols = np.divmod(flat_stuck, mode.size[0])
        out[rows, cols] = np.where(high, (1 << mode.bit_depth) - 1, 0).astype(np.uint16)

    def _standard_normal(self, n: int) -> np.ndarray:
        """Fresh-looking Gaussian noise for each frame: a random window into a bank of twice
        the frame's size, redrawn in part every frame, so no two frames share their noise."""
        with self._lock:
            if self._bank.size < 2 * n:
                self._bank = self._rng.standard_normal(2 * n + 4099, dtype=np.float32)
            start = int(self._rng.integers(0, self._bank.size - n))
            chunk = max(1, self._bank.size // 64)
            at = int(self._rng.integers(0, self._bank.size - chunk))
            self._bank[at:at + chunk] = self._rng.standard_normal(chunk, dtype=np.float32)
            return self._bank[start:start + n].copy()

    # --- processed streams (the ISP) ---------------------------------------------------

    def processed_rgb(self, crop: tuple[int, int, int, int], size: tuple[int, int],
                      lens: Lens, e: Exposure, colour_gains: tuple[float, float],
                      ccm_ct: float, bit_depth: int = 12) -> np.ndarray:
        """The ISP's RGB picture of ``crop`` at ``size``: the same exposure, denoised and
        scaled as the Pi's ISP delivers it, rendered with the tuning's CCM and gamma."""
        base = _render_camera_rgb(tuple(crop), tuple(size), lens, e.colour_temperature,
                                  imx477.PIXEL_SIZE_UM, self.tuning)
        e_per_unit = physics.electrons_per_unit(e.lux, e.exposure_us, lens.f_number)
        black = BLACK_LEVEL_12BIT >> (12 - bit_depth)
        dn = physics.expose(base * np.float32(e_per_unit), e.analogue_gain, bit_depth, black,
                            _BankedNormal(self))
        white = (1 << bit_depth) - 1
        return ipa.render_preview(dn, black, white, colour_gains, self.tuning.ccm(ccm_ct),
                                  self._lut)


class _BankedNormal:
    """The sensor's noise bank in the shape of ``numpy.random.Generator.standard_normal``: the
    ISP picture's noise without drawing 2.4 million normals a frame (24 ms of CPU, a quarter
    of a full-resolution frame's rendering)."""

    def __init__(self, sensor: VirtualSensor) -> None:
        self._sensor = sensor

    def standard_normal(self, shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
        return self._sensor._standard_normal(int(np.prod(shape))).reshape(shape).astype(
            dtype, copy=False)


def _unit_electrons(mode: ModeSpec, lens: Lens, colour_temperature: float,
                    bayer_order: str, tuning: Tuning) -> np.ndarray:
    """Electrons per unit exposure at each site of the mode (before PRNU), read-only float32."""
    x0, y0, cw, ch = mode.crop
    w, h = mode.size
    step = mode.binning
    pitch_mm = imx477.PIXEL_SIZE_UM * 1e-3
    response = physics.camera_response(tuning.neutral_rb(colour_temperature),
                                       tuning.ccm(colour_temperature))
    sigma_sites = lens.blur_sigma_px(pitch_mm * step) / 2
    out = np.empty((h, w), dtype=np.float32)
    for colour in ("R", "G1", "G2", "B"):
        rows, cols = bayer_slices(bayer_order, colour)
        # A binned site averages the 2×2 same-colour sites it sums; its centre is between them.
        py = y0 + (np.arange(h, dtype=np.float32)[rows] + 0.5) * step
        px = x0 + (np.arange(w, dtype=np.float32)[cols] + 0.5) * step
        xs = (px[None, :] - imx477.ACTIVE_ARRAY[0] / 2) * pitch_mm
        ys = (py[:, None] - imx477.ACTIVE_ARRAY[1] / 2) * pitch_mm
        m = lens.magnification
        bx, by = np.broadcast_arrays(xs / m, ys / m)
        channel = "RGB".index(colour[0])
        plane = radiance(bx, by) @ response[channel]
        if sigma_sites > 0.3:
            ndimage.gaussian_filter(plane, sigma=sigma_sites, output=plane, mode="nearest")
        r2 = (xs**2 + ys**2) / (np.hypot(*imx477.ACTIVE_ARRAY) * pitch_mm / 2) ** 2
        plane *= lens.vignetting(xs, ys)
        if colour == "R":
            plane *= (1.0 - RED_CORNER_SHADING * r2).astype(np.float32)
        if colour == "G2" and bayer_order in ("BGGR", "RGGB"):
            plane *= np.float32(GB_OVER_GR)  # the second green of BGGR/RGGB sits on blue rows
        out[rows, cols] = plane
    out.setflags(write=False)
    return out


def _sensor_to_board(lens: Lens, px: np.ndarray, py: np.ndarray, pitch_mm: float):
    """Full-resolution pixel coordinates to board millimetres and sensor millimetres."""
    xs = (px - imx477.ACTIVE_ARRAY[0] / 2) * pitch_mm
    ys = (py - imx477.ACTIVE_ARRAY[1] / 2) * pitch_mm
    m = lens.magnification
    return xs / m, ys / m, xs, ys


@functools.lru_cache(maxsize=8)
def _render_camera_rgb(
    crop: tuple[int, int, int, int],
    size: tuple[int, int],
    lens: Lens,
    colour_temperature: float,
    pixel_size_um: float,
    tuning: Tuning,
) -> np.ndarray:
    """Noise-free raw R, G, B planes (3×H×W) per unit exposure for a preview of ``crop``.

    Sampled 2×2 per output pixel against aliasing, blurred by the lens, vignetted. Cached,
    since it changes only when a ring, the crop or the light changes.
    """
    x0, y0, cw, ch = crop
    w, h = size
    ss = 2
    px = x0 + (np.arange(w * ss, dtype=np.float32) + 0.5) * (cw / (w * ss))
    py = y0 + (np.arange(h * ss, dtype=np.float32) + 0.5) * (ch / (h * ss))
    pitch_mm = pixel_size_um * 1e-3
    bx, by, xs, ys = _sensor_to_board(lens, px[None, :], py[:, None], pitch_mm)
    bx, by = np.broadcast_arrays(bx, by)
    rgb = radiance(bx, by).reshape(h, ss, w, ss, 3).mean(axis=(1, 3))
    response = physics.camera_response(
        tuning.neutral_rb(colour_temperature), tuning.ccm(colour_temperature)
    )
    cam = rgb @ response.T
    sigma = lens.blur_sigma_px(pitch_mm) * (w / cw)
    if sigma > 0.3:
        ndimage.gaussian_filter(cam, sigma=(sigma, sigma, 0), output=cam, mode="nearest")
    centre_x = x0 + (np.arange(w, dtype=np.float32) + 0.5) * (cw / w)
    centre_y = y0 + (np.arange(h, dtype=np.float32) + 0.5) * (ch / h)
    _, _, xs, ys = _sensor_to_board(lens, centre_x[None, :], centre_y[:, None], pitch_mm)
    cam *= lens.vignetting(xs, ys)[..., None]
    planes = np.ascontiguousarray(np.moveaxis(cam, -1, 0))
    planes.setflags(write=False)
    return planes
