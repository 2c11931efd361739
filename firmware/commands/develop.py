"""``mrig develop``: DNG files to JPEGs with mrig's ISP.

``mrig develop IN.dng [-o OUT.jpg]`` writes one JPEG (default: beside the DNG, ``.jpg``);
``mrig develop FOLDER [-o OUTDIR]`` develops every ``*.dng`` in the folder with a progress bar
on stderr. Output is written to a temporary file in the target folder and renamed into place,
so a failure never leaves a partial JPEG. Bad input exits with status 2 and a message naming
the file and the problem.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("develop", help="develop DNG raw files to JPEG")
    p.add_argument("input", type=Path, help="a .dng file or a folder of them")
    p.add_argument("-o", "--output", type=Path, help="output .jpg (or folder, for a folder input)")
    p.add_argument("--quality", type=int, default=92, help="JPEG quality 1-100 (default 92)")
    p.add_argument(
        "--white-balance", default="frame",
        help="'frame' (as shot, default), 'auto', or a colour temperature in kelvin",
    )
    p.add_argument("--tone", choices=("srgb", "tuning"), default="srgb",
                   help="sRGB curve (default) or the tuning's rpi.contrast curve")
    p.add_argument("--tuning", type=Path, help="libcamera tuning file (default: IMX477)")
    p.add_argument("--no-lens-shading", action="store_true", help="skip lens shading correction")
    p.add_argument("--no-sharpen", action="store_true", help="skip sharpening")
    p.add_argument("--exposure", type=float, default=0.0, metavar="EV",
                   help="exposure compensation in stops, -4 to +4 (default 0)")
    p.add_argument("--noise-reduction", choices=("off", "low", "normal", "high"), default="normal",
                   help="luma and chroma noise reduction, scaled to the frame's noise "
                        "(default normal: gentle at base ISO, stronger with gain)")
    p.set_defaults(func=run)


#: Colour temperatures --white-balance takes: the span both colour sources cover (the tuning
#: interpolates its CCMs there, and the Planckian locus's formula holds from 1667 K).
KELVIN_RANGE = (1700, 20000)


def _white_balance(text: str) -> str | float:
    if text in ("frame", "auto"):
        return text
    try:
        kelvin = float(text)
    except ValueError:
        raise ValueError(f"--white-balance must be 'frame', 'auto' or kelvin, not {text!r}") from None
    if not KELVIN_RANGE[0] <= kelvin <= KELVIN_RANGE[1]:  # NaN fails too
        raise ValueError(f"--white-balance must be {KELVIN_RANGE[0]}-{KELVIN_RANGE[1]} K, got {text}")
    return kelvin


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; a photo is for sharing
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def develop_file(src: Path, dst: Path, args: argparse.Namespace) -> list[str]:
    """Develop one DNG to ``dst`` (the camera's own develop: :mod:`firmware.capture.develop`);
    raises :class:`isp.exc.IspError` on bad input. Returns what to tell the photographer: the
    colour source, then any tag that was missing or out of range."""
    from firmware.capture.develop import DevelopOptions, jpeg_from_dng

    options = DevelopOptions(
        quality=args.quality,
        white_balance=_white_balance(args.white_balance),
        tone=args.tone,
        tuning=args.tuning,
        lens_shading=not args.no_lens_shading,
        sharpening=not args.no_sharpen,
        exposure_ev=args.exposure,
        noise_reduction=args.noise_reduction,
    )
    lines: list[str] = []
    jpeg = jpeg_from_dng(src, options, report=lines.append)
    _write_atomic(dst, jpeg)
    return [f"mrig develop: {src.name}: {line}" for line in lines]


def _progress(done: int, total: int, name: str) -> None:
    width = 30
    filled = width * done // max(total, 1)
    bar = "#" * filled + "." * (width - filled)
    end = "\n" if done == total else ""
    print(f"\r[{bar}] {done}/{total} {name[:40]:<40}", end=end, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from isp.exc import IspError
    from isp.render import MAX_EXPOSURE_EV

    if not 1 <= args.quality <= 100:
        print(f"mrig develop: --quality must be 1-100, got {args.quality}", file=sys.stderr)
        return 2
    if not -MAX_EXPOSURE_EV <= args.exposure <= MAX_EXPOSURE_EV:  # NaN fails too
        print(f"mrig develop: --exposure must be between -{MAX_EXPOSURE_EV:g} and +{MAX_EXPOSURE_EV:g} "
              f"EV, got {args.exposure:g}", file=sys.stderr)
        return 2
    try:
        _white_balance(args.white_balance)
    except ValueError as e:
        print(f"mrig develop: {e}", file=sys.stderr)
        return 2
    src: Path = args.input
    if src.is_dir():
        files = sorted(p for p in src.iterdir() if p.suffix.lower() == ".dng" and p.is_file())
        if not files:
            print(f"mrig develop: {src}: no .dng files in this folder", file=sys.stderr)
            return 2
        out_dir = args.output or src
        if out_dir.exists() and not out_dir.is_dir():
            print(f"mrig develop: {out_dir}: not a folder", file=sys.stderr)
            return 2
        out_dir.mkdir(parents=True, exist_ok=True)
        failures = 0
        for i, f in enumerate(files):
            _progress(i, len(files), f.name)
            try:
                said = develop_file(f, out_dir / (f.stem + ".jpg"), args)
            except (IspError, OSError) as e:
                failures += 1
                said = [f"mrig develop: {e}"]
            if said:  # on lines of their own, where the bar was; the bar follows them
                print("\r" + " " * 80 + "\r" + "\n".join(said), file=sys.stderr)
        _progress(len(files), len(files), "done")
        return 2 if failures else 0
    if not src.exists():
        print(f"mrig develop: {src}: no such file", file=sys.stderr)
        return 2
    dst = args.output or src.with_suffix(".jpg")
    try:
        said = develop_file(src, dst, args)
    except (IspError, OSError) as e:
        print(f"mrig develop: {e}", file=sys.stderr)
        return 2
    for line in said:
        print(line, file=sys.stderr)
    return 0
