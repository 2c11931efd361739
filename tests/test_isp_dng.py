"""DNG reader on PiDNG-written files, bad input, and ``mrig develop``."""

import argparse
import os
import struct
import subprocess
import sys
import threading

import numpy as np
import pytest

pidng = pytest.importorskip("pidng")
from pidng.camdefs import RaspberryPiHqCamera  # noqa: E402
from pidng.core import CAM2DNG, RAW2DNG  # noqa: E402
from pidng.defs import CFAPattern, PhotometricInterpretation  # noqa: E402
from pidng.dng import DNGTags, Tag  # noqa: E402

from firmware.commands import develop as cmd  # noqa: E402
from isp.dng import parse_dng, read_dng  # noqa: E402
from isp.exc import RawFormatError  # noqa: E402


def hq_dng(tmp_path, data, pattern=CFAPattern.BGGR, name="hq"):
    cam = RaspberryPiHqCamera(3, pattern)
    h, w = data.shape
    for tag, v in ((Tag.ImageWidth, w), (Tag.ImageLength, h), (Tag.TileWidth, w), (Tag.TileLength, h)):
        cam.tags.set(tag, v)
    conv = CAM2DNG(cam)
    conv.options(path=str(tmp_path), compress=False)
    return tmp_path / conv.convert(data, filename=name).split("/")[-1]


def plain_dng(tmp_path, data, bits=16, cfa=CFAPattern.RGGB, photometric=None, name="plain"):
    t = DNGTags()
    h, w = data.shape
    t.set(Tag.ImageWidth, w)
    t.set(Tag.ImageLength, h)
    t.set(Tag.TileWidth, w)
    t.set(Tag.TileLength, h)
    t.set(Tag.PhotometricInterpretation, photometric or PhotometricInterpretation.Color_Filter_Array)
    t.set(Tag.SamplesPerPixel, 1)
    t.set(Tag.BitsPerSample, bits)
    t.set(Tag.CFARepeatPatternDim, [2, 2])
    t.set(Tag.CFAPattern, cfa)
    t.set(Tag.BlackLevel, 64)
    t.set(Tag.WhiteLevel, (1 << bits) - 1)
    t.set(Tag.AsShotNeutral, [[1, 2], [1, 1], [2, 3]])
    conv = RAW2DNG()
    conv.options(t, path=str(tmp_path), compress=False)
    return tmp_path / conv.convert(data, filename=name).split("/")[-1]


def test_reads_pidng_hq_camera_file(tmp_path):
    data = np.random.default_rng(0).integers(256, 4096, (48, 64), dtype=np.uint16)
    dng = read_dng(hq_dng(tmp_path, data))
    assert np.array_equal(dng.raw.data, data)
    assert dng.raw.bayer_order == "BGGR"
    assert (dng.raw.black_level, dng.raw.white_level, dng.raw.bit_depth) == (256, 4095, 12)
    assert dng.as_shot_neutral == pytest.approx((0.4, 1.0, 0.5))
    assert dng.raw.metadata.colour_gains == pytest.approx((2.5, 2.0))
    assert [c.illuminant for c in dng.profile.calibrations] == [17, 21]
    assert "High Quality" in dng.model


# 14 bits left out: PiDNG 4.0.9's pack14 packs 6 samples into 7 bytes, so its files are corrupt.
@pytest.mark.parametrize("bits", [8, 10, 12, 16])
def test_reads_plain_cfa_dng_at_each_bit_depth(tmp_path, bits):
    data = np.random.default_rng(bits).integers(0, 1 << bits, (6, 8), dtype=np.uint16)
    data[0, 0] = 64
    dng = read_dng(plain_dng(tmp_path, data, bits=bits))
    assert np.array_equal(dng.raw.data, data)
    assert dng.raw.bayer_order == "RGGB" and dng.raw.white_level == (1 << bits) - 1


def test_bad_inputs_name_the_file_and_problem(tmp_path):
    good = hq_dng(tmp_path, np.full((16, 16), 1000, np.uint16)).read_bytes()
    cases = {
        "empty.dng": (b"", "truncated"),
        "text.dng": (b"hello world, not a raw", "not a TIFF"),
        "cut.dng": (good[: len(good) // 2], "truncated"),
    }
    for name, (content, problem) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(RawFormatError, match=problem) as e:
            read_dng(path)
        assert name in str(e.value)
    rgb = plain_dng(tmp_path, np.zeros((4, 4), np.uint16), photometric=PhotometricInterpretation.Linear_Raw,
                    name="linear")
    with pytest.raises(RawFormatError, match="not a Bayer"):
        read_dng(rgb)
    with pytest.raises(RawFormatError, match="cannot read"):
        read_dng(tmp_path / "missing.dng")
    with pytest.raises(RawFormatError, match="cannot read"):
        read_dng(tmp_path)  # a folder


def test_a_dng_that_cannot_be_mapped_is_read(tmp_path):
    """Files are mapped, not read; a pipe cannot be, and gives the same frame all the same."""
    data = np.random.default_rng(3).integers(0, 4096, (16, 16), dtype=np.uint16)
    path = hq_dng(tmp_path, data)
    fifo = tmp_path / "pipe.dng"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(path.read_bytes()))
    writer.start()
    try:
        piped = read_dng(fifo)
    finally:
        writer.join()
    assert np.array_equal(piped.raw.data, read_dng(path).raw.data)


def _patch_tag(buf: bytes, tag: int, value: int) -> bytes:
    """Overwrite the first SHORT/LONG value of ``tag`` in IFD0 of a little-endian TIFF."""
    (ifd,) = struct.unpack_from("<I", buf, 4)
    (n,) = struct.unpack_from("<H", buf, ifd)
    out = bytearray(buf)
    for i in range(n):
        e = ifd + 2 + 12 * i
        t, typ, _ = struct.unpack_from("<HHI", buf, e)
        if t == tag:
            struct.pack_into("<H" if typ == 3 else "<I", out, e + 8, value)
            return bytes(out)
    raise AssertionError(f"tag {tag} not found")


def test_wrong_bit_depth_missing_tags_non_bayer(tmp_path):
    good = plain_dng(tmp_path, np.zeros((4, 4), np.uint16)).read_bytes()
    with pytest.raises(RawFormatError, match="bit depth 32"):
        parse_dng(_patch_tag(good, 258, 32), "deep.dng")
    with pytest.raises(RawFormatError, match="missing CFAPattern"):
        parse_dng(_patch_tag(good, 33422, 0).replace(b"\x8e\x82", b"\x8e\x7f", 1), "nocfa.dng")
    not_bayer = plain_dng(tmp_path, np.zeros((4, 4), np.uint16), cfa=(0, 1, 1, 0), name="odd")
    with pytest.raises(RawFormatError, match="not a Bayer pattern"):
        read_dng(not_bayer)
    with pytest.raises(RawFormatError, match="DNGVersion"):
        parse_dng(good.replace(b"\x12\xc6", b"\x00\xc6", 1), "nodngversion.dng")


def _args(path, **kw):
    ns = dict(input=path, output=None, quality=92, white_balance="frame", tone="srgb", tuning=None,
              no_lens_shading=False, no_sharpen=False, exposure=0.0, noise_reduction="normal")
    ns.update(kw)
    return argparse.Namespace(**ns)


def test_develop_command_file_and_folder(tmp_path, capsys):
    import simplejpeg

    data = np.random.default_rng(0).integers(300, 3000, (32, 48), dtype=np.uint16)
    src = hq_dng(tmp_path, data)
    assert cmd.run(_args(src)) == 0
    jpg = src.with_suffix(".jpg").read_bytes()
    assert simplejpeg.decode_jpeg(jpg).shape == (32, 48, 3)
    assert b"Exif\0\0" in jpg[:64]
    (tmp_path / "broken.dng").write_bytes(b"II*\0junk")
    out = tmp_path / "out"
    assert cmd.run(_args(tmp_path, output=out)) == 2  # one bad file in the folder
    err = capsys.readouterr().err
    assert "broken.dng" in err and "1/2" in err
    assert sorted(p.name for p in out.iterdir()) == ["hq.jpg"]  # no partial output


def test_develop_command_bad_input_exit_2_no_output(tmp_path, capsys):
    bad = tmp_path / "bad.dng"
    bad.write_bytes(b"not a dng at all")
    assert cmd.run(_args(bad, output=tmp_path / "bad.jpg")) == 2
    assert "bad.dng" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [bad]
    assert cmd.run(_args(bad, quality=0)) == 2
    assert cmd.run(_args(tmp_path / "nope.dng")) == 2
    capsys.readouterr()
    for kelvin in ("50000", "900", "nan"):
        assert cmd.run(_args(bad, white_balance=kelvin)) == 2
        assert "--white-balance must be" in capsys.readouterr().err


def test_develop_command_exposure_compensation(tmp_path, capsys):
    import simplejpeg

    data = np.full((32, 48), 900, np.uint16)
    src = hq_dng(tmp_path, data)
    levels = {}
    for ev in (0.0, 1.0):
        out = tmp_path / f"ev{ev}.jpg"
        assert cmd.run(_args(src, output=out, exposure=ev)) == 0
        levels[ev] = simplejpeg.decode_jpeg(out.read_bytes()).mean()
    assert levels[1.0] > levels[0.0] * 1.2
    assert cmd.run(_args(src, output=tmp_path / "bad.jpg", exposure=7.0)) == 2
    assert "--exposure must be between -4 and +4 EV, got 7" in capsys.readouterr().err
    assert not (tmp_path / "bad.jpg").exists()


def test_mrig_develop_as_a_user_runs_it(tmp_path):
    """The real command in a fresh process (where it develops on forked workers) gives the
    pixels of the in-process, threaded development."""
    import subprocess
    import sys

    import simplejpeg

    from isp.render import develop_jpeg

    data = np.random.default_rng(1).integers(300, 3000, (800, 96), dtype=np.uint16)  # 3 bands
    src = hq_dng(tmp_path, data)
    out = tmp_path / "out.jpg"
    run = subprocess.run([sys.executable, "-c", "from firmware.cli import main; raise SystemExit(main())",
                          "develop", str(src), "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    threaded = develop_jpeg(read_dng(src).raw, quality=92, processes=False)
    assert np.array_equal(simplejpeg.decode_jpeg(out.read_bytes()), simplejpeg.decode_jpeg(threaded))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hq.dng", "out.jpg"]


def test_ctrl_c_is_a_line_and_exit_130(tmp_path, monkeypatch, capsys):
    from firmware import cli

    def interrupted(src, dst, args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cmd, "develop_file", interrupted)
    src = hq_dng(tmp_path, np.full((16, 16), 500, np.uint16))
    assert cli.main(["develop", str(src)]) == 130
    assert capsys.readouterr().err == "mrig develop: interrupted\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hq.dng"]


def test_a_subcommand_imports_only_its_own_module():
    code = ("import sys; from firmware.cli import main, build_parser; main(['develop', '/no/such.dng']); "
            "print(sorted(m for m in sys.modules if m.startswith('firmware.commands.'))); "
            "print(sorted(build_parser(['--help']).parse_args(['serve']).__dict__))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    lines = run.stdout.splitlines()
    assert lines[0] == "['firmware.commands.develop']", run.stderr
    assert "camera" in lines[1]  # without a named command, every subcommand is there
    assert "no such file" in run.stderr
