"""Colour pops, mrig's develop against LibRaw AHD, darktable and RawTherapee (each with its
defaults) on the same DNG, counted by ``tests.other_cameras.count_pops``: a pixel whose R−G or
B−G stands out from all eight neighbours' by more than 24 levels.

Two kinds of frame:

- dark strokes on paper, synthetic (tests/other_cameras.py ``strokes_frame``), three seeds;
- a real raw: ``../shared/data/real_raw/test.RAW`` (fast-openISP's, MIT; an unknown camera,
  1920×1080, 10-bit RGGB, black 0, white 1020: a test chart with resolution targets, text and
  the lens's own colour fringes). It is written as a DNG with the Nikon D700's matrix (any
  plausible one: pops are a demosaic's, not the colour's), a grey-world AsShotNeutral and a
  BaselineExposure of 0 (LibRaw reads none), then counted on the whole frame and on five 384×384
  crops of its resolution targets. Its noise, measured from the picture, is below what mrig's
  noise reduction acts on, so "NR off" and "NR normal" are the same picture there.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import numpy as np

from tests.bench.__main__ import SHARED_DATA

REAL_RAW = SHARED_DATA / "real_raw" / "test.RAW"
#: Centres (row, column) of the real raw's resolution targets.
TARGETS = ((230, 330), (200, 1500), (540, 920), (910, 340), (880, 1510))
CROP = 384


def _ours(dng: Path) -> dict[str, int]:
    from isp.dng import read_dng
    from isp.dng_develop import colour_for
    from isp.render import develop
    from isp.tuning import default_tuning
    from tests.other_cameras import count_pops

    image = read_dng(dng)
    colour = colour_for(image, tuning=default_tuning())
    out = {}
    for setting in ("off", "normal"):
        options = {**colour.develop_options(), "noise_reduction": setting}
        out[f"mrig NR {setting}"] = count_pops(develop(image.raw, **options))
    return out


def _real_dng(mosaic: np.ndarray, path: Path, neutral: np.ndarray) -> Path:
    from firmware.capture.tiff import SRATIONAL
    from tests.other_cameras import NIKON, Shot, write_dng

    shot = Shot(mosaic, "RGGB", 0, 1020, 10, neutral, (0.31271, 0.32902), NIKON)
    return write_dng(path, shot, extra={50730: (SRATIONAL, [(0, 100)])})


def real_raw() -> None:
    from isp.dng import read_dng
    from isp.dng_develop import auto_neutral
    from tests.test_isp_pops import _editors

    if not REAL_RAW.exists():
        print(f"real raw: {REAL_RAW} not found, skipped")
        return
    mosaic = np.fromfile(REAL_RAW, "<u2").reshape(1080, 1920)
    totals: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        whole = _real_dng(mosaic, Path(tmp) / "neutral.dng", np.ones(3))
        neutral = auto_neutral(read_dng(whole))
        frames = {"whole frame": mosaic}
        for cy, cx in TARGETS:
            y0, x0 = (cy - CROP // 2) // 2 * 2, (cx - CROP // 2) // 2 * 2
            frames[f"crop at ({cy}, {cx})"] = mosaic[y0 : y0 + CROP, x0 : x0 + CROP]
        for name, frame in frames.items():
            folder = Path(tmp) / name.replace(" ", "_")
            folder.mkdir()
            dng = _real_dng(frame, folder / "real.dng", neutral)
            counts = {**_ours(dng), **_editors(dng, folder)}
            if name != "whole frame":
                for k, v in counts.items():
                    totals[k] = totals.get(k, 0) + v
            print(f"real raw, {name}: pops " + ", ".join(f"{k} {v}" for k, v in counts.items()), flush=True)
    print("real raw, five crops together: pops " + ", ".join(f"{k} {v}" for k, v in totals.items()))


def strokes() -> None:
    from firmware.capture.dng import encode_dng
    from firmware.capture.shot import ShotInfo
    from isp.render import develop
    from isp.tuning import default_tuning
    from tests.other_cameras import count_pops, strokes_frame
    from tests.test_isp_pops import _editors

    for seed in (0, 1, 2):
        raw = strokes_frame(seed=seed)
        with tempfile.TemporaryDirectory() as tmp:
            dng = Path(tmp) / "strokes.dng"
            dng.write_bytes(bytes(encode_dng(raw, ShotInfo(raw.metadata, dt.datetime(2026, 12, 5)),
                                             default_tuning())))
            theirs = _editors(dng, Path(tmp))
        ours = {f"mrig NR {s}": count_pops(develop(raw, lens_shading=False, noise_reduction=s))
                for s in ("off", "normal")}
        ours["mrig bilinear"] = count_pops(develop(raw, lens_shading=False, noise_reduction="off",
                                                   demosaic_method="bilinear"))
        row = ", ".join(f"{k} {v}" for k, v in {**ours, **theirs}.items())
        print(f"strokes seed {seed} (640x480): pops {row}", flush=True)


def main() -> None:
    strokes()
    real_raw()


if __name__ == "__main__":
    main()
