"""Colour pops on real-looking detail: dark strokes on paper (tests/other_cameras.py), mrig's
develop against LibRaw AHD/AAHD, darktable and RawTherapee on the same DNG, and the pop count
(a pixel whose R−G or B−G stands out from all eight neighbours' by more than 24 levels)."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path


def main() -> None:
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
        print(f"strokes seed {seed} (640x480): pops {row}")


if __name__ == "__main__":
    main()
