"""DNG writer: opens in LibRaw with the right pattern, levels, white balance and colours, and
exiftool reads every tag we promise; the colour maths holds on its own."""

import datetime as dt
import json
import shutil
import subprocess

import numpy as np
import pytest
import rawpy

from firmware.capture import dng_colour
from firmware.capture.dng import as_shot_neutral, cfa_pattern, encode_dng, read_preview
from firmware.capture.preview import fit_within
from firmware.capture.shot import LensTags, ShotInfo, exposure_rational
from firmware.capture.tiff import read_first_rgb
from hal.camera import FrameMetadata, RawFrame, bayer_slices
from isp.tuning import default_tuning

TUNING = default_tuning("vc4")
WHEN = dt.datetime(2026, 11, 21, 10, 45, 12)
LENS = LensTags("Leica", "Summicron-M 50 f/2", 50.0, 2.0, 16.0, 2.8)
PATCHES = {"grey": (0.18, 0.18, 0.18), "red": (0.4, 0.05, 0.05),
           "green": (0.05, 0.3, 0.05), "blue": (0.05, 0.05, 0.4)}


def _scene(order: str, ct: float, gain: float = 2.0, exposure_us: int = 8000) -> RawFrame:
    """Four patches of known linear sRGB, as the camera would record them under ``ct``:
    camera = diag(neutral) · CCM⁻¹ · sRGB (the inverse of what the ISP does)."""
    r, b = TUNING.neutral_rb(ct)
    ccm = TUNING.ccm(ct)
    half = np.zeros((16, 16 * len(PATCHES), 3))
    for i, srgb in enumerate(PATCHES.values()):
        half[:, 16 * i : 16 * (i + 1)] = np.diag([r, 1, b]) @ np.linalg.solve(ccm, srgb)
    black, white = 256, 4095
    dn = np.round(black + half * (white - black)).astype(np.uint16)
    data = np.zeros((32, 32 * len(PATCHES)), np.uint16)
    for colour, index in (("R", 0), ("G1", 1), ("G2", 1), ("B", 2)):
        data[bayer_slices(order, colour)] = dn[..., index]
    meta = FrameMetadata(7, 0, exposure_us, gain, TUNING.colour_gains(ct), int(ct), 100_000)
    return RawFrame(data, order, black, white, 12, meta)


def _write(tmp_path, raw, lens=LENS, **kw):
    path = tmp_path / "shot.dng"
    path.write_bytes(encode_dng(raw, ShotInfo(raw.metadata, WHEN, lens, **kw), TUNING))
    return path


@pytest.mark.parametrize("order", ["BGGR", "RGGB", "GRBG", "GBRG"])
def test_libraw_reads_pattern_levels_and_white_balance(tmp_path, order):
    raw = _scene(order, 5000)
    path = _write(tmp_path, raw)
    with rawpy.imread(str(path)) as rp:
        desc = rp.color_desc.decode()
        colours = "".join(desc[i] for i in rp.raw_pattern.ravel())
        assert colours == order
        assert rp.black_level_per_channel == [256] * 4
        assert rp.white_level == 4095
        assert rp.sizes.raw_width == 128 and rp.sizes.raw_height == 32
        np.testing.assert_array_equal(rp.raw_image_visible, raw.data)
        wb = rp.camera_whitebalance
        r_gain, b_gain = raw.metadata.colour_gains
        assert wb[desc.index("R")] / wb[1] == pytest.approx(r_gain, rel=1e-4)
        assert wb[desc.index("B")] / wb[1] == pytest.approx(b_gain, rel=1e-4)


@pytest.mark.parametrize("ct", [2856, 4000, 6504])
def test_libraw_development_gives_the_scene_colours(tmp_path, ct):
    path = _write(tmp_path, _scene("BGGR", ct))
    with rawpy.imread(str(path)) as rp:
        out = rp.postprocess(use_camera_wb=True, no_auto_bright=True, output_bps=16,
                             gamma=(1, 1), user_flip=0).astype(float) / 65535
    for i, (name, srgb) in enumerate(PATCHES.items()):
        got = out[8:24, 32 * i + 8 : 32 * (i + 1) - 8].reshape(-1, 3).mean(axis=0)
        # LibRaw applies one matrix (D65's) at every light; at D65 it must be exact, elsewhere
        # the hue must be right (the dominant channel) and greys stay grey.
        tol = 0.01 if ct == 6504 else 0.05
        np.testing.assert_allclose(got, srgb, atol=tol, err_msg=name)
        assert np.argmax(got) == np.argmax(srgb) or name == "grey"


def test_exiftool_reads_every_tag(tmp_path):
    if shutil.which("exiftool") is None:
        pytest.skip("exiftool not installed (Debian: libimage-exiftool-perl)")
    path = _write(tmp_path, _scene("BGGR", 5000), orientation=3)
    out = subprocess.run(["exiftool", "-j", "-n", "-G1", str(path)], capture_output=True,
                         text=True, check=True)
    tags = json.loads(out.stdout)[0]
    assert tags["File:FileType"] == "DNG"
    assert tags["IFD0:Make"] == "Raspberry Pi"
    assert tags["IFD0:Model"] == "HQ Camera IMX477 (mrig)"
    assert tags["IFD0:UniqueCameraModel"] == "HQ Camera IMX477 (mrig)"
    assert tags["IFD0:DNGVersion"] == "1 4 0 0"
    assert tags["IFD0:Orientation"] == 3
    assert tags["IFD0:SubfileType"] == 1 and tags["SubIFD:SubfileType"] == 0
    assert tags["IFD0:CalibrationIlluminant1"] == 17 and tags["IFD0:CalibrationIlluminant2"] == 21
    for tag in ("ColorMatrix1", "ColorMatrix2", "ForwardMatrix1", "ForwardMatrix2"):
        assert len(tags[f"IFD0:{tag}"].split()) == 9
    neutral = [float(v) for v in tags["IFD0:AsShotNeutral"].split()]
    r, b = TUNING.neutral_rb(5000)
    np.testing.assert_allclose(neutral, [r, 1.0, b], rtol=1e-4)
    assert tags["SubIFD:CFAPattern2"] == "2 1 1 0"
    assert tags["SubIFD:BlackLevel"] == 256 and tags["SubIFD:WhiteLevel"] == 4095
    assert tags["SubIFD:BitsPerSample"] == 16 and tags["SubIFD:PhotometricInterpretation"] == 32803
    assert tags["ExifIFD:ExposureTime"] == pytest.approx(0.008)
    assert tags["ExifIFD:ISO"] == 200
    assert tags["ExifIFD:FNumber"] == 2.8
    assert tags["ExifIFD:FocalLength"] == 50
    assert tags["ExifIFD:FocalLengthIn35mmFormat"] == 275
    assert tags["ExifIFD:LensMake"] == "Leica"
    assert tags["ExifIFD:LensModel"] == "Summicron-M 50 f/2"
    assert tags["ExifIFD:LensInfo"] == "50 50 2 2"
    assert tags["IFD0:DNGLensInfo"] == "50 50 2 2"
    assert tags["ExifIFD:DateTimeOriginal"] == "2026:11:21 10:45:12"


def test_without_a_lens_no_lens_tags(tmp_path):
    if shutil.which("exiftool") is None:
        pytest.skip("exiftool not installed (Debian: libimage-exiftool-perl)")
    path = _write(tmp_path, _scene("BGGR", 5000), lens=None)
    tags = json.loads(subprocess.run(["exiftool", "-j", "-G1", str(path)], capture_output=True,
                                     text=True, check=True).stdout)[0]
    assert "ExifIFD:LensModel" not in tags and "ExifIFD:FNumber" not in tags
    assert tags["ExifIFD:ExposureTime"] == "1/125"


def test_preview_is_readable_and_looks_like_the_scene(tmp_path):
    raw = _scene("BGGR", 5000)
    path = _write(tmp_path, raw)
    preview = read_preview(path)
    assert preview.shape == (16, 64, 3)
    red = preview[4:12, 20:28].reshape(-1, 3).mean(axis=0)
    assert red[0] > 2 * red[1] and red[0] > 2 * red[2]
    grey = preview[4:12, 4:12].reshape(-1, 3).mean(axis=0)
    assert np.ptp(grey) < 6
    with rawpy.imread(str(path)) as rp:
        thumb = rp.extract_thumb()
    assert thumb.format == rawpy.ThumbFormat.BITMAP
    np.testing.assert_array_equal(thumb.data, preview)


def test_given_preview_is_downscaled(tmp_path):
    raw = _scene("BGGR", 5000)
    rgb = np.zeros((600, 800, 3), np.uint8)
    rgb[..., 1] = 200
    data = encode_dng(raw, ShotInfo(raw.metadata, WHEN), TUNING, preview_rgb=rgb)
    preview = read_first_rgb(data)
    assert preview.shape == (192, 256, 3) and (preview[..., 1] == 200).all()


def test_colour_matrices_follow_the_tuning():
    for ill in (dng_colour.STD_A, dng_colour.D65):
        cal = dng_colour.calibration(TUNING, ill)
        n = np.array(cal.neutral)
        # ColorMatrix maps the illuminant's white to the camera neutral (to the tuning's
        # rounding: its CCM rows sum to 1 within 1e-4) ...
        cam = cal.colour_matrix @ ill.white_xyz
        np.testing.assert_allclose(cam / cam[1], n, rtol=1e-3)
        # ... normalised like the DNG SDK: max(CM · D50 white) = 1.
        assert np.max(cal.colour_matrix @ dng_colour.WHITE_D50) == pytest.approx(1.0)
        # ForwardMatrix maps white-balanced neutral to D50 white.
        np.testing.assert_allclose(cal.forward_matrix @ np.ones(3), dng_colour.WHITE_D50, atol=1e-3)
        # A DNG reader's route (FM, then D50 -> D65 and XYZ -> sRGB) gives back the tuning's
        # camera -> sRGB transform.
        xyz_to_srgb = np.linalg.inv(dng_colour.SRGB_TO_XYZ)
        d50_to_d65 = dng_colour.bradford(dng_colour.WHITE_D50, dng_colour.WHITE_D65)
        route = xyz_to_srgb @ d50_to_d65 @ cal.forward_matrix @ np.diag(1 / n)
        ct = ill.colour_temperature
        red_gain, blue_gain = TUNING.colour_gains(ct)
        expected = TUNING.ccm(ct) @ np.diag([red_gain, 1.0, blue_gain])
        np.testing.assert_allclose(route, expected, atol=1e-9)


def test_bradford_is_identity_for_the_same_white_and_maps_whites():
    same = dng_colour.bradford(dng_colour.WHITE_D65, dng_colour.WHITE_D65)
    np.testing.assert_allclose(same, np.eye(3), atol=1e-12)
    m = dng_colour.bradford(dng_colour.WHITE_D65, dng_colour.WHITE_D50)
    np.testing.assert_allclose(m @ dng_colour.WHITE_D65, dng_colour.WHITE_D50, atol=1e-12)
    # The published Bradford D65 -> D50 matrix (Lindbloom): first row 1.0478, 0.0229, -0.0501.
    np.testing.assert_allclose(m[0], [1.0478, 0.0229, -0.0501], atol=2e-4)


def test_small_helpers():
    assert cfa_pattern("RGGB") == bytes([0, 1, 1, 2])
    assert cfa_pattern("GBRG") == bytes([1, 2, 0, 1])
    assert as_shot_neutral((2.0, 1.25)) == (0.5, 1.0, 0.8)
    assert exposure_rational(1 / 125) == (1, 125)
    assert exposure_rational(1 / 3) == (1, 3)
    assert exposure_rational(30.0) == (30, 1)
    assert exposure_rational(0.0001234) == (1, 8104)  # within 0.1 % of 1/8104
    assert exposure_rational(0.3) == (3, 10)
    assert exposure_rational(670.74) == (33537, 50)
    assert fit_within(np.zeros((10, 40, 3), np.uint8), 20, 20).shape == (5, 20, 3)
    assert fit_within(np.zeros((10, 10, 3), np.uint8), 64, 64).shape == (10, 10, 3)


def test_our_own_isp_reads_it_back(tmp_path):
    from isp.dng import read_dng

    raw = _scene("GRBG", 4000, gain=3.0, exposure_us=33_333)
    image = read_dng(_write(tmp_path, raw))
    back = image.raw
    np.testing.assert_array_equal(back.data, raw.data)
    assert (back.bayer_order, back.black_level, back.white_level) == ("GRBG", 256, 4095)
    assert back.metadata.exposure_time_us == 33_333
    assert back.metadata.analogue_gain == pytest.approx(3.0)
    np.testing.assert_allclose(back.metadata.colour_gains, raw.metadata.colour_gains, rtol=1e-4)
    assert image.unique_camera_model == "HQ Camera IMX477 (mrig)"
    assert [c.illuminant for c in image.profile.calibrations] == [17, 21]
    assert all(c.forward_matrix is not None for c in image.profile.calibrations)


def test_the_noise_profile_follows_the_gain(tmp_path):
    """NoiseProfile (DNG 1.3, tag 51041) from the sensor's model at the frame's gain: raw
    editors scale their noise reduction by it; exiftool reads it back."""
    from isp.dng import read_dng

    profiles, paths = [], []
    for gain in (1.0, 8.0):
        folder = tmp_path / f"g{gain:g}"
        folder.mkdir()
        paths.append(_write(folder, _scene("BGGR", 5000, gain=gain)))
        image = read_dng(paths[-1])
        assert image.noise_profile is not None and len(image.noise_profile) == 2
        profiles.append(image.noise_profile)
    (s1, o1), (s8, o8) = profiles
    assert s8 == pytest.approx(8 * s1, rel=1e-6)        # shot noise: one electron is 8 times the DN
    assert o8 > 40 * o1                                  # read noise grows with the gain squared
    if shutil.which("exiftool"):
        out = subprocess.run(["exiftool", "-j", "-NoiseProfile", str(paths[-1])],
                             capture_output=True, text=True, check=True).stdout
        shown = [float(v) for v in str(json.loads(out)[0]["NoiseProfile"]).split()]
        assert shown == pytest.approx([s8, o8], rel=1e-6)
