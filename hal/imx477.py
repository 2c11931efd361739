"""Facts about the Sony IMX477 in the Raspberry Pi HQ Camera, as the Pi's driver exposes it.

Sources: Sony IMX477 product brief; ``rpicam-hello --list-cameras`` on a Pi (modes, crops,
frame rates); libcamera's ``imx477.json`` tuning (black level 4096 on a 16-bit scale);
the kernel driver's exposure and gain limits (114 µs at full resolution; analogue gain 1.0 to
22.26). The longest exposure is what the driver's registers can hold: a line of at most
0xfff0 pixels (``IMX477_LINE_LENGTH_MAX``) × 65500 lines (``IMX477_FRAME_LENGTH_MAX``) × 2^7
(``IMX477_LONG_EXP_SHIFT_MAX``) at 840 MHz is 653.95 s, less the 22-line exposure offset
(see :mod:`hal.virtual.driver` and ``hal/virtual/SOURCES.md``). Noise figures: Jim Hogan, "Pi HQ Cam Sensor Performance"
(full well ≈ 8180 e⁻, 0.47 DN/e⁻ at unity analogue gain, read noise ≈ 3 e⁻).
"""

from __future__ import annotations

from hal.camera import BayerOrder, SensorInfo, SensorMode

MODEL = "imx477"
PIXEL_SIZE_UM = 1.55
ACTIVE_ARRAY = (4056, 3040)
BLACK_LEVEL_16BIT = 4096
EXPOSURE_TIME_US_RANGE = (114, 653_950_000)
ANALOGUE_GAIN_RANGE = (1.0, 22.26)

FULL_WELL_E = 8180.0
CONVERSION_GAIN_DN_PER_E = 0.47
READ_NOISE_E = 3.0

#: Pixels above the exposure the sensor needs per frame (line time × blanking), so the frame
#: duration of a long exposure is a little longer than the exposure itself.
FRAME_OVERHEAD_US = 2_000


def modes(bayer_order: BayerOrder = "BGGR") -> tuple[SensorMode, ...]:
    """The four modes of the HQ camera. libcamera reads the module rotated, hence BGGR."""
    return (
        SensorMode((1332, 990), 10, bayer_order, 120.05, (696, 528, 2664, 1980), 2),
        SensorMode((2028, 1080), 12, bayer_order, 50.03, (0, 440, 4056, 2160), 2),
        SensorMode((2028, 1520), 12, bayer_order, 40.01, (0, 0, 4056, 3040), 2),
        SensorMode((4056, 3040), 12, bayer_order, 10.00, (0, 0, 4056, 3040), 1),
    )


def sensor_info(bayer_order: BayerOrder = "BGGR") -> SensorInfo:
    return SensorInfo(
        model=MODEL,
        pixel_size_um=PIXEL_SIZE_UM,
        active_array=ACTIVE_ARRAY,
        modes=modes(bayer_order),
        black_level_16bit=BLACK_LEVEL_16BIT,
        exposure_time_us_range=EXPOSURE_TIME_US_RANGE,
        analogue_gain_range=ANALOGUE_GAIN_RANGE,
    )
