"""The IMX477 as the kernel driver and libcamera's camera helper present it: modes, line timing,
exposure and gain quantisation, control delays.

Every figure is cited in ``hal/virtual/SOURCES.md`` (kernel ``drivers/media/i2c/imx477.c``,
libcamera ``src/ipa/rpi/cam_helper/cam_helper_imx477.cpp`` and ``cam_helper.cpp``).
"""

from __future__ import annotations

import dataclasses
import math

#: Pixel rate of every mode, pixels per second (imx477.c ``IMX477_PIXEL_RATE``).
PIXEL_RATE_HZ = 840_000_000
#: Largest frame length the register takes, lines (``IMX477_FRAME_LENGTH_MAX``).
FRAME_LENGTH_MAX = 0xFFDC
#: Longest-exposure shift: frame length and exposure scale by up to 2^7
#: (``IMX477_LONG_EXP_SHIFT_MAX``).
LONG_EXPOSURE_SHIFT_MAX = 7
#: The longest line, pixels (``IMX477_LINE_LENGTH_MAX`` 0xfff0; the register is 16 bits). The
#: driver gives HBLANK this as its maximum instead of this minus the width, so libcamera
#: computes longer frames (694 s in the full mode) than the register can hold: a line over
#: 0xffff wraps. We advertise what the sensor can do: 0xfff0 × 65500 × 2^7 / 840 MHz.
LINE_LENGTH_MAX = 0xFFF0
#: Lines a frame needs beyond its exposure (``IMX477_EXPOSURE_OFFSET``; the camera helper's
#: ``frameIntegrationDiff``).
EXPOSURE_OFFSET_LINES = 22
#: Shortest exposure in lines (``IMX477_EXPOSURE_MIN``).
EXPOSURE_MIN_LINES = 4
#: Analogue gain register range (``IMX477_ANA_GAIN_MIN``/``MAX``); gain = 1024 / (1024 - code).
GAIN_CODE_MIN, GAIN_CODE_MAX = 0, 978
#: Black level at 12 bits (``IMX477_BLACK_LEVEL_DEFAULT``), i.e. 4096 on libcamera's 16-bit scale.
BLACK_LEVEL_12BIT = 256
#: Frames after which a value written to the sensor takes effect: CamHelperImx477::getDelays.
EXPOSURE_DELAY, GAIN_DELAY, VBLANK_DELAY = 2, 2, 3
#: FrameDurationLimits when the application sets none: 33.3 ms to 250 s (libcamera
#: ipa_base.cpp ``defaultMinFrameDuration``, ``defaultMaxFrameDuration``).
DEFAULT_FRAME_DURATION_LIMITS_US = (33_333, 250_000_000)
#: Frames the IPA marks as startup frames (FrameMetadata status FrameStartup) after the first
#: start with AE and AWB on: AGC 6 + 1 and AWB 3 + 1 convergence frames (ipa_base.cpp), which
#: picamera2 drops (it keeps only status Success). None after later starts (mode switches).
STARTUP_FRAMES = 7
#: How long libcamera's start and a mode switch take before the first frame is exposed. On a
#: Pi 5 with the HQ camera the first frame after picamera2's ``switch_mode`` arrives 500-700 ms
#: after asking (raspberrypi/picamera2 issue #1062); the startup frames are part of that.
START_LATENCY_S = 0.30


@dataclasses.dataclass(frozen=True)
class ModeSpec:
    """One of the driver's modes (``imx477.c`` ``supported_modes_12bit``/``_10bit``)."""

    size: tuple[int, int]
    bit_depth: int
    crop: tuple[int, int, int, int]
    binning: int
    line_length_px: int
    frame_length_min: int

    @property
    def line_time_ns(self) -> float:
        return self.line_length_px * 1e9 / PIXEL_RATE_HZ

    @property
    def min_frame_duration_us(self) -> int:
        return round(self.frame_length_min * self.line_time_ns / 1000)

    @property
    def max_fps(self) -> float:
        return 1e6 / self.min_frame_duration_us

    def exposure_us(self, lines: int) -> float:
        return lines * self.line_time_ns / 1000

    def clamp_limits(self, limits_us: tuple[int, int] | None) -> tuple[int, int]:
        """FrameDurationLimits within what the mode can do; libcamera's default when unset
        (33.3 ms to 250 s: ipa_base.cpp defaultMinFrameDuration/defaultMaxFrameDuration)."""
        lo, hi = limits_us or DEFAULT_FRAME_DURATION_LIMITS_US
        lo = min(max(lo, self.min_frame_duration_us), self.max_frame_duration_us)
        return lo, min(max(hi, lo), self.max_frame_duration_us)

    def timing(self, exposure_us: float, limits_us: tuple[int, int]) -> tuple[int, int, int]:
        """``(exposure_lines, frame_lines, line_length_px)`` for an exposure within the frame
        duration limits, as libcamera's IPA and camera helper set the sensor:

        - the exposure is clipped to the longest frame minus the 22-line offset (AGC
          ``limitExposureTime`` with the maximum from FrameDurationLimits; ``applyAGC``);
        - the frame is the exposure plus the offset, no shorter than the minimum duration and
          no longer than the maximum (``CamHelper::getBlanking``);
        - beyond the longest frame the register can hold (0xffdc lines × 2^7) the line is
          lengthened instead (HBLANK), up to 0xfff0 pixels;
        - a frame longer than 0xffdc lines is written shifted (imx477.c long-exposure mode),
          so it and its exposure come in steps of 2^shift lines.
        """
        lo, hi = limits_us
        line_px = self.line_length_px
        ns_per_px = 1e9 / PIXEL_RATE_HZ
        longest_lines = FRAME_LENGTH_MAX << LONG_EXPOSURE_SHIFT_MAX
        exposure_px = min(exposure_us * 1000, hi * 1000) / ns_per_px
        if exposure_px / line_px > longest_lines - EXPOSURE_OFFSET_LINES:
            line_px = min(LINE_LENGTH_MAX, math.ceil(
                exposure_px / (longest_lines - EXPOSURE_OFFSET_LINES)))
        line_ns = line_px * ns_per_px
        lines_hi = max(int(hi * 1000 / line_ns), self.frame_length_min)
        exposure_lines = int(exposure_us * 1000 / line_ns)
        exposure_lines = max(EXPOSURE_MIN_LINES,
                             min(exposure_lines, lines_hi - EXPOSURE_OFFSET_LINES))
        frame = max(exposure_lines + EXPOSURE_OFFSET_LINES, math.ceil(lo * 1000 / line_ns),
                    self.frame_length_min)
        frame = min(frame, longest_lines)
        shift = 0
        while (frame >> shift) > FRAME_LENGTH_MAX:
            shift += 1
        if shift:
            step = 1 << shift
            frame = -(-frame // step) * step
            exposure_lines = exposure_lines // step * step
        return exposure_lines, frame, line_px

    @property
    def max_frame_duration_us(self) -> int:
        """The longest frame the driver can make: 16-bit line length × maximum frame length ×
        the long-exposure factor, at the pixel rate (see ``hal/virtual/SOURCES.md``)."""
        return int(LINE_LENGTH_MAX * FRAME_LENGTH_MAX * (1 << LONG_EXPOSURE_SHIFT_MAX)
                   * 1e6 / PIXEL_RATE_HZ)

    @property
    def max_exposure_us(self) -> int:
        lines = FRAME_LENGTH_MAX * (1 << LONG_EXPOSURE_SHIFT_MAX) - EXPOSURE_OFFSET_LINES
        return int(lines * LINE_LENGTH_MAX * 1e6 / PIXEL_RATE_HZ)

    @property
    def min_exposure_us(self) -> int:
        return math.ceil(self.exposure_us(EXPOSURE_MIN_LINES))


#: The HQ camera's four modes, largest last (imx477.c). Crops are in the full array.
MODES: tuple[ModeSpec, ...] = (
    ModeSpec((1332, 990), 10, (696, 528, 2664, 1980), 2, 6664, 1050),
    ModeSpec((2028, 1080), 12, (0, 440, 4056, 2160), 2, 12740, 1318),
    ModeSpec((2028, 1520), 12, (0, 0, 4056, 3040), 2, 12740, 1648),
    ModeSpec((4056, 3040), 12, (0, 0, 4056, 3040), 1, 24000, 3500),
)
PIXEL_ARRAY_SIZE = (4056, 3040)
#: The active area inside the full pixel array (properties::PixelArrayActiveAreas).
ACTIVE_AREA = (8, 16, 4056, 3040)
UNIT_CELL_NM = (1550, 1550)


def gain_code(gain: float) -> int:
    """``CamHelperImx477::gainCode``: the register value for an analogue gain (truncated)."""
    code = int(1024 - 1024 / max(gain, 1.0))
    return min(max(code, GAIN_CODE_MIN), GAIN_CODE_MAX)


def gain_of_code(code: int) -> float:
    """``CamHelperImx477::gain``."""
    return 1024.0 / (1024 - code)


MAX_ANALOGUE_GAIN = gain_of_code(GAIN_CODE_MAX)


def mode_for(size: tuple[int, int], bit_depth: int) -> ModeSpec | None:
    for mode in MODES:
        if mode.size == tuple(size) and mode.bit_depth == bit_depth:
            return mode
    return None
