"""What a file says about its shot: camera, time, exposure and lens, as TIFF/EXIF tags.

The DNG and the JPEG's EXIF carry the same tags, built here once: :func:`ifd0_tags` for the
main IFD (camera, time, orientation) and :func:`exif_ifd` for the Exif IFD (exposure, lens).
M lenses have no electronics, so the lens comes from the manual registry
(:mod:`firmware.lenses`) as a :class:`LensTags`.

Tag numbers and types are from the EXIF 2.32 specification (CIPA DC-008-2019) and TIFF 6.0.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from firmware import optics
from firmware.capture.tiff import ASCII, RATIONAL, SHORT, UNDEFINED, Ifd, rational
from hal.camera import FrameMetadata

MAKE = "Raspberry Pi"
MODEL = "HQ Camera IMX477 (mrig)"
SOFTWARE = "mrig 0.1.0"

# TIFF / EXIF tag numbers.
MAKE_TAG, MODEL_TAG, ORIENTATION, SOFTWARE_TAG, DATETIME = 271, 272, 274, 305, 306
EXPOSURE_TIME, F_NUMBER, EXPOSURE_PROGRAM, ISO = 33434, 33437, 34850, 34855
SENSITIVITY_TYPE, EXIF_VERSION, DATETIME_ORIGINAL, DATETIME_DIGITIZED = 34864, 36864, 36867, 36868
FOCAL_LENGTH, FOCAL_LENGTH_35MM = 37386, 41989
LENS_SPECIFICATION, LENS_MAKE, LENS_MODEL = 42034, 42035, 42036
WHITE_BALANCE = 41987
OFFSET_TIME, OFFSET_TIME_ORIGINAL, OFFSET_TIME_DIGITIZED = 36880, 36881, 36882
SUBSEC_TIME, SUBSEC_TIME_ORIGINAL, SUBSEC_TIME_DIGITIZED = 37520, 37521, 37522


@dataclasses.dataclass(frozen=True)
class LensTags:
    """The mounted lens as the files describe it. ``f_number`` is where the ring is set
    (``None`` if unknown); the rest describes the lens."""

    make: str
    model: str
    focal_length_mm: float
    max_f_number: float
    min_f_number: float | None = None
    f_number: float | None = None

    def specification(self) -> list[tuple[int, int]]:
        """EXIF LensSpecification / DNG LensInfo: min and max focal length, then the
        f-numbers at each (a prime: the same focal length twice, its max aperture twice)."""
        f = rational(self.focal_length_mm)
        n = rational(self.max_f_number)
        return [f, f, n, n]


@dataclasses.dataclass(frozen=True)
class ShotInfo:
    """Everything besides pixels a capture's files record.

    ``captured_at`` is when the exposure began, on the camera's wall clock (possibly wrong on
    a Pi without RTC), to the millisecond: from the frame's SensorTimestamp when the backend
    maps it (:attr:`~hal.camera.FrameMetadata.exposure_start_unix_ns`), so the frames of a
    burst are apart by the sensor's frame time. Time-zone aware when known.
    ``orientation`` is the TIFF code: 1 upright, 3 upside down, 6 and 8 rotated.
    """

    metadata: FrameMetadata
    captured_at: dt.datetime
    lens: LensTags | None = None
    orientation: int = 1
    make: str = MAKE
    model: str = MODEL
    software: str = SOFTWARE

    @property
    def exposure_time_s(self) -> float:
        return self.metadata.exposure_time_us / 1e6

    @property
    def iso(self) -> int:
        return self.metadata.iso

    def as_dict(self) -> dict[str, object]:
        """Capture time, exposure and lens as plain values (the storage sidecar and the
        gallery use this)."""
        m = self.metadata
        return {
            "captured_at": self.captured_at.isoformat(timespec="milliseconds"),
            "exposure": {
                "exposure_time_us": m.exposure_time_us,
                "analogue_gain": m.analogue_gain,
                "iso": m.iso,
                "colour_gains": list(m.colour_gains),
                "colour_temperature": m.colour_temperature,
            },
            "lens": dataclasses.asdict(self.lens) if self.lens else None,
        }


def _exif_time(when: dt.datetime) -> str:
    return when.strftime("%Y:%m:%d %H:%M:%S")


def _subsec(when: dt.datetime) -> str:
    """SubSecTime*: the fraction of the second, milliseconds as three digits."""
    return f"{when.microsecond // 1000:03d}"


def _offset(when: dt.datetime) -> str | None:
    """OffsetTime*: the time zone as ``"+01:00"`` (Exif 2.31), or None for a naive time."""
    offset = when.utcoffset()
    if offset is None:
        return None
    minutes = round(offset.total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def exposure_rational(seconds: float) -> tuple[int, int]:
    """Exposure time as photographers write it: 1/125 for short times, 2.5/1 for long ones."""
    if seconds <= 0:
        return (0, 1)
    if seconds < 1:
        reciprocal = 1 / seconds
        if abs(reciprocal - round(reciprocal)) < 1e-3 * reciprocal:
            return (1, round(reciprocal))
        return rational(seconds, 1_000_000)
    return rational(seconds, 1000)


def ifd0_tags(ifd: Ifd, shot: ShotInfo) -> None:
    """Camera, software, time and orientation: the tags both DNG IFD0 and EXIF IFD0 carry."""
    ifd.set(MAKE_TAG, ASCII, shot.make)
    ifd.set(MODEL_TAG, ASCII, shot.model)
    ifd.set(ORIENTATION, SHORT, shot.orientation)
    ifd.set(SOFTWARE_TAG, ASCII, shot.software)
    ifd.set(DATETIME, ASCII, _exif_time(shot.captured_at))


def exif_ifd(shot: ShotInfo) -> Ifd:
    """The Exif sub-IFD: exposure time, f-number, ISO, times, focal lengths and lens."""
    exif = Ifd()
    exif.set(EXIF_VERSION, UNDEFINED, b"0232")
    exif.set(EXPOSURE_TIME, RATIONAL, [exposure_rational(shot.exposure_time_s)])
    exif.set(EXPOSURE_PROGRAM, SHORT, 1)  # manual: the aperture is the ring, not the camera
    exif.set(ISO, SHORT, min(shot.iso, 65535))
    exif.set(SENSITIVITY_TYPE, SHORT, 3)  # ISO speed (100 × analogue gain, the Pi convention)
    exif.set(DATETIME_ORIGINAL, ASCII, _exif_time(shot.captured_at))
    exif.set(DATETIME_DIGITIZED, ASCII, _exif_time(shot.captured_at))
    # Sub-second time and zone of DateTime, DateTimeOriginal and DateTimeDigitized, so the
    # frames of a burst sort in capture order in an editor (Exif 2.32 tables 9 and 10).
    for tag in (SUBSEC_TIME, SUBSEC_TIME_ORIGINAL, SUBSEC_TIME_DIGITIZED):
        exif.set(tag, ASCII, _subsec(shot.captured_at))
    offset = _offset(shot.captured_at)
    if offset is not None:
        for tag in (OFFSET_TIME, OFFSET_TIME_ORIGINAL, OFFSET_TIME_DIGITIZED):
            exif.set(tag, ASCII, offset)
    exif.set(WHITE_BALANCE, SHORT, 0)
    lens = shot.lens
    if lens is not None:
        if lens.f_number is not None:
            exif.set(F_NUMBER, RATIONAL, [rational(lens.f_number, 100)])
        exif.set(FOCAL_LENGTH, RATIONAL, [rational(lens.focal_length_mm, 100)])
        exif.set(
            FOCAL_LENGTH_35MM, SHORT, round(optics.equivalent_focal_length_mm(lens.focal_length_mm))
        )
        exif.set(LENS_SPECIFICATION, RATIONAL, lens.specification())
        exif.set(LENS_MAKE, ASCII, lens.make)
        exif.set(LENS_MODEL, ASCII, lens.model)
    return exif

