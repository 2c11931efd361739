"""Demosaic quality on natural photographs, beside LibRaw's, and on McMaster-18 for comparison.

The natural photographs are the colour ones scikit-image ships (astronaut, chelsea, coffee,
motorcycle left and right: public-domain or CC0 photographs), taken from its wheel on the
package index (``pip download``) into ``bench-out/natural`` once; McMaster-18 from
``../shared/data``. Each 8-bit sRGB image is sampled to an RGGB mosaic and demosaiced back;
CPSNR over all three channels, 10-pixel border cropped (as the McMaster figures in the README).
LibRaw demosaics the same mosaic from a 16-bit DNG with its colour left raw (no matrix, unit
white balance, linear output), so only the interpolation differs.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from tests.bench.__main__ import SHARED_DATA
from tests.bench.bench_isp import _cpsnr
from tests.bench.bench_isp import _mosaic_rggb as _mosaic

OUT = Path(__file__).resolve().parents[2] / "bench-out" / "natural"
PHOTOS = ("astronaut", "chelsea", "coffee", "motorcycle_left", "motorcycle_right")


def _photos() -> dict[str, np.ndarray]:
    from PIL import Image

    OUT.mkdir(parents=True, exist_ok=True)
    if not all((OUT / f"{n}.png").exists() for n in PHOTOS):
        with tempfile.TemporaryDirectory() as tmp:
            done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                                   "scikit-image", "-d", tmp], capture_output=True, text=True)
            wheels = list(Path(tmp).glob("scikit_image-*.whl"))
            if done.returncode or not wheels:
                return {}
            with zipfile.ZipFile(wheels[0]) as z:
                for n in PHOTOS:
                    (OUT / f"{n}.png").write_bytes(z.read(f"skimage/data/{n}.png"))
    out = {}
    for n in PHOTOS:
        img = np.asarray(Image.open(OUT / f"{n}.png").convert("RGB"), np.float32) / 255
        h, w = img.shape[:2]
        out[n] = img[: h - h % 2, : w - w % 2]
    return out


def _libraw(mosaic: np.ndarray, algorithm: str, folder: Path) -> np.ndarray:
    import rawpy

    from firmware.capture.tiff import BYTE, LONG, RATIONAL, SHORT, SRATIONAL, Ifd, encode_tiff

    h, w = mosaic.shape
    ifd = Ifd()
    for tag, kind, value in ((254, LONG, 0), (256, LONG, w), (257, LONG, h), (258, SHORT, 16),
                             (259, SHORT, 1), (262, SHORT, 32803), (277, SHORT, 1), (278, LONG, h),
                             (33421, SHORT, [2, 2]), (33422, BYTE, bytes([0, 1, 1, 2])),
                             (50706, BYTE, bytes([1, 4, 0, 0])), (50714, LONG, 0),
                             (50717, LONG, 65535), (50778, SHORT, 21)):
        ifd.set(tag, kind, value)
    ifd.set(50721, SRATIONAL, [(1, 1), (0, 1), (0, 1), (0, 1), (1, 1), (0, 1), (0, 1), (0, 1), (1, 1)])
    ifd.set(50728, RATIONAL, [(1, 1), (1, 1), (1, 1)])
    ifd.data = np.round(mosaic * 65535).astype("<u2").tobytes()
    path = folder / "m.dng"
    path.write_bytes(bytes(encode_tiff(ifd)))
    with rawpy.imread(str(path)) as raw:
        rgb = raw.postprocess(demosaic_algorithm=getattr(rawpy.DemosaicAlgorithm, algorithm),
                              output_color=rawpy.ColorSpace.raw, gamma=(1, 1), no_auto_bright=True,
                              user_wb=[1, 1, 1, 1], output_bps=16, user_black=0, user_sat=65535)
    return rgb.astype(np.float32) / 65535


def _score(images: dict[str, np.ndarray], label: str) -> None:
    from isp import demosaic

    methods = {"mrig mlri": lambda m, f: demosaic(m, "RGGB"),
               "mrig bilinear": lambda m, f: demosaic(m, "RGGB", method="bilinear"),
               "LibRaw AHD": lambda m, f: _libraw(m, "AHD", f),
               "LibRaw AAHD": lambda m, f: _libraw(m, "AAHD", f)}
    scores: dict[str, list[float]] = {k: [] for k in methods}
    with tempfile.TemporaryDirectory() as tmp:
        for img in images.values():
            mosaic = _mosaic(img)
            for name, run in methods.items():
                scores[name].append(_cpsnr(run(mosaic, Path(tmp)), img))
    row = ", ".join(f"{k} {np.mean(v):.2f}" for k, v in scores.items())
    print(f"{label}: CPSNR dB, mean of {len(images)}: {row}")
    if label.startswith("natural"):
        for i, name in enumerate(images):
            print(f"  {name}: " + ", ".join(f"{k} {v[i]:.2f}" for k, v in scores.items()))


def main() -> None:
    photos = _photos()
    if photos:
        _score(photos, "natural photographs (scikit-image)")
    else:
        print("natural photographs: skipped, scikit-image's wheel could not be downloaded")
    folder = SHARED_DATA / "mcmaster18"
    files = sorted(folder.glob("*.tif"), key=lambda p: int(p.stem)) if folder.is_dir() else []
    if files:
        from PIL import Image

        _score({f.stem: np.asarray(Image.open(f).convert("RGB"), np.float32) / 255 for f in files},
               "McMaster-18")


if __name__ == "__main__":
    main()
