"""One preview frame in, one :class:`LiveSnapshot` out: every live-view figure, in a fixed order.

The stages (:data:`STAGES`) each read a subsample of the frame; their cost is timed per frame
so ``/api/live`` and the benchmark can say where the time goes.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
import time

import numpy as np

from firmware.live import exposure, focus, histogram, meter
from hal.camera import PreviewFrame

#: Samples per row the histograms aim for: enough for a 256-bin histogram, cheap to count.
HISTOGRAM_SAMPLES_PER_ROW = 320

STAGES = ("histogram", "raw_histogram", "ettr", "focus", "meter", "exposure_map")
"""The analysis stages in the order :func:`analyse` runs them."""


@dataclasses.dataclass(frozen=True)
class AnalysisOptions:
    """What the photographer can choose about the analysis (``PATCH /api/live/options``)."""

    focus_x: float = 0.5
    """Centre of the focus-meter patch, fraction of the frame width (0 left, 1 right)."""
    focus_y: float = 0.5
    """Centre of the focus-meter patch, fraction of the frame height (0 top, 1 bottom)."""
    focus_size: float = focus.FOCUS_SIZE
    """Side of the focus-meter patch, fraction of the frame width."""
    highlight_ignore_percent: float = exposure.HIGHLIGHT_IGNORE_PERCENT
    """Share of each raw channel ETTR lets clip (specular glints), percent."""

    def replace(self, **changes: float) -> AnalysisOptions:
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True, eq=False)
class LiveSnapshot:
    """The analysis of one preview frame. :meth:`json` is made once and shared by all readers."""

    frame: PreviewFrame
    options: AnalysisOptions
    histogram: dict[str, np.ndarray]
    histogram_samples: int
    raw_histogram: dict[str, np.ndarray]
    raw_samples: int
    clipping: dict[str, float]
    ettr: exposure.Ettr
    focus_measure: float
    meter_ev: dict[str, float]
    exposure_map: np.ndarray
    cost_ms: dict[str, float]
    _json: dict = dataclasses.field(default_factory=dict, repr=False)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    @property
    def sequence(self) -> int:
        return self.frame.metadata.sequence

    def as_dict(self, *, include_map: bool = True) -> dict:
        """The JSON body of ``GET /api/live`` (see ``firmware/live/README.md``)."""
        m = self.frame.metadata
        raw = self.frame.raw
        body = {
            "sequence": m.sequence,
            "sensor_sequence": m.sensor_sequence,
            "sensor_timestamp_ns": m.sensor_timestamp_ns,
            "exposure_time_us": m.exposure_time_us,
            "analogue_gain": round(m.analogue_gain, 4),
            "iso": m.iso,
            "colour_gains": [round(g, 4) for g in m.colour_gains],
            "colour_temperature": m.colour_temperature,
            "scaler_crop": list(m.scaler_crop) if m.scaler_crop else None,
            "frame_size": [int(self.frame.rgb.shape[1]), int(self.frame.rgb.shape[0])],
            "histogram": {
                "bins": 256,
                "samples": self.histogram_samples,
                **{k: v.tolist() for k, v in self.histogram.items()},
            },
            "raw_histogram": {
                "bin_width_ev": histogram.RAW_BIN_WIDTH_EV,
                "range_ev": histogram.RAW_RANGE_EV,
                "samples": self.raw_samples,
                "black_level": raw.black_level,
                "white_level": raw.white_level,
                "bayer_order": raw.bayer_order,
                "channels": {k: v.tolist() for k, v in self.raw_histogram.items()},
            },
            "clipping": {k: round(v, 6) for k, v in self.clipping.items()},
            "clip_margin_ev": histogram.CLIP_MARGIN_EV,
            "ettr_ev": round(self.ettr.ev, 3),
            "ettr": {
                "limited_by": self.ettr.limited_by,
                "overexposed": self.ettr.overexposed,
                "highlight_ev": self.ettr.highlight_ev,
                "highlight_ignore_percent": self.options.highlight_ignore_percent,
                "headroom_ev": exposure.ETTR_HEADROOM_EV,
            },
            "focus_measure": round(self.focus_measure, 6),
            "focus": {
                "x": self.options.focus_x,
                "y": self.options.focus_y,
                "size": self.options.focus_size,
                "method": "variance of Laplacian, raw green",
            },
            "meter": {
                "ev": {k: round(v, 3) for k, v in self.meter_ev.items()},
                "spot": [self.options.focus_x, self.options.focus_y],
                "y_target": meter.Y_TARGET,
            },
            "analysis_ms": {k: round(v, 3) for k, v in self.cost_ms.items()},
        }
        if include_map:
            h, w = self.exposure_map.shape
            body["exposure_map"] = {
                "width": w,
                "height": h,
                "steps_per_ev": exposure.MAP_STEPS_PER_EV,
                "encoding": "base64 uint8, row-major",
                "data": base64.b64encode(self.exposure_map.tobytes()).decode("ascii"),
            }
        return body

    def json(self, *, include_map: bool = True) -> bytes:
        """:meth:`as_dict` serialised, cached: every viewer of this frame shares one encode."""
        with self._lock:
            cached = self._json.get(include_map)
            if cached is None:
                cached = json.dumps(
                    self.as_dict(include_map=include_map), separators=(",", ":")
                ).encode()
                self._json[include_map] = cached
            return cached


def analyse(frame: PreviewFrame, options: AnalysisOptions | None = None) -> LiveSnapshot:
    """Run every stage on ``frame``; see :data:`STAGES` and the stage modules."""
    options = options or AnalysisOptions()
    raw = frame.raw
    black, white = raw.black_level, raw.white_level
    cost: dict[str, float] = {}
    clock = time.perf_counter_ns

    t = clock()
    stride = histogram.sample_stride(frame.rgb.shape[1], HISTOGRAM_SAMPLES_PER_ROW)
    rgb_hist = histogram.rgb_histograms(frame.rgb, stride)
    cost["histogram"] = (clock() - t) / 1e6

    t = clock()
    raw_stride = histogram.sample_stride(raw.data.shape[1] // 2, HISTOGRAM_SAMPLES_PER_ROW)
    dn_hists = histogram.raw_dn_histograms(raw, raw_stride)
    raw_hist = {c: histogram.raw_ev_histogram(h, black, white) for c, h in dn_hists.items()}
    clipping = {c: histogram.clipped_fraction(h, black, white) for c, h in dn_hists.items()}
    cost["raw_histogram"] = (clock() - t) / 1e6

    t = clock()
    hint = exposure.ettr(dn_hists, black, white, options.highlight_ignore_percent)
    cost["ettr"] = (clock() - t) / 1e6

    t = clock()
    sharpness = focus.focus_measure(raw, options.focus_x, options.focus_y, options.focus_size)
    cost["focus"] = (clock() - t) / 1e6

    t = clock()
    # Spot metering where the photographer tapped: the focus patch's centre.
    readings = meter.readings(raw, frame.metadata.colour_gains, (options.focus_x, options.focus_y))
    cost["meter"] = (clock() - t) / 1e6

    t = clock()
    headroom = exposure.exposure_map(raw)
    cost["exposure_map"] = (clock() - t) / 1e6

    return LiveSnapshot(
        frame=frame,
        options=options,
        histogram=rgb_hist,
        histogram_samples=int(rgb_hist["luma"].sum()),
        raw_histogram=raw_hist,
        raw_samples=int(next(iter(dn_hists.values())).sum()),
        clipping=clipping,
        ettr=hint,
        focus_measure=sharpness,
        meter_ev=readings,
        exposure_map=headroom,
        cost_ms=cost,
    )
