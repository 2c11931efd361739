"""``libcamera.controls`` enums used by the picamera2 backend."""

import enum


class AwbModeEnum(enum.IntEnum):
    Auto = 0
    Incandescent = 1
    Tungsten = 2
    Fluorescent = 3
    Indoor = 4
    Daylight = 5
    Cloudy = 6
    Custom = 7


class AeMeteringModeEnum(enum.IntEnum):
    CentreWeighted = 0
    Spot = 1
    Matrix = 2
    Custom = 3


class draft:  # libcamera spells it in lower case
    class NoiseReductionModeEnum(enum.IntEnum):
        Off = 0
        Fast = 1
        HighQuality = 2
        Minimal = 3
        ZSL = 4
