"""Request and response bodies of the live-view routes (``/api/live``, ``/api/magnify``).

The response models document the JSON that :meth:`~firmware.live.analysis.LiveSnapshot.json`
writes (it is serialised once per frame and shared, not built through pydantic per request);
the tests validate real answers against them so the documentation stays true.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from firmware.live.analysis import AnalysisOptions


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class LiveOptionsPatch(_Strict):
    """Analysis options to change; omitted fields keep their value."""

    focus_x: float | None = Field(None, ge=0.0, le=1.0, description="Focus patch centre, 0 left")
    focus_y: float | None = Field(None, ge=0.0, le=1.0, description="Focus patch centre, 0 top")
    focus_size: float | None = Field(
        None, ge=0.05, le=0.5, description="Focus patch side, fraction of the frame width"
    )
    highlight_ignore_percent: float | None = Field(
        None, ge=0.0, le=5.0, description="Share of raw pixels ETTR lets clip (speculars), %"
    )

    def apply_to(self, current: AnalysisOptions) -> AnalysisOptions:
        return current.replace(**self.model_dump(exclude_none=True))


class LiveOptions(BaseModel):
    focus_x: float
    focus_y: float
    focus_size: float
    highlight_ignore_percent: float

    @classmethod
    def of(cls, o: AnalysisOptions) -> LiveOptions:
        return cls(
            focus_x=o.focus_x,
            focus_y=o.focus_y,
            focus_size=o.focus_size,
            highlight_ignore_percent=o.highlight_ignore_percent,
        )


class MagnifyRequest(_Strict):
    """Punch in ``factor`` × around ``(x, y)``, a point of the unmagnified frame (0..1)."""

    factor: Literal[1, 2, 5, 10] = Field(description="1 shows the whole field")
    x: float = Field(0.5, ge=0.0, le=1.0, description="Centre, fraction of the width (0 left)")
    y: float = Field(0.5, ge=0.0, le=1.0, description="Centre, fraction of the height (0 top)")


class MagnifyState(BaseModel):
    """The punch-in in force; ``x``/``y`` is the centre after moving it inside the field."""

    factor: float
    x: float
    y: float
    scaler_crop: tuple[int, int, int, int] | None
    field: tuple[int, int, int, int] = Field(
        description="The unmagnified field (the sensor mode's crop), full-resolution pixels"
    )
    sensor_mode: str = Field(
        description="The mode the live view reads: full resolution while magnified, so the "
        "punch-in shows the sensor's own pixels"
    )


class Histograms(BaseModel):
    bins: Literal[256]
    samples: int
    r: list[int]
    g: list[int]
    b: list[int]
    luma: list[int]


class RawHistograms(BaseModel):
    bin_width_ev: float
    range_ev: float
    samples: int
    black_level: int
    white_level: int
    bayer_order: str
    channels: dict[Literal["R", "G1", "G2", "B"], list[int]]


class EttrDetail(BaseModel):
    limited_by: str
    overexposed: bool
    highlight_ev: dict[str, float]
    highlight_ignore_percent: float
    headroom_ev: float


class FocusDetail(BaseModel):
    x: float
    y: float
    size: float
    method: str


class MeterDetail(BaseModel):
    """The light meter (firmware/live/meter.py): stops over (+) or under (−) where automatic
    exposure would put the frame, by metering mode; spot around ``spot`` (the tapped point)."""

    ev: dict[Literal["centre", "spot", "matrix"], float]
    spot: tuple[float, float]
    y_target: float


class ExposureMap(BaseModel):
    width: int
    height: int
    steps_per_ev: int
    encoding: str
    data: str


class LiveBody(BaseModel):
    """The analysis of the newest frame (``firmware/live/README.md`` has the details)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    sequence: int
    sensor_sequence: int | None = None
    sensor_timestamp_ns: int
    exposure_time_us: int
    analogue_gain: float
    iso: int
    colour_gains: tuple[float, float]
    colour_temperature: int
    scaler_crop: tuple[int, int, int, int] | None
    frame_size: tuple[int, int]
    histogram: Histograms
    raw_histogram: RawHistograms
    clipping: dict[Literal["R", "G1", "G2", "B"], float]
    clip_margin_ev: float
    ettr_ev: float
    ettr: EttrDetail
    focus_measure: float
    focus: FocusDetail
    meter: MeterDetail
    analysis_ms: dict[str, float]
    exposure_map: ExposureMap | None = None
