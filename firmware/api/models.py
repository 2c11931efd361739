"""Request and response bodies. Ranges come from the IMX477's limits, so an out-of-range value is
a 422 naming the field and the allowed range and never reaches the camera."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from hal import imx477
from hal.camera import Controls, FrameMetadata

EXPOSURE_MIN_US, EXPOSURE_MAX_US = imx477.EXPOSURE_TIME_US_RANGE
GAIN_MIN, GAIN_MAX = imx477.ANALOGUE_GAIN_RANGE
ColourGain = Annotated[float, Field(ge=0.25, le=8.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ControlsPatch(_Strict):
    """Controls to change; omitted fields keep their value.

    ``exposure_priority`` picks what automatic exposure may change: ``"auto"`` (program, or
    aperture priority: an M lens's aperture is on its ring), ``"shutter"`` (``exposure_time_us``
    is held, the gain follows the light) or ``"iso"`` (``analogue_gain`` is held).

    Setting ``exposure_time_us`` or ``analogue_gain`` without ``ae_enable`` switches to manual
    exposure, as turning a shutter dial on a manual camera does, unless automatic exposure is
    on with that value held by the priority (then only the held value changes). Setting
    ``colour_gains`` or ``colour_temperature`` without ``awb_enable`` switches to manual white
    balance. The response says what was done.
    """

    exposure_time_us: int | None = Field(
        None, ge=EXPOSURE_MIN_US, le=EXPOSURE_MAX_US, description="Shutter time, µs"
    )
    analogue_gain: float | None = Field(
        None, ge=GAIN_MIN, le=GAIN_MAX, description="Sensor gain; ISO = 100 × gain"
    )
    ae_enable: bool | None = None
    exposure_priority: Literal["auto", "shutter", "iso"] | None = None
    ev: float | None = Field(None, ge=-8.0, le=8.0, description="Exposure compensation, stops")
    metering: Literal["centre", "spot", "matrix"] | None = None
    awb_enable: bool | None = None
    awb_mode: (
        Literal["auto", "incandescent", "tungsten", "fluorescent", "indoor", "daylight", "cloudy"]
        | None
    ) = None
    colour_gains: tuple[ColourGain, ColourGain] | None = Field(
        None, description="Red and blue gains for manual white balance"
    )
    ae_lock: bool | None = Field(
        None, description="AEL: keep the exposure automatic exposure chose for the latest frame "
        "(until unlocked, or exposure is set by hand)")
    awb_lock: bool | None = Field(
        None, description="Keep the white balance AWB chose for the latest frame (until "
        "unlocked, or white balance is set by hand)")

    def apply_to(self, current: Controls) -> Controls:
        changes = self.model_dump(exclude_none=True, exclude={"ae_lock", "awb_lock"})
        if "colour_gains" in changes:
            changes["colour_gains"] = tuple(changes["colour_gains"])
        if "ae_enable" not in changes:
            priority = changes.get("exposure_priority", current.exposure_priority)
            held = {"shutter": "exposure_time_us", "iso": "analogue_gain"}.get(priority)
            auto_kept = current.ae_enable or "exposure_priority" in changes
            manual = {"exposure_time_us", "analogue_gain"} & changes.keys()
            if manual and not (auto_kept and manual == {held}):
                changes["ae_enable"] = False
            elif "exposure_priority" in changes:
                changes["ae_enable"] = True
        if "colour_gains" in changes and "awb_enable" not in changes:
            changes["awb_enable"] = False
        return current.replace(**changes)


class FrameInfo(BaseModel):
    """What the camera actually did for the latest frame (AE and AWB decide it in auto)."""

    sequence: int
    sensor_sequence: int | None = None
    """The frame's own number as the camera counts it since it started."""
    exposure_time_us: int
    analogue_gain: float
    iso: int
    colour_gains: tuple[float, float]
    colour_temperature: int
    frame_duration_us: int
    lux: float | None = None
    sensor_temperature_c: float | None = None

    @classmethod
    def of(cls, m: FrameMetadata) -> FrameInfo:
        return cls(
            sequence=m.sequence,
            sensor_sequence=m.sensor_sequence,
            exposure_time_us=m.exposure_time_us,
            analogue_gain=round(m.analogue_gain, 3),
            iso=m.iso,
            colour_gains=(round(m.colour_gains[0], 4), round(m.colour_gains[1], 4)),
            colour_temperature=m.colour_temperature,
            frame_duration_us=m.frame_duration_us,
            lux=m.lux,
            sensor_temperature_c=m.sensor_temperature_c,
        )


class ControlsState(BaseModel):
    """The requested controls and what the latest frame used."""

    ae_enable: bool
    exposure_priority: str
    exposure_time_us: int
    analogue_gain: float
    ev: float
    metering: str
    awb_enable: bool
    awb_mode: str
    colour_gains: tuple[float, float]
    ae_lock: bool
    """AEL is on: automatic exposure holds the exposure it had chosen."""
    awb_lock: bool
    """AWB lock is on: automatic white balance holds the gains it had chosen."""
    held: list[str]
    """Every reason exposure or white balance is held now: ``ae_lock``, ``awb_lock``,
    ``magnify`` (a punch-in never re-meters)."""
    actual: FrameInfo | None

    @classmethod
    def of(cls, c: Controls, latest: FrameMetadata | None,
           holds: dict[str, tuple[bool, bool]] | None = None) -> ControlsState:
        holds = holds or {}
        return cls(
            ae_lock="ae_lock" in holds,
            awb_lock="awb_lock" in holds,
            held=sorted(holds),
            ae_enable=c.ae_enable,
            exposure_priority=c.exposure_priority,
            exposure_time_us=c.exposure_time_us,
            analogue_gain=c.analogue_gain,
            ev=c.ev,
            metering=c.metering,
            awb_enable=c.awb_enable,
            awb_mode=c.awb_mode,
            colour_gains=c.colour_gains,
            actual=FrameInfo.of(latest) if latest else None,
        )


class LensRings(_Strict):
    """The simulated lens's rings (virtual camera), turned by hand on a real M lens."""

    focus_distance_m: float | None = Field(None, ge=0.3, le=1000.0)
    f_number: float | None = Field(None, ge=0.7, le=64.0)


class SceneLight(_Strict):
    """The simulated scene's light (virtual camera), for trying the camera in other conditions."""

    lux: float | None = Field(None, ge=0.01, le=200_000.0)
    colour_temperature: float | None = Field(None, ge=2000.0, le=10_000.0)


class RigPower(_Strict):
    """The simulated rig's power and heat (virtual camera): what a Pi's firmware and a UPS
    board would report."""

    undervoltage_now: bool | None = None
    undervoltage_since_boot: bool | None = None
    throttled_now: bool | None = None
    throttled_since_boot: bool | None = None
    cpu_temperature_c: float | None = Field(None, ge=-20.0, le=110.0)
    battery_percent: float | None = Field(None, ge=0.0, le=100.0)
    battery_charging: bool | None = None
